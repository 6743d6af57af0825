"""The few callbacks Keras does not have: crash-safe checkpoints and metrics, timing, NaN detection, progress."""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import time
from pathlib import Path

import keras

from annctl.faults import fault_point
from annctl.fileio import atomic_path, atomic_write_json, atomic_write_text, sha256_file


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


class EpochStats(keras.callbacks.Callback):
    """Adds `learning_rate` and `epoch_seconds` to each epoch's logs (put it first in the list)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs["epoch_seconds"] = time.perf_counter() - self._start


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers the epoch (1-based)."""

    def __init__(self):
        super().__init__()
        self.diverged_epoch: int | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs and not _finite(logs["loss"]):
            self.diverged_epoch = self._epoch
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if logs and any(k.endswith("loss") and not _finite(v) for k, v in logs.items()):
            self.diverged_epoch = self.diverged_epoch or epoch + 1
            self.model.stop_training = True


class Checkpoints(keras.callbacks.Callback):
    """Writes `last.keras` every epoch (keeping the one before as `previous.keras`) and `best.keras` when the
    monitored metric improves, atomically, then `manifest.json`: each file's epoch and SHA-256, and what a
    resume needs besides the weights (the state of the other callbacks, the dropout RNG states).

    Keras' ModelCheckpoint writes in place, so a kill mid-save leaves a broken file; this one never does, and
    a loader finds each checkpoint by its hash, so a kill between two renames cannot mix epochs up.
    An epoch whose loss is not finite is never saved.
    """

    def __init__(self, directory: Path, monitor: str, mode: str, spec: dict, manifest: dict | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.monitor, self.mode = monitor, mode
        self.manifest: dict = dict(manifest or {})
        self.manifest["spec"] = spec
        best = self.manifest.get("best") or {}
        self.best: float | None = best.get("value")
        self.best_epoch: int | None = best.get("epoch")
        self.stateful: dict[str, object] = {}  # name -> callback with state() (early stopping, plateau)

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not _finite(logs.get("loss")):
            return
        value = logs.get(self.monitor)
        improved = _finite(value) and self.improved(float(value))
        if improved:  # before the state is taken: the state after this epoch includes it
            self.best, self.best_epoch = float(value), epoch + 1
        last, previous = self.directory / "last.keras", self.directory / "previous.keras"
        with atomic_path(last, suffix=".keras") as tmp:
            self.model.save(tmp)
            fault_point("checkpoint_write")
            if last.exists():
                os.replace(last, previous)  # the old last stays whole until the new one replaces it
        state = {
            "callbacks": {name: callback.state() for name, callback in self.stateful.items()},
            "rng": rng_states(self.model),
        }
        if "last" in self.manifest:
            self.manifest["previous"] = self.manifest["last"]
        self.manifest["last"] = {"epoch": epoch + 1, "sha256": sha256_file(last), "state": state}
        if improved:
            with atomic_path(self.directory / "best.keras", suffix=".keras") as tmp:
                shutil.copyfile(last, tmp)
            self.manifest["best"] = {"epoch": epoch + 1, "sha256": self.manifest["last"]["sha256"]}
            self.manifest["best"].update(monitor=self.monitor, value=self.best)
        # written last: it names the files that are complete, with the hashes a loader checks
        atomic_write_json(self.directory / "manifest.json", self.manifest)


def rng_states(model) -> dict[str, list[int]]:
    """The random-generator states of the model's layers (dropout, noise): Keras does not save them with the
    weights, so a resumed run would otherwise draw other dropout masks than an uninterrupted one."""
    return {
        variable.path: [int(v) for v in keras.ops.convert_to_numpy(variable.value).ravel()]
        for variable in model.variables
        if variable.name == "seed_generator_state"
    }


def restore_rng_states(model, states: dict[str, list[int]]) -> None:
    import numpy as np

    for variable in model.variables:
        if variable.name == "seed_generator_state" and variable.path in states:
            variable.assign(np.asarray(states[variable.path], dtype=variable.dtype).reshape(variable.shape))


class _Resumable:
    """Mixin for Keras callbacks whose on_train_begin resets their state: `state()` for the manifest, and a
    saved state applied right after that reset."""

    STATE: tuple[str, ...] = ()

    def resume_from(self, state: dict | None, best_weights=None):
        self._saved, self._saved_weights = state, best_weights
        return self

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        saved = getattr(self, "_saved", None)
        if saved:
            for key in self.STATE:
                if key in saved:
                    setattr(self, key, float(saved[key]) if key == "best" else saved[key])
            if getattr(self, "_saved_weights", None) is not None:
                self.best_weights = self._saved_weights

    def state(self) -> dict:
        return {key: _plain(getattr(self, key, None)) for key in self.STATE}


def _plain(value):
    if value is None or isinstance(value, (int, str)):
        return value
    return float(value)


class EarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    STATE = ("wait", "stopped_epoch", "best", "best_epoch")


class ReduceLROnPlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    STATE = ("wait", "cooldown_counter", "best")


class BatchFaults(keras.callbacks.Callback):
    """`ANNCTL_FAULT=mid_epoch:N`: SIGKILL at the N-th batch end (for the reliability tests)."""

    def on_train_batch_end(self, batch, logs=None):
        fault_point("mid_epoch")


class MetricsLog(keras.callbacks.Callback):
    """`metrics.csv`: one row per epoch (1-based), rewritten atomically so it is never half a line."""

    def __init__(self, path: Path, rows: list[dict] | None = None):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict] = list(rows or [])

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        row.update({key: float(value) for key, value in (logs or {}).items()})
        self.rows.append(row)
        atomic_write_text(self.path, rows_to_csv(self.rows))


def column_order(keys) -> list[str]:
    """epoch, train metrics (loss first), val_ metrics in the same order, learning_rate, epoch_seconds."""
    keys = [k for k in keys if k not in ("epoch", "learning_rate", "epoch_seconds")]
    train = sorted((k for k in keys if not k.startswith("val_")), key=lambda k: (k != "loss", k))
    val = [f"val_{k}" for k in train if f"val_{k}" in keys]
    rest = [k for k in keys if k not in train and k not in val]
    return ["epoch", *train, *val, *rest, "learning_rate", "epoch_seconds"]


def rows_to_csv(rows: list[dict]) -> str:
    columns = column_order(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return out.getvalue()


class ReporterBridge(keras.callbacks.Callback):
    """Forwards Keras' events to a plain reporter object (the CLI's progress display)."""

    def __init__(self, reporter, epochs: int, steps_per_epoch: int):
        super().__init__()
        self.reporter, self.epochs, self.steps = reporter, epochs, steps_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self.reporter.epoch_start(self._epoch, self.epochs, self.steps)

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 Keras reports the last step of each chunk of batches, which for an
        # epoch's last, shorter chunk lies past the epoch's end: the counter stops at the batch count.
        self.reporter.batch_end(self._epoch, min(batch + 1, self.steps))

    def on_epoch_end(self, epoch, logs=None):
        self.reporter.epoch_end(epoch + 1, self.epochs, dict(logs or {}))
