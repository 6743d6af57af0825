"""Keras' TensorBoard callback, writing once per epoch as annctl sets it, without its per-batch work."""

from __future__ import annotations

import keras


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """With ``update_freq="epoch"`` Keras' batch hook still builds a summary op for every log on every batch end
    (about a millisecond each), which no writer takes: a few percent of a compiled epoch. Skipped here; the
    epoch summaries and histograms are Keras' own."""

    def on_train_batch_end(self, batch, logs=None):
        per_batch = self.update_freq != "epoch" or self.write_steps_per_second or self._should_trace
        if per_batch or self._should_write_train_graph:
            super().on_train_batch_end(batch, logs)
