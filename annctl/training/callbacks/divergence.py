"""Stops training at the first non-finite loss and remembers the epoch (1-based): the run is `diverged`."""

from __future__ import annotations

import keras

from annctl.training.callbacks.checkpoints import finite


class DivergenceGuard(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.diverged_epoch: int | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs and not finite(logs["loss"]):
            self.diverged_epoch = self._epoch
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if logs and any(k.endswith("loss") and not finite(v) for k, v in logs.items()):
            self.diverged_epoch = self.diverged_epoch or epoch + 1
            self.model.stop_training = True
