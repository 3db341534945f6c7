"""The decoding-mode registry: validation accepts its names, and each mode's own requirement is checked."""

from __future__ import annotations

import pytest

from harness.errors import UserError
from harness.evaluate import decoding
from harness.evaluate.decoding.mode import DecodingMode
from harness.metrics import Family
from harness.spec import EvaluationSpec


def test_validation_accepts_every_registered_mode_and_nothing_else():
    assert list(decoding.MODES) == ["greedy", "constrained", "self_consistency"]
    decoding.check_decodings(EvaluationSpec(decoding=["greedy", "self_consistency"]), [])
    with pytest.raises(UserError, match=r"unknown decoding mode 'self_consistence' \(did you mean 'self_consistency'\?\)"):
        decoding.check_decodings(EvaluationSpec(decoding=["greedy", "self_consistence"]), [])


def test_a_mode_is_held_to_the_family_it_declares_it_needs(monkeypatch):
    """Validation asks the mode: constrained's SQL requirement comes from its class, and a new mode
    with a requirement of its own is checked without any change to the spec's schema."""
    with pytest.raises(UserError, match=r"'constrained' holds answers to a SQL grammar; add 'sql' to evaluation.metrics"):
        decoding.check_decodings(EvaluationSpec(metrics=["exact_text"], decoding=["greedy", "constrained"]), [])

    class Echo(DecodingMode):
        name = "echo"
        requires = Family.EXACT_TEXT
        requires_because = "repeats the gold's text"

    monkeypatch.setitem(decoding.MODES, "echo", Echo())
    decoding.check_decodings(EvaluationSpec(metrics=["exact_text"], decoding=["echo"]), [])
    with pytest.raises(UserError, match=r"'echo' repeats the gold's text; add 'exact_text' to evaluation.metrics"):
        decoding.check_decodings(EvaluationSpec(metrics=["sql"], decoding=["echo"]), [])


def test_only_a_sampled_mode_draws_several_candidates_with_the_spec_settings():
    spec = EvaluationSpec(self_consistency={"samples": 7, "temperature": 0.5, "seed": 11})
    assert [decoding.MODES[name].candidates(spec) for name in decoding.MODES] == [1, 1, 7]
    assert decoding.MODES["greedy"].sampling(spec) is None and decoding.MODES["constrained"].sampling(spec) is None
    assert decoding.MODES["self_consistency"].sampling(spec) == spec.self_consistency
    assert decoding.MODES["greedy"].choose(["a", "b", "a"], str) == (0, None)

