"""Data stage: formats, deterministic group-aware splits, leak check, identical prompts."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from transformers import AutoTokenizer

from harness.data import hold_out, load_splits, split_examples
from harness.data.builtin_sql import naming
from harness.data.formats import to_examples
from harness.data.prompts import render_prompt, training_text
from harness.data.records import Example
from harness.errors import UserError
from harness.models import resolve_model
from harness.spec import DataSpec, HoldoutSpec, ModelSpec, PromptSpec, SplitSpec
from tests.conftest import WIKISQL_TRAIN


def _examples(n, group=None):
    return [Example(id=str(i), prompt=f"q{i}", answer=f"a{i}", meta={"g": i // group} if group else {}) for i in range(n)]


def test_text_format_splits_the_wikisql_rows_at_the_answer_marker():
    rows = [json.loads(line) for line in WIKISQL_TRAIN.read_text().splitlines()[:3]]
    examples = to_examples(rows, DataSpec(source="x.jsonl"))
    assert examples[0].prompt.startswith("table: 1-1000181-1") and examples[0].prompt.endswith("South Australia")
    assert examples[0].answer == "SELECT Notes FROM 1-1000181-1 WHERE Current slogan = 'SOUTH AUSTRALIA'"


def test_instruction_and_llama2_sql_and_template_formats():
    spec = DataSpec(source="x.jsonl")
    ex = to_examples([{"instruction": "Add", "input": "1 and 2", "response": "3", "lang": "en"}], spec)[0]
    assert (ex.prompt, ex.answer, ex.meta) == ("Add\n\n1 and 2", "3", {"lang": "en"})
    seed_row = {"input": "### Instruction: write SQL\n### Input: CREATE TABLE t (a INT)\n### Response:", "output": "SELECT a FROM t"}
    ex = to_examples([seed_row], spec)[0]
    assert ex.prompt == "### Instruction: write SQL\n### Input: CREATE TABLE t (a INT)" and ex.answer == "SELECT a FROM t"
    tpl = DataSpec(source="x.jsonl", format="template", prompt_template="{ctx} | {q}", answer_column="sql")
    ex = to_examples([{"ctx": "C", "q": "Q", "sql": "S", "db": "d1"}], tpl)[0]
    assert (ex.prompt, ex.answer, ex.meta) == ("C | Q", "S", {"db": "d1"})


def test_unknown_layout_is_a_user_error():
    with pytest.raises(UserError, match="cannot tell the layout"):
        to_examples([{"foo": 1}], DataSpec(source="x.jsonl"))


def test_split_is_deterministic_and_sized():
    a, _ = split_examples(_examples(100), SplitSpec(valid=10, test=0.2, seed=3))
    b, _ = split_examples(_examples(100), SplitSpec(valid=10, test=0.2, seed=3))
    c, _ = split_examples(_examples(100), SplitSpec(valid=10, test=0.2, seed=4))
    assert [e.id for e in a.test] == [e.id for e in b.test] != [e.id for e in c.test]
    assert (len(a.train), len(a.valid), len(a.test)) == (70, 10, 20)
    assert not {e.id for e in a.train} & {e.id for e in a.test}


def test_group_split_keeps_groups_whole():
    splits, _ = split_examples(_examples(90, group=3), SplitSpec(valid=9, test=9, group_by="g"))
    groups = {name: {e.meta["g"] for e in getattr(splits, name)} for name in ("train", "valid", "test")}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["valid"]


def test_test_prompts_that_also_appear_in_train_are_dropped():
    examples = _examples(50) + [Example(id="dup", prompt="q0", answer="a0")]  # two rows with prompt q0

    def ids(splits) -> dict[str, set[str]]:
        return {name: {e.id for e in getattr(splits, name)} for name in ("train", "valid", "test")}

    # seed 0 draws one copy into train and the other into a held-out split: that one is dropped
    splits, dropped = split_examples(examples, SplitSpec(valid=5, test=10, seed=0))
    assert dropped == 1 and "dup" in ids(splits)["train"]
    assert "0" not in set().union(*ids(splits).values())
    assert (len(splits.valid), len(splits.test)) == (4, 10)
    # seed 6 draws both copies into train: nothing to drop, held-out splits keep their size
    splits, dropped = split_examples(examples, SplitSpec(valid=5, test=10, seed=6))
    assert dropped == 0 and {"0", "dup"} <= ids(splits)["train"]
    assert (len(splits.valid), len(splits.test)) == (5, 10)


def test_subset_and_file_loading():
    splits, info = load_splits(DataSpec(source=str(WIKISQL_TRAIN), subset=200, split=SplitSpec(valid=20, test=30)))
    assert (info.rows, info.train, info.format) == (200, 150, "text")
    assert len(splits.test) + len(splits.valid) + info.dropped_overlap == 50


def test_training_text_is_the_eval_prompt_plus_answer_plus_eos():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(ModelSpec()))
    ex = Example(id="1", prompt="How many rows?", answer="SELECT COUNT(*) FROM t;")
    for prompt in (PromptSpec(), PromptSpec(system="You write SQL."), PromptSpec(style="plain")):
        text = training_text(tokenizer, prompt, ex)
        assert text == render_prompt(tokenizer, prompt, ex.prompt) + ex.answer + "<|im_end|>"
    assert render_prompt(tokenizer, PromptSpec(style="plain"), "Q").startswith("### Question:\nQ")


def _by_db(n_dbs: int, per_db: int) -> list[Example]:
    return [Example(id=f"{d}-{i}", prompt=f"db{d} q{i}", answer="a", meta={"db_id": f"db{d}"})
            for d in range(n_dbs) for i in range(per_db)]


def test_holdout_takes_whole_values_seeded_and_by_pattern():
    examples = _by_db(10, 6)
    held, rest = hold_out(examples, HoldoutSpec(column="db_id", count=3), seed=0)
    values = {e.meta["db_id"] for e in held}
    assert len(values) == 3 and len(held) == 18 and len(rest) == 42
    assert not values & {e.meta["db_id"] for e in rest}
    assert hold_out(examples, HoldoutSpec(column="db_id", count=3), seed=0)[0] == held
    assert {e.meta["db_id"] for e in hold_out(examples, HoldoutSpec(column="db_id", count=3), seed=1)[0]} != values
    named, _ = hold_out(examples, HoldoutSpec(column="db_id", values=["db1", "db[78]"], max_rows=5), seed=0)
    assert len(named) == 5 and {e.meta["db_id"] for e in named} <= {"db1", "db7", "db8"}


@pytest.mark.parametrize("holdout, message", [
    ({"values": ["db9*"]}, "data.split.holdout.values: 'db9*' matches no value of column 'db_id'"),
    ({"values": ["db*"]}, "data.split.holdout.values: they cover every value of 'db_id'"),
    ({"count": 4}, "data.split.holdout.count: 4 would hold out every one of the 4 values"),
    ({"column": "domain", "count": 1}, "data.split.holdout.column: column 'domain' is missing in example 0-0"),
])
def test_holdout_mistakes_are_user_errors(holdout, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("*", r"\*")):
        hold_out(_by_db(4, 2), HoldoutSpec(**{"column": "db_id"} | holdout), seed=0)


def test_builtin_demo_split_spans_many_schemas_and_held_out_databases_never_leak():
    """The demo's data section: 1200 sampled rows, whole school databases held out."""
    holdout = HoldoutSpec(column="db_id", values=["school*"], max_rows=100)
    spec = DataSpec(subset=1200, split=SplitSpec(valid=40, test=100, group_by="group", holdout=holdout))
    splits, info = load_splits(spec)
    held = splits.evaluation_only["unseen"]
    assert info.evaluation_only == {"unseen": 100} and len(held) == 100
    held_dbs = {e.meta["db_id"] for e in held}
    assert held_dbs == {db.db_id for db in naming.DATABASES if db.db_id.startswith("school")}
    seen = [e for name in ("train", "valid", "test") for e in getattr(splits, name)]
    assert not held_dbs & {e.meta["db_id"] for e in seen}
    assert not {e.prompt for e in held} & {e.prompt for e in seen}
    train_dbs = Counter(e.meta["db_id"] for e in splits.train)
    assert len(train_dbs) == len(naming.DATABASES) - len(held_dbs)  # every other schema is trained on
    assert max(train_dbs.values()) < 0.06 * len(splits.train)
    for ex in held + splits.test:  # the prompt carries the schema, so names can be read off it
        assert all(f"\n{table}(" in ex.prompt for table in re.findall(r"CREATE TABLE (\w+)", ex.meta["schema"]))
