"""A row's schema for execution metrics: CREATE TABLE text found in its prompt or columns, built in
SQLite, and `harness validate` saying per set where the execution verdict comes from."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.data import load_splits, schema_sources
from harness.data.formats import to_examples
from harness.data.schema import Column, SchemaSources, Table, find_schema
from harness.errors import UserError
from harness.evaluate.sql import SqlMetric
from harness.evaluate.sql.grammar import tables_of
from harness.results import load
from harness.spec import DataSpec, SplitSpec
from tests.conftest import tiny_spec_dict, write_spec

_LLAMA2_SQL_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n### Instruction:\n{question}\n\n"
    "### Input:\n{schema}\n\n### Response:\n"
)
_SINGER = "CREATE TABLE singer (name VARCHAR, country VARCHAR, age INTEGER)"
_CITY = "CREATE TABLE city (name VARCHAR, population INTEGER, country VARCHAR)"
_BOOK = "CREATE TABLE book (title VARCHAR, author VARCHAR, year INTEGER)"
# (tables, question, gold, a wrong answer reading another column): the WHERE constants are what
# the test databases must tell apart
_QUESTIONS = [
    ((_SINGER, _CITY), "What is the name of the singer aged {n}?",
     "SELECT name FROM singer WHERE age = {n}", "SELECT country FROM singer WHERE age = {n}"),
    ((_SINGER, _CITY), "Which cities have more than {n}000 people?",
     "SELECT name FROM city WHERE population > {n}000", "SELECT country FROM city WHERE population > {n}000"),
    ((_BOOK, _SINGER), "Who wrote the books of year 19{n}?",
     "SELECT author FROM book WHERE year = 19{n}", "SELECT title FROM book WHERE year = 19{n}"),
    ((_CITY, _BOOK), "How many people live in the cities of country number {n}?",
     "SELECT SUM(population) FROM city WHERE country = 'C{n}'", "SELECT COUNT(name) FROM city WHERE country = 'C{n}'"),
]


def _llama2_sql_cases(n: int) -> list[tuple[dict[str, str], str]]:
    """`n` rows in the seed's Llama-2-SQL layout, each with its wrong answer; tables alternate
    `, ` and `; ` between them."""
    cases = []
    for i in range(n):
        tables, question, gold, wrong = _QUESTIONS[i % len(_QUESTIONS)]
        schema = (", " if i % 2 else "; ").join(tables)
        row = {"input": _LLAMA2_SQL_INPUT.format(question=question.format(n=20 + i), schema=schema),
               "output": gold.format(n=20 + i)}
        cases.append((row, wrong.format(n=20 + i)))
    return cases


def _llama2_sql_rows(n: int) -> list[dict[str, str]]:
    return [row for row, _ in _llama2_sql_cases(n)]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _tables(script: str) -> list[str]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(script)
    names = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    conn.close()
    return names


@pytest.mark.parametrize("separator", [", ", "; "])
def test_statements_in_a_llama2_sql_input_become_one_script(separator):
    text = _LLAMA2_SQL_INPUT.format(question="How old is Ann?", schema=f"{_SINGER}{separator}{_CITY}")
    assert find_schema(text) == f"{_SINGER};\n{_CITY};"


def test_quotes_comments_and_prose_do_not_cut_a_statement():
    text = ("The tables, if you need them: CREATE TABLE IF NOT EXISTS \"a(b\" (x TEXT DEFAULT 'closing ) here', "
            "y INT -- the user's y\n, z INT)\nand then create table c (w INT);")
    assert _tables(find_schema(text)) == ["a(b", "c"]


def test_mysql_ddl_is_read_through_sqlglot():
    mysql = ("CREATE TABLE `users` (`id` INT NOT NULL AUTO_INCREMENT, `name` VARCHAR(255) NOT NULL, "
             "PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8;")
    script = find_schema(mysql)
    assert "AUTOINCREMENT" in script and _tables(script) == ["users"]


@pytest.mark.parametrize("text", ["SELECT name FROM singer", "Write a CREATE TABLE statement for the users (in SQL).", "",
                                  "CREATE TABLE t (a INT"])
def test_text_without_a_whole_create_table_has_no_schema(text):
    assert find_schema(text) is None


def test_a_statement_no_dialect_builds_means_no_schema():
    assert find_schema(f"{_SINGER}; CREATE TABLE broken (a INT, a INT)") is None


def test_a_context_column_gives_the_schema_when_the_prompt_lacks_it():
    row = {"question": "How many heads are older than 56?", "context": "CREATE TABLE head (age INTEGER)",
           "answer": "SELECT COUNT(*) FROM head WHERE age > 56"}
    spec = DataSpec(source="x.jsonl", format="template", prompt_template="{question}", answer_column="answer")
    (ex,) = to_examples([row], spec)
    assert ex.meta["schema"] == "CREATE TABLE head (age INTEGER);"


@pytest.mark.parametrize("row, spec", [
    ({"instruction": "Count the singers.", "input": _SINGER, "response": "SELECT COUNT(*) FROM singer"}, {}),
    ({"q": "Count the singers.", "ddl": _SINGER, "sql": "SELECT COUNT(*) FROM singer"},
     {"format": "template", "prompt_template": "{ddl}\n{q}", "answer_column": "sql"}),
    ({"text": f"{_SINGER}\nCount the singers.\nA: SELECT COUNT(*) FROM singer"}, {}),
], ids=["instruction", "template", "text"])
def test_every_format_finds_the_schema_in_its_prompt(row, spec):
    (ex,) = to_examples([row], DataSpec(source="x.jsonl", **spec))
    assert ex.meta["schema"] == f"{_SINGER};"


def test_a_row_with_a_database_keeps_it_and_gets_no_schema_text(concert_db):
    row = {"input": _LLAMA2_SQL_INPUT.format(question="q", schema=_SINGER), "output": "SELECT 1", "db_path": str(concert_db)}
    (ex,) = to_examples([row], DataSpec(source="x.jsonl"))
    assert "schema" not in ex.meta and schema_sources([ex]) == SchemaSources(real_database=1, schema_text=0, none=0)


_QUOTED = """CREATE TABLE "order's lines" (id INTEGER PRIMARY KEY, "unit price" REAL)"""


def test_a_table_name_with_a_quote_and_a_space_is_read_alike_by_the_prompt_and_the_sql_metric(tmp_path):
    """One reader of a SQLite schema (`read_tables`): the question-sql prompt's table lines and the
    execution metrics' tables come from it, from a database file and from CREATE TABLE text alike."""
    db = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(f"""{_QUOTED}; INSERT INTO "order's lines" VALUES (1, 2.5);""")
    conn.close()
    row = {"question": "What do lines cost?", "sql": 'SELECT "unit price" FROM "order\'s lines"'}
    spec = DataSpec(source="x.jsonl", format="question-sql")
    (from_db,) = to_examples([{**row, "db_path": str(db)}], spec)
    (from_text,) = to_examples([{**row, "schema": _QUOTED}], spec)
    assert from_db.prompt == from_text.prompt == "Database schema:\norder's lines(id, unit price)\n\nQuestion: What do lines cost?"
    expected = [Table("order's lines", (Column("id", "integer", False, 1), Column("unit price", "real", True, 0)))]
    assert tables_of(db, None) == tables_of(None, _QUOTED) == expected
    assert SqlMetric().score(row["sql"], from_db)["execution_match"] == 1.0


def test_a_schema_column_that_does_not_build_is_one_line_naming_file_and_line(tmp_path):
    rows = _llama2_sql_rows(3)
    rows[1]["schema"] = "CREATE TABLE t (a INT, a INT)"
    path = _write_jsonl(tmp_path / "seed.jsonl", rows)
    with pytest.raises(UserError) as caught:
        load_splits(DataSpec(source=str(path), split=SplitSpec(valid=1, test=1)))
    assert str(caught.value).startswith(f"data: {path} line 2: its schema column is not valid CREATE TABLE SQL")
    assert "\n" not in str(caught.value)


def test_a_llama2_sql_file_gives_schemas_that_build_and_execution_scores(tmp_path):
    cases = _llama2_sql_cases(12)
    path = _write_jsonl(tmp_path / "seed.jsonl", [row for row, _ in cases])
    splits, info = load_splits(DataSpec(source=str(path), format="llama2-sql", split=SplitSpec(valid=2, test=4)))
    examples = splits.train + splits.valid + splits.test
    assert info.format == "llama2-sql" and len(examples) == 12
    assert all(len(_tables(ex.meta["schema"])) == 2 for ex in examples)
    wrong_answers = {row["output"]: wrong for row, wrong in cases}
    metric = SqlMetric()
    for ex in splits.test:
        assert metric.score(ex.answer, ex)["execution_suite"] == 1.0, ex.answer
        assert metric.score(wrong_answers[ex.answer], ex)["execution_suite"] == 0.0, wrong_answers[ex.answer]


def test_describe_names_each_source_and_counts_a_mix():
    assert SchemaSources(real_database=0, schema_text=5, none=0).describe().startswith(
        "SQL execution on distilled test suites built from schema text")
    assert SchemaSources(real_database=3, schema_text=0, none=2).describe() == (
        "SQL execution on real databases (+ neighbours): 3 rows; no database or schema: no execution metrics: 2 rows")


def _validate_lines(spec_path: Path, capsys) -> list[str]:
    assert main(["validate", str(spec_path)]) == 0
    return capsys.readouterr().out.splitlines()[1:]


def test_validate_says_schema_text_for_a_llama2_sql_file(tmp_path, capsys):
    path = _write_jsonl(tmp_path / "seed.jsonl", _llama2_sql_rows(12))
    bench = _write_jsonl(tmp_path / "bare.jsonl", [{"text": "Count the singers.\nA: SELECT COUNT(*) FROM singer"}])
    spec = tiny_spec_dict(data={"source": str(path), "split": {"valid": 2, "test": 4}},
                          **{"evaluation.benchmarks": [{"name": "bare", "source": str(bench)}]})
    assert _validate_lines(write_spec(tmp_path / "spec.yaml", spec), capsys) == [
        "  test (4 rows): SQL execution on distilled test suites built from schema text (CREATE TABLE, no rows)",
        "  bare (1 row): no database or schema: no execution metrics"]
    spec["evaluation"]["metrics"] = ["exact_text"]
    assert _validate_lines(write_spec(tmp_path / "spec.yaml", spec), capsys) == []


def test_validate_says_real_databases_for_the_builtin_set(tmp_path, capsys):
    spec = tiny_spec_dict(data={"source": "builtin:sql", "subset": 120, "split": {"valid": 12, "test": 8}})
    assert _validate_lines(write_spec(tmp_path / "spec.yaml", spec), capsys) == [
        "  test (8 rows): SQL execution on real databases (+ neighbours)"]


@pytest.mark.train
def test_a_llama2_sql_file_runs_with_execution_accuracy_as_its_headline(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = _write_jsonl(tmp_path / "seed.jsonl", _llama2_sql_rows(40))
    spec = tiny_spec_dict(data={"source": str(path), "format": "llama2-sql", "split": {"valid": 4, "test": 8, "seed": 1}},
                          **{"train.block_size": 256})
    assert main(["run", str(write_spec(tmp_path / "tiny.yaml", spec))]) == 0
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    assert load(run_dir).evaluation.verdict.headline == "execution_suite"
    report = (run_dir / "report.md").read_text()
    assert "Execution accuracy (test suite)" in report
    assert "SQL execution verdicts (8 examples): distilled test suite from CREATE TABLE text: " in report
