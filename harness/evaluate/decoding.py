"""Decoding modes: each a name and the constraint it holds answers to (greedy: none).

`check_decodings` builds every example's grammar text before training (no torch, so `harness
validate` stays light); `decoding_grammars` also compiles them for generation (llguidance).
"""

from __future__ import annotations

import llguidance

from harness.data.records import Example
from harness.errors import UserError
from harness.evaluate.constraints import Constraint
from harness.evaluate.sql.grammar import SqlSchemaConstraint
from harness.spec import EvaluationSpec

# A decoding mode's constraint; greedy has none. SQL's is the only one so far.
CONSTRAINTS: dict[str, Constraint] = {"constrained": SqlSchemaConstraint()}


def check_decodings(spec: EvaluationSpec, example_sets: list[list[Example]]) -> None:
    """Every example a run will decode under a constrained mode has what its grammar needs
    (e.g. a schema): checked before training, so a run cannot fail on it at the end."""
    for mode in spec.decoding:
        for examples in example_sets:
            _grammar_texts(mode, spec.evaluated(examples))


def decoding_grammars(mode: str, examples: list[Example]) -> list[str] | None:
    """Each example's grammar under `mode`, compiled (None for plain greedy), all before generating."""
    texts = _grammar_texts(mode, examples)
    return None if texts is None else compile_grammars(texts)


def compile_grammars(lark: list[str]) -> list[str]:
    """Lark grammars in llguidance's form, once per example rather than once per batch."""
    return [llguidance.grammar_from("lark", text) for text in lark]


def _grammar_texts(mode: str, examples: list[Example]) -> list[str] | None:
    constraint = CONSTRAINTS.get(mode)
    if constraint is None:
        return None
    lark = []
    for example in examples:
        try:
            lark.append(constraint.grammar(example))
        except ValueError as exc:
            raise UserError(f"evaluation.decoding '{mode}': example {example.id}: {exc}") from None
    return lark
