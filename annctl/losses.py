"""Losses Keras does not ship, registered so saved models reload (imports Keras: load it lazily)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="annctl", name="quadratic")
def quadratic(y_true, y_pred):
    """The course's quadratic cost: ½·Σ over outputs of (target − output)², averaged over the batch."""
    y_true = keras.ops.cast(y_true, y_pred.dtype)
    return 0.5 * keras.ops.sum(keras.ops.square(y_true - y_pred), axis=-1)
