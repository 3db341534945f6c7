"""Hyperparameter search with Optuna. The only module that knows Optuna.

Each trial trains through the same `harness.train.train` as a plain run; validation losses
stream into `trial.report` so the pruner can stop bad trials early. The study lives in a storage
(a journal file in the project's search area by default, safe for the `search.parallel` workers of
one machine; or a PostgreSQL/MySQL URL shared by workers on several machines); re-running the same
spec resumes the same study. Each trial samples with its own seed, derived from `search.seed` and
the trial's number, so neither a resumed run nor a second worker repeats earlier draws.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from harness import parallel, progress, runs
from harness.data import Splits
from harness.errors import UserError
from harness.events import EventChannel, Validated
from harness.masking import mask_url
from harness.results import Evaluation, OptimismGap, ParamAtEdge, Search, StoredTrialState, Training, Trial
from harness.spec import CategoricalParam, FloatParam, IntParam, SearchParam, SearchSpec, Spec, TrainSpec
from harness.spec.paths import get_field, set_field
from harness.trial_notes import TrialNotes

log = logging.getLogger("harness")

# adapter dir -> {metric name: value} on the validation split;
# injected by the pipeline so the search never depends on the evaluator; with `search.parallel` > 1
# it travels to the worker processes, so it must pickle (a module-level function or a partial of one).
ScoreFn = Callable[[Path], dict[str, float]]
# told of each trial that finishes in this process, as the harness's own record (the tracking's live child runs)
TrialListener = Callable[[Trial], None]
_HEARTBEAT_S = 10
_POLL_S = 2.0  # how often a worker waiting for others' running trials looks at the study again
JOURNAL = "optuna.journal"  # the default study file in a search area
_LEGACY_SQLITE = "optuna.db"  # the default before the journal: an area that holds one keeps using it
_BUDGET_MET = "not run: trials started before it already fill the budget"
EDGE_FRACTION = 0.1  # a best value in the lowest or highest 10% of its (log-)range is "at the edge"
# Optuna's records go through logging like every library's (the CLI decides where they show).
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()
with warnings.catch_warnings():  # experimental in name only; it is Optuna's documented recipe
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    _RETRY = RetryHeartbeatStaleTrialCallback(max_retry=1)  # an interrupted trial runs once more


@dataclass
class SearchResult:
    study: Search  # what results.json records
    best_train_spec: TrainSpec  # the full-budget settings of the best trial
    reused_adapter: Path | None  # best trial trained on the full budget: its adapter is the result


def study_name(spec: Spec) -> str:
    """Same spec essentials -> same study, so a re-run resumes; a changed space starts afresh."""
    s = spec.search
    if s.study_name:
        return s.study_name
    essentials = {
        "model": spec.model.model_dump(exclude={"token"}),
        "data": spec.data.model_dump(),
        "prompt": spec.prompt.model_dump(),
        "train": spec.train.model_dump(),
        "search": s.model_dump(exclude={"trials", "timeout_minutes", "storage", "study_name", "parallel"}),
    }
    digest = hashlib.sha256(json.dumps(essentials, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{spec.project}-{digest}"


def storage_url(spec: Spec, area: Path) -> str:
    """`search.storage`, else the search area's study file: the journal, which several processes
    on this machine share without a server, or the SQLite file of an area made before it (so its
    studies still resume). A database URL, or a journal file's path."""
    if spec.search.storage:
        return spec.search.storage
    legacy = area / _LEGACY_SQLITE
    if legacy.is_file():
        return f"sqlite:///{legacy.resolve()}"
    return str((area / JOURNAL).resolve())


def check_storage(url: str) -> None:
    """Fail before a run starts if the study's storage cannot be reached, creating nothing: a
    SQLite file needs an existing folder; a server must accept a connection."""
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        raise UserError(f"search.storage: '{mask_url(url)}' is not a database URL (e.g. sqlite:///study.db, postgresql://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        folder = Path(parsed.database or ".").expanduser().resolve().parent
        if parsed.database and not folder.is_dir():
            raise UserError(f"search.storage: folder {folder} does not exist; create it or point search.storage elsewhere")
        return
    try:
        timeout = {"connect_timeout": 10} if parsed.get_backend_name() in ("postgresql", "mysql") else {}
        engine = sqlalchemy.create_engine(parsed, connect_args=timeout)
        with engine.connect():
            pass
        engine.dispose()
    except ModuleNotFoundError as exc:
        raise UserError(f"search.storage: {mask_url(url)} needs the database driver '{exc.name}'; pip install it") from None
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"
        raise UserError(f"search.storage: cannot connect to {mask_url(url)} ({reason}); start the server or fix the URL") from None


def _connect(url: str, attempts: int = 5) -> BaseStorage:
    """Workers starting together on an empty database race to create Optuna's tables; the loser
    gets an integrity error and simply connects again once the winner is done. A journal file
    has no heartbeat in Optuna 5.0: its interrupted trials are found by `_recover_orphans`."""
    if "://" not in url:
        return JournalStorage(JournalFileBackend(url))
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=_HEARTBEAT_S,
                    grace_period=3 * _HEARTBEAT_S,
                    heartbeat_stale_trial_callback=_RETRY,
                    engine_kwargs={} if url.startswith("sqlite") else {"pool_pre_ping": True},
                )
        except Exception as exc:
            if attempt + 1 < attempts and "IntegrityError" in type(exc).__name__ + str(exc):
                time.sleep(0.5 + random.random())
                continue
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            raise UserError(f"search.storage: cannot open {mask_url(url)} ({reason})") from None
    raise AssertionError("unreachable")


def open_study(spec: Spec, area: Path) -> optuna.Study:
    return _open_study(spec, area)[0]


def _open_study(spec: Spec, area: Path) -> tuple[optuna.Study, BaseStorage]:
    """The study, and the storage it was opened on (orphan recovery writes to it directly)."""
    s = spec.search
    area.mkdir(parents=True, exist_ok=True)
    storage = _connect(storage_url(spec, area))
    study = optuna.create_study(
        study_name=study_name(spec),
        storage=storage,
        sampler=TrialSeeded(_SAMPLERS[s.sampler], s.seed),
        pruner=_pruner(s, spec.train),
        directions=s.directions,
        load_if_exists=True,
    )
    return study, storage


_SAMPLERS = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}


def _trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial `number`: the same in every process, different for every trial."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{number}".encode()).digest()[:4], "little")


class TrialSeeded(optuna.samplers.BaseSampler):
    """Samples each trial with a fresh sampler seeded from (`seed`, trial number).

    Optuna's samplers take one seed for their lifetime, so every process that opened the study
    with the same seed replayed the same draws: a resumed run repeated its first trials, and two
    workers sampled the same parameters pairwise. Trial numbers are unique within a study, so
    here no two trials share a seed, and the same history gives the same parameters again (TPE
    reads the history from the study, not from the sampler). Only Optuna's public sampler
    interface is used: the inner sampler is built with its public `seed` argument.
    """

    def __init__(self, make: Callable[..., optuna.samplers.BaseSampler], seed: int):
        self._make, self._seed = make, seed
        self._samplers: dict[int, optuna.samplers.BaseSampler] = {}  # trial number -> its sampler, while it runs

    def _of(self, trial: optuna.trial.FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number not in self._samplers:
            self._samplers[trial.number] = self._make(seed=_trial_seed(self._seed, trial.number))
        return self._samplers[trial.number]

    def infer_relative_search_space(self, study, trial):
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._of(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._of(trial).after_trial(study, trial, state, values)
        del self._samplers[trial.number]


def run_trials(
    spec: Spec,
    model_dir: Path,
    splits: Splits,
    area: Path,
    score_fn: ScoreFn | None = None,
    max_trials: int | None = None,
    on_trial: TrialListener | None = None,
) -> optuna.Study:
    """Work on the study until it holds `trials` finished trials (all workers together) or the
    time budget runs out: here, or in `search.parallel` worker processes on this machine. Safe to
    run in several processes or machines at once. `on_trial` hears of each trial this process
    finishes, as it finishes (worker processes' trials: from the study afterwards)."""
    s = spec.search
    study, storage = _open_study(spec, area)
    _recover_orphans(study, storage)
    enqueue_spec_settings(study, spec)  # before any worker starts: they must not race to queue it
    budget = max_trials if max_trials is not None else s.trials
    if budget is not None and _finished_trials(study) >= budget:
        log.info("study %s already has %d finished trials: nothing to run", study.study_name, _finished_trials(study))
        progress.note(f"study {study.study_name} already has {_finished_trials(study)} finished trials: nothing to run")
        return study
    if s.parallel == 1:
        work(spec, model_dir, splits, area, score_fn, budget, on_trial)
        return study
    shares = parallel.machine_shares(s.parallel)
    progress.note(f"{len(shares)} search workers: {'; '.join(share.description for share in shares)}")
    with progress.task("search", budget, "trials") as task:
        parallel.run(work, (spec, model_dir, splits, area, score_fn, budget), shares, area / "logs",
                     tick=lambda: task.update(_finished_trials(study)))
        task.update(_finished_trials(study))
    return study


def work(spec: Spec, model_dir: Path, splits: Splits, area: Path, score_fn: ScoreFn | None, budget: int | None,
         on_trial: TrialListener | None = None) -> None:
    """One worker: trials, one at a time, while the study has room for one more within `budget`
    (finished and running trials of all workers together) and time is left; it stops early when
    the objective cannot be computed or its own trials keep failing."""
    s = spec.search
    study, storage = _open_study(spec, area)
    objective = _Objective(spec, model_dir, splits, area, score_fn)
    deadline = time.monotonic() + s.timeout_minutes * 60 if s.timeout_minutes else None
    failures = _FailureLimit(max(5, 2 * (budget or 3)))
    with progress.task("search", budget, "trials") as task:
        task.update(_finished_trials(study))
        callbacks = [_progress(budget, task), failures]
        if on_trial is not None:
            callbacks.append(lambda study, trial: on_trial(_trial_record(trial)))
        while not (objective.fatal or failures.reached) and _room_for_a_trial(study, storage, budget, deadline):
            study.optimize(_guarded(objective, budget), n_trials=1, callbacks=callbacks,
                           catch=(Exception,), gc_after_trial=True)
    if objective.fatal:
        raise objective.fatal


def _room_for_a_trial(study: optuna.Study, storage: BaseStorage, budget: int | None, deadline: float | None) -> bool:
    """Whether to start another trial. Finished trials alone undercount: a worker that started one
    while the others' last trials ran overshot the budget. Finished and running ones together
    overcount: a running trial may still fail (or belong to a dead worker). So a worker that finds
    the budget taken only by counting running trials waits for them to end."""
    while deadline is None or time.monotonic() < deadline:
        _recover_orphans(study, storage)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # other machines' dead workers, once their heartbeat is stale
        if budget is None:
            return True
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
        finished = sum(t.state != TrialState.RUNNING for t in trials)
        if finished >= budget:
            return False
        if len(trials) < budget:
            return True
        time.sleep(_POLL_S)
    return False


def _guarded(objective: _Objective, budget: int | None) -> Callable[[optuna.Trial], float | tuple[float, ...]]:
    """The objective, plus two rules for a trial among several workers.

    Workers that found room at the same moment may each have started a trial: of the running
    trials, those numbered first take the budget's last places, and a trial left without one
    ends at once, before it trains, with a fail reason that says so. A trial interrupted by
    Ctrl-C (or by the parent, because another worker failed) is queued again, as a killed one
    is, so a resumed study trains its parameters after all."""
    def run(trial: optuna.Trial) -> float | tuple[float, ...]:
        if budget is not None:
            study = trial.study
            ahead = sum(t.number < trial.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
            if _finished_trials(study) + ahead >= budget:
                _note(trial, TrialNotes(fail_reason=_BUDGET_MET))
                raise BudgetMet(_BUDGET_MET)
        try:
            return objective(trial)
        except KeyboardInterrupt:
            _note(trial, TrialNotes(fail_reason="interrupted"))
            _RETRY(trial.study, next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number))
            raise

    return run


class BudgetMet(Exception):
    """Another worker's trials already fill the budget: this trial never trains."""


def search(spec: Spec, model_dir: Path, splits: Splits, area: Path, score_fn: ScoreFn | None = None,
           on_trial: TrialListener | None = None) -> SearchResult:
    """Run (or resume) the study in `area`, then pick the best trial and decide how the final model is made."""
    started = time.perf_counter()
    study = run_trials(spec, model_dir, splits, area, score_fn, on_trial=on_trial)
    result = summarize_study(study, spec, area)
    _drop_unused_adapters(study, keep={result.study.best_trial, *(result.study.pareto_front or [])})
    result.study.seconds = time.perf_counter() - started
    return result


def enqueue_spec_settings(study: optuna.Study, spec: Spec) -> None:
    """The spec's own train values run first, as a baseline the search must beat. Only into a
    study that has no trial yet: a resumed study already ran (or queued) it."""
    if study.get_trials(deepcopy=False):
        return
    values = {name: get_field(spec.train, name) for name in spec.search.space}
    outside = [f"{name}={v!r}" for name, v in values.items() if not _in_space(v, spec.search.space[name])]
    if outside:
        log.warning("the spec's %s lies outside search.space: no trial runs the spec's own settings", ", ".join(outside))
        return
    study.enqueue_trial(values, user_attrs=TrialNotes(spec_settings=True).as_attrs())


def _in_space(value: Any, param: SearchParam) -> bool:
    if isinstance(param, CategoricalParam):
        return value in param.choices
    return isinstance(value, int | float) and param.low <= value <= param.high


def _drop_unused_adapters(study: optuna.Study, keep: set[int]) -> None:
    """Only the best trial's adapter (or the Pareto front's) can be reused: a later trial never
    makes an earlier non-best one best again. Logs and train_result.json stay."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        adapter = TrialNotes.from_attrs(t.user_attrs).adapter_dir
        if t.number not in keep and adapter:
            shutil.rmtree(adapter, ignore_errors=True)


def summarize_study(study: optuna.Study, spec: Spec, area: Path) -> SearchResult:
    s = spec.search
    completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
    notes = {t.number: TrialNotes.from_attrs(t.user_attrs) for t in study.trials}
    if not completed:
        reasons = "; ".join(sorted({notes[t.number].fail_reason or "?" for t in study.trials if t.state == TrialState.FAIL}))
        raise UserError(f"search: no trial of study {study.study_name} completed ({reasons or 'none ran'})")
    multi = len(study.directions) > 1
    # of the Pareto front, the trial best on the second objective (e.g. the smallest adapter)
    sign = 1 if multi and study.directions[1] == optuna.study.StudyDirection.MINIMIZE else -1
    best = min(study.best_trials, key=lambda t: sign * t.values[1]) if multi else study.best_trial
    best_spec = apply_params(spec.train, best.params)  # full budget: trial_train was for trials only
    adapter = Path(notes[best.number].adapter_dir or "")
    reuse = not s.trial_train and (adapter / "adapter_config.json").is_file()
    counts = {StoredTrialState(state.name.lower()): sum(t.state == state for t in study.trials) for state in TrialState}
    saved = sum(max((notes[t.number].planned_steps or 0) - (notes[t.number].steps or 0), 0)
                for t in study.trials if t.state == TrialState.PRUNED)
    own = [t.number for t in study.trials if notes[t.number].spec_settings and t.state == TrialState.COMPLETE]
    own = own or [t.number for t in study.trials if notes[t.number].spec_settings]
    record = Search(
        study_name=study.study_name,
        storage=mask_url(storage_url(spec, area)),
        objectives=s.objectives,
        directions=[d.name.lower() for d in study.directions],
        best_trial=best.number,
        best_params=best.params,
        best_values=best.values,
        reused_best_trial=reuse,
        trials=[_trial_record(t) for t in study.trials],
        pareto_front=[t.number for t in study.best_trials] if multi else None,
        param_importances=_importances(study) if not multi else {},
        counts={k: v for k, v in counts.items() if v},
        pruner=describe_pruner(s, spec.train),
        steps_run=sum(n.steps or 0 for n in notes.values()),
        steps_saved_by_pruning=saved,
        tokens_run=sum(n.train_tokens or 0 for n in notes.values()),
        train_seconds_run=round(sum(n.train_seconds or 0.0 for n in notes.values()), 2),
        spec_settings_trial=own[0] if own else None,
        params_at_edge=[] if multi else params_at_edge(best.params, s.space),
    )
    return SearchResult(study=record, best_train_spec=best_spec, reused_adapter=adapter if reuse else None)


def params_at_edge(best_params: dict[str, Any], space: dict[str, SearchParam]) -> list[ParamAtEdge]:
    """Numeric parameters whose best value lies in the lowest or highest EDGE_FRACTION of the range
    searched (on the log scale where the range is), or is the smallest or largest of three or more
    numeric choices: the optimum may lie beyond what was searched."""
    found = []
    for name, value in best_params.items():
        param = space.get(name)
        if isinstance(param, CategoricalParam):
            numbers = [c for c in param.choices if isinstance(c, int | float) and not isinstance(c, bool)]
            if len(numbers) < 3 or len(numbers) != len(param.choices):
                continue  # unordered choices, or two (where every choice is an edge)
            low, high, log_scale = min(numbers), max(numbers), False
            side = "low" if value == low else "high" if value == high else None
        elif isinstance(param, FloatParam | IntParam):
            low, high, log_scale = param.low, param.high, param.log
            scale = math.log if log_scale else float
            position = (scale(value) - scale(low)) / (scale(high) - scale(low))
            side = "low" if position <= EDGE_FRACTION else "high" if position >= 1 - EDGE_FRACTION else None
        else:
            continue
        if side:
            found.append(ParamAtEdge(name=name, value=value, side=side, low=low, high=high, log=log_scale))
    return found


def optimism_gap(study: Search, training: Training, evaluation: Evaluation) -> OptimismGap | None:
    """The best trial's validation score beside the final model's test score on the same measure;
    None where the test evaluation does not measure the objective (e.g. adapter size, a Pareto front)."""
    objective = study.objectives[0]
    if study.pareto_front is not None:
        return None
    if objective == "valid_loss":  # the same token-weighted answer loss, computed on test
        metric = "perplexity_answer"
        measured = evaluation.metrics.get(metric)
        test = math.log(measured.tuned) if measured and measured.tuned else None
    else:
        metric = objective
        measured = evaluation.metrics.get(metric)
        test = measured.tuned if measured else None
    if test is None:
        return None
    retrained = not study.reused_best_trial
    own_validation = training.valid_losses[-1].loss if retrained and objective == "valid_loss" and training.valid_losses else None
    return OptimismGap(
        objective=objective,
        direction=study.directions[0],
        validation=study.best_values[0],
        test_metric=metric,
        test=test,
        final_model_retrained=retrained,
        final_validation=own_validation,
    )


def load_trial_training(result: SearchResult) -> Training:
    """The training record a reused best trial saved next to its adapter."""
    return Training.model_validate_json((result.reused_adapter.parent / "train_result.json").read_text())


def apply_params(base: TrainSpec, params: dict[str, Any]) -> TrainSpec:
    """TrainSpec with dotted overrides (`lr`, `lora.r`) applied and re-validated."""
    data = base.model_dump()
    for name, value in params.items():
        set_field(data, name, value)
    return TrainSpec.model_validate(data)


class _Objective:
    def __init__(self, spec: Spec, model_dir: Path, splits: Splits, area: Path, score_fn: ScoreFn | None):
        self.spec, self.model_dir, self.splits, self.area, self.score_fn = spec, model_dir, splits, area, score_fn
        self.fatal: UserError | None = None

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        from harness.train import train  # the training stack loads when a trial runs, not to check a spec

        s = self.spec.search
        _note(trial, TrialNotes(worker=f"{socket.gethostname()}:{os.getpid()}"))
        params = {name: _suggest(trial, name, p) for name, p in s.space.items()}
        train_spec = apply_params(apply_params(self.spec.train, s.trial_train), params)
        out_dir = self.area / f"trial-{trial.number:04d}"
        shutil.rmtree(out_dir, ignore_errors=True)  # a retried trial number never reuses stale files
        multi = s.second_objective is not None

        events = EventChannel()
        if not multi:  # trial.report is for single-objective studies only
            events.subscribe(_Pruning(trial, events))
        try:
            result = train(self.model_dir, self.splits, train_spec, self.spec.prompt, out_dir, events, self.spec.compute)
        except Exception as exc:
            _note(trial, TrialNotes(fail_reason=f"{type(exc).__name__}: {str(exc)[:300]}"))
            shutil.rmtree(out_dir, ignore_errors=True)
            raise
        _note(trial, TrialNotes(
            steps=result.steps,
            planned_steps=result.planned_steps,
            train_seconds=round(result.train_seconds, 2),
            train_tokens=result.train_tokens,
            valid_loss=result.valid_losses[-1].loss if result.valid_losses else None,
        ))
        if result.stopped_early:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise optuna.TrialPruned(f"pruned at step {result.steps}")
        (out_dir / "train_result.json").write_text(result.model_dump_json())
        _note(trial, TrialNotes(adapter_dir=str(result.adapter_dir.resolve())))
        try:
            values = self._objective_values(result)
        except ObjectiveUnavailable as exc:  # every later trial would fail the same way: stop now
            _note(trial, TrialNotes(fail_reason=str(exc)))
            self.fatal = UserError(f"search: {exc}; stopped the study after trial {trial.number}")
            trial.study.stop()
            raise
        for name, value in zip(s.objectives, values):
            if not math.isfinite(value):
                raise FloatingPointError(f"objective {name} is {value}")
        return values[0] if len(values) == 1 else tuple(values)

    def _objective_values(self, result: Training) -> list[float]:
        scores: dict[str, float] | None = None
        values = []
        for name in self.spec.search.objectives:
            if name == "valid_loss":
                value = result.valid_losses[-1].loss if result.valid_losses else None
            elif name == "adapter_mb":
                value = runs.adapter_mb(result.adapter_dir)
            else:
                scores = self.score_fn(result.adapter_dir) if scores is None else scores
                value = scores.get(name)
            if value is None:
                measured = ", ".join(sorted(scores)) if scores else "nothing"
                raise ObjectiveUnavailable(f"objective '{name}' could not be computed for this trial (measured: {measured})")
            values.append(value)
        return values


class _Pruning:
    """Subscriber: each validation loss is the trial's intermediate value; when the pruner says so,
    the training is asked to stop (the final validation is a result, not a rung)."""

    def __init__(self, trial: optuna.Trial, events: EventChannel):
        self.trial, self.events = trial, events

    def __call__(self, event) -> None:
        if isinstance(event, Validated) and not event.final:
            self.trial.report(event.loss, event.step)
            if self.trial.should_prune():
                self.events.request_stop(f"pruned at step {event.step}")


class ObjectiveUnavailable(Exception):
    """The objective does not exist for this spec's data (e.g. execution accuracy without databases)."""


def _suggest(trial: optuna.Trial, name: str, param) -> Any:
    if isinstance(param, FloatParam):
        return trial.suggest_float(name, param.low, param.high, log=param.log)
    if isinstance(param, IntParam):
        return trial.suggest_int(name, param.low, param.high, log=param.log, step=param.step)
    assert isinstance(param, CategoricalParam)
    return trial.suggest_categorical(name, param.choices)


def _pruner(s: SearchSpec, train_spec: TrainSpec) -> optuna.pruners.BasePruner:
    """Resources are optimizer steps: trials report their validation loss at the step it was measured."""
    if s.pruner == "none" or s.second_objective:  # Optuna cannot prune multi-objective trials
        return optuna.pruners.NopPruner()
    min_resource, max_steps = _pruning_steps(s, train_spec)
    if s.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=s.reduction_factor)
    if s.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=min_resource, max_resource=max_steps or "auto", reduction_factor=s.reduction_factor
        )
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def describe_pruner(s: SearchSpec, train_spec: TrainSpec) -> str:
    """The pruner and its settings in steps, as the report names it."""
    if s.pruner == "none" or s.second_objective:
        return "none"
    if s.pruner == "median":
        return "median (from the 3rd trial on)"
    min_resource, _ = _pruning_steps(s, train_spec)
    return f"{s.pruner} (first rung at step {min_resource}, 1 in {s.reduction_factor} trials goes on per rung)"


def _pruning_steps(s: SearchSpec, train_spec: TrainSpec) -> tuple[int, int | None]:
    """(first rung, the trials' last step): the first rung defaults to the trials' first validation."""
    trial_spec = apply_params(train_spec, s.trial_train)
    return s.min_resource or trial_spec.eval_every, trial_spec.max_steps


def _note(trial: optuna.Trial, notes: TrialNotes) -> None:
    """Store the fields `notes` sets on the running trial."""
    for key, value in notes.as_attrs().items():
        trial.set_user_attr(key, value)


def _recover_orphans(study: optuna.Study, storage: BaseStorage) -> None:
    """A trial left RUNNING by a killed process on this machine is failed and re-queued now; on
    other machines Optuna's heartbeat does the same once the grace period passes (database
    storages only). Several workers may find the same orphan: the first to fail it re-queues it."""
    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = (TrialNotes.from_attrs(t.user_attrs).worker or "").partition(":")
        if worker_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            for key, value in TrialNotes(fail_reason="worker process died mid-trial").as_attrs().items():
                storage.set_trial_user_attr(trial_id, key, value)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker failed it first, and re-queued it
        _RETRY(study, storage.get_trial(trial_id))
        log.warning("trial %d was interrupted (worker %s died): marked failed and re-queued", t.number, pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


class _FailureLimit:
    """Failed trials don't count towards the budget, so a space where everything fails would
    otherwise never end: this worker gives up after `limit` failures of its own."""

    def __init__(self, limit: int):
        self.limit, self.failures = limit, 0

    @property
    def reached(self) -> bool:
        return self.failures >= self.limit

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.failures += trial.state == TrialState.FAIL
        if self.reached:
            log.warning("stopping: %d trials failed in this worker", self.failures)


def _progress(budget: int | None, task: progress.Task):
    """After each trial: a note with its outcome and the best so far, and the trial count."""
    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = _finished_trials(study)
        try:
            best = study.best_value if len(study.directions) == 1 else None
        except ValueError:
            best = None
        value = trial.values if trial.values else TrialNotes.from_attrs(trial.user_attrs).fail_reason or ""
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        outcome = (" ".join(f"{v:.4g}" for v in value) if isinstance(value, list) else value)
        line = f"trial {trial.number} ({done}/{budget or '?'}) {trial.state.name.lower()}: {shown} -> {outcome}"
        log.info("%s | best %s", line, best)
        progress.note(line)
        task.update(done, best=f"{best:.4g}" if best is not None else "-")

    return callback


def _importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances; needs a few completed trials with varied parameters."""
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError):
        return {}


def _trial_record(t: optuna.trial.FrozenTrial) -> Trial:
    duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
    notes = TrialNotes.from_attrs(t.user_attrs)
    return Trial(
        number=t.number,
        state=StoredTrialState(t.state.name.lower()),
        params=t.params,
        values=t.values,
        intermediate_values=dict(sorted(t.intermediate_values.items())),
        duration_s=duration,
        steps=notes.steps,
        planned_steps=notes.planned_steps,
        train_tokens=notes.train_tokens,
        train_seconds=notes.train_seconds,
        valid_loss=notes.valid_loss,
        spec_settings=notes.spec_settings,
        worker=notes.worker,
        # a retry inherits the user attrs of the trial it repeats: show a reason only on failures
        fail_reason=(notes.fail_reason or "?") if t.state == TrialState.FAIL else None,
        retry_of=t.system_attrs.get("failed_trial"),
    )
