"""Turn raw rows of a known layout into prompt/answer `Example`s."""

from __future__ import annotations

import hashlib
import string
from typing import Any

from harness.data.records import Example
from harness.errors import UserError
from harness.spec import DataSpec

_LLAMA2_SQL_RESPONSE = "### Response:"


def detect_format(columns: set[str], spec: DataSpec) -> str:
    """`auto` picks a format from the columns present; explicit formats are taken as given."""
    if spec.format != "auto":
        return spec.format
    if {"question", "sql", "schema_brief"} <= columns:
        return "builtin-sql"
    if {"input", "output"} <= columns:
        return "llama2-sql"
    if {spec.instruction_column, spec.response_column} <= columns:
        return "instruction"
    if spec.text_column in columns:
        return "text"
    raise UserError(
        f"data.format: cannot tell the layout from columns {sorted(columns)}; set data.format "
        "(text, instruction, llama2-sql or template) and its column names"
    )


def to_examples(rows: list[dict[str, Any]], spec: DataSpec) -> list[Example]:
    fmt = detect_format(set(rows[0]), spec)
    _check_columns(fmt, set(rows[0]), spec)
    convert = _CONVERTERS[fmt]
    examples = []
    for i, row in enumerate(rows):
        try:
            prompt, answer, used = convert(row, spec)
        except KeyError as exc:
            raise UserError(f"data: row {i} has no column {exc} needed by format '{fmt}'") from None
        if not prompt.strip() or not answer.strip():
            raise UserError(f"data: row {i} gives an empty prompt or answer with format '{fmt}'")
        meta = {k: v for k, v in row.items() if k not in used}
        examples.append(Example(id=str(row.get("id", _digest(prompt, answer))), prompt=prompt, answer=answer, meta=meta))
    return examples


def _check_columns(fmt: str, columns: set[str], spec: DataSpec) -> None:
    """The columns a format reads must exist, named by the spec field that chose them."""
    template_fields = [f for _, f, _, _ in string.Formatter().parse(spec.prompt_template or "") if f]
    needed: list[tuple[str, str]] = {
        "text": [("text_column", spec.text_column)],
        "instruction": [("instruction_column", spec.instruction_column), ("response_column", spec.response_column)],
        "llama2-sql": [("format", "input"), ("format", "output")],
        "template": [("answer_column", spec.answer_column or "")] + [("prompt_template", f) for f in template_fields],
        "builtin-sql": [],
    }[fmt]
    for field, column in needed:
        if column not in columns:
            raise UserError(
                f"data.{field}: column '{column}' is not in {spec.source} (its columns: {', '.join(sorted(columns))}); "
                "fix the column name in the spec or the file"
            )


def _digest(prompt: str, answer: str) -> str:
    return hashlib.sha256(f"{prompt}\x00{answer}".encode()).hexdigest()[:12]


def _text(row: dict, spec: DataSpec) -> tuple[str, str, set[str]]:
    text = row[spec.text_column]
    head, sep, tail = text.rpartition(spec.separator)
    if not sep:
        raise UserError(f"data.separator: {spec.separator!r} not found in a '{spec.text_column}' value: {text[:80]!r}")
    return head.strip(), tail.strip(), {spec.text_column}


def _instruction(row: dict, spec: DataSpec) -> tuple[str, str, set[str]]:
    extra = (row.get(spec.input_column) or "").strip()
    prompt = row[spec.instruction_column].strip() + (f"\n\n{extra}" if extra else "")
    return prompt, row[spec.response_column].strip(), {spec.instruction_column, spec.input_column, spec.response_column}


def _llama2_sql(row: dict, spec: DataSpec) -> tuple[str, str, set[str]]:
    """The seed's Llama-2-SQL layout: `input` holds the instruction, the schema and a trailing
    `### Response:` marker; the prompt style re-adds its own answer cue, so drop the marker."""
    prompt = row["input"].strip().removesuffix(_LLAMA2_SQL_RESPONSE).strip()
    return prompt, row["output"].strip(), {"input", "output"}


def _template(row: dict, spec: DataSpec) -> tuple[str, str, set[str]]:
    used = {f for _, f, _, _ in string.Formatter().parse(spec.prompt_template) if f}
    return spec.prompt_template.format(**row), str(row[spec.answer_column]), used | {spec.answer_column}


def _builtin_sql(row: dict, spec: DataSpec) -> tuple[str, str, set[str]]:
    prompt = f"Database schema:\n{row['schema_brief']}\n\nQuestion: {row['question']}"
    return prompt, row["sql"], {"question", "sql", "schema_brief"}


_CONVERTERS = {
    "text": _text,
    "instruction": _instruction,
    "llama2-sql": _llama2_sql,
    "template": _template,
    "builtin-sql": _builtin_sql,
}
