"""Crash-safe checkpoints: `last.keras` every epoch (the one before kept as `previous.keras`), `best.keras` when
the monitored metric improved, then `manifest.json` naming each file's epoch and SHA-256 and the state of
every resumable callback."""

from __future__ import annotations

import math
import os
import shutil
from typing import Any

from annctl import compat
from annctl.faults import fault_point
from annctl.fileio import atomic_path, atomic_write_json, sha256_file
from annctl.records import BestCheckpoint, CheckpointEntry, Manifest
from annctl.rundir import RunPaths
from annctl.training.callbacks.resumable import Resumable, plain

MonitorCallback: Any = compat.monitor_callback()  # Keras' "improved?" decision (annctl.compat says why)


def finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


class Checkpoints(Resumable, MonitorCallback):
    """Keras' ModelCheckpoint writes in place, so a kill mid-save leaves a broken file; this one never does, and
    a loader finds each checkpoint by its hash, so a kill between two renames cannot mix epochs up. An epoch
    whose loss is not finite is never saved. "Improved?" is Keras' MonitorCallback decision (``min_delta``
    included), the same one early stopping makes.
    """

    state_key = "checkpoints"

    def __init__(
        self,
        paths: RunPaths,
        monitor: str,
        mode: str,
        spec: dict,
        manifest: Manifest | None = None,
        min_delta: float = 0.0,
        resumables: list[Resumable] | None = None,
        write: bool = True,
    ):
        super().__init__(monitor=monitor, mode=mode, min_delta=min_delta)
        self.paths = paths
        self.manifest = manifest.model_copy(deep=True) if manifest else Manifest()
        self.manifest.spec = spec
        best = self.manifest.best
        self.best: float | None = best.value if best else None
        self.best_epoch: int | None = best.epoch if best else None
        self.resumables: list[Resumable] = [*(resumables or []), self]  # whose state() goes into the manifest
        self.write = write  # False: track the best epoch only (a search's trial, never resumed, keeps no files)

    def state(self) -> dict:
        return {"best": plain(self.best), "best_epoch": self.best_epoch}

    def restore(self, state: dict) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._set_monitor_op()

    def improved(self, value: float) -> bool:
        return bool(self._is_improvement(value, self.best))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not finite(logs.get("loss")):
            return
        value = logs.get(self.monitor)
        improved = finite(value) and self.improved(float(value))
        if improved:  # before the state is taken: the state after this epoch includes it
            self.best, self.best_epoch = float(value), epoch + 1
        if not self.write:
            return
        last, previous = self.paths.checkpoint("last"), self.paths.checkpoint("previous")
        with atomic_path(last, suffix=".keras") as tmp:
            self.model.save(tmp)
            fault_point("checkpoint_write")
            if last.exists():
                os.replace(last, previous)  # the old last stays whole until the new one replaces it
        state = {"callbacks": {callback.state_key: callback.state() for callback in self.resumables}}
        if self.manifest.last is not None:
            self.manifest.previous = self.manifest.last
        self.manifest.last = CheckpointEntry(epoch=epoch + 1, sha256=sha256_file(last), state=state)
        if improved:
            with atomic_path(self.paths.checkpoint("best"), suffix=".keras") as tmp:
                shutil.copyfile(last, tmp)
            self.manifest.best = BestCheckpoint(
                epoch=epoch + 1, sha256=self.manifest.last.sha256, monitor=self.monitor, value=self.best
            )
        # written last: it names the files that are complete, with the hashes a loader checks
        atomic_write_json(self.paths.manifest, self.manifest.model_dump(mode="json"))
