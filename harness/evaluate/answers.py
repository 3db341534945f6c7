"""Answers produced elsewhere (another model, an API, a person), scored exactly like the harness's own.

The examples are the ones a run evaluates (the test split, the evaluation-only sets, the
benchmarks) and the scorers are the same `Scorer` objects, so a score here and an evaluation there
can be set side by side, and the metric itself can be audited on hand-picked answers. Only the
families that judge answer text apply (`TEXT_FAMILIES`, from `harness.evaluate.scorers`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness import metrics as registry
from harness.data import sources
from harness.data.records import Example
from harness.errors import UserError
from harness.evaluate.scorer import Scorer, judged_by
from harness.evaluate.stats import CONFIDENCE, estimate
from harness.results import (
    ExecutionBasis,
    ScoredAnswer,
    ScoredSet,
    ScoreInterval,
    ScoreResults,
    judged_by_sentence,
)

UNANSWERED = ""  # an example without an answer is scored as if the system had said nothing


@dataclass(frozen=True)
class EvaluationSet:
    name: str
    examples: list[Example]
    question_column: str  # the source column that holds an example's question (kept in its meta)


@dataclass(frozen=True)
class Answer:
    line: int
    text: str


def read_answers(path: Path, sets: list[EvaluationSet]) -> dict[tuple[str, int], Answer]:
    """{(set name, example index): answer} from a JSON Lines file of `{"id"|"question", "answer"}`
    rows (an optional "set" narrows the match). Any bad row stops everything with one line naming it."""
    if not path.is_file():
        raise UserError(f"{path}: no such file; give a JSON Lines file with one {{\"id\": ..., \"answer\": ...}} per line")
    rows = sources.read_jsonl(path, "answers")
    by_id: dict[str, list[tuple[str, int]]] = {}
    by_question: dict[str, list[tuple[str, int]]] = {}
    for s in sets:
        for i, ex in enumerate(s.examples):
            by_id.setdefault(ex.id, []).append((s.name, i))
            if s.question_column in ex.meta:
                by_question.setdefault(_normal(ex.meta[s.question_column]), []).append((s.name, i))
    names = [s.name for s in sets]
    answers: dict[tuple[str, int], Answer] = {}
    for number, row in rows:
        place = f"{path} line {number}"
        if not isinstance(row.get("answer"), str):
            raise UserError(f"{place}: no 'answer' (the system's answer, a string)")
        if "set" in row and row["set"] not in names:
            raise UserError(f"{place}: set '{row['set']}' is not one of this spec's sets ({', '.join(names)})")
        if "id" in row:
            key, found, what = str(row["id"]), by_id.get(str(row["id"]), []), "id"
        elif isinstance(row.get("question"), str):
            key, found, what = row["question"], by_question.get(_normal(row["question"]), []), "question"
        else:
            raise UserError(f"{place}: needs 'id' (an example id) or 'question' (the example's question text)")
        found = [f for f in found if f[0] == row.get("set", f[0])]
        if not found:
            raise UserError(f"{place}: {what} '{key}' matches no example of {', '.join(names)}; "
                            "check it against the spec's data and benchmarks")
        if len(found) > 1:
            shown = ", ".join(f"{s}/{sets[names.index(s)].examples[i].id}" for s, i in found[:5])
            raise UserError(f"{place}: {what} '{key}' matches {len(found)} examples ({shown}); "
                            "give the example's 'id' (and 'set' where ids repeat)")
        if found[0] in answers:
            raise UserError(f"{place}: a second answer to example '{key}' (the first is on line {answers[found[0]].line})")
        answers[found[0]] = Answer(line=number, text=row["answer"])
    return answers


def score_sets(
    sets: list[EvaluationSet],
    answers: dict[tuple[str, int], Answer],
    scorers: list[Scorer],
    n_resamples: int,
) -> dict[str, ScoredSet]:
    """Each set's examples scored with `scorers`; unanswered examples count, as empty answers."""
    out = {}
    for s in sets:
        rows, columns, bases = [], {}, Counter[ExecutionBasis]()
        for i, ex in enumerate(s.examples):
            answer = answers.get((s.name, i))
            scores: dict[str, float | None] = {}
            for scorer in scorers:
                scores.update(scorer.score(answer.text if answer else UNANSWERED, ex))
            for key, value in scores.items():
                columns.setdefault(key, []).append(value)
            if (basis := judged_by(scorers, ex)) is not None:
                bases[basis] += 1
            rows.append(ScoredAnswer(id=ex.id, line=answer.line if answer else None,
                                     answer=answer.text if answer else None, scores=scores))
        answered = sum(row.line is not None for row in rows)
        out[s.name] = ScoredSet(
            n=len(rows), answered=answered, unanswered=len(rows) - answered,
            metrics={key: _interval(values, n_resamples) for key, values in columns.items()}, examples=rows,
            judged_by=dict(bases),
        )
    return out


def summary_lines(record: ScoreResults) -> list[str]:
    """A short plain table: per set, coverage, then each headline-style metric's mean and interval."""
    lines = []
    for name, scored in record.sets.items():
        lines.append(f"{name}: {scored.n} examples, {scored.answered} answered, {scored.unanswered} unanswered"
                     + (" (scored as empty answers)" if scored.unanswered else ""))
        if scored.judged_by:
            lines.append(f"  execution verdicts: {judged_by_sentence(scored.judged_by)}")
        for key in registry.METRICS:  # registry order: the headline first
            m, info = scored.metrics.get(key), registry.METRICS[key]
            if m is None or m.mean is None or info.counts_table:
                continue
            label = info.label
            lines.append(f"  {label:<42} {m.mean:6.3f}  [{m.ci_low:.3f}, {m.ci_high:.3f}]  n={m.n}")
    return lines


def _interval(values: list[float | None], n_resamples: int) -> ScoreInterval:
    est = estimate(values, n_resamples=n_resamples, seed=0)
    low, high = est.interval(CONFIDENCE)
    return ScoreInterval(n=est.n, mean=est.value, ci_low=low, ci_high=high, confidence=CONFIDENCE, n_resamples=n_resamples)


def _normal(question: object) -> str:
    """Questions match whatever the spacing: a copy from a terminal or a spreadsheet is not retyped."""
    return re.sub(r"\s+", " ", str(question)).strip()
