"""What a person sees while `harness` runs: one line per stage with its elapsed time, live
progress for counted work, and nothing from the libraries (their logs go to the run's
logs/run.log, or to the terminal too with -v).

A terminal gets rich's live bars; anything else (CI logs, pipes, files) gets plain lines without
control codes, throttled so a long training writes a line a minute, not one per step.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TextIO

from harness import progress

# A plain-text progress line per task at most this often (the last one always shows): a CI log
# of the demo then stays about one screen long.
LINE_EVERY_S = 60.0


@contextlib.contextmanager
def attached(verbose: bool) -> Iterator[None]:
    """Logging and progress go to this console for one CLI invocation, and back afterwards."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # its fork warning is noise too
    listener = RichConsole(sys.stdout) if sys.stdout.isatty() else LineConsole(sys.stdout)
    handler = _route_logging(verbose, listener)
    previous = progress.install(listener)
    try:
        yield
    finally:
        progress.install(previous)
        logging.getLogger().removeHandler(handler)
        _forget_pending_imports()


def _route_logging(verbose: bool, listener: LineConsole | RichConsole) -> logging.Handler:
    """Every library's records reach the root logger (and so the run log); the terminal shows
    only our warnings and errors, or everything with -v."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = listener.log_handler()
    if not verbose:
        handler.addFilter(lambda record: record.name.startswith("harness") and record.levelno >= logging.WARNING)
    root.addHandler(handler)  # before the libraries are imported: they log too
    logging.captureWarnings(True)  # library warnings too

    def quiet_datasets(datasets) -> None:
        library_root = logging.getLogger("datasets")  # datasets >= 4 gives it a stderr handler of its own
        for own in list(library_root.handlers):
            library_root.removeHandler(own)
        if not verbose:
            datasets.disable_progress_bars()

    def quiet_transformers(transformers) -> None:
        transformers.utils.logging.disable_default_handler()
        transformers.utils.logging.enable_propagation()
        if not verbose:
            transformers.utils.logging.disable_progress_bar()  # transformers >= 5 shows one per weight load

    _when_imported("datasets", quiet_datasets)
    _when_imported("transformers", quiet_transformers)
    return handler


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `configure(module)` right after the module `name` is first imported, so a command
    that never loads a library (validate on a built-in set) does not import it to configure it."""

    def __init__(self, name: str, configure: Callable[[ModuleType], None]) -> None:
        self.name, self.configure = name, configure

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the finders behind this one
        if spec is None or spec.loader is None:
            return spec
        load, configure = spec.loader.exec_module, self.configure

        def exec_module(module: ModuleType) -> None:
            load(module)
            configure(module)

        spec.loader.exec_module = exec_module  # this spec's own loader object
        return spec


def _when_imported(name: str, configure: Callable[[ModuleType], None]) -> None:
    if name in sys.modules:
        configure(sys.modules[name])
    else:
        sys.meta_path.insert(0, _AfterImport(name, configure))


def _forget_pending_imports() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _AfterImport)]


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _stage_line(name: str, seconds: float, failed: bool) -> str:
    return f"{'FAILED' if failed else 'done':<6} {name.replace('_', ' '):<12} {_duration(seconds):>8}"


def _figures(task: progress.Task) -> str:
    shown = [f"{k} {v}" for k, v in task.figures.items()]
    if (eta := task.eta_seconds) is not None and task.done < (task.total or 0):
        shown.append(f"ETA {_duration(eta)}")
    return " · ".join(shown)


class LineConsole(progress.Listener):
    """Plain lines, no control codes: for logs and pipes."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._last_line: dict[int, tuple[float, str]] = {}  # id(task) -> (when, text) of its last line

    def log_handler(self) -> logging.Handler:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        return handler

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def stage_finished(self, name: str, seconds: float, failed: bool) -> None:
        self._print(_stage_line(name, seconds, failed))

    def note(self, text: str) -> None:
        self._print(f"       {text}")

    def task_started(self, task: progress.Task) -> None:
        self._last_line[id(task)] = (time.perf_counter(), "")

    def task_updated(self, task: progress.Task) -> None:
        when, _ = self._last_line[id(task)]
        if time.perf_counter() - when >= LINE_EVERY_S:
            self._task_line(task)

    def task_finished(self, task: progress.Task) -> None:
        """The last figures always show (the freshest: a step's loss arrives after the step)."""
        self._task_line(task)
        del self._last_line[id(task)]

    def _task_line(self, task: progress.Task) -> None:
        figures = _figures(task)
        text = f"       {task.name} {task.done}/{task.total or '?'} {task.unit}" + (f" · {figures}" if figures else "")
        if text != self._last_line[id(task)][1]:
            self._print(text)
        self._last_line[id(task)] = (time.perf_counter(), text)


class RichConsole(progress.Listener):
    """Live bars in a terminal; finished stages and notes scroll above them."""

    def __init__(self, stream: TextIO):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(file=stream)  # bound now: training redirects sys.stdout to the log
        self.bars = Progress(
            TextColumn("       {task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("{task.fields[figures]}"),
            console=self.console,
        )
        self._ids: dict[int, int] = {}

    def log_handler(self) -> logging.Handler:
        from rich.logging import RichHandler

        return RichHandler(console=self.console, show_path=False, show_time=False)

    def stage_started(self, name: str) -> None:
        self.bars.start()

    def stage_finished(self, name: str, seconds: float, failed: bool) -> None:
        style = "red" if failed else "green"
        self.console.print(_stage_line(name, seconds, failed), style=style, highlight=False)
        if not self._ids:
            self.bars.stop()

    def note(self, text: str) -> None:
        self.console.print(f"       {text}", highlight=False)

    def task_started(self, task: progress.Task) -> None:
        self.bars.start()
        self._ids[id(task)] = self.bars.add_task(task.name, total=task.total, unit=task.unit, figures="")

    def task_updated(self, task: progress.Task) -> None:
        self.bars.update(self._ids[id(task)], completed=task.done, total=task.total, figures=_figures(task))

    def task_finished(self, task: progress.Task) -> None:
        self.bars.remove_task(self._ids.pop(id(task)))
