"""Neighbour databases of a real SQLite file, for test-suite execution accuracy on real data.

One real database lets wrong SQL pass by luck: `hours > 300` and `hours >= 300` agree unless
some row has hours = 300. In the spirit of Zhong, Yu & Klein (EMNLP 2020) a prediction must
also agree with the gold on databases derived from the real one:

* every neighbour gets rows planted from the gold's constants and just beside them: a copy of
  a random existing row with the compared column set to the constant, ±1 (and ±0.5, ±0.001
  where the column is not an integer), the previous/next day of a date, LIKE patterns with each `%`
  empty or filled, the string with text before/after it and in the other case, and NULL;
* neighbours 1.. are also perturbed, seeded: rows dropped (children of dropped rows go too,
  so foreign keys stay valid), rows duplicated under a new primary key, and some child rows
  pointed at another parent row (duplicates included, so copies have children too).

`plan_rows` says in which styles the rows are planted. Where the gold's own result on a
neighbour depends on unspecified row order, that neighbour is skipped for that gold
(`execute.Databases.determined`).

The perturbed copies depend only on (database, seed, index), so they are built once per file;
the planted rows depend on the gold too and are inserted in a transaction around each query,
then rolled back. Nothing depends on the prediction, so base and tuned models are judged on
identical data. Like any test suite this can only refute equivalence, never prove it.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from harness.data.schema import Column, Table, quote_identifier, read_tables
from harness.evaluate.sandbox import QueryResult, harden, run_on_connection
from harness.evaluate.sql.schema import DATE, extract_constants, neighbour_values

N_NEIGHBOURS = 4
_PERTURBATIONS = ((), ("drop",), ("duplicate",), ("drop", "duplicate"))  # by neighbour index, cycled
_DROP_SHARE, _DUPLICATE_SHARE = 0.3, 0.3
_ADOPTION_DEPTH = 2


@dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str
    parent: str
    parent_column: str


@dataclass
class Neighbour:
    """One perturbed in-memory copy of the real database and what it knows about its tables."""

    conn: sqlite3.Connection
    tables: list[Table]
    foreign_keys: list[ForeignKey]


def _fits(kind: str, value: object) -> bool:
    """Integer columns get no fractional neighbours: `x > 3` and `x >= 4` are the same there."""
    return not (kind == "integer" and isinstance(value, float) and not value.is_integer())


def read_foreign_keys(conn: sqlite3.Connection, tables: Iterable[Table]) -> list[ForeignKey]:
    keys = []
    primary = {t.name: [c.name for c in t.columns if c.primary_key] for t in tables}
    for table in primary:
        for row in conn.execute(f"PRAGMA foreign_key_list({quote_identifier(table)})").fetchall():
            parent, column, parent_column = row[2], row[3], row[4]
            parent_column = parent_column or next(iter(primary.get(parent, [])), None)
            if parent_column:
                keys.append(ForeignKey(table, column, parent, parent_column))
    return keys


def _copy_to_memory(db_path: str | Path) -> sqlite3.Connection:
    source = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn = sqlite3.connect(":memory:", isolation_level=None, cached_statements=0)
        source.backup(conn)
    finally:
        source.close()
    return conn


def _insert_sql(table: Table) -> str:
    names = ", ".join(quote_identifier(c.name) for c in table.columns)
    return f"INSERT OR IGNORE INTO {quote_identifier(table.name)} ({names}) VALUES ({', '.join('?' * len(table.columns))})"


class _KeyMaker:
    """Fresh primary-key values for copied rows, so a copy is a new row, not a conflict."""

    def __init__(self, conn: sqlite3.Connection, table: Table) -> None:
        self.table = table
        self.next: dict[str, int] = {}
        for c in table.columns:
            if c.primary_key and c.kind == "integer":
                top = conn.execute(f"SELECT max({quote_identifier(c.name)}) FROM {quote_identifier(table.name)}")
                self.next[c.name] = int(top.fetchone()[0] or 0) + 1
        self.copies = 0

    def rekey(self, row: list) -> list:
        self.copies += 1
        for i, c in enumerate(self.table.columns):
            if not c.primary_key:
                continue
            if c.name in self.next:
                row[i], self.next[c.name] = self.next[c.name], self.next[c.name] + 1
            elif row[i] is not None:
                row[i] = f"{row[i]}~{self.copies}"
        return row


def _perturb(conn: sqlite3.Connection, tables: list[Table], keys: list[ForeignKey], how: tuple, rng: random.Random) -> None:
    conn.execute("BEGIN")
    for table in tables:
        name = quote_identifier(table.name)
        try:
            rows = conn.execute(f"SELECT rowid, * FROM {name} ORDER BY rowid").fetchall()
        except sqlite3.OperationalError:  # WITHOUT ROWID table: left as it is
            continue
        if "drop" in how:
            dropped = [(r[0],) for r in rows if rng.random() < _DROP_SHARE]
            conn.executemany(f"DELETE FROM {name} WHERE rowid = ?", dropped)
        if "duplicate" in how:
            maker, sql = _KeyMaker(conn, table), _insert_sql(table)
            for r in rows:
                if rng.random() < _DUPLICATE_SHARE:
                    conn.execute(sql, maker.rekey(list(r[1:])))
    if "duplicate" in how:
        _repoint(conn, keys, rng)
    _drop_orphans(conn, keys)
    conn.execute("COMMIT")


def _repoint(conn: sqlite3.Connection, keys: list[ForeignKey], rng: random.Random) -> None:
    """Point some child rows at other parents (duplicates included), so copies get children too."""
    for k in keys:
        child, column = quote_identifier(k.table), quote_identifier(k.column)
        parent_column = quote_identifier(k.parent_column)
        parents = [r[0] for r in conn.execute(f"SELECT {parent_column} FROM {quote_identifier(k.parent)}")]
        if not parents:
            continue
        try:
            children = [r[0] for r in conn.execute(f"SELECT rowid FROM {child} WHERE {column} IS NOT NULL ORDER BY rowid")]
        except sqlite3.OperationalError:  # WITHOUT ROWID table: its children stay where they are
            continue
        moves = [(rng.choice(parents), rowid) for rowid in children if rng.random() < _DUPLICATE_SHARE]
        conn.executemany(f"UPDATE OR IGNORE {child} SET {column} = ? WHERE rowid = ?", moves)


def _drop_orphans(conn: sqlite3.Connection, keys: list[ForeignKey]) -> None:
    """Delete rows whose foreign key points at a deleted row, until none is left."""
    changed = True
    while changed:
        before = conn.total_changes
        for k in keys:
            child, parent = quote_identifier(k.table), quote_identifier(k.parent)
            column, parent_column = quote_identifier(k.column), quote_identifier(k.parent_column)
            conn.execute(
                f"DELETE FROM {child} WHERE {column} IS NOT NULL AND {column} NOT IN "
                f"(SELECT {parent_column} FROM {parent} WHERE {parent_column} IS NOT NULL)"
            )
        changed = conn.total_changes != before


def build_neighbours(db_path: str | Path, *, n: int = N_NEIGHBOURS, seed: int = 0) -> list[Neighbour]:
    """`n` hardened in-memory copies of the database file, perturbed as the module says."""
    neighbours = []
    for i in range(n):
        conn = _copy_to_memory(db_path)
        tables = read_tables(conn)
        keys = read_foreign_keys(conn, tables)
        how = _PERTURBATIONS[i % len(_PERTURBATIONS)]
        if how:
            _perturb(conn, tables, keys, how, random.Random(f"{seed}:{i}"))
        harden(conn)
        neighbours.append(Neighbour(conn, tables, keys))
    return neighbours


@dataclass(frozen=True)
class PlantedRows:
    """The rows one gold plants in one neighbour: (INSERT statement, values) pairs."""

    rows: tuple[tuple[str, tuple], ...]


def plan_rows(
    neighbour: Neighbour, gold_trees: list[exp.Expr], rng: random.Random, *, exact_first: bool = True
) -> PlantedRows:
    """Rows carrying each of the gold's constants and their neighbours (and NULL), in five styles.

    For each value: a copy of a random row; the same with the table's other compared columns
    set to the gold's own constants (so a row can pass every condition but the one under test),
    which also gets a child row in each table that refers to it; an isolated version of that
    row (fresh text in its free text and GROUP BY columns, and its own copy of each parent
    row, so DISTINCT, GROUP BY/HAVING and `IN (subquery)` see it alone); and two with the
    other number columns below / above all data (so MIN/MAX and ORDER BY ... LIMIT pick the
    row; see `_Planter._extreme_ranks` for which values get them).
    """
    return _Planter(neighbour, gold_trees, rng, exact_first).plan()


class _Planter:
    def __init__(self, neighbour: Neighbour, gold_trees: list[exp.Expr], rng: random.Random, exact_first: bool) -> None:
        self.conn, self.rng, self.rows, self.exact_first = neighbour.conn, rng, [], exact_first
        self.tables = {t.name: t for t in neighbour.tables}
        self.keys = neighbour.foreign_keys
        self.parents = {(k.table, k.column): k for k in self.keys}
        self.values = extract_constants(gold_trees, neighbour_values).by_column
        self.exact = extract_constants(gold_trees, lambda value, like: [value]).by_column
        self.grouped = {c.name.lower() for t in gold_trees for g in t.find_all(exp.Group) for c in g.find_all(exp.Column)}
        self.makers: dict[str, _KeyMaker] = {}
        self.templates: dict[str, list[tuple]] = {}

    def plan(self) -> PlantedRows:
        for table in self.tables.values():
            targets = [(i, c) for i, c in enumerate(table.columns) if self.values.get(c.name.lower())]
            if targets:
                self._plant_table(table, targets)
        return PlantedRows(tuple(self.rows))

    def _templates(self, table: Table) -> list[tuple]:
        if table.name not in self.templates:
            rows = _rows_in_storage_order(self.conn, table)
            self.templates[table.name] = rows or [(None,) * len(table.columns)]
        return self.templates[table.name]

    def _insert(self, table: Table, row: list) -> list:
        """Queue `row` under a fresh primary key; returns the row as inserted."""
        maker = self.makers.setdefault(table.name, _KeyMaker(self.conn, table))
        row = maker.rekey(row)
        self.rows.append((_insert_sql(table), tuple(row)))
        return row

    def _plant_table(self, table: Table, targets: list[tuple[int, Column]]) -> None:
        templates, extremes = self._templates(table), _extremes(self.conn, table)
        for i, column in targets:
            values = [v for v in dict.fromkeys(self.values[column.name.lower()]) if _fits(column.kind, v)]
            values += [None] if column.nullable else []
            key = self.parents.get((table.name, column.name))
            if key is not None:  # a foreign key may only hold values its parent has
                values = [v for v in values if v is None or _parent_has(self.conn, key, v)]
            ranks = self._extreme_ranks(values, self.exact[column.name.lower()])
            for value in values:
                random_row = list(self.rng.choice(templates))
                combined = [
                    self.rng.choice(self.exact[c.name.lower()])
                    if j != i and self.exact.get(c.name.lower()) and (table.name, c.name) not in self.parents
                    else v
                    for j, (c, v) in enumerate(zip(table.columns, random_row))
                ]
                rank = ranks.get(value)
                for style in ("random", "combined", "isolated", *(("low", "high") if rank is not None else ())):
                    row = {"random": random_row, "isolated": self._isolated(table, combined, i)}.get(style, combined)
                    if style in ("low", "high"):
                        row = [_beyond(extremes[j], style, rank) if j != i and j in extremes else v for j, v in enumerate(combined)]
                    row = list(row)
                    row[i] = value
                    inserted = self._insert(table, row)
                    if style == "combined":
                        self._adopt_children(table, inserted)

    def _extreme_ranks(self, values: list, exact: list) -> dict:
        """Which values get the far-out rows, and how far (higher rank: further out).

        With `exact_first` only the gold's own constants do, so MIN/MAX pick exactly the row on
        the boundary (`>= 300` vs `> 300`); otherwise every number beside them does too, in a
        seeded order, so `<= 20` vs `<= 19` can show as well on some neighbours.
        """
        if self.exact_first:
            return {v: 0 for v in values if v in exact}
        numbers = [v for v in values if isinstance(v, (int, float))]
        self.rng.shuffle(numbers)
        return {v: rank for rank, v in enumerate(numbers)}

    def _isolated(self, table: Table, row: list, target: int) -> list:
        out = list(row)
        for j, c in enumerate(table.columns):
            if j == target or c.primary_key:
                continue
            key = self.parents.get((table.name, c.name))
            if key is not None and out[j] is not None and key.parent in self.tables:
                parent = self.tables[key.parent]
                found = self.conn.execute(
                    f"SELECT * FROM {quote_identifier(parent.name)} WHERE {quote_identifier(key.parent_column)} = ?",
                    (out[j],),
                ).fetchone()
                if found is not None:
                    copy = self._insert(parent, list(found))
                    out[j] = copy[[p.name for p in parent.columns].index(key.parent_column)]
            elif (
                c.kind == "text"
                and isinstance(out[j], str)
                and not DATE.match(out[j])
                and (c.name.lower() in self.grouped or not self.exact.get(c.name.lower()))
            ):
                out[j] = f"zz fresh {len(self.rows)}"
        return out

    def _adopt_children(self, table: Table, parent_row: list, depth: int = 1) -> None:
        """Give a planted parent one child in every table that refers to it, and so on down
        `_ADOPTION_DEPTH` levels (a constant on departments reaches assignments via projects)."""
        names = [c.name for c in table.columns]
        for key in self.keys:
            if key.parent != table.name or key.parent_column not in names or key.table not in self.tables:
                continue
            child = self.tables[key.table]
            row = list(self.rng.choice(self._templates(child)))
            row[[c.name for c in child.columns].index(key.column)] = parent_row[names.index(key.parent_column)]
            inserted = self._insert(child, row)
            if depth < _ADOPTION_DEPTH and child is not table:
                self._adopt_children(child, inserted, depth + 1)


def _beyond(bounds: tuple[float, float, float], side: str, rank: int) -> float:
    low, high, spread = bounds
    return low - spread * (1 + rank) if side == "low" else high + spread * (1 + rank)


def _extremes(conn: sqlite3.Connection, table: Table) -> dict[int, tuple[float, float, float]]:
    """For each number column that is no key: a value below and one above everything in it."""
    out = {}
    for j, c in enumerate(table.columns):
        if c.kind in ("integer", "real") and not c.primary_key and not c.name.lower().endswith("_id"):
            column = quote_identifier(c.name)
            low, high = conn.execute(f"SELECT min({column}), max({column}) FROM {quote_identifier(table.name)}").fetchone()
            if isinstance(low, (int, float)) and isinstance(high, (int, float)):
                spread = max(abs(high - low), 1)
                out[j] = (low, high, spread)
    return out


def _rows_in_storage_order(conn: sqlite3.Connection, table: Table) -> list[tuple]:
    name = quote_identifier(table.name)
    try:
        return conn.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall()
    except sqlite3.OperationalError:  # WITHOUT ROWID: ordered by its primary key
        return conn.execute(f"SELECT * FROM {name}").fetchall()


def _parent_has(conn: sqlite3.Connection, key: ForeignKey, value: object) -> bool:
    query = f"SELECT 1 FROM {quote_identifier(key.parent)} WHERE {quote_identifier(key.parent_column)} = ? LIMIT 1"
    return conn.execute(query, (value,)).fetchone() is not None


def run_planted(
    neighbour: Neighbour,
    planted: PlantedRows,
    sql: str,
    *,
    timeout_s: float,
    max_rows: int,
    reverse_unordered: bool = False,
) -> QueryResult:
    """Run untrusted `sql` on the neighbour with the planted rows present, then remove them.

    The rows live in a transaction that is rolled back after the query; the sandbox's authorizer
    keeps the query itself from ending that transaction or writing anything.
    """
    conn = neighbour.conn
    conn.execute("PRAGMA query_only = OFF")
    conn.execute("BEGIN")
    try:
        for statement, values in planted.rows:
            with contextlib.suppress(sqlite3.Error):  # CHECK / NOT NULL / type violations: that row is simply not there
                conn.execute(statement, values)
        conn.execute("PRAGMA query_only = ON")
        return run_on_connection(
            conn, sql, timeout_s=timeout_s, max_rows=max_rows, reverse_unordered=reverse_unordered
        )
    finally:
        conn.execute("ROLLBACK")
        conn.execute("PRAGMA query_only = ON")
