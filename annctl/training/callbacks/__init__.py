"""The callbacks of a training, built in one place and in one order (:func:`build_callbacks`).

Keras' own where Keras has them (EarlyStopping, ReduceLROnPlateau, TensorBoard); annctl's few others, one
small class per file. Every callback with state a resumed run needs follows the protocol of ``resumable.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annctl.datasets.timeseries import NUMERIC_INPUT
from annctl.rundir import RunPaths
from annctl.spec import ExperimentSpec, ReduceOnPlateau, monitor_mode
from annctl.training.callbacks.checkpoints import Checkpoints
from annctl.training.callbacks.divergence import DivergenceGuard
from annctl.training.callbacks.epoch_stats import EpochStats
from annctl.training.callbacks.gradient_norms import GradientNorms
from annctl.training.callbacks.metrics_log import MetricsLog, rows_to_csv
from annctl.training.callbacks.monitors import EarlyStopping, ReduceLROnPlateau
from annctl.training.callbacks.reporter_bridge import ReporterBridge
from annctl.training.callbacks.resumable import RandomStates, Resumable
from annctl.training.callbacks.small import BatchFaults, EpochOrder, EpochSummary
from annctl.training.callbacks.step_gradients import StepGradientNorms
from annctl.training.callbacks.stop import StopAtBatch, StopRequest, Terminated
from annctl.training.callbacks.tensorboard import EpochTensorBoard

__all__ = ["TrainingCallbacks", "build_callbacks", "rows_to_csv", "StopRequest", "Terminated"]


@dataclass
class TrainingCallbacks:
    """The list for ``model.fit`` and the callbacks the trainer asks afterwards."""

    callbacks: list
    checkpoints: Checkpoints
    metrics_log: MetricsLog
    guard: DivergenceGuard
    stop: StopAtBatch
    early_stopping: EarlyStopping | None


def improvement_min_delta(spec: ExperimentSpec, monitor: str) -> float:
    """The smallest change that counts as an improvement of ``monitor``: early stopping's ``min_delta`` when
    it watches the same metric, so the best checkpoint and early stopping's best epoch always agree."""
    stopping = spec.training.early_stopping
    return stopping.min_delta if stopping and stopping.monitor == monitor else 0.0


def build_callbacks(
    spec: ExperimentSpec,
    run_dir: Path,
    *,
    epoch_variable,
    steps: int,
    reporter,
    batches_per_call: int = 1,
    update_summary: Callable[[int, dict, Checkpoints], None],
    stop_request: StopRequest,
    extra: list | None = None,
    saved: dict[str, Any] | None = None,
    manifest=None,
    metrics_rows: list[dict] | None = None,
    best_weights=None,
    checkpoint_files: bool = True,
    probe=None,
) -> TrainingCallbacks:
    """In order: timing, gradient norms and per-step gradient norms (when asked), data order, NaN guard,
    faults, schedules, early stopping, RNG states, metrics.csv, checkpoints (which record every resumable
    state), TensorBoard, the caller's ``extra`` callbacks, the summary, the display, and last the stop request
    (raised only once the epoch is fully recorded).
    ``probe``: the fixed (x, y) batch of ``output.step_gradient_norms``.
    ``saved``: the resumable states of the checkpoint a resume continues from. ``steps``: batches per epoch;
    ``batches_per_call``: batches behind each of Keras' batch ends (a chunk of annctl.training.compiled)."""
    saved = saved or {}
    training = spec.training
    paths = RunPaths(run_dir)
    resumables: list[Resumable] = []
    callbacks: list = [EpochStats(), *([GradientNorms()] if spec.output.gradient_norms else [])]
    if spec.output.step_gradient_norms:
        callbacks.append(StepGradientNorms(probe, NUMERIC_INPUT))
    if epoch_variable is not None:  # Keras' own loop: the pipeline reads the epoch from this variable
        callbacks.append(EpochOrder(epoch_variable))
    callbacks += [guard := DivergenceGuard(), BatchFaults()]
    schedule = training.lr_schedule
    if isinstance(schedule, ReduceOnPlateau):
        plateau = ReduceLROnPlateau(
            monitor=schedule.monitor,
            factor=schedule.factor,
            patience=schedule.patience,
            min_lr=schedule.min_lr,
            mode=monitor_mode(schedule.monitor),
            verbose=0,
        )
        resumables.append(plateau.resume_from(saved.get(plateau.state_key)))
        callbacks.append(plateau)
    early = None
    if training.early_stopping:
        stopping = training.early_stopping
        early = EarlyStopping(
            monitor=stopping.monitor,
            patience=stopping.patience,
            min_delta=stopping.min_delta,
            restore_best_weights=stopping.restore_best_weights,
            mode=monitor_mode(stopping.monitor),
            best_weights=best_weights,
        )
        resumables.append(early.resume_from(saved.get(early.state_key)))
        callbacks.append(early)
    random_states = RandomStates()
    resumables.append(random_states.resume_from(saved.get(random_states.state_key)))
    callbacks.append(random_states)
    monitor = spec.monitor()
    checkpoints = Checkpoints(
        paths,
        monitor,
        monitor_mode(monitor),
        spec.model_dump(mode="json"),
        manifest,
        min_delta=improvement_min_delta(spec, monitor),
        resumables=resumables,
        write=checkpoint_files,
    )
    checkpoints.resume_from(saved.get(checkpoints.state_key))
    # metrics.csv before the manifest: a kill between them leaves a row the resume drops, never a missing one
    metrics_log = MetricsLog(paths.metrics, metrics_rows)
    callbacks += [metrics_log, checkpoints]
    if spec.output.tensorboard:
        callbacks.append(
            EpochTensorBoard(
                log_dir=str(paths.tensorboard),
                histogram_freq=spec.output.histogram_freq,
                write_graph=False,
                profile_batch=0,
            )
        )
    stop = StopAtBatch(stop_request)
    callbacks += [
        *(extra or []),
        EpochSummary(lambda epoch, logs: update_summary(epoch, logs, checkpoints)),
        ReporterBridge(reporter, training.epochs, steps, batches_per_call),
        stop,
    ]
    return TrainingCallbacks(callbacks, checkpoints, metrics_log, guard, stop, early)
