"""Every metric the harness measures, declared once: key, label, unit, kind, better direction, family.

The spec (which objectives exist), the search (which way to optimise), the evaluator's results
record and the report (labels, formatting, table order, verdict family) all read this table, so a
metric's identity can never disagree between stages. Adding a metric is one `Metric(...)` line
here (plus its tests). A leaf module: it imports nothing of the harness.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    SHARE = "share"  # a mean of per-example 0/1 flags, in [0, 1]
    CONTINUOUS = "continuous"


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"
    NONE = "none"  # neither way is better (e.g. output length)


class Family(StrEnum):
    """What produces a metric. The first four are the names `evaluation.metrics` accepts."""

    SQL = "sql"
    EXACT_TEXT = "exact_text"
    PERPLEXITY = "perplexity"
    LATENCY = "latency"
    GENERATION = "generation"  # measured on every evaluation (output length)
    TRAINING = "training"  # measured by the training run of a trial, not by the evaluator


EVALUATION_FAMILIES = (Family.SQL, Family.EXACT_TEXT, Family.PERPLEXITY, Family.LATENCY)
# Old spellings in `evaluation.metrics`, with what to write instead.
RENAMED_FAMILIES = {"exact_match": "exact_text"}


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # a report formatting kind: rate, perplexity, tokens, seconds, milliseconds, mib, loss
    kind: Kind
    better: Better
    family: Family
    short: str = ""  # its name inside the verdict sentence (defaults to the lower-cased label)
    objective: bool = False  # a trial can compute it on the validation split: a valid search objective
    counts_table: str = ""  # one-hot outcome classes: shown together as a base-vs-tuned counts table
    refines: str = ""  # a looser metric this one tightens: the report counts answers it rejected that that one accepted

    @property
    def direction(self) -> str | None:
        """Optuna's word for the better direction; None when neither is better."""
        return {Better.HIGHER: "maximize", Better.LOWER: "minimize"}.get(self.better)

    @property
    def in_accuracy_family(self) -> bool:
        """Share metrics with a direction: the family the verdict adjusts for multiplicity. One-hot
        outcome classes are a breakdown of one verdict, not further evidence, so they stay out."""
        return self.kind == Kind.SHARE and self.better != Better.NONE and not self.counts_table

    @property
    def sentence_name(self) -> str:
        return self.short or self.label.lower()


_S, _C = Kind.SHARE, Kind.CONTINUOUS
_TAXONOMY = "Error taxonomy (one class per answer)"
_UP, _DOWN, _NONE = Better.HIGHER, Better.LOWER, Better.NONE

# Table order: accuracy family, perplexity, then output length right beside latency, because a
# model that says less finishes sooner and the reader must be able to see that.
METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("execution_suite", "Execution accuracy (test suite)", "rate", _S, _UP, Family.SQL,
               "execution accuracy (test suite)", objective=True, refines="execution_match"),
        Metric("execution_match", "Execution accuracy (single database)", "rate", _S, _UP, Family.SQL,
               "single-database execution accuracy", objective=True),
        Metric("execution_match_subset", "Execution accuracy, extra columns allowed", "rate", _S, _UP, Family.SQL, objective=True),
        Metric("executable", "Executable SQL", "rate", _S, _UP, Family.SQL, objective=True),
        Metric("exact_match", "Exact match (normalised SQL)", "rate", _S, _UP, Family.SQL, "exact-match accuracy", objective=True),
        Metric("structural_match", "Structural match (canonical SQL)", "rate", _S, _UP, Family.SQL, objective=True),
        Metric("valid_sql", "Valid SQL (parses)", "rate", _S, _UP, Family.SQL, objective=True),
        Metric("outcome_correct", "Correct (test suite)", "rate", _S, _UP, Family.SQL, counts_table=_TAXONOMY),
        Metric("outcome_wrong_result", "Wrong result", "rate", _S, _DOWN, Family.SQL, counts_table=_TAXONOMY),
        Metric("outcome_no_sql", "No SQL found", "rate", _S, _DOWN, Family.SQL, counts_table=_TAXONOMY),
        Metric("outcome_parse_error", "Does not parse", "rate", _S, _DOWN, Family.SQL, counts_table=_TAXONOMY),
        Metric("outcome_unknown_name", "Unknown table or column", "rate", _S, _DOWN, Family.SQL, counts_table=_TAXONOMY),
        Metric("outcome_runtime_error", "Other runtime error", "rate", _S, _DOWN, Family.SQL, counts_table=_TAXONOMY),
        Metric("outcome_timeout", "Timeout or row cap", "rate", _S, _DOWN, Family.SQL, counts_table=_TAXONOMY),
        Metric("exact_text", "Exact text match", "rate", _S, _UP, Family.EXACT_TEXT, "exact-text accuracy", objective=True),
        Metric("perplexity_answer", "Perplexity, answer tokens only", "perplexity", _C, _DOWN, Family.PERPLEXITY, objective=True),
        Metric("perplexity_sequence", "Perplexity, full sequence", "perplexity", _C, _DOWN, Family.PERPLEXITY),
        Metric("output_tokens", "Output length (mean tokens)", "tokens", _C, _NONE, Family.GENERATION),
        Metric("latency_total_s", "Latency per query (batch 1)", "seconds", _C, _DOWN, Family.LATENCY),
        Metric("latency_ttft_s", "Time to first token (batch 1)", "seconds", _C, _DOWN, Family.LATENCY),
        Metric("latency_tpot_s", "Time per output token (batch 1)", "seconds", _C, _DOWN, Family.LATENCY),
        Metric("latency_ms", "Mean latency per validation query", "milliseconds", _C, _DOWN, Family.LATENCY, objective=True),
        Metric("valid_loss", "Validation loss", "loss", _C, _DOWN, Family.TRAINING, objective=True),
        Metric("adapter_mb", "Adapter size", "mib", _C, _DOWN, Family.TRAINING, objective=True),
    )
}

# The report's headline: the first of these the run measured.
HEADLINE_CANDIDATES = ("execution_suite", "execution_match", "exact_match", "exact_text")
# A sweep's leaderboard: the perplexity it shows beside the headline.
LEADERBOARD_PERPLEXITY = "perplexity_answer"


def headline(keys) -> str | None:
    """The first headline candidate among the given keys."""
    present = set(keys)
    return next((key for key in HEADLINE_CANDIDATES if key in present), None)


def get(key: str) -> Metric | None:
    return METRICS.get(key)


def objectives() -> list[str]:
    return [m.key for m in METRICS.values() if m.objective]


def did_you_mean(key: str, choices: list[str], listing: str = "known") -> str:
    """' (did you mean 'x'?)' or ' (<listing>: a, b, ...)', the one hint every one-line error gives."""
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else f" ({listing}: {', '.join(choices)})"


def accuracy_family(keys) -> list[str]:
    """The given keys that belong to the verdict's accuracy family, in registry order."""
    present = set(keys)
    return [k for k, m in METRICS.items() if k in present and m.in_accuracy_family]


def counts_tables(keys) -> dict[str, list[str]]:
    """{table title: its one-hot keys in registry order} over the given keys."""
    present, out = set(keys), {}
    for key, m in METRICS.items():
        if m.counts_table and key in present:
            out.setdefault(m.counts_table, []).append(key)
    return out


def refinements(keys) -> list[Metric]:
    """The given keys' metrics that tighten another given one (see `Metric.refines`)."""
    present = set(keys)
    return [m for k, m in METRICS.items() if k in present and m.refines in present]
