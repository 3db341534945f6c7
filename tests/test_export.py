"""`harness export` on a real tiny run: the merged checkpoint answers as the run's evaluation recorded,
the adapter export loads with PEFT, and every bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors import SafetensorError, safe_open

from harness import export as export_module
from harness import results, runs
from harness.cli import main
from harness.export import export
from harness.hardware import Machine, evaluation_dtype, this_machine
from harness.spec import load_spec
from tests.conftest import tiny_spec_dict, write_spec

ROUND_TRIP_PROMPTS = 10
SAFETENSORS_DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One real `harness run` of the tiny model (8 test prompts, about 30 s on 2 cores), evaluated in bf16 where
    this machine computes in it (`model.dtype: auto`), else in float32."""
    from harness.pipeline import run

    root = tmp_path_factory.mktemp("export-run")
    return run(load_spec(write_spec(root / "tiny.yaml", tiny_spec_dict(**{"model.dtype": "auto"}))), runs_dir=root / "runs")


def _answers(model_dir: Path, run_dir: Path, dtype: str) -> list[str]:
    """Greedy answers of a plain checkpoint on the run's first test prompts, decoded by the harness's own
    `generate` with the run's prompt rendering, limits and stop rule."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.data.prompts import render_prompt
    from harness.evaluate.generation import generate
    from harness.evaluate.scorers import build_metrics, stop_rule

    spec = load_spec(runs.spec_path(run_dir))
    evaluation = results.load(run_dir).evaluation
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    inputs = [render_prompt(tokenizer, spec.prompt, ex.prompt) for ex in evaluation.examples[:ROUND_TRIP_PROMPTS]]
    return generate(model, tokenizer, inputs, max_new_tokens=evaluation.decoding.max_new_tokens,
                    batch_size=evaluation.decoding.batch_size,
                    is_final=stop_rule(spec.evaluation, build_metrics(spec.evaluation.metrics))).outputs


def _tensor_dtypes(path: Path) -> set[str]:
    with safe_open(path, framework="pt") as fh:
        return {str(fh.get_slice(key).get_dtype()) for key in fh.keys()}  # noqa: SIM118 (not a dict)


@pytest.mark.train
def test_merged_export_answers_as_the_run_evaluated(tiny_run: Path, tmp_path: Path):
    from transformers import AutoTokenizer, GenerationConfig

    evaluation = results.load(tiny_run).evaluation
    recorded = [ex.tuned for ex in evaluation.examples[:ROUND_TRIP_PROMPTS]]
    assert recorded != [ex.base for ex in evaluation.examples[:ROUND_TRIP_PROMPTS]]  # the adapter changed answers

    done = export(tiny_run, tmp_path / "merged")
    assert done.dtype == evaluation.decoding.dtype == evaluation_dtype("auto", this_machine())
    assert _tensor_dtypes(done.folder / "model.safetensors") == {SAFETENSORS_DTYPES[done.dtype]}
    names = {p.name for p in done.folder.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "README.md"} <= names
    assert not any(name.startswith("adapter_") for name in names)  # a plain checkpoint, no PEFT indirection
    tokenizer, trained = AutoTokenizer.from_pretrained(done.folder), AutoTokenizer.from_pretrained(tiny_run / runs.ADAPTER_DIR)
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.chat_template) == (trained.eos_token, trained.pad_token, trained.chat_template)
    assert GenerationConfig.from_pretrained(done.folder).eos_token_id == tokenizer.eos_token_id
    assert _answers(done.folder, tiny_run, evaluation.decoding.dtype) == recorded


@pytest.mark.train
def test_merged_export_casts_to_the_dtype_asked(tiny_run: Path, tmp_path: Path, capsys):
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "half"), "--dtype", "float16"]) == 0
    assert "merged checkpoint (float16)" in capsys.readouterr().out
    assert _tensor_dtypes(tmp_path / "half" / "model.safetensors") == {"F16"}
    assert json.loads((tmp_path / "half" / "config.json").read_text())["dtype"] == "float16"
    card = (tmp_path / "half" / "README.md").read_text()
    assert "saved in float16" in card and "These weights are float16: their answers may differ" in card


@pytest.mark.train
def test_adapter_export_is_the_peft_folder_with_a_card(tiny_run: Path, tmp_path: Path):
    from huggingface_hub import ModelCard
    from peft import PeftConfig

    out = tmp_path / "adapter"
    out.mkdir()  # an empty folder is a fine target
    export(tiny_run, out, "adapter")
    trained = tiny_run / runs.ADAPTER_DIR
    assert (out / runs.ADAPTER_WEIGHTS).read_bytes() == (trained / runs.ADAPTER_WEIGHTS).read_bytes()
    assert PeftConfig.from_pretrained(out).r == PeftConfig.from_pretrained(trained).r
    assert not (out / "training_args.bin").exists()  # a pickle nothing needs to load the adapter
    assert ModelCard.load(out / "README.md").data.library_name == "peft"


def _without_adapter(run_dir: Path, tmp_path: Path) -> Path:
    copy = Path(shutil.copytree(run_dir, tmp_path / "no-adapter-run"))
    shutil.rmtree(copy / runs.ADAPTER_DIR)
    return copy


BAD_INPUTS = {
    "no run directory": (lambda run, tmp: ["export", str(tmp / "missing"), "--out", str(tmp / "out")], "no such run directory"),
    "no results.json": (lambda run, tmp: ["export", str(tmp), "--out", str(tmp / "out")], "no results.json"),
    "no adapter": (lambda run, tmp: ["export", str(_without_adapter(run, tmp)), "--out", str(tmp / "out")], "no LoRA adapter"),
    "unknown format": (lambda run, tmp: ["export", str(run), "--out", str(tmp / "out"), "--format", "onnx"], "unknown"),
    "gguf": (lambda run, tmp: ["export", str(run), "--out", str(tmp / "out"), "--format", "gguf"], "llama.cpp's converter"),
    "unknown dtype": (lambda run, tmp: ["export", str(run), "--out", str(tmp / "out"), "--dtype", "int8"], "unknown"),
    "dtype for an adapter": (lambda run, tmp: ["export", str(run), "--out", str(tmp / "out"), "--format", "adapter",
                                               "--dtype", "float16"], "merged only"),
}


@pytest.mark.train
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_writes_nothing(case: str, tiny_run: Path, tmp_path: Path, capsys):
    args, message = BAD_INPUTS[case]
    assert main(args(tiny_run, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-*"))


@pytest.mark.train
def test_a_folder_that_is_not_empty_is_left_as_it_was(tiny_run: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["export", str(tiny_run), "--out", str(out)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and not list(tmp_path.glob(".out-*"))


@pytest.mark.train
def test_bf16_needs_a_machine_that_computes_in_it(tiny_run: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(export_module, "this_machine", lambda: Machine(cuda=False, cuda_bf16=False, cpu_flags=frozenset()))
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "out"), "--dtype", "bfloat16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "native bf16" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.train
def test_an_export_that_fails_midway_leaves_nothing(tiny_run: Path, tmp_path: Path):
    broken = Path(shutil.copytree(tiny_run, tmp_path / "broken-run"))
    weights = broken / runs.ADAPTER_DIR / runs.ADAPTER_WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])  # passes the checks, fails while merging
    with pytest.raises(SafetensorError):
        export(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-*"))
