"""Run model-written SQL against evaluation databases without letting it change or hang them.

Model output is untrusted: a tuned model can emit `DROP TABLE`, a base model can emit a
recursive CTE that never ends. Every query therefore runs behind four independent guards:

1. the database file is opened read-only (`mode=ro`) and `PRAGMA query_only` is set;
2. an authorizer allows only reads (SELECT, READ, recursive CTEs and non-dangerous functions)
   and denies everything else: writes, DDL, ATTACH/DETACH, every PRAGMA, transactions;
3. `sqlite3` executes exactly one statement (`execute`, never `executescript`), extension
   loading is off and ATTACH is limited to zero databases;
4. a wall-clock deadline checked every few VM instructions (`set_progress_handler`) and a row
   cap while fetching bound the time and memory one query may take.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

# Authorizer action codes a read-only query needs; everything else is denied.
_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})

# SQL functions denied even inside a SELECT: extension loading and the FTS3 tokenizer pointer
# trick can run native code; readfile/writefile/edit exist in some builds (the sqlite3 shell).
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})

_PROGRESS_EVERY_N_OPS = 1_000
_MAX_VALUE_BYTES = 10_000_000  # largest string/blob a query may build (zeroblob, printf blow-ups)


@dataclass(frozen=True)
class QueryResult:
    """Outcome of one query. `rows` is None when the query failed or timed out.

    `truncated` means more than `max_rows` rows existed; `rows` then holds the first `max_rows`,
    which is not the full answer, so result comparisons must not treat it as one.
    """

    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] | None = None
    error: str | None = None
    timed_out: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """The query ran to completion and its full result is in `rows`."""
        return self.error is None and not self.truncated


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def _decode_text(raw: bytes) -> str:
    # Some benchmark databases hold invalid UTF-8; decoding leniently keeps gold and pred equal.
    return raw.decode("utf-8", errors="replace")


def harden(conn: sqlite3.Connection) -> None:
    """Put a connection into the read-only, no-extension state every evaluation query runs in.

    Call it once on any connection (file or in-memory) before untrusted SQL touches it.
    """
    conn.execute("PRAGMA query_only = ON")
    if hasattr(conn, "enable_load_extension"):  # absent when Python is built without it
        conn.enable_load_extension(False)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _MAX_VALUE_BYTES)
    conn.text_factory = _decode_text


def open_readonly(db_path: str | Path) -> sqlite3.Connection:
    """Open an existing SQLite file read-only and hardened; raises sqlite3.Error if it cannot."""
    path = Path(db_path).resolve()
    if not path.is_file():
        raise sqlite3.OperationalError(f"no database file at {path}")
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None, cached_statements=0)
    harden(conn)
    return conn


def run_on_connection(
    conn: sqlite3.Connection,
    sql: str,
    *,
    timeout_s: float = 2.0,
    max_rows: int = 10_000,
    reverse_unordered: bool = False,
) -> QueryResult:
    """Run one untrusted statement on a `harden`ed connection. Never raises for bad SQL.

    `reverse_unordered` scans tables backwards where the query leaves the order open (SQLite's
    `reverse_unordered_selects`), to reveal results that depend on unspecified row order.
    """
    conn.execute(f"PRAGMA reverse_unordered_selects = {int(reverse_unordered)}")
    deadline = time.monotonic() + timeout_s
    expired = False

    def past_deadline() -> int:
        nonlocal expired
        expired = time.monotonic() > deadline
        return int(expired)  # non-zero aborts the running statement

    conn.set_authorizer(_authorize)
    conn.set_progress_handler(past_deadline, _PROGRESS_EVERY_N_OPS)
    try:
        cursor = conn.execute(sql)  # sqlite3 refuses more than one statement here
        if cursor.description is None:
            return QueryResult(error="statement returned no result set (not a query)")
        columns = tuple(d[0] for d in cursor.description)
        rows: list[tuple] = []
        while len(rows) <= max_rows:
            batch = cursor.fetchmany(min(1_000, max_rows + 1 - len(rows)))
            if not batch:
                return QueryResult(columns, tuple(rows))
            rows.extend(batch)
        return QueryResult(columns, tuple(rows[:max_rows]), truncated=True)
    except (sqlite3.Error, ValueError, OverflowError, MemoryError) as exc:
        if expired:
            return QueryResult(error=f"timed out after {timeout_s:g}s", timed_out=True)
        return QueryResult(error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.set_progress_handler(None, 0)
        conn.set_authorizer(None)


def run_query(
    db_path: str | Path, sql: str, *, timeout_s: float = 2.0, max_rows: int = 10_000, reverse_unordered: bool = False
) -> QueryResult:
    """Run one untrusted statement on a database file opened read-only. Never raises for bad SQL."""
    try:
        conn = open_readonly(db_path)
    except sqlite3.Error as exc:
        return QueryResult(error=f"{type(exc).__name__}: {exc}")
    try:
        return run_on_connection(conn, sql, timeout_s=timeout_s, max_rows=max_rows, reverse_unordered=reverse_unordered)
    finally:
        conn.close()
