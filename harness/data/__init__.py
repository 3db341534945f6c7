"""Data stage: rows from a source -> `Example`s -> deterministic train/valid/test `Splits`."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from harness.data.formats import detect_format, to_examples
from harness.data.records import Example, Splits
from harness.data.sources import read_rows
from harness.errors import UserError
from harness.results import DataInfo
from harness.spec import DataSpec, SplitSpec

__all__ = ["DataInfo", "Example", "Splits", "load_splits", "split_examples"]


def load_splits(spec: DataSpec, base_dir: Path = Path(".")) -> tuple[Splits, DataInfo]:
    rows = read_rows(spec.source, base_dir, spec.hub_split)
    if not rows:
        raise UserError(f"data.source: {spec.source} has no rows")
    examples = to_examples(rows, spec)
    if spec.subset is not None and spec.subset < len(examples):
        examples = random.Random(spec.split.seed).sample(examples, spec.subset)
    splits, dropped = split_examples(examples, spec.split)
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
    )
    return splits, info


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
