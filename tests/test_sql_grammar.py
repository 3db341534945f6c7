"""The schema grammar accepts every gold query we ship, and constrained decoding keeps its promise.

The promise: every constrained answer is one statement sqlglot parses (SQLite dialect) naming
only the schema's tables and columns. The tiny random model is the hard case: under plain
greedy it writes noise, so whatever SQL comes out under the constraint is the grammar's doing.
"""

from __future__ import annotations

import json
from pathlib import Path

import llguidance
import pytest
from sqlglot import exp
from transformers import AutoTokenizer

from harness.data.builtin_sql import load
from harness.data.records import Example
from harness.data.schema import Table
from harness.errors import UserError
from harness.evaluate.decoding import compile_grammars, decoding_grammars
from harness.evaluate.generation import _grammar_vocabulary, generate, load_model
from harness.evaluate.sql.grammar import SqlSchemaConstraint, sql_select_grammar, tables_of
from harness.evaluate.sql.parse import parse
from harness.hardware import evaluation_dtype, this_machine
from harness.models import resolve_model
from harness.spec import ModelSpec

HANDWRITTEN = Path(__file__).parents[1] / "projects" / "benchmarks" / "sql-handwritten"
SHOP_SCHEMA = (
    'CREATE TABLE "order lines" (id INTEGER PRIMARY KEY, "unit price" REAL, qty INTEGER, sku TEXT);\n'
    "CREATE TABLE stock (sku TEXT PRIMARY KEY, [where] TEXT, amount INTEGER);"
)


@pytest.fixture(scope="module")
def tiny_model_dir() -> Path:
    return resolve_model(ModelSpec(source="tiny"))


@pytest.fixture(scope="module")
def vocabulary(tiny_model_dir):
    return _grammar_vocabulary(AutoTokenizer.from_pretrained(tiny_model_dir))


def _accepted(pristine: llguidance.LLMatcher, vocabulary, sql: str) -> bool:
    matcher = pristine.deep_copy()  # a matcher that rejected once stays in error, even after reset()
    return matcher.consume_tokens(vocabulary.tokenize_str(sql)) and matcher.is_accepting()


def _matcher(vocabulary, tables: list[Table]) -> llguidance.LLMatcher:
    return llguidance.LLMatcher(vocabulary, compile_grammars([sql_select_grammar(tables)])[0])


def names_only_from(sql: str, tables: list[Table]) -> bool:
    """One parsed statement whose tables exist and whose columns exist (in the named table when
    qualified by a table name)."""
    tree = parse(sql)
    if tree is None:
        return False
    columns = {t.name.lower(): {c.name.lower() for c in t.columns} for t in tables}
    every_column = set().union(*columns.values())
    if any(t.name.lower() not in columns for t in tree.find_all(exp.Table)):
        return False
    for column in tree.find_all(exp.Column):
        allowed = columns.get(column.table.lower(), every_column) if column.table else every_column
        if column.name.lower() not in allowed:
            return False
    return True


def test_every_builtin_gold_query_is_accepted_by_its_schema_grammar(vocabulary):
    by_db: dict[str, list[str]] = {}
    for pair in load(seed=0):
        by_db.setdefault(pair["db_path"], []).append(pair["sql"])
    rejected = []
    for db_path, queries in by_db.items():
        matcher = _matcher(vocabulary, tables_of(db_path, None))
        rejected += [q for q in queries if not _accepted(matcher, vocabulary, q)]
    assert sum(map(len, by_db.values())) > 20000
    assert rejected == []


def test_every_handwritten_benchmark_query_is_accepted_by_its_schema_grammar(vocabulary):
    rows = [json.loads(line) for line in (HANDWRITTEN / "questions.jsonl").read_text().splitlines()]
    rejected = []
    for row in rows:
        db = HANDWRITTEN / "databases" / row["db_id"] / f"{row['db_id']}.sqlite"
        if not _accepted(_matcher(vocabulary, tables_of(db, None)), vocabulary, row["query"]):
            rejected.append(row["query"])
    assert len(rows) >= 30 and rejected == []


def test_the_grammar_rejects_names_outside_the_schema_and_statements_outside_select(vocabulary):
    matcher = _matcher(vocabulary, tables_of(None, SHOP_SCHEMA))
    accepted = [
        'SELECT sku, "unit price" FROM "order lines" WHERE qty >= 2 ORDER BY "unit price" DESC LIMIT 3;',
        "SELECT s.[where] FROM stock AS s JOIN `order lines` AS o ON s.sku = o.sku",
        "select count(*) from stock where amount between 1 and 9",
    ]
    rejected = [
        "SELECT price FROM stock",  # no such column
        "SELECT sku FROM orders",  # no such table
        "SELECT unit price FROM stock",  # a name with a space must be quoted
        "SELECT where FROM stock",  # a keyword must be quoted
        'SELECT stock.qty FROM stock',  # qty is a column of "order lines", not of stock
        "DELETE FROM stock",
        "SELECT sku FROM stock; DROP TABLE stock",
    ]
    assert [q for q in accepted if not _accepted(matcher, vocabulary, q)] == []
    assert [q for q in rejected if _accepted(matcher, vocabulary, q)] == []


def test_the_name_check_says_no_to_unknown_tables_columns_and_unparsable_text():
    tables = tables_of(None, SHOP_SCHEMA)
    assert names_only_from('SELECT o.sku FROM "order lines" AS o WHERE o."unit price" > 1', tables)
    assert not names_only_from("SELECT price FROM stock", tables)
    assert not names_only_from("SELECT sku FROM orders", tables)
    assert not names_only_from("SELECT stock.qty FROM stock", tables)
    assert not names_only_from("SELECT sku FROM stock WHERE", tables)
    assert not names_only_from("the answer is 3", tables)


def _examples() -> list[Example]:
    """Questions over several schemas: built-in databases in different naming conventions, a
    hand-written benchmark database, and CREATE TABLE text with names that need quoting."""
    pairs = load(seed=0)
    chosen = [p for db in sorted({p["db_id"] for p in pairs})[::12] for p in [next(q for q in pairs if q["db_id"] == db)]]
    examples = [Example(id=p["id"], prompt=p["question"], answer=p["sql"], meta={"db_path": p["db_path"]}) for p in chosen]
    zoo = HANDWRITTEN / "databases" / "zoo" / "zoo.sqlite"
    examples.append(Example(id="zoo", prompt="heaviest animal?", answer="SELECT 1", meta={"db_path": str(zoo)}))
    examples.append(Example(id="shop", prompt="how many skus?", answer="SELECT 1", meta={"schema": SHOP_SCHEMA}))
    return examples


def test_every_constrained_answer_of_a_random_model_parses_and_names_only_schema_names(tiny_model_dir):
    examples = _examples()
    tables = [tables_of(ex.meta.get("db_path"), ex.meta.get("schema")) for ex in examples]
    assert len({tuple(t.name for t in ts) for ts in tables}) >= 5  # several distinct schemas
    model, tokenizer = load_model(tiny_model_dir)
    prompts = [f"{ex.prompt}\nSQL:" for ex in examples]

    constrained = generate(model, tokenizer, prompts, max_new_tokens=200, batch_size=4,
                           grammars=decoding_grammars("constrained", examples))
    greedy = generate(model, tokenizer, prompts, max_new_tokens=24, batch_size=4)

    # every answer ended on its own (stop token) rather than at the token limit
    assert all(n < 200 for n in constrained.output_tokens), constrained.output_tokens
    failing = [(out, ex.id) for out, ex, ts in zip(constrained.outputs, examples, tables) if not names_only_from(out, ts)]
    assert failing == []
    assert not all(names_only_from(out, ts) for out, ts in zip(greedy.outputs, tables))


def test_an_example_without_a_schema_is_one_clear_error_before_generation():
    example = Example(id="q7", prompt="how many?", answer="SELECT 1", meta={})
    with pytest.raises(UserError, match=r"evaluation.decoding 'constrained': example q7: no schema .*db_path"):
        decoding_grammars("constrained", [example])
    assert decoding_grammars("greedy", [example]) is None


def test_the_sql_constraint_reads_the_schema_it_is_given():
    grammar = SqlSchemaConstraint().grammar(Example(id="a", prompt="", answer="", meta={"schema": SHOP_SCHEMA}))
    assert '"\\"order lines\\""' in grammar and '"amount"' in grammar


def test_evaluate_pair_runs_every_decoding_mode_on_base_and_tuned(tiny_model_dir, tmp_path):
    """The first mode is the evaluation itself; each further one sits in `decodings` with its own
    metrics, verdict and throughput, from the same examples and the same adapter."""
    from harness.evaluate.pair import evaluate_pair
    from harness.spec import EvaluationSpec, PromptSpec
    from tests.test_generation import _random_adapter

    adapter = _random_adapter(tiny_model_dir, tmp_path / "adapter")
    examples = _examples()[:3]
    spec = EvaluationSpec(metrics=["sql"], max_new_tokens=12, batch_size=3, bootstrap_resamples=100, decoding=["greedy", "constrained"])
    evaluation = evaluate_pair(tiny_model_dir, adapter, examples, PromptSpec(), spec, dtype="auto")

    assert evaluation.decoding.strategy == "greedy" and list(evaluation.decodings) == ["constrained"]
    # auto is resolved once, and what ran is recorded for every mode (bfloat16 on a CPU with bf16 units)
    ran = evaluation_dtype("auto", this_machine())
    assert evaluation.decoding.dtype == evaluation.decodings["constrained"].decoding.dtype == ran
    constrained = evaluation.decodings["constrained"]
    assert constrained.decoding.strategy == "constrained" and constrained.n == 3
    assert "execution_match" in constrained.metrics and "outcome_no_sql" in constrained.examples[0].base_scores
    assert set(constrained.throughput) == {"base", "tuned"}
    # 12 tokens are too few for the tiny random model to end anything: every answer is counted as cut
    assert [t.cut_at_limit for e in (evaluation, constrained) for t in e.throughput.values()] == [3, 3, 3, 3]
    # even cut at 12 tokens, every constrained answer opens a SELECT; greedy noise does not
    assert all(out.lower().startswith("select") for ex in constrained.examples for out in (ex.base, ex.tuned))
    assert not all(out.lower().startswith("select") for ex in evaluation.examples for out in (ex.base, ex.tuned))
