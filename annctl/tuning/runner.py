"""Run a search: make or reopen the tune directory, run K local workers, each a warm child process that runs
one trial after another (workers.py, worker.py).

``RUNS/<name>-tune-<timestamp>-<hex>/``: tune.json (how the search was started), experiment.yaml (the
experiment with its search section, frozen: a resume cannot silently change the search), study.db (default
storage), trials/<NNN>/ (complete run directories), leaderboard.csv, best.yaml, summary.json, tensorboard/.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annctl import compat
from annctl.errors import AnnctlError, Interrupted, SpecError, UsageError
from annctl.fileio import atomic_write_json, atomic_write_text, exclusive_lock
from annctl.records import TrialOutcome, TuneConfig, TuneSummary
from annctl.rundir import RunPaths, TunePaths, create_run_dir, prepare_root, spec_to_yaml, utc_now
from annctl.spec import ExperimentSpec
from annctl.tracking.live import check as check_tracking
from annctl.tracking.live import is_tracked
from annctl.training.tf_setup import cores
from annctl.tuning import hparams
from annctl.tuning import study as studies
from annctl.tuning.outputs import write_outputs
from annctl.tuning.space import trial_data
from annctl.tuning.workers import TrialWorker, WorkerGone

if TYPE_CHECKING:
    from annctl.tracking.search import SearchTracking


class TuneFailed(AnnctlError):
    """Too many trials failed in a row (exit 1)."""


@dataclass
class TuneOptions:
    trials: int = 20
    workers: int = 1
    timeout: float | None = None
    storage: str | None = None
    study: str | None = None
    sampler: str = "random"
    pruner: str = "none"


@dataclass
class TrialEvent:
    """What the command line shows after each trial."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    epochs: int | None
    seconds: float | None
    reason: str | None


def dry_run(spec: ExperimentSpec, options: TuneOptions, root: Path) -> dict[str, Any]:
    """The first ``options.trials`` configurations a fresh study would sample, and a budget estimate."""
    optuna = studies.quiet_optuna()
    study = optuna.create_study(sampler=studies.make_sampler(options.sampler, spec.seed, 0))
    configs = []
    for _ in range(options.trials):
        trial = study.ask()
        configs.append({"trial": trial.number, **studies.suggest(trial, spec.search_section().space)})
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # keeps the sampler moving, records nothing
    epochs = spec.training.epochs
    budget: dict[str, Any] = {
        "trials": options.trials,
        "max_epochs_per_trial": epochs,
        "max_epochs": options.trials * epochs,
    }
    seconds = _seconds_per_epoch(root, spec.name)
    if seconds is not None:
        budget["seconds_per_epoch_of_last_run"] = seconds
        budget["estimated_max_seconds"] = options.trials * epochs * seconds / max(options.workers, 1)
    return {"configurations": configs, "budget": budget}


def _seconds_per_epoch(root: Path, name: str) -> float | None:
    """Seconds per epoch of the newest completed run of this experiment, if any (for the budget estimate)."""
    from annctl.rundir import list_run_dirs, read_summary

    for run_dir in reversed(list_run_dirs(root)):
        summary = read_summary(run_dir)
        if summary and summary.name == name and summary.status == "completed" and summary.epochs_completed:
            return float(summary.wall_seconds or 0.0) / summary.epochs_completed
    return None


def start(spec: ExperimentSpec, options: TuneOptions, root: Path) -> Path:
    """Create the tune directory and record how the search runs; return it."""
    spec.search_section()  # an experiment without `search:` cannot be tuned
    if spec.training.distribution == "multi_worker":
        raise UsageError(
            f"{spec.name}: training.distribution multi_worker: tune runs its trials as local processes; use "
            "`tune --storage URL` on each machine to spread a search over several (see docs/how-to/tuning-at-scale.md)"
        )
    _check_options(options)
    if is_tracked(spec):  # MLflow missing or no URI: exit 2 before the tune directory is made
        check_tracking(spec)
    prepare_root(root)
    tune_dir = create_run_dir(root, f"{spec.name}-tune")
    metric, direction = spec.search_objective()
    config = TuneConfig(
        name=spec.name,
        study=options.study or tune_dir.name,
        # a URL any Optuna tool opens (optuna-dashboard, optuna.load_study), without its password; the default
        # storage lives in the tune directory and is found relative to it on resume (the folder can move)
        storage=studies.database_url(options.storage) if options.storage else default_storage(tune_dir),
        storage_in_tune_dir=options.storage is None,
        sampler=options.sampler,
        pruner=options.pruner,
        trials=options.trials,
        workers=options.workers,
        timeout=options.timeout,
        seed=spec.seed,
        metric=metric,
        direction=direction,
        epochs=spec.training.epochs,
        created_at=utc_now(),
    )
    paths = TunePaths(tune_dir)
    atomic_write_text(paths.experiment, spec_to_yaml(spec))
    record_config(tune_dir, config)
    paths.trials.mkdir()
    return tune_dir


def record_config(tune_dir: Path, config: TuneConfig) -> None:
    """tune.json; a storage URL is kept without its password (give it again with --storage, or use ~/.pgpass)."""
    url = config.storage
    written = config.model_copy(update={"storage": studies.redact(url) if url else None})
    atomic_write_json(TunePaths(tune_dir).config, written.model_dump(mode="json"))


def _check_options(options: TuneOptions) -> None:
    from annctl.rundir import SAFE_NAME

    if options.study is not None and not SAFE_NAME.match(options.study):
        raise UsageError(f"--study {options.study!r}: use letters, digits, '.', '_' and '-' (at most 80)")
    if options.trials < 1:
        raise UsageError(f"--trials {options.trials}: must be at least 1")
    if options.workers < 1:
        raise UsageError(f"--workers {options.workers}: must be at least 1")
    if options.sampler not in studies.SAMPLERS:
        raise UsageError(f"--sampler {options.sampler}: use one of {', '.join(studies.SAMPLERS)}")
    if options.pruner not in studies.PRUNERS:
        raise UsageError(f"--pruner {options.pruner}: use one of {', '.join(studies.PRUNERS)}")
    if options.timeout is not None and options.timeout <= 0:
        raise UsageError(f"--timeout {options.timeout}: must be positive")


def load(tune_dir: Path) -> tuple[TuneConfig, ExperimentSpec]:
    """The tune.json and frozen experiment of an existing tune directory."""
    from pydantic import ValidationError

    from annctl.config import load_spec

    paths = TunePaths(tune_dir)
    if not paths.config.is_file():
        raise UsageError(f"{tune_dir}: not an annctl tune directory (no {paths.CONFIG})")
    try:
        config = TuneConfig.model_validate_json(paths.config.read_bytes())
    except (OSError, ValidationError) as error:
        raise UsageError(f"{paths.config}: unreadable: {str(error).splitlines()[0]}") from None
    try:
        spec = load_spec(paths.experiment)
    except SpecError as error:
        raise UsageError(f"{paths.experiment} no longer validates: {error.problems[0]}") from None
    return config, spec


def default_storage(tune_dir: Path) -> str:
    """The SQLite storage inside the tune directory, as an absolute URL."""
    return f"sqlite:///{TunePaths(tune_dir).database.resolve()}"


def storage_url(tune_dir: Path, config: TuneConfig, override: str | None = None) -> str:
    if override:
        return studies.database_url(override)
    recorded = config.storage
    if not recorded or config.storage_in_tune_dir:  # (tune directories before 0.1 recorded null)
        return default_storage(tune_dir)
    if ":***@" in recorded:
        raise UsageError(
            f"{tune_dir}: its storage {recorded} needs a password; give the URL again with --storage "
            "(or keep the password in ~/.pgpass)"
        )
    return recorded


def locked(tune_dir: Path):
    """One `annctl tune` process per tune directory (several machines share a study through its storage,
    each with its own tune directory)."""
    return exclusive_lock(TunePaths(tune_dir).lock, f"tune directory {tune_dir}")


class _Terminated(BaseException):
    pass


class Search:
    """A running search in one process: K threads, each handing trials one at a time to its warm worker
    process (and starting a new one when that process is lost or worn out)."""

    def __init__(
        self,
        tune_dir: Path,
        config: TuneConfig,
        spec: ExperimentSpec,
        root: Path,
        *,
        storage: str | None = None,
        workers: int | None = None,
        resume: bool = False,
        on_trial: Callable[[TrialEvent], None] | None = None,
    ):
        self.tune_dir, self.config, self.spec, self.root = tune_dir, config, spec, root
        self.url = storage_url(tune_dir, config, storage)
        self.workers = workers or config.workers
        self.resume = resume
        self.on_trial = on_trial or (lambda event: None)
        self.search = spec.search_section()
        self.space = self.search.space
        # tracking is where the search reports, not what it searches: a resume may report elsewhere
        self.base = spec.model_dump(mode="json", exclude={"search", "tracking"})
        self.stop = threading.Event()
        self.ask_lock, self.out_lock = threading.Lock(), threading.Lock()
        self.running: dict[int, TrialWorker] = {}  # trial number → the worker running it (signal_lock)
        self.signal_lock = threading.Lock()
        self.consecutive_failures = 0
        self.failure: str | None = None
        self.started = time.monotonic()
        self.signal_code: int | None = None
        self.tracking: SearchTracking | None = None  # reports to MLflow when the experiment asks

    # -- study ------------------------------------------------------------------------------------------------

    def open_study(self):
        optuna = studies.quiet_optuna()
        storage = studies.open_storage(self.url)
        name, direction = self.config.study, self.config.direction
        study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
        experiment = json.dumps(self.base, sort_keys=True)
        recorded = study.user_attrs.get("experiment")
        if recorded is None:
            study.set_user_attr("experiment", experiment)
            study.set_user_attr("space", {path: p.model_dump() for path, p in self.space.items()})
        elif recorded != experiment or study.user_attrs.get("space") != {
            path: p.model_dump() for path, p in self.space.items()
        }:
            changed = _changed_fields(json.loads(recorded), self.base, study.user_attrs.get("space"), self.space)
            raise UsageError(
                f"study {name} in {studies.redact(self.url)} was started from a different experiment "
                f"(differs in: {', '.join(changed) or 'the search space'}); use another --study name"
            )
        if study.direction.name.lower() != direction:
            raise UsageError(f"study {name} {study.direction.name.lower()}s; this search would {direction}")
        sampler = studies.make_sampler(self.config.sampler, self.config.seed, len(study.trials))
        self.study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        self.storage = storage
        return self.study

    # -- the search -------------------------------------------------------------------------------------------

    def run(self) -> TuneSummary:
        previous = _previous_wall(self.tune_dir)
        with locked(self.tune_dir):
            if self.url == default_storage(self.tune_dir) and self.config.storage != self.url:
                # an older tune.json (storage null), or the folder has moved: record where the storage is now
                self.config.storage, self.config.storage_in_tune_dir = self.url, True
                record_config(self.tune_dir, self.config)
            # started first, so their TensorFlow start-up overlaps opening the study (from this thread, which
            # lives as long as the search: Linux kills them with it)
            ready = [self._start_worker() for _ in range(self.workers)]
            try:
                study = self.open_study()
                hparams.write_experiment(self.tune_dir, self.space, self.config.metric)
                studies.fail_lost_trials(study)
                _fail_stale(study)
                if self.resume:
                    studies.retry_failed(study)
                if is_tracked(self.spec):
                    from annctl.tracking.search import SearchTracking

                    self.tracking = SearchTracking(self.spec, self.tune_dir, study)
            except BaseException:
                for worker in ready:
                    worker.close()
                raise
            threads = [
                threading.Thread(target=self._worker, args=(worker,), name=f"tune-worker-{index}", daemon=True)
                for index, worker in enumerate(ready)
            ]
            self.active = len(threads)
            with _signals_as_exceptions():
                for thread in threads:
                    thread.start()
                self._wait(threads)
            status = "interrupted" if self.signal_code else ("failed" if self.failure else "completed")
            summary = self.write_outputs(status, previous)
            if self.tracking is not None:
                warning = self.tracking.finish()
                if warning:
                    print(f"warning: {warning}", file=sys.stderr, flush=True)
        if self.signal_code:
            error = Interrupted(f"tune interrupted; continue with: annctl tune --resume {self.tune_dir}")
            error.exit_code = self.signal_code
            raise error
        if self.failure:
            raise TuneFailed(self.failure)
        return summary

    def _wait(self, threads: list[threading.Thread]) -> None:
        # Polls a counter instead of Thread.join(): a join interrupted by Ctrl-C can leave is_alive() wrongly
        # False (CPython gh-90882), which would end the search before its trials are recorded.
        while True:
            try:
                with self.out_lock:
                    if self.active == 0:
                        return
                time.sleep(0.1)
            except (KeyboardInterrupt, _Terminated) as stop:
                if self.signal_code is None:
                    with self.signal_lock:  # a trial handed over after this sees the stop instead
                        self.signal_code = 143 if isinstance(stop, _Terminated) else 130
                        self.stop.set()
                        for worker in self.running.values():
                            worker.signal(signal.SIGTERM if self.signal_code == 143 else signal.SIGINT)

    def write_outputs(self, status: str, previous_wall: float = 0.0) -> TuneSummary:
        with self.out_lock:
            extra = {
                "status": status,
                "workers": self.workers,
                "wall_seconds": previous_wall + time.monotonic() - self.started,
                "updated_at": utc_now(),
            }
            if self.failure:
                extra["error"] = self.failure
            return write_outputs(self.tune_dir, self.study, self.config, self.base, self.space, extra)

    def _worker(self, worker: TrialWorker | None) -> None:
        try:
            while not self.stop.is_set():
                # a replacement starts before the trial is asked for, so its start-up overlaps the study's work
                worker = worker or self._start_worker()
                with self.ask_lock:
                    trial = self._next_trial()
                    if trial is None:
                        return
                    params = studies.suggest(trial, self.space)
                event, worker = self._run_trial(trial, params, worker)
                self._record(event)
                self.on_trial(event)
        except Exception as error:  # noqa: BLE001 - e.g. the database went away: stop the search, say why
            with self.out_lock:
                self.failure = self.failure or f"worker stopped: {type(error).__name__}: {studies.first_line(error)}"
            self.stop.set()
        finally:
            if worker is not None:
                worker.close()
            with self.out_lock:
                self.active -= 1

    def _start_worker(self) -> TrialWorker:
        """A warm worker with this slot's share of the cores (set before TensorFlow starts in it)."""
        threads = max(1, cores() // self.workers)
        return TrialWorker({**os.environ, "ANNCTL_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)})

    def _next_trial(self):
        """Ask for a trial unless the study already holds --trials finished or running ones (or time is up)."""
        from optuna.trial import TrialState

        timeout = self.config.timeout
        if self.stop.is_set() or (timeout and time.monotonic() - self.started > timeout):
            return None
        _fail_stale(self.study)
        state = studies.counts(self.study)
        if state["finished"] + state["running"] >= self.config.trials:
            return None
        trial = self.study.ask()
        self.storage.record_heartbeat(compat.trial_id(trial))
        trial.set_user_attr("worker", studies.worker_id())
        # Workers on other machines may have asked at the same instant: the newest surplus trial steps back.
        state = studies.counts(self.study)
        if state["finished"] + state["running"] > self.config.trials:
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if trial.number == max(t.number for t in running if not t.user_attrs.get("discarded")):
                trial.set_user_attr("discarded", "surplus: the study already held --trials trials")
                self.study.tell(trial, state=TrialState.FAIL)
                return None
        return trial

    def _run_trial(self, trial, params: dict[str, Any], worker: TrialWorker) -> tuple[TrialEvent, TrialWorker | None]:
        """Run one trial in ``worker``; return its event and the worker to use next (None: start a new one)."""
        number = trial.number
        run_dir = TunePaths(self.tune_dir).trial(number)
        started = time.monotonic()

        def failed(reason: str) -> TrialEvent:
            return TrialEvent(number, "failed", None, params, None, time.monotonic() - started, reason)

        try:
            run_dir.mkdir()
        except OSError as error:
            return failed(f"cannot create {run_dir}: {error.strerror or error}"), worker
        payload = {
            "spec": trial_data(self.base, params),
            "run_dir": str(run_dir),
            "runs_root": str(self.root),
            "storage": self.url,
            "study": self.config.study,
            "trial_id": compat.trial_id(trial),
            "number": number,
            "metric": self.config.metric,
            "direction": self.config.direction,
            "pruner": self.config.pruner,
            "epochs": self.config.epochs,
        }
        with self.signal_lock:
            if self.signal_code:
                return failed("interrupted"), worker
            try:
                worker.send(payload)
            except OSError:  # it died while idle (e.g. the kernel's OOM killer): nothing of this trial ran yet
                worker.close()
                worker = self._start_worker()
                worker.send(payload)
            self.running[number] = worker
        try:
            reply, timed_out = self._watch(trial, worker)
        finally:
            with self.signal_lock:
                self.running.pop(number, None)
        seconds = time.monotonic() - started
        if timed_out:
            worker.stop()
            return failed(f"timed out after {self.search.trial_timeout:g} s"), None
        outcome = _read_outcome(run_dir)
        kept: TrialWorker | None = worker  # the worker for the next trial (None: it ended or is worn out)
        if reply is None:  # the process ended without answering: crashed or killed
            returncode = worker.close(wait=10)
            kept = None
            if outcome is None:
                if self.stop.is_set() and self.signal_code:
                    return failed("interrupted"), None
                return failed(_crash_reason(returncode, run_dir)), None
        elif worker.worn_out(reply):
            worker.close()
            kept = None
        if outcome is None:  # answered, but its trial.json is unreadable (e.g. the disk is full)
            return failed(f"the trial left no readable {RunPaths.TRIAL}"), kept
        if outcome.state == "fail":
            return failed(outcome.reason or "failed"), kept
        return TrialEvent(number, outcome.state, outcome.value, params, outcome.epochs, seconds, None), kept

    def _watch(self, trial, worker: TrialWorker) -> tuple[dict[str, Any] | None, bool]:
        """Wait for the worker's answer, beating the trial's heart; stop the worker at the trial timeout.
        Return (the answer or None if the process ended without one, whether it timed out)."""
        from annctl.faults import fault_point

        limit = self.search.trial_timeout
        interval = studies.heartbeat_seconds()
        started = time.monotonic()
        fault_point("tune_trial_start")
        while True:
            try:
                reply = worker.answer(timeout=min(interval, 1.0))
            except WorkerGone:
                return None, False
            if reply is not None:
                return reply, False
            self.storage.record_heartbeat(compat.trial_id(trial))
            if limit and time.monotonic() - started > limit:
                return None, True

    def _record(self, event: TrialEvent) -> None:
        """Tell the study how the trial ended, log it for TensorBoard, refresh the outputs; count failures in
        a row."""
        from optuna.trial import TrialState

        from annctl.plots import read_metrics

        storage = compat.study_storage(self.study)
        trial_id = storage.get_trial_id_from_study_id_trial_number(compat.study_id(self.study), event.number)
        if event.epochs is not None:
            storage.set_trial_user_attr(trial_id, "epochs", event.epochs)
        storage.set_trial_user_attr(trial_id, "seconds", round(event.seconds or 0.0, 3))
        if event.state == "complete":
            self.study.tell(event.number, event.value)
        elif event.state == "pruned":
            self.study.tell(event.number, state=TrialState.PRUNED)
        else:
            storage.set_trial_user_attr(trial_id, studies.REASON_ATTR, event.reason)
            self.study.tell(event.number, state=TrialState.FAIL)
        hparams.write_session(
            self.tune_dir,
            event.number,
            self.space,
            event.params,
            event.state,
            self.config.metric,
            self.config.direction,
            read_metrics(TunePaths(self.tune_dir).trial(event.number)),
            event.seconds or 0.0,
        )
        with self.out_lock:
            if event.state == "failed" and event.reason != "interrupted":
                self.consecutive_failures += 1
                limit = self.search.max_consecutive_failures
                if self.consecutive_failures >= limit and not self.failure:
                    self.failure = (
                        f"{limit} trials failed in a row (last: trial {event.number:03d}: {event.reason}); "
                        f"stopping. See {RunPaths(TunePaths(self.tune_dir).trial(event.number)).trial_log}"
                    )
                    self.stop.set()
            elif event.state != "failed":
                self.consecutive_failures = 0
        self.write_outputs("running")
        if self.tracking is not None:
            self.tracking.trial(event.number)


def _fail_stale(study) -> None:
    import optuna

    optuna.storages.fail_stale_trials(study)


def _read_outcome(run_dir: Path) -> TrialOutcome | None:
    from pydantic import ValidationError

    try:
        return TrialOutcome.model_validate_json(RunPaths(run_dir).trial.read_bytes())
    except (OSError, ValidationError):
        return None


def _crash_reason(returncode: int, run_dir: Path) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"the trial process was killed by {name}"
    try:
        lines = RunPaths(run_dir).trial_log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        lines = []
    last = lines[-1] if lines else "no output"
    return f"the trial process exited with {returncode}: {last[:300]}"


def _previous_wall(tune_dir: Path) -> float:
    try:
        return float(json.loads(TunePaths(tune_dir).summary.read_text(encoding="utf-8")).get("wall_seconds") or 0)
    except (OSError, ValueError):
        return 0.0


def _changed_fields(old: dict, new: dict, old_space: Any, new_space: dict) -> list[str]:
    from annctl.runs import flatten

    before, after = flatten(old), flatten(new)
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    if old_space != {path: p.model_dump() for path, p in new_space.items()}:
        changed.append("search.space")
    return changed


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    def handler(signum, frame):
        raise _Terminated()

    # SIGINT too, as `annctl train` does: a process started in the background of a script inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler (the search ran on to exit 0)
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, handler),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
