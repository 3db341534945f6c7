"""Read raw rows from wherever `data.source` points: a built-in set, a local file, or the hub."""

from __future__ import annotations

import csv
import io
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
    if path.is_dir():
        raise UserError(f"data.source: {path} is a directory; point it at a .jsonl, .json, .csv or .parquet file")
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
    text = _check_text_file(path, field)
    rows = [row for _, row in jsonl_rows(text, path, field)] if path.suffix == ".jsonl" else _read_with_datasets(path, field)
    if not rows:
        raise UserError(f"{field}: {path} has no rows")
    return rows


def read_jsonl(path: Path, field: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for each row of a JSON Lines file that is not the data (e.g. answers to score)."""
    return jsonl_rows(_check_text_file(path, field), path, field)


def jsonl_rows(text: str, path: Path, field: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) per non-blank line; a bad line is named by its number."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{field}: {path} line {number} is not valid JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(row, dict):
            raise UserError(f"{field}: {path} line {number} is not a JSON object; each line must be one row {{...}}")
        rows.append((number, row))
    return rows


def _check_text_file(path: Path, field: str) -> str:
    """Find the first unreadable row ourselves: `datasets` reports a bad JSON line or a short CSV
    row as a parser traceback without its line number."""
    if path.suffix == ".parquet":
        return ""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{field}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise UserError(f"{field}: {path} is empty; it needs at least one row")
    if path.suffix == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{field}: {path} line {exc.lineno} is not valid JSON ({exc.msg}, column {exc.colno})") from None
    elif path.suffix == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        for row in reader:
            if row and len(row) != len(header):
                raise UserError(
                    f"{field}: {path} line {reader.line_num} has {len(row)} fields, the header has {len(header)}"
                )
    return text


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
