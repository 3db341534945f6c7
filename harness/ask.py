"""Ask a finished run's tuned model questions: `harness ask`, and the same from Python.

    asker = Asker(find_run(Path("runs/sqlcoder")))  # the model, loaded once
    answer = asker.ask("How many accounts have a balance above 1000?", open_database("builtin:bank"))
    answer.tuned.sql, answer.tuned.result.rows

A question meets the prompt the run trained and evaluated on: the run's data format turns it (and
the database's schema) into the prompt text through the converters the data stage uses
(`harness.data.formats.prompt_for`), and the run's prompt spec renders it (`render_prompt`). The
model is the one evaluation scored: the adapter merged into the base weights, in the evaluation's
dtype, decoded greedily (or under the evaluation's grammar) with its token limit and stop rule. The
SQL in an answer runs on the database through the evaluation sandbox: read-only, timed out, capped.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import runs
from harness.errors import UserError
from harness.evaluate.decoding import MODES
from harness.evaluate.sandbox import QueryResult, run_query

PROMPT = "ask> "
# the modes that answer a question on its own: a voting mode groups candidates on the example's databases, built from its gold
DECODINGS = tuple(name for name, mode in MODES.items() if not mode.votes)
SHOWN_ROWS = 10  # rows printed under an answer; --json carries all that were fetched
ROW_CAP = 1000  # rows fetched per query; more are reported as truncated
QUERY_TIMEOUT_S = 5.0
_SQLITE_HEADER = b"SQLite format 3\x00"
_BUILTIN = "builtin:"


@dataclass(frozen=True)
class Database:
    """What questions are asked of: a SQLite file (answers run on it) or CREATE TABLE text (nothing to run on)."""

    path: Path | None = None
    schema: str | None = None  # a CREATE TABLE script SQLite builds

    def meta(self) -> dict[str, str]:
        """As a data row's meta names its schema, so constraints built for evaluation rows read it too."""
        return {"db_path": str(self.path)} if self.path else {"schema": self.schema or ""}


@dataclass(frozen=True)
class Reply:
    """One model's answer to one question."""

    text: str  # what the model wrote
    sql: str | None  # the SQL in it, when the question was asked of a database or schema
    result: QueryResult | None  # that SQL run on the database (read-only), when it was run
    seconds: float  # generation, plus execution


@dataclass(frozen=True)
class Answer:
    question: str
    tuned: Reply
    base: Reply | None = None  # with `base=True`: the base model's answer to the same prompt

    def to_json(self) -> str:
        """One line: the question, the tuned reply's fields, and the base reply's under `base`."""
        record: dict[str, Any] = {"question": self.question, **_reply_fields(self.tuned)}
        if self.base is not None:
            record["base"] = _reply_fields(self.base)
        return json.dumps(record, default=_json_value)


def _reply_fields(reply: Reply) -> dict[str, Any]:
    result = reply.result
    return {
        "text": reply.text,
        "sql": reply.sql,
        "columns": list(result.columns) if result and result.rows is not None else None,
        "rows": [list(row) for row in result.rows] if result and result.rows is not None else None,
        "truncated": bool(result and result.truncated),
        "error": result.error if result else None,
        "seconds": round(reply.seconds, 3),
    }


def _json_value(value: object) -> str:
    """SQLite's one value JSON has no type for: a blob, as hex."""
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def find_run(path: Path) -> Path:
    """`path` when it is a finished run directory; for a project's runs folder (`runs/<project>`),
    its newest finished run."""
    if runs.results_path(path).is_file():
        return path
    if not path.is_dir():
        raise UserError(f"{path}: no such directory; give a finished run directory (runs/<project>/<timestamp>) "
                        "or a project's runs folder (runs/<project>)")
    finished = [run for run in runs.run_dirs(path.parent, path.name) if runs.results_path(run).is_file()]
    if not finished:
        raise UserError(f"{path}: no {runs.RESULTS} here nor in a run directory below it; give a finished run "
                        "directory (runs/<project>/<timestamp>), or finish one with `harness run SPEC`")
    return finished[-1]


def open_database(value: str) -> Database:
    """`--db`: a SQLite file, or `builtin:<db_id>` for one of the built-in text-to-SQL databases."""
    if value.startswith(_BUILTIN):
        from harness.data import builtin_sql

        paths = {pair["db_id"]: Path(pair["db_path"]) for pair in builtin_sql.load()}
        db_id = value.removeprefix(_BUILTIN)
        if db_id not in paths:
            raise UserError(f"--db: unknown built-in database '{db_id}'; use one of builtin:{', builtin:'.join(sorted(paths))}")
        return Database(path=paths[db_id])
    path = Path(value).expanduser()
    if not path.is_file():
        raise UserError(f"--db: no file {path}; give a SQLite database file or builtin:<db_id> (e.g. builtin:bank)")
    try:
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise UserError(f"--db: cannot read {path} ({exc.strerror}); check its permissions") from None
    if header != _SQLITE_HEADER:
        raise UserError(f"--db: {path} is not a SQLite database (no SQLite file header); give a .sqlite file "
                        "or builtin:<db_id>")
    return Database(path=path.resolve())


def read_schema(path: Path) -> Database:
    """`--schema`: a file of CREATE TABLE statements (SQLite, MySQL or Postgres), as the data stage reads them."""
    from harness.data.schema import find_schema

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UserError(f"--schema: cannot read {path} ({reason}); give a text file of CREATE TABLE statements") from None
    script = find_schema(text)
    if script is None:
        raise UserError(f"--schema: {path} has no CREATE TABLE statements SQLite can build (read as SQLite, MySQL "
                        "or Postgres); give a file of CREATE TABLE statements")
    return Database(schema=script)


def execute(db_path: Path, sql: str) -> QueryResult:
    """An answer's SQL on the database through the evaluation sandbox: read-only, one statement,
    reads only (no ATTACH, PRAGMA or writes), timed out and row-capped. Never raises for bad SQL."""
    return run_query(db_path, sql, timeout_s=QUERY_TIMEOUT_S, max_rows=ROW_CAP)


@dataclass(frozen=True)
class _LoadedModel:
    model: Any
    tokenizer: Any
    label: str


def check_decoding(decoding: str, database: Database | None) -> None:
    """A mode with a constraint (the registry says which) holds the SQL to a schema's names, so it needs one."""
    if database is None and MODES[decoding].constraint() is not None:
        raise UserError(f"--decoding {decoding} holds the SQL to a schema's tables and columns; give --db or --schema")


class Asker:
    """A finished run's model, loaded once, answering questions as its evaluation would.

    `base`: the base model answers too. `decoding="constrained"`: the evaluation's grammar holds the
    SQL to the database's own tables and columns. `execute=False`: SQL is extracted but not run."""

    def __init__(self, run_dir: Path, *, base: bool = False, decoding: str = "greedy", execute: bool = True):
        from harness import results
        from harness.evaluate.generation import load_model
        from harness.evaluate.scorers import build_metrics, stop_rule
        from harness.hardware import check_dtype, evaluation_dtype, this_machine
        from harness.models import resolve_model
        from harness.spec import load_spec

        record = results.load(run_dir)
        adapter_dir = run_dir / runs.ADAPTER_DIR
        if not (adapter_dir / "adapter_config.json").is_file():
            raise UserError(f"{run_dir}: no LoRA adapter in {adapter_dir} (no adapter_config.json); "
                            "ask a run that finished training, or re-run its spec")
        spec = load_spec(runs.spec_path(run_dir))
        machine = this_machine()
        check_dtype(spec.model.dtype, machine)
        dtype = evaluation_dtype(spec.model.dtype, machine)
        self.run_dir, self.decoding, self.execute = run_dir, decoding, execute
        self.data_format, self.row_format, self.prompt_spec = record.data.format, spec.data, spec.prompt
        self.max_new_tokens = spec.evaluation.max_new_tokens
        self.is_final = stop_rule(spec.evaluation, build_metrics(spec.evaluation.metrics))
        self._grammars: dict[Database | None, list[str] | None] = {}
        started = time.perf_counter()
        model_dir = resolve_model(spec.model, spec.base_dir)
        # two loads, each exactly as evaluation loads its side, so both answers are the ones it recorded
        self.tuned = _LoadedModel(*load_model(model_dir, adapter_dir, dtype), label="tuned")
        self.base = _LoadedModel(*load_model(model_dir, None, dtype), label="base") if base else None
        self.load_seconds = time.perf_counter() - started

    def prompt(self, question: str, database: Database | None = None) -> str:
        """The user turn `question` about `database` becomes under the run's data format (before the chat template)."""
        from harness.data.formats import prompt_for

        database = database or Database()
        return prompt_for(question, self.row_format, self.data_format, db_path=database.path, schema=database.schema)

    def ask(self, question: str, database: Database | None = None) -> Answer:
        """`database`: what the question is about; its schema goes into the prompt where the run's data
        format has a place for one, and a file's rows answer the SQL."""
        prompt = self.prompt(question, database)
        base = self._reply(self.base, prompt, database) if self.base else None
        return Answer(question=question, tuned=self._reply(self.tuned, prompt, database), base=base)

    def grammars(self, database: Database | None) -> list[str] | None:
        """The decoding's grammar for `database` (None for greedy), built once per database: it depends on the schema alone."""
        from harness.data.records import Example
        from harness.evaluate.decoding import decoding_grammars

        if database not in self._grammars:
            check_decoding(self.decoding, database)
            schema_row = Example(id="ask", prompt="", answer="", meta=database.meta() if database else {})
            self._grammars[database] = decoding_grammars(self.decoding, [schema_row])
        return self._grammars[database]

    def _reply(self, loaded: _LoadedModel, prompt: str, database: Database | None) -> Reply:
        from harness.data.prompts import render_prompt
        from harness.evaluate.generation import generate
        from harness.evaluate.sql.extract import extract_sql

        started = time.perf_counter()
        model_input = render_prompt(loaded.tokenizer, self.prompt_spec, prompt)
        (text,) = generate(loaded.model, loaded.tokenizer, [model_input], max_new_tokens=self.max_new_tokens, batch_size=1,
                           label=loaded.label, grammars=self.grammars(database), is_final=self.is_final).outputs
        sql = extract_sql(text) if database else None
        result = None
        if sql and self.execute and database and database.path:
            result = execute(database.path, sql)
        return Reply(text=text, sql=sql, result=result, seconds=time.perf_counter() - started)


def questions() -> Iterator[str]:
    """One question per line of stdin, blank lines skipped: a prompt loop on a terminal, plain lines from a pipe."""
    if not sys.stdin.isatty():
        yield from (line.strip() for line in sys.stdin if line.strip())
        return
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            print()
            return
        if line.strip():
            yield line.strip()


def view(answer: Answer):
    """What a person sees: the tuned reply, or base and tuned side by side (a rich renderable)."""
    from rich import box
    from rich.table import Table

    if answer.base is None:
        return _reply_view(answer.tuned)
    table = Table("base", "tuned", box=box.SIMPLE_HEAD, expand=True, padding=(0, 2, 0, 0))
    table.add_row(_reply_view(answer.base), _reply_view(answer.tuned))
    return table


def _reply_view(reply: Reply):
    """The SQL (or the text when there is none), the first rows as a table, then counts and seconds."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [Text(reply.sql or reply.text)]
    notes = []
    if reply.sql == "":
        notes.append("no SQL in the answer")
    result = reply.result
    if result is not None and result.rows is None:
        parts.append(Text(f"error: {result.error}", style="red"))
    elif result is not None:
        rows = Table(*result.columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for row in result.rows[:SHOWN_ROWS]:
            rows.add_row(*("NULL" if value is None else str(value) for value in row))
        parts.append(rows)
        count = f"more than {ROW_CAP}" if result.truncated else str(len(result.rows))
        shown = f", first {SHOWN_ROWS} shown" if len(result.rows) > SHOWN_ROWS else ""
        notes.append(f"{count} row{'s' * (count != '1')}{shown}")
    notes.append(f"{reply.seconds:.2f} s")
    parts.append(Text(" · ".join(notes), style="dim"))
    return Group(*parts)
