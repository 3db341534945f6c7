"""`harness export`: a run's tuned model in the forms serving tools load, each with its model card.

`merged`: the LoRA adapter merged into the base weights exactly as evaluation merges it, saved as a
plain Hugging Face checkpoint (safetensors, config, generation_config, the run's tokenizer with its
eos/pad and chat template) for transformers, vLLM, TGI and SGLang. `adapter`: the PEFT folder, for
vLLM's `--lora-modules`, PEFT and TGI. `gguf` is not offered: no maintained package on PyPI installs
llama.cpp's converter (README, "Serving an export"), and the harness does not write its own.

Every input is checked before anything is written; the export is built in a temporary folder beside
`--out` and renamed into place, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness import card, results, runs
from harness.errors import UserError
from harness.hardware import BF16_CPU_FLAGS, this_machine
from harness.metrics import did_you_mean
from harness.results import ModelInfo, RunResults
from harness.spec import Spec, load_spec


class ExportFormat(StrEnum):
    MERGED = "merged"
    ADAPTER = "adapter"
    GGUF = "gguf"


GGUF_UNAVAILABLE = (
    "--format gguf: not available: no maintained package on PyPI installs llama.cpp's converter "
    "(convert_hf_to_gguf.py), and the harness does not write its own; export --format merged and run "
    "llama.cpp's script on it (README, 'Serving an export')"
)
DTYPES = ("bfloat16", "float16", "float32")
# Left out of an adapter export: a pickle of the trainer's arguments (nothing loads it, and unpickling
# runs code), and AutoTrain's generic card (the export writes its own).
_NOT_EXPORTED = ("training_args.bin", card.CARD)


@dataclass(frozen=True)
class TunedRun:
    """A finished run's parts an export needs, each checked to be there."""

    run_dir: Path
    record: RunResults
    spec: Spec

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / runs.ADAPTER_DIR

    @property
    def evaluation_dtype(self) -> str:
        """The weights' type the run's evaluation decoded in (float32 for runs that did not record it)."""
        return self.record.evaluation.decoding.dtype or "float32"


@dataclass(frozen=True)
class Exported:
    folder: Path
    format: ExportFormat
    dtype: str | None  # a merged checkpoint's weights; None for an adapter

    def describe(self) -> str:
        return describe_weights(self.dtype)


def describe_weights(merged_dtype: str | None) -> str:
    return f"merged checkpoint ({merged_dtype})" if merged_dtype else "LoRA adapter"


def load_run(run_dir: Path) -> TunedRun:
    """The run's record, spec and adapter; a missing piece is one UserError line."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    record = results.load(run_dir)
    adapter = run_dir / runs.ADAPTER_DIR
    if not (adapter / "adapter_config.json").is_file() or not (adapter / runs.ADAPTER_WEIGHTS).is_file():
        raise UserError(f"{run_dir}: no LoRA adapter in {adapter} (adapter_config.json and {runs.ADAPTER_WEIGHTS})")
    return TunedRun(run_dir=run_dir, record=record, spec=load_spec(runs.spec_path(run_dir)))


def parse_format(name: str, allowed: tuple[ExportFormat, ...] = tuple(ExportFormat), option: str = "--format") -> ExportFormat:
    if name == ExportFormat.GGUF and ExportFormat.GGUF in allowed:
        raise UserError(GGUF_UNAVAILABLE)
    if name not in allowed:
        raise UserError(f"{option} {name}: unknown{did_you_mean(name, list(allowed))}")
    return ExportFormat(name)


def check_dtype(dtype: str) -> None:
    """The adapter is merged in the export's dtype, as evaluation merges it: bf16 needs hardware that
    computes in it (harness.hardware), like every other bf16 step of the harness."""
    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype}: unknown{did_you_mean(dtype, list(DTYPES))}")
    machine = this_machine()
    if dtype == "bfloat16" and not machine.native_bf16:
        where = "this GPU has none (compute capability < 8)" if machine.cuda else (
            f"this CPU has none (no {', '.join(sorted(BF16_CPU_FLAGS))} flag in /proc/cpuinfo)")
        raise UserError(f"--dtype bfloat16: merging in bf16 needs native bf16 arithmetic and {where}; "
                        "export float32 or float16")


def export(run_dir: Path, out: Path, export_format: str = ExportFormat.MERGED, dtype: str | None = None) -> Exported:
    """Write the run's tuned model to `out` (a new or empty folder); `dtype` (merged only) defaults to
    the dtype the run's evaluation used, so the export answers as the evaluation recorded."""
    chosen = parse_format(export_format)
    run = load_run(run_dir)
    if chosen == ExportFormat.ADAPTER and dtype is not None:
        raise UserError("--dtype: applies to --format merged only (an adapter keeps the weights it was trained in)")
    if chosen == ExportFormat.MERGED:
        dtype = dtype or run.evaluation_dtype
        check_dtype(dtype)
    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not an empty folder; give a new one")
    with _staged(out) as folder:
        write_export(run, chosen, dtype, folder, location=str(out.resolve()))
    return Exported(folder=out, format=chosen, dtype=dtype)


def write_export(run: TunedRun, export_format: ExportFormat, dtype: str | None, folder: Path, location: str) -> None:
    """The export's files in `folder` (which exists): the weights, then the card naming `location`."""
    if export_format == ExportFormat.MERGED:
        _write_merged(run, dtype, folder)
    else:
        _write_adapter(run, folder)
    card.write(folder, run.record, run.spec.prompt, location, merged_dtype=dtype)


def _write_merged(run: TunedRun, dtype: str, folder: Path) -> None:
    from transformers import AutoTokenizer

    from harness.evaluate.generation import load_model

    model, _ = load_model(_base_model_dir(run), run.adapter_dir, dtype)
    tokenizer = AutoTokenizer.from_pretrained(run.adapter_dir)  # the run's: fixed eos/pad, chat template
    for config in (model.config, model.generation_config):  # what serving stacks stop and pad with
        config.eos_token_id = tokenizer.eos_token_id
        config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _base_model_dir(run: TunedRun) -> Path:
    """The base checkpoint the run trained on, at the Hub commit it recorded; refused when the weights
    found now are not those (a merge onto other weights would not be the model evaluated)."""
    from harness.models import describe_model, resolve_model

    model = run.spec.model
    if run.record.model.revision:
        model = model.model_copy(update={"revision": run.record.model.revision})
    model_dir = resolve_model(model, run.spec.base_dir)
    found = ModelInfo(source=model.source, **describe_model(model_dir))
    if found.weights_sha256_head != run.record.model.weights_sha256_head:
        raise UserError(f"model.source {model.source}: resolves to {model_dir}, whose weights differ from those the "
                        f"run trained on (weights hash {found.weights_sha256_head}, run: "
                        f"{run.record.model.weights_sha256_head}); restore that base model to export a merge")
    return model_dir


def _write_adapter(run: TunedRun, folder: Path) -> None:
    """The PEFT folder, its base model named by Hub id where the run knows one (the run's own config
    names a folder of this machine's cache, which nobody else can load)."""
    from peft import PeftConfig

    shutil.copytree(run.adapter_dir, folder, ignore=shutil.ignore_patterns(*_NOT_EXPORTED), dirs_exist_ok=True)
    hub_id = card.upstream(run.record).hub_id
    if hub_id:
        config = PeftConfig.from_pretrained(folder)
        config.base_model_name_or_path = hub_id
        config.save_pretrained(folder)


@contextlib.contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A temporary folder beside `out`, renamed to `out` when the block succeeds and removed otherwise."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        yield staging
        # mkdtemp's 0700 (and the 0600 some writers use) would hide the export from a serving account
        for path in [staging, *staging.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        os.replace(staging, out)  # onto an empty folder too
    finally:
        shutil.rmtree(staging, ignore_errors=True)
