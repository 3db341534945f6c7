"""Question / gold-SQL templates over the generated databases.

A `Shape` is one gold-SQL pattern (a format string) with several phrasings of it; its picker fills
the slots from a real database (tables and columns by role, values drawn from actual rows), so
most candidates have a non-empty answer and the rest are dropped after running them. Filter
conditions (`=`, `>`, dates, LIKE, IN, BETWEEN, NULL) are shared building blocks: one condition
kind serves many shapes, which keeps the phrasing varied without one template per combination.

Slot names used in templates: `t/T/t1` table name / plural noun / singular noun, `lab/L/l` the
table's label column and its nouns, `cond/W/P` a condition as SQL / as "whose ..." clauses / as a
bare predicate, `c/C/Cs/aC` the condition's column, `m/M/Ms/aM` a measured column, `g/G/Gs` a
grouping column. A tuple value means "pick one of these per phrasing".
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from random import Random
from typing import Any

from harness.data.builtin_sql.schemas import Column, Database, Row, Table, plural

Fill = dict[str, Any]
Picker = Callable[["Scope"], Fill | None]

MAX_RESULT_ROWS = 80  # larger answers bloat pairs.jsonl and mostly mean an unselective filter
ATTEMPTS_PER_QUERY = 12  # picker tries per wanted query before a shape gives up on a database


@dataclass
class Scope:
    """One database being questioned: its definition, rows, open connection and the rng."""

    db: Database
    rows: dict[str, list[Row]]
    conn: sqlite3.Connection
    rng: Random

    def values(self, table: Table, column: Column) -> list[Any]:
        return sorted(r[column.name] for r in self.rows[table.name] if r[column.name] is not None)

    def distinct(self, table: Table, column: Column) -> list[Any]:
        return sorted(set(self.values(table, column)))

    def quantile(self, table: Table, column: Column, lo: float, hi: float) -> Any:
        """A real value from the given quantile band, so thresholds cut the data somewhere useful."""
        values = self.values(table, column)
        return values[int(len(values) * self.rng.uniform(lo, hi))]

    def columns(self, fits: Callable[[Column], bool], tables: list[Table] | None = None
                ) -> list[tuple[Table, Column]]:
        return [(t, c) for t in (tables or self.db.tables) for c in t.columns if fits(c)]

    def edges(self) -> list[Edge]:
        return [Edge(t, c, self.db.table(c.ref)) for t in self.db.tables for c in t.with_role("fk")]


@dataclass(frozen=True)
class Edge:
    """A foreign key: child.fk -> the parent's primary key."""

    child: Table
    fk: Column
    parent: Table

    @property
    def ambiguous(self) -> bool:
        """True where the child points at the parent twice (a flight's origin and destination),
        so "airports that have flights" would not say which link is meant."""
        return sum(c.ref == self.parent.name for c in self.child.with_role("fk")) > 1


# --- words -----------------------------------------------------------------------------------


def an(noun: str) -> str:
    return ("an " if noun[0].lower() in "aeiou" else "a ") + noun


def lit(value: Any) -> str:
    """A SQL literal in the canonical style: single-quoted strings, bare numbers."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def say(value: Any) -> tuple[str, ...]:
    """Ways a question may quote a value; the SQL always single-quotes strings."""
    return (value, f"'{value}'") if isinstance(value, str) else (str(value),)


def nice(x: float) -> int:
    """Round to two significant digits (48213 -> 48000) so thresholds read like a person's."""
    x = round(x)
    if abs(x) < 100:
        return x
    step = 10 ** (len(str(abs(x))) - 2)
    return round(x / step) * step


def rounded(value: float, column: Column) -> int:
    """A threshold for a column: years stay exact, other numbers get `nice`."""
    return round(value) if column.role == "year" else nice(value)


def month_name(d: dt.date) -> str:
    return f"{calendar.month_name[d.month]} {d.year}"


def day_names(d: dt.date) -> tuple[str, ...]:
    return (f"{calendar.month_name[d.month]} {d.day}, {d.year}", d.isoformat(),
            f"{d.day} {calendar.month_name[d.month]} {d.year}")


def month_bounds(d: dt.date) -> tuple[str, str]:
    last = calendar.monthrange(d.year, d.month)[1]
    return f"{d.year:04d}-{d.month:02d}-01", f"{d.year:04d}-{d.month:02d}-{last:02d}"


def or_list(items: list[str], word: str = "or") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def expand(templates: tuple[str, ...], **slots: tuple[str, ...]) -> tuple[str, ...]:
    """Every template with every combination of the given alternative slot values."""
    out = list(templates)
    for name, options in slots.items():
        out = [t.replace("{" + name + "}", o) for t in out for o in options]
    return tuple(dict.fromkeys(out))


# --- conditions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cond:
    """One WHERE condition: its SQL and the predicates that say it ("is above 500", ...)."""

    sql: str
    column: Column
    preds: tuple[str, ...]

    def fill(self, noun: str = "") -> Fill:
        """Slots for templates; `noun` overrides the subject, e.g. "customer's city" in joins."""
        noun = noun or self.column.words
        clauses = [f"whose {noun} {p}" for p in self.preds]
        if "'s" not in noun:
            clauses += [f"where the {noun} {p}" for p in self.preds]
            clauses += [f"with {an(noun)} that {p}" for p in self.preds]
        return {"cond": self.sql, "c": self.column.name, "C": self.column.words,
                "Cs": self.column.plural_words, "aC": an(self.column.words), "P": self.preds,
                "W": tuple(clauses)}


CondMaker = Callable[[Scope, Table, Column, str], Cond | None]

_CMP_WORDS = {
    ">": ("is greater than {n}", "is more than {n}", "is above {n}", "exceeds {n}"),
    "<": ("is less than {n}", "is below {n}", "is under {n}"),
    ">=": ("is at least {n}", "is {n} or more", "is greater than or equal to {n}"),
    "<=": ("is at most {n}", "is {n} or less", "is no more than {n}"),
}
# quantile band per operator: keep roughly 10-45% of the rows
_CMP_BAND = {">": (0.55, 0.9), ">=": (0.55, 0.9), "<": (0.1, 0.45), "<=": (0.1, 0.45)}


def cond_eq(s: Scope, t: Table, c: Column, q: str) -> Cond | None:
    values = s.distinct(t, c)
    if len(values) < 2:
        return None
    v = s.rng.choice(values)
    return Cond(f"{q}{c.name} = {lit(v)}", c, expand(("is {v}", "equals {v}"), v=say(v)))


def cond_cmp(s: Scope, t: Table, c: Column, q: str) -> Cond:
    op = s.rng.choice(tuple(_CMP_WORDS))
    n = rounded(s.quantile(t, c, *_CMP_BAND[op]), c)
    return Cond(f"{q}{c.name} {op} {n}", c, expand(_CMP_WORDS[op], n=(str(n),)))


def cond_null(s: Scope, t: Table, c: Column, q: str) -> Cond:
    if s.rng.random() < 0.6:
        return Cond(f"{q}{c.name} IS NULL", c, ("is missing", "is empty", "is not recorded", "is null"))
    return Cond(f"{q}{c.name} IS NOT NULL", c, ("is present", "is recorded", "is not missing",
                                                "is not null"))


def cond_date(s: Scope, t: Table, c: Column, q: str) -> Cond:
    """A point-in-time cut: after/before a month, or after/before/on-or-after a given day."""
    after = s.rng.random() < 0.5
    d = dt.date.fromisoformat(s.quantile(t, c, *(_CMP_BAND[">"] if after else _CMP_BAND["<"])))
    first, last = month_bounds(d)
    form = s.rng.choice(("month", "day", "day_inclusive"))
    if form == "month" and after:
        return Cond(f"{q}{c.name} > '{last}'", c, expand(
            ("is after {m}", "is later than {m}", "falls after {m}"), m=(month_name(d),)))
    if form == "month":
        return Cond(f"{q}{c.name} < '{first}'", c, expand(
            ("is before {m}", "is earlier than {m}", "falls before {m}"), m=(month_name(d),)))
    if form == "day":
        op, words = (">", ("is after {d}", "is later than {d}")) if after else (
            "<", ("is before {d}", "is earlier than {d}"))
    else:
        op, words = (">=", ("is on or after {d}", "is {d} or later")) if after else (
            "<=", ("is on or before {d}", "is {d} or earlier"))
    return Cond(f"{q}{c.name} {op} '{d.isoformat()}'", c, expand(words, d=day_names(d)))


def cond_period(s: Scope, t: Table, c: Column, q: str) -> Cond:
    """A calendar year or month, written as BETWEEN its first and last day."""
    d = dt.date.fromisoformat(s.quantile(t, c, 0.05, 0.95))
    if s.rng.random() < 0.5:
        first, last, name = f"{d.year}-01-01", f"{d.year}-12-31", str(d.year)
    else:
        (first, last), name = month_bounds(d), month_name(d)
    return Cond(f"{q}{c.name} BETWEEN '{first}' AND '{last}'", c, expand(
        ("is in {p}", "falls in {p}", "is during {p}", "is within {p}"), p=(name,)))


def cond_date_range(s: Scope, t: Table, c: Column, q: str) -> Cond:
    """From the start of one month to the end of a later one."""
    start = dt.date.fromisoformat(s.quantile(t, c, 0.05, 0.7))
    end_month = start.month + s.rng.randint(1, 8)
    end = dt.date(start.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    first, last = month_bounds(start)[0], month_bounds(end)[1]
    return Cond(f"{q}{c.name} BETWEEN '{first}' AND '{last}'", c, expand(
        ("is between {a} and {b}", "is from {a} to {b}", "falls between {a} and {b}"),
        a=(month_name(start),), b=(month_name(end),)))


def cond_between(s: Scope, t: Table, c: Column, q: str) -> Cond | None:
    lo, hi = rounded(s.quantile(t, c, 0.1, 0.45), c), rounded(s.quantile(t, c, 0.55, 0.9), c)
    if lo >= hi:
        return None
    return Cond(f"{q}{c.name} BETWEEN {lo} AND {hi}", c, expand(
        ("is between {a} and {b}", "is from {a} to {b}", "lies between {a} and {b}",
         "is in the range {a} to {b}"), a=(str(lo),), b=(str(hi),)))


def _like(s: Scope, t: Table, c: Column, q: str, mode: str) -> Cond | None:
    value = s.rng.choice(s.values(t, c))
    if mode == "start":
        part = value[: s.rng.randint(1, 3)].rstrip()
        pattern, words = f"{part}%", ("starts with {p}", "begins with {p}")
    elif mode == "end":
        part = value[-s.rng.randint(2, 4):].lstrip()
        pattern, words = f"%{part}", ("ends with {p}", "ends in {p}")
    else:
        candidates = [w for w in re.split(r"[ @.]", value) if len(w) >= 4 and w != value]
        if not candidates:
            return None
        part = s.rng.choice(candidates)
        pattern, words = f"%{part}%", ("contains {p}", "includes {p}", "has {p} in it")
    if not part.strip():
        return None
    return Cond(f"{q}{c.name} LIKE {lit(pattern)}", c, expand(words, p=(f"'{part}'", f'"{part}"')))


def _in(s: Scope, t: Table, c: Column, q: str, negate: bool) -> Cond | None:
    values = s.distinct(t, c)
    if len(values) < 3:
        return None
    chosen = s.rng.sample(values, s.rng.choice((2, 2, 3)) if len(values) > 3 else 2)
    sql = f"{q}{c.name} {'NOT IN' if negate else 'IN'} ({', '.join(lit(v) for v in chosen)})"
    quoted = [list(chosen), [f"'{v}'" for v in chosen]]
    if negate:
        words = [f"is not {or_list(v)}" for v in quoted]
        words += [f"is not one of {', '.join(v)}" for v in quoted]
        words += [f"is neither {v[0]} nor {v[1]}" for v in quoted if len(v) == 2]
    else:
        words = [f"is {or_list(v)}" for v in quoted]
        words += [f"is one of {', '.join(v)}" for v in quoted]
    return Cond(sql, c, tuple(words))


@dataclass(frozen=True)
class Kind:
    make: CondMaker
    fits: Callable[[Column], bool]


def _cat(c: Column) -> bool:
    return c.role == "cat"


def _num(c: Column) -> bool:
    return c.role in ("num", "year")


def _date(c: Column) -> bool:
    return c.role == "date"


def _name(c: Column) -> bool:
    return c.role == "label" and c.type == "TEXT"


def _free_text(c: Column) -> bool:
    return c.role in ("label", "text")


KINDS: dict[str, Kind] = {
    "eq": Kind(cond_eq, _cat),
    "cmp": Kind(cond_cmp, _num),
    "null": Kind(cond_null, lambda c: c.nullable),
    "date": Kind(cond_date, _date),
    "period": Kind(cond_period, _date),
    "date_range": Kind(cond_date_range, _date),
    "between": Kind(cond_between, _num),
    "start": Kind(partial(_like, mode="start"), _name),
    "end": Kind(partial(_like, mode="end"), _name),
    "contains": Kind(partial(_like, mode="contains"), _free_text),
    "in": Kind(partial(_in, negate=False), _cat),
    "not_in": Kind(partial(_in, negate=True), _cat),
}


def make_cond(s: Scope, kinds: tuple[str, ...], tables: list[Table] | None = None, q: str = "",
              skip: Column | None = None) -> tuple[Table, Cond] | None:
    """A condition of one of `kinds` on a random fitting column (of `tables`, not `skip`)."""
    options = [(t, c, k) for k in kinds for t, c in s.columns(KINDS[k].fits, tables) if c != skip]
    if not options:
        return None
    t, c, k = s.rng.choice(options)
    cond = KINDS[k].make(s, t, c, q)
    return (t, cond) if cond else None


# --- slots -----------------------------------------------------------------------------------


def table_slots(t: Table) -> Fill:
    label = t.label
    return {"t": t.name, "T": t.plural, "t1": t.singular, "lab": label.name,
            "L": label.plural_words, "l": label.words}


def measure_slots(c: Column) -> Fill:
    return {"m": c.name, "M": c.words, "Ms": c.plural_words, "aM": an(c.words)}


def group_slots(c: Column) -> Fill:
    return {"g": c.name, "G": c.words, "Gs": c.plural_words}


_MOST = {("DESC", False): ("highest", "largest", "greatest"), ("ASC", False): ("lowest", "smallest"),
         ("DESC", True): ("most recent", "latest"), ("ASC", True): ("earliest", "oldest")}
_FN_WORDS = {"AVG": ("average", "mean"), "SUM": ("total", "combined"),
             "MIN": ("minimum", "lowest", "smallest"), "MAX": ("maximum", "highest", "largest")}
_DATE_FN_WORDS = {"MIN": ("earliest",), "MAX": ("latest", "most recent")}
_COUNT_CMP = {">": ("more than {n}",), ">=": ("at least {n}",), "<": ("fewer than {n}", "less than {n}")}
_FEWEST_MOST = {"DESC": ("most", "largest number of"), "ASC": ("fewest", "smallest number of")}
_ABOVE = {">": ("above", "higher than", "greater than"), "<": ("below", "lower than", "less than")}


def pick_measure(s: Scope, t: Table | None = None, fns: tuple[str, ...] = ("AVG", "SUM", "MIN", "MAX"),
                 dates: bool = False) -> tuple[Table, Column, Fill] | None:
    """A column to aggregate and a fitting function (no SUM of years, only MIN/MAX of dates)."""
    fits = (lambda c: _num(c) or _date(c)) if dates else _num
    options = s.columns(fits, [t] if t else None)
    if not options:
        return None
    table, c = s.rng.choice(options)
    allowed = [f for f in fns
               if (f in ("MIN", "MAX") or c.role == "num") and (not _date(c) or f in _DATE_FN_WORDS)]
    if not allowed:
        return None
    fn = s.rng.choice(allowed)
    words = _DATE_FN_WORDS[fn] if _date(c) else _FN_WORDS[fn]
    return table, c, {**measure_slots(c), "fn": fn, "fw": words}


def merge(*fills: Fill | None) -> Fill | None:
    if any(f is None for f in fills):
        return None
    return {k: v for f in fills for k, v in f.items()}  # type: ignore[union-attr]


# --- pickers ---------------------------------------------------------------------------------


def where(*kinds: str) -> Picker:
    """Any table, one condition: the base of the filter categories."""

    def pick(s: Scope) -> Fill | None:
        found = make_cond(s, kinds)
        return found and merge(table_slots(found[0]), found[1].fill())

    return pick


def where_both(first: tuple[str, ...], second: tuple[str, ...]) -> Picker:
    """Two conditions on different columns of one table, joined with AND."""

    def pick(s: Scope) -> Fill | None:
        a = make_cond(s, first)
        b = a and make_cond(s, second, [a[0]], skip=a[1].column)
        if not b:
            return None
        fa, fb = a[1].fill(), b[1].fill()
        clauses = tuple(f"{x} and {y}" for x in fa["W"][:4] for y in fb["W"][:4])
        return {**table_slots(a[0]), "cond": f"{fa['cond']} AND {fb['cond']}", "W": clauses}

    return pick


def table_only(s: Scope) -> Fill:
    return table_slots(s.rng.choice(s.db.tables))


def measured(*, fns: tuple[str, ...] = ("AVG", "SUM", "MIN", "MAX"), dates: bool = False,
             cond: tuple[str, ...] = ()) -> Picker:
    """An aggregate over one column, optionally filtered by a condition on another column."""

    def pick(s: Scope) -> Fill | None:
        found = pick_measure(s, fns=fns, dates=dates)
        if not found:
            return None
        t, column, fill = found
        if not cond:
            return merge(table_slots(t), fill)
        c = make_cond(s, cond, [t], skip=column)
        return c and merge(table_slots(t), fill, c[1].fill())

    return pick


def ordered(ks: tuple[int, ...], cond: tuple[str, ...] = ()) -> Picker:
    """Top-k by a numeric or date column, optionally within a filtered subset."""

    def pick(s: Scope) -> Fill | None:
        t, c = s.rng.choice(s.columns(lambda c: _num(c) or _date(c)))
        direction = s.rng.choice(("DESC", "ASC"))
        fill = {**table_slots(t), **measure_slots(c), "k": str(s.rng.choice(ks)), "dir": direction,
                "most": _MOST[direction, _date(c)]}
        if not cond:
            return fill
        found = make_cond(s, cond, [t], skip=c)
        return found and merge(fill, found[1].fill())

    return pick


def group_column(s: Scope) -> tuple[Table, Column]:
    """A categorical column with few enough values to group by (2-15)."""
    return s.rng.choice([(t, c) for t, c in s.columns(_cat) if 2 <= len(s.distinct(t, c)) <= 15])


def grouped(*, measure: bool = False, top: bool = False) -> Picker:
    """GROUP BY a categorical column, counting rows or aggregating a measure."""

    def pick(s: Scope) -> Fill | None:
        t, g = group_column(s)
        fill = {**table_slots(t), **group_slots(g)}
        if top:
            direction = s.rng.choice(("DESC", "ASC"))
            fill |= {"dir": direction, "most": _FEWEST_MOST[direction]}
        if measure:
            found = pick_measure(s, t)
            return found and merge(fill, found[2])
        return fill

    return pick


def having(*, measure: bool) -> Picker:
    """GROUP BY ... HAVING with a threshold taken from the real per-group values."""

    def pick(s: Scope) -> Fill | None:
        t, g = group_column(s)
        fill = {**table_slots(t), **group_slots(g)}
        agg, m = "COUNT(*)", None
        if measure:
            found = pick_measure(s, t)
            if not found:
                return None
            _, m, measure_fill = found
            fill |= measure_fill
            agg = f"{measure_fill['fn']}({m.name})"
        values = sorted(v for (v,) in s.conn.execute(f"SELECT {agg} FROM {t.name} GROUP BY {g.name}")
                        if v is not None)
        if len(values) < 3:
            return None
        value = values[s.rng.randint(1, len(values) - 2)]  # never the extremes: keep some groups out
        if m:
            op, n = s.rng.choice((">", "<")), rounded(value, m)
            words = _ABOVE[op]
        else:
            op, n = s.rng.choice(tuple(_COUNT_CMP)), value
            words = expand(_COUNT_CMP[op], n=(str(n),))
        return fill | {"having": f"{agg} {op} {n}", "n": str(n), "cmp": words}

    return pick


def distinct_where(s: Scope) -> Fill | None:
    """DISTINCT values of a categorical column over a filtered table."""
    t, g = s.rng.choice(s.columns(_cat))
    found = make_cond(s, ("eq", "cmp", "date"), [t], skip=g)
    return found and merge(table_slots(t), measure_slots(g), found[1].fill())


def _edge_slots(e: Edge) -> Fill:
    """Slots for a child->parent join; child keys are prefixed c, parent keys p."""
    return {"ct": e.child.name, "ca": e.child.alias, "CT": e.child.plural, "ct1": e.child.singular,
            "clab": e.child.label.name, "CL": e.child.label.plural_words,
            "pt": e.parent.name, "pa": e.parent.alias, "PT": e.parent.plural,
            "plab": e.parent.label.name, "PL": e.parent.label.plural_words, "pl": e.parent.label.words,
            "fk": e.fk.name, "ppk": e.parent.key, "F": e.fk.words, "Fs": plural(e.fk.words), "aF": an(e.fk.words)}


def _labelled(e: Edge) -> bool:
    return e.parent.label.role == "label"


def label_is(s: Scope, t: Table, alias: str, noun: str) -> Fill:
    """`alias.label = 'x'` said as "whose <noun> is x": a row named through a foreign key."""
    label = t.label
    v = s.rng.choice(s.values(t, label))
    return {"cond": f"{alias}.{label.name} = {lit(v)}",
            "W": expand(("whose {n} is {v}", "for the {n} {v}", "linked to the {n} {v}"),
                        n=(noun,), v=say(v))}


def join_label(s: Scope) -> Fill | None:
    """Children of one named parent: "books whose author is Ana Costa"."""
    e = s.rng.choice([e for e in s.edges() if _labelled(e)])
    return merge(_edge_slots(e), label_is(s, e.parent, e.parent.alias, e.fk.words))


def join_where(*kinds: str) -> Picker:
    """Children filtered on a parent column: "books whose author's country is Peru"."""

    def pick(s: Scope) -> Fill | None:
        e = s.rng.choice(s.edges())
        found = make_cond(s, kinds, [e.parent], q=f"{e.parent.alias}.")
        return found and merge(_edge_slots(e), found[1].fill(f"{e.fk.words}'s {found[1].column.words}"))

    return pick


def join_top(*, measure: bool) -> Picker:
    """Parents ranked by how many children they have, or by a sum/average over them."""

    def pick(s: Scope) -> Fill | None:
        e = s.rng.choice([e for e in s.edges() if _labelled(e)])
        fill = {**_edge_slots(e), "k": str(s.rng.choice((3, 5))), "most": ("most", "largest number of")}
        if not measure:
            return fill
        found = pick_measure(s, e.child, fns=("SUM", "AVG"))
        m = found and found[2]
        return m and merge(fill, m, {"agg": f"{m['fn']}({e.child.alias}.{m['m']})"})

    return pick


def _chains(s: Scope) -> list[tuple[Edge, Edge]]:
    """A -> B -> C paths (transactions -> accounts -> customers)."""
    return [(a, b) for a in s.edges() for b in s.edges() if a.parent == b.child]


def _bridges(s: Scope) -> list[tuple[Edge, Edge]]:
    """B <- A -> C pairs (members <- loans -> books) with a named B to list."""
    return [(a, b) for a in s.edges() for b in s.edges()
            if a.child == b.child and a.parent != b.parent and _labelled(a)]


def _three_slots(first: Edge, second: Edge, bridge: bool) -> Fill:
    """A joins B through `first`; C joins A (bridge) or B (chain) through `second`."""
    a, b, c = first.child, first.parent, second.parent
    c_from = a if bridge else b
    joins = (f"{a.name} AS {a.alias} JOIN {b.name} AS {b.alias} ON {a.alias}.{first.fk.name} = {b.alias}.{b.key}"
             f" JOIN {c.name} AS {c.alias} ON {c_from.alias}.{second.fk.name} = {c.alias}.{c.key}")
    return {"from": joins, "a": a.alias, "alab": a.label.name, "AL": a.label.plural_words,
            "AT": a.plural, "at1": a.singular, "b": b.alias, "blab": b.label.name,
            "BL": b.label.plural_words, "bl": b.label.words, "F1s": plural(first.fk.words)}


def three_way(*, bridge: bool, agg: bool = False) -> Picker:
    """Two joins; the condition sits on the far table C (a label or one of its columns)."""

    def pick(s: Scope) -> Fill | None:
        paths = _bridges(s) if bridge else _chains(s)
        if not paths:  # a domain without A -> B -> C foreign-key paths
            return None
        first, second = s.rng.choice(paths)
        fill = _three_slots(first, second, bridge)
        far = second.parent
        path = second.fk.words if bridge else f"{first.fk.words}'s {second.fk.words}"
        if far.label.role == "label" and s.rng.random() < 0.5:
            cond = label_is(s, far, far.alias, path)
        else:
            found = make_cond(s, ("eq", "cmp"), [far], q=f"{far.alias}.")
            cond = found and found[1].fill(f"{path}'s {found[1].column.words}")
        if not agg:
            return merge(fill, cond)
        found = pick_measure(s, first.child, fns=("SUM", "AVG"))
        m = found and found[2]
        return m and merge(fill, cond, m, {"agg": f"{m['fn']}({first.child.alias}.{m['m']})"})

    return pick


def nested_in(*cond: str) -> Picker:
    """Parents named by whether they have (or lack) children matching a condition."""

    def pick(s: Scope) -> Fill | None:
        e = s.rng.choice([e for e in s.edges() if _labelled(e) and not e.ambiguous])
        fill = _edge_slots(e)
        if not cond:
            return fill
        found = make_cond(s, cond, [e.child])
        return found and merge(fill, found[1].fill())

    return pick


def versus_average(*, cond: tuple[str, ...] = ()) -> Picker:
    """Rows above/below the average of a column (over the table or a filtered part of it)."""

    def pick(s: Scope) -> Fill | None:
        t, c = s.rng.choice(s.columns(lambda c: c.role == "num"))
        op = s.rng.choice((">", "<"))
        fill = {**table_slots(t), **measure_slots(c), "op": op, "above": _ABOVE[op]}
        if not cond:
            return fill
        found = make_cond(s, cond, [t], skip=c)
        return found and merge(fill, found[1].fill())

    return pick


# --- shapes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    category: str
    difficulty: str  # easy | medium | hard
    sql: str
    phrasings: tuple[str, ...]
    pick: Picker
    per_db: int  # distinct gold queries wanted per database
    paraphrases: int = 2  # questions per gold query (they share a group)


# Phrasings shared by every shape that lists / shows / counts rows of one filtered table.
LIST = ("List the {L} of {T} {W}.", "What are the {L} of {T} {W}?", "Show the {L} of all {T} {W}.",
        "Find the {L} of every {t1} {W}.", "Give me the {L} of the {T} {W}.",
        "Return the {L} of {T} {W}.")
LIST_WITH = ("List the {L} and {Cs} of {T} {W}.", "What are the {L} and {Cs} of {T} {W}?",
             "Show the {l} and {C} of every {t1} {W}.", "Find {T} {W}, with their {L} and {Cs}.",
             "Give me the {l} and {C} of each {t1} {W}.")
SHOW_ALL = ("Show all {T} {W}.", "List every {t1} {W}.", "Get all the {T} {W}.",
            "Display all records of {T} {W}.", "Show everything about {T} {W}.")
COUNT = ("How many {T} are there {W}?", "Count the {T} {W}.", "What is the number of {T} {W}?",
         "How many {T} have {aC} that {P}?", "Give the count of {T} {W}.")

# Gold SQL patterns, one canonical style: uppercase keywords, aliases only in joins, ';' at the end.
SELECT_LABEL = "SELECT {lab} FROM {t} WHERE {cond};"
SELECT_LABEL_COL = "SELECT {lab}, {c} FROM {t} WHERE {cond};"
SELECT_ALL = "SELECT * FROM {t} WHERE {cond};"
COUNT_WHERE = "SELECT COUNT(*) FROM {t} WHERE {cond};"
CHILD_JOIN = "{ct} AS {ca} JOIN {pt} AS {pa} ON {ca}.{fk} = {pa}.{ppk}"
PARENT_JOIN = "{pt} AS {pa} JOIN {ct} AS {ca} ON {ca}.{fk} = {pa}.{ppk}"
TOP = "ORDER BY {m} {dir} LIMIT {k};"


def _shapes(category: str, *rows: tuple) -> list[Shape]:
    """Rows of (difficulty, sql, phrasings, picker, per_db[, paraphrases]) for one category."""
    return [Shape(category, *row) for row in rows]


SHAPES: tuple[Shape, ...] = tuple(
    _shapes("select_where",
            ("easy", SELECT_LABEL, LIST, where("eq"), 24, 3),
            ("easy", SELECT_LABEL_COL, LIST_WITH, where("cmp"), 24, 3),
            ("easy", SELECT_ALL, SHOW_ALL, where("eq"), 8),
            ("easy", SELECT_LABEL, LIST, where("null"), 8, 3),
            ("medium", SELECT_LABEL, LIST, where_both(("eq",), ("cmp", "eq", "date")), 14))
    + _shapes("date_filter",
              ("easy", SELECT_ALL, SHOW_ALL, where("date"), 12),
              ("easy", SELECT_LABEL_COL, LIST_WITH, where("date"), 16),
              ("medium", SELECT_LABEL_COL, LIST_WITH, where("period"), 12),
              ("medium", COUNT_WHERE, COUNT, where("date", "period"), 12))
    + _shapes("like",
              ("easy", SELECT_LABEL, LIST, where("start"), 16),
              ("easy", SELECT_LABEL, LIST, where("end"), 12),
              ("medium", SELECT_LABEL, LIST, where("contains"), 14))
    + _shapes("in_list",
              ("medium", SELECT_LABEL, LIST, where("in"), 14),
              ("medium", SELECT_LABEL, LIST, where("not_in"), 10),
              ("medium", COUNT_WHERE, COUNT, where("in"), 8))
    + _shapes("between",
              ("medium", SELECT_LABEL_COL, LIST_WITH, where("between"), 12),
              ("medium", SELECT_LABEL_COL, LIST_WITH, where("date_range"), 10),
              ("medium", COUNT_WHERE, COUNT, where("between", "date_range"), 8))
    + _shapes("order_limit",
              ("easy", "SELECT {lab}, {m} FROM {t} " + TOP, (
                  "List the {k} {T} with the {most} {M}, showing their {L} and {Ms}.",
                  "Which {k} {T} have the {most} {M}? Give the {l} and {M}.",
                  "Show the {L} and {Ms} of the {k} {T} with the {most} {M}.",
                  "Give me the {k} {T} with the {most} {M} and their {Ms}.",
                  "What are the {k} {T} with the {most} {M}? Include the {M}.",
              ), ordered((3, 5, 10)), 16),
              ("easy", "SELECT {lab}, {m} FROM {t} " + TOP, (
                  "Which {t1} has the {most} {M}?", "Find the {t1} with the {most} {M}.",
                  "Show the {l} and {M} of the {t1} with the {most} {M}.",
                  "Name the {t1} with the {most} {M} and give its {M}.",
                  "What is the {l} of the {t1} with the {most} {M}, and what is that {M}?",
              ), ordered((1,)), 12),
              ("medium", "SELECT {lab}, {m} FROM {t} WHERE {cond} " + TOP, (
                  "Among {T} {W}, list the {k} with the {most} {M}.",
                  "Which {k} {T} {W} have the {most} {M}?",
                  "For {T} {W}, give the {k} with the {most} {M} and their {Ms}.",
                  "Considering only {T} {W}, show the {k} with the {most} {M}.",
              ), ordered((3, 5), cond=("eq",)), 14))
    + _shapes("aggregate",
              ("easy", "SELECT COUNT(*) FROM {t};", (
                  "How many {T} are there?", "Count all {T}.", "What is the total number of {T}?",
                  "How many {T} are in the database?", "Give the number of {T}.",
                  "How many {T} exist?",
              ), table_only, 5, 4),
              ("easy", "SELECT {fn}({m}) FROM {t};", (
                  "What is the {fw} {M} of all {T}?", "Compute the {fw} {M} across {T}.",
                  "Find the {fw} {M} of the {T}.", "Show the {fw} {M} over every {t1}.",
                  "What is the {fw} {M} among {T}?",
              ), measured(dates=True), 14, 3),
              ("easy", COUNT_WHERE, COUNT, where("eq"), 14),
              ("medium", "SELECT {fn}({m}) FROM {t} WHERE {cond};", (
                  "What is the {fw} {M} of {T} {W}?", "Compute the {fw} {M} for {T} {W}.",
                  "Find the {fw} {M} among {T} {W}.", "For {T} {W}, what is the {fw} {M}?",
              ), measured(cond=("eq", "cmp", "date")), 14))
    + _shapes("group_by_having",
              ("medium", "SELECT {g}, COUNT(*) FROM {t} GROUP BY {g};", (
                  "How many {T} are there for each {G}?", "Count the {T} per {G}.",
                  "Show each {G} with its number of {T}.", "For every {G}, give the number of {T}.",
                  "List every {G} together with the count of {T}.",
              ), grouped(), 6, 3),
              ("medium", "SELECT {g}, {fn}({m}) FROM {t} GROUP BY {g};", (
                  "What is the {fw} {M} of {T} for each {G}?", "Show the {fw} {M} per {G} for {T}.",
                  "For each {G}, compute the {fw} {M} of {T}.",
                  "Group {T} by {G} and give the {fw} {M}.",
                  "List each {G} with the {fw} {M} of its {T}.",
              ), grouped(measure=True), 10),
              ("medium", "SELECT {g}, COUNT(*) FROM {t} GROUP BY {g} ORDER BY COUNT(*) {dir} LIMIT 1;", (
                  "Which {G} has the {most} {T}?", "Find the {G} with the {most} {T}, with the count.",
                  "Show the {G} that has the {most} {T} and how many it has.",
                  "Which {G} is associated with the {most} {T}? Include the count.",
              ), grouped(top=True), 5, 3),
              ("hard", "SELECT {g}, COUNT(*) FROM {t} GROUP BY {g} HAVING {having};", (
                  "Which {Gs} have {cmp} {T}? Show each with its count.",
                  "List the {Gs} with {cmp} {T} and the number of {T} for each.",
                  "For {T}, give every {G} that occurs {cmp} times, with the count.",
                  "Show the {Gs} that have {cmp} {T}, together with how many they have.",
              ), having(measure=False), 12),
              ("hard", "SELECT {g} FROM {t} GROUP BY {g} HAVING {having};", (
                  "For which {Gs} is the {fw} {M} of {T} {cmp} {n}?",
                  "List the {Gs} where the {fw} {M} of their {T} is {cmp} {n}.",
                  "Find the {Gs} for which the {fw} {M} among {T} is {cmp} {n}.",
                  "Group {T} by {G} and keep the {Gs} whose {fw} {M} is {cmp} {n}.",
              ), having(measure=True), 14))
    + _shapes("distinct",
              ("easy", "SELECT DISTINCT {g} FROM {t};", (
                  "List the distinct {Gs} of {T}.", "What different {Gs} do {T} have?",
                  "Show all unique {Gs} among {T}.", "Which {Gs} appear in {T}?",
                  "Give each distinct {G} found in {T}.",
              ), grouped(), 8, 3),
              ("easy", "SELECT COUNT(DISTINCT {g}) FROM {t};", (
                  "How many different {Gs} do {T} have?", "Count the distinct {Gs} among {T}.",
                  "What is the number of unique {Gs} in {T}?",
                  "How many distinct {G} values appear in {T}?",
                  "How many unique {Gs} are there across {T}?",
              ), grouped(), 8, 3),
              ("medium", "SELECT DISTINCT {m} FROM {t} WHERE {cond};", (
                  "List the distinct {Ms} of {T} {W}.", "What different {Ms} do {T} {W} have?",
                  "Which {Ms} appear among {T} {W}?", "Show the unique {Ms} of {T} {W}.",
              ), distinct_where, 16))
    + _shapes("join",
              ("medium", "SELECT {ca}.{clab} FROM " + CHILD_JOIN + " WHERE {cond};", (
                  "List the {CL} of {CT} {W}.", "Which {CT} are there {W}? Give their {CL}.",
                  "Show the {CL} of all {CT} {W}.", "Find the {CL} of every {ct1} {W}.",
              ), join_label, 14),
              ("medium", "SELECT {ca}.{clab} FROM " + CHILD_JOIN + " WHERE {cond};", (
                  "List the {CL} of {CT} {W}.", "Show the {CL} of all {CT} {W}.",
                  "Find the {CL} of every {ct1} {W}.", "Give me the {CL} of the {CT} {W}.",
              ), join_where("eq", "cmp", "date"), 14),
              ("medium", "SELECT COUNT(*) FROM " + CHILD_JOIN + " WHERE {cond};", (
                  "How many {CT} are there {W}?", "Count the {CT} {W}.",
                  "What is the number of {CT} {W}?", "Give the count of {CT} {W}.",
              ), join_where("eq", "cmp"), 12),
              ("hard", "SELECT {pa}.{plab}, COUNT(*) FROM " + PARENT_JOIN
               + " GROUP BY {pa}.{plab} ORDER BY COUNT(*) DESC LIMIT {k};", (
                  "Which {k} {Fs} have the {most} {CT}? Show the counts.",
                  "List the {k} {Fs} with the {most} {CT}, with their counts.",
                  "Show the top {k} {Fs} by number of {CT}, including the number.",
                  "Find the {k} {Fs} that have the {most} {CT} and how many each has.",
              ), join_top(measure=False), 5),
              ("hard", "SELECT {pa}.{plab}, {agg} FROM " + PARENT_JOIN
               + " GROUP BY {pa}.{plab} ORDER BY {agg} DESC LIMIT {k};", (
                  "Which {k} {Fs} have the highest {fw} {M} of {CT}? Show the {fw} {M} too.",
                  "List the {k} {Fs} with the largest {fw} {M} over their {CT}, with that {fw} {M}.",
                  "Show the top {k} {Fs} by {fw} {M} of {CT}, including the value.",
                  "Find the {k} {Fs} whose {CT} have the highest {fw} {M}, and that {fw} {M}.",
              ), join_top(measure=True), 6))
    + _shapes("multi_join",
              ("hard", "SELECT {a}.{alab} FROM {from} WHERE {cond};", (
                  "List the {AL} of {AT} {W}.", "Show the {AL} of all {AT} {W}.",
                  "Find the {AL} of every {at1} {W}.", "Which {AT} are there {W}? Give their {AL}.",
              ), three_way(bridge=False), 16),
              ("hard", "SELECT DISTINCT {b}.{blab} FROM {from} WHERE {cond};", (
                  "List the distinct {BL} of {F1s} that have {AT} {W}.",
                  "Which {F1s} appear in {AT} {W}? Give each {bl} once.",
                  "Find the unique {BL} of {F1s} with {AT} {W}.",
                  "Show every distinct {bl} of {F1s} involved in {AT} {W}.",
              ), three_way(bridge=True), 16),
              ("hard", "SELECT {agg} FROM {from} WHERE {cond};", (
                  "What is the {fw} {M} of {AT} {W}?", "Compute the {fw} {M} over {AT} {W}.",
                  "Find the {fw} {M} for all {AT} {W}.", "For {AT} {W}, what is the {fw} {M}?",
              ), three_way(bridge=False, agg=True), 10))
    + _shapes("nested",
              ("hard", "SELECT {lab}, {m} FROM {t} WHERE {m} {op} (SELECT AVG({m}) FROM {t});", (
                  "Which {T} have {aM} {above} the average? Show their {L} and {Ms}.",
                  "List the {L} and {Ms} of {T} whose {M} is {above} the average {M}.",
                  "Find {T} with {aM} {above} the average of all {T}, with their {L} and {Ms}.",
                  "Show the {l} and {M} of every {t1} whose {M} is {above} the mean {M}.",
              ), versus_average(), 8, 3),
              ("hard", ("SELECT {lab}, {m} FROM {t} WHERE {m} {op} "
               "(SELECT AVG({m}) FROM {t} WHERE {cond});"), (
                  "List the {L} and {Ms} of {T} whose {M} is {above} the average {M} of {T} {W}.",
                  "Which {T} have {aM} {above} the average for {T} {W}? Show {l} and {M}.",
                  "Find the {l} and {M} of {T} with {aM} {above} the mean {M} of {T} {W}.",
                  "Show {T} whose {M} is {above} the average among {T} {W}, with their {L} and {Ms}.",
              ), versus_average(cond=("eq",)), 12),
              ("hard", "SELECT {plab} FROM {pt} WHERE {ppk} IN (SELECT {fk} FROM {ct} WHERE {cond});", (
                  "List the {PL} of {PT} that have at least one {ct1} {W}.",
                  "Which {PT} have {CT} {W}? Give their {PL}.",
                  "Find the {PL} of {PT} with any {ct1} {W}.",
                  "Show the {PL} of {PT} that appear in {CT} {W}.",
              ), nested_in("eq", "cmp", "date"), 18),
              ("hard", "SELECT {plab} FROM {pt} WHERE {ppk} NOT IN (SELECT {fk} FROM {ct});", (
                  "Which {PT} have no {CT}? List their {PL}.", "List the {PL} of {PT} without any {CT}.",
                  "Find the {PL} of {PT} that never appear in {CT}.",
                  "Show the {PL} of {PT} with no {CT} at all.",
              ), nested_in(), 3, 3),
              ("hard", "SELECT {plab} FROM {pt} WHERE {ppk} NOT IN (SELECT {fk} FROM {ct} WHERE {cond});", (
                  "Which {PT} have no {CT} {W}? List their {PL}.",
                  "List the {PL} of {PT} without any {ct1} {W}.",
                  "Find the {PL} of {PT} that have no {ct1} {W}.",
              ), nested_in("eq"), 8))
)


# --- running ---------------------------------------------------------------------------------


def gold_result(conn: sqlite3.Connection, sql: str) -> list[list[Any]] | None:
    """The gold rows, or None for a query that would make a poor example: no rows, only
    NULL/0 cells, too many rows, or a LIMIT that cuts through tied values (ambiguous answer)."""
    rows = [list(r) for r in conn.execute(sql)]
    if not rows or len(rows) > MAX_RESULT_ROWS:
        return None
    if all(v in (None, 0) for r in rows for v in r):
        return None
    limit = re.search(r" LIMIT (\d+);$", sql)
    if limit:
        k = int(limit.group(1))
        wider = list(conn.execute(sql[: limit.start()] + f" LIMIT {k + 1};"))
        if len(wider) > k and wider[k][-1] == wider[k - 1][-1]:
            return None
    return rows


def _render(template: str, fill: Fill, rng: Random) -> str:
    chosen = {k: rng.choice(v) if isinstance(v, tuple) else v for k, v in fill.items()}
    text = template.format(**chosen)
    return text[0].upper() + text[1:]


def group_key(db_id: str, sql: str) -> str:
    """Same normalised SQL on the same database <=> same group (the split key)."""
    normalised = " ".join(sql.split())
    return f"{db_id}-{hashlib.sha1(normalised.encode()).hexdigest()[:12]}"


def generate(db: Database, rows: dict[str, list[Row]], conn: sqlite3.Connection, rng: Random,
             share: float = 1.0) -> list[dict[str, Any]]:
    """All pairs for one database, in a fixed order (ids are stable for a seed); `share` scales
    every shape's number of gold queries."""
    s = Scope(db, rows, conn, rng)
    seen_sql: set[str] = set()
    seen_questions: set[str] = set()
    pairs: list[dict[str, Any]] = []
    for shape in SHAPES:
        made, wanted = 0, max(1, round(shape.per_db * share))
        for _ in range(wanted * ATTEMPTS_PER_QUERY):
            if made == wanted:
                break
            fill = shape.pick(s)
            if not fill:
                continue
            sql = shape.sql.format(**fill)
            if sql in seen_sql:
                continue
            seen_sql.add(sql)
            result = gold_result(conn, sql)
            if result is None:
                continue
            questions: list[str] = []
            for template in rng.sample(shape.phrasings, len(shape.phrasings)):
                question = _render(template, fill, rng)
                if question not in seen_questions and len(questions) < shape.paraphrases:
                    seen_questions.add(question)
                    questions.append(question)
            made += 1
            for question in questions:
                pairs.append({"question": question, "sql": sql, "category": shape.category,
                              "difficulty": shape.difficulty, "group": group_key(db.db_id, sql),
                              "result": json.dumps(result)})
    return pairs
