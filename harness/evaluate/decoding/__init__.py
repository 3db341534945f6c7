"""Decoding modes, one module each, registered in `MODES` (the names `evaluation.decoding` accepts).

`mode.DecodingMode` says what a mode is; `greedy`, `constrained` and `self_consistency` are the
modes. Adding one is a module here and its entry below. `check_decodings` builds every example's
grammar text before training (no torch, so `harness validate` stays light); `decoding_grammars`
also compiles them for generation (llguidance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import llguidance

from harness.errors import UserError
from harness.evaluate.decoding.constrained import Constrained
from harness.evaluate.decoding.greedy import Greedy
from harness.evaluate.decoding.mode import DecodingMode
from harness.evaluate.decoding.self_consistency import SelfConsistency
from harness.metrics import did_you_mean

if TYPE_CHECKING:
    from harness.data.records import Example
    from harness.spec import EvaluationSpec

MODES: dict[str, DecodingMode] = {mode.name: mode for mode in (Greedy(), Constrained(), SelfConsistency())}


def check_decodings(spec: EvaluationSpec, example_sets: list[list[Example]]) -> None:
    """Every mode `evaluation.decoding` names exists and has the metric family it needs, and every
    example a run will decode under a constrained mode has what its grammar needs (e.g. a schema):
    checked before training, so a run cannot fail on it at the end."""
    for name in spec.decoding:
        mode = MODES.get(name)
        if mode is None:
            raise UserError(f"evaluation.decoding: unknown decoding mode '{name}'{did_you_mean(name, list(MODES))}")
        if mode.requires is not None and mode.requires not in spec.metrics:
            raise UserError(f"evaluation.decoding: '{name}' {mode.requires_because}; add '{mode.requires}' to evaluation.metrics")
    for mode in spec.decoding:
        for examples in example_sets:
            _grammar_texts(mode, spec.evaluated(examples))


def decoding_grammars(mode: str, examples: list[Example]) -> list[str] | None:
    """Each example's grammar under `mode`, compiled (None for a mode without a constraint), all before generating."""
    texts = _grammar_texts(mode, examples)
    return None if texts is None else compile_grammars(texts)


def compile_grammars(lark: list[str]) -> list[str]:
    """Lark grammars in llguidance's form, once per example rather than once per batch."""
    return [llguidance.grammar_from("lark", text) for text in lark]


def _grammar_texts(mode: str, examples: list[Example]) -> list[str] | None:
    constraint = MODES[mode].constraint()
    if constraint is None:
        return None
    lark = []
    for example in examples:
        try:
            lark.append(constraint.grammar(example))
        except ValueError as exc:
            raise UserError(f"evaluation.decoding '{mode}': example {example.id}: {exc}") from None
    return lark
