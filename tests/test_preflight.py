"""`validate` and `run` make the same pre-flight checks: each bad input the user can fix is one
exact line naming the field or file (and line), exit 2, and not a file written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import WIKISQL_TRAIN, tiny_spec_dict, write_spec

ROWS = [json.loads(line) for line in WIKISQL_TRAIN.read_text().splitlines()[:60]]


def _jsonl(path: Path, rows: list) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _bad_jsonl_line_7(d: Path) -> tuple[dict, str]:
    lines = [json.dumps(r) for r in ROWS]
    lines[6] = '{"text": "table: 1-10\\ncolumns: a\\nQ: x\\nA: SELECT a FROM t",}'
    (d / "rows.jsonl").write_text("\n".join(lines) + "\n")
    return ({"data.source": "rows.jsonl"},
            f"data.source: {d}/rows.jsonl line 7 is not valid JSON (Expecting property name enclosed in double quotes, column 62)")


def _jsonl_line_not_an_object(d: Path) -> tuple[dict, str]:
    (d / "rows.jsonl").write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(["a", "list"]) + "\n")
    return {"data.source": "rows.jsonl"}, f"data.source: {d}/rows.jsonl line 2 is not a JSON object; each line must be one row {{...}}"


def _json_array_broken_on_line_3(d: Path) -> tuple[dict, str]:
    (d / "rows.json").write_text('[\n  {"text": "Q\\nA: x"},\n  {"text": "Q\\nA: y"\n]\n')
    return {"data.source": "rows.json"}, f"data.source: {d}/rows.json line 4 is not valid JSON (Expecting ',' delimiter, column 1)"


def _empty_file(d: Path) -> tuple[dict, str]:
    (d / "rows.jsonl").write_text("")
    return {"data.source": "rows.jsonl"}, f"data.source: {d}/rows.jsonl is empty; it needs at least one row"


def _blank_lines_only(d: Path) -> tuple[dict, str]:
    (d / "rows.csv").write_text("\n\n  \n")
    return {"data.source": "rows.csv"}, f"data.source: {d}/rows.csv is empty; it needs at least one row"


def _not_utf8(d: Path) -> tuple[dict, str]:
    (d / "rows.csv").write_bytes("instruction,response\ncaf\xe9,x\n".encode("latin-1"))
    return {"data.source": "rows.csv"}, f"data.source: {d}/rows.csv is not UTF-8 text (invalid continuation byte at byte 24)"


def _csv_short_row(d: Path) -> tuple[dict, str]:
    (d / "rows.csv").write_text("instruction,response\nadd 1 and 2,3\nadd 2 and 2,4\nsubtract\n")
    return {"data.source": "rows.csv"}, f"data.source: {d}/rows.csv line 4 has 1 fields, the header has 2"


def _csv_missing_column(d: Path) -> tuple[dict, str]:
    (d / "rows.csv").write_text("instruction,answer\n" + "".join(f"add {i} and 1,{i + 1}\n" for i in range(40)))
    return ({"data.source": "rows.csv", "data.format": "instruction"},
            ("data.response_column: column 'response' is not in rows.csv (its columns: answer, instruction); "
            "fix the column name in the spec or the file"))


def _text_column_typo(d: Path) -> tuple[dict, str]:
    return ({"data.format": "text", "data.text_column": "txt"},
            f"data.text_column: column 'txt' is not in {WIKISQL_TRAIN} (its columns: text); fix the column name in the spec or the file")


def _template_names_a_missing_column(d: Path) -> tuple[dict, str]:
    rows = [{"question": f"q{i}", "sql": f"SELECT {i}"} for i in range(40)]
    return ({"data.source": _jsonl(d / "rows.jsonl", rows), "data.format": "template",
             "data.prompt_template": "{schema}\n{question}", "data.answer_column": "sql"},
            (f"data.prompt_template: column 'schema' is not in {d}/rows.jsonl (its columns: question, sql); "
            "fix the column name in the spec or the file"))


def _data_source_is_a_directory(d: Path) -> tuple[dict, str]:
    (d / "exports").mkdir()
    return {"data.source": "exports"}, f"data.source: {d}/exports is a directory; point it at a .jsonl, .json, .csv or .parquet file"


def _subset_below_held_out(d: Path) -> tuple[dict, str]:
    return ({"data.subset": 5, "data.split.valid": 10},
            ("data.subset: 5 rows cannot hold the held-out splits (valid + test = 18) and leave rows to train on; "
            "raise data.subset or lower data.split.valid/test"))


def _gguf_that_is_not_gguf(d: Path) -> tuple[dict, str]:
    (d / "model.gguf").write_text("<html>404 Not Found</html>")
    return {"model.source": "model.gguf"}, f"model.source: {d}/model.gguf is not a GGUF file (it does not start with 'GGUF'); re-download it"


def _model_dir_without_config(d: Path) -> tuple[dict, str]:
    (d / "ckpt").mkdir()
    (d / "ckpt" / "model.safetensors").write_bytes(b"\0" * 16)
    return {"model.source": "ckpt"}, f"model.source: {d}/ckpt is not a model checkpoint directory (no config.json)"


def _unreachable_postgres(d: Path) -> tuple[dict, str]:
    return ({"search": {"trials": 2, "storage": "postgresql://nobody:s3cret@127.0.0.1:1/x"}},
            ("search.storage: cannot connect to postgresql://nobody:***@127.0.0.1:1/x (OperationalError: "
            '(psycopg.OperationalError) connection failed: connection to server at "127.0.0.1", port 1 failed: '
            "Connection refused); start the server or fix the URL"))


def _sqlite_in_a_missing_folder(d: Path) -> tuple[dict, str]:
    return ({"search": {"trials": 2, "storage": "sqlite:////nonexistent/dir/x.db"}},
            "search.storage: folder /nonexistent/dir does not exist; create it or point search.storage elsewhere")


def _storage_that_is_not_a_url(d: Path) -> tuple[dict, str]:
    return ({"search": {"trials": 2, "storage": "postgres at db-host"}},
            "search.storage: 'postgres at db-host' is not a database URL (e.g. sqlite:///study.db, postgresql://user@host/db)")


def _storage_driver_not_installed(d: Path) -> tuple[dict, str]:
    return ({"search": {"trials": 2, "storage": "mysql://me:secret@127.0.0.1:1/x"}},
            "search.storage: mysql://me:***@127.0.0.1:1/x needs the database driver 'MySQLdb'; pip install it")


def _int4_on_cpu(d: Path) -> tuple[dict, str]:
    return {"train.quantization": "int4"}, "train.quantization: int4 (QLoRA via bitsandbytes) needs a CUDA GPU; use 'none' on CPU"


def _fp16_on_cpu(d: Path) -> tuple[dict, str]:
    return ({"train.mixed_precision": "fp16"},
            "train.mixed_precision: fp16 needs a CUDA GPU; on CPU use bf16 (where the CPU has native bf16) or none")


def _fp16_weights_on_cpu(d: Path) -> tuple[dict, str]:
    return ({"model.dtype": "float16"},
            "model.dtype: float16 needs a CUDA GPU; on CPU use bfloat16 (where the CPU has native bf16) or float32")


CASES = [_bad_jsonl_line_7, _jsonl_line_not_an_object, _json_array_broken_on_line_3, _empty_file, _blank_lines_only,
         _not_utf8, _csv_short_row, _csv_missing_column, _text_column_typo, _template_names_a_missing_column,
         _data_source_is_a_directory, _subset_below_held_out, _gguf_that_is_not_gguf, _model_dir_without_config,
         _unreachable_postgres, _sqlite_in_a_missing_folder, _storage_that_is_not_a_url, _storage_driver_not_installed,
         _int4_on_cpu, _fp16_on_cpu, _fp16_weights_on_cpu]


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_bad_input_is_one_exact_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys, case, command):
    monkeypatch.chdir(tmp_path)
    overrides, message = case(tmp_path)
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec_dict(**overrides))
    before = _files(tmp_path)
    assert main([command, str(spec)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {message}"
    assert not [line for line in err[:-1] if line.startswith("error:")]
    assert _files(tmp_path) == before


def test_worker_with_an_unreachable_storage_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec_dict(search={"trials": 2}))
    assert main(["worker", str(spec), "--storage", "sqlite:////nonexistent/dir/x.db"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: search.storage: folder /nonexistent/dir does not exist; create it or point search.storage elsewhere")
    assert _files(tmp_path) == {Path("spec.yaml")}


def test_offline_hub_model_fails_validate_with_the_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec_dict(**{"model.source": "nobody-here/no-such-model"}))
    assert main(["validate", str(spec)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: model.source: cannot fetch 'nobody-here/no-such-model' from the Hugging Face hub (")
    assert line.endswith("Without internet, download it elsewhere (huggingface-cli download) and set model.source to that directory.")


def test_a_good_spec_validates_quickly_and_says_how_long(tiny_spec_file, capsys):
    assert main(["validate", str(tiny_spec_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{tiny_spec_file}: ok in ") and "project tiny, model tiny" in out
    assert "100/12/8 train/valid/test rows" in out
