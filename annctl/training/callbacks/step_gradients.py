"""`output.step_gradient_norms`: how much of the loss's gradient reaches each time step of a sequence — the
L2 norm of ∂loss/∂x_t, the gradient with respect to the input at step t, at a few steps t from the first to
the last (`grad_norm_step/<t>`, 1-based), measured at each epoch's end on one fixed batch of training sequences.

Why the input and not the hidden state: ∂loss/∂x_t = ∂loss/∂h_t · ∂h_t/∂x_t, so it carries the factor that
vanishes — the product of the Jacobians ∂h_{k+1}/∂h_k from step t to the end — and any Keras recurrent layer
gives it without opening the cell. A norm that falls by orders of magnitude towards the first step is the
vanishing gradient: what happened there cannot change the weights. The batch is fixed (the first
:data:`PROBE_SAMPLES` training sequences) so that the epochs are compared on the same sequences; measuring reads
the model only, so a run trains exactly as one without it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PROBE_SAMPLES = 256  # the fixed batch: enough sequences for a stable norm, one forward and backward pass
RECORDED_STEPS = 11  # time steps measured, evenly spaced from the first to the last


def recorded_steps(steps: int) -> list[int]:
    """The 1-based time steps measured in a sequence of ``steps``: the first, the last, and evenly between."""
    count = min(steps, RECORDED_STEPS)
    if count == 1:
        return [1]
    return sorted({1 + round(i * (steps - 1) / (count - 1)) for i in range(count)})


class StepGradientNorms(keras.callbacks.Callback):
    """``probe``: one prepared (x, y) batch as the model trains on it; ``numeric_input``: the key of the
    sequence of numbers when x is a dict of inputs (text features add others, which have no gradient)."""

    def __init__(self, probe, numeric_input: str):
        super().__init__()
        self.x, self.y = probe
        self.key = numeric_input if isinstance(self.x, dict) else None
        sequence = self.x[self.key] if self.key else self.x
        self.steps = recorded_steps(int(sequence.shape[1]))
        self._measure = None

    def _gradient(self, sequence):
        x = {**self.x, self.key: sequence} if self.key else sequence
        with tf.GradientTape() as tape:
            tape.watch(sequence)
            predictions = self.model(x, training=False)
            loss = self.model.compute_loss(x=x, y=self.y, y_pred=predictions, training=False)
        gradient = tf.cast(tape.gradient(loss, sequence), "float32")  # (batch, steps, features)
        return tf.sqrt(tf.reduce_sum(tf.square(tf.gather(gradient, [t - 1 for t in self.steps], axis=1)), [0, 2]))

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._measure is None:
            self._measure = tf.function(self._gradient)
        sequence = tf.convert_to_tensor(self.x[self.key] if self.key else self.x, "float32")
        norms = self._measure(sequence).numpy()
        logs.update({f"grad_norm_step/{t}": float(value) for t, value in zip(self.steps, norms)})


def probe_batch(split, prepare):
    """The first :data:`PROBE_SAMPLES` training samples of ``split`` as one prepared (x, y) batch."""
    order = tf.data.Dataset.from_tensors(tf.range(min(PROBE_SAMPLES, split.size), dtype=tf.int64))
    return next(iter(split.batches(order).map(prepare)))
