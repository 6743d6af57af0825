"""Ctrl-C and SIGTERM while training: remember the signal and stop at the next batch boundary (a second signal
stops at once), so every file stays consistent."""

from __future__ import annotations

import signal

import keras


class Terminated(BaseException):
    """Raised at a batch boundary after SIGTERM, so training stops like Ctrl-C does."""


class StopRequest:
    def __init__(self):
        self.signal: int | None = None

    def handler(self, signum, frame):
        if self.signal is not None:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self.signal = signum

    def check(self) -> None:
        if self.signal == signal.SIGTERM:
            raise Terminated()
        if self.signal is not None:
            raise KeyboardInterrupt()


class StopAtBatch(keras.callbacks.Callback):
    """Raises a requested stop at a batch boundary (the partial epoch is dropped: resume redoes it), or after
    all of an epoch's files are written (it comes last in the list)."""

    def __init__(self, request: StopRequest):
        super().__init__()
        self.request = request

    def on_train_batch_end(self, batch, logs=None):
        self.request.check()

    def on_epoch_end(self, epoch, logs=None):
        self.request.check()
