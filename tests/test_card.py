"""The model card: Hub front matter that huggingface_hub parses back, values equal to the typed record."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from harness import card, models, results, runs
from harness.cli import main
from harness.results import RunResults
from harness.spec import PromptSpec, load_spec
from tests.conftest import tiny_spec_dict, write_spec


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One real `harness run` of the tiny model (about 30 s on 2 cores)."""
    from harness.pipeline import run

    root = tmp_path_factory.mktemp("card-run")
    spec = tiny_spec_dict(**{"prompt.system": "Answer with one SQL query."})
    return run(load_spec(write_spec(root / "tiny.yaml", spec)), runs_dir=root / "runs")


def _with_model(record: RunResults, **changes) -> RunResults:
    return record.model_copy(update={"model": record.model.model_copy(update=changes)})


@pytest.mark.train
def test_the_run_writes_a_card_the_hub_parses_with_the_records_numbers(tiny_run: Path):
    record = results.load(tiny_run)
    loaded = ModelCard.load(tiny_run / runs.ADAPTER_DIR / card.CARD)  # parses model-index into EvalResults
    data = loaded.data
    assert data.library_name == "peft" and data.model_name == record.project == "tiny"
    assert data.base_model is None and data.license is None  # a random tiny model has neither
    assert {"harness", "lora", "text-to-sql"} <= set(data.tags)
    assert data.datasets is None  # a local file, not a Hub dataset

    key = record.evaluation.verdict.headline
    comparison = record.evaluation.metrics[key]
    by_side = {result.metric_config: result for result in data.eval_results}
    assert set(by_side) == {"base", "tuned"}
    for side, value in (("base", comparison.base), ("tuned", comparison.tuned)):
        result = by_side[side]
        assert result.metric_type == key and result.dataset_split == "test"
        assert result.metric_value == value and result.metric_args["n"] == comparison.n
        assert result.metric_args["ci_low"] <= value <= result.metric_args["ci_high"]
        assert result.metric_args["confidence"] == comparison.confidence
    assert by_side["tuned"].metric_args["diff"] == comparison.diff
    assert by_side["tuned"].metric_args["diff_ci_low"] == comparison.adjusted.ci_low

    text = loaded.text
    assert "Verdict: " in text and "## Training" in text and "PeftModel.from_pretrained" in text
    assert "system message `Answer with one SQL query.`" in text
    assert f"| steps | {record.training.steps} " in text


@pytest.mark.train
def test_each_side_gets_its_own_value_and_interval(tiny_run: Path):
    record = results.load(tiny_run)
    key = record.evaluation.verdict.headline
    examples = [ex.model_copy(update={"tuned_scores": {**ex.tuned_scores, key: float(i % 2 == 0)},
                                      "base_scores": {**ex.base_scores, key: 0.0}})
                for i, ex in enumerate(record.evaluation.examples)]  # tuned right on every other example
    record = record.model_copy(update={"evaluation": record.evaluation.model_copy(update={"examples": examples})})
    by_side = {result.metric_config: result for result in card.build(record, PromptSpec(), "org/x").data.eval_results}
    assert (by_side["base"].metric_value, by_side["tuned"].metric_value) == (0.0, 0.5)
    assert by_side["tuned"].metric_args["ci_low"] < 0.5 < by_side["tuned"].metric_args["ci_high"]
    assert by_side["base"].metric_args["ci_high"] == 0.0


@pytest.mark.train
def test_a_merged_card_loads_with_transformers(tiny_run: Path):
    record = results.load(tiny_run)
    data = card.build(record, PromptSpec(), "org/tiny-merged", merged_dtype="float16").data
    assert data.library_name == "transformers"
    assert 'AutoModelForCausalLM.from_pretrained("org/tiny-merged"' in card.build(record, PromptSpec(), "org/tiny-merged", "float16").text


@pytest.mark.train
@pytest.mark.parametrize("source, hub_id, license, says", [
    (models.EMBEDDED, "HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0", "Q4_1 GGUF"),
    (models.GEMMA3, "google/gemma-3-270m", "gemma", "Gemma Terms of Use"),
])
def test_a_builtin_model_is_named_by_its_upstream_id_and_licence(source, hub_id, license, says, tiny_run: Path):
    built = card.build(_with_model(results.load(tiny_run), source=source), PromptSpec(), "org/x")
    assert (built.data.base_model, built.data.license) == (hub_id, license)
    assert built.data.base_model_relation == "adapter" and says in built.text


@pytest.mark.train
def test_a_hub_model_is_named_by_its_id_with_the_licence_its_readme_declares(tiny_run: Path, tmp_path: Path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# some model\n")
    record = _with_model(results.load(tiny_run), source="org/base-model", revision="0123abcd", dir=str(tmp_path))
    data = card.build(record, PromptSpec(), "org/x").data
    assert (data.base_model, data.license) == ("org/base-model", "mit")


@pytest.mark.train
def test_harness_report_writes_the_card_of_an_older_run(tiny_run: Path):
    path = tiny_run / runs.ADAPTER_DIR / card.CARD
    path.write_text("---\nlibrary_name: transformers\n---\nAutoTrain's card\n")
    assert main(["report", str(tiny_run)]) == 0
    assert ModelCard.load(path).data.library_name == "peft"


def test_only_hub_dataset_ids_count_as_datasets():
    assert card.hub_dataset("b-mc2/sql-create-context") == "b-mc2/sql-create-context"
    for local in ("builtin:sql", "/data/train.jsonl", "data/train.jsonl", "./a/b", "train.csv", "a/b/c"):
        assert card.hub_dataset(local) is None, local
