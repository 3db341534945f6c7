"""Benchmark sets: evaluation-only files read through the data formats, and the shipped hand-written set."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness.data import load_benchmarks
from harness.data.builtin_sql import naming
from harness.errors import UserError
from harness.spec import BenchmarkSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
HANDWRITTEN = ROOT / "projects" / "benchmarks" / "sql-handwritten"
DEMO = ROOT / "projects" / "sqlcoder.yaml"


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _make_db(path: Path, ddl: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(ddl)
    conn.close()
    return path


@pytest.fixture
def spider(tmp_path: Path) -> Path:
    """A Spider-style set: question/query/db_id rows and <folder>/<db_id>/<db_id>.sqlite."""
    _make_db(tmp_path / "dbs" / "pets" / "pets.sqlite", "CREATE TABLE pet (pet_id INTEGER PRIMARY KEY, kind TEXT);"
             "INSERT INTO pet VALUES (1, 'cat');")
    _make_db(tmp_path / "dbs" / "shop" / "shop.sqlite", "CREATE TABLE item (item_id INTEGER PRIMARY KEY, price REAL);")
    return _write_jsonl(tmp_path / "dev.jsonl", [
        {"question": "How many pets?", "query": "SELECT COUNT(*) FROM pet", "db_id": "pets"},
        {"question": "Cheapest item?", "query": "SELECT MIN(price) FROM item", "db_id": "shop"},
    ])


def _spider_spec(**overrides) -> BenchmarkSpec:
    fields = {"name": "spider", "source": "dev.jsonl", "format": "question-sql", "sql_column": "query",
              "db_folder": "dbs"} | overrides
    return BenchmarkSpec(**fields)


def test_spider_layout_maps_db_id_to_its_sqlite_file_and_shows_its_schema(spider):
    loaded = load_benchmarks([_spider_spec()], spider.parent)
    first, second = loaded["spider"]
    assert first.meta["db_path"] == str(spider.parent / "dbs" / "pets" / "pets.sqlite")
    assert first.prompt == "Database schema:\npet(pet_id, kind)\n\nQuestion: How many pets?"
    assert first.answer == "SELECT COUNT(*) FROM pet"
    assert second.prompt.startswith("Database schema:\nitem(item_id, price)\n")


def test_db_path_is_relative_to_the_benchmark_file_and_schema_column_or_neither_work(tmp_path):
    _make_db(tmp_path / "sets" / "db" / "a.sqlite", "CREATE TABLE t (x INTEGER);")
    _write_jsonl(tmp_path / "sets" / "b.jsonl", [
        {"question": "q1", "sql": "SELECT x FROM t", "db_path": "db/a.sqlite"},
        {"question": "q2", "sql": "SELECT y FROM u", "schema": "CREATE TABLE u (y TEXT, z INT);"},
        {"question": "q3", "sql": "SELECT 1"},
    ])
    spec = BenchmarkSpec(name="mixed", source="sets/b.jsonl", format="question-sql", limit=3)
    with_path, with_schema, bare = load_benchmarks([spec], tmp_path)["mixed"]
    assert with_path.meta["db_path"] == str(tmp_path / "sets" / "db" / "a.sqlite")
    assert with_path.prompt == "Database schema:\nt(x)\n\nQuestion: q1"
    assert with_schema.prompt == "Database schema:\nu(y, z)\n\nQuestion: q2" and "db_path" not in with_schema.meta
    assert bare.prompt == "Question: q3"


def test_llama2_sql_layout_and_limit(tmp_path):
    rows = [{"input": f"### Instruction: SQL\n### Input: CREATE TABLE t{i} (a INT)\n### Response:", "output": f"SELECT a FROM t{i}"}
            for i in range(5)]
    _write_jsonl(tmp_path / "seed.jsonl", rows)
    loaded = load_benchmarks([BenchmarkSpec(name="seed", source="seed.jsonl", limit=2)], tmp_path)["seed"]
    assert [e.answer for e in loaded] == ["SELECT a FROM t0", "SELECT a FROM t1"]
    assert loaded[0].prompt == "### Instruction: SQL\n### Input: CREATE TABLE t0 (a INT)"


@pytest.mark.parametrize("setup, spec, message", [
    (None, {"source": "nowhere.jsonl"}, "evaluation.benchmarks.0.source: file {dir}/nowhere.jsonl not found"),
    ('{"question": "q", "query": "SELECT 1", "db_id": "pets"}\n{"question": "q2", "query"\n', {},
     "evaluation.benchmarks.0.source: {dir}/dev.jsonl line 2 is not valid JSON"),
    ('{"question": "q", "query": "SELECT 1", "db_id": "pets"}\n{"question": "q2", "db_id": "pets"}\n', {},
     "evaluation.benchmarks.0: {dir}/dev.jsonl line 2 has no column 'query' needed by format 'question-sql'"),
    ('{"question": "q", "query": "SELECT 1", "db_id": "zoo"}\n', {},
     "evaluation.benchmarks.0: {dir}/dev.jsonl line 1: no SQLite file for db_id 'zoo' in evaluation.benchmarks.0.db_folder"),
    ('{"question": "q", "query": "SELECT 1", "db_path": "gone.sqlite"}\n', {"db_folder": None},
     "evaluation.benchmarks.0: {dir}/dev.jsonl line 1: database file {dir}/gone.sqlite not found"),
    ('{"question": "q", "query": "SELECT 1", "schema": "CREATE TABLE (;"}\n', {"db_folder": None},
     "evaluation.benchmarks.0: {dir}/dev.jsonl line 1: its schema column is not valid CREATE TABLE SQL"),
])
def test_bad_benchmark_input_is_one_line_naming_field_file_and_line(spider, setup, spec, message):
    if setup is not None:
        spider.write_text(setup)
    with pytest.raises(UserError) as caught:
        load_benchmarks([_spider_spec(**spec)], spider.parent)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(message.format(dir=spider.parent)), text


def test_demo_spec_loads_the_hand_written_set():
    spec = load_spec(DEMO)
    loaded = load_benchmarks(spec.evaluation.benchmarks, spec.base_dir)
    assert list(loaded) == ["handwritten"] and 40 <= len(loaded["handwritten"]) <= 60
    assert all(e.prompt.startswith("Database schema:\n") and "\n\nQuestion: " in e.prompt for e in loaded["handwritten"])


def test_every_hand_written_gold_query_runs_non_empty_on_its_database():
    spec = load_spec(DEMO)
    examples = load_benchmarks(spec.evaluation.benchmarks, spec.base_dir)["handwritten"]
    assert len({e.meta["db_id"] for e in examples}) == 2
    for ex in examples:
        conn = sqlite3.connect(f"file:{ex.meta['db_path']}?mode=ro", uri=True)
        rows = conn.execute(ex.answer).fetchall()
        conn.close()
        assert rows and not all(v in (None, 0) for r in rows for v in r), ex.meta["id"]


def test_hand_written_databases_are_what_their_sql_scripts_build_and_not_generator_schemas():
    generated = {t.name.lower() for db in naming.DATABASES for t in db.tables}
    for script in sorted((HANDWRITTEN / "sql").glob("*.sql")):
        rebuilt = sqlite3.connect(":memory:")
        rebuilt.executescript(script.read_text())
        committed = sqlite3.connect(f"file:{HANDWRITTEN / 'databases' / script.stem / (script.stem + '.sqlite')}?mode=ro",
                                    uri=True)
        assert list(committed.iterdump()) == list(rebuilt.iterdump()), script.name
        tables = {n.lower() for (n,) in committed.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not tables & generated, (script.name, tables & generated)
        committed.close()
        rebuilt.close()
