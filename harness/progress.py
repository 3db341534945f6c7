"""Progress events from the stages: stage start/end, counted work with live figures, notes.

Stages never print: they call `stage(...)` and `task(...)` here, and whichever `Listener` is
installed renders them. The default listener ignores everything, so Python callers and tests stay
silent; the CLI installs a console (harness/console.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Task:
    """Counted work in progress: `done` of `total` `unit`s, plus live figures such as loss."""

    name: str
    total: int | None
    unit: str
    done: int = 0
    figures: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def update(self, done: int, **figures: str) -> None:
        """`figures` replace the previous ones, in the order given."""
        self.done = done
        self.figures = figures
        _listener.task_updated(self)

    @property
    def eta_seconds(self) -> float | None:
        """Remaining time at the average rate so far; None until there is a rate."""
        if not self.total or not self.done:
            return None
        return (time.perf_counter() - self.started) / self.done * (self.total - self.done)


class Listener:
    """Ignores every event; a console subclasses it."""

    def stage_started(self, name: str) -> None:
        pass

    def stage_finished(self, name: str, seconds: float, failed: bool) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def task_started(self, task: Task) -> None:
        pass

    def task_updated(self, task: Task) -> None:
        pass

    def task_finished(self, task: Task) -> None:
        pass


_listener = Listener()


def install(listener: Listener) -> Listener:
    """Make `listener` receive all events; returns the one it replaces."""
    global _listener
    previous, _listener = _listener, listener
    return previous


def note(text: str) -> None:
    """A one-line event worth a person's attention, e.g. a finished search trial."""
    _listener.note(text)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """One pipeline stage; the listener hears its start and its elapsed time at the end."""
    started = time.perf_counter()
    _listener.stage_started(name)
    failed = True
    try:
        yield
        failed = False
    finally:
        _listener.stage_finished(name, time.perf_counter() - started, failed)


@contextlib.contextmanager
def task(name: str, total: int | None, unit: str) -> Iterator[Task]:
    current = Task(name=name, total=total, unit=unit)
    _listener.task_started(current)
    try:
        yield current
    finally:
        _listener.task_finished(current)
