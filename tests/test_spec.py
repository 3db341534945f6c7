"""The spec: valid files load with defaults; every bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from harness.cli import main
from harness.errors import UserError
from harness.spec import Spec, load_spec, parse_spec
from tests.conftest import tiny_spec_dict, write_spec

BAD_SPECS = [
    # (overrides applied to the tiny spec, command, expected message fragment)
    ({"trian": {}}, "validate", "unknown key 'trian' (did you mean 'train'?)"),
    ({"train.lora.rr": 8}, "validate", "unknown key 'train.lora.rr' (did you mean 'r'?)"),
    ({"train.lr": -0.1}, "validate", "field 'train.lr': Input should be greater than 0 (got -0.1)"),
    ({"train.batch_size": "four"}, "validate", "field 'train.batch_size': Input should be a valid integer"),
    ({"train.quantization": "int3"}, "validate", "field 'train.quantization': Input should be 'none', 'int4' or 'int8'"),
    ({"project": "my project!"}, "validate", "field 'project': String should match pattern"),
    ({"model.token": "${HARNESS_TEST_UNSET_VAR}"}, "validate", "field 'model.token' uses ${HARNESS_TEST_UNSET_VAR} but HARNESS_TEST_UNSET_VAR is not set"),
    ({"evaluation.metrics": ["bleu"]}, "validate", "field 'evaluation.metrics.0': Input should be"),
    ({"prompt.template": "no slot here"}, "validate", "field 'prompt.template': template must contain {prompt}"),
    ({"data.format": "template"}, "validate", "format 'template' needs both prompt_template and answer_column"),
    ({"model.tiny.hidden_size": 66}, "validate", "hidden_size 66 must be a multiple of heads 4"),
    ({"search": {"space": {"lr": {"type": "float", "low": 0.1, "high": 0.01}}}}, "validate", "field 'search.space.lr': low (0.1) must be below high (0.01)"),
    ({"search": {"space": {"lora.rank": {"type": "categorical", "choices": [4, 8]}}}}, "validate", "search.space: unknown parameter 'lora.rank' (did you mean 'lora.r'?)"),
    ({"search": {"space": {"lr": {"type": "gaussian", "low": 1, "high": 2}}}}, "validate", "search.space.lr"),
    ({"search": {"trials": None}}, "validate", "set trials and/or timeout_minutes"),
    ({"search": {"objective": "execution_acc"}}, "validate", "search.objective: unknown objective 'execution_acc' (did you mean 'execution_match'?)"),
    ({"search": {"second_objective": "adapter_size"}}, "validate", "search.second_objective: unknown objective 'adapter_size' (did you mean 'adapter_mb'?)"),
    ({"search": {"objective": "perplexity_answer", "direction": "maximize"}}, "validate",
     "search.direction: 'perplexity_answer' is better lower, so it must be minimized, not maximized"),
    ({"search": {"objective": "execution_match"}, "evaluation.metrics": ["perplexity"]}, "validate",
     "search.objective: 'execution_match' is measured by the 'sql' evaluation; add it to evaluation.metrics"),
    ({"search": {"pruner": "asha", "min_resource": 4, "trial_train": {"max_steps": 4}}}, "validate",
     "search.min_resource: 4 steps is not below the trials' max_steps (4), so no trial could ever be pruned"),
    ({"search": {"pruner": "hyperband", "reduction_factor": 1}}, "validate", "field 'search.reduction_factor': Input should be greater than or equal to 2"),
    ({"search": {"pruner": "median", "reduction_factor": 2}}, "validate",
     "search.reduction_factor: only the asha and hyperband pruners use it (pruner is median)"),
    ({"search": {"pruner": "sha"}}, "validate", "field 'search.pruner': Input should be 'asha', 'hyperband', 'median' or 'none'"),
    ({"evaluation.metrics": ["exact_match", "sql"]}, "validate", "field 'evaluation.metrics': 'exact_match' is now called 'exact_text'"),
    ({"evaluation.decoding": ["greedy", "beam"]}, "validate",
     "evaluation.decoding: unknown decoding mode 'beam' (known: greedy, constrained, self_consistency)"),
    ({"evaluation.decoding": ["greedy", "self-consistency"]}, "validate",
     "evaluation.decoding: unknown decoding mode 'self-consistency' (did you mean 'self_consistency'?)"),
    ({"evaluation.self_consistency": {"samples": 1}}, "validate",
     "field 'evaluation.self_consistency.samples': Input should be greater than or equal to 2"),
    ({"evaluation.self_consistency": {"temprature": 0.5}}, "validate",
     "unknown key 'evaluation.self_consistency.temprature' (did you mean 'temperature'?)"),
    ({"evaluation.decoding": ["greedy", "greedy"]}, "validate", "field 'evaluation.decoding': decoding modes must not repeat"),
    ({"evaluation.decoding": []}, "validate", "field 'evaluation.decoding'"),
    ({"evaluation.decoding": ["greedy", "constrained"], "evaluation.metrics": ["exact_text"]}, "validate",
     "evaluation.decoding: 'constrained' holds answers to a SQL grammar; add 'sql' to evaluation.metrics"),
    # the tiny spec's WikiSQL rows carry no schema: said before anything trains
    ({"evaluation.decoding": ["greedy", "constrained"]}, "validate",
     "evaluation.decoding 'constrained': example"),
    ({"data.source": "missing/rows.jsonl"}, "run", "data.source: file"),
    ({"data.source": "builtin:nope"}, "run", "data.source: unknown built-in dataset 'builtin:nope'"),
    ({"model.source": "./no-such-checkpoint"}, "run", "model.source: './no-such-checkpoint' is neither an existing path nor a hub id"),
    ({"model.source": "weights/missing.gguf"}, "run", "model.source: GGUF file"),
    ({"model.source": "builtin:gpt5"}, "run", "model.source: unknown built-in model 'builtin:gpt5'"),
    ({"train.quantization": "int4"}, "run", "train.quantization: int4 (QLoRA via bitsandbytes) needs a CUDA GPU"),
    ({"data.split.test": 200}, "run", "data.subset: 120 rows cannot hold the held-out splits (valid + test = 212)"),
    ({"data.separator": "\n###"}, "run", "line 1: separator '\\n###' not found"),
    ({"data.split.group_by": "db"}, "run", "data.split.group_by: column 'db' is missing"),
    ({"data.split.holdout": {"column": "db_id"}}, "validate", "field 'data.split.holdout': set exactly one of count and values"),
    ({"data.split.holdout": {"column": "db_id", "count": 2, "values": ["a"]}}, "validate", "set exactly one of count and values"),
    ({"data.split.holdout": {"column": "db", "count": 2}}, "run", "data.split.holdout.column: column 'db' is missing"),
    ({"evaluation.benchmarks": [{"name": "b", "sorce": "b.jsonl"}]}, "validate", "unknown key 'evaluation.benchmarks.0.sorce' (did you mean 'source'?)"),
    ({"evaluation.benchmarks": [{"name": "Bad Name", "source": "b.jsonl"}]}, "validate", "field 'evaluation.benchmarks.0.name': String should match pattern"),
    ({"evaluation.benchmarks": [{"name": "b", "source": "b.jsonl", "format": "spider"}]}, "validate", "field 'evaluation.benchmarks.0.format': Input should be"),
    ({"evaluation.benchmarks": [{"name": "test", "source": "b.jsonl"}]}, "validate", "evaluation-only set name 'test' is used twice or names a split"),
    ({"evaluation.benchmarks": [{"name": "unseen", "source": "b.jsonl"}], "data.split.holdout": {"column": "db_id", "count": 1}},
     "validate", "evaluation-only set name 'unseen' is used twice"),
]


@pytest.mark.parametrize("overrides,command,message", BAD_SPECS, ids=[m[:40] for _, _, m in BAD_SPECS])
def test_bad_spec_is_one_line_exit_2_and_leaves_nothing(tmp_path, capsys, monkeypatch, overrides, command, message):
    monkeypatch.chdir(tmp_path)
    path = write_spec(tmp_path / "bad.yaml", tiny_spec_dict(**overrides))
    code = main([command, str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == err[-1], err
    assert message in errors[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "text,message",
    [
        ("project: [unclosed", "is not valid YAML"),
        ("project: p\nmodel:\n  source: tiny\n  dtype: bfloat16\n  dtype: auto\n",
         "s.yaml: line 5 is not valid YAML (key 'dtype' is given twice in one mapping; keep one)"),
        ("- just\n- a list\n", "the spec must be a YAML mapping"),
        ("model:\n  source: tiny\n", "field 'project' is required"),
    ],
)
def test_unreadable_specs(tmp_path, capsys, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_missing_spec_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "spec file not found" in capsys.readouterr().err


def test_eval_of_a_directory_without_results(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "no results.json here" in capsys.readouterr().err


def test_defaults_fill_in_and_relative_paths_resolve_against_the_spec(tmp_path):
    path = write_spec(tmp_path / "s.yaml", {"project": "p", "data": {"source": "rows.jsonl"}})
    spec = load_spec(path)
    assert spec.train.lora.r == 16 and spec.model.source == "builtin:smollm2-135m-instruct"
    assert spec.resolve_path(spec.data.source) == tmp_path / "rows.jsonl"


def test_secrets_are_interpolated_but_never_written_back(monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_TOKEN", "hf_secret_value")
    spec = parse_spec({"project": "p", "model": {"token": "${HARNESS_TEST_TOKEN}"}})
    assert spec.model.token == "hf_secret_value"
    dumped = spec.to_yaml()
    assert "hf_secret_value" not in dumped
    assert yaml.safe_load(dumped)["model"]["token"] == "${HARNESS_TEST_TOKEN}"


def test_project_files_parse_and_the_demo_validates_here():
    """The GPU project (QLoRA, hub model and data) parses everywhere but only validates on its
    hardware; the demo passes every pre-flight check on this CPU machine."""
    projects = Path(__file__).resolve().parents[1] / "projects"
    assert [load_spec(path).project for path in sorted(projects.glob("*.yaml"))] == ["llama2-sql", "sqlcoder", "sqlsweep"]
    assert main(["validate", str(projects / "sqlcoder.yaml")]) == 0


def test_user_error_exit_code():
    assert UserError("x").exit_code == 2


@pytest.mark.parametrize("pruner", ["median", "asha", "none"])
def test_a_run_directorys_resolved_spec_reads_back(pruner):
    """spec.yaml in a run directory writes every field, defaults included; `harness eval RUN_DIR` re-reads it."""
    spec = parse_spec(tiny_spec_dict(**{"search.pruner": pruner}))
    again = parse_spec(yaml.safe_load(spec.to_yaml()))
    assert again.search == spec.search and again.train == spec.train


def test_a_spec_built_in_python_gets_the_checks_across_sections() -> None:
    """`Spec(...)` is the Python API: the cross-section checks live in the model, not only in the loader."""
    with pytest.raises(ValidationError, match=re.escape("search.space: unknown parameter 'lora.rank' (did you mean 'lora.r'?)")):
        Spec(project="p", search={"space": {"lora.rank": {"type": "int", "low": 4, "high": 8}}})
    with pytest.raises(ValidationError, match=re.escape("evaluation-only set name 'test' is used twice or names a split")):
        Spec(project="p", evaluation={"benchmarks": [{"name": "test", "source": "b.jsonl"}]})
    assert Spec(project="p", search={"space": {"lora.r": {"type": "int", "low": 4, "high": 8}}}).search.space
