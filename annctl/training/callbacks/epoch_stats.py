"""Adds `learning_rate` and `epoch_seconds` to each epoch's logs (first in the list, so every later callback
sees them)."""

from __future__ import annotations

import time

import keras


class EpochStats(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs["epoch_seconds"] = time.perf_counter() - self._start
