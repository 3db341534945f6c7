"""constrained: greedy held, token by token, to one SQLite SELECT over the example's own schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.evaluate.decoding.mode import DecodingMode
from harness.metrics import Family

if TYPE_CHECKING:
    from harness.evaluate.constraints import Constraint


class Constrained(DecodingMode):
    name = "constrained"
    requires = Family.SQL
    requires_because = "holds answers to a SQL grammar"

    def constraint(self) -> Constraint:
        # imported when a grammar is first needed: the registry is read by the spec and the CLI,
        # which should not load the SQL package (sqlglot) to learn the modes' names
        from harness.evaluate.sql.grammar import SqlSchemaConstraint

        return SqlSchemaConstraint()
