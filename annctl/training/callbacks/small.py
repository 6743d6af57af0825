"""Three one-line callbacks: the per-epoch data order, the run's summary after each epoch, fault injection."""

from __future__ import annotations

import keras

from annctl.faults import fault_point


class EpochOrder(keras.callbacks.Callback):
    """Tells the input pipeline which epoch is starting (its order is keyed by (seed, epoch))."""

    def __init__(self, epoch_variable):
        super().__init__()
        self.epoch_variable = epoch_variable

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_variable.assign(epoch)


class EpochSummary(keras.callbacks.Callback):
    """``update(epoch, logs)`` after every file of the epoch is written (the run's summary.json)."""

    def __init__(self, update):
        super().__init__()
        self.update = update

    def on_epoch_end(self, epoch, logs=None):
        self.update(epoch, logs or {})


class BatchFaults(keras.callbacks.Callback):
    """`ANNCTL_FAULT=mid_epoch:N`: SIGKILL at the N-th batch end (for the reliability tests)."""

    def on_train_batch_end(self, batch, logs=None):
        fault_point("mid_epoch")
