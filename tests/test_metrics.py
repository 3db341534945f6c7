"""The metric registry: one declaration per metric, read by spec, search and report alike."""

from __future__ import annotations

from harness import metrics as registry
from harness.spec import EvaluationSpec, parse_spec
from tests.conftest import tiny_spec_dict


def test_every_objective_direction_comes_from_the_declared_better_direction():
    def directions(**search) -> list[str]:
        spec = tiny_spec_dict()
        spec["search"] = {"trials": 1, **search}
        return parse_spec(spec).search.directions

    assert directions(objective="perplexity_answer") == ["minimize"]
    assert directions(objective="valid_sql") == ["maximize"]
    assert directions(objective="execution_match", second_objective="adapter_mb") == ["maximize", "minimize"]
    assert directions(objective="valid_loss", direction="minimize") == ["minimize"]


def test_declarations_are_consistent():
    for key, metric in registry.METRICS.items():
        assert metric.key == key
        assert metric.label and metric.unit
        if metric.kind == registry.Kind.SHARE:
            assert metric.unit == "rate", key
        if metric.objective:
            assert metric.direction is not None, f"{key}: an objective needs a better direction"
    assert set(registry.HEADLINE_CANDIDATES) <= set(registry.accuracy_family(registry.METRICS))
    # the spec's evaluation families are exactly the registry's
    assert EvaluationSpec().metrics == [f.value for f in registry.EVALUATION_FAMILIES]


def test_accuracy_family_is_the_directed_share_metrics_only():
    family = registry.accuracy_family(["perplexity_answer", "exact_text", "output_tokens", "execution_match", "nope"])
    assert family == ["execution_match", "exact_text"]  # registry order, continuous and unknown keys left out

