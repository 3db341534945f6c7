"""`harness push` where the Hub cannot be had, for real (this machine cannot reach it; nothing is mocked):
offline mode, no token, no route to the Hub. Each is one line, exit 2, before anything is prepared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.spec import load_spec
from tests.conftest import tiny_spec_dict, write_spec

REPO = Path(__file__).resolve().parents[1]
# Anything that could hand the child a token or a Hub setting from the machine running the tests.
_HUB_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "HF_HUB_OFFLINE", "HF_ENDPOINT")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One real `harness run` of the tiny model (about 30 s on 2 cores): the push fails on the Hub, not the run."""
    from harness.pipeline import run

    root = tmp_path_factory.mktemp("push-run")
    return run(load_spec(write_spec(root / "tiny.yaml", tiny_spec_dict())), runs_dir=root / "runs")


def _push(run_dir: Path, tmp_path: Path, **hub_env: str) -> subprocess.CompletedProcess:
    """`harness push` in a fresh process, so huggingface_hub reads HF_HUB_OFFLINE as a user's shell sets it;
    its own empty HF_HOME (no stored token) and TMPDIR (where a prepared folder would appear)."""
    env = {key: value for key, value in os.environ.items() if key not in _HUB_VARIABLES}
    (tmp_path / "tmp").mkdir()
    env |= {"PYTHONPATH": str(REPO), "HF_HOME": str(tmp_path / "hf-home"), "TMPDIR": str(tmp_path / "tmp"), **hub_env}
    return subprocess.run([sys.executable, "-m", "harness.cli", "push", str(run_dir), "--repo", "someone/tiny-sql"],
                          capture_output=True, text=True, env=env, timeout=300)


def _assert_one_line_and_nothing_prepared(done: subprocess.CompletedProcess, tmp_path: Path) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: push: ") and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert "nothing was uploaded" in done.stderr
    assert not list((tmp_path / "tmp").iterdir())  # no prepared folder left behind
    return done.stderr


@pytest.mark.train
def test_offline_mode(tiny_run: Path, tmp_path: Path):
    err = _assert_one_line_and_nothing_prepared(_push(tiny_run, tmp_path, HF_HUB_OFFLINE="1", HF_TOKEN="hf_not_a_real_token"), tmp_path)
    assert "HF_HUB_OFFLINE is set" in err


@pytest.mark.train
def test_no_token(tiny_run: Path, tmp_path: Path):
    err = _assert_one_line_and_nothing_prepared(_push(tiny_run, tmp_path), tmp_path)
    assert "no Hugging Face token" in err


@pytest.mark.train
def test_hub_out_of_reach_with_offline_mode_unset(tiny_run: Path, tmp_path: Path):
    """Offline mode unset and a token given: the Hub itself must answer, and from here it cannot (with
    internet, the made-up token is what it rejects: one line too)."""
    err = _assert_one_line_and_nothing_prepared(_push(tiny_run, tmp_path, HF_TOKEN="hf_not_a_real_token"), tmp_path)
    assert "cannot reach the Hugging Face Hub" in err or "rejected the token" in err


@pytest.mark.parametrize("args, message", [
    (["--repo", "not a repo"], "not a Hub repository id"),
    (["--repo", "just-a-name"], "org/name"),
    (["--repo", "someone/x", "--what", "gguf"], "unknown"),
])
def test_bad_arguments_are_one_line_before_the_run_is_read(args, message, tmp_path: Path, capsys):
    assert main(["push", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.train
def test_the_prepared_folder_holds_the_weights_the_card_and_the_report(tiny_run: Path, tmp_path: Path):
    from huggingface_hub import ModelCard

    from harness import runs
    from harness.export import ExportFormat, load_run
    from harness.push import REPORT, prepare_folder

    prepare_folder(load_run(tiny_run), ExportFormat.ADAPTER, None, tmp_path, "someone/tiny-sql")
    assert (tmp_path / runs.ADAPTER_WEIGHTS).read_bytes() == (tiny_run / runs.ADAPTER_DIR / runs.ADAPTER_WEIGHTS).read_bytes()
    assert (tmp_path / REPORT).read_bytes() == (tiny_run / REPORT).read_bytes()
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "peft" and 'PeftModel.from_pretrained(base, "someone/tiny-sql")' in card.text
