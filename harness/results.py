"""What a run produces, as one typed and versioned record: the contract between the stages.

The pipeline writes `results.json` once from a `RunResults`; the report, the CLI, `harness eval`
and the benchmarks read it back through the same types, so no module digs in the JSON by string
keys. Bump SCHEMA_VERSION when a change would make older files load wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness import runs
from harness.errors import UserError

# 1: unversioned; 2: verdicts not anchored on the headline metric; 3: `evaluation_sets` called `benchmarks`;
# 4: EvalResults' `evaluation_sets` still called `benchmarks`
SCHEMA_VERSION = 5
READABLE_VERSIONS = (3, 4, SCHEMA_VERSION)  # older ones read as today's shape (`_File._upgrade`)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _File(_Record):
    """The record a JSON file holds: versioned, and read from an older version in today's shape."""

    schema_version: Literal[5] = SCHEMA_VERSION

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Versions 3 and 4 named the evaluation-only sets `benchmarks` (they hold the hold-out sets
        too): version 3 in every record, version 4 in EvalResults."""
        if isinstance(data, dict) and data.get("schema_version") in (3, 4):
            data = {**data, "schema_version": SCHEMA_VERSION}
            if "evaluation_sets" in cls.model_fields and "benchmarks" in data:
                data["evaluation_sets"] = data.pop("benchmarks")
        return data


# ---------------------------------------------------------------- data, model, training


class DataInfo(_Record):
    """What the data stage loaded and how it split it."""

    source: str
    format: str
    rows: int
    train: int
    valid: int
    test: int
    dropped_overlap: int  # held-out examples removed because their prompt is also in train
    sha256: str
    evaluation_only: dict[str, int] = Field(default_factory=dict)  # rows per evaluation-only set (the hold-out)


class ModelInfo(_Record):
    source: str
    dir: str
    architecture: str
    hidden_size: int | None
    layers: int | None
    vocab_size: int | None
    weights_sha256_head: str
    revision: str | None = None  # the hub commit the weights came from, where known
    parameters: int | None = None  # stored weights (tied ones once); None for .bin checkpoints and older runs


class LossPoint(_Record):
    step: int
    loss: float


class TrainerLog(BaseModel):
    """One of the trainer's log lines; which keys it has depends on the line (a summary line has no loss)."""

    model_config = ConfigDict(extra="allow")
    step: int | None = None
    loss: float | None = None


class Training(_Record):
    """One training run, final or a trial's: what `harness.train.train` returns and results.json stores."""

    adapter_dir: Path
    steps: int
    planned_steps: int
    train_tokens: int
    train_seconds: float
    validation_seconds: float
    tokens_per_second: float
    step_end_seconds: list[float] = Field(default_factory=list)
    history: list[TrainerLog] = Field(default_factory=list)
    valid_losses: list[LossPoint] = Field(default_factory=list)
    stopped_early: bool = False
    autotrain_params: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------- search


class StoredTrialState(StrEnum):
    """Optuna's trial states, lower-cased."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAIL = "fail"
    WAITING = "waiting"


class Trial(_Record):
    """One Optuna trial as stored (like optuna.trial.FrozenTrial, plus what the harness recorded)."""

    number: int
    state: StoredTrialState
    params: dict[str, Any]
    values: list[float] | None
    intermediate_values: dict[int, float] = Field(default_factory=dict)  # step -> validation loss
    duration_s: float | None = None
    steps: int | None = None
    planned_steps: int | None = None
    train_tokens: int | None = None
    train_seconds: float | None = None  # optimizer steps only, like Training.train_seconds
    valid_loss: float | None = None
    spec_settings: bool = False  # runs the spec's own train values (enqueued as the study's first trial)
    worker: str | None = None
    fail_reason: str | None = None
    retry_of: int | None = None


class ParamAtEdge(_Record):
    """A searched parameter whose best value sits at the edge of its range: the optimum may lie outside it."""

    name: str
    value: float
    side: Literal["low", "high"]
    low: float  # the range searched (a numeric categorical: its smallest and largest choice)
    high: float
    log: bool


class Search(_Record):
    study_name: str
    storage: str  # passwords masked
    objectives: list[str]
    directions: list[Literal["minimize", "maximize"]]
    best_trial: int
    best_params: dict[str, Any]
    best_values: list[float]
    reused_best_trial: bool  # True: the final model is the best trial's adapter; False: retrained
    trials: list[Trial]
    pareto_front: list[int] | None = None  # trial numbers; None for a single objective
    param_importances: dict[str, float] = Field(default_factory=dict)
    counts: dict[StoredTrialState, int] = Field(default_factory=dict)
    pruner: str | None = None  # the pruner and its settings in steps, as the report names it; None: not recorded
    steps_run: int = 0  # optimizer steps of every trial, pruned ones included
    steps_saved_by_pruning: int = 0  # steps the pruned trials' own budgets had left
    tokens_run: int | None = None
    train_seconds_run: float | None = None
    spec_settings_trial: int | None = None  # the trial that ran the spec's own train values
    params_at_edge: list[ParamAtEdge] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_model(self) -> str:
        return "reused the best trial's adapter" if self.reused_best_trial else "retrained with the best parameters"


class OptimismGap(_Record):
    """The best trial's validation score beside the final model's score on the test split.

    Selecting the best of many trials on one validation split flatters it; the test split shows
    by how much. `validation` and `test` are the same measure where the test evaluation has it
    (`valid_loss` is compared with ln of the test answer perplexity: the same token-weighted loss)."""

    objective: str
    direction: Literal["minimize", "maximize"]
    validation: float  # the best trial's objective value on the validation split
    test_metric: str  # the test evaluation's metric the gap is computed with
    test: float  # the final model's value of the objective's measure on the test split
    final_model_retrained: bool  # the final model is not the best trial's: longer training is in the gap too
    final_validation: float | None = None  # the final model's own validation loss, when it was retrained

    @property
    def optimism(self) -> float:
        """How much better the validation score looks than the test score (> 0: validation flattered)."""
        return self.test - self.validation if self.direction == "minimize" else self.validation - self.test


# ---------------------------------------------------------------- evaluation


class AdjustedInterval(_Record):
    """A family member's interval at its Holm step: level 1 - alpha / (m - rank)."""

    method: Literal["holm"] = "holm"
    family_size: int
    rank: int  # 0 = smallest bootstrap p-value
    p_value: float
    confidence: float
    ci_low: float
    ci_high: float
    significant: bool  # rejected by Holm's step-down (every smaller p-value rejected too)


class Comparison(_Record):
    """Base vs tuned on `n` paired examples (harness.evaluate.stats.Comparison as stored)."""

    n: int
    base: float | None
    tuned: float | None
    diff: float | None
    rel_change: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    n_resamples: int
    adjusted: AdjustedInterval | None = None  # accuracy-family metrics: the Holm-adjusted interval


class Verdict(_Record):
    """Did tuning make the model better, across the accuracy family, luck accounted for?"""

    outcome: Literal["better", "worse", "inconclusive"]
    headline: str | None  # the family member a "better" must come from (None: no accuracy metric measured)
    family: list[str]  # the metrics adjusted together
    better: list[str]  # family members significantly better after Holm
    worse: list[str]
    confidence: float  # the family-wise level


class QueryTiming(_Record):
    ttft_s: float
    tpot_s: float | None
    total_s: float
    output_tokens: int


def mean_present(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are there (None: not measured for that example): per-example
    scores and per-query timings are averaged this way wherever a record or report needs it."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


class Distribution(_Record):
    n: int
    mean: float | None
    p50: float | None
    p95: float | None


class Latency(_Record):
    """One model's batch-1 timed queries."""

    queries: list[QueryTiming]
    total_s: Distribution
    ttft_s: Distribution
    tpot_s: Distribution
    batch1_tokens_per_s: float


class Throughput(_Record):
    seconds: float
    tokens_per_s: float
    tokens: int
    # answers still running when max_new_tokens cut them (None: an older file that did not record it)
    cut_at_limit: int | None = None


class ExecutionBasis(StrEnum):
    """How an example's SQL execution verdict was reached."""

    REAL_DATABASE = "real database + neighbours"
    SCHEMA_SUITE = "distilled test suite from CREATE TABLE text"
    UNINFORMATIVE = "could not test (the gold is uninformative on every generated database)"
    NO_SCHEMA = "none (no database or schema)"


def judged_by_sentence(counts: dict[ExecutionBasis, int]) -> str:
    """'distilled test suite from CREATE TABLE text: 97; could not test (...): 3', in the enum's order."""
    return "; ".join(f"{basis.value}: {counts[basis]}" for basis in ExecutionBasis if counts.get(basis))


class Sampling(_Record):
    """How a sampled decoding mode draws its candidates (`evaluation.self_consistency` in the spec):
    `samples` answers per example, each token drawn at `temperature` from the smallest set of tokens
    holding `top_p` of the probability, each answer from its own generator seeded by `seed` and its
    place, so base and tuned draw with the same seeds and a rerun draws the same answers."""

    samples: int = Field(5, ge=2, le=64)
    temperature: float = Field(0.7, gt=0, le=5)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 0


class Vote(_Record):
    """How one example's answer was chosen among sampled candidates: the largest group of
    candidates that are the same answer (for SQL: the same rows), the earliest on a tie."""

    samples: int
    groups: int  # distinct answers among the candidates that count
    agreeing: int  # candidates in the chosen answer's group
    uncounted: int  # candidates that could not count (e.g. SQL that does not run)


class Decoding(_Record):
    strategy: str = "greedy"  # a decoding mode's name (`harness.evaluate.decoding.MODES`)
    sampling: Sampling | None = None  # how its candidates were drawn; None: each token the most likely
    max_new_tokens: int
    batch_size: int
    # answers stopped once their scores could no longer change (`evaluation.stop_at_final_answer`)
    stops_at_final_answer: bool = False
    # the weights' type both models were decoded and scored in (`model.dtype`, resolved); None: an older
    # file that did not record it, which the report then does not guess
    dtype: str | None = None


class SideMeans(_Record):
    base: dict[str, float | None]
    tuned: dict[str, float | None]


class BreakdownGroup(SideMeans):
    n: int


class ExampleRow(_Record):
    id: str
    prompt: str
    gold: str
    base: str
    tuned: str
    meta: dict[str, Any] = Field(default_factory=dict)
    base_scores: dict[str, float | None] = Field(default_factory=dict)
    tuned_scores: dict[str, float | None] = Field(default_factory=dict)
    judged_by: ExecutionBasis | None = None  # how its execution verdict was reached (None: no execution metric)
    base_vote: Vote | None = None  # a voting decoding mode: how each side's answer was chosen
    tuned_vote: Vote | None = None


Side = Literal["base", "tuned"]


class Evaluation(_Record):
    n: int
    decoding: Decoding
    metrics: dict[str, Comparison]
    verdict: Verdict
    throughput: dict[Side, Throughput]
    latency: dict[Side, Latency] = Field(default_factory=dict)
    breakdown: dict[str, dict[str, BreakdownGroup]] = Field(default_factory=dict)  # column -> value -> means
    judged_by: dict[ExecutionBasis, int] = Field(default_factory=dict)  # examples per execution basis
    examples: list[ExampleRow] = Field(default_factory=list)
    # The same examples under each further `evaluation.decoding` mode (no perplexity or batch-1
    # timing there: neither depends on how answers are decoded); this one is the first mode.
    decodings: dict[str, Evaluation] = Field(default_factory=dict)


# ---------------------------------------------------------------- the whole run


class Environment(_Record):
    python: str
    platform: str
    cpu_count: int | None
    torch_threads: int
    gpu: str | None
    packages: dict[str, str | None]


class TrackerFailure(_Record):
    """A tracker that raised: it was switched off there and the run went on without it."""

    tracker: str  # mlflow, tensorboard, wandb
    at: datetime  # when it failed (local time, with its offset)
    during: str  # what was being logged: start, training, trial, evaluation, scores, leaderboard, artifacts, end
    cause: str  # one line, URL credentials masked


class TrackingOutcome(_Record):
    """Which experiment trackers saw the run, where to find it there, and which of them failed."""

    trackers: list[str]
    where: dict[str, str] = Field(default_factory=dict)  # tracker -> its run (URI masked, run id or folder)
    # tracker -> what `harness eval RUN_DIR` logs into again: the run id (MLflow, W&B) or log folder (TensorBoard)
    runs: dict[str, str] = Field(default_factory=dict)
    failures: list[TrackerFailure] = Field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line for the report and the console: each tracker with where to look, or when and why it failed."""
        failed = {f.tracker: f for f in self.failures}
        return "; ".join(
            f"{name} failed at {f.at:%Y-%m-%d %H:%M:%S} while logging the {f.during} ({f.cause}): nothing after that reached it"
            if (f := failed.get(name)) else f"{name} ({self.where.get(name, '?')})" for name in self.trackers)


class RunResults(_File):
    project: str
    status: Literal["ok"] = "ok"
    run_dir: Path
    model: ModelInfo
    data: DataInfo
    train_spec: dict[str, Any]  # the resolved train section the final model used
    training: Training
    search: Search | None = None
    optimism_gap: OptimismGap | None = None  # with a search whose objective the test evaluation measures too
    evaluation: Evaluation  # the test split
    # evaluation-only sets (data.split.holdout, evaluation.benchmarks) by name, judged like the test split
    evaluation_sets: dict[str, Evaluation] = Field(default_factory=dict)
    environment: Environment
    timings: dict[str, float] = Field(default_factory=dict)  # stage -> seconds, plus "total"
    tracking: TrackingOutcome | None = None  # None: the spec names no tracker (and runs before tracking existed)


class EvalResults(_File):
    """`harness eval`'s eval.json: one base-vs-tuned evaluation of an adapter."""

    project: str
    adapter_dir: Path
    evaluation: Evaluation  # the test split
    # evaluation-only sets (data.split.holdout, evaluation.benchmarks) by name, judged like the test split
    evaluation_sets: dict[str, Evaluation] = Field(default_factory=dict)
    tracking: TrackingOutcome | None = None  # None: the spec names no tracker


class ScoreInterval(_Record):
    """One metric's mean over a set of answers from elsewhere, with a percentile bootstrap interval."""

    n: int  # examples the metric applies to (None scores left out: e.g. execution without a database)
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    n_resamples: int


class ScoredAnswer(_Record):
    id: str
    line: int | None  # line of the answers file; None: the example was not answered
    answer: str | None
    scores: dict[str, float | None]


class ScoredSet(_Record):
    n: int  # every example of the set, answered or not
    answered: int
    unanswered: int  # scored as an empty answer (wrong wherever a metric applies), never dropped from n
    metrics: dict[str, ScoreInterval]
    examples: list[ScoredAnswer]
    judged_by: dict[ExecutionBasis, int] = Field(default_factory=dict)  # examples per execution basis


class ScoreResults(_File):
    """`harness score`'s score.json: answers produced elsewhere, scored with a spec's metrics and data."""

    project: str
    answers_file: Path
    metric_families: list[str]
    unanswered_scored_as: str = ""  # what an example without an answer is scored as
    sets: dict[str, ScoredSet]  # "test", then evaluation-only sets, then benchmarks
    tracking: TrackingOutcome | None = None  # None: the spec names no tracker


# ---------------------------------------------------------------- a sweep of models


class LeaderboardRow(_Record):
    """One model of a sweep: its numbers copied from its run's results.json, or the error that
    stopped it (`error` set, numbers absent)."""

    name: str  # the model's folder in the sweep directory: <project>-<name>
    source: str
    run_dir: Path | None = None  # None: it failed before its run directory existed
    error: str | None = None  # one line; None: finished
    resumed: bool = False  # finished by an earlier invocation of the sweep, not re-run
    architecture: str | None = None
    parameters: int | None = None
    metrics: dict[str, Comparison] = Field(default_factory=dict)  # the headline and perplexity, base vs tuned
    tokens_per_s: dict[Side, float] = Field(default_factory=dict)  # batched greedy generation on the test split
    train_seconds: float | None = None
    adapter_mb: float | None = None
    total_seconds: float | None = None

    @property
    def finished(self) -> bool:
        return self.error is None


class Leaderboard(_File):
    """`leaderboard.json` of a sweep (`model.sources`): one row per model, in the spec's order."""

    project: str
    sweep_dir: Path
    headline: str | None  # the accuracy metric every finished model measured (metrics.HEADLINE_CANDIDATES)
    rows: list[LeaderboardRow]
    tracking: TrackingOutcome | None = None  # the leaderboard's own tracker run; None: no tracker (or not yet logged)

    @property
    def failed(self) -> list[LeaderboardRow]:
        return [row for row in self.rows if not row.finished]


# ---------------------------------------------------------------- reading and writing


def write(path: Path, record: RunResults | EvalResults | ScoreResults | Leaderboard) -> Path:
    return runs.write_atomic(path, (record.model_dump_json(indent=2) + "\n").encode())


def load(run_dir: Path) -> RunResults:
    """The run's results.json; an older or foreign file fails with one line saying which version it is."""
    path = runs.results_path(run_dir)
    if not path.is_file():
        raise UserError(f"{run_dir}: no {path.name} here; give a finished run directory (runs/<project>/<timestamp>)")
    return _parse(path, RunResults)


def load_eval(path: Path) -> EvalResults:
    return _parse(path, EvalResults)


def load_leaderboard(sweep_dir: Path) -> Leaderboard:
    path = runs.leaderboard_path(sweep_dir)
    if not path.is_file():
        raise UserError(f"{sweep_dir}: no {path.name} here; give a sweep directory (runs/<project>/{runs.SWEEP_AREA})")
    return _parse(path, Leaderboard)


def _parse(path: Path, record: type[RunResults | EvalResults | Leaderboard]) -> Any:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    version = data.get("schema_version", 1) if isinstance(data, dict) else None
    if version not in READABLE_VERSIONS:
        raise UserError(
            f"{path}: results schema version {version}, this harness reads version {SCHEMA_VERSION}; "
            "re-run the spec (or use the harness version that wrote it) to get a report"
        )
    try:
        return record.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{path}: field '{where}': {first['msg']} (schema version {SCHEMA_VERSION})") from None
