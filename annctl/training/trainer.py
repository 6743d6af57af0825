"""`annctl train`: data → model → fit with callbacks → a complete run directory and its summary."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from annctl.config import resolve_or_raise
from annctl.errors import AnnctlError, Interrupted, TrainingDiverged
from annctl.rundir import (
    METRICS_FILE,
    MODEL_FILE,
    create_run_dir,
    prepare_root,
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
    """Raised from the SIGTERM handler so training stops like Ctrl-C does."""


def train(
    spec: ExperimentSpec,
    runs_root: Path,
    *,
    source: str = "<spec>",
    reporter: Reporter | None = None,
    argv: list[str] | None = None,
    run_dir: Path | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train ``spec`` into a new run directory under ``runs_root`` (or into the empty ``run_dir`` the caller
    made, as `annctl tune` does for its trials); return its summary. ``callbacks`` are extra Keras callbacks.

    Raises AnnctlError subclasses: DataError/SpecError (2), TrainingDiverged (1), Interrupted (130/143).
    """
    reporter = reporter or SilentReporter()
    prepare_root(runs_root)
    from annctl.training.tf_setup import seed_everything

    seed_everything(spec.seed)
    data = spec.dataset.load(spec.seed)
    spec = resolve_or_raise(spec, data.task, data.num_classes, source)
    run_dir = run_dir or create_run_dir(runs_root, spec.name)
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
        "epochs_completed": 0,
        "best_epoch": None,
        "best": None,
        # filled in as training goes; present from the start so scripts can rely on every key
        "final_metrics": {},
        "test_metrics": None,
        "wall_seconds": None,
        "train_samples_per_second": None,
    }
    write_summary(run_dir, summary)
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr), _sigterm_as_exception():
        try:
            _fit(spec, data, run_dir, summary, reporter, runs_root, list(callbacks))
        except (KeyboardInterrupt, _Terminated) as stop:
            summary.update(status="interrupted", wall_seconds=time.perf_counter() - started, finished_at=utc_now())
            write_summary(run_dir, summary)
            code = 143 if isinstance(stop, _Terminated) else 130
            error = Interrupted(f"interrupted after {summary['epochs_completed']} epoch(s); run directory: {run_dir}")
            error.exit_code = code
            raise error from None
        except TrainingDiverged:
            summary.update(wall_seconds=time.perf_counter() - started, finished_at=utc_now())
            write_summary(run_dir, summary)
            raise
        except Exception as exc:
            summary.update(
                status="failed",
                error=f"{type(exc).__name__}: {exc}",
                wall_seconds=time.perf_counter() - started,
                finished_at=utc_now(),
            )
            write_summary(run_dir, summary)
            if isinstance(exc, AnnctlError):
                raise
            raise AnnctlError(f"training failed: {type(exc).__name__}: {exc} (run directory: {run_dir})") from exc
    summary["wall_seconds"] = time.perf_counter() - started
    summary["finished_at"] = utc_now()
    write_summary(run_dir, summary)
    plot_learning_curves(run_dir, spec.name)
    return summary


def plot_learning_curves(run_dir: Path, title: str) -> None:
    """`plots/learning_curves.png`; a plotting failure never fails a finished training."""
    from annctl.plots import learning_curves, read_metrics

    try:
        learning_curves(read_metrics(run_dir), run_dir / "plots" / "learning_curves.png", title)
    except Exception as error:  # noqa: BLE001 - e.g. a broken matplotlib install: warn, keep the run
        print(f"warning: could not draw learning curves: {error}", file=sys.stderr)


@contextlib.contextmanager
def _sigterm_as_exception():
    def handler(signum, frame):
        raise _Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fit(
    spec: ExperimentSpec, data, run_dir: Path, summary: dict, reporter: Reporter, runs_root: Path, extra: list
) -> None:
    import keras

    from annctl.faults import fault_point
    from annctl.fileio import atomic_path, sha256_file
    from annctl.training.assemble import (
        distribution_scope,
        make_model,
        model_inputs,
        model_targets,
        precision_policy,
        schedule_callbacks,
    )
    from annctl.training.callbacks import Checkpoints, DivergenceGuard, EpochStats, MetricsLog, ReporterBridge

    training = spec.training
    with precision_policy(training.mixed_precision), distribution_scope(training.distribution):
        model = make_model(spec, data, runs_root)
    if getattr(model, "transferred_layers", None):
        summary["transferred_layers"] = model.transferred_layers
    x_train, x_val = model_inputs(spec, data, data.x_train), model_inputs(spec, data, data.x_val)
    y_train, y_val = model_targets(spec, data, data.y_train), model_targets(spec, data, data.y_val)
    monitor = spec.monitor()
    mode = monitor_mode(monitor)
    checkpoints = Checkpoints(run_dir / "checkpoints", monitor, mode)
    guard = DivergenceGuard()
    steps = math.ceil(data.train_size / training.batch_size)

    def update_summary(epoch, logs):
        summary.update(
            epochs_completed=epoch + 1,
            best_epoch=checkpoints.best_epoch,
            best={"monitor": monitor, "mode": mode, "value": checkpoints.best},
            final_metrics={k: float(v) for k, v in (logs or {}).items()},
        )
        write_summary(run_dir, summary)
        fault_point("epoch_end")

    callbacks = [EpochStats(), guard, *schedule_callbacks(spec)]
    if training.early_stopping:
        stopping = training.early_stopping
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=stopping.monitor,
                patience=stopping.patience,
                min_delta=stopping.min_delta,
                restore_best_weights=stopping.restore_best_weights,
                mode=monitor_mode(stopping.monitor),
            )
        )
    metrics_log = MetricsLog(run_dir / METRICS_FILE)
    callbacks += [checkpoints, metrics_log]
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
        *extra,
        keras.callbacks.LambdaCallback(on_epoch_end=update_summary),
        ReporterBridge(reporter, training.epochs, steps),
    ]
    reporter.run_start(run_dir, spec, data.train_size)
    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=training.epochs,
        batch_size=training.batch_size,
        shuffle=training.shuffle,
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
    model_path = run_dir / MODEL_FILE
    with atomic_path(model_path, suffix=".keras") as tmp:
        model.save(tmp)
    total_seconds = sum(row["epoch_seconds"] for row in metrics_log.rows)
    summary.update(
        status="completed",
        test_metrics=test_metrics(spec, model, data),
        train_samples_per_second=data.train_size * summary["epochs_completed"] / total_seconds
        if total_seconds
        else None,
        model_sha256=sha256_file(model_path),
    )


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

    count = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    pieces: dict[str, list] = {}
    for start in range(0, count, batch_size):
        batch = (
            {k: v[start : start + batch_size] for k, v in x.items()}
            if isinstance(x, dict)
            else x[start : start + batch_size]
        )
        out = model.predict_on_batch(batch)
        named = out if isinstance(out, dict) else {"output": out}
        if isinstance(out, dict) and "main" in out:
            named = {"main": out["main"], **{k: v for k, v in out.items() if k != "main"}}
        for name, value in named.items():
            pieces.setdefault(name, []).append(np.asarray(value))
    outputs = {name: np.concatenate(parts) for name, parts in pieces.items()}
    if all_outputs:
        return outputs
    return next(iter(outputs.values())) if outputs else np.empty((0,))
