"""`harness ask`: a finished run's model answers new questions with the prompt, weights and decoding its
evaluation used (checked against the answers the run recorded), and SQL runs on the user's database
without changing a byte of it."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from rich.console import Console

from harness import ask, runs
from harness.cli import main
from harness.data import load_splits
from harness.data.formats import prompt_for, to_examples
from harness.errors import UserError
from harness.evaluate.decoding import MODES
from harness.evaluate.decoding.mode import DecodingMode
from harness.pipeline import run
from harness.results import ExampleRow, load
from harness.spec import DataSpec, load_spec
from tests.conftest import tiny_spec_dict, write_spec


@dataclass(frozen=True)
class Recorded:
    """A test example as the run's evaluation recorded it, with the question and database it came from."""

    question: str
    db_path: Path
    greedy: ExampleRow
    constrained: ExampleRow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model tuned on the built-in SQL set (prompts hold each database's schema), evaluated
    greedy and constrained."""
    root = tmp_path_factory.mktemp("ask")
    spec = tiny_spec_dict(data={"source": "builtin:sql", "subset": 120, "split": {"valid": 12, "test": 8, "seed": 1}},
                          **{"evaluation.decoding": ["greedy", "constrained"]})
    return run(load_spec(write_spec(root / "tiny.yaml", spec)), root / "runs")


@pytest.fixture(scope="module")
def recorded(tiny_run: Path) -> list[Recorded]:
    """The recorded test examples, matched by id to the data stage's examples for their question and database."""
    spec = load_spec(runs.spec_path(tiny_run))
    test = {ex.id: ex for ex in load_splits(spec.data, spec.base_dir)[0].test}
    evaluation = load(tiny_run).evaluation
    constrained = {row.id: row for row in evaluation.decodings["constrained"].examples}
    return [Recorded(test[row.id].meta["question"], Path(test[row.id].meta["db_path"]), row, constrained[row.id])
            for row in evaluation.examples]


@pytest.fixture(scope="module")
def asker_for(tiny_run: Path):
    """One Asker per decoding, base model included, loaded once for the module."""
    return cache(lambda decoding: ask.Asker(tiny_run, base=True, decoding=decoding))


@pytest.mark.train
def test_the_prompt_is_the_one_the_run_evaluated(recorded, asker_for):
    for example in recorded:
        assert asker_for("greedy").prompt(example.question, ask.Database(path=example.db_path)) == example.greedy.prompt


@pytest.mark.train
def test_answers_are_the_ones_the_run_recorded(recorded, asker_for):
    """Same prompt, merged weights, dtype, token limit and stop rule: greedy repeats evaluation's answers."""
    assert any(ex.greedy.base != ex.greedy.tuned for ex in recorded)  # the adapter changed something to repeat
    for example in recorded:
        answer = asker_for("greedy").ask(example.question, ask.Database(path=example.db_path))
        assert (answer.tuned.text, answer.base.text) == (example.greedy.tuned, example.greedy.base)


@pytest.mark.train
def test_constrained_answers_are_the_ones_the_run_recorded(recorded, asker_for):
    assert any(ex.constrained.tuned != ex.greedy.tuned for ex in recorded)  # the grammar changed something
    for example in recorded:
        answer = asker_for("constrained").ask(example.question, ask.Database(path=example.db_path))
        assert (answer.tuned.text, answer.base.text) == (example.constrained.tuned, example.constrained.base)
    with pytest.raises(UserError, match="--decoding constrained holds the SQL to a schema's tables and columns"):
        asker_for("constrained").ask(recorded[0].question)  # no database: nothing to hold the SQL to


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_mode_with_a_constraint_needs_a_database_or_schema_as_the_registry_says(monkeypatch, concert_db):
    """`check_decoding` asks the decoding-mode registry, not the mode's name: a new mode holding
    answers to a schema needs one too, and a mode without a constraint never does."""
    ask.check_decoding("greedy", None)
    ask.check_decoding("constrained", ask.Database(path=concert_db))
    with pytest.raises(UserError, match="--decoding constrained holds the SQL to a schema's tables and columns; give --db or --schema"):
        ask.check_decoding("constrained", None)

    class Fenced(DecodingMode):
        name = "fenced"

        def constraint(self):
            return MODES["constrained"].constraint()

    monkeypatch.setitem(MODES, Fenced.name, Fenced())
    with pytest.raises(UserError, match="--decoding fenced holds the SQL to a schema's tables and columns"):
        ask.check_decoding("fenced", None)


def test_sql_runs_read_only_and_a_destructive_answer_leaves_the_file_byte_identical(concert_db, tmp_path):
    db = tmp_path / "concert.sqlite"
    shutil.copy(concert_db, db)
    before = _sha256(db)
    result = ask.execute(db, "SELECT name FROM singer WHERE country = 'France' ORDER BY name")
    assert (result.columns, result.rows) == (("name",), (("Ann",), ("Bob",)))
    outside = tmp_path / "outside.sqlite"
    destructive = ("DROP TABLE singer", "DELETE FROM singer", "INSERT INTO song VALUES (9, 9, 'x')",
                   f"ATTACH DATABASE '{outside}' AS other", "PRAGMA user_version = 7", "VACUUM")
    errors = {sql: ask.execute(db, sql).error for sql in destructive}
    assert _sha256(db) == before
    assert not outside.exists()
    assert all(errors.values()), errors


def test_rows_print_as_a_small_table(concert_db):
    sql = "SELECT s.name, t.title FROM singer s LEFT JOIN song t ON t.singer_id = s.id ORDER BY s.id, t.id"
    reply = ask.Reply(text=sql, sql=sql, result=ask.execute(concert_db, sql), seconds=0.25)
    out = io.StringIO()
    Console(file=out, width=100).print(ask.view(ask.Answer("Who sang what?", reply)))
    lines = out.getvalue().splitlines()
    assert lines[0] == sql
    assert lines[1].split() == ["name", "title"]
    assert [line.split() for line in lines[3:8]] == [["Ann", "Aria"], ["Ann", "Bolero"], ["Bob", "NULL"], ["Cy", "Canon"],
                                                     ["Di", "NULL"]]
    assert lines[8] == "5 rows · 0.25 s"


@pytest.mark.train
def test_questions_from_stdin_give_one_json_line_each(tiny_run, recorded, monkeypatch, capsys):
    example = recorded[0]
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{example.question}\n\n  \nHow many rows?\n"))
    assert main(["ask", str(tiny_run), "--db", str(example.db_path), "--base", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["question"] for line in lines] == [example.question, "How many rows?"]
    first = lines[0]
    assert (first["text"], first["base"]["text"]) == (example.greedy.tuned, example.greedy.base)
    for reply in (first, first["base"]):
        assert reply["sql"] is not None and reply["seconds"] > 0
        assert (reply["rows"] is None) != (reply["error"] is None)


@pytest.mark.train
def test_piped_questions_are_echoed_before_their_answers(tiny_run, monkeypatch, capsys):
    """Without a database the answer is the model's text, for any project."""
    monkeypatch.setattr("sys.stdin", io.StringIO("first question\nsecond question\n"))
    assert main(["ask", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert out.index("ask> first question") < out.index("ask> second question")
    assert not ask.Asker(tiny_run).ask("first question").tuned.sql  # no schema: text only, nothing run


@pytest.mark.train
def test_a_project_runs_folder_means_its_newest_finished_run(tiny_run, capsys):
    unfinished = tiny_run.parent / "99999999-999999"  # newer, but it has no results.json
    unfinished.mkdir()
    try:
        assert ask.find_run(tiny_run.parent) == tiny_run
        assert main(["ask", str(tiny_run.parent), "Which?", "--db", "builtin:bank", "--no-execute", "--json"]) == 0
    finally:
        unfinished.rmdir()
    captured = capsys.readouterr()
    assert f"run: {tiny_run} (the newest finished run in {tiny_run.parent})" in captured.err
    answer = json.loads(captured.out)
    assert answer["sql"] is not None and answer["rows"] is None and answer["error"] is None


@pytest.fixture
def inputs(tmp_path: Path, tiny_run: Path) -> dict[str, Path]:
    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("just text\n")
    prose = tmp_path / "prose.sql"
    prose.write_text("tables: a list of customers\n")
    empty, no_adapter = tmp_path / "empty", tmp_path / "no-adapter"
    empty.mkdir()
    no_adapter.mkdir()
    for name in (runs.RESULTS, runs.SPEC):
        shutil.copy(tiny_run / name, no_adapter / name)
    return {"run": tiny_run, "missing": tmp_path / "missing", "empty": empty, "no_adapter": no_adapter,
            "not_sqlite": not_sqlite, "prose": prose}


BAD_INPUTS = {
    "no run dir": (["{missing}", "q"], "no such directory"),
    "no results.json": (["{empty}", "q"], f"no {runs.RESULTS} here nor in a run directory below it"),
    "no adapter": (["{no_adapter}", "q"], "no LoRA adapter"),
    "db missing": (["{run}", "q", "--db", "{missing}"], "--db: no file"),
    "db not sqlite": (["{run}", "q", "--db", "{not_sqlite}"], "is not a SQLite database"),
    "unknown builtin db": (["{run}", "q", "--db", "builtin:atlantis"],
                           "--db: unknown built-in database 'atlantis'; use one of builtin:bank, "),
    "schema unreadable": (["{run}", "q", "--schema", "{missing}"], "--schema: cannot read"),
    "schema invalid": (["{run}", "q", "--schema", "{prose}"], "has no CREATE TABLE statements SQLite can build"),
    "db and schema": (["{run}", "q", "--db", "builtin:bank", "--schema", "{prose}"], "--db and --schema: give one"),
    "constrained without schema": (["{run}", "q", "--decoding", "constrained"],
                                   "--decoding constrained holds the SQL to a schema's tables"),
}


@pytest.mark.train
@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_and_exit_2(argv, message, inputs, capsys):
    assert main(["ask", *(arg.format(**inputs) for arg in argv)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("error: ") and message in line


# --- prompt_for: a new question through each format's own converter --------------------------------

_LLAMA2_SQL_ROW = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n### Instruction:\n{question}\n\n"
    "### Input:\n{schema}\n\n### Response:\n"
)


def test_a_llama2_sql_question_gets_the_prompt_its_dataset_rows_get():
    question, schema = "How old is Ann?", "CREATE TABLE singer (name VARCHAR, age INTEGER)"
    spec = DataSpec(format="llama2-sql")
    (example,) = to_examples([{"input": _LLAMA2_SQL_ROW.format(question=question, schema=schema), "output": "SELECT 1"}], spec)
    assert prompt_for(question, spec, "llama2-sql", schema=schema) == example.prompt


def test_a_question_sql_question_gets_the_schema_of_its_database_or_create_table_text(concert_db):
    spec = DataSpec(format="question-sql")
    assert prompt_for("Who?", spec, "question-sql", db_path=concert_db) == (
        "Database schema:\nsinger(id, name, country, age, score)\nsong(id, singer_id, title)\n\nQuestion: Who?")
    ddl = "CREATE TABLE t (a INT, b TEXT)"
    (example,) = to_examples([{"question": "Who?", "sql": "SELECT a FROM t", "schema": ddl}], spec)
    assert prompt_for("Who?", spec, "question-sql", schema=ddl) == example.prompt == "Database schema:\nt(a, b)\n\nQuestion: Who?"
    assert prompt_for("Who?", spec, "question-sql") == "Question: Who?"


@pytest.mark.parametrize("fmt", ["text", "instruction"])
def test_formats_without_a_schema_slot_get_the_question_alone(fmt, concert_db):
    assert prompt_for(" Who sang? ", DataSpec(format=fmt), fmt, db_path=concert_db) == "Who sang?"


def test_a_template_takes_the_question_in_its_one_field():
    one = DataSpec(format="template", prompt_template="Q: {q}\nSQL:", answer_column="a")
    assert prompt_for("Who?", one, "template") == "Q: Who?\nSQL:"
    two = DataSpec(format="template", prompt_template="{table}: {q}", answer_column="a")
    with pytest.raises(UserError, match="its fields q, table cannot all come from one question"):
        prompt_for("Who?", two, "template")
