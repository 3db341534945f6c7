"""The report's view model as typed records: what content.py decides, what the templates and plots show.

One record per concept of the report (headline, metric rows, decodings, evaluation-only sets,
latency, breakdown, examples, training, search, provenance; a sweep's leaderboard), so a
template or figure reads `row.tuned`, never a string key that a typo would turn into silence.
Field order is report.json's key order: `ReportView.model_dump()` is that document, and its keys
are documented in harness/report/README.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# A cell of a base-vs-tuned table: a share, a count, seconds, tokens... (None: not measured)
Number = int | float | None


class SidePair(_View):
    """One measure for both models."""

    base: Number = None
    tuned: Number = None


# ---------------------------------------------------------------- headline


class MetricRow(_View):
    """One base-vs-tuned comparison with its label and judgement (`content.metric_row`)."""

    name: str
    label: str
    kind: str  # a formatting kind (harness.report.formatting): rate, seconds, perplexity, tokens, number
    better: Literal["higher", "lower"] | None  # None: neither direction is better (e.g. output length)
    n: int
    base: float | None
    tuned: float | None
    diff: float | None
    rel_change: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    adjusted_ci_low: float | None  # the Holm-adjusted interval (accuracy family only)
    adjusted_ci_high: float | None
    adjusted_confidence: float | None
    significant: bool
    outcome: str  # better, worse, higher, lower, not significant, too few to judge


class Headline(_View):
    """The headline metric's row (every number None when no accuracy metric was measured), the run's
    verdict over the accuracy family and the sentence that says it."""

    metric: str | None
    label: str | None
    n: int | None
    base: float | None
    tuned: float | None
    diff: float | None
    rel_change: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float | None
    adjusted_ci_low: float | None
    adjusted_ci_high: float | None
    adjusted_confidence: float | None
    significant: bool | None
    outcome: str | None
    run_verdict: Literal["better", "worse", "inconclusive"]
    family: list[str]
    family_better: list[str]
    family_worse: list[str]
    verdict: str


class OutcomeRow(_View):
    name: str
    label: str
    base: int  # answers in the class
    tuned: int
    diff: int


class OutcomeTable(_View):
    """One table of one-hot outcome classes (e.g. the SQL error classes) as counts of answers."""

    title: str
    rows: list[OutcomeRow]


class Refinement(_View):
    """Answers a stricter metric rejected that its looser twin accepted."""

    metric: str
    label: str
    looser: str
    looser_label: str
    base: int
    tuned: int


class DecodingRow(_View):
    label: str
    kind: str
    values: list[Number]  # base, tuned for each mode in turn


class DecodingsTable(_View):
    """Base and tuned under every decoding mode side by side; the first mode is the headline's."""

    modes: list[str]
    rows: list[DecodingRow]
    verdicts: list[str]


class SetHeadline(_View):
    name: str
    headline: MetricRow | None  # None: the set did not measure the headline metric


class EvaluationSet(_View):
    """One evaluation-only set (a hold-out or a benchmark file), judged like the test split."""

    name: str
    n: int
    verdict: str
    metrics: list[MetricRow]
    headline: MetricRow | None
    headline_outcome: str
    outcome_counts: list[OutcomeTable]
    refinements: list[Refinement]
    judged_by: str | None


class EvaluationSets(_View):
    """The headline metric on the test split beside each evaluation-only set, then each set in full."""

    metric: str | None
    label: str
    side_by_side: list[SetHeadline]
    sets: list[EvaluationSet]


# ---------------------------------------------------------------- latency, breakdown, examples


class LatencyRow(_View):
    measure: str
    kind: str
    base: Number
    tuned: Number


class LatencyTable(_View):
    note: str | None  # how latency relates to output length; None without timed queries
    rows: list[LatencyRow]


class BreakdownRow(_View):
    value: str
    n: int
    base: float | None
    tuned: float | None
    diff: float | None


class BreakdownTable(_View):
    """The headline metric per value of one breakdown column."""

    column: str
    metric: str
    label: str
    kind: str
    rows: list[BreakdownRow]


class ExampleFlag(_View):
    """Right (True), wrong (False) or not scored (None) by one accuracy metric."""

    metric: str
    base: bool | None
    tuned: bool | None


class ShownExample(_View):
    id: str
    prompt: str
    gold: str
    base: str
    tuned: str
    meta: dict[str, Any]
    scores: list[ExampleFlag]


class ExampleCounts(_View):
    fixed: int
    broken: int
    both_correct: int
    both_wrong: int
    not_scored: int


class ExamplesSection(_View):
    """Examples tuning fixed and broke by the headline metric, and how many of each outcome."""

    metric: str | None
    label: str | None
    counts: ExampleCounts
    fixed: list[ShownExample]
    broken: list[ShownExample]


# ---------------------------------------------------------------- training and search


class LossCurve(_View):
    train: list[tuple[int, float]]  # (step, loss)
    valid: list[tuple[int, float]]


class TrainingSection(_View):
    steps: int
    planned_steps: int
    train_tokens: int
    train_seconds: float
    validation_seconds: float
    tokens_per_second: float
    stopped_early: bool
    precision: str  # what the Trainer computed in (`auto` resolved)
    final_train_loss: float | None
    final_valid_loss: float | None
    origin: str  # how the final model was obtained
    hyperparameters: dict[str, Any]  # the train spec flattened to dotted keys (lora.r)
    loss_curve: LossCurve


class SpecSettings(_View):
    """The spec's own train values (the study's first trial) against the best trial."""

    trial: int | None  # None: no trial ran them
    value: float | None = None
    best: float | None = None
    improved: bool | None = None
    sentence: str


class OptimismGapView(_View):
    objective: str
    direction: Literal["minimize", "maximize"]
    validation: float
    test_metric: str
    test: float
    final_model_retrained: bool
    final_validation: float | None
    optimism: float
    sentence: str


class Importance(_View):
    name: str
    importance: float


class TrialRow(_View):
    number: int
    state: str
    params: dict[str, Any]
    values: list[float] | None
    duration_s: float | None
    steps: int | None
    planned_steps: int | None
    train_tokens: int | None
    train_seconds: float | None
    spec_settings: bool
    fail_reason: str | None
    value: float | None  # the first objective's
    is_best: bool
    on_pareto_front: bool


class SearchSection(_View):
    study_name: str
    storage: str
    best_trial: int
    best_params: dict[str, Any]
    best_values: list[float]
    seconds: float
    final_model: str
    objectives: list[str]
    directions: list[Literal["minimize", "maximize"]]
    multi_objective: bool
    param_names: list[str]
    log_scale_params: list[str]
    counts: dict[str, int]  # trials per state
    n_trials: int
    pruner: str | None
    steps_run: int
    steps_saved_by_pruning: int
    saved_fraction: float | None
    tokens_run: int | None
    train_seconds_run: float | None
    compute: str
    spec_settings: SpecSettings | None
    params_at_edge: list[str]
    optimism_gap: OptimismGapView | None
    param_importances: list[Importance]
    pareto_front: list[int] | None
    trials: list[TrialRow]
    summary: str


# ---------------------------------------------------------------- provenance and the whole report


class EvaluationSettings(_View):
    n: int
    decoding: dict[str, Any]  # every field of results.Decoding, shown as a key/value table
    bootstrap_resamples: int | None
    confidence: float | None
    verdict: dict[str, Any]


class Provenance(_View):
    """What reproduces the run. The model, data and environment records are shown whole, as
    key/value tables, so they stay plain mappings here."""

    spec_yaml: str | None  # the run's spec.yaml, secrets masked; None when it is missing
    reproduce: str
    model: dict[str, Any]
    data: dict[str, Any]
    evaluation: EvaluationSettings
    seeds: dict[str, int]  # only the seeds that apply to this run
    environment: dict[str, Any]
    timings: dict[str, float]
    tracking: str | None = None  # which trackers saw the run, and any that failed with when and why


class ReportView(_View):
    """Everything report.md, report.html, report.json and the plots show for one run."""

    schema_version: int
    project: str
    status: str
    run_dir: str
    n: int
    dtype: str | None
    headline: Headline
    metrics: list[MetricRow]
    outcome_counts: list[OutcomeTable]
    refinements: list[Refinement]
    judged_by: str | None
    decodings: DecodingsTable | None
    evaluation_sets: EvaluationSets | None
    latency: LatencyTable | None
    breakdown: list[BreakdownTable]
    examples: ExamplesSection
    training: TrainingSection
    search: SearchSection | None
    provenance: Provenance


# ---------------------------------------------------------------- a sweep's leaderboard


class LeaderboardHeadline(_View):
    metric: str
    label: str
    sentence_name: str
    better: str


class LeaderboardEntry(_View):
    """One model of a sweep; a failed one has its error and no numbers."""

    rank: int | None  # None: failed
    name: str
    source: str
    error: str | None
    resumed: bool
    run_dir: str | None
    report_md: str | None  # relative to the sweep directory
    report_html: str | None
    architecture: str | None
    parameters: int | None
    headline: MetricRow | None
    perplexity: MetricRow | None
    tokens_per_s: SidePair
    train_seconds: float | None
    adapter_mb: float | None
    total_seconds: float | None


class LeaderboardView(_View):
    project: str
    sweep_dir: str
    headline: LeaderboardHeadline | None  # None: no accuracy metric every finished model measured
    perplexity_label: str
    adapter_label: str
    rows: list[LeaderboardEntry]  # finished models, best tuned headline first
    failed: list[LeaderboardEntry]
