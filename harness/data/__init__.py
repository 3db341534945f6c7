"""Data stage: rows from a source -> `Example`s -> deterministic train/valid/test `Splits`, plus
the evaluation-only sets (a held-out slice of the data, benchmark files) scored beside the test split."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path

from harness.data.formats import detect_format, to_examples
from harness.data.records import Example, Splits
from harness.data.schema import SchemaSources, schema_sources
from harness.data.sources import read_file, read_rows, source_path
from harness.errors import UserError
from harness.results import DataInfo
from harness.spec import BenchmarkSpec, DataSpec, HoldoutSpec, SplitSpec

__all__ = ["DataInfo", "Example", "SchemaSources", "Splits", "hold_out", "load_benchmarks", "load_splits", "schema_sources",
           "split_examples"]


def load_splits(spec: DataSpec, base_dir: Path = Path(".")) -> tuple[Splits, DataInfo]:
    """The hold-out (if any) is taken from all rows first, so `subset` samples only what remains
    and no row of a held-out value can reach train, valid or test."""
    rows = read_rows(spec.source, base_dir, spec.hub_split)
    if not rows:
        raise UserError(f"data.source: {spec.source} has no rows")
    rows_dir = source_path(spec.source, base_dir).parent
    examples = to_examples(rows, spec, "data", spec.source, rows_dir)
    evaluation_only: dict[str, list[Example]] = {}
    if spec.split.holdout is not None:
        held, examples = hold_out(examples, spec.split.holdout, spec.split.seed)
        evaluation_only[spec.split.holdout.name] = held
    held_out = _count(spec.split.valid, len(examples), "valid") + _count(spec.split.test, len(examples), "test")
    if spec.subset is not None and spec.subset <= held_out:
        raise UserError(
            f"data.subset: {spec.subset} rows cannot hold the held-out splits (valid + test = {held_out}) "
            "and leave rows to train on; raise data.subset or lower data.split.valid/test"
        )
    if spec.subset is not None and spec.subset < len(examples):
        examples = random.Random(spec.split.seed).sample(examples, spec.subset)
    splits, dropped = split_examples(examples, spec.split)
    splits = Splits(train=splits.train, valid=splits.valid, test=splits.test, evaluation_only=evaluation_only)
    digest = hashlib.sha256(json.dumps([[e.prompt, e.answer] for e in examples]).encode()).hexdigest()
    info = DataInfo(
        source=spec.source,
        format=detect_format(set(rows[0]), spec),
        rows=len(examples),
        train=len(splits.train),
        valid=len(splits.valid),
        test=len(splits.test),
        dropped_overlap=dropped,
        sha256=digest[:16],
        evaluation_only={name: len(held) for name, held in evaluation_only.items()},
    )
    return splits, info


def hold_out(examples: list[Example], spec: HoldoutSpec, seed: int) -> tuple[list[Example], list[Example]]:
    """(held-out, rest): every example whose `spec.column` value is held out goes to the first
    list. Values are named (shell patterns allowed) or `count` of them drawn with `seed`."""
    values: dict[str, None] = {}
    for ex in examples:
        if spec.column not in ex.meta:
            raise UserError(f"data.split.holdout.column: column '{spec.column}' is missing in example {ex.id}")
        values.setdefault(str(ex.meta[spec.column]), None)
    if spec.values is not None:
        chosen = set()
        for pattern in spec.values:
            matched = fnmatch.filter(values, pattern)
            if not matched:
                raise UserError(f"data.split.holdout.values: '{pattern}' matches no value of column "
                                f"'{spec.column}' (e.g. {', '.join(list(values)[:5])})")
            chosen.update(matched)
    else:
        if spec.count >= len(values):
            raise UserError(f"data.split.holdout.count: {spec.count} would hold out every one of the "
                            f"{len(values)} values of '{spec.column}'; use a smaller count")
        chosen = set(random.Random(f"{seed}:holdout").sample(sorted(values), spec.count))
    if len(chosen) == len(values):
        raise UserError(f"data.split.holdout.values: they cover every value of '{spec.column}', leaving nothing to train on")
    rest = [ex for ex in examples if str(ex.meta[spec.column]) not in chosen]
    seen = {ex.prompt for ex in rest}  # a held-out prompt that also sits among the rest is not unseen
    held = [ex for ex in examples if str(ex.meta[spec.column]) in chosen and ex.prompt not in seen]
    if spec.max_rows is not None and spec.max_rows < len(held):
        held = random.Random(f"{seed}:holdout-rows").sample(held, spec.max_rows)
    return held, rest


def load_benchmarks(specs: Sequence[BenchmarkSpec], base_dir: Path = Path(".")) -> dict[str, list[Example]]:
    """Each benchmark file's examples by name, through the same formats as `data`; a row's
    relative `db_path` (or the `db_folder`) is taken relative to the benchmark file."""
    loaded = {}
    for i, spec in enumerate(specs):
        where = f"evaluation.benchmarks.{i}"
        path = source_path(spec.source, base_dir)
        rows = read_file(path, f"{where}.source")
        if spec.limit is not None:
            rows = rows[: spec.limit]
        loaded[spec.name] = to_examples(rows, spec, where, str(path), path.parent)
    return loaded


def split_examples(examples: list[Example], spec: SplitSpec) -> tuple[Splits, int]:
    """Seeded shuffle, then test, valid, train in that order. With `group_by`, whole groups move
    together (paraphrases of one SQL never straddle train and test). Held-out examples whose
    prompt also appears in train are dropped; the count is returned so reports can show it."""
    n = len(examples)
    n_test, n_valid = _count(spec.test, n, "test"), _count(spec.valid, n, "valid")
    if n_test + n_valid >= n:
        raise UserError(f"data.split: valid ({n_valid}) + test ({n_test}) leave no training rows out of {n}")
    groups: dict[str, list[Example]] = {}
    for i, ex in enumerate(examples):
        key = str(ex.meta.get(spec.group_by, f"#{i}")) if spec.group_by else f"#{i}"
        if spec.group_by and spec.group_by not in ex.meta:
            raise UserError(f"data.split.group_by: column '{spec.group_by}' is missing in example {ex.id}")
        groups.setdefault(key, []).append(ex)
    order = list(groups)
    random.Random(spec.seed).shuffle(order)
    test, valid, train = [], [], []
    for key in order:
        target = test if len(test) < n_test else valid if len(valid) < n_valid else train
        target.extend(groups[key])
    if spec.train is not None:
        train = train[: _count(spec.train, n, "train")]
    seen = {ex.prompt for ex in train}
    kept_test = [ex for ex in test if ex.prompt not in seen]
    kept_valid = [ex for ex in valid if ex.prompt not in seen]
    dropped = len(test) - len(kept_test) + len(valid) - len(kept_valid)
    if not train or not kept_test or not kept_valid:
        raise UserError(f"data.split: a split came out empty (train {len(train)}, valid {len(kept_valid)}, test {len(kept_test)})")
    return Splits(train=train, valid=kept_valid, test=kept_test), dropped


def _count(size: float, n: int, name: str) -> int:
    if size < 1:
        return max(1, round(size * n))
    if size != int(size):
        raise UserError(f"data.split.{name}: {size} is neither a fraction below 1 nor a whole count")
    return int(size)
