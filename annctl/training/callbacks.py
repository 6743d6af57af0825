"""The few callbacks Keras does not have: crash-safe checkpoints and metrics, timing, NaN detection, progress."""

from __future__ import annotations

import csv
import io
import math
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
    """Writes `last.keras` every epoch and `best.keras` when the monitored metric improves, atomically.

    Keras' ModelCheckpoint writes in place, so a kill mid-save leaves a broken file; this one never does.
    An epoch whose loss is not finite is never saved.
    """

    def __init__(self, directory: Path, monitor: str, mode: str):
        super().__init__()
        self.directory = Path(directory)
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.manifest: dict = {}

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not _finite(logs.get("loss")):
            return
        last = self.directory / "last.keras"
        with atomic_path(last, suffix=".keras") as tmp:
            self.model.save(tmp)
            fault_point("checkpoint_write")
        self.manifest["last"] = {"epoch": epoch + 1, "sha256": sha256_file(last)}
        value = logs.get(self.monitor)
        if _finite(value) and self.improved(float(value)):
            self.best, self.best_epoch = float(value), epoch + 1
            with atomic_path(self.directory / "best.keras", suffix=".keras") as tmp:
                shutil.copyfile(last, tmp)
            self.manifest["best"] = {**self.manifest["last"], "monitor": self.monitor, "value": self.best}
        # written last: it names the files that are complete, with the hashes a loader checks
        atomic_write_json(self.directory / "manifest.json", self.manifest)


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
        self.reporter.batch_end(self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.reporter.epoch_end(epoch + 1, self.epochs, dict(logs or {}))
