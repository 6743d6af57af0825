"""Losses Keras does not ship, registered so saved models reload (imports Keras: load it lazily)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="annctl", name="quadratic")
def quadratic(y_true, y_pred):
    """The course's quadratic cost: ½·Σ over outputs of (target − output)², averaged over the batch."""
    y_true = keras.ops.cast(y_true, y_pred.dtype)
    return 0.5 * keras.ops.sum(keras.ops.square(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="annctl", name="perceptron")
def perceptron(y_true, y_pred):
    """The perceptron criterion max(0, −s·z), s = 2y − 1 ∈ {−1, +1}, summed over units.

    Its gradient on a misclassified sample (s·z < 0) is −s·x, so an SGD step is w ← w + η·s·x.
    """
    signs = 2.0 * keras.ops.cast(y_true, y_pred.dtype) - 1.0
    return keras.ops.sum(keras.ops.relu(-signs * y_pred), axis=-1)
