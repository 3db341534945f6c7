"""Distilled test suites for schema-only examples (Zhong, Yu & Klein, EMNLP 2020).

When a row gives only CREATE TABLE text, execution accuracy needs databases we make. One random
database lets wrong SQL pass by luck (`x > 5` and `x >= 5` agree unless some row has x = 5), and
a gold that returns nothing there agrees with every other query that returns nothing. So, per
(schema, gold, seed):

1. **Candidates.** Many small databases are generated. Foreign keys (declared, or implied by the
   gold's join conditions) take their parent's key values, so joins find partners. Values come
   from the gold's constants and the values just beside them (`schema.neighbour_values`), NULL,
   duplicates and small random pools; row counts, pool sizes and NULL rates vary from candidate
   to candidate, and some candidates group rows in blocks sized just below, at and above the
   gold's COUNT thresholds, so GROUP BY/HAVING and ORDER BY ... LIMIT have something to decide.
2. **Informative only.** A candidate on which the gold's result is empty, all NULL, a lone row of
   zeros (COUNT = 0) or not fixed by the query (`determined.py`: LIMIT over ties, order left
   open) is discarded.
3. **Distilled.** The gold's single-edit mutants (`mutants.py`) run on every kept candidate; a
   greedy set cover picks the fewest candidates that tell every mutant any candidate can tell
   from the gold, then the candidates whose gold results differ most, up to `MIN_SUITE`.

When no candidate is informative the example is *uninformative*: its execution verdicts are None
and it is counted, never passed because both sides returned nothing. A suite depends only on
(schema, gold, seed), never on a prediction, so base and tuned are judged on identical data;
`SuiteCache` keeps it on disk so trials and re-runs share it. Like any test suite it can only
refute equivalence, never prove it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from harness.data.schema import Column, Table, quote_identifier
from harness.evaluate.sandbox import QueryResult, harden, run_on_connection
from harness.evaluate.sql.compare import has_top_level_order_by, results_match
from harness.evaluate.sql.determined import result_is_determined
from harness.evaluate.sql.extract import split_statements
from harness.evaluate.sql.mutants import mutants
from harness.evaluate.sql.neighbours import ForeignKey, read_foreign_keys
from harness.evaluate.sql.parse import parse_with_values
from harness.evaluate.sql.schema import create_schema, extract_constants, neighbour_values
from harness.runs import write_atomic

VERSION = 1  # bump when generation or distillation changes: cached suites of another version are rebuilt
MAX_CANDIDATES = 256
MIN_INFORMATIVE = 8  # informative candidates to see before stopping once every mutant is told apart
ENOUGH_INFORMATIVE = 32  # informative candidates after which mutants no candidate told apart are given up
MIN_SUITE = 4
_MAX_ROWS = 160
_MAX_GROUPS = 12  # blocks in one candidate when the gold keeps its top n groups
_ODD_CELL_SHARE = 0.2
_FAR = "999999999"  # a probe row's measures start so: beyond every drawn value, as numbers and as text  # in a block candidate, cells that leave the column's one value
_WORDS = ("alpha", "beta", "gamma", "delta", "Alpha", "omega", "x", "New York")


@dataclass(frozen=True)
class Profile:
    """How one candidate is drawn."""

    rows: tuple[int, int]  # rows per table, drawn uniformly
    pool: int  # random values per column besides the gold's constants
    null_share: float
    constant_share: float  # chance each of a column's gold-derived values is in this candidate's pool
    exact_share: float  # chance a cell takes one of the gold's own constants for its column
    blocks: bool = False  # rows grouped in blocks sized around the gold's COUNT thresholds
    spread: bool = False  # values past the pool rarely repeat: more rows than a LIMIT, orderings without ties
    narrow: bool = False  # random numbers from 1-3, so an average is often one of the values (`x < avg(x)`)
    probes: bool = False  # rows that meet the gold's conditions but one (`_Generator._probe_rows`)


_PROFILES = (
    Profile((1, 4), pool=1, null_share=0.0, constant_share=0.6, exact_share=0.5),
    Profile((3, 8), pool=3, null_share=0.1, constant_share=0.5, exact_share=0.3, narrow=True, probes=True),
    Profile((2, 6), pool=3, null_share=0.15, constant_share=0.8, exact_share=0.5, blocks=True),
    Profile((6, 16), pool=4, null_share=0.2, constant_share=0.4, exact_share=0.2),
    Profile((8, 24), pool=2, null_share=0.0, constant_share=0.5, exact_share=0.6, spread=True, probes=True),
)


@dataclass(frozen=True)
class Suite:
    """The distilled databases of one (schema, gold, seed), as the rows of each table."""

    databases: tuple[tuple[tuple[str, tuple[tuple, ...]], ...], ...]  # per database: (table, rows)
    candidates: int  # candidates generated
    informative: int  # of those, the ones the gold was informative on
    mutants: int
    told_apart: int  # mutants at least one suite database tells from the gold

    @property
    def judges(self) -> bool:
        """False when the gold was uninformative on every candidate: nothing can be judged."""
        return bool(self.databases)

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, **self.__dict__})

    @classmethod
    def from_json(cls, text: str) -> Suite | None:
        data = json.loads(text)
        if data.pop("version", None) != VERSION:
            return None
        databases = tuple(tuple((table, tuple(map(tuple, rows))) for table, rows in db) for db in data.pop("databases"))
        return cls(databases=databases, **data)


class SuiteCache:
    """Suites on disk, one JSON file per (schema, gold, seed); unreadable or stale files are rebuilt."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, schema: str, gold: str, seed: int) -> Path:
        key = hashlib.sha256(json.dumps([VERSION, schema, gold, seed]).encode()).hexdigest()[:32]
        return self.folder / f"{key}.json"

    def load(self, schema: str, gold: str, seed: int) -> Suite | None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            return Suite.from_json(self.path(schema, gold, seed).read_text(encoding="utf-8"))
        return None

    def save(self, schema: str, gold: str, seed: int, suite: Suite) -> None:
        with contextlib.suppress(OSError):  # a read-only cache only costs a rebuild next time
            write_atomic(self.path(schema, gold, seed), suite.to_json().encode())


def informative(result: QueryResult) -> bool:
    """Whether a gold result can tell queries apart: some row, some value, not a lone row of zeros."""
    if not result.ok or not result.rows:
        return False
    values = [v for row in result.rows for v in row]
    if all(v is None for v in values):
        return False
    return not (len(result.rows) == 1 and all(v is None or (isinstance(v, (int, float)) and v == 0) for v in values))


def distil(schema: str, gold: str, *, seed: int = 0, timeout_s: float = 2.0, max_rows: int = 10_000) -> Suite:
    """The distilled suite for `schema` and `gold` (`;`-separated alternatives: the first that runs
    on a candidate decides what is informative there; every alternative's mutants are told apart).
    Raises SchemaError."""
    golds = split_statements(gold)
    gold_trees = [t for t in map(parse_with_values, golds) if t is not None]
    generator = _Generator(schema, gold_trees)
    wrong = list(dict.fromkeys(m.sql for tree in gold_trees for m in mutants(tree, generator.tables)))
    kept: list[_Candidate] = []
    tried = 0
    for index in range(MAX_CANDIDATES):
        tried += 1
        rng = random.Random(f"{seed}:{index}:{gold}")
        conn = generator.database(_PROFILES[index % len(_PROFILES)], rng)
        try:
            candidate = _judge(conn, golds, wrong, timeout_s, max_rows)
        finally:
            conn.close()
        if candidate is None:
            continue
        kept.append(candidate)
        told = set().union(*(c.told_apart for c in kept))
        if (len(kept) >= MIN_INFORMATIVE and len(told) == len(wrong)) or len(kept) >= ENOUGH_INFORMATIVE:
            break
    chosen = _cover(kept)
    return Suite(
        databases=tuple(c.rows for c in chosen),
        candidates=tried,
        informative=len(kept),
        mutants=len(wrong),
        told_apart=len(set().union(*(c.told_apart for c in chosen))),
    )


def open_suite(schema: str, suite: Suite) -> list[sqlite3.Connection]:
    """The suite's databases, hardened; for a suite that judges nothing, one empty database (so
    an answer can still be run for its error class)."""
    out = []
    for database in suite.databases or ((),):
        conn, _ = create_schema(schema)
        conn.execute("BEGIN")
        for table, rows in database:
            if rows:
                conn.executemany(_insert_sql(table, len(rows[0])), rows)
        conn.execute("COMMIT")
        harden(conn)
        out.append(conn)
    return out


@dataclass(frozen=True)
class _ColumnDraw:
    """Where one column's values come from in one candidate."""

    column: Column
    pool: list  # shuffled
    exact: list  # the gold's own constants for this column
    derived: list  # those constants and the values beside them
    foreign: bool  # a declared foreign key: values are the parent's keys
    linked: bool  # equated with another column by the gold's join: values from a shared pool
    grouping: bool  # rows of a block share its value

    @property
    def counter(self) -> bool:
        """An integer primary key no foreign key fills: numbered 1, 2, ... so keys stay unique."""
        return bool(self.column.primary_key) and self.column.kind == "integer" and not self.foreign


@dataclass(frozen=True)
class _Candidate:
    rows: tuple[tuple[str, tuple[tuple, ...]], ...]
    gold_result: QueryResult
    told_apart: frozenset[int]  # indices of the mutants this database tells from the gold


def _judge(
    conn: sqlite3.Connection, golds: list[str], wrong: list[str], timeout_s: float, max_rows: int
) -> _Candidate | None:
    """The candidate with what it tells apart, or None when the gold is not informative on it."""
    harden(conn)
    run = functools.partial(run_on_connection, conn, timeout_s=timeout_s, max_rows=max_rows)
    gold, result = next(((g, r) for g in golds if (r := run(g)).ok), (None, None))
    if gold is None or result is None:
        return None
    if not (informative(result) and result_is_determined(gold, result, run)):
        return None
    ordered = has_top_level_order_by(gold)
    told = frozenset(i for i, sql in enumerate(wrong) if not results_match(result, run(sql), ordered=ordered))
    return _Candidate(_dump(conn), result, told)


def _cover(candidates: list[_Candidate]) -> list[_Candidate]:
    """Greedy set cover of the mutants, then the most varied gold results up to MIN_SUITE."""
    chosen: list[_Candidate] = []
    left = set().union(*(c.told_apart for c in candidates))
    while left:
        best = max(candidates, key=lambda c: len(c.told_apart & left))
        chosen.append(best)
        left -= best.told_apart
    for candidate in sorted(candidates, key=lambda c: -len(c.gold_result.rows)):
        if len(chosen) >= MIN_SUITE:
            break
        if all(candidate.gold_result.rows != c.gold_result.rows for c in chosen):
            chosen.append(candidate)
    for candidate in candidates:
        if len(chosen) >= MIN_SUITE:
            break
        if candidate not in chosen:
            chosen.append(candidate)
    return chosen


def _dump(conn: sqlite3.Connection) -> tuple[tuple[str, tuple[tuple, ...]], ...]:
    """Every table's rows as stored (after SQLite's type affinity), in insertion order."""
    tables = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    return tuple((name, tuple(conn.execute(f"SELECT * FROM {quote_identifier(name)}").fetchall())) for name in tables)


def _insert_sql(table: str, width: int) -> str:
    return f"INSERT INTO {quote_identifier(table)} VALUES ({', '.join('?' * width)})"


def _random_value(kind: str, rng: random.Random, *, wide: bool = False) -> str | int | float:
    """A value of the kind; `wide` ones rarely repeat (for orderings without ties)."""
    if kind == "integer":
        return rng.randint(0, 1000 if wide else 20)
    if kind == "real":
        return round(rng.uniform(0, 100), 3 if wide else rng.choice((0, 1, 2)))
    if wide and kind == "text":
        return f"{rng.choice(_WORDS)} {rng.randint(0, 10**6)}"
    if kind == "date":
        return f"{rng.randint(1990, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "bool":
        return rng.randint(0, 1)
    return rng.choice(_WORDS)


def _fits(kind: str, value: object) -> bool:
    """Whether a gold-derived value is plausible in a column of this kind."""
    if value is None or kind in ("text", "date"):
        return True  # SQLite stores a number in a text column as text, as the dataset would
    if isinstance(value, str):
        return False
    return not (kind == "integer" and isinstance(value, float) and not value.is_integer())


class _Generator:
    """Draws candidate databases for one schema and gold (see the module docstring)."""

    def __init__(self, schema: str, gold_trees: Sequence[exp.Expr]) -> None:
        self.schema = schema
        conn, self.tables = create_schema(schema)
        try:
            declared = read_foreign_keys(conn, self.tables)
        finally:
            conn.close()
        constants = extract_constants(gold_trees, neighbour_values)
        self.values = constants.by_column
        self.exact = extract_constants(gold_trees, lambda value, like: [value]).by_column
        self.loose = list(dict.fromkeys(v for v in constants.loose if v is not None))
        self.parents = {(k.table, k.column): k for k in declared}
        self.links = _join_links(gold_trees, self.tables, self.parents)
        self.columns = {(t.name, c.name): c for t in self.tables for c in t.columns}
        self.grouped = {
            c.name.lower() for t in gold_trees for g in t.find_all(exp.Group) for c in g.find_all(exp.Column)
        }
        self.thresholds = sorted(_count_thresholds(gold_trees))
        self.limit = min(_MAX_GROUPS, max(_limits(gold_trees), default=1))
        self.order = _parents_first(self.tables, self.parents)
        used = {t.name.lower() for tree in gold_trees for t in tree.find_all(exp.Table)}
        joined = _joined_keys(gold_trees)
        self.numeric = _numeric_columns(gold_trees)
        # Parents the gold joins to a child: a few rows each, the child's rows form the groups.
        self.referenced = {k.parent for k in declared if k.table.lower() in used and k.parent.lower() in used} | {
            t.name
            for t in self.tables
            for c in t.columns
            if c.primary_key and (t.name.lower(), c.name.lower()) in joined
        }

    def database(self, profile: Profile, rng: random.Random) -> sqlite3.Connection:
        conn, _ = create_schema(self.schema)
        keys: dict[tuple[str, str], list] = {}  # (table, column) -> values present, for children
        link_pools = {group: self._link_pool(group, profile, rng) for group in set(self.links.values())}
        conn.execute("BEGIN")
        for table in self.order:
            rows = self._rows(table, profile, rng, keys, link_pools)
            sql = _insert_sql(table.name, len(table.columns))
            present = []
            for row in rows:
                with contextlib.suppress(sqlite3.Error):  # CHECK / NOT NULL / UNIQUE / STRICT: that row is not there
                    conn.execute(sql, row)
                    present.append(row)
            for j, column in enumerate(table.columns):
                keys[(table.name, column.name)] = [r[j] for r in present if r[j] is not None]
        conn.execute("COMMIT")
        return conn

    def _link_pool(self, group: int, profile: Profile, rng: random.Random) -> list:
        columns = [self.columns[key] for key, g in self.links.items() if g == group]
        kinds = {c.kind for c in columns}
        constants = [v for c in columns for v in self.exact.get(c.name.lower(), [])]
        if kinds <= {"integer", "real", "bool"}:
            pool = list(range(1, 2 + profile.pool * 2))
        else:
            pool = rng.sample(_WORDS, min(len(_WORDS), 1 + profile.pool))
        return list(dict.fromkeys(constants + pool))

    def _column_pool(self, column: Column, profile: Profile, rng: random.Random) -> list:
        derived = [v for v in dict.fromkeys(self.values.get(column.name.lower(), [])) if _fits(column.kind, v)]
        chosen = [v for v in derived if rng.random() < profile.constant_share]
        loose = [v for v in self.loose if _fits(column.kind, v) and rng.random() < 0.15]
        kind = self._value_kind(column)
        if profile.narrow and kind in ("integer", "real"):
            return list(dict.fromkeys(chosen + loose + rng.sample((1, 2, 3), min(3, profile.pool))))
        return list(dict.fromkeys(chosen + loose + [_random_value(kind, rng) for _ in range(profile.pool)]))

    def _value_kind(self, column: Column) -> str:
        """The column's kind, except that a text column the gold uses as a number gets numbers
        (sql-create-context declares every column VARCHAR, `age < (SELECT avg(age) ...)` included)."""
        return "integer" if column.kind == "text" and column.name.lower() in self.numeric else column.kind

    def _rows(self, table: Table, profile: Profile, rng: random.Random, keys: dict, link_pools: dict) -> list[list]:
        """One table's rows. In a block profile a referenced table gets a few rows with distinct
        values in its grouped columns, and any other table gets blocks of rows (sizes from
        `_blocks`) that share one value per block in its grouping columns (foreign keys, join
        columns, GROUP BY columns) and one value per column elsewhere, so group sizes are exact."""
        referenced = profile.blocks and table.name in self.referenced
        own_groups = any(c.name.lower() in self.grouped for c in table.columns)  # else its keys form the groups
        columns = []
        for column in table.columns:
            key = (table.name, column.name)
            parent = self.parents.get(key)
            if parent is not None:
                pool = keys.get((parent.parent, parent.parent_column), [])
            elif key in self.links:
                pool = link_pools[self.links[key]]
            else:
                pool = self._column_pool(column, profile, rng)
            grouping = column.name.lower() in self.grouped or (
                (parent is not None or key in self.links) and not own_groups
            )
            exact = [v for v in dict.fromkeys(self.exact.get(column.name.lower(), [])) if _fits(column.kind, v)]
            derived = [v for v in dict.fromkeys(self.values.get(column.name.lower(), [])) if _fits(column.kind, v)]
            columns.append(
                _ColumnDraw(
                    column, rng.sample(pool, len(pool)), exact, derived, parent is not None, key in self.links, grouping
                )
            )
        grouped_here = profile.blocks and not referenced and any(d.grouping for d in columns)
        blocks = self._blocks(rng) if grouped_here else None  # only tables that form groups grow to block size
        n = (
            min(_MAX_ROWS, sum(blocks))
            if blocks
            else rng.randint(2, self.limit + 3)
            if referenced
            else rng.randint(*profile.rows)
        )
        if blocks:
            return self._block_rows(columns, blocks, n, profile, rng)
        rows = [[self._cell(draw, i, profile, rng, distinct=referenced) for draw in columns] for i in range(n)]
        if profile.probes and not referenced:
            rows += self._probe_rows(columns, n, profile, rng)
        return rows

    def _is_measure(self, draw: _ColumnDraw) -> bool:
        """A number column that is no key: what MIN/MAX, SUM and ORDER BY usually read."""
        column = draw.column
        numeric = self._value_kind(column) in ("integer", "real")
        return numeric and not (column.primary_key or draw.foreign or draw.linked)

    def _probe_rows(self, columns: list[_ColumnDraw], start: int, profile: Profile, rng: random.Random) -> list[list]:
        """Rows that meet the gold's conditions but one: every column the gold compares takes one
        of its own constants, except one column at a time, which takes each value beside its
        constant (`'Lyonzz'` for `= 'Lyon'`, 7 for `> 6`); plus a few rows meeting all of them at
        once. Some are doubled, so DISTINCT and MIN/MAX over the qualifying rows have a choice."""
        constrained = [j for j, d in enumerate(columns) if d.exact and not d.foreign]
        if not constrained:
            return []
        overrides = [{} for _ in range(rng.randint(1, 3))]
        for j in constrained:
            overrides += [{j: v} for v in columns[j].derived if v not in columns[j].exact]
        far = [j for j, d in enumerate(columns) if self._is_measure(d) and j not in constrained]
        rows = []
        for override in overrides:
            i = start + len(rows)
            row = [self._cell(d, i, profile, rng, distinct=False) for d in columns]
            for j in constrained:
                row[j] = override.get(j, rng.choice(columns[j].exact))
            side = rng.choice((-1, 0, 1))  # below everything, as drawn, above everything
            for j in far if side else ():
                row[j] = side * int(f"{_FAR}{i}")
            rows.append(row)
            if rng.random() < 0.3:  # the same row again under a new key
                rows.append([start + len(rows) + 1 if d.counter else v for d, v in zip(columns, row)])
        return rows

    def _block_rows(
        self, columns: list[_ColumnDraw], blocks: list[int], n: int, profile: Profile, rng: random.Random
    ) -> list[list]:
        fixed = [
            rng.choice(d.derived) if d.derived else self._cell(d, n, profile, rng, distinct=False) for d in columns
        ]
        per_block = [rng.sample(d.pool, len(d.pool)) if d.grouping and d.pool else None for d in columns]
        rows = []
        for i in range(n):
            block = _block_of(i, blocks)
            row = []
            for d, values, value in zip(columns, per_block, fixed):
                if d.counter:
                    row.append(i + 1)
                elif values:
                    row.append(values[block % len(values)])
                else:  # mostly one value, so blocks keep their sizes; now and then another beside it
                    row.append(
                        value if rng.random() > _ODD_CELL_SHARE else self._cell(d, i, profile, rng, distinct=False)
                    )
            rows.append(row)
        return rows

    def _cell(self, draw: _ColumnDraw, i: int, profile: Profile, rng: random.Random, *, distinct: bool) -> object:
        """Row `i`'s value: a counter for a key; else NULL, one of the gold's own constants (so one
        row can meet every condition at once), the pool's values each once, then any of them."""
        column, pool = draw.column, draw.pool
        if draw.counter:
            return i + 1
        if column.nullable and not column.primary_key and not distinct and rng.random() < profile.null_share:
            return None
        if draw.exact and rng.random() < profile.exact_share:
            return rng.choice(draw.exact)
        if not pool:
            return None if column.nullable else _random_value(self._value_kind(column), rng)
        if i < len(pool) and not draw.foreign:
            return pool[i]
        if distinct and column.kind == "text":
            return f"zz unique {i}"
        if profile.spread and not draw.foreign and not draw.linked:
            return _random_value(self._value_kind(column), rng, wide=True)
        return rng.choice(pool)

    def _blocks(self, rng: random.Random) -> list[int]:
        """Distinct group sizes: just below, at and above a COUNT threshold of the gold, or, for a
        gold that keeps the top groups (`ORDER BY count(*) DESC LIMIT n`), more groups than n."""
        if self.thresholds:
            t = rng.choice(self.thresholds)
            sizes = [s for s in (t - 1, t, t + 1, t + 2) if s >= 1]
            return rng.sample(sizes, min(len(sizes), rng.randint(2, 3)))
        groups = rng.randint(2, self.limit + 2)
        return rng.sample(range(1, groups + 3), groups)


def _limits(trees: Sequence[exp.Expr]) -> list[int]:
    """The gold's whole-number LIMITs."""
    return [
        int(limit.expression.this)
        for tree in trees
        for limit in tree.find_all(exp.Limit)
        if isinstance(limit.expression, exp.Literal) and limit.expression.is_int
    ]


def _block_of(i: int, blocks: list[int]) -> int:
    for index, size in enumerate(blocks):
        if i < size:
            return index
        i -= size
    return len(blocks) - 1


_NUMERIC_USES = (exp.Avg, exp.Sum, exp.Min, exp.Max, exp.Add, exp.Sub, exp.Mul, exp.Div)


def _numeric_columns(trees: Sequence[exp.Expr]) -> set[str]:
    """Names of columns the gold computes with or compares with a number."""
    out = set()
    for tree in trees:
        for column in tree.find_all(exp.Column):
            parent = column.parent
            if isinstance(parent, _NUMERIC_USES):
                out.add(column.name.lower())
            elif isinstance(parent, (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ, exp.Between)):
                others = [a for a in parent.args.values() if isinstance(a, exp.Expr) and a is not column]
                if any(isinstance(o, exp.Literal) and not o.is_string for o in others):
                    out.add(column.name.lower())
    return out


def _count_thresholds(trees: Sequence[exp.Expr]) -> set[int]:
    """Whole numbers a COUNT is compared with (`HAVING count(*) > 10` -> 10)."""
    out = set()
    for tree in trees:
        for count in tree.find_all(exp.Count):
            parent = count.parent
            other = parent.expression if parent is not None and parent.this is count else getattr(parent, "this", None)
            if isinstance(other, exp.Literal) and other.is_int and 0 < int(other.this) < _MAX_ROWS // 2 - 2:
                out.add(int(other.this))
    return out


def _join_links(
    trees: Sequence[exp.Expr], tables: list[Table], parents: dict[tuple[str, str], ForeignKey]
) -> dict[tuple[str, str], int]:
    """Columns the gold equates with each other (`T1.id = T2.owner_id`) and that no declared
    foreign key ties already, grouped: columns of one group draw from one shared pool."""
    by_name: dict[str, list[tuple[str, Column]]] = {}
    for table in tables:
        for column in table.columns:
            if (table.name, column.name) not in parents:
                by_name.setdefault(column.name.lower(), []).append((table.name, column))
    groups: list[set[str]] = []
    for left, right in _equated_columns(trees):
        names = {left.name.lower(), right.name.lower()}
        if len(names) == 1 and len(by_name.get(next(iter(names)), [])) < 2:
            continue
        merged = [g for g in groups if g & names]
        for g in merged:
            groups.remove(g)
        groups.append(names.union(*merged))
    links = {}
    for index, names in enumerate(groups):
        for name in names:
            for table, column in by_name.get(name, []):
                if not (column.primary_key and column.kind == "integer"):
                    links[(table, column.name)] = index
    return links


def _equated_columns(trees: Sequence[exp.Expr]) -> list[tuple[exp.Column, exp.Column]]:
    """Pairs of columns the gold sets equal (join conditions)."""
    return [
        (eq.this, eq.expression)
        for tree in trees
        for eq in tree.find_all(exp.EQ)
        if isinstance(eq.this, exp.Column) and isinstance(eq.expression, exp.Column)
    ]


def _joined_keys(trees: Sequence[exp.Expr]) -> set[tuple[str, str]]:
    """(table, column) of each column the gold's join conditions equate, aliases resolved; a bare
    column is taken to belong to every table of its query."""
    out = set()
    for tree in trees:
        for left, right in _equated_columns([tree]):
            select = left.find_ancestor(exp.Select)
            tables = list(select.find_all(exp.Table)) if select is not None else []
            names = {t.alias_or_name.lower(): t.name.lower() for t in tables}
            for column in (left, right):
                owners = [names[column.table.lower()]] if column.table.lower() in names else list(names.values())
                out.update((owner, column.name.lower()) for owner in owners)
    return out


def _parents_first(tables: list[Table], parents: dict[tuple[str, str], ForeignKey]) -> list[Table]:
    """Tables ordered so a parent is filled before its children (cycles keep creation order)."""
    by_name = {t.name: t for t in tables}
    needs = {
        t.name: {k.parent for (child, _), k in parents.items() if child == t.name and k.parent != t.name}
        for t in tables
    }
    order: list[Table] = []
    while len(order) < len(tables):
        ready = [t for t in tables if t not in order and needs[t.name] <= {o.name for o in order}]
        order.extend(ready or [next(t for t in tables if t not in order)])
    return [by_name[t.name] for t in order]
