"""SQL metrics on hand-built cases with known answers, including ones that must NOT match."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.data.records import Example
from harness.evaluate import sql as sqlmod
from harness.evaluate.sandbox import QueryResult
from harness.evaluate.sql import (
    SqlMetric,
    Tolerance,
    exact_match,
    executes,
    execution_match,
    execution_match_subset,
    extract_sql,
    normalize_sql,
    parse_with_values,
    parses,
    results_match,
    split_statements,
    structural_match,
    suite_execution_match,
)
from harness.evaluate.testsuite import SchemaError, build_databases


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "concert.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER, score REAL);
        INSERT INTO singer VALUES
            (1, 'Ann', 'France', 31, 7.5), (2, 'Bob', 'France', 25, 6.0),
            (3, 'Cy', 'Japan', 40, 9.25), (4, 'Di', 'Peru', 25, NULL);
        CREATE TABLE song (id INTEGER PRIMARY KEY, singer_id INTEGER, title TEXT);
        INSERT INTO song VALUES (1, 1, 'Aria'), (2, 1, 'Bolero'), (3, 3, 'Canon');
        """
    )
    conn.commit()
    conn.close()
    return path


# ---------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("SELECT a FROM t;", "SELECT a FROM t"),
        ("  select a from t  ", "select a from t"),
        ("```sql\nSELECT a FROM t;\n```\nThis selects a.", "SELECT a FROM t"),
        ("Here is the query:\n```\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("SELECT a FROM t\n```\nmore text", "SELECT a FROM t"),  # closing fence echoed from the prompt
        ("SQL: SELECT a FROM t; DROP TABLE t", "SELECT a FROM t"),
        ("SELECT ';' FROM t; SELECT 2", "SELECT ';' FROM t"),  # ; inside a string is not the end
        ('SELECT "a;b" FROM t WHERE x = \'it\'\';s\'; junk', "SELECT \"a;b\" FROM t WHERE x = 'it'';s'"),
        ("```SQL\nSQL: select 2;\n```", "select 2"),
        ("", ""),
        ("```\n```", ""),
    ],
)
def test_extract_sql(raw: str, expected: str) -> None:
    assert extract_sql(raw) == expected


def test_split_statements_ignores_comments_and_empty_pieces() -> None:
    gold = "SELECT a FROM t; SELECT a FROM t ORDER BY a; -- trailing ; comment\n;"
    assert split_statements(gold) == ["SELECT a FROM t", "SELECT a FROM t ORDER BY a"]


# ---------------------------------------------------------------------------- exact / structural


def test_normalize_sql_collapses_spelling_only() -> None:
    a = 'select  name\n from singer where country = "France";'
    b = "SELECT name FROM singer WHERE country = 'France'"
    assert normalize_sql(a) == normalize_sql(b) == "SELECT name FROM singer WHERE country = 'France'"
    assert exact_match(a, b)
    assert not exact_match(a, "SELECT name FROM singer WHERE country = 'Peru'")
    assert not exact_match("SELECT Name FROM singer", "SELECT name FROM singer")  # identifier case kept


def test_normalize_sql_falls_back_to_tokens_when_sqlglot_cannot_parse() -> None:
    pred = 'select Notes from 1-1000181-1 where Current slogan = "SOUTH AUSTRALIA";'
    gold = "SELECT Notes FROM 1-1000181-1 WHERE Current slogan = 'SOUTH AUSTRALIA'"  # WikiSQL-style
    assert not parses(gold)
    assert normalize_sql(pred) == normalize_sql(gold)
    assert exact_match(pred, gold)
    assert not exact_match(pred.replace("SOUTH", "NORTH"), gold)


def test_exact_match_accepts_any_gold_alternative() -> None:
    gold = "SELECT a FROM t; SELECT a FROM t ORDER BY a"
    assert exact_match("select a from t order by a", gold)
    assert not exact_match("SELECT a FROM t ORDER BY a DESC", gold)
    assert not exact_match("", gold)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT T1.Name FROM Singer AS T1", "select name from singer"),
        (
            "SELECT name FROM singer WHERE age > 30 AND country = 'France'",
            'SELECT name FROM singer WHERE country = "France" AND age > 30',
        ),
        (
            "SELECT s.name FROM singer s JOIN song ON song.singer_id = s.id",
            "SELECT singer.name FROM singer INNER JOIN song ON singer.id = song.singer_id",
        ),
        ("SELECT count(*) AS n FROM singer ORDER BY n ASC", "SELECT COUNT(*) FROM singer ORDER BY COUNT(*)"),
        ("SELECT name FROM singer WHERE (age > 30)", "SELECT name FROM singer WHERE age > 30"),
        (
            "SELECT a FROM t AS T1 WHERE T1.x IN (SELECT T1.y FROM u AS T1)",  # T1 means 2 tables
            "SELECT t.a FROM t WHERE t.x IN (SELECT u.y FROM u)",
        ),
        ("SELECT a FROM t LEFT OUTER JOIN u ON t.id = u.id", "SELECT a FROM t LEFT JOIN u ON u.id = t.id"),
    ],
)
def test_structural_match_equal(pred: str, gold: str) -> None:
    assert structural_match(pred, gold)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT name FROM singer WHERE age >= 30", "SELECT name FROM singer WHERE age > 30"),
        ("SELECT age, name FROM singer", "SELECT name, age FROM singer"),  # column order is structure
        ("SELECT count(name) FROM singer", "SELECT count(*) FROM singer"),
        ("SELECT name FROM singer WHERE country = 'france'", "SELECT name FROM singer WHERE country = 'France'"),
        ("SELECT name FROM singer ORDER BY age DESC", "SELECT name FROM singer ORDER BY age"),
        (  # self-join: which copy of t is filtered matters
            "SELECT a FROM t AS x JOIN t AS y ON x.id = y.pid WHERE x.v = 1",
            "SELECT a FROM t AS x JOIN t AS y ON x.id = y.pid WHERE y.v = 1",
        ),
        ("SELECT Notes FROM 1-1000181-1", "SELECT Notes FROM 1-1000181-1"),  # unparseable never matches
    ],
)
def test_structural_match_not_equal(pred: str, gold: str) -> None:
    assert not structural_match(pred, gold)


def test_structural_match_any_alternative() -> None:
    gold = "SELECT a FROM t WHERE x = 1; SELECT a FROM t WHERE y = 2"
    assert structural_match("select A from T where 2 = y", gold)
    assert not structural_match("select a from t where y = 3", gold)


@pytest.mark.parametrize(
    "sql, valid",
    [
        ("SELECT a FROM t", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("SELECT a FROM t UNION SELECT b FROM u", True),
        ("hello", False),  # sqlglot alone would read this as a column
        ("SELECT FROM", False),
        ("SELECT * FROM t WHERE", False),
        ("The answer is 42", False),
        ("", False),
    ],
)
def test_parses(sql: str, valid: bool) -> None:
    assert parses(sql) is valid


def test_double_quotes_read_as_string_only_in_value_position() -> None:
    tree = parse_with_values('SELECT "name" FROM singer WHERE country = "France"')
    assert tree.sql(dialect="sqlite") == "SELECT \"name\" FROM singer WHERE country = 'France'"


# ---------------------------------------------------------------------------- execution


def test_executes(db: Path) -> None:
    assert executes("SELECT name FROM singer", db)
    assert not executes("SELECT nope FROM singer", db)
    assert not executes("DELETE FROM singer", db)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT name FROM singer WHERE NOT age <= 30", "SELECT name FROM singer WHERE age > 30"),
        ("SELECT age, name FROM singer", "SELECT name, age FROM singer"),  # column order ignored
        ("SELECT name FROM singer ORDER BY name DESC", "SELECT name FROM singer"),  # no gold ORDER BY
        ("SELECT name FROM singer ORDER BY age, name", "SELECT name FROM singer ORDER BY age, id"),
        ("SELECT 1.0 / 3", "SELECT 0.3333333333"),  # within relative 1e-6
        ("SELECT 2", "SELECT 2.0"),  # integer vs real
        ("SELECT avg(age) FROM singer", "SELECT sum(age) * 1.0 / count(*) FROM singer"),
        ("SELECT name FROM singer WHERE age > 100", "SELECT name FROM singer WHERE age > 200"),  # empty == empty
        ("SELECT name FROM singer WHERE country = \"France\"", "SELECT name FROM singer WHERE country = 'France'"),
        ("SELECT country FROM singer", "SELECT country FROM singer ORDER BY 1 DESC; SELECT country FROM singer"),
    ],
)
def test_execution_match(db: Path, pred: str, gold: str) -> None:
    assert execution_match(pred, gold, db)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT name FROM singer ORDER BY age DESC", "SELECT name FROM singer ORDER BY age"),  # order matters
        ("SELECT DISTINCT country FROM singer", "SELECT country FROM singer"),  # duplicates count
        ("SELECT country FROM singer", "SELECT DISTINCT country FROM singer"),
        ("SELECT country FROM singer", "SELECT name FROM singer"),  # wrong column
        ("SELECT 0.33", "SELECT 0.3333"),  # beyond tolerance
        ("SELECT '2'", "SELECT 2"),  # text is not a number
        ("SELECT name FROM singer WHERE age > 100", "SELECT name FROM singer WHERE age > 30"),  # empty vs non-empty
        ("SELECT name, age FROM singer", "SELECT name FROM singer"),  # extra column: subset variant only
        ("SELECT nope FROM singer", "SELECT name FROM singer"),  # error
        ("SELECT name FROM singer; DROP TABLE singer", "SELECT name FROM singer"),  # not extracted: 2 statements
    ],
)
def test_execution_mismatch(db: Path, pred: str, gold: str) -> None:
    assert not execution_match(pred, gold, db)


def test_execution_match_subset_allows_extra_columns_only(db: Path) -> None:
    gold = "SELECT name FROM singer WHERE age > 30"
    assert execution_match_subset("SELECT age, name, country FROM singer WHERE age > 30", gold, db)
    assert not execution_match("SELECT age, name, country FROM singer WHERE age > 30", gold, db)
    assert not execution_match_subset("SELECT age FROM singer WHERE age > 30", gold, db)
    assert not execution_match_subset("SELECT name FROM singer", "SELECT name, age FROM singer", db)


def test_execution_match_float_tolerance_is_configurable(db: Path) -> None:
    assert execution_match("SELECT 0.33", "SELECT 0.3333", db, float_tol=0.02)
    assert not execution_match("SELECT 0.33", "SELECT 0.3333", db)


def test_unusable_gold_never_matches(db: Path) -> None:
    assert not execution_match("SELECT nope FROM singer", "SELECT nope FROM singer", db)


def result(*rows: tuple, columns: int | None = None) -> QueryResult:
    width = columns if columns is not None else len(rows[0])
    return QueryResult(columns=tuple(f"c{i}" for i in range(width)), rows=tuple(rows))


def test_results_match_column_permutation_must_be_consistent_across_rows() -> None:
    """Each column alone has the same values, but no single column order makes the rows equal."""
    gold, pred = result((1, 2), (2, 1)), result((1, 1), (2, 2))
    assert not results_match(gold, pred, ordered=False)
    assert results_match(gold, result((2, 1), (1, 2)), ordered=False)


def test_results_match_float_noise_does_not_break_multiset_sorting() -> None:
    gold = result((0.1 + 0.2, "b"), (0.3, "a"))
    pred = result((0.3, "b"), (0.1 + 0.2, "a"))
    assert results_match(gold, pred, ordered=False, tol=Tolerance())
    assert not results_match(gold, result((0.3, "b"), (0.4, "a")), ordered=False)


def test_results_match_empty_results_need_compatible_columns() -> None:
    assert results_match(result(columns=1), result(columns=1), ordered=False)
    assert not results_match(result(columns=1), result(columns=2), ordered=False)
    assert results_match(result(columns=1), result(columns=2), ordered=False, subset=True)
    assert not results_match(result(("x",)), result(columns=1), ordered=False)


def test_results_match_truncated_or_failed_never_match() -> None:
    full = result((1,), (2,))
    truncated = QueryResult(columns=("c0",), rows=((1,), (2,)), truncated=True)
    assert not results_match(full, truncated, ordered=False)
    assert not results_match(full, QueryResult(error="boom"), ordered=False)


# ---------------------------------------------------------------------------- test-suite mode

SCHEMA = "CREATE TABLE head (head_id INTEGER, name VARCHAR, age INTEGER, born_state VARCHAR)"


def test_suite_distinguishes_boundary_constants() -> None:
    gold = "SELECT name FROM head WHERE age > 56"
    assert suite_execution_match("SELECT name FROM head WHERE 56 < age", gold, SCHEMA)
    assert not suite_execution_match("SELECT name FROM head WHERE age >= 56", gold, SCHEMA)
    assert not suite_execution_match("SELECT name FROM head WHERE age > 57", gold, SCHEMA)
    assert not suite_execution_match("SELECT name FROM head", gold, SCHEMA)


def test_suite_plants_string_constants_written_with_double_quotes() -> None:
    gold = 'SELECT COUNT(*) FROM head WHERE born_state = "Ohio"'
    count_ids = "SELECT count(head_id) FROM head WHERE born_state = 'Ohio'"
    assert not suite_execution_match(count_ids, gold, SCHEMA)  # NULL ids are planted too
    assert suite_execution_match("SELECT count(*) FROM head WHERE born_state = 'Ohio'", gold, SCHEMA)
    assert not suite_execution_match("SELECT count(*) FROM head WHERE born_state = 'ohio'", gold, SCHEMA)
    assert not suite_execution_match("SELECT count(*) FROM head WHERE born_state <> 'Ohio'", gold, SCHEMA)


def test_suite_databases_contain_gold_constants_and_are_deterministic() -> None:
    trees = [parse_with_values('SELECT name FROM head WHERE age > 56 AND born_state = "Ohio"')]
    first, again = build_databases(SCHEMA, trees, n_dbs=3, seed=0), build_databases(SCHEMA, trees, n_dbs=3, seed=0)
    other = build_databases(SCHEMA, trees, n_dbs=3, seed=1)
    dump = lambda conn: conn.execute("SELECT * FROM head").fetchall()
    assert [dump(c) for c in first] == [dump(c) for c in again]
    assert [dump(c) for c in first] != [dump(c) for c in other]
    for conn in first:
        assert {55, 56, 57} <= {r[0] for r in conn.execute("SELECT age FROM head")}
        assert conn.execute("SELECT count(*) FROM head WHERE born_state = 'Ohio'").fetchone()[0] >= 1


def test_suite_bad_schema_raises_schema_error() -> None:
    with pytest.raises(SchemaError):
        build_databases("CREATE TABLE (", [], n_dbs=1)
    with pytest.raises(SchemaError):
        build_databases("-- no tables", [], n_dbs=1)


# ---------------------------------------------------------------------------- the metric

KEYS = {"exact_match", "structural_match", "valid_sql", "executable", "execution_match", "execution_match_subset"}


def test_metric_on_database_file(db: Path) -> None:
    ex = Example("1", "q", "SELECT name FROM singer WHERE age > 30", {"db_path": str(db)})
    scores = SqlMetric().score("```sql\nSELECT name, age FROM singer WHERE age > 30;\n```", ex)
    assert set(scores) == KEYS
    assert scores == {
        "exact_match": 0.0,
        "structural_match": 0.0,
        "valid_sql": 1.0,
        "executable": 1.0,
        "execution_match": 0.0,
        "execution_match_subset": 1.0,
    }
    perfect = SqlMetric().score("SQL: select name from singer where age > 30;", ex)
    assert set(perfect.values()) == {1.0}


def test_metric_without_database_gives_none_for_execution() -> None:
    ex = Example("1", "q", "SELECT a FROM t", {})
    scores = SqlMetric().score("SELECT a FROM t", ex)
    assert scores["exact_match"] == 1.0
    assert scores["executable"] is None and scores["execution_match"] is None
    assert scores["execution_match_subset"] is None


def test_metric_in_test_suite_mode() -> None:
    ex = Example("1", "q", "SELECT name FROM head WHERE age > 56", {"schema": SCHEMA})
    metric = SqlMetric(n_test_dbs=4)
    assert metric.score("SELECT name FROM head WHERE age >= 56", ex)["execution_match"] == 0.0
    assert metric.score("SELECT name FROM head WHERE NOT age <= 56", ex)["execution_match"] == 1.0
    broken = Example("2", "q", "SELECT 1", {"schema": "CREATE TABLE (oops"})
    assert metric.score("SELECT 1", broken)["execution_match"] is None


def test_metric_gold_error_gives_none_but_pred_still_judged_executable(db: Path) -> None:
    ex = Example("1", "q", "SELECT nope FROM singer", {"db_path": str(db)})
    scores = SqlMetric().score("SELECT name FROM singer", ex)
    assert scores["execution_match"] is None and scores["executable"] == 1.0
    assert SqlMetric().score("garbage", ex)["executable"] == 0.0


def test_metric_runs_each_gold_once(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = sqlmod.run_query

    def counting(path, sql, **kw):
        calls.append(sql)
        return real(path, sql, **kw)

    monkeypatch.setattr(sqlmod, "run_query", counting)
    metric = SqlMetric()
    ex = Example("1", "q", "SELECT name FROM singer", {"db_path": str(db)})
    metric.score("SELECT name FROM singer", ex)  # base
    metric.score("SELECT country FROM singer", ex)  # tuned
    assert calls.count("SELECT name FROM singer") == 2  # gold once + base once, not gold twice more
    assert len(calls) == 3
