"""`harness score`: answers produced elsewhere, scored on real SQLite with the evaluator's own metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.data import load_splits
from harness.results import ExecutionBasis, ScoreResults
from harness.spec import load_spec
from tests.conftest import write_spec

# Gold and a meaning-changing mutant the real database cannot tell apart: no singer is 35, so
# `> 35` returns the gold's rows there, while the test suite's planted age-35 row tells them apart.
GOLD = "SELECT name FROM singer WHERE age >= 35"
MUTANT = "SELECT name FROM singer WHERE age > 35"

DATA_ROWS = [  # the spec's own data: 12 questions over the concert database
    ("Names of singers from France?", "SELECT name FROM singer WHERE country = 'France'"),
    ("How many singers are there?", "SELECT COUNT(*) FROM singer"),
    ("Song titles?", "SELECT title FROM song"),
    ("Singers older than 30?", "SELECT name FROM singer WHERE age > 30"),
    ("Countries of singers?", "SELECT DISTINCT country FROM singer"),
    ("Youngest singer?", "SELECT name FROM singer ORDER BY age ASC LIMIT 1"),
    ("Songs by Ann?", "SELECT title FROM song JOIN singer ON song.singer_id = singer.id WHERE singer.name = 'Ann'"),
    ("Average singer age?", "SELECT AVG(age) FROM singer"),
    ("Singers with no score?", "SELECT name FROM singer WHERE score IS NULL"),
    ("Singers from Peru?", "SELECT name FROM singer WHERE country = 'Peru'"),
    ("Highest score?", "SELECT MAX(score) FROM singer"),
    ("Singers aged 25?", "SELECT name FROM singer WHERE age = 25"),
]
BENCH_ROWS = [  # a benchmark set: evaluation only, ids of its own
    {"id": "b1", "question": "Which singers are 35 or older?", "sql": GOLD},
    {"id": "b2", "question": "Singers from Japan?", "sql": "SELECT name FROM singer WHERE country = 'Japan'"},
    {"id": "b3", "question": "Titles of songs by singer 1?", "sql": "SELECT title FROM song WHERE singer_id = 1"},
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def spec_file(tmp_path: Path, concert_db: Path) -> Path:
    data = _jsonl(tmp_path / "data.jsonl", [{"id": f"d{i:02d}", "question": q, "sql": s, "db_path": str(concert_db),
                                             "topic": "songs" if "song" in s else "singers"}
                                            for i, (q, s) in enumerate(DATA_ROWS)])
    bench = _jsonl(tmp_path / "bench.jsonl", [{**r, "db_path": str(concert_db)} for r in BENCH_ROWS])
    return write_spec(tmp_path / "spec.yaml", {
        "project": "scored",
        "model": {"source": "tiny"},
        "data": {"source": str(data), "format": "question-sql", "split": {"valid": 2, "test": 3, "seed": 0}},
        "evaluation": {"metrics": ["sql", "exact_text", "perplexity"], "bootstrap_resamples": 300,
                       "benchmarks": [{"name": "bench", "source": str(bench), "format": "question-sql"}]},
    })


def _test_split(spec_file: Path):
    spec = load_spec(spec_file)
    return load_splits(spec.data, spec.base_dir)[0].test


def _score(spec_file: Path, rows: list[dict], out: Path, capsys) -> tuple[int, ScoreResults | None, str, str]:
    answers = _jsonl(out.parent / "answers.jsonl", rows)
    code = main(["score", "--spec", str(spec_file), str(answers), "--out", str(out)])
    captured = capsys.readouterr()
    record = ScoreResults.model_validate_json((out / "score.json").read_text()) if (out / "score.json").exists() else None
    return code, record, captured.out, captured.err


def test_right_answer_scores_one_and_a_mutant_the_single_database_accepts_scores_zero(spec_file, tmp_path, capsys):
    code, record, _, _ = _score(spec_file, [{"id": "b1", "answer": MUTANT}], tmp_path / "mutant", capsys)
    mutant = record.sets["bench"].examples[0]
    assert code == 0 and mutant.line == 1 and mutant.answer == MUTANT
    assert mutant.scores["execution_match"] == 1.0  # the real database alone is fooled
    assert mutant.scores["execution_suite"] == 0.0 and mutant.scores["outcome_wrong_result"] == 1.0
    code, record, _, _ = _score(spec_file, [{"id": "b1", "answer": f"```sql\n{GOLD};\n```"}], tmp_path / "gold", capsys)
    gold = record.sets["bench"].examples[0]
    assert gold.scores["execution_suite"] == 1.0 and gold.scores["outcome_correct"] == 1.0


def test_unanswered_examples_count_in_n_and_score_as_empty_answers(spec_file, tmp_path, capsys):
    code, record, out, _ = _score(spec_file, [{"id": "b1", "answer": GOLD}, {"id": "b2", "answer": GOLD}], tmp_path / "out", capsys)
    bench = record.sets["bench"]
    assert code == 0 and (bench.n, bench.answered, bench.unanswered) == (3, 2, 1)
    suite = bench.metrics["execution_suite"]
    assert suite.n == 3 and suite.mean == pytest.approx(1 / 3) and suite.ci_low <= suite.mean <= suite.ci_high
    assert suite.confidence == 0.95 and suite.n_resamples == 300
    missing = bench.examples[2]
    assert (missing.id, missing.line, missing.answer) == ("b3", None, None)
    assert missing.scores["execution_suite"] == 0.0 and missing.scores["outcome_no_sql"] == 1.0
    test = record.sets["test"]
    assert (test.n, test.answered, test.unanswered) == (3, 0, 3) and test.metrics["execution_suite"].mean == 0.0
    assert "bench: 3 examples, 2 answered, 1 unanswered (scored as empty answers)" in out


def test_ids_and_questions_match_across_the_test_split_and_benchmarks(spec_file, tmp_path, capsys):
    test = _test_split(spec_file)
    rows = [{"id": ex.id, "answer": ex.answer} for ex in test[:2]]
    rows.append({"question": "  " + test[2].meta["question"].replace(" ", "\n "), "answer": test[2].answer})
    rows.append({"question": "Singers from Japan?", "answer": "SELECT name FROM singer WHERE country = 'Japan'"})
    code, record, out, _ = _score(spec_file, rows, tmp_path / "out", capsys)
    assert code == 0 and record.metric_families == ["sql", "exact_text"]  # no model: no perplexity
    assert [e.line for e in record.sets["test"].examples] == [1, 2, 3]
    assert record.sets["test"].metrics["execution_suite"].mean == 1.0
    assert record.sets["test"].metrics["exact_text"].mean == 1.0
    assert [(e.id, e.line) for e in record.sets["bench"].examples] == [("b1", None), ("b2", 4), ("b3", None)]
    assert out.splitlines()[1] == "  execution verdicts: real database + neighbours: 3"
    assert out.splitlines()[2].split()[:5] == ["Execution", "accuracy", "(test", "suite)", "1.000"]
    assert record.sets["test"].judged_by == {ExecutionBasis.REAL_DATABASE: 3}


def test_question_shared_by_two_sets_is_ambiguous_unless_the_row_names_its_set(spec_file, tmp_path, capsys):
    spec = load_spec(spec_file)
    twin = spec.evaluation.benchmarks[0].model_copy(update={"name": "twin"})
    raw = json.loads(json.dumps(spec.model_dump(mode="json", exclude={"base_dir"})))
    raw["evaluation"]["benchmarks"].append(twin.model_dump(mode="json"))
    twin_spec = write_spec(tmp_path / "twin.yaml", raw)
    code, _, _, err = _score(twin_spec, [{"question": "Singers from Japan?", "answer": "x"}], tmp_path / "a", capsys)
    assert code == 2 and "line 1: question 'Singers from Japan?' matches 2 examples (bench/b2, twin/b2)" in err
    code, record, _, _ = _score(twin_spec, [{"set": "twin", "id": "b2", "answer": "x"}], tmp_path / "b", capsys)
    assert code == 0 and record.sets["twin"].answered == 1 and record.sets["bench"].answered == 0


def test_the_hold_out_is_a_set_of_its_own(spec_file, tmp_path, capsys):
    raw = yaml.safe_load(spec_file.read_text())
    raw["data"]["split"]["holdout"] = {"column": "topic", "values": ["songs"], "name": "unseen"}
    spec = write_spec(tmp_path / "holdout.yaml", raw)
    code, record, _, _ = _score(spec, [{"id": "d02", "answer": "SELECT title FROM song"}], tmp_path / "out", capsys)
    assert code == 0 and list(record.sets) == ["test", "unseen", "bench"]
    assert [e.id for e in record.sets["unseen"].examples] == ["d02", "d06"]
    assert record.sets["unseen"].examples[0].scores["execution_suite"] == 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "answers.jsonl: no such file"),
        ('{"id": "b1", "answer": "x"}\n{"id": "b2", "answer": \n', "answers.jsonl line 2 is not valid JSON"),
        ('["b1", "x"]\n', "answers.jsonl line 1 is not a JSON object"),
        ('{"id": "b1", "sql": "x"}\n', "answers.jsonl line 1: no 'answer'"),
        ('{"id": "b1", "answer": null}\n', "answers.jsonl line 1: no 'answer'"),
        ('{"answer": "x"}\n', "answers.jsonl line 1: needs 'id' (an example id) or 'question'"),
        ('\n{"id": "nope", "answer": "x"}\n', "answers.jsonl line 2: id 'nope' matches no example of test, bench"),
        ('{"question": "Who?", "answer": "x"}\n', "answers.jsonl line 1: question 'Who?' matches no example"),
        ('{"set": "dev", "id": "b1", "answer": "x"}\n', "answers.jsonl line 1: set 'dev' is not one of this spec's sets (test, bench)"),
        ('{"id": "b1", "answer": "x"}\n{"id": "b1", "answer": "y"}\n',
         "answers.jsonl line 2: a second answer to example 'b1' (the first is on line 1)"),
        ("\n\n", "answers.jsonl is empty"),
    ],
)
def test_bad_answers_file_is_one_line_exit_2_and_writes_nothing(spec_file, tmp_path, capsys, content, message):
    answers = tmp_path / "answers.jsonl"
    if content is not None:
        answers.write_text(content)
    out = tmp_path / "out"
    code = main(["score", "--spec", str(spec_file), str(answers), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


def test_spec_without_a_text_metric_cannot_score(tmp_path, capsys, concert_db):
    data = _jsonl(tmp_path / "data.jsonl", [{"question": q, "sql": s, "db_path": str(concert_db)} for q, s in DATA_ROWS])
    spec = write_spec(tmp_path / "spec.yaml", {"project": "p", "model": {"source": "tiny"},
                                               "data": {"source": str(data), "format": "question-sql", "split": {"valid": 2, "test": 3}},
                                               "evaluation": {"metrics": ["perplexity", "latency"]}})
    code, record, _, err = _score(spec, [{"id": "x", "answer": "y"}], tmp_path / "out", capsys)
    assert code == 2 and record is None and "evaluation.metrics: perplexity, latency has no family that scores answer text" in err


def test_a_schema_only_benchmark_counts_what_it_could_not_test(tmp_path, capsys, concert_db):
    """The seed's Llama-2-SQL layout: the schema is CREATE TABLE text in the prompt; one gold is
    empty by construction, so no generated database can test it and it is counted, not passed."""
    schema = "CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER)"
    rows = [("Singers older than 30?", "SELECT name FROM singer WHERE age > 30"),
            ("Singers aged both over 50 and under 20?", "SELECT name FROM singer WHERE age > 50 AND age < 20")]
    bench = _jsonl(tmp_path / "llama2.jsonl", [
        {"id": f"s{i}", "input": f"### Instruction:\n{q}\n\n### Input:\n{schema}\n\n### Response:\n", "output": sql}
        for i, (q, sql) in enumerate(rows)])
    data = _jsonl(tmp_path / "data.jsonl", [{"id": f"d{i:02d}", "question": q, "sql": s, "db_path": str(concert_db)}
                                            for i, (q, s) in enumerate(DATA_ROWS)])
    spec_file = write_spec(tmp_path / "spec.yaml", {
        "project": "schema-only", "model": {"source": "tiny"},
        "data": {"source": str(data), "format": "question-sql", "split": {"valid": 2, "test": 3, "seed": 0}},
        "evaluation": {"metrics": ["sql"], "bootstrap_resamples": 100,
                       "benchmarks": [{"name": "llama2", "source": str(bench), "format": "llama2-sql"}]},
    })
    answers = [{"id": "s0", "answer": "SELECT name FROM singer WHERE age >= 30"}, {"id": "s1", "answer": "SELECT name FROM singer WHERE 0"}]
    code, record, out, _ = _score(spec_file, answers, tmp_path / "out", capsys)
    scored = record.sets["llama2"]
    assert code == 0 and scored.judged_by == {ExecutionBasis.SCHEMA_SUITE: 1, ExecutionBasis.UNINFORMATIVE: 1}
    assert [e.scores["execution_suite"] for e in scored.examples] == [0.0, None]
    assert scored.metrics["execution_suite"].n == 1
    assert "distilled test suite from CREATE TABLE text: 1; could not test" in out
