"""Training as a launched job: worker processes started by accelerate's launcher (torchrun underneath).

The harness process starts `accelerate launch ... -m harness.train JOB` and watches it:
- every worker's output line reaches the harness log (logs/run.log), tagged with its rank by the
  worker itself;
- the worker of global rank 0 relays the training's typed events (`harness.events`) over a TCP
  connection on 127.0.0.1 to the harness's `EventChannel`, and reads back after each one whether a
  subscriber asked to stop, so pruning decides at the same step as in-process training;
- a worker that fails or is killed ends the whole job (torchrun stops the other ranks) and its real
  cause comes back as one `LaunchFailed` line; Ctrl-C stops every rank.
This module knows processes and sockets, not AutoTrain (that is harness/train.py, the workers' code).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from harness import events
from harness.spec import ComputeSpec

log = logging.getLogger("harness")
_WORKER_LOG = logging.getLogger("harness.worker")
EVENTS_ADDRESS_ENV = "HARNESS_EVENTS"  # host:port of the harness's event relay, set for machine 0 only
FAILED_MARK = "HARNESS_WORKER_FAILED"  # a worker's last line when it fails: the mark, its rank, the cause
_STOP_GRACE_S = 10  # after Ctrl-C, how long the ranks get to stop before they are killed


class _Reply(BaseModel):
    """The harness's answer to each relayed event: the stop request, if a subscriber made one."""

    stop: str | None


class LaunchFailed(RuntimeError):
    """The launched job ended with an error; the message names the failing rank and its cause."""


def command(compute: ComputeSpec, gpus: int, cores: int, job_file: Path, precision: str) -> list[str]:
    """The `accelerate launch` command line for this machine's share of the job."""
    per_machine = compute.processes_on(gpus)
    args = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--num_processes", str(per_machine * compute.machines),
        "--num_machines", str(compute.machines),
        "--machine_rank", str(compute.machine_rank),
        "--main_process_ip", compute.main_address,
        "--main_process_port", str(compute.main_port or 0),  # 0: accelerate picks a free port
        "--mixed_precision", {"none": "no"}.get(precision, precision),
        "--dynamo_backend", "no",
    ]
    if gpus == 0:  # torch's threads per process: the machine's cores shared, not each process on all of them
        args += ["--num_cpu_threads_per_process", str(max(cores // per_machine, 1))]
    if compute.strategy == "fsdp":
        # LoRA leaves most parameters frozen: FSDP must keep the original parameters to mix them in a shard
        args += ["--use_fsdp", "--fsdp_sharding_strategy", "FULL_SHARD", "--fsdp_use_orig_params", "true",
                 "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP", "--fsdp_state_dict_type", "FULL_STATE_DICT"]
    elif compute.strategy == "deepspeed":
        args += ["--use_deepspeed"]
        args += (["--deepspeed_config_file", compute.deepspeed_config] if compute.deepspeed_config
                 else ["--zero_stage", str(2 if compute.zero_stage is None else compute.zero_stage)])
    else:
        args += ["--multi_gpu"]  # accelerate's DDP launcher; on a CPU it runs the ranks over gloo
    return [*args, "-m", "harness.train", str(job_file)]


def run(cmd: list[str], channel: events.EventChannel | None, cwd: Path) -> None:
    """Run the launcher to its end, relaying rank 0's events into `channel` (None: this machine does
    not hold rank 0). Raises LaunchFailed with the failing rank's cause."""
    with _relay_server() if channel is not None else contextlib.nullcontext() as server:
        # unbuffered, so lines arrive as they happen; no progress bars, which draw over one line
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
        if server is not None:
            env[EVENTS_ADDRESS_ENV] = "{}:{}".format(*server.getsockname())
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)  # one group: Ctrl-C and faults stop every rank
        output = _Output(proc)
        try:
            if server is not None and channel is not None:
                _relay(server, proc, channel)
            returncode = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            output.join()
    if returncode != 0:
        raise LaunchFailed(output.cause() or f"the launcher exited with code {returncode} (see logs/run.log)")


@contextlib.contextmanager
def _relay_server() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    try:
        yield server
    finally:
        server.close()


def _relay(server: socket.socket, proc: subprocess.Popen, channel: events.EventChannel) -> None:
    """Accept rank 0's connection, deliver each event it sends, answer each with the stop request."""
    while True:
        try:
            conn, _ = server.accept()
            break
        except TimeoutError:
            if proc.poll() is not None:
                return
    with conn:
        conn.settimeout(0.5)
        for line in _lines(conn, proc):
            channel.emit(events.from_json(line))
            conn.sendall(_Reply(stop=channel.stop_reason).model_dump_json().encode() + b"\n")


def _lines(conn: socket.socket, proc: subprocess.Popen) -> Iterator[bytes]:
    pending = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            if proc.poll() is not None:
                return
            continue
        except ConnectionError:
            return
        if not chunk:
            return
        *complete, pending = (pending + chunk).split(b"\n")
        yield from complete


def _stop(proc: subprocess.Popen) -> None:
    """Interrupt every process of the job as Ctrl-C would, then kill what is left."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class _RootCause:
    """What torchrun's failure summary says of the first rank to fail."""

    rank: int | None = None
    exitcode: str | None = None
    traceback: str | None = None


class _Output:
    """Reads the launcher's merged output on a thread: every line to the log, failures remembered."""

    # torchrun's failure summary names the first rank to fail after "Root Cause", e.g.
    # "rank : 1 (local_rank: 1)", "exitcode : -9 (pid: 7)  (SIGKILL)", "traceback : Signal 9 (SIGKILL) received by PID 7"
    _RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
    _HOW = re.compile(r"^\s*(exitcode|traceback)\s*:\s*(.+)$")
    _MARK = re.compile(re.escape(FAILED_MARK) + r" rank (\d+): (.*)$")

    def __init__(self, proc: subprocess.Popen):
        self.worker_causes: dict[int, str] = {}  # rank -> its own last words, first failure per rank
        self.root: _RootCause | None = None  # once torchrun's summary reaches its root cause
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if not line.strip():
                continue
            _WORKER_LOG.info("%s", line)
            if mark := self._MARK.search(line):
                self.worker_causes.setdefault(int(mark.group(1)), mark.group(2))
            elif "Root Cause" in line:
                self.root = _RootCause()
            elif self.root is not None:
                if (rank := self._RANK.match(line)) and self.root.rank is None:
                    self.root.rank = int(rank.group(1))
                elif (how := self._HOW.match(line)) and getattr(self.root, how.group(1)) is None:
                    setattr(self.root, how.group(1), how.group(2).strip())

    def join(self) -> None:
        self.thread.join(timeout=10)

    def cause(self) -> str | None:
        """The first rank to fail, in its own words where it said any, else as torchrun saw it end
        (a killed rank says nothing). The other ranks' errors (a lost peer) are consequences."""
        root = self.root if self.root is not None and self.root.rank is not None else None
        if root is not None and root.rank in self.worker_causes:
            return f"rank {root.rank}: {self.worker_causes[root.rank]}"
        if root is not None:
            return f"rank {root.rank} ended: {root.traceback or root.exitcode or 'no cause given'}"
        if self.worker_causes:
            rank, cause = next(iter(self.worker_causes.items()))
            return f"rank {rank}: {cause}"
        return None


class Relay:
    """A worker's side of the event relay: sends each event to the harness and keeps the stop
    request it answers with. Used by global rank 0 only; other ranks learn of a stop from it."""

    def __init__(self, address: str):
        host, _, port = address.rpartition(":")
        self._conn = socket.create_connection((host, int(port)), timeout=60)
        self._replies = self._conn.makefile("rb")
        self.stop_reason: str | None = None

    @classmethod
    def from_environment(cls) -> Relay | None:
        address = os.environ.get(EVENTS_ADDRESS_ENV)
        return cls(address) if address else None

    def emit(self, event) -> None:
        self._conn.sendall(events.to_json(event).encode() + b"\n")
        reply = self._replies.readline()
        if not reply:
            raise ConnectionError("the harness process closed the event relay")
        self.stop_reason = self.stop_reason or _Reply.model_validate_json(reply).stop

    def close(self) -> None:
        self._replies.close()
        self._conn.close()


def worker_failed(rank: int, exc: BaseException) -> str:
    """The line a failing worker ends with, which `run` reads back as the job's cause."""
    message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    return f"{FAILED_MARK} rank {rank}: {message}"
