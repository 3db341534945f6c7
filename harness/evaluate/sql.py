"""Text-to-SQL accuracy: exact, structural and execution match of a model's SQL against gold.

Every metric treats gold as one or more `;`-separated alternatives and accepts a prediction that
matches ANY of them. Predictions go through `extract_sql` first, identically for base and tuned
models, so neither is favoured by how its output is cut.

Metrics, strictest to most semantic:

* `exact_match`      — equal after `normalize_sql` (whitespace, keyword case, `;`, quote style).
* `structural_match` — equal after sqlglot canonicalisation (see `structural_match` for the rules).
* `execution_match`  — same result on a real SQLite database, or, when only a CREATE TABLE schema
  is known, on every one of several random databases built from it (`testsuite.py`).
* `execution_match_subset` — like `execution_match`, but the prediction may return extra columns
  (the sql-eval convention); reported separately because it is more lenient.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import Tokenizer

from harness.data.records import Example
from harness.evaluate import testsuite
from harness.evaluate.metric import Metric
from harness.evaluate.sandbox import QueryResult, run_on_connection, run_query

REL_TOL = 1e-6  # default relative float tolerance for result comparison
ABS_TOL = 1e-9  # default absolute float tolerance (values this close to 0 equal 0)
_MAX_COLUMN_ASSIGNMENTS = 1_000  # column permutations tried before declaring a mismatch

# --------------------------------------------------------------------------------------------
# Cutting model output into statements
# --------------------------------------------------------------------------------------------

_QUOTE_CLOSERS = {"'": "'", '"': '"', "`": "`", "[": "]"}
_FENCE = "```"
_ANSWER_PREFIX = re.compile(r"^\s*(?:(?:sql\s*query|sqlquery|sql|query|answer)\s*:\s*)+", re.IGNORECASE)
_FENCE_LANGUAGE = re.compile(r"^[ \t]*(?:sqlite3?|sql|postgres(?:ql)?|mysql)?(?!\w)[ \t]*\r?\n?", re.IGNORECASE)
_STATEMENT_START = re.compile(
    r"^\s*(?:select|with|values|insert|replace|update|delete|create|drop|alter|pragma|explain|attach|\()",
    re.IGNORECASE,
)


def split_statements(sql: str) -> list[str]:
    """Split on `;` outside quotes and comments; pieces holding only comments/whitespace are dropped.

    The `;` itself is never part of a piece. Used both to cut predictions and to read
    `;`-separated gold alternatives, so both sides are cut by the same rules.
    """
    pieces: list[str] = []
    start, i, has_code, n = 0, 0, False, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i) or sql.startswith("/*", i):
            closer = "\n" if ch == "-" else "*/"
            end = sql.find(closer, i + 2)
            i = n if end < 0 else end + len(closer)
            continue
        if ch == ";":
            if has_code:
                pieces.append(sql[start:i].strip())
            start, has_code = i + 1, False
        elif not ch.isspace():
            has_code = True
            if ch in _QUOTE_CLOSERS:  # skip to the closing quote; '' escapes re-open harmlessly
                end = sql.find(_QUOTE_CLOSERS[ch], i + 1)
                i = n if end < 0 else end
        i += 1
    if has_code:
        pieces.append(sql[start:].strip())
    return pieces


def extract_sql(text: str) -> str:
    """The first SQL statement in a model's raw answer, without its trailing `;`.

    Rules, applied identically to every model: if the answer does not start with SQL but has a
    ``` fence, the SQL is the body of the first fenced block (a `sql`/`sqlite` language tag is
    dropped); otherwise the SQL is the text before any fence (a closing fence echoed from the
    prompt ends it). A leading `SQL:` / `Query:` / `Answer:` label is removed, then the text is
    cut at the first `;` outside quotes. Prose after an unterminated statement is kept (and
    will usually make the SQL invalid): guessing where SQL ends would favour one model's style.
    """
    head, fence, rest = text.partition(_FENCE)
    if fence and not _STATEMENT_START.match(_ANSWER_PREFIX.sub("", head, count=1)):
        text = _FENCE_LANGUAGE.sub("", rest.partition(_FENCE)[0], count=1)
    else:
        text = head
    statements = split_statements(_ANSWER_PREFIX.sub("", text, count=1))
    return statements[0] if statements else ""


# --------------------------------------------------------------------------------------------
# Parsing and normalisation
# --------------------------------------------------------------------------------------------

# Parse results that count as a SQL statement. sqlglot also accepts bare expressions ("hello"
# parses as a column) and wraps unknown statements in exp.Command; neither is valid SQL here.
_STATEMENT_TYPES = (exp.Query, exp.Values, exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.Pragma)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Glob)


class _DropCommandFallbackWarning(logging.Filter):
    """sqlglot warns each time it wraps unknown SQL in exp.Command; for us that is just 'invalid'."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


_SQLGLOT_LOG = logging.getLogger("sqlglot")
_QUIET = _DropCommandFallbackWarning()


def _parse(sql: str) -> exp.Expr | None:
    """`sql` parsed as one SQLite statement, or None if sqlglot cannot parse it as one."""
    _SQLGLOT_LOG.addFilter(_QUIET)
    try:
        trees = sqlglot.parse(sql, read="sqlite")
    except Exception:  # sqlglot raises assorted error types on garbage input; all mean "no parse"
        return None
    finally:
        _SQLGLOT_LOG.removeFilter(_QUIET)
    if len(trees) != 1 or not isinstance(trees[0], _STATEMENT_TYPES):
        return None
    return trees[0]


def _is_value_position(node: exp.Expr) -> bool:
    """Whether `node` sits where a value is compared with something (`x = _`, `x IN (_)`, ...)."""
    parent, key = node.parent, node.arg_key
    return (
        (isinstance(parent, _COMPARISONS) and key == "expression")
        or (isinstance(parent, exp.In) and key == "expressions")
        or (isinstance(parent, exp.Between) and key in ("low", "high"))
    )


def _double_quoted_values_to_strings(tree: exp.Expr) -> exp.Expr:
    """Read `name = "Bob"` as the string 'Bob', not a column named Bob.

    SQLite itself falls back to a string when no such column exists, and benchmark gold (Spider,
    sql-create-context) uses double quotes for strings. Only an unqualified quoted name on the
    value side of a comparison/IN/BETWEEN is rewritten, so a real column compared with a quoted
    column on the right (`a = "b"`) would be misread; that form is rare in text-to-SQL.
    """
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if not column.table and isinstance(ident, exp.Identifier) and ident.quoted and _is_value_position(column):
            column.replace(exp.Literal.string(ident.this))
    return tree


def parse_with_values(sql: str) -> exp.Expr | None:
    """`_parse` plus the double-quoted-string rule; the tree every metric (and testsuite) reads."""
    tree = _parse(sql)
    return None if tree is None else _double_quoted_values_to_strings(tree)


_TOKEN = re.compile(
    r"""(?P<skip>\s+|--[^\n]*|/\*.*?(?:\*/|\Z))
      | (?P<string>'(?:[^']|'')*')
      | (?P<dquoted>"(?:[^"]|"")*")
      | (?P<ident>`[^`]*`|\[[^\]]*\])
      | (?P<word>[A-Za-z_][\w$]*)
      | (?P<op><>|!=|<=|>=|==|\|\||\S)""",
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = frozenset(k for k in Tokenizer.KEYWORDS if k.isalpha())
_COMPARISON_TOKENS = frozenset({"=", "==", "!=", "<>", "<", ">", "<=", ">=", "LIKE", "GLOB"})


def _normalize_tokens(sql: str) -> str:
    """String-level `normalize_sql` for SQL sqlglot cannot parse: same rules, applied to tokens."""
    tokens: list[str] = []
    matches = [m for m in _TOKEN.finditer(sql) if m.lastgroup != "skip"]
    for i, m in enumerate(matches):
        text, kind = m.group(), m.lastgroup
        if kind == "word" and (text.upper() in _KEYWORDS or _next_is(matches, i, "(")):
            text = text.upper()
        elif kind == "dquoted" and tokens and tokens[-1] in _COMPARISON_TOKENS:
            text = "'" + text[1:-1].replace('""', '"').replace("'", "''") + "'"
        tokens.append(text)
    while tokens and tokens[-1] == ";":
        tokens.pop()
    return " ".join(tokens)


def _next_is(matches: list[re.Match], i: int, text: str) -> bool:
    return i + 1 < len(matches) and matches[i + 1].group() == text


@functools.lru_cache(maxsize=8192)
def normalize_sql(sql: str) -> str:
    """Canonical spelling of one statement for exact match.

    Whitespace and comments are dropped, keywords and function names upper-cased, a trailing `;`
    removed and double-quoted string values written with single quotes (see
    `_double_quoted_values_to_strings`). Identifier case and everything else is kept as written.
    Parsed with sqlglot (sqlite dialect) and regenerated; when sqlglot cannot parse the text, the
    same rules are applied to a plain tokenisation instead.
    """
    tree = parse_with_values(sql)
    if tree is None:
        return _normalize_tokens(sql)
    return tree.sql(dialect="sqlite", comments=False)


# --------------------------------------------------------------------------------------------
# Structural canonicalisation
# --------------------------------------------------------------------------------------------


def _canonical_table_names(tree: exp.Expr) -> None:
    """Replace table aliases by table names so `FROM singer AS T1 ... T1.name` == `singer.name`.

    A table used once is named by itself; a table used k times (self-joins) becomes `name_1`,
    `name_2`, ... in order of appearance. Column qualifiers are resolved through sqlglot scopes
    (so `T1` may mean different tables in different subqueries). In a (sub)query over a single
    table the qualifiers of its own columns carry no information and are dropped.
    """
    tables = list(tree.find_all(exp.Table, bfs=False))
    uses = Counter(t.name for t in tables)
    seen: Counter[str] = Counter()
    canonical: dict[int, str] = {}
    for table in tables:
        seen[table.name] += 1
        canonical[id(table)] = table.name if uses[table.name] == 1 else f"{table.name}_{seen[table.name]}"

    for scope in traverse_scope(tree):
        only_source = next(iter(scope.sources.values())) if len(scope.sources) == 1 else None
        for column in scope.columns:
            table = _resolve_qualifier(scope, column.table) if column.table else None
            if table is not None:
                qualifier = None if table is only_source else exp.to_identifier(canonical[id(table)])
                column.set("table", qualifier)
    for table in tables:
        name = canonical[id(table)]
        table.set("alias", None if name == table.name else exp.TableAlias(this=exp.to_identifier(name)))


def _resolve_qualifier(scope: Scope | None, qualifier: str) -> exp.Table | None:
    """The table a column qualifier names, looked up in its scope, then enclosing scopes."""
    while scope is not None:
        source = scope.sources.get(qualifier)
        if source is not None:
            return source if isinstance(source, exp.Table) else None
        scope = scope.parent
    return None


def _inline_output_aliases(tree: exp.Expr) -> None:
    """Drop output-column aliases of the outermost SELECT (`COUNT(*) AS cnt` == `COUNT(*)`).

    They only rename result columns, which no metric here compares. ORDER BY references to an
    alias are replaced by the aliased expression (SQLite resolves ORDER BY names to aliases
    first). If an alias is referenced anywhere else (WHERE/GROUP BY/HAVING), nothing is changed.
    """
    if not isinstance(tree, exp.Select):
        return
    aliases = {
        a.alias: a.this
        for a in tree.expressions
        if isinstance(a, exp.Alias) and not (isinstance(a.this, exp.Column) and a.this.name == a.alias)
    }  # `name AS name` renames nothing and can be dropped whatever else refers to `name`
    for key, value in tree.args.items():
        if key in ("expressions", "order"):
            continue
        for node in value if isinstance(value, list) else [value]:
            if isinstance(node, exp.Expr) and any(
                not c.table and c.name in aliases for c in node.find_all(exp.Column)
            ):
                return
    order = tree.args.get("order")
    if order is not None:
        for column in list(order.find_all(exp.Column)):
            if not column.table and column.name in aliases:
                column.replace(aliases[column.name].copy())
    tree.set("expressions", [a.this if isinstance(a, exp.Alias) else a for a in tree.expressions])


def _sorted_operands(operands: Sequence[exp.Expr]) -> list[exp.Expr]:
    return sorted(operands, key=lambda e: e.sql(dialect="sqlite"))


def _canonical_node(node: exp.Expr) -> exp.Expr:
    """Local rewrites of one node whose children are already canonical."""
    if isinstance(node, exp.Connector):  # AND / OR chains: flatten and sort operands
        operands = _sorted_operands(list(node.flatten()))
        return functools.reduce(lambda a, b: type(node)(this=a, expression=b), operands)
    if isinstance(node, (exp.EQ, exp.NEQ)):  # `a = b` == `b = a`
        this, other = _sorted_operands([node.this, node.expression])
        return type(node)(this=this, expression=other)
    if isinstance(node, exp.Paren) and isinstance(node.this, (exp.Column, exp.Literal, exp.Func, *_COMPARISONS)):
        return node.this  # parentheses around an atom or a comparison change nothing
    if isinstance(node, exp.Ordered) and not node.args.get("desc"):
        node.set("desc", None)  # explicit ASC is the default
    if isinstance(node, exp.Join) and (node.kind == "INNER" or (node.kind == "OUTER" and node.side)):
        node.set("kind", None)  # INNER JOIN == JOIN, LEFT OUTER JOIN == LEFT JOIN
    return node


def _canonicalize(node: exp.Expr) -> exp.Expr:
    """Apply `_canonical_node` bottom-up (children first, so sort keys are canonical too)."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expr):
            node.set(key, _canonicalize(value))
        elif isinstance(value, list):
            node.set(key, [_canonicalize(v) if isinstance(v, exp.Expr) else v for v in value])
    return _canonical_node(node)


@functools.lru_cache(maxsize=8192)
def _structure(sql: str) -> str | None:
    """Canonical form for structural match, or None when sqlglot cannot parse `sql`."""
    tree = parse_with_values(sql)
    if tree is None:
        return None
    try:
        tree = normalize_identifiers(tree, dialect="sqlite")  # SQLite names are case-insensitive
        _canonical_table_names(tree)
        _inline_output_aliases(tree)
        tree = _canonicalize(tree)
        for ident in tree.find_all(exp.Identifier):
            ident.set("quoted", False)
        return tree.sql(dialect="sqlite", comments=False)
    except Exception:  # a canonicalisation step sqlglot cannot do on this tree: compare as-is
        return parse_with_values(sql).sql(dialect="sqlite", comments=False)


# --------------------------------------------------------------------------------------------
# String-level metrics
# --------------------------------------------------------------------------------------------


def _any_gold(gold: str, matches: Callable[[str], bool]) -> bool:
    return any(matches(alternative) for alternative in split_statements(gold))


def exact_match(pred: str, gold: str) -> bool:
    """`pred` equals some gold alternative after `normalize_sql`."""
    pred_norm = normalize_sql(pred)
    return bool(pred_norm) and _any_gold(gold, lambda g: normalize_sql(g) == pred_norm)


def structural_match(pred: str, gold: str) -> bool:
    """`pred` and some gold alternative have the same canonical sqlglot tree (SQLite dialect).

    Considered equal: whitespace, comments, keyword/identifier/function case, identifier
    quoting, `"x"` vs `'x'` string values, a trailing `;`, table aliases (`FROM singer AS T1`
    vs `FROM singer`; qualifiers dropped in single-table queries), output-column aliases of the
    outer SELECT, operand order of AND/OR chains and of `=`/`!=`, redundant parentheses around
    atoms and comparisons, explicit ASC, `INNER JOIN` vs `JOIN`, `LEFT OUTER` vs `LEFT`.

    NOT considered equal (even where results agree): SELECT-list order, JOIN order, `IN` vs
    `EXISTS` vs JOIN, `COUNT(*)` vs `COUNT(col)`, `>` vs `>=`, `1` vs `1.0`, BETWEEN vs two
    comparisons, different LIMIT/DISTINCT, a qualified vs an unqualified column in a multi-table
    query (no schema to resolve it). Unparseable SQL never matches structurally.
    """
    pred_tree = _structure(pred)
    return pred_tree is not None and _any_gold(gold, lambda g: _structure(g) == pred_tree)


def parses(sql: str) -> bool:
    """`sql` is one syntactically valid SQL statement (sqlglot, sqlite dialect).

    sqlglot is somewhat more lenient than SQLite (it accepts e.g. a dangling `GROUP BY`), so
    this is an upper bound on validity; `executable` is the strict check where a database exists.
    """
    return _parse(sql) is not None


def executes(sql: str, db_path: str | Path, *, timeout_s: float = 2.0) -> bool:
    """`sql` runs without error (or timeout) on the database, read-only."""
    return run_query(db_path, sql, timeout_s=timeout_s, max_rows=1).error is None


# --------------------------------------------------------------------------------------------
# Result comparison
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How close two numbers must be to count as equal: `math.isclose(a, b, rel_tol, abs_tol)`.

    Integers compare exactly with integers; int and float compare numerically (2 == 2.0).
    """

    rel: float = REL_TOL
    abs: float = ABS_TOL

    def equal(self, a: Any, b: Any) -> bool:
        if _is_number(a) and _is_number(b):
            if isinstance(a, int) and isinstance(b, int):
                return a == b
            return math.isclose(a, b, rel_tol=self.rel, abs_tol=self.abs)
        return type(a) is type(b) and a == b  # '1' != 1, b'x' != 'x', None == None

    def coarse(self, v: Any) -> tuple:
        """Sort key under which values within tolerance (almost always) tie."""
        if _is_number(v):
            digits = 17 if self.rel <= 0 else min(17, max(1, round(-math.log10(self.rel))))
            return (1, 0.0 if abs(v) <= self.abs else float(f"{v:.{digits}g}"))
        return _exact(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _exact(v: Any) -> tuple:
    """Total order over SQLite values: NULL < numbers < text < blobs."""
    if v is None:
        return (0, 0)
    if _is_number(v):
        return (1, v)
    return (2, v) if isinstance(v, str) else (3, bytes(v))


def _rows_equal(gold: Sequence[tuple], pred: Sequence[tuple], ordered: bool, tol: Tolerance) -> bool:
    """Rows equal as sequences (`ordered`) or multisets, values compared with `tol`.

    For multisets both sides are sorted by the tolerance-rounded values first (exact values only
    break ties), so rows differing by float noise land in the same position.
    """
    if not ordered:

        def key(row: tuple) -> tuple:
            return tuple(tol.coarse(v) for v in row) + tuple(_exact(v) for v in row)

        gold, pred = sorted(gold, key=key), sorted(pred, key=key)
    return all(tol.equal(g, p) for g_row, p_row in zip(gold, pred) for g, p in zip(g_row, p_row))


def _column_assignments(candidates: list[list[int]], used: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Injective maps gold column j -> predicted column, each drawn from `candidates[j]`."""
    j = len(used)
    if j == len(candidates):
        yield used
        return
    for i in candidates[j]:
        if i not in used:
            yield from _column_assignments(candidates, used + (i,))


def results_match(
    gold: QueryResult, pred: QueryResult, *, ordered: bool, subset: bool = False, tol: Tolerance = Tolerance()
) -> bool:
    """Whether `pred` returns the same result as `gold`, ignoring column order and names.

    Rows are multisets (duplicates count) unless `ordered`; an empty prediction matches only an
    empty gold (and then only with as many columns, or more with `subset`). Columns are matched by trying injective gold->pred column maps, restricted to
    pred columns holding the same multiset of values as the gold column; with `subset`, pred may
    have columns no gold column maps to. A failed or truncated result never matches. At most
    `_MAX_COLUMN_ASSIGNMENTS` maps are tried (only reachable with many identical columns).
    """
    if not (gold.ok and pred.ok):
        return False
    k, m = len(gold.columns), len(pred.columns)
    if len(gold.rows) != len(pred.rows) or m < k or (m > k and not subset):
        return False
    gold_columns = list(zip(*gold.rows)) or [()] * k
    pred_columns = list(zip(*pred.rows)) or [()] * m

    def signature(column: Sequence) -> list:  # the column's values as a sorted multiset
        return sorted(column, key=lambda v: (tol.coarse(v), _exact(v)))

    pred_signatures = [signature(c) for c in pred_columns]
    candidates = [
        [i for i, p in enumerate(pred_signatures) if all(map(tol.equal, g, p))]
        for g in map(signature, gold_columns)
    ]
    for assignment in itertools.islice(_column_assignments(candidates), _MAX_COLUMN_ASSIGNMENTS):
        projected = [tuple(row[i] for i in assignment) for row in pred.rows]
        if _rows_equal(gold.rows, projected, ordered, tol):
            return True
    return False


@functools.lru_cache(maxsize=8192)
def has_top_level_order_by(sql: str) -> bool:
    """Whether row order is part of the query's answer (an ORDER BY on the outermost query)."""
    tree = _parse(sql)
    if tree is not None:
        return isinstance(tree, exp.Query) and tree.args.get("order") is not None
    depth, previous = 0, ""
    for m in _TOKEN.finditer(sql):
        token = m.group().upper()
        if m.lastgroup == "skip":
            continue
        depth += (token == "(") - (token == ")")
        if depth == 0 and previous == "ORDER" and token == "BY":
            return True
        previous = token
    return False


# --------------------------------------------------------------------------------------------
# Execution metrics
# --------------------------------------------------------------------------------------------

Runner = Callable[[str], QueryResult]
EXECUTION_KEYS = ("executable", "execution_match", "execution_match_subset")


@dataclass
class Databases:
    """Where one example's SQL runs: a database file, or the generated test-suite databases.

    Gold results are cached per gold statement, since the same gold is scored for base and
    tuned outputs.
    """

    runners: list[Runner]
    gold_results: dict[str, list[QueryResult]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, db_path: str | Path, *, timeout_s: float, max_rows: int) -> Databases:
        return cls([functools.partial(run_query, db_path, timeout_s=timeout_s, max_rows=max_rows)])

    @classmethod
    def from_schema(
        cls, schema: str, gold: str, *, n_dbs: int, seed: int, timeout_s: float, max_rows: int
    ) -> Databases:
        """Test-suite databases for `schema`, seeded with the constants of every gold alternative."""
        trees = [t for t in map(parse_with_values, split_statements(gold)) if t is not None]
        connections = testsuite.build_databases(schema, trees, n_dbs=n_dbs, seed=seed)
        return cls(
            [functools.partial(run_on_connection, c, timeout_s=timeout_s, max_rows=max_rows) for c in connections]
        )

    def gold(self, sql: str) -> list[QueryResult]:
        if sql not in self.gold_results:
            self.gold_results[sql] = [run(sql) for run in self.runners]
        return self.gold_results[sql]


def execution_scores(pred: str, gold: str, dbs: Databases, tol: Tolerance = Tolerance()) -> dict[str, bool | None]:
    """`executable`, `execution_match` and `execution_match_subset` for one prediction.

    A prediction matches a gold alternative when their results agree on EVERY database in `dbs`
    (one for a file, several for a test suite). Gold alternatives that fail on some database
    are ignored; when none is usable the match keys are None (the example cannot be judged).
    """
    pred_results = [run(pred) for run in dbs.runners]
    gold_runs = [(g, dbs.gold(g)) for g in split_statements(gold)]
    usable = [(g, results) for g, results in gold_runs if all(r.ok for r in results)]

    def matches(subset: bool) -> bool | None:
        if not usable:
            return None
        return any(
            all(
                results_match(g, p, ordered=has_top_level_order_by(sql), subset=subset, tol=tol)
                for g, p in zip(results, pred_results)
            )
            for sql, results in usable
        )

    return {
        "executable": all(r.error is None for r in pred_results),
        "execution_match": matches(subset=False),
        "execution_match_subset": matches(subset=True),
    }


def execution_match(
    pred: str,
    gold: str,
    db_path: str | Path,
    *,
    float_tol: float = REL_TOL,
    abs_tol: float = ABS_TOL,
    timeout_s: float = 2.0,
    max_rows: int = 10_000,
    subset: bool = False,
) -> bool:
    """`pred` returns the same result as some gold alternative on the SQLite file `db_path`.

    Same result means (see `results_match`): equal row multisets, or sequences when the gold has
    a top-level ORDER BY; column order and names ignored; duplicates count; numbers equal when
    `math.isclose(a, b, rel_tol=float_tol, abs_tol=abs_tol)` (defaults 1e-6 / 1e-9, so 0.3333 !=
    0.33). An unusable gold (error, timeout, more than `max_rows` rows) gives False.
    """
    dbs = Databases.from_file(db_path, timeout_s=timeout_s, max_rows=max_rows)
    key = "execution_match_subset" if subset else "execution_match"
    return bool(execution_scores(pred, gold, dbs, Tolerance(float_tol, abs_tol))[key])


def execution_match_subset(pred: str, gold: str, db_path: str | Path, **options: Any) -> bool:
    """`execution_match` where pred may return extra columns (gold columns ⊆ pred columns)."""
    return execution_match(pred, gold, db_path, subset=True, **options)


def suite_execution_match(
    pred: str,
    gold: str,
    schema: str,
    *,
    n_dbs: int = 5,
    seed: int = 0,
    float_tol: float = REL_TOL,
    abs_tol: float = ABS_TOL,
    timeout_s: float = 2.0,
    max_rows: int = 10_000,
    subset: bool = False,
) -> bool:
    """`execution_match` for a CREATE-TABLE-only schema: agree on all `n_dbs` random databases.

    An approximation of semantic equivalence (see `testsuite`), deterministic given `seed`.
    """
    dbs = Databases.from_schema(schema, gold, n_dbs=n_dbs, seed=seed, timeout_s=timeout_s, max_rows=max_rows)
    key = "execution_match_subset" if subset else "execution_match"
    return bool(execution_scores(pred, gold, dbs, Tolerance(float_tol, abs_tol))[key])


# --------------------------------------------------------------------------------------------
# The metric
# --------------------------------------------------------------------------------------------

_CREATE_TABLE = re.compile(r"\bcreate\s+table\b", re.IGNORECASE)


class SqlMetric(Metric):
    """All SQL scores for one example: exact/structural/valid always, execution where possible.

    The database is `example.meta["db_path"]` when present; else, when `example.meta["schema"]`
    holds CREATE TABLE text, `n_test_dbs` generated test-suite databases; else the execution
    keys are None. Not thread-safe (caches and SQLite connections are per instance).
    """

    name = "sql"

    def __init__(
        self,
        *,
        float_tol: float = REL_TOL,
        abs_tol: float = ABS_TOL,
        timeout_s: float = 2.0,
        max_rows: int = 10_000,
        n_test_dbs: int = 5,
        seed: int = 0,
        cache_size: int = 256,
    ) -> None:
        self.tol = Tolerance(float_tol, abs_tol)
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.n_test_dbs = n_test_dbs
        self.seed = seed
        self.cache_size = cache_size
        self._databases: OrderedDict[tuple, Databases | None] = OrderedDict()

    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        pred, gold = extract_sql(prediction), example.answer
        scores: dict[str, bool | None] = {
            "exact_match": exact_match(pred, gold),
            "structural_match": structural_match(pred, gold),
            "valid_sql": parses(pred),
        }
        dbs = self._databases_for(example)
        scores.update(execution_scores(pred, gold, dbs, self.tol) if dbs else dict.fromkeys(EXECUTION_KEYS))
        return {k: None if v is None else float(v) for k, v in scores.items()}

    def _databases_for(self, example: Example) -> Databases | None:
        """Cached `Databases` for the example (LRU, `cache_size` entries)."""
        db_path, schema = example.meta.get("db_path"), example.meta.get("schema")
        if db_path:
            key: tuple = ("file", str(db_path))
        elif isinstance(schema, str) and _CREATE_TABLE.search(schema):
            key = ("schema", schema, example.answer)  # the suite is seeded with gold's constants
        else:
            return None
        if key in self._databases:
            self._databases.move_to_end(key)
            return self._databases[key]
        self._databases[key] = self._build(key)
        if len(self._databases) > self.cache_size:
            self._databases.popitem(last=False)
        return self._databases[key]

    def _build(self, key: tuple) -> Databases | None:
        if key[0] == "file":
            return Databases.from_file(key[1], timeout_s=self.timeout_s, max_rows=self.max_rows)
        try:
            _, schema, gold = key
            return Databases.from_schema(
                schema, gold, n_dbs=self.n_test_dbs, seed=self.seed, timeout_s=self.timeout_s, max_rows=self.max_rows
            )
        except testsuite.SchemaError:
            return None  # schema does not build in SQLite: execution cannot be judged
