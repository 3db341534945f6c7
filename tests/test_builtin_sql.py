"""The built-in text-to-SQL dataset: executable gold SQL, determinism, coverage, groups, cache."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from harness.data import builtin_sql
from harness.data.builtin_sql import naming


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def pairs(cache: Path) -> list[dict]:
    return builtin_sql.load(seed=0, cache_dir=cache)


@pytest.fixture(scope="module")
def dataset_dir(pairs: list[dict]) -> Path:
    return Path(pairs[0]["db_path"]).parent


def _connect(path: str | Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def test_every_gold_query_runs_non_empty_and_matches_its_stored_result(pairs):
    by_db = defaultdict(list)
    for pair in pairs:
        by_db[pair["db_path"]].append(pair)
    for path, group in by_db.items():
        conn = _connect(path)
        for pair in group:
            rows = [list(r) for r in conn.execute(pair["sql"])]
            assert rows, pair
            assert rows == json.loads(pair["result"]), pair["id"]
        conn.close()


def test_pairs_have_exactly_the_documented_fields(pairs):
    ids = [p["id"] for p in pairs]
    assert len(ids) == len(set(ids))
    for pair in pairs:
        assert tuple(pair) == builtin_sql.FIELDS
        assert pair["category"] in builtin_sql.CATEGORIES
        assert pair["difficulty"] in builtin_sql.DIFFICULTIES
        assert Path(pair["db_path"]).is_absolute() and Path(pair["db_path"]).is_file()
        assert pair["schema"].startswith("CREATE TABLE") and pair["schema_brief"]
        assert pair["id"].startswith(pair["db_id"] + "-")


def test_schema_fields_describe_the_actual_database(pairs):
    seen = {}
    for pair in pairs:
        seen.setdefault(pair["db_id"], pair)
    for pair in seen.values():
        conn = _connect(pair["db_path"])
        tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        conn.close()
        assert [line.split("(")[0] for line in pair["schema_brief"].splitlines()] == tables
        assert all(f"CREATE TABLE {t} (" in pair["schema"] for t in tables)


def test_coverage_of_categories_difficulties_and_databases(pairs):
    assert len(pairs) >= 3000
    assert len({p["db_id"] for p in pairs}) == len(naming.DATABASES) >= 40
    categories = Counter(p["category"] for p in pairs)
    assert set(categories) == set(builtin_sql.CATEGORIES)
    assert min(categories.values()) >= 100, categories
    share = {d: n / len(pairs) for d, n in Counter(p["difficulty"] for p in pairs).items()}
    assert set(share) == set(builtin_sql.DIFFICULTIES)
    assert 0.3 <= share["easy"] <= 0.5 and 0.3 <= share["medium"] <= 0.5, share
    assert 0.1 <= share["hard"] <= 0.3, share


_SQL_WORDS = frozenset([
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "BETWEEN", "ORDER", "GROUP", "BY",
    "HAVING", "LIMIT", "JOIN", "ON", "AS", "DISTINCT", "COUNT", "SUM", "AVG", "MIN", "MAX", "IS", "NULL",
    "ASC", "DESC"])


def test_every_name_in_a_gold_query_is_in_the_schema_its_prompt_shows(pairs):
    """The model can only read names off the prompt if the prompt's schema has them all."""
    for pair in pairs:
        code = re.sub(r"'(?:[^']|'')*'", "''", pair["sql"])
        aliases = set(re.findall(r" AS (\w+)", code))
        names = {w for w in re.findall(r"[A-Za-z_]\w*", code) if w not in _SQL_WORDS | aliases}
        shown = set(re.findall(r"\w+", pair["schema_brief"]))
        assert names <= shown, (pair["id"], names - shown)


def test_databases_differ_in_naming_so_names_must_be_read(pairs):
    briefs = {p["db_id"]: p["schema_brief"] for p in pairs}
    assert len(set(briefs.values())) == len(briefs)  # no two databases share a schema
    tables = {line.split("(")[0] for brief in briefs.values() for line in brief.splitlines()}
    assert {"customers", "Customer", "tbl_customers", "cust", "Clients"} <= tables
    # questions keep the domain's nouns, so "orders" must be mapped onto the schema's own name
    assert any("orders" in p["question"] and "FROM Purchases" in p["sql"] for p in pairs)


def test_same_sql_on_same_database_iff_same_group(pairs):
    group_of: dict[tuple[str, str], str] = {}
    query_of: dict[str, tuple[str, str]] = {}
    for pair in pairs:
        key = (pair["db_id"], " ".join(pair["sql"].split()))
        assert group_of.setdefault(key, pair["group"]) == pair["group"]
        assert query_of.setdefault(pair["group"], key) == key
    assert any(n > 1 for n in Counter(p["group"] for p in pairs).values())  # paraphrases exist


def test_a_question_never_has_two_different_gold_queries(pairs):
    sql_of: dict[tuple[str, str], str] = {}
    for pair in pairs:
        assert sql_of.setdefault((pair["db_id"], pair["question"]), pair["sql"]) == pair["sql"]


def test_phrasings_vary_within_every_category(pairs):
    openings = defaultdict(set)
    for pair in pairs:
        openings[pair["category"]].add(" ".join(pair["question"].split()[:2]))
    for category, starts in openings.items():
        assert len(starts) >= 4, (category, starts)


_LOWER_KEYWORDS = re.compile(
    r"\b(select|from|where|and|or|not|in|like|between|order|group|by|having|limit|join|on|as|"
    r"distinct|count|sum|avg|min|max|is|null|asc|desc)\b")


def test_gold_sql_is_in_one_canonical_style(pairs):
    for pair in pairs:
        sql = pair["sql"]
        assert sql.startswith("SELECT ") and sql.endswith(";") and sql.count(";") == 1, sql
        assert "  " not in sql and "\n" not in sql and '"' not in sql, sql
        code = re.sub(r"'(?:[^']|'')*'", "''", sql)  # keywords only count outside literals
        assert not _LOWER_KEYWORDS.search(code), sql
        assert (" AS " in code) == (" JOIN " in code), sql  # aliases only where joins need them
    lengths = sorted(len(re.findall(r"\w+|[^\w\s]", p["sql"])) for p in pairs)
    assert 10 <= lengths[len(lengths) // 2] <= 40, lengths[len(lengths) // 2]


def test_tables_are_populated_and_foreign_keys_hold(dataset_dir):
    for db in naming.DATABASES:
        conn = _connect(dataset_dir / f"{db.db_id}.sqlite")
        assert 3 <= len(db.tables) <= 5
        for table in db.tables:
            (n,) = conn.execute(f"SELECT COUNT(*) FROM {table.name}").fetchone()
            assert n >= 12, (db.db_id, table.name, n)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert any(c.ref for t in db.tables for c in t.columns)
        conn.close()


def test_every_database_has_nulls_dates_text_and_numbers(dataset_dir):
    for db in naming.DATABASES:
        conn = _connect(dataset_dir / f"{db.db_id}.sqlite")
        nulls = sum(conn.execute(f"SELECT COUNT(*) FROM {t.name} WHERE {c.name} IS NULL").fetchone()[0]
                    for t in db.tables for c in t.columns if c.nullable)
        assert nulls > 0, db.db_id
        for t in db.tables:
            for c in t.with_role("date"):
                bad = conn.execute(f"SELECT COUNT(*) FROM {t.name} WHERE {c.name} IS NOT NULL "
                                   f"AND date({c.name}) IS NOT {c.name}").fetchone()[0]
                assert bad == 0, (db.db_id, t.name, c.name)
        roles = {c.role for t in db.tables for c in t.columns}
        assert {"date", "cat", "fk"} <= roles and roles & {"num", "year"}, db.db_id
        conn.close()


def test_same_seed_gives_identical_bytes_and_another_seed_other_data(dataset_dir, tmp_path):
    builtin_sql.build(0, tmp_path / "again")
    builtin_sql.build(1, tmp_path / "other")
    names = sorted(p.name for p in dataset_dir.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "again").iterdir())
    for name in names:
        assert (dataset_dir / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
        assert (dataset_dir / name).read_bytes() != (tmp_path / "other" / name).read_bytes(), name


def test_load_reuses_the_cache_instead_of_rebuilding(pairs, cache, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("cache was rebuilt")

    monkeypatch.setattr(builtin_sql, "build", fail)
    assert builtin_sql.load(seed=0, cache_dir=cache) == pairs
    assert [p.name for p in cache.iterdir()] == ["v2-seed0"]  # no temp dirs left behind


def test_losing_a_build_race_keeps_the_winners_cache(tmp_path, monkeypatch):
    def tiny_build(seed, out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        record = dict.fromkeys(builtin_sql.FIELDS, "x") | {"db_path": "x.sqlite"}
        (out_dir / builtin_sql.PAIRS_FILE).write_text(json.dumps(record) + "\n")

    def racing_build(seed, out_dir):
        tiny_build(seed, out_dir)
        tiny_build(seed, tmp_path / "v2-seed7")  # another process finishes first

    monkeypatch.setattr(builtin_sql, "build", racing_build)
    loaded = builtin_sql.load(seed=7, cache_dir=tmp_path)
    assert len(loaded) == 1 and loaded[0]["db_path"] == str(tmp_path / "v2-seed7" / "x.sqlite")
    assert [p.name for p in tmp_path.iterdir()] == ["v2-seed7"]


def test_a_failed_build_leaves_no_cache(tmp_path, monkeypatch):
    def broken_build(seed, out_dir):
        (out_dir / "bank.sqlite").write_bytes(b"half")
        raise RuntimeError("crash")

    monkeypatch.setattr(builtin_sql, "build", broken_build)
    with pytest.raises(RuntimeError):
        builtin_sql.load(seed=3, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_default_cache_dir_follows_harness_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    assert builtin_sql.default_cache_root() == tmp_path / "builtin_sql"
    monkeypatch.delenv("HARNESS_CACHE")
    assert builtin_sql.default_cache_root() == Path(os.path.expanduser("~/.cache/harness/builtin_sql"))
