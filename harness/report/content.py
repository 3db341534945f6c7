"""What the report says, as one typed view model (harness/report/view.py) built once from a run directory.

report.md, report.html, report.json and the plots all render from this record, so the formats can
never disagree, and every judgement (which metric is the headline, whether a difference is
significant, what a latency change is due to) is made here, once, from the numbers alone.
report.json's keys are documented in harness/report/README.md; changing them means bumping SCHEMA_VERSION.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from harness import metrics as registry
from harness.masking import mask_secrets
from harness.report import formatting as fmt
from harness.report.view import (
    BreakdownRow,
    BreakdownTable,
    DecodingRow,
    DecodingsTable,
    EvaluationSet,
    EvaluationSets,
    EvaluationSettings,
    ExampleCounts,
    ExampleFlag,
    ExamplesSection,
    Headline,
    Importance,
    LatencyRow,
    LatencyTable,
    LossCurve,
    MetricRow,
    Number,
    OptimismGapView,
    OutcomeRow,
    OutcomeTable,
    Provenance,
    Refinement,
    ReportView,
    SearchSection,
    SetHeadline,
    ShownExample,
    SidePair,
    SpecSettings,
    TrainingSection,
    TrialRow,
)
from harness.results import (
    Comparison,
    Evaluation,
    ExampleRow,
    Latency,
    OptimismGap,
    ParamAtEdge,
    RunResults,
    Search,
    Side,
    Throughput,
    Trial,
    Verdict,
    judged_by_sentence,
    mean_present,
)
from harness.spec import FloatParam, IntParam, SearchParam, Spec

SCHEMA_VERSION = 2
EXAMPLES_PER_KIND = 5
SMALL_SAMPLE = 30  # below this many paired examples a bootstrap interval is rough
# Below this, a percentile bootstrap has so few distinct resamples (n=1: one) that its interval
# says nothing; such a difference is reported but never called significant.
MIN_N_TO_JUDGE = 5
TOO_FEW = "too few to judge"
SAME_LENGTH_TOLERANCE = 0.05  # output lengths within 5% count as "about as many tokens"
SIDES: tuple[Side, Side] = ("base", "tuned")
_ORDINAL_VALUES = ("easy", "medium", "hard", "extra", "extra hard")
_STATE_WORDS = {"fail": "failed"}  # Optuna's trial states, as the summary sentence says them

_V = TypeVar("_V", bound=BaseModel)
_R = TypeVar("_R")


@dataclass(frozen=True)
class SavedSpec:
    """A run directory's spec.yaml: the mapping as saved (shown in the report, secrets masked) and
    the typed spec it reads back as (None: it no longer validates, e.g. an older harness wrote it)."""

    saved: dict[str, Any]
    spec: Spec | None


def build(results: RunResults, spec: SavedSpec | None = None) -> ReportView:
    """The view model of a finished run: its results record plus its (already masked) spec.yaml."""
    evaluation = results.evaluation
    rows = _metric_rows(evaluation.metrics)
    by_name = {row.name: row for row in rows}
    headline = headline_of(by_name, evaluation.verdict)
    headline_row = by_name.get(headline.metric) if headline.metric else None
    typed = spec.spec if spec else None
    return ReportView(
        schema_version=SCHEMA_VERSION,
        project=results.project,
        status=results.status,
        run_dir=str(results.run_dir),
        n=evaluation.n,
        dtype=evaluation.decoding.dtype,
        headline=headline,
        metrics=rows,
        outcome_counts=outcome_counts_view(evaluation),
        refinements=refinements_view(evaluation),
        judged_by=judged_by_sentence(evaluation.judged_by) or None,
        decodings=decodings_view(evaluation),
        evaluation_sets=evaluation_sets_view(results, headline_row),
        latency=latency_view(evaluation, by_name),
        breakdown=breakdown_view(evaluation, headline_row),
        examples=examples_view(evaluation, headline.metric),
        training=training_view(results),
        search=search_view(results.search, results.optimism_gap, typed.search.space if typed and typed.search else {}),
        provenance=provenance_view(results, spec),
    )


def _masked(view: _V) -> _V:
    """The record with secret-named values and URL passwords masked wherever they sit in it."""
    return type(view).model_validate(mask_secrets(view.model_dump()))


def _per_side(per_side: Mapping[Side, _R], value: Callable[[_R], Number]) -> tuple[Number, Number]:
    """A measure of the base and of the tuned model (None where that model has no record)."""
    base, tuned = (value(record) if (record := per_side.get(side)) is not None else None for side in SIDES)
    return base, tuned


def _count_per_side(examples: list[ExampleRow], holds: Callable[[dict[str, float | None]], bool]) -> tuple[int, int]:
    """How many base answers and how many tuned answers satisfy `holds` (given an answer's scores)."""
    return sum(holds(ex.base_scores) for ex in examples), sum(holds(ex.tuned_scores) for ex in examples)


# ----------------------------------------------------------------------------------------------
# Headline
# ----------------------------------------------------------------------------------------------


def _ordered_metrics(metrics: dict[str, Comparison]) -> list[tuple[str, Comparison]]:
    """Known metrics in table order, then any others (a new metric still shows up)."""
    known = [(name, metrics[name]) for name in registry.METRICS if name in metrics]
    return known + [(name, c) for name, c in metrics.items() if name not in registry.METRICS]


def _metric_rows(metrics: dict[str, Comparison]) -> list[MetricRow]:
    return [row for name, c in _ordered_metrics(metrics) if (row := metric_row(name, c))]


_COMPARISON_FIELDS = {"n", "base", "tuned", "diff", "rel_change", "ci_low", "ci_high", "confidence"}


def metric_row(name: str, comparison: Comparison) -> MetricRow | None:
    """One base-vs-tuned comparison with its label and judgement; None where the metric did not
    apply (e.g. execution metrics on data without databases) or is shown as outcome counts.

    Accuracy-family metrics are judged on their Holm-adjusted interval (`adjusted_ci_*`), so that
    the more metrics a run measures, the more evidence each claim needs."""
    info = registry.get(name)
    if not comparison.n or comparison.base is None or comparison.tuned is None or (info and info.counts_table):
        return None
    better = info.better.value if info and info.better != registry.Better.NONE else None
    adjusted = comparison.adjusted
    low, high = (adjusted.ci_low, adjusted.ci_high) if adjusted else (comparison.ci_low, comparison.ci_high)
    n = comparison.n
    significant = n >= MIN_N_TO_JUDGE and (adjusted.significant if adjusted else _excludes_zero(low, high))
    return MetricRow(
        name=name,
        label=info.label if info else name.replace("_", " "),
        kind=info.unit if info else "number",
        better=better,
        **comparison.model_dump(include=_COMPARISON_FIELDS),
        adjusted_ci_low=adjusted.ci_low if adjusted else None,
        adjusted_ci_high=adjusted.ci_high if adjusted else None,
        adjusted_confidence=adjusted.confidence if adjusted else None,
        significant=significant,
        outcome=TOO_FEW if n < MIN_N_TO_JUDGE else _outcome(comparison.diff, better, significant),
    )


def _excludes_zero(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and (low > 0 or high < 0)


def _outcome(diff: float, better: str | None, significant: bool) -> str:
    """'better' / 'worse' for metrics with a direction, 'higher' / 'lower' for the rest."""
    if not significant:
        return "not significant"
    if better is None:
        return "higher" if diff > 0 else "lower"
    return "better" if (diff > 0) == (better == "higher") else "worse"


# the headline repeats its metric row's numbers and judgement
_HEADLINE_FIELDS = set(MetricRow.model_fields) & set(Headline.model_fields)


def headline_of(rows: Mapping[str, MetricRow], run_verdict: Verdict) -> Headline:
    """The first applicable of the headline candidates, with its sentence and the run's verdict."""
    family = {
        "run_verdict": run_verdict.outcome,
        "family": run_verdict.family,
        "family_better": run_verdict.better,
        "family_worse": run_verdict.worse,
    }
    for name in registry.HEADLINE_CANDIDATES:
        if row := rows.get(name):
            return Headline(metric=name, **row.model_dump(include=_HEADLINE_FIELDS), **family,
                            verdict=verdict(row, run_verdict))
    return Headline(
        metric=None,
        **dict.fromkeys(_HEADLINE_FIELDS),
        **family,
        verdict=f"No accuracy metric ({', '.join(registry.HEADLINE_CANDIDATES)}) was measured on this run; "
        "the table lists what was.",
    )


def verdict(row: MetricRow, run_verdict: Verdict | None = None) -> str:
    """One sentence that claims only what the interval supports, e.g.
    'Tuned beats base on execution accuracy: +31.5 pts [+25.0, +38.0] (95% CI), 42.0% → 73.5%, n=200.'
    With several accuracy metrics the interval is Holm-adjusted (its level is then higher), and a
    second sentence gives the run's three-way verdict over the whole family."""
    info = registry.get(row.name)
    name = info.sentence_name if info else row.label.lower()
    kind = row.kind
    adjusted = row.adjusted_confidence is not None and run_verdict is not None and len(run_verdict.family) > 1
    low, high = (row.adjusted_ci_low, row.adjusted_ci_high) if adjusted else (row.ci_low, row.ci_high)
    level = fmt.level(row.adjusted_confidence if adjusted else row.confidence)
    ci = f"{level} CI, Holm-adjusted over {len(run_verdict.family)} accuracy metrics" if adjusted else f"{level} CI"
    numbers = (
        f"{fmt.diff(row.diff, kind)} {fmt.interval(low, high, kind)} ({ci}), "
        f"{fmt.value(row.base, kind)} → {fmt.value(row.tuned, kind)}, n={row.n}"
    )
    if row.outcome == TOO_FEW:
        return f"Too few examples to tell whether tuning changed {name}: {numbers}."
    if row.outcome == "better":
        sentence = f"Tuned beats base on {name}: {numbers}."
    elif row.outcome == "worse":
        sentence = f"Tuned is worse than base on {name}: {numbers}."
    else:
        sentence = f"No significant difference in {name} at {level} (the interval includes 0): {numbers}."
    if row.n < SMALL_SAMPLE:
        sentence += f" Small sample (n<{SMALL_SAMPLE}): read the interval as rough."
    if adjusted:
        sentence += " " + _family_sentence(run_verdict)
    return sentence


def _family_sentence(run_verdict: Verdict) -> str:
    def names(keys: list[str]) -> str:
        return ", ".join(registry.METRICS[k].sentence_name for k in keys)

    level = fmt.percent(run_verdict.confidence)
    if run_verdict.outcome == "better":
        return f"Verdict: better (significant after Holm at {level} family-wise on {names(run_verdict.better)})."
    if run_verdict.outcome == "worse":
        return f"Verdict: worse (significant after Holm at {level} family-wise on {names(run_verdict.worse)})."
    if run_verdict.better and run_verdict.worse:
        return f"Verdict: inconclusive (better on {names(run_verdict.better)} but worse on {names(run_verdict.worse)})."
    if run_verdict.better:
        return (f"Verdict: inconclusive (better on {names(run_verdict.better)} after Holm at {level} family-wise, "
                f"but {names([run_verdict.headline])}, the headline, did not move significantly).")
    return f"Verdict: inconclusive (no accuracy metric differs after Holm adjustment at {level} family-wise)."


def outcome_counts_view(evaluation: Evaluation) -> list[OutcomeTable]:
    """Per one-hot outcome table (e.g. the SQL error classes): how many answers fell in each class, base vs tuned."""
    scored = {key for ex in evaluation.examples for key in ex.base_scores}
    tables = []
    for title, keys in registry.counts_tables(scored).items():
        rows = []
        for key in keys:
            base, tuned = _count_per_side(evaluation.examples, lambda scores, key=key: (scores.get(key) or 0) >= 0.5)
            rows.append(OutcomeRow(name=key, label=registry.METRICS[key].label, base=base, tuned=tuned, diff=tuned - base))
        tables.append(OutcomeTable(title=title, rows=rows))
    return tables


def refinements_view(evaluation: Evaluation) -> list[Refinement]:
    """For each stricter metric (e.g. execution on the real database and its neighbours), how many
    answers it rejected that its looser twin (the real database alone) accepted."""
    scored = {key for ex in evaluation.examples for key in ex.base_scores}
    out = []
    for m in registry.refinements(scored):
        base, tuned = _count_per_side(
            evaluation.examples, lambda scores, m=m: scores.get(m.refines) == 1.0 and scores.get(m.key) == 0.0)
        out.append(Refinement(metric=m.key, label=m.label, looser=m.refines, looser_label=registry.METRICS[m.refines].label,
                              base=base, tuned=tuned))
    return out


def decodings_view(evaluation: Evaluation) -> DecodingsTable | None:
    """Base and tuned under every decoding mode side by side (columns: mode × side): the accuracy
    family, the error classes as counts, the batched time per generated token and each mode's
    verdict. The headline and the run's verdict stay the first mode's."""
    if not evaluation.decodings:
        return None
    modes = {evaluation.decoding.strategy: evaluation, **evaluation.decodings}

    def per_mode(pair: Callable[[Evaluation], tuple[Number, Number]]) -> list[Number]:
        return [value for e in modes.values() for value in pair(e)]

    def accuracy(key: str) -> Callable[[Evaluation], tuple[Number, Number]]:
        return lambda e: (e.metrics[key].base, e.metrics[key].tuned) if key in e.metrics else (None, None)

    rows = [
        DecodingRow(label=registry.METRICS[key].label, kind=registry.METRICS[key].unit, values=per_mode(accuracy(key)))
        for key in registry.accuracy_family(evaluation.metrics)
    ]
    counts = [{r.name: r for table in outcome_counts_view(e) for r in table.rows} for e in modes.values()]
    rows += [
        DecodingRow(label=row.label, kind="number",
                    values=[v for c in counts for v in ((c[name].base, c[name].tuned) if name in c else (None, None))])
        for name, row in counts[0].items()
    ]
    rows.append(DecodingRow(label="Answers cut at max_new_tokens", kind="number",
                            values=per_mode(lambda e: _per_side(e.throughput, lambda t: t.cut_at_limit))))
    rows.append(DecodingRow(label="Batched time per generated token", kind="seconds",
                            values=per_mode(lambda e: _per_side(e.throughput, lambda t: t.seconds / max(t.tokens, 1)))))
    return DecodingsTable(modes=list(modes), rows=rows, verdicts=[e.verdict.outcome for e in modes.values()])


def evaluation_sets_view(results: RunResults, test_headline: MetricRow | None) -> EvaluationSets | None:
    """The headline metric on the test split beside each evaluation-only set (held-out databases,
    benchmark files): how far the gain travels from the training distribution. Each set also gets
    its own metric table, counts and verdict."""
    if not results.evaluation_sets:
        return None
    sets = []
    for name, evaluation in results.evaluation_sets.items():
        rows = _metric_rows(evaluation.metrics)
        headline = {row.name: row for row in rows}.get(test_headline.name) if test_headline else None
        sets.append(EvaluationSet(
            name=name,
            n=evaluation.n,
            verdict=evaluation.verdict.outcome,
            metrics=rows,
            headline=headline,
            headline_outcome=headline.outcome if headline else "not measured",
            outcome_counts=outcome_counts_view(evaluation),
            refinements=refinements_view(evaluation),
            judged_by=judged_by_sentence(evaluation.judged_by) or None,
        ))
    side_by_side = [SetHeadline(name="test split", headline=test_headline)]
    side_by_side += [SetHeadline(name=item.name, headline=item.headline) for item in sets]
    return EvaluationSets(metric=test_headline.name if test_headline else None,
                          label=test_headline.label if test_headline else "The headline metric",
                          side_by_side=side_by_side, sets=sets)


# ----------------------------------------------------------------------------------------------
# Latency and throughput
# ----------------------------------------------------------------------------------------------


def latency_view(evaluation: Evaluation, rows: Mapping[str, MetricRow]) -> LatencyTable | None:
    """Batch-1 latency and batched throughput, base beside tuned, with output length in the same table."""
    latency, throughput = evaluation.latency, evaluation.throughput
    if not latency and not throughput:
        return None
    timed_tokens = _per_side(latency, lambda timed: mean_present([q.output_tokens for q in timed.queries]))
    base, tuned = (_latency_measures(latency.get(side), throughput.get(side), tokens) for side, tokens in zip(SIDES, timed_tokens))
    return LatencyTable(
        note=latency_note(rows, SidePair(base=timed_tokens[0], tuned=timed_tokens[1])),
        rows=[
            LatencyRow(measure=measure, kind=kind, base=b, tuned=t)
            for (measure, kind, b), (_, _, t) in zip(base, tuned)
            if b is not None or t is not None
        ],
    )


def _latency_measures(timed: Latency | None, batched: Throughput | None, tokens: Number) -> list[tuple[str, str, Number]]:
    """(measure, formatting kind, value) for one model, in table order."""
    measures: list[tuple[str, str, Number]] = [
        ("Timed queries (batch 1)", "number", len(timed.queries) if timed and timed.queries else None),
        ("Output tokens per timed query", "tokens", tokens),
    ]
    for label, spread in (("Latency", timed.total_s if timed else None), ("Time to first token", timed.ttft_s if timed else None),
                          ("Time per output token", timed.tpot_s if timed else None)):
        measures += [
            (f"{label} mean", "seconds", spread.mean if spread else None),
            (f"{label} p50", "seconds", spread.p50 if spread else None),
            (f"{label} p95", "seconds", spread.p95 if spread else None),
        ]
    return measures + [
        ("Tokens/s (batch 1)", "per_second", timed.batch1_tokens_per_s if timed else None),
        ("Batched generation, wall time", "seconds", batched.seconds if batched else None),
        ("Batched generation, tokens", "number", batched.tokens if batched else None),
        ("Batched generation, tokens/s", "per_second", batched.tokens_per_s if batched else None),
        ("Answers cut at max_new_tokens", "number", batched.cut_at_limit if batched else None),
    ]


def latency_note(rows: Mapping[str, MetricRow], timed_tokens: SidePair) -> str | None:
    """Says whether the tuned model is faster/slower at batch 1 and whether output length explains it.

    Output length is taken from the timed queries themselves when known (same prompts as the
    timings), else from the output_tokens comparison over the whole test set.
    """
    total = rows.get("latency_total_s")
    if not total:
        return None
    base_tokens, tuned_tokens = timed_tokens.base, timed_tokens.tuned
    if (base_tokens is None or tuned_tokens is None) and (length := rows.get("output_tokens")):
        base_tokens, tuned_tokens = length.base, length.tuned
    base_s, tuned_s = fmt.value(total.base, "seconds"), fmt.value(total.tuned, "seconds")
    if total.outcome == TOO_FEW:
        note = f"Too few timed queries (n={total.n}) to compare batch-1 latency ({tuned_s} tuned vs {base_s} base per query)"
    elif not total.significant:
        note = f"No significant batch-1 latency difference ({tuned_s} tuned vs {base_s} base per query, n={total.n} timed queries)"
    else:
        faster = total.diff < 0
        note = (
            f"The tuned model is {'faster' if faster else 'slower'} per query at batch 1 "
            f"({tuned_s} vs {base_s} base, {fmt.relative(total.rel_change)}, n={total.n})"
        )
    if base_tokens is not None and tuned_tokens is not None:
        relation = _length_relation(base_tokens, tuned_tokens)
        counts = f"{tuned_tokens:.1f} vs {base_tokens:.1f} tokens per query"
        if not total.significant or relation == "about as many":
            note += f"; it generates {relation} tokens ({counts})"
        elif (total.diff < 0) == (relation == "fewer"):
            note += f", partly because it generates {relation} tokens ({counts})"
        else:
            note += f", despite generating {relation} tokens ({counts})"
    tpot = rows.get("latency_tpot_s")
    if tpot:
        note += f". Per output token: {fmt.value(tpot.tuned, 'seconds')} tuned vs {fmt.value(tpot.base, 'seconds')} base"
    return note + "."


def _length_relation(base: float, tuned: float) -> str:
    if abs(tuned - base) <= SAME_LENGTH_TOLERANCE * max(abs(base), 1e-9):
        return "about as many"
    return "fewer" if tuned < base else "more"


# ----------------------------------------------------------------------------------------------
# Breakdown and examples
# ----------------------------------------------------------------------------------------------


def breakdown_view(evaluation: Evaluation, headline: MetricRow | None) -> list[BreakdownTable]:
    """Per value of every breakdown column (category, difficulty...): the headline metric, base vs tuned."""
    if not headline:
        return []
    metric, out = headline.name, []
    for column, groups in evaluation.breakdown.items():
        rows = []
        for value in _ordered_values(groups):
            group = groups[value]
            base, tuned = group.base.get(metric), group.tuned.get(metric)
            diff = tuned - base if base is not None and tuned is not None else None
            rows.append(BreakdownRow(value=value, n=group.n, base=base, tuned=tuned, diff=diff))
        out.append(BreakdownTable(column=column, metric=metric, label=headline.label, kind=headline.kind, rows=rows))
    return out


def _ordered_values(groups: dict) -> list[str]:
    """easy < medium < hard where those are the values; otherwise as the evaluator listed them."""
    values = list(groups)
    if all(str(v).lower() in _ORDINAL_VALUES for v in values):
        return sorted(values, key=lambda v: _ORDINAL_VALUES.index(str(v).lower()))
    return values


_PAIR_OUTCOMES = {(False, True): "fixed", (True, False): "broken", (True, True): "both_correct", (False, False): "both_wrong"}


def examples_view(evaluation: Evaluation, metric: str | None) -> ExamplesSection:
    """Examples tuning fixed (base wrong, tuned right) and broke, by the headline metric's scores."""
    examples = evaluation.examples
    counts = dict.fromkeys([*_PAIR_OUTCOMES.values(), "not_scored"], 0)
    picked: dict[str, list[ShownExample]] = {"fixed": [], "broken": []}
    flags = registry.accuracy_family(key for ex in examples for key, v in ex.base_scores.items() if v is not None)
    for ex in examples:
        pair = (_correct(ex.base_scores, metric), _correct(ex.tuned_scores, metric))
        outcome = _PAIR_OUTCOMES.get(pair, "not_scored")
        counts[outcome] += 1
        if outcome in picked and len(picked[outcome]) < EXAMPLES_PER_KIND:
            picked[outcome].append(_example(ex, flags))
    label = registry.METRICS[metric].label if metric in registry.METRICS else metric
    return ExamplesSection(metric=metric, label=label, counts=ExampleCounts(**counts), **picked)


def _correct(scores: dict[str, float | None], metric: str | None) -> bool | None:
    """A per-example 0/1 score as right/wrong; None where the metric did not apply."""
    score = scores.get(metric) if metric else None
    return None if score is None else score >= 0.5


def _example(ex: ExampleRow, flags: list[str]) -> ShownExample:
    return ShownExample(
        **ex.model_dump(include={"id", "prompt", "gold", "base", "tuned", "meta"}),
        scores=[ExampleFlag(metric=m, base=_correct(ex.base_scores, m), tuned=_correct(ex.tuned_scores, m)) for m in flags],
    )


# ----------------------------------------------------------------------------------------------
# Training and search
# ----------------------------------------------------------------------------------------------


def training_view(results: RunResults) -> TrainingSection:
    """The final model's training: budget, speed, final losses, hyperparameters and loss curves."""
    training = results.training
    train = [(h.step, h.loss) for h in training.history if h.loss is not None and h.step is not None]
    valid = [(v.step, v.loss) for v in training.valid_losses]
    keys = {"steps", "planned_steps", "stopped_early", "train_tokens", "train_seconds", "validation_seconds", "tokens_per_second"}
    return TrainingSection(
        **training.model_dump(include=keys),
        # what the Trainer computed in (`auto` resolved): AutoTrain's own switch as the run passed it
        precision=training.autotrain_params.get("mixed_precision") or "fp32",
        final_train_loss=train[-1][1] if train else None,
        final_valid_loss=valid[-1][1] if valid else None,
        origin=results.search.final_model if results.search else "trained in this run",
        hyperparameters=flatten(results.train_spec),
        loss_curve=LossCurve(train=train, valid=valid),
    )


def search_view(search: Search | None, gap: OptimismGap | None, space: Mapping[str, SearchParam]) -> SearchSection | None:
    """Trials, best trial, compute spent and saved by pruning, the spec's own settings against the
    best, parameters at the edge of their range, the optimism gap; None when the run had no search.
    `space` is the spec's search space (empty when the spec is not at hand): it says which
    parameters were searched on a log scale."""
    if search is None:
        return None
    front = set(search.pareto_front or [])
    names = list(dict.fromkeys([*search.best_params, *(k for t in search.trials for k in t.params)]))
    steps_run, saved = search.steps_run, search.steps_saved_by_pruning
    importances = sorted(search.param_importances.items(), key=lambda kv: (-kv[1], kv[0]))
    view = SearchSection(
        **search.model_dump(mode="json", include={"study_name", "storage", "best_trial", "best_params", "best_values", "seconds"}),
        final_model=search.final_model,
        objectives=search.objectives,
        directions=search.directions,
        multi_objective=search.pareto_front is not None,
        param_names=names,
        log_scale_params=[n for n in names if isinstance(param := space.get(n), FloatParam | IntParam) and param.log],
        counts={str(state): n for state, n in search.counts.items()},
        n_trials=len(search.trials),
        pruner=search.pruner,
        steps_run=steps_run,
        steps_saved_by_pruning=saved,
        saved_fraction=saved / (steps_run + saved) if steps_run + saved else None,
        tokens_run=search.tokens_run,
        train_seconds_run=search.train_seconds_run,
        compute=_compute_sentence(search),
        spec_settings=_spec_settings_view(search),
        params_at_edge=[_edge_warning(e) for e in search.params_at_edge],
        optimism_gap=_optimism_view(gap),
        param_importances=[Importance(name=k, importance=v) for k, v in importances],
        pareto_front=sorted(front) if search.pareto_front is not None else None,
        trials=[_trial(t, search.best_trial, front) for t in search.trials],
        summary=_search_summary(search),
    )
    return _masked(view)


def _objective_value(key: str, v: float | None) -> str:
    """An objective's value with enough digits to tell trials apart (losses differ in the third decimal)."""
    metric = registry.get(key)
    if v is None:
        return fmt.MISSING
    return fmt.value(v, "rate") if metric and metric.unit == "rate" else f"{v:.4g}"


def _compute_sentence(search: Search) -> str:
    """Training compute of all trials, the pruned ones' share included, and what pruning left unrun."""
    spent = [f"{search.steps_run:,} optimizer steps"]
    if search.tokens_run is not None:
        spent.append(f"{search.tokens_run:,} training tokens")
    if search.train_seconds_run is not None:
        spent.append(f"{fmt.seconds(search.train_seconds_run)} of training")
    text = f"Compute spent by all trials, pruned ones included: {', '.join(spent)}."
    planned = search.steps_run + search.steps_saved_by_pruning
    if search.steps_saved_by_pruning:
        text += (f" Pruning saved {search.steps_saved_by_pruning:,} of {planned:,} planned steps "
                 f"({fmt.percent(search.steps_saved_by_pruning / planned)}): the pruned trials' unrun budgets.")
    elif search.pruner:
        text += f" Pruner {search.pruner}: no trial was pruned."
    return text


def _spec_settings_view(search: Search) -> SpecSettings | None:
    """The spec's own train values (trial 0) against the best trial, in one sentence."""
    if search.pareto_front is not None:
        return None
    objective = search.objectives[0]
    name = registry.METRICS[objective].sentence_name if objective in registry.METRICS else objective
    own = next((t for t in search.trials if t.number == search.spec_settings_trial), None)
    if own is None:
        return SpecSettings(trial=None, sentence="No trial ran the spec's own train values (they lie outside the search space, "
                                                 "or the study predates this record).")
    best = search.best_values[0]
    if own.state != "complete" or not own.values:
        at = f" at step {own.steps}" if own.steps is not None else ""
        sentence = (f"Your settings (trial {own.number}) were {own.state}{at}; the search's best {name} is "
                    f"{_objective_value(objective, best)} (trial {search.best_trial}).")
        return SpecSettings(trial=own.number, value=None, best=best, improved=None, sentence=sentence)
    value = own.values[0]
    improved = (best < value) if search.directions[0] == "minimize" else (best > value)
    if improved:
        sentence = (f"Search improved {name} from {_objective_value(objective, value)} (your settings, trial {own.number}) "
                    f"to {_objective_value(objective, best)} (trial {search.best_trial}).")
    else:
        sentence = (f"Search did not improve on your settings: {name} {_objective_value(objective, value)} "
                    f"(trial {own.number}) is the best found.")
    return SpecSettings(trial=own.number, value=value, best=best, improved=improved, sentence=sentence)


def _edge_warning(edge: ParamAtEdge) -> str:
    scale = "log-range" if edge.log else "range"
    return (f"The best {edge.name} ({fmt.number(edge.value)}) sits at the {edge.side} edge of the {scale} searched "
            f"[{fmt.number(edge.low)}, {fmt.number(edge.high)}]: the optimum may lie beyond it; widen search.space.{edge.name}.")


def _optimism_view(gap: OptimismGap | None) -> OptimismGapView | None:
    """The best trial's validation score beside the final model's test score, and what the two are."""
    if gap is None:
        return None
    objective = registry.get(gap.objective)
    name = objective.sentence_name if objective else gap.objective
    how = (" (on test: ln of the tuned model's answer perplexity, the same token-weighted loss)"
           if gap.test_metric != gap.objective else "")
    flattered = "the validation split flattered it by" if gap.optimism > 0 else "the test split is no worse, by"
    sentence = (f"Optimism gap: the best trial's {name} on the validation split was "
                f"{_objective_value(gap.objective, gap.validation)}, the final model's on the test split is "
                f"{_objective_value(gap.objective, gap.test)}{how}: {flattered} "
                f"{_objective_value(gap.objective, abs(gap.optimism))}.")
    if gap.final_model_retrained:
        own = (f" (its own {name} on the validation split: {_objective_value(gap.objective, gap.final_validation)})"
               if gap.final_validation is not None else "")
        sentence += (f" The final model was retrained with the best parameters on the full budget{own}, "
                     "so the gap also holds the effect of the longer training.")
    return OptimismGapView(**gap.model_dump(mode="json"), optimism=gap.optimism, sentence=sentence)


_TRIAL_FIELDS = {"number", "state", "params", "values", "duration_s", "steps", "planned_steps", "train_tokens", "train_seconds",
                 "spec_settings", "fail_reason"}


def _trial(t: Trial, best: int, front: set[int]) -> TrialRow:
    return TrialRow(
        **t.model_dump(mode="json", include=_TRIAL_FIELDS),
        value=t.values[0] if t.values else None,
        is_best=t.number == best,
        on_pareto_front=t.number in front,
    )


def _search_summary(search: Search) -> str:
    states = ", ".join(f"{n} {_STATE_WORDS.get(str(state), str(state))}" for state, n in search.counts.items())
    text = f"{len(search.trials)} trials ({states})"  # what pruning saved: the compute sentence
    shown = ", ".join(fmt.number(v) for v in search.best_values)
    return (
        f"{text}. Best trial #{search.best_trial}: {' + '.join(search.objectives)} = {shown}. "
        f"Final model: {search.final_model}."
    )


# ----------------------------------------------------------------------------------------------
# Provenance
# ----------------------------------------------------------------------------------------------


def provenance_view(results: RunResults, spec: SavedSpec | None) -> Provenance:
    """Everything needed to reproduce the run: spec, model/data ids and hashes, versions, seeds, times."""
    typed = spec.spec if spec else None
    evaluation = results.evaluation
    first = next(iter(evaluation.metrics.values()), None)
    seeds = {
        "train": results.train_spec.get("seed"),
        "data_split": typed.data.split.seed if typed else None,
        "search_sampler": typed.search.seed if typed and typed.search and results.search else None,
        "tiny_model_init": typed.model.tiny.seed if typed and typed.model.source == "tiny" else None,
    }
    view = Provenance(
        spec_yaml=yaml.safe_dump(mask_secrets(spec.saved), sort_keys=False, allow_unicode=True) if spec and spec.saved else None,
        reproduce="harness run spec.yaml  # the spec.yaml saved in this run directory",
        model=results.model.model_dump(mode="json"),
        data=results.data.model_dump(mode="json"),
        evaluation=EvaluationSettings(
            n=evaluation.n,
            decoding=evaluation.decoding.model_dump(mode="json"),
            bootstrap_resamples=first.n_resamples if first else None,
            confidence=first.confidence if first else None,
            verdict=evaluation.verdict.model_dump(mode="json"),
        ),
        seeds={k: v for k, v in seeds.items() if v is not None},
        environment=results.environment.model_dump(mode="json"),
        timings=results.timings,
        tracking=results.tracking.summary if results.tracking else None,
    )
    return _masked(view)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'lora': {'r': 8}} -> {'lora.r': 8}: nested settings (a record's fields alike) as one key/value table."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
