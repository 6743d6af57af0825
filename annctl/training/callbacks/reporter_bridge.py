"""Forwards Keras' events to a plain reporter object (the CLI's progress display)."""

from __future__ import annotations

import keras


class ReporterBridge(keras.callbacks.Callback):
    """``batches_per_call``: how many batches each of Keras' batch ends stands for — 1 when `fit` numbers the
    batches itself, K when each call trains a chunk of K batches (annctl.training.compiled)."""

    def __init__(self, reporter, epochs: int, steps_per_epoch: int, batches_per_call: int = 1):
        super().__init__()
        self.reporter, self.epochs, self.steps = reporter, epochs, steps_per_epoch
        self.batches_per_call = batches_per_call

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self.reporter.epoch_start(self._epoch, self.epochs, self.steps)

    def on_train_batch_end(self, batch, logs=None):
        # Keras reports the last batch of each steps_per_execution chunk (or the chunk's index), which overshoots
        # at the epoch's end
        self.reporter.batch_end(self._epoch, min((batch + 1) * self.batches_per_call, self.steps))

    def on_epoch_end(self, epoch, logs=None):
        self.reporter.epoch_end(epoch + 1, self.epochs, dict(logs or {}))
