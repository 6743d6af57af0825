"""A training run's lifecycle: the entry points (`train`, `resume`), the run directory's lock, how the run
ends (status in summary.json: completed, interrupted, failed, diverged) and the stop signals. The fit itself
is annctl.training.fit."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from annctl.config import resolve_or_raise
from annctl.datasets.base import Data
from annctl.errors import AnnctlError, Interrupted, SpecError, TrainingDiverged, UsageError
from annctl.records import Source, Summary, Worker
from annctl.rundir import (
    RunPaths,
    create_run_dir,
    prepare_root,
    read_summary,
    utc_now,
    write_data_info,
    write_env,
    write_spec,
    write_summary,
)
from annctl.spec import ExperimentSpec
from annctl.tracking.live import check as check_tracking
from annctl.tracking.live import is_tracked


class Reporter(Protocol):
    """What training tells the user interface; every method may do nothing."""

    def note(self, text: str) -> None: ...
    def run_start(self, run_dir: Path, spec: ExperimentSpec, train_samples: int) -> None: ...
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def batch_end(self, epoch: int, step: int) -> None: ...
    def epoch_end(self, epoch: int, epochs: int, logs: dict[str, float]) -> None: ...


class SilentReporter:
    def note(self, text):
        print(f"note: {text}", file=sys.stderr, flush=True)

    def run_start(self, run_dir, spec, train_samples):
        pass

    def epoch_start(self, epoch, epochs, steps):
        pass

    def batch_end(self, epoch, step):
        pass

    def epoch_end(self, epoch, epochs, logs):
        pass


def train(
    spec: ExperimentSpec,
    runs_root: Path,
    *,
    source: str = "<spec>",
    reporter: Reporter | None = None,
    argv: list[str] | None = None,
    run_dir: Path | None = None,
    callbacks: Sequence[Any] = (),
    data: Data | None = None,
    search_trial: bool = False,
) -> Summary:
    """Train ``spec`` into a new run directory under ``runs_root`` (or into the empty ``run_dir`` the caller
    made, as `annctl tune` does for its trials); return its summary. ``callbacks`` are extra Keras callbacks;
    ``data`` is ``spec.dataset.load(spec.seed)`` already loaded (a tune worker keeps it across trials);
    ``search_trial``: a trial of `annctl tune`, which is selected on validation only (no test metrics), retried
    from its start rather than resumed (no per-epoch checkpoints) and many (no learning-curves picture: `annctl
    plot` and `report` draw them on demand).

    With `training.distribution: multi_worker` only the chief writes under ``runs_root``; another worker trains
    into a temporary directory it deletes, and its summary has ``run_dir`` None and its ``worker`` role.

    Raises AnnctlError subclasses: DataError/SpecError (2), TrainingDiverged (1), Interrupted (130/143).
    """
    if is_tracked(spec) and not search_trial:  # MLflow missing or no URI: exit 2 before any training
        check_tracking(spec)
    role = None
    if spec.training.distribution == "multi_worker":
        from annctl.training.distribution import worker_role

        role = worker_role()
    if role is None or role.chief:
        prepare_root(runs_root)
    from annctl.training.tf_setup import configure_threads, seed_everything

    threads = configure_threads(spec)
    seed_everything(spec.seed)
    data = data if data is not None else spec.dataset.load(spec.seed)
    for note in data.notes:  # a reporter tells them its own way (a terminal's: wrapped between words)
        (reporter or SilentReporter()).note(note)
    spec = resolve_or_raise(spec, data.task, data.num_classes, source)
    spec, source_run = pin_transfer_source(spec, runs_root)
    if role is not None and not role.chief:
        return _train_as_worker(spec, data, role, runs_root, reporter)
    made_here = run_dir is None
    run_dir = run_dir or create_run_dir(runs_root, spec.name)
    with _removed_on_spec_error(run_dir if made_here else None), run_lock(run_dir):
        write_spec(run_dir, spec)
        write_env(run_dir, spec.seed, argv)
        write_data_info(run_dir, data.description, spec)
        summary = Summary(
            run_dir=str(run_dir),
            name=spec.name,
            status="running",
            pid=os.getpid(),  # with host: lets `runs list` tell a live run from one killed with SIGKILL
            host=socket.gethostname(),
            started_at=utc_now(),
            threads=threads,
            source=source_run,
            worker=Worker(**dataclasses.asdict(role)) if role is not None else None,
        )
        write_summary(run_dir, summary)
        with _tracking(spec, run_dir, source, search_trial) as tracking_callbacks:
            return _run(
                spec,
                data,
                run_dir,
                summary,
                reporter or SilentReporter(),
                runs_root,
                [*callbacks, *tracking_callbacks],
                None,
                search_trial,
            )


@contextlib.contextmanager
def _removed_on_spec_error(run_dir: Path | None):
    """A spec error found as the model is built (a layer to freeze that the model lacks, an input too small for
    the architecture's blocks) is the spec's, like validate's: no run started, so the new run directory goes."""
    try:
        yield
    except SpecError as error:
        summary = read_summary(run_dir) if run_dir is not None else None
        if run_dir is not None and (summary is None or summary.epochs_completed == 0):
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
            error.run_dir = None
        raise


def _train_as_worker(spec, data, role, runs_root: Path, reporter: Reporter | None) -> Summary:
    """A non-chief worker: run every step the chief runs (the gradients are all-reduced), keep nothing."""
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="annctl-worker-"))
    try:
        summary = Summary(run_dir=str(scratch), name=spec.name, status="running")
        summary = _run(spec, data, scratch, summary, reporter or SilentReporter(), runs_root, [], None)
    except Interrupted as interrupt:
        error: AnnctlError = Interrupted(
            f"{role.describe()}: interrupted; stop the other workers too, then train again"
        )
        error.exit_code = interrupt.exit_code
        raise error from None
    except AnnctlError as failure:  # its message names the scratch directory, which is about to go
        error = AnnctlError(f"{role.describe()}: " + str(failure).replace(str(scratch), "(deleted scratch)"))
        error.exit_code = failure.exit_code
        raise error from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary.update(run_dir=None, worker=Worker(**dataclasses.asdict(role)))
    return summary


def resume(
    run_dir: Path,
    runs_root: Path,
    *,
    experiment: ExperimentSpec | None = None,
    source: str = "<spec>",
    reporter: Reporter | None = None,
) -> Summary:
    """Continue an interrupted or killed run from its last intact checkpoint; return its summary.

    Refuses (exit 2) a finished run, a run being trained right now, a spec edited since the run started
    (in the run's spec.yaml, or ``experiment`` differing from it), and a run without an intact checkpoint.
    """
    from annctl.training.resuming import find_resume_point, load_run_spec

    with run_lock(run_dir):
        summary = read_summary(run_dir) or Summary(run_dir=str(run_dir), name=run_dir.name, status="running")
        status = summary.status
        if status in ("completed", "diverged"):
            hint = " (a diverged run would diverge again; train it anew with a lower learning rate)"
            raise UsageError(
                f"{run_dir}: the run is {status}; nothing to resume" + (hint if status == "diverged" else "")
            )
        spec, manifest = load_run_spec(run_dir, experiment, source)
        if spec.training.distribution == "multi_worker":
            raise UsageError(
                f"{run_dir}: a multi_worker run cannot be resumed (the other workers kept no checkpoints); "
                "train it again"
            )
        from annctl.training.tf_setup import configure_threads, seed_everything

        threads = configure_threads(spec)
        seed_everything(spec.seed)
        data = spec.dataset.load(spec.seed)
        spec = resolve_or_raise(spec, data.task, data.num_classes, str(RunPaths(run_dir).spec))
        point = find_resume_point(run_dir, manifest, spec)
        summary.update(
            status="running",
            pid=os.getpid(),
            host=socket.gethostname(),
            threads=threads,
            epochs_completed=point.entry.epoch,
            resumed_at=[*summary.resumed_at, utc_now()],
            resumed_from_epoch=point.entry.epoch,
            error=None,
            finished_at=None,
        )
        write_summary(run_dir, summary)
        with _tracking(spec, run_dir, source) as tracking_callbacks:
            return _run(
                spec, data, run_dir, summary, reporter or SilentReporter(), runs_root, tracking_callbacks, point
            )


def _run(
    spec,
    data,
    run_dir: Path,
    summary: Summary,
    reporter: Reporter,
    runs_root: Path,
    extra: list,
    resume,
    search_trial: bool = False,
):
    """Fit with the stop signals handled, and leave the summary saying how it ended."""
    from annctl.training.callbacks.stop import Terminated
    from annctl.training.fit import fit

    started = time.perf_counter()
    before = float(summary.wall_seconds or 0.0) if resume else 0.0

    def elapsed() -> float:
        return before + time.perf_counter() - started

    with contextlib.redirect_stdout(sys.stderr), _stop_signals() as stop, _naming_run_dir(run_dir):
        try:
            fit(spec, data, run_dir, summary, reporter, runs_root, extra, stop, resume, search_trial)
            stop.check()
        except (KeyboardInterrupt, Terminated) as interrupt:
            summary.update(status="interrupted", wall_seconds=elapsed(), finished_at=utc_now())
            write_summary(run_dir, summary)
            code = 143 if isinstance(interrupt, Terminated) else 130
            error = Interrupted(
                f"interrupted after {summary.epochs_completed} epoch(s); run directory: {run_dir}\n"
                f"continue it with: annctl train --resume {run_dir}"
            )
            error.exit_code = code
            raise error from None
        except TrainingDiverged:
            summary.update(wall_seconds=elapsed(), finished_at=utc_now())
            write_summary(run_dir, summary)
            raise
        except Exception as exc:
            summary.update(
                status="failed", error=f"{type(exc).__name__}: {exc}", wall_seconds=elapsed(), finished_at=utc_now()
            )
            with contextlib.suppress(OSError):  # the disk may still be full: the message below matters more
                write_summary(run_dir, summary)
            if isinstance(exc, AnnctlError):
                raise
            if isinstance(exc, OSError) and exc.filename:
                raise AnnctlError(
                    f"cannot write {exc.filename}: {exc.strerror}; the files of the last complete epoch are intact "
                    f"(resume with: annctl train --resume {run_dir})"
                ) from None
            if type(exc).__name__ == "UnavailableError" and spec.training.distribution == "multi_worker":
                raise AnnctlError(
                    f"training failed: a worker of the cluster stopped (TensorFlow's peer health check: "
                    f"{str(exc).splitlines()[0][-160:]}); run directory: {run_dir}"
                ) from None
            raise AnnctlError(f"training failed: {type(exc).__name__}: {exc} (run directory: {run_dir})") from exc
    summary.update(wall_seconds=elapsed(), finished_at=utc_now())
    write_summary(run_dir, summary)
    if not search_trial:
        plot_learning_curves(run_dir, spec.name)
    return summary


@contextlib.contextmanager
def _tracking(spec: ExperimentSpec, run_dir: Path, source: str, search_trial: bool = False):
    """The callbacks that report the training to MLflow when the spec asks (none for a search's trial: the
    search reports its trials itself); at the end, however the training ended, the last upload and at most one
    warning. The training never waits for the server (annctl.tracking.live)."""
    if not is_tracked(spec) or search_trial:
        yield []
        return
    from annctl.tracking.live import LiveTracking

    tracking = LiveTracking(spec, run_dir, source)
    try:
        yield [tracking.callback()]
    finally:
        warning = tracking.finish()
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _naming_run_dir(run_dir: Path):
    """An AnnctlError out of a training carries the run directory it leaves (the CLI prints it on stdout)."""
    try:
        yield
    except AnnctlError as error:
        error.run_dir = error.run_dir or run_dir
        raise


def pin_transfer_source(spec: ExperimentSpec, runs_root: Path) -> tuple[ExperimentSpec, Source | None]:
    """`model.init_from` resolved to the run it means now (annctl.rundir.resolve_run's rule): the
    spec.yaml of this run names that run's directory, so training the spec again starts from the same weights,
    and summary.json records what was given and the source model's SHA-256."""
    given = spec.model.init_from
    if not given:
        return spec, None
    from annctl.rundir import read_summary, resolve_run

    try:
        source_dir = resolve_run(given, runs_root)
    except UsageError as error:
        raise SpecError([f"model.init_from: {error}"]) from None
    pinned = spec.model_copy(deep=True)
    pinned.model.init_from = str(source_dir.resolve())
    recorded = read_summary(source_dir)
    return pinned, Source(
        init_from=given, run_dir=str(source_dir.resolve()), model_sha256=recorded.model_sha256 if recorded else None
    )


def run_lock(run_dir: Path):
    """One process trains a run directory at a time (a training, or a resume of it)."""
    from annctl.fileio import exclusive_lock

    return exclusive_lock(RunPaths(run_dir).lock, f"run {run_dir}")


def plot_learning_curves(run_dir: Path, title: str) -> None:
    """`plots/learning_curves.png`; a plotting failure never fails a finished training."""
    from annctl.plots import learning_curves, read_metrics

    try:
        learning_curves(read_metrics(run_dir), RunPaths(run_dir).learning_curves, title)
    except Exception as error:  # noqa: BLE001 - e.g. a broken matplotlib install: warn, keep the run
        print(f"warning: could not draw learning curves: {error}", file=sys.stderr)


@contextlib.contextmanager
def _stop_signals():
    from annctl.training.callbacks.stop import StopRequest

    stop = StopRequest()
    try:
        previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield stop
        return
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
