"""`annctl train`: data → model → fit with callbacks → a complete run directory and its summary."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from annctl.config import resolve_or_raise
from annctl.errors import AnnctlError, Interrupted, TrainingDiverged, UsageError
from annctl.rundir import (
    METRICS_FILE,
    MODEL_FILE,
    create_run_dir,
    prepare_root,
    read_summary,
    utc_now,
    write_data_info,
    write_env,
    write_spec,
    write_summary,
)
from annctl.spec import ExperimentSpec, monitor_mode


class Reporter(Protocol):
    """What training tells the user interface; every method may do nothing."""

    def run_start(self, run_dir: Path, spec: ExperimentSpec, train_samples: int) -> None: ...
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def batch_end(self, epoch: int, step: int) -> None: ...
    def epoch_end(self, epoch: int, epochs: int, logs: dict[str, float]) -> None: ...


class SilentReporter:
    def run_start(self, run_dir, spec, train_samples):
        pass

    def epoch_start(self, epoch, epochs, steps):
        pass

    def batch_end(self, epoch, step):
        pass

    def epoch_end(self, epoch, epochs, logs):
        pass


class _Terminated(BaseException):
    """Raised at a batch boundary after SIGTERM, so training stops like Ctrl-C does."""


@dataclass
class ResumePoint:
    """Where a resumed run continues: the intact checkpoint, its manifest entry, the metrics rows up to it."""

    checkpoint: Path
    entry: dict[str, Any]
    manifest: dict[str, Any]
    rows: list[dict[str, Any]]
    best_weights_file: Path | None = None


def train(
    spec: ExperimentSpec,
    runs_root: Path,
    *,
    source: str = "<spec>",
    reporter: Reporter | None = None,
    argv: list[str] | None = None,
    run_dir: Path | None = None,
    callbacks: Sequence[Any] = (),
    data: Any = None,
) -> dict[str, Any]:
    """Train ``spec`` into a new run directory under ``runs_root`` (or into the empty ``run_dir`` the caller
    made, as `annctl tune` does for its trials); return its summary. ``callbacks`` are extra Keras callbacks;
    ``data`` is ``spec.dataset.load(spec.seed)`` already loaded (a tune worker keeps it across trials).

    With `training.distribution: multi_worker` only the chief writes under ``runs_root``; another worker trains
    into a temporary directory it deletes, and its summary has ``run_dir`` None and its ``worker`` role.

    Raises AnnctlError subclasses: DataError/SpecError (2), TrainingDiverged (1), Interrupted (130/143).
    """
    role = None
    if spec.training.distribution == "multi_worker":
        from annctl.training.distribution import worker_role

        role = worker_role()
    if role is None or role.chief:
        prepare_root(runs_root)
    from annctl.training.tf_setup import configure_threads, seed_everything

    threads = configure_threads(spec)
    seed_everything(spec.seed, deterministic_ops=not spec.training.jit_compile)
    data = data if data is not None else spec.dataset.load(spec.seed)
    spec = resolve_or_raise(spec, data.task, data.num_classes, source)
    if role is not None and not role.chief:
        return _train_as_worker(spec, data, role, runs_root, reporter)
    run_dir = run_dir or create_run_dir(runs_root, spec.name)
    with run_lock(run_dir):
        write_spec(run_dir, spec)
        write_env(run_dir, spec.seed, argv)
        write_data_info(run_dir, data, spec)
        summary: dict[str, Any] = {
            "run_dir": str(run_dir),
            "name": spec.name,
            "status": "running",
            "pid": os.getpid(),  # with host: lets `runs list` tell a live run from one killed with SIGKILL
            "host": socket.gethostname(),
            "started_at": utc_now(),
            "threads": threads,  # TensorFlow's intra- and inter-op threads (training.threads)
            "epochs_completed": 0,
            "best_epoch": None,
            "best": None,
            # filled in as training goes; present from the start so scripts can rely on every key
            "final_metrics": {},
            "test_metrics": None,
            "wall_seconds": None,
            "train_samples_per_second": None,
        }
        if role is not None:
            summary["worker"] = dataclasses.asdict(role)
        write_summary(run_dir, summary)
        return _run(spec, data, run_dir, summary, reporter or SilentReporter(), runs_root, list(callbacks), None)


def _train_as_worker(spec, data, role, runs_root: Path, reporter: Reporter | None) -> dict[str, Any]:
    """A non-chief worker: run every step the chief runs (the gradients are all-reduced), keep nothing."""
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="annctl-worker-"))
    try:
        summary: dict[str, Any] = {"run_dir": str(scratch), "name": spec.name, "status": "running"}
        summary = _run(spec, data, scratch, summary, reporter or SilentReporter(), runs_root, [], None)
    except Interrupted as interrupt:
        error = Interrupted(f"{role.describe()}: interrupted; stop the other workers too, then train again")
        error.exit_code = interrupt.exit_code
        raise error from None
    except AnnctlError as failure:  # its message names the scratch directory, which is about to go
        error = AnnctlError(f"{role.describe()}: " + str(failure).replace(str(scratch), "(deleted scratch)"))
        error.exit_code = failure.exit_code
        raise error from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary.update(run_dir=None, worker=dataclasses.asdict(role))
    return summary


def resume(
    run_dir: Path,
    runs_root: Path,
    *,
    experiment: ExperimentSpec | None = None,
    source: str = "<spec>",
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Continue an interrupted or killed run from its last intact checkpoint; return its summary.

    Refuses (exit 2) a finished run, a run being trained right now, a spec edited since the run started
    (in the run's spec.yaml, or ``experiment`` differing from it), and a run without an intact checkpoint.
    """
    from annctl.training.resuming import find_resume_point, load_run_spec

    with run_lock(run_dir):
        summary = read_summary(run_dir) or {}
        status = summary.get("status")
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
        seed_everything(spec.seed, deterministic_ops=not spec.training.jit_compile)
        data = spec.dataset.load(spec.seed)
        spec = resolve_or_raise(spec, data.task, data.num_classes, str(run_dir / "spec.yaml"))
        point = find_resume_point(run_dir, manifest, spec)
        summary.update(
            status="running",
            pid=os.getpid(),
            host=socket.gethostname(),
            threads=threads,
            epochs_completed=point.entry["epoch"],
            resumed_at=[*summary.get("resumed_at", []), utc_now()],
            resumed_from_epoch=point.entry["epoch"],
        )
        summary.pop("error", None)
        summary.pop("finished_at", None)
        write_summary(run_dir, summary)
        return _run(spec, data, run_dir, summary, reporter or SilentReporter(), runs_root, [], point)


def _run(spec, data, run_dir: Path, summary: dict, reporter: Reporter, runs_root: Path, extra: list, resume):
    """Fit with the stop signals handled, and leave the summary saying how it ended."""
    started = time.perf_counter()
    before = float(summary.get("wall_seconds") or 0.0) if resume else 0.0

    def elapsed() -> float:
        return before + time.perf_counter() - started

    with contextlib.redirect_stdout(sys.stderr), _stop_signals() as stop:
        try:
            _fit(spec, data, run_dir, summary, reporter, runs_root, [*extra, _StopAtBatch(stop)], resume)
            stop.check()
        except (KeyboardInterrupt, _Terminated) as interrupt:
            summary.update(status="interrupted", wall_seconds=elapsed(), finished_at=utc_now())
            write_summary(run_dir, summary)
            code = 143 if isinstance(interrupt, _Terminated) else 130
            error = Interrupted(
                f"interrupted after {summary['epochs_completed']} epoch(s); run directory: {run_dir}\n"
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
    summary["wall_seconds"] = elapsed()
    summary["finished_at"] = utc_now()
    write_summary(run_dir, summary)
    plot_learning_curves(run_dir, spec.name)
    return summary


def run_lock(run_dir: Path):
    """One process trains a run directory at a time (a training, or a resume of it)."""
    from annctl.fileio import exclusive_lock

    return exclusive_lock(run_dir / ".lock", f"run {run_dir}")


def plot_learning_curves(run_dir: Path, title: str) -> None:
    """`plots/learning_curves.png`; a plotting failure never fails a finished training."""
    from annctl.plots import learning_curves, read_metrics

    try:
        learning_curves(read_metrics(run_dir), run_dir / "plots" / "learning_curves.png", title)
    except Exception as error:  # noqa: BLE001 - e.g. a broken matplotlib install: warn, keep the run
        print(f"warning: could not draw learning curves: {error}", file=sys.stderr)


class _StopRequest:
    """SIGINT/SIGTERM while training: remember it and stop at the next batch boundary (a second signal
    stops at once)."""

    def __init__(self):
        self.signal: int | None = None

    def handler(self, signum, frame):
        if self.signal is not None:
            raise _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self.signal = signum

    def check(self) -> None:
        if self.signal == signal.SIGTERM:
            raise _Terminated()
        if self.signal is not None:
            raise KeyboardInterrupt()


@contextlib.contextmanager
def _stop_signals():
    stop = _StopRequest()
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


def _StopAtBatch(stop: _StopRequest):  # noqa: N802 - builds a Keras callback lazily (Keras imports late)
    import keras

    class StopAtBatch(keras.callbacks.Callback):
        """Raises the stop at a batch boundary (the partial epoch is dropped: resume redoes it) or after all
        of an epoch's files are written (put last)."""

        def on_train_batch_end(self, batch, logs=None):
            stop.check()

        def on_epoch_end(self, epoch, logs=None):
            stop.check()

    return StopAtBatch()


def _fit(
    spec: ExperimentSpec,
    data,
    run_dir: Path,
    summary: dict,
    reporter: Reporter,
    runs_root: Path,
    extra: list,
    resume: ResumePoint | None = None,
) -> None:
    import keras

    from annctl.faults import fault_point
    from annctl.fileio import atomic_path, sha256_file
    from annctl.training.assemble import (
        make_model,
        model_inputs,
        model_targets,
        precision_policy,
        schedule_callbacks,
    )
    from annctl.training.callbacks import (
        BatchFaults,
        Checkpoints,
        DivergenceGuard,
        EarlyStopping,
        EpochStats,
        MetricsLog,
        ReporterBridge,
        restore_rng_states,
    )
    from annctl.training.distribution import distribution_scope
    from annctl.training.pipeline import epoch_order_callback, training_dataset

    training = spec.training
    state = (resume.entry.get("state") or {}) if resume else {}
    saved = state.get("callbacks", {})
    with precision_policy(training.mixed_precision), distribution_scope(training.distribution):
        model = make_model(spec, data, runs_root, transfer=resume is None)
        best_weights = None
        if resume:
            model.optimizer.build(model.trainable_variables)
            if resume.best_weights_file is not None:
                model.load_weights(resume.best_weights_file)
                best_weights = model.get_weights()
            model.load_weights(resume.checkpoint)  # weights and optimizer state (moments, step, learning rate)
            restore_rng_states(model, state.get("rng", {}))
    if getattr(model, "transferred_layers", None):
        summary["transferred_layers"] = model.transferred_layers
    x_train, x_val = model_inputs(spec, data, data.x_train), model_inputs(spec, data, data.x_val)
    y_train, y_val = model_targets(spec, data, data.y_train), model_targets(spec, data, data.y_val)
    train_data, epoch_variable, steps = training_dataset(
        x_train, y_train, training.batch_size, training.shuffle, spec.seed
    )
    monitor = spec.monitor()
    mode = monitor_mode(monitor)
    checkpoints = Checkpoints(
        run_dir / "checkpoints", monitor, mode, spec.model_dump(mode="json"), resume.manifest if resume else None
    )
    if "checkpoints" in saved:
        checkpoints.best, checkpoints.best_epoch = saved["checkpoints"]["best"], saved["checkpoints"]["best_epoch"]
    guard = DivergenceGuard()

    def update_summary(epoch, logs):
        summary.update(
            epochs_completed=epoch + 1,
            best_epoch=checkpoints.best_epoch,
            best={"monitor": monitor, "mode": mode, "value": checkpoints.best},
            final_metrics={k: float(v) for k, v in (logs or {}).items()},
        )
        write_summary(run_dir, summary)
        fault_point("epoch_end")

    callbacks = [EpochStats(), epoch_order_callback(epoch_variable), guard, BatchFaults()]
    for callback in schedule_callbacks(spec):
        checkpoints.stateful["reduce_lr"] = callback.resume_from(saved.get("reduce_lr"))
        callbacks.append(callback)
    if training.early_stopping:
        stopping = training.early_stopping
        early = EarlyStopping(
            monitor=stopping.monitor,
            patience=stopping.patience,
            min_delta=stopping.min_delta,
            restore_best_weights=stopping.restore_best_weights,
            mode=monitor_mode(stopping.monitor),
        ).resume_from(saved.get("early_stopping"), best_weights)
        checkpoints.stateful["early_stopping"] = early
        callbacks.append(early)
    checkpoints.stateful["checkpoints"] = _CheckpointState(checkpoints)
    # metrics.csv before the manifest: a kill between them leaves a row the resume drops, never a missing one
    metrics_log = MetricsLog(run_dir / METRICS_FILE, resume.rows if resume else None)
    callbacks += [metrics_log, checkpoints]
    if spec.output.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=str(run_dir / "tensorboard"),
                histogram_freq=spec.output.histogram_freq,
                write_graph=False,
                profile_batch=0,
            )
        )
    # The summary is updated after every file of the epoch is written; the display comes last.
    callbacks += [
        *extra[:-1],
        keras.callbacks.LambdaCallback(on_epoch_end=update_summary),
        ReporterBridge(reporter, training.epochs, steps),
        extra[-1],  # the stop request: raised only once the epoch is fully recorded
    ]
    reporter.run_start(run_dir, spec, data.train_size)
    initial_epoch = resume.entry["epoch"] if resume else 0
    if _stopped_early(saved.get("early_stopping")) or initial_epoch >= training.epochs:
        # killed after its last epoch, before the final save: finish as EarlyStopping's on_train_end would
        if best_weights is not None and training.early_stopping and training.early_stopping.restore_best_weights:
            model.set_weights(best_weights)
    else:
        model.fit(
            train_data,
            validation_data=(x_val, y_val),
            epochs=training.epochs,
            initial_epoch=initial_epoch,
            shuffle=False,  # the pipeline orders each epoch itself
            callbacks=callbacks,
            verbose=0,
        )
    if guard.diverged_epoch is not None:
        summary["status"] = "diverged"
        summary["diverged_epoch"] = guard.diverged_epoch
        raise TrainingDiverged(
            f"the loss became NaN or infinite in epoch {guard.diverged_epoch}; the last good checkpoint is kept "
            f"in {run_dir / 'checkpoints'}. Try a lower training.learning_rate (now {training.learning_rate})."
        )
    extra[-1].on_epoch_end(0)  # a stop requested after the last batch: stop before the final save
    model_path = run_dir / MODEL_FILE
    with atomic_path(model_path, suffix=".keras") as tmp:
        model.save(tmp)
    total_seconds = sum(row["epoch_seconds"] for row in metrics_log.rows)
    summary.update(
        status="completed",
        jit_compile=bool(model.jit_compile),  # what ran: Keras may refuse XLA for a model (with a warning)
        test_metrics=test_metrics(spec, model, data),
        train_samples_per_second=data.train_size * summary["epochs_completed"] / total_seconds
        if total_seconds
        else None,
        model_sha256=sha256_file(model_path),
    )


class _CheckpointState:
    """The best value the checkpoints track, as resumable state."""

    def __init__(self, checkpoints):
        self.checkpoints = checkpoints

    def state(self) -> dict:
        return {"best": self.checkpoints.best, "best_epoch": self.checkpoints.best_epoch}


def _stopped_early(saved: dict | None) -> bool:
    """Early stopping had already ended the run when it was killed (before the final model was saved)."""
    return bool(saved and saved.get("stopped_epoch"))


def test_metrics(spec: ExperimentSpec, model, data) -> dict[str, float]:
    """Loss and compiled metrics on the held-out test split (per output too), plus accuracy or MSE/RMSE/MAE of
    the main output computed from its predictions."""
    import numpy as np

    from annctl.models.base import predicted_classes
    from annctl.training.assemble import model_inputs, model_targets

    x_test = model_inputs(spec, data, data.x_test)
    batch = max(spec.training.batch_size, 256)
    results = model.evaluate(
        x_test, model_targets(spec, data, data.y_test), batch_size=batch, verbose=0, return_dict=True
    )
    metrics = {"loss": float(results["loss"])}
    predictions = predict_batches(model, x_test)
    if data.task == "classification":
        labels = predicted_classes(predictions, type(spec.model).decision)
        metrics["accuracy"] = float(np.mean(labels == data.y_test))
    else:
        errors = predictions.reshape(data.y_test.shape) - data.y_test
        metrics["mse"] = float(np.mean(errors**2))
        metrics["rmse"] = float(math.sqrt(metrics["mse"]))
        metrics["mae"] = float(np.mean(np.abs(errors)))
    for name, value in results.items():
        metrics.setdefault(name, float(value))
    return metrics


def predict_batches(model, x, batch_size: int = 4096, all_outputs: bool = False):
    """Call the model on large batches: several times faster than ``model.predict`` for in-memory arrays.

    ``x`` is an array or a dict of named inputs. Returns the main output's array, or with ``all_outputs``
    a dict of every output (the main one first).
    """
    import numpy as np

    from annctl.training.distribution import is_multi_worker

    multi_worker = is_multi_worker(model)
    count = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    pieces: dict[str, list] = {}
    for start in range(0, count, batch_size):
        batch = (
            {k: v[start : start + batch_size] for k, v in x.items()}
            if isinstance(x, dict)
            else x[start : start + batch_size]
        )
        out = model(batch, training=False) if multi_worker else model.predict_on_batch(batch)
        named = out if isinstance(out, dict) else {"output": out}
        if isinstance(out, dict) and "main" in out:
            named = {"main": out["main"], **{k: v for k, v in out.items() if k != "main"}}
        for name, value in named.items():
            pieces.setdefault(name, []).append(np.asarray(value))
    outputs = {name: np.concatenate(parts) for name, parts in pieces.items()}
    if all_outputs:
        return outputs
    return next(iter(outputs.values())) if outputs else np.empty((0,))
