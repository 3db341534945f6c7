"""`harness push`: a run's tuned model, its model card and report.html to a Hugging Face Hub repository.

Everything that can stop a push is checked before any byte leaves the machine: the run (its record,
spec and adapter), the repository id, offline mode, a token, and the Hub answering for that token.
The folder is then prepared in full (the weights as `harness export` writes them, the card naming
the repository, the report) and sent as one commit, which the Hub applies whole or not at all.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import runs
from harness.errors import UserError
from harness.export import ExportFormat, TunedRun, describe_weights, load_run, parse_format, write_export

PUSHABLE = (ExportFormat.ADAPTER, ExportFormat.MERGED)
REPORT = runs.REPORT_FILES[1]  # report.html: one self-contained page, its figures inlined


@dataclass(frozen=True)
class Pushed:
    format: ExportFormat
    dtype: str | None  # a merged checkpoint's weights; None for an adapter
    repo_url: str
    commit_url: str

    def describe(self) -> str:
        return describe_weights(self.dtype)


def push(run_dir: Path, repo_id: str, *, private: bool = False, what: str = ExportFormat.ADAPTER) -> Pushed:
    """Upload the run's adapter (or merged checkpoint, in its evaluation's dtype) as one commit to `repo_id`,
    creating the repository if it is missing."""
    from huggingface_hub import create_repo, upload_folder

    chosen = parse_format(what, PUSHABLE, "--what")
    _check_repo_id(repo_id)
    run = load_run(run_dir)
    token = hub_token()
    dtype = run.evaluation_dtype if chosen == ExportFormat.MERGED else None
    with tempfile.TemporaryDirectory(prefix="harness-push-") as tmp:
        folder = Path(tmp)
        prepare_folder(run, chosen, dtype, folder, repo_id)
        try:
            repo_url = create_repo(repo_id, token=token, private=private, exist_ok=True)
            commit = upload_folder(repo_id=repo_id, folder_path=folder, token=token,
                                   commit_message=f"harness push: {run.record.project} ({chosen.value})")
        except Exception as exc:  # noqa: BLE001 (any failure of the upload ends the push the same way)
            raise UserError(f"push to {repo_id}: the Hub refused the upload ({_first_line(exc)}); "
                            "a failed commit leaves the repository as it was") from None
    return Pushed(format=chosen, dtype=dtype, repo_url=str(repo_url), commit_url=commit.commit_url)


def hub_token() -> str:
    """The token to push with, once the Hub has accepted it; else one line naming why not."""
    from huggingface_hub import get_token, is_offline_mode, whoami
    from huggingface_hub.errors import HfHubHTTPError

    if is_offline_mode():
        raise UserError("push: HF_HUB_OFFLINE is set, so the Hugging Face Hub is off limits; unset it to push "
                        "(nothing was uploaded)")
    token = get_token()
    if not token:
        raise UserError("push: no Hugging Face token; set HF_TOKEN or run `hf auth login` (nothing was uploaded)")
    try:
        whoami(token=token)
    except HfHubHTTPError as exc:
        raise UserError(f"push: the Hugging Face Hub rejected the token ({_first_line(exc)}); "
                        "nothing was uploaded") from None
    except Exception as exc:  # noqa: BLE001 (no route, DNS, proxy, TLS: the Hub cannot be reached)
        raise UserError(f"push: cannot reach the Hugging Face Hub ({_first_line(exc)}); nothing was uploaded") from None
    return token


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except ValueError as exc:
        raise UserError(f"--repo {repo_id}: not a Hub repository id ({_first_line(exc)})") from None
    if repo_id.count("/") != 1:
        raise UserError(f"--repo {repo_id}: give it as org/name (your user name or an organisation)")


def prepare_folder(run: TunedRun, chosen: ExportFormat, dtype: str | None, folder: Path, repo_id: str) -> None:
    """The commit's contents: the export (card included, naming the repository) and the run's report."""
    write_export(run, chosen, dtype, folder, location=repo_id)
    report = run.run_dir / REPORT
    if report.is_file():
        shutil.copy2(report, folder / REPORT)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
