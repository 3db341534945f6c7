"""The spec's schema: typed sections that check their own values and, in `Spec`, each other.

Reading a file (YAML, `${VAR}` interpolation, one-line errors) is `harness.spec.loading`'s job.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness import metrics as registry
from harness.results import Sampling
from harness.spec.compute import ComputeSpec
from harness.spec.paths import set_field
from harness.spec.section import Section
from harness.spec.tracking import TrackingSpec

_T = TypeVar("_T")


def _no_repeats(values: list[str], what: str) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat")
    return values



# ---------------------------------------------------------------- model


class TinyModel(Section):
    """A randomly initialised model of a chosen architecture with the embedded tokenizer: real
    training in seconds, and a check that each architecture trains and evaluates end to end."""

    architecture: Literal["llama", "qwen2", "qwen3", "gemma3", "smollm3", "mistral", "phi3"] = "llama"
    layers: int = Field(2, ge=1, le=64)
    hidden_size: int = Field(64, ge=8, le=8192)
    heads: int = Field(4, ge=1, le=128)
    intermediate_size: int = Field(128, ge=8, le=32768)
    seed: int = 0

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> TinyModel:
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be a multiple of heads {self.heads}")
        return self


class ModelChoice(Section):
    """One base model. `source` is one of: `builtin:smollm2-135m-instruct`, `builtin:gemma3-270m`,
    `tiny`, a local checkpoint directory, a `.gguf` file, or a hub id (`org/name`: needs internet
    unless it is already in the local Hugging Face cache)."""

    source: str = "builtin:smollm2-135m-instruct"
    revision: str | None = None
    token: str | None = None
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"  # weights at evaluation; auto: bf16 where native
    tiny: TinyModel = Field(default_factory=TinyModel)


class SweepModel(ModelChoice):
    """An entry of `model.sources` written as a mapping: its keys replace the `model` section's for
    this model only (e.g. another `tiny` architecture, a revision); `name` names its run folder."""

    source: str
    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="default: from the source")


class ModelSpec(ModelChoice):
    """`source` (one model) or `sources` (a sweep: the same data, prompts, budget and seeds for each
    model, then one leaderboard); each entry is a source string or a `SweepModel` mapping."""

    sources: list[SweepModel] | None = None

    @field_validator("sources", mode="before")
    @classmethod
    def _entries(cls, v: Any) -> Any:
        """A bare string is the entry's source; an empty list is a mistake, not a sweep of nothing."""
        if isinstance(v, list) and not v:
            raise ValueError("the list is empty: name at least one model, or use model.source for one")
        return [{"source": e} if isinstance(e, str) else e for e in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _source_or_sources(self) -> ModelSpec:
        if self.sources is not None and "source" in self.model_fields_set:
            raise ValueError("set model.source (one model) or model.sources (a sweep), not both")
        return self

    def choices(self) -> list[tuple[str, ModelSpec]]:
        """(name, single-model section) per `sources` entry, the entry's keys over this section's;
        empty without `sources`."""
        out = []
        for entry in self.sources or []:
            given = {key: getattr(entry, key) for key in entry.model_fields_set - {"name"}}
            model = self.model_copy(update={**given, "sources": None})
            out.append((entry.name or _model_name(model), model))
        return out


def _model_name(model: ModelChoice) -> str:
    """A folder-safe name from a source: `builtin:gemma3-270m` -> gemma3-270m, `tiny` -> tiny-<arch>,
    `org/name` or a path -> its last part (without .gguf)."""
    if model.source == "tiny":
        return f"tiny-{model.tiny.architecture}"
    raw = model.source.removeprefix("builtin:").rstrip("/").rsplit("/", 1)[-1].removesuffix(".gguf")
    return re.sub(r"[^a-z0-9_]+", "-", raw.lower()).strip("-_")[:40] or "model"


# ---------------------------------------------------------------- data


class HoldoutSpec(Section):
    """Whole values of one column (e.g. every row of some databases) kept out of train, valid, test
    and search: an evaluation-only set that measures how a gain carries over to unseen values."""

    column: str
    count: int | None = Field(None, ge=1, description="hold out this many values, picked with split.seed")
    values: list[str] | None = Field(None, min_length=1, description="or these values (shell patterns allowed)")
    name: str = Field("unseen", pattern=r"^[a-z][a-z0-9_-]{0,39}$", description="the set's name in results")
    max_rows: int | None = Field(None, ge=1, description="seeded sample of the held-out rows")

    @model_validator(mode="after")
    def _count_or_values(self) -> HoldoutSpec:
        if (self.count is None) == (self.values is None):
            raise ValueError("set exactly one of count and values")
        return self


class SplitSpec(Section):
    """Held-out sizes as counts (>= 1) or fractions (< 1); train is the rest."""

    valid: float = Field(0.1, gt=0)
    test: float = Field(0.1, gt=0)
    train: float | None = Field(None, gt=0, description="cap on train size; default: all the rest")
    seed: int = 0
    group_by: str | None = Field(None, description="column whose equal values stay in one split")
    holdout: HoldoutSpec | None = None


class RowFormat(Section):
    """How rows of a file become prompt/answer pairs; shared by `data` and `evaluation.benchmarks`."""

    format: Literal["auto", "text", "instruction", "llama2-sql", "template", "question-sql"] = "auto"
    # text format: one column holding prompt + separator + answer
    text_column: str = "text"
    separator: str = "\nA:"
    # instruction format
    instruction_column: str = "instruction"
    input_column: str = "input"
    response_column: str = "response"
    # template format: prompt built from row columns with str.format, answer from one column
    prompt_template: str | None = None
    answer_column: str | None = None
    # question-sql format: the built-in prompt layout (schema + question); the schema comes from a
    # `schema_brief` or `schema` (CREATE TABLE) column, else from the row's SQLite database
    question_column: str = "question"
    sql_column: str = "sql"
    db_folder: str | None = Field(
        None, description="folder of SQLite files: a row's db_id -> <folder>/<db_id>/<db_id>.sqlite or <folder>/<db_id>.sqlite"
    )

    @model_validator(mode="after")
    def _template_fields(self) -> RowFormat:
        if self.format == "template" and not (self.prompt_template and self.answer_column):
            raise ValueError("format 'template' needs both prompt_template and answer_column")
        return self


class DataSpec(RowFormat):
    """`source`: `builtin:sql`, a local .jsonl/.json/.csv/.parquet file, or a hub dataset id."""

    source: str = "builtin:sql"
    hub_split: str = "train"
    subset: int | None = Field(None, ge=1, description="sample this many rows (seeded) before splitting")
    split: SplitSpec = Field(default_factory=SplitSpec)


class BenchmarkSpec(RowFormat):
    """An evaluation-only set from a local file, read with the same formats as `data`; never
    used for training, validation or search."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    source: str
    limit: int | None = Field(None, ge=1, description="use the first N rows only")


class PromptSpec(Section):
    """`chat` uses the tokenizer's chat template; `plain` formats `template` with {prompt}."""

    style: Literal["chat", "plain"] = "chat"
    system: str | None = None
    template: str = "### Question:\n{prompt}\n\n### Answer:\n"

    @field_validator("template")
    @classmethod
    def _has_prompt_slot(cls, v: str) -> str:
        if "{prompt}" not in v:
            raise ValueError("template must contain {prompt}")
        return v


# ---------------------------------------------------------------- training


class LoraSpec(Section):
    r: int = Field(16, ge=1, le=1024)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str = "all-linear"


class TrainSpec(Section):
    """Passed through to AutoTrain's LLM SFT trainer (see harness/train.py for the mapping)."""

    lr: float = Field(1e-3, gt=0, lt=1)
    epochs: int = Field(1, ge=1, le=1000)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(4, ge=1, le=4096)
    gradient_accumulation: int = Field(1, ge=1, le=1024)
    block_size: int = Field(256, ge=16, le=131072)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    optimizer: str = "adamw_torch"
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 42
    lora: LoraSpec = Field(default_factory=LoraSpec)
    quantization: Literal["none", "int4", "int8"] = "none"
    # auto: bf16 where the hardware computes in it (harness.hardware), else none; the run records which
    mixed_precision: Literal["none", "fp16", "bf16", "auto"] = "none"
    gradient_checkpointing: bool = False
    eval_every: int = Field(10, ge=1, description="validation loss every N optimizer steps")
    eval_examples: int = Field(32, ge=1, description="validation examples scored during training")


# ---------------------------------------------------------------- evaluation


EvaluationFamily = Literal[tuple(f.value for f in registry.EVALUATION_FAMILIES)]


class EvaluationSpec(Section):
    metrics: list[EvaluationFamily] = Field(default_factory=lambda: [f.value for f in registry.EVALUATION_FAMILIES])
    max_new_tokens: int = Field(64, ge=1, le=4096)
    batch_size: int = Field(8, ge=1, le=1024)
    limit: int | None = Field(None, ge=1, description="evaluate the first N test examples only")
    latency_samples: int = Field(8, ge=1, description="batch-1 queries timed per model")
    bootstrap_resamples: int = Field(2000, ge=100)
    breakdown: list[str] = Field(default_factory=lambda: ["category", "difficulty"])
    benchmarks: list[BenchmarkSpec] = Field(default_factory=list)
    # Names from `harness.evaluate.decoding.MODES`, checked by `harness validate` (the evaluate stage owns them): `greedy`; `constrained` (greedy held to one SELECT
    # over the example's own schema, needs `sql`); `self_consistency` (sampled candidates, the one most
    # of them agree with kept). Each mode evaluates base and tuned alike; the first carries the
    # headline and the verdict.
    decoding: list[str] = Field(default_factory=lambda: ["greedy"], min_length=1)
    self_consistency: Sampling = Field(default_factory=Sampling)  # how `self_consistency` draws its candidates
    # Stop an answer once no further text can change its scores (SQL: its first statement has ended),
    # base and tuned alike: the same scores at a fraction of the tokens. Off: every answer runs to
    # its stop token or max_new_tokens, e.g. to read what a model writes after its SQL.
    stop_at_final_answer: bool = True

    def evaluated(self, examples: list[_T]) -> list[_T]:
        """The examples an evaluation scores: the first `limit` of them, or all."""
        return examples[: self.limit] if self.limit else examples

    @field_validator("decoding")
    @classmethod
    def _modes_once(cls, v: list[str]) -> list[str]:
        return _no_repeats(v, "decoding modes")

    @field_validator("metrics", mode="before")
    @classmethod
    def _renamed(cls, v: Any) -> Any:
        for old, new in registry.RENAMED_FAMILIES.items():
            if isinstance(v, list) and old in v:
                raise ValueError(f"'{old}' is now called '{new}' (whole-answer text match; SQL's exact_match comes with 'sql')")
        return v

    @field_validator("metrics")
    @classmethod
    def _no_duplicates(cls, v: list[str]) -> list[str]:
        return _no_repeats(v, "metrics")



# ---------------------------------------------------------------- search


class _RangeParam(Section):
    log: bool = False

    @model_validator(mode="after")
    def _range(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class FloatParam(_RangeParam):
    type: Literal["float"]
    low: float
    high: float


class IntParam(_RangeParam):
    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)


class CategoricalParam(Section):
    type: Literal["categorical"]
    choices: list[int | float | str | bool] = Field(min_length=1)


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class SearchSpec(Section):
    enabled: bool = True
    trials: int | None = Field(6, ge=1)
    timeout_minutes: float | None = Field(None, gt=0)
    space: dict[str, SearchParam] = Field(default_factory=dict)
    objective: str = "valid_loss"
    direction: Literal["minimize", "maximize"] | None = Field(None, description="default: the objective's better direction")
    second_objective: str | None = Field(None, description="e.g. adapter_mb or latency_ms: a Pareto front")
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["asha", "hyperband", "median", "none"] = "median"
    min_resource: int | None = Field(
        None, ge=1, description="asha/hyperband: train steps before a trial is first judged (default: the trials' eval_every)"
    )
    reduction_factor: int = Field(
        3, ge=2, description="asha/hyperband: 1 in this many trials goes on at each rung (min_resource x factor^k steps)"
    )
    seed: int = 0
    storage: str | None = Field(None, description="optuna storage URL; default: a journal file in the search area")
    parallel: int = Field(1, ge=1, description="trial workers at once on this machine, each on its own GPU or CPU cores")
    study_name: str | None = None
    trial_train: dict[str, Any] = Field(
        default_factory=dict, description="train overrides for trials (e.g. a smaller max_steps)"
    )

    @model_validator(mode="after")
    def _budget(self) -> SearchSpec:
        if self.enabled and self.trials is None and self.timeout_minutes is None:
            raise ValueError("set trials and/or timeout_minutes")
        return self

    @property
    def objectives(self) -> list[str]:
        return [self.objective, *([self.second_objective] if self.second_objective else [])]

    @property
    def directions(self) -> list[str]:
        """Optuna directions, one per objective: the registry's, or the user's for the first."""
        declared = [registry.METRICS[name].direction for name in self.objectives]
        return [self.direction or declared[0], *declared[1:]]


# ---------------------------------------------------------------- the whole file


class Spec(Section):
    project: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    search: SearchSpec | None = None
    compute: ComputeSpec = Field(default_factory=ComputeSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    runs_dir: str = "runs"

    # Where the file lives: relative paths in the spec are resolved against it.
    base_dir: Path = Field(default=Path("."), exclude=True)
    # Fields filled from ${VAR}: written back as the placeholder, never the secret.
    env_fields: dict[str, str] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        """Checks across sections, here so a `Spec(...)` built in Python gets them too."""
        for check in (_check_search_space, _check_evaluation_set_names, _check_objectives, _check_sweep, _check_compute):
            message = check(self)
            if message:
                raise PydanticCustomError("spec_check", "{message}", {"message": message})
        return self

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def to_yaml(self) -> str:
        """The resolved spec (defaults filled in) with secrets put back as `${VAR}` and local files
        made absolute, so the copy in a run directory still finds them (`harness eval RUN_DIR`)."""
        data = self.model_dump(mode="json")
        for node in (data["model"], data["data"], *data["evaluation"]["benchmarks"]):
            if (path := self.resolve_path(node["source"])).exists():
                node["source"] = str(path.resolve())
        for dotted, original in self.env_fields.items():
            set_field(data, dotted, original)
        return yaml.safe_dump(data, sort_keys=False)

    def sweep_specs(self) -> dict[str, Spec]:
        """name -> the single-model spec `harness run` runs for each `model.sources` entry: same data,
        prompts, budget and seeds; project `<project>-<name>` (its own run folder and study)."""
        out = {}
        for index, (name, model) in enumerate(self.model.choices()):
            search = self.search
            if search is not None and search.study_name:  # one study per model, never shared
                search = search.model_copy(update={"study_name": f"{search.study_name}-{name}"})
            out[name] = self.model_copy(update={
                "project": f"{self.project}-{name}", "model": model, "search": search,
                "env_fields": _entry_env_fields(self.env_fields, index),
            })
        return out


def _entry_env_fields(env_fields: dict[str, str], index: int) -> dict[str, str]:
    """`${VAR}` fields of a sweep's spec as seen from the single-model spec of entry `index`:
    `model.sources.<index>[.key]` becomes `model.source` / `model.<key>`, other entries drop out."""
    entry, out = f"model.sources.{index}", {}
    for dotted, original in env_fields.items():
        if dotted == entry:
            out["model.source"] = original
        elif dotted.startswith(entry + "."):
            out["model." + dotted.removeprefix(entry + ".")] = original
        elif not dotted.startswith("model.sources."):
            out[dotted] = original
    return out


def _check_compute(spec: Spec) -> str | None:
    """A search starts a training per trial, which other machines cannot join one by one: several
    machines either train one model together or run search workers, not both."""
    if spec.compute.machines > 1 and spec.search is not None and spec.search.enabled:
        return ("compute.machines: a search trains once per trial and other machines cannot join each training; "
                "set compute.machines: 1 and add machines with `harness worker` (search), or disable the search")
    return None


def _check_sweep(spec: Spec) -> str | None:
    """Each model of a sweep gets the folder `<project>-<name>`: names must differ and fit."""
    seen: dict[str, int] = {}
    for index, (name, _) in enumerate(spec.model.choices()):
        if name in seen:
            return (f"model.sources.{index}: name '{name}' is also entry {seen[name]}'s; "
                    "write the entry as a mapping with a distinct `name:`")
        if len(f"{spec.project}-{name}") > 64:
            return (f"model.sources.{index}: project and model name '{spec.project}-{name}' exceed "
                    "64 characters; give the entry a shorter `name:`")
        seen[name] = index
    return None


def _check_evaluation_set_names(spec: Spec) -> str | None:
    """Held-out and benchmark sets are reported by name beside train/valid/test."""
    names = [b.name for b in spec.evaluation.benchmarks]
    if spec.data.split.holdout is not None:
        names.append(spec.data.split.holdout.name)
    for name in names:
        if names.count(name) > 1 or name in ("train", "valid", "test"):
            return (f"evaluation-only set name '{name}' is used twice or names a split; "
                    "rename data.split.holdout.name or evaluation.benchmarks[].name")
    return None


def _check_search_space(spec: Spec) -> str | None:
    if spec.search is None:
        return None
    tunable = _tunable_train_fields()
    for name in spec.search.space:
        if name not in tunable:
            return f"search.space: unknown parameter '{name}'{registry.did_you_mean(name, tunable, 'tunable')}"
    for name in spec.search.trial_train:
        if name not in tunable:
            return f"search.trial_train: unknown train parameter '{name}'"
    return _check_pruner_settings(spec)


def _check_pruner_settings(spec: Spec) -> str | None:
    """Rung settings only for the pruners with rungs; a first rung at or past the trials' last step
    would let the pruner judge nothing."""
    s = spec.search
    # compared with the defaults, not "was it written": a run directory's resolved spec writes every field
    rung_settings = [name for name in ("min_resource", "reduction_factor")
                     if getattr(s, name) != type(s).model_fields[name].default]
    if s.pruner not in ("asha", "hyperband") and rung_settings:
        return (f"search.{rung_settings[0]}: only the asha and hyperband pruners use it "
                f"(pruner is {s.pruner}); remove it or set search.pruner: asha")
    if s.pruner not in ("asha", "hyperband") or s.min_resource is None:
        return None
    max_steps = s.trial_train.get("max_steps", spec.train.max_steps)
    if max_steps is not None and s.min_resource >= max_steps:
        return (f"search.min_resource: {s.min_resource} steps is not below the trials' max_steps ({max_steps}), "
                "so no trial could ever be pruned; lower min_resource or raise search.trial_train.max_steps")
    return None


def _tunable_train_fields() -> list[str]:
    names = [n for n in TrainSpec.model_fields if n != "lora"]
    return names + [f"lora.{n}" for n in LoraSpec.model_fields]


def _check_objectives(spec: Spec) -> str | None:
    """Each objective is a declared metric that a trial can compute with this spec's evaluation,
    optimised its declared way: caught here, not after trials have trained for nothing."""
    if spec.search is None:
        return None
    s, choices = spec.search, registry.objectives()
    for field, name in (("objective", s.objective), ("second_objective", s.second_objective)):
        if name is None:
            continue
        metric = registry.get(name)
        if metric is None or not metric.objective:
            return f"search.{field}: unknown objective '{name}'{registry.did_you_mean(name, choices)}"
        if metric.family in registry.EVALUATION_FAMILIES and metric.family not in spec.evaluation.metrics:
            return (f"search.{field}: '{name}' is measured by the '{metric.family}' evaluation; "
                    f"add it to evaluation.metrics (now: {', '.join(spec.evaluation.metrics) or 'none'})")
    declared = registry.METRICS[s.objective].direction
    if s.direction and declared and s.direction != declared:
        return (f"search.direction: '{s.objective}' is better {registry.METRICS[s.objective].better}, "
                f"so it must be {declared}d, not {s.direction}d (leave direction out to use the metric's own)")
    if s.second_objective and s.second_objective == s.objective:
        return f"search.second_objective: same as search.objective ('{s.objective}')"
    return None
