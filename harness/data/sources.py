"""Read raw rows from wherever `data.source` points: a built-in set, a local file, or the hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import UserError

_FILE_LOADERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
BUILTINS = ("builtin:sql",)


def read_rows(source: str, base_dir: Path, hub_split: str = "train") -> list[dict[str, Any]]:
    if source == "builtin:sql":
        from harness.data import builtin_sql

        return builtin_sql.load()
    if source.startswith("builtin:"):
        raise UserError(f"data.source: unknown built-in dataset '{source}' (available: {', '.join(BUILTINS)})")
    path = source_path(source, base_dir)
    if path.suffix in _FILE_LOADERS:
        return read_file(path, "data.source")
    if path.exists():
        raise UserError(f"data.source: {path} has unsupported type; use .jsonl, .json, .csv or .parquet")
    if source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise UserError(f"data.source: '{source}' is not an existing file, a built-in, or a hub id like 'org/name'")
    return _read_hub(source, hub_split)


def source_path(source: str, base_dir: Path) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else base_dir / path


def read_file(path: Path, field: str) -> list[dict[str, Any]]:
    """All rows of a local .jsonl/.json/.csv/.parquet file; `field` names the spec field in errors."""
    if path.suffix not in _FILE_LOADERS:
        raise UserError(f"{field}: {path} has unsupported type; use .jsonl, .json, .csv or .parquet")
    if not path.is_file():
        raise UserError(f"{field}: file {path} not found")
    rows = _read_jsonl(path, field) if path.suffix == ".jsonl" else _read_with_datasets(path, field)
    if not rows:
        raise UserError(f"{field}: {path} has no rows")
    return rows


def _read_jsonl(path: Path, field: str) -> list[dict[str, Any]]:
    """Line by line, so a broken row is reported with its line number; row i is line i + 1."""
    rows = []
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{field}: {path} line {number} is not valid JSON ({exc.msg}); "
                            "each line must hold one JSON object") from None
        if not isinstance(row, dict):
            raise UserError(f"{field}: {path} line {number} is not a JSON object")
        rows.append(row)
    return rows if lines != [""] else []


def _read_with_datasets(path: Path, field: str) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(_FILE_LOADERS[path.suffix], data_files=str(path), split="train")
    except Exception as exc:
        raise UserError(f"{field}: cannot read {path}: {str(exc).splitlines()[0][:200]}") from None
    return ds.to_list()


def _read_hub(dataset_id: str, split: str) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(dataset_id, split=split)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:160]
        raise UserError(
            f"data.source: cannot load hub dataset '{dataset_id}' ({type(exc).__name__}: {reason}). "
            "Without internet, export it to a .jsonl file elsewhere and point data.source at that file."
        ) from None
    return ds.to_list()
