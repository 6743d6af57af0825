"""annctl's own Keras layers (imports Keras: loaded when a model is built or a run is loaded)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="annctl", name="FillMissing")
class FillMissing(keras.layers.Layer):
    """Replace missing inputs — NaN in numbers, "" in text — by fill values fixed on the training split."""

    def __init__(self, values, **kwargs):
        super().__init__(**kwargs)
        self.values = list(values) if isinstance(values, (list, tuple)) else values

    def call(self, inputs):
        import tensorflow as tf

        if inputs.dtype == tf.string:
            return tf.where(tf.equal(tf.strings.strip(inputs), ""), tf.constant(self.values, tf.string), inputs)
        fill = keras.ops.cast(keras.ops.convert_to_tensor(self.values), inputs.dtype)
        return keras.ops.where(keras.ops.isnan(inputs), fill, inputs)

    def get_config(self):
        return {**super().get_config(), "values": self.values}
