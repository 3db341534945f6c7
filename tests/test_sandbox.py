"""Model-written SQL must never change an evaluation database, hang, or exhaust memory."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from harness.evaluate.sandbox import harden, run_on_connection, run_query

SINGERS = [(1, "Ann", 31), (2, "Bob", 25), (3, "Cy", 40)]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "concert.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", SINGERS)
    conn.execute("CREATE TABLE big (n INTEGER)")
    conn.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(2000)])
    conn.commit()
    conn.close()
    return path


def fingerprint(path: Path) -> tuple[str, list[str]]:
    """Hash of the file's bytes and the directory listing (no -journal / -wal / new files)."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(p.name for p in path.parent.iterdir())


def assert_intact(path: Path, before: tuple[str, list[str]]) -> None:
    assert fingerprint(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT * FROM singer ORDER BY id").fetchall() == SINGERS
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")] == ["big", "singer"]
    conn.close()


ATTACKS = [
    "DROP TABLE singer",
    "DELETE FROM singer",
    "UPDATE singer SET age = 0",
    "INSERT INTO singer VALUES (4, 'Eve', 99)",
    "CREATE TABLE evil (x)",
    "CREATE TEMP TABLE evil (x)",
    "CREATE VIEW evil AS SELECT 1",
    "ALTER TABLE singer ADD COLUMN evil TEXT",
    "ATTACH DATABASE '{dir}/evil.sqlite' AS evil",
    "VACUUM INTO '{dir}/copy.sqlite'",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA query_only = OFF",
    "PRAGMA user_version = 7",
    "SELECT load_extension('{dir}/evil.so')",
    "SELECT 1; DROP TABLE singer",
    "SELECT 1; DELETE FROM singer",
    "BEGIN",
    "REPLACE INTO singer VALUES (1, 'Mallory', 1)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_write_attempts_fail_and_leave_the_file_untouched(db: Path, attack: str) -> None:
    before = fingerprint(db)
    result = run_query(db, attack.format(dir=db.parent))
    assert result.error is not None and result.rows is None
    assert_intact(db, before)


def test_reads_work_and_report_columns(db: Path) -> None:
    result = run_query(db, "SELECT name, age FROM singer WHERE age > 30 ORDER BY id;")
    assert result.ok and result.error is None
    assert result.columns == ("name", "age")
    assert result.rows == (("Ann", 31), ("Cy", 40))


def test_never_ending_recursive_cte_times_out_fast(db: Path) -> None:
    before = fingerprint(db)
    sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    start = time.monotonic()
    result = run_query(db, sql, timeout_s=0.3)
    elapsed = time.monotonic() - start
    assert result.timed_out and result.rows is None and "timed out" in result.error
    assert elapsed < 1.5
    assert_intact(db, before)


def test_cartesian_blow_up_is_cut_by_row_cap(db: Path) -> None:
    result = run_query(db, "SELECT * FROM big a, big b, big c", max_rows=500)
    assert result.truncated and not result.ok
    assert len(result.rows) == 500
    assert result.error is None  # it did execute; only the full answer is missing


def test_cartesian_aggregate_blow_up_times_out(db: Path) -> None:
    start = time.monotonic()
    result = run_query(db, "SELECT count(*) FROM big a, big b, big c", timeout_s=0.3)
    assert result.timed_out
    assert time.monotonic() - start < 1.5


def test_row_cap_exactly_reached_is_not_truncation(db: Path) -> None:
    result = run_query(db, "SELECT n FROM big WHERE n < 100", max_rows=100)
    assert result.ok and len(result.rows) == 100


def test_bad_sql_and_missing_files_return_errors(tmp_path: Path, db: Path) -> None:
    assert "syntax error" in run_query(db, "SELEC name FROM singer").error
    assert run_query(db, "SELECT nope FROM singer").error
    assert run_query(db, "").error  # nothing to run is not a result
    missing = tmp_path / "missing.sqlite"
    assert run_query(missing, "SELECT 1").error
    assert not missing.exists()  # read-only open never creates the file


def test_huge_values_are_refused(db: Path) -> None:
    assert run_query(db, "SELECT zeroblob(500000000)").error


def test_hardened_in_memory_database_refuses_writes() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    harden(conn)
    for attack in ("DELETE FROM t", "DROP TABLE t", "PRAGMA query_only = OFF", "INSERT INTO t VALUES (2)"):
        assert run_on_connection(conn, attack).error
    assert run_on_connection(conn, "SELECT x FROM t").rows == ((1,),)


def test_authorizer_alone_blocks_writes_on_a_writable_connection() -> None:
    """Without read-only mode or query_only, the authorizer by itself still refuses every write."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    attacks = ("DELETE FROM t", "DROP TABLE t", "UPDATE t SET x = 2", "CREATE TABLE u (y)", "PRAGMA user_version = 3")
    for attack in attacks:
        assert "not authorized" in run_on_connection(conn, attack).error
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    conn.execute("INSERT INTO t VALUES (2)")  # the authorizer is removed again after the query
