"""Turn raw rows of a known layout into prompt/answer `Example`s."""

from __future__ import annotations

import hashlib
import sqlite3
import string
from pathlib import Path
from typing import Any

from harness.data.records import Example
from harness.data.schema import create_table_statements, find_schema, read_tables
from harness.errors import UserError
from harness.spec import RowFormat

_LLAMA2_SQL_RESPONSE = "### Response:"
# The Llama-2-SQL dataset's `input` (sql-create-context in Alpaca's layout), for a question asked of a run trained on it.
_LLAMA2_SQL_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n### Instruction:\n{question}\n\n"
    "### Input:\n{schema}\n\n" + _LLAMA2_SQL_RESPONSE + "\n"
)


def detect_format(columns: set[str], spec: RowFormat, where: str = "data") -> str:
    """`auto` picks a format from the columns present; explicit formats are taken as given."""
    if spec.format != "auto":
        return spec.format
    if {"question", "sql", "schema_brief"} <= columns:
        return "question-sql"
    if {"input", "output"} <= columns:
        return "llama2-sql"
    if {spec.instruction_column, spec.response_column} <= columns:
        return "instruction"
    if spec.text_column in columns:
        return "text"
    raise UserError(
        f"{where}.format: cannot tell the layout from columns {sorted(columns)}; set {where}.format "
        "(text, instruction, llama2-sql, template or question-sql) and its column names"
    )


def to_examples(rows: list[dict[str, Any]], spec: RowFormat, where: str = "data", source: str = "",
                rows_dir: Path = Path(".")) -> list[Example]:
    """`where` names the spec field and `source` the file in error messages; a row's relative
    `db_path` and `db_folder` are resolved against `rows_dir` (the file's folder)."""
    fmt = detect_format(set(rows[0]), spec, where)
    _check_columns(fmt, set(rows[0]), spec, where, source)
    convert = _CONVERTERS[fmt]
    databases = _Databases(spec, where, rows_dir)
    examples = []
    for i, row in enumerate(rows):
        place = f"{where}: {row_location(source, i)}"
        row = databases.locate(row, place)
        try:
            prompt, answer, used = convert(row, spec)
            schema = _execution_schema(row, prompt)
        except KeyError as exc:
            raise UserError(f"{place} has no column {exc} needed by format '{fmt}'") from None
        except ValueError as exc:
            raise UserError(f"{place}: {exc}") from None
        if not prompt.strip() or not answer.strip():
            raise UserError(f"{place} gives an empty prompt or answer with format '{fmt}'")
        meta = {k: v for k, v in row.items() if k not in used}
        if schema is not None:
            meta["schema"] = schema
        examples.append(Example(id=str(row.get("id", _digest(prompt, answer))), prompt=prompt, answer=answer, meta=meta))
    return examples


def prompt_for(question: str, spec: RowFormat, fmt: str, *, db_path: Path | None = None, schema: str | None = None) -> str:
    """The prompt a new question gets under format `fmt`, asked of a SQLite database (`db_path`) or
    CREATE TABLE text (`schema`): the row the format reads, through the converter `to_examples` uses,
    so a question put to a finished run meets the prompt its training and evaluation saw. A format
    without a schema slot (text, instruction, a one-field template) gets the question alone."""
    row = _QUESTION_ROWS[fmt](question, spec, db_path, schema)
    try:
        prompt, _, _ = _CONVERTERS[fmt](row, spec)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return prompt


def row_location(source: str, i: int) -> str:
    """Where row `i` sits in its file: a line for JSON Lines and CSV, a row number otherwise."""
    suffix = Path(source).suffix
    if suffix in (".jsonl", ".csv"):
        return f"{source} line {i + (1 if suffix == '.jsonl' else 2)}"
    return f"{source} row {i + 1}".strip()


class _Databases:
    """Gives each row an absolute `db_path`: from `db_folder` + its `db_id` (Spider layout) or its
    own `db_path` taken relative to the file; checks each database file once."""

    def __init__(self, spec: RowFormat, where: str, rows_dir: Path):
        self.where = where
        self.folder = (rows_dir / Path(spec.db_folder).expanduser()) if spec.db_folder else None
        self.rows_dir = rows_dir
        self.checked: dict[Path, bool] = {}
        self.resolved: dict[Path, str] = {}  # rows of one database name it thousands of times

    def locate(self, row: dict[str, Any], place: str) -> dict[str, Any]:
        if self.folder is not None:
            if not row.get("db_id"):
                raise UserError(f"{place} has no db_id, which {self.where}.db_folder needs")
            db_id = str(row["db_id"])
            candidates = [self.folder / db_id / f"{db_id}.sqlite", self.folder / f"{db_id}.sqlite"]
            found = next((p for p in candidates if self._exists(p)), None)
            if found is None:
                raise UserError(f"{place}: no SQLite file for db_id '{db_id}' in {self.where}.db_folder "
                                f"{self.folder} (looked for {candidates[0]} and {candidates[1]})")
            return {**row, "db_path": self._resolve(found)}
        if row.get("db_path"):
            path = Path(str(row["db_path"])).expanduser()
            path = path if path.is_absolute() else self.rows_dir / path
            if not self._exists(path):
                raise UserError(f"{place}: database file {path} not found (db_path is taken relative to the file)")
            return {**row, "db_path": self._resolve(path)}
        return row

    def _resolve(self, path: Path) -> str:
        if path not in self.resolved:
            self.resolved[path] = str(path.resolve())
        return self.resolved[path]

    def _exists(self, path: Path) -> bool:
        if path not in self.checked:
            self.checked[path] = path.is_file()
        return self.checked[path]


def _check_columns(fmt: str, columns: set[str], spec: RowFormat, where: str, source: str) -> None:
    """The columns a format reads must exist, named by the spec field that chose them."""
    template_fields = [f for _, f, _, _ in string.Formatter().parse(spec.prompt_template or "") if f]
    needed: list[tuple[str, str]] = {
        "text": [("text_column", spec.text_column)],
        "instruction": [("instruction_column", spec.instruction_column), ("response_column", spec.response_column)],
        "llama2-sql": [("format", "input"), ("format", "output")],
        "template": [("answer_column", spec.answer_column or "")] + [("prompt_template", f) for f in template_fields],
        "question-sql": [("question_column", spec.question_column), ("sql_column", spec.sql_column)],
    }[fmt]
    for field, column in needed:
        if column not in columns:
            raise UserError(
                f"{where}.{field}: column '{column}' is not in {source} (its columns: {', '.join(sorted(columns))}); "
                "fix the column name in the spec or the file"
            )


def _digest(prompt: str, answer: str) -> str:
    return hashlib.sha256(f"{prompt}\x00{answer}".encode()).hexdigest()[:12]


def _text(row: dict, spec: RowFormat) -> tuple[str, str, set[str]]:
    text = row[spec.text_column]
    head, sep, tail = text.rpartition(spec.separator)
    if not sep:
        raise ValueError(f"separator {spec.separator!r} not found in its '{spec.text_column}' value {text[:80]!r}")
    return head.strip(), tail.strip(), {spec.text_column}


def _instruction(row: dict, spec: RowFormat) -> tuple[str, str, set[str]]:
    extra = (row.get(spec.input_column) or "").strip()
    prompt = row[spec.instruction_column].strip() + (f"\n\n{extra}" if extra else "")
    return prompt, row[spec.response_column].strip(), {spec.instruction_column, spec.input_column, spec.response_column}


def _llama2_sql(row: dict, spec: RowFormat) -> tuple[str, str, set[str]]:
    """The seed's Llama-2-SQL layout: `input` holds the instruction, the schema and a trailing
    `### Response:` marker; the prompt style re-adds its own answer cue, so drop the marker."""
    prompt = row["input"].strip().removesuffix(_LLAMA2_SQL_RESPONSE).strip()
    return prompt, row["output"].strip(), {"input", "output"}


def _template(row: dict, spec: RowFormat) -> tuple[str, str, set[str]]:
    used = {f for _, f, _, _ in string.Formatter().parse(spec.prompt_template) if f}
    return spec.prompt_template.format(**row), str(row[spec.answer_column]), used | {spec.answer_column}


def _question_sql(row: dict, spec: RowFormat) -> tuple[str, str, set[str]]:
    """The built-in set's layout, "Database schema: ... Question: ...", for any question/SQL rows."""
    schema = row.get("schema_brief") or _brief(row)
    question = str(row[spec.question_column]).strip()
    prompt = f"Database schema:\n{schema}\n\nQuestion: {question}" if schema else f"Question: {question}"
    # the question stays in meta too: `harness score` matches answers to examples by it
    return prompt, str(row[spec.sql_column]).strip(), {spec.sql_column, "schema_brief"}


def _execution_schema(row: dict, prompt: str) -> str | None:
    """The CREATE TABLE script the SQL metric builds test databases from, for a row without a
    database: its `schema` column, else its `context` column (sql-create-context's layout), else
    the statements inside its prompt (Llama-2-SQL's `### Input:` block). None: no such text."""
    if row.get("db_path"):
        return None
    declared = str(row.get("schema") or "")
    if create_table_statements(declared):
        return _declared_schema(declared)
    return find_schema(str(row.get("context") or "")) or find_schema(prompt)


def _declared_schema(text: str) -> str:
    """A `schema` column is the user's word that the text is the schema, so not building is an error."""
    script = find_schema(text)
    if script is None:
        raise ValueError("its schema column is not valid CREATE TABLE SQL (SQLite cannot build it, "
                         "not even read as MySQL or Postgres)")
    return script


def _brief(row: dict) -> str:
    """One `table(col, ...)` line per table, from a CREATE TABLE `schema` column or the database."""
    if row.get("schema"):
        script = _declared_schema(str(row["schema"]))
        conn = sqlite3.connect(":memory:")
        conn.executescript(script)
    elif row.get("db_path"):
        conn = sqlite3.connect(f"file:{row['db_path']}?mode=ro", uri=True)
    else:
        return ""
    try:
        return "\n".join(f"{t.name}({', '.join(c.name for c in t.columns)})" for t in read_tables(conn))
    except sqlite3.Error as exc:
        raise ValueError(f"cannot read the schema of {row['db_path']} ({exc})") from None
    finally:
        conn.close()


def _question_sql_row(question: str, spec: RowFormat, db_path: Path | None, schema: str | None) -> dict[str, Any]:
    source = {"db_path": str(db_path)} if db_path else {"schema": schema} if schema else {}
    return {spec.question_column: question, spec.sql_column: "", **source}


def _llama2_sql_row(question: str, spec: RowFormat, db_path: Path | None, schema: str | None) -> dict[str, Any]:
    return {"input": _LLAMA2_SQL_INPUT.format(question=question, schema=schema or _create_tables(db_path)), "output": ""}


def _create_tables(db_path: Path | None) -> str:
    """A database's CREATE TABLE statements, as a schema-text format shows a schema ("" without one)."""
    if db_path is None:
        return ""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return "; ".join(sql for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                                        "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"))
    except sqlite3.Error as exc:
        raise UserError(f"cannot read the schema of {db_path} ({exc})") from None
    finally:
        conn.close()


def _instruction_row(question: str, spec: RowFormat, db_path: Path | None, schema: str | None) -> dict[str, Any]:
    return {spec.instruction_column: question, spec.response_column: ""}


def _text_row(question: str, spec: RowFormat, db_path: Path | None, schema: str | None) -> dict[str, Any]:
    return {spec.text_column: question + spec.separator}


def _template_row(question: str, spec: RowFormat, db_path: Path | None, schema: str | None) -> dict[str, Any]:
    """The question fills the template's one field; a template of several fields has no place for it alone."""
    fields = sorted({f for _, f, _, _ in string.Formatter().parse(spec.prompt_template or "") if f})
    if len(fields) != 1:
        raise UserError(f"data.prompt_template: its fields {', '.join(fields)} cannot all come from one question; "
                        "ask a run whose prompt template has one field")
    return {fields[0]: question, spec.answer_column: ""}


_QUESTION_ROWS = {
    "text": _text_row,
    "instruction": _instruction_row,
    "llama2-sql": _llama2_sql_row,
    "template": _template_row,
    "question-sql": _question_sql_row,
}

_CONVERTERS = {
    "text": _text,
    "instruction": _instruction,
    "llama2-sql": _llama2_sql,
    "template": _template,
    "question-sql": _question_sql,
}
