"""Functions that tests/test_search_parallel.py runs in worker processes: a module of their own,
so a spawned worker imports this and not the test module with all it imports."""

from __future__ import annotations

import logging
import os
import signal
import time

from harness import progress
from harness.errors import UserError


def log_and_note() -> None:
    logging.getLogger("harness").warning("hello from %s", os.environ["WORKER"])
    progress.note(f"note from {os.environ['WORKER']}")


def second_fails() -> None:
    if os.environ["WORKER"] == "2":
        raise UserError("search: the second worker cannot go on")
    time.sleep(600)  # stopped by the parent once its sibling failed


def killed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
