"""Several copies of one function at once on this machine, each in its own spawned process with
its own share of the machine: one GPU each where there are GPUs, else an equal share of the CPU
cores (pinned, and told to torch through OMP_NUM_THREADS).

The parent relays the workers' log records (prefixed with the worker's number, so they reach the
run's log) and progress notes, forwards Ctrl-C, and when a worker fails it stops the others and
raises that worker's cause as one line. What a worker writes outside logging (a library's own
prints, a crash in native code) goes to `<logs>/worker-<pid>.log`.

Knows processes, not Optuna: harness/search.py hands it the function to run.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from harness import progress
from harness.errors import UserError

log = logging.getLogger("harness")
_TICK_S = 2.0  # how often the parent calls `tick` while the workers run
_STOP_GRACE_S = 30  # after Ctrl-C or a sibling's failure, how long workers get to stop before they are killed


@dataclass(frozen=True)
class Share:
    """One worker's part of this machine: the environment it starts with and the cores it is pinned to."""

    env: dict[str, str]
    cores: frozenset[int] | None
    description: str


def shares(workers: int, gpu_ids: list[str], cores: list[int]) -> list[Share]:
    """One GPU per worker where there are GPUs; else `len(cores) // workers` cores each (at least one)."""
    if gpu_ids:
        return [Share(env={"CUDA_VISIBLE_DEVICES": gpu}, cores=None, description=f"GPU {gpu}") for gpu in gpu_ids[:workers]]
    per = max(len(cores) // workers, 1)
    out = []
    for index in range(workers):
        mine = cores[index * per:(index + 1) * per] or cores[-per:]
        out.append(Share(env={"OMP_NUM_THREADS": str(len(mine))}, cores=frozenset(mine),
                         description=f"CPU core{'s' * (len(mine) > 1)} {','.join(map(str, mine))}"))
    return out


def machine_shares(workers: int) -> list[Share]:
    from harness.hardware import cpu_cores, this_machine, visible_gpus

    return shares(workers, visible_gpus(this_machine()), cpu_cores())


class WorkerFailed(UserError):
    """A worker process failed or died: the message is its cause in one line. Not bad input, so exit 1."""

    exit_code = 1


def run(target: Callable[..., Any], args: tuple, workers: list[Share], logs: Path, tick: Callable[[], None]) -> None:
    """`target(*args)` in one spawned process per share, to the end of all of them; `tick` is
    called every few seconds meanwhile. `target` and `args` must pickle."""
    logs.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")  # no fork: a parent's threads and CUDA state never leak in
    level = logging.getLogger().getEffectiveLevel()
    started: list[_Worker] = []
    try:
        for index, share in enumerate(workers, 1):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(writer, level, share, logs, target, args),
                                      name=f"search-worker-{index}")
            with _environment(share.env):
                process.start()
            writer.close()
            started.append(_Worker(index, process, reader, share, logs / f"worker-{process.pid}.log"))
            log.info("search worker %d (pid %d): %s", index, process.pid, share.description)
        _watch(started, tick)
    except BaseException:  # Ctrl-C, or a worker's failure: none may outlive this call
        _stop(started)
        raise


@dataclass
class _Worker:
    index: int
    process: multiprocessing.process.BaseProcess
    reader: Connection
    share: Share
    output: Path
    failure: _Failed | None = None  # its own report of why it failed

    def name(self) -> str:
        return f"search worker {self.index} ({self.share.description})"


@dataclass(frozen=True)
class _Note:
    text: str


@dataclass(frozen=True)
class _Failed:
    cause: str  # "Type: message", one line
    user_error: bool  # bad input (the same in every worker): its message stands on its own


def _watch(workers: list[_Worker], tick: Callable[[], None]) -> None:
    """Relay until every worker has ended; on the first failure stop the rest and raise its cause."""
    live = {w.reader: w for w in workers}
    failed: _Worker | None = None
    stop_deadline: float | None = None
    last_tick = time.monotonic()
    while live:
        for reader in wait(list(live), timeout=_TICK_S):
            worker = live[reader]
            try:
                item = reader.recv()
            except EOFError:  # it has exited, or is exiting
                del live[reader]
                worker.process.join(timeout=_STOP_GRACE_S)
                if failed is None and (worker.failure or worker.process.exitcode != 0):
                    failed, stop_deadline = worker, time.monotonic() + _STOP_GRACE_S
                    _interrupt([w for w in workers if w is not worker])
                continue
            if isinstance(item, logging.LogRecord):
                item.msg = f"[worker {worker.index}] {item.msg}"
                logging.getLogger(item.name).handle(item)
            elif isinstance(item, _Note):
                progress.note(f"worker {worker.index}: {item.text}")
            elif isinstance(item, _Failed):
                worker.failure = item
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            _kill([w for w in workers if w.process.is_alive()])
        if time.monotonic() - last_tick >= _TICK_S:
            tick()
            last_tick = time.monotonic()
    for worker in workers:
        worker.process.join()
    if failed is not None:
        raise _error(failed)


def _error(worker: _Worker) -> UserError:
    if worker.failure and worker.failure.user_error:
        return UserError(f"{worker.name()}: {worker.failure.cause}")
    if worker.failure:
        return WorkerFailed(f"{worker.name()} failed: {worker.failure.cause} (traceback in {worker.output})")
    code = worker.process.exitcode
    if code is not None and code < 0:
        how = f"was killed by {signal.Signals(-code).name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    else:
        how = f"exited with code {code}"
    last = _last_line(worker.output)
    return WorkerFailed(f"{worker.name()} {how}" + (f": {last}" if last else "") + f" (its output: {worker.output})")


def _last_line(path: Path) -> str | None:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:300] if lines else None


def _interrupt(workers: list[_Worker]) -> None:
    """Ctrl-C for each worker's whole process group (its trainings included), as a terminal would."""
    for worker in workers:
        _signal(worker, signal.SIGINT)


def _kill(workers: list[_Worker]) -> None:
    for worker in workers:
        _signal(worker, signal.SIGKILL)


def _signal(worker: _Worker, signum: int) -> None:
    if not worker.process.is_alive() or worker.process.pid is None:
        return
    try:
        os.killpg(worker.process.pid, signum)
    except ProcessLookupError:  # not yet its own group leader
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.process.pid, signum)


def _stop(workers: list[_Worker]) -> None:
    _interrupt(workers)
    deadline = time.monotonic() + _STOP_GRACE_S
    for worker in workers:
        worker.process.join(timeout=max(deadline - time.monotonic(), 0))
    _kill(workers)
    for worker in workers:
        worker.process.join()
        worker.reader.close()


@contextlib.contextmanager
def _environment(updates: dict[str, str]) -> Iterator[None]:
    """multiprocessing takes no environment per process: a spawned interpreter inherits this one's
    as it starts, before any import reads it (torch reads OMP_NUM_THREADS once, CUDA its devices)."""
    saved = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _Relay:
    """A worker's side of its pipe to the parent; log records arrive from any thread."""

    def __init__(self, conn: Connection):
        self.conn, self.lock = conn, threading.Lock()

    def put_nowait(self, item: object) -> None:  # what logging.handlers.QueueHandler calls
        with self.lock:
            self.conn.send(item)


class _NoteRelay(progress.Listener):
    def __init__(self, relay: _Relay):
        self.relay = relay

    def note(self, text: str) -> None:
        self.relay.put_nowait(_Note(text))


def _child(conn: Connection, level: int, share: Share, logs: Path, target: Callable[..., Any], args: tuple) -> None:
    os.setpgid(0, 0)  # its own process group: the parent forwards Ctrl-C once, to it and its trainings
    if share.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, share.cores)
    sys.stdout.flush()
    sys.stderr.flush()
    output = os.open(logs / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    relay = _Relay(conn)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(relay))
    root.setLevel(level)
    logging.captureWarnings(True)
    progress.install(_NoteRelay(relay))
    try:
        target(*args)
    except BaseException as exc:  # reported, then raised on: multiprocessing prints the traceback into the output file
        user_error = isinstance(exc, UserError)
        cause = str(exc) if user_error else f"{type(exc).__name__}: {exc}"
        relay.put_nowait(_Failed(cause=cause.strip().splitlines()[0][:500] if cause.strip() else type(exc).__name__,
                                 user_error=user_error))
        raise
    finally:
        conn.close()
