"""Decoding modes as pluggable constraints: what the model may write for one example.

`greedy` has none. A constrained mode names a `Constraint`, which turns one example into a Lark
grammar; `harness.evaluate.generation` enforces it token by token (llguidance, one matcher per
batch row). What a grammar says is the task's business: the SQL one is
`harness.evaluate.sql.grammar.SqlSchemaConstraint`. Nothing here imports torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from harness.data.records import Example


class Constraint(ABC):
    """One decoding mode's restriction, built per example."""

    @abstractmethod
    def grammar(self, example: Example) -> str:
        """The example's allowed answers as a Lark grammar (llguidance's dialect). Raises ValueError, with a message for
        the user, when the example lacks what the grammar is built from."""
