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


@keras.saving.register_keras_serializable(package="annctl", name="TargetUnits")
class TargetUnits(keras.layers.Dense):
    """An output Dense layer whose outputs are in the target's own units: ``offset + scale · dense(x)``.

    The network learns standardised targets (what keeps a recurrent network's hidden state in its useful
    range), while the model's outputs, the loss, every metric and every prediction are in the units of the
    data (°C, not standard deviations). ``offset`` and ``scale`` are the training split's target mean and
    standard deviation, one per output unit, kept in the layer's config (not trained).
    """

    def __init__(self, units, offset, scale, **kwargs):
        super().__init__(units, **kwargs)
        self.offset, self.scale = [float(v) for v in offset], [float(v) for v in scale]

    def call(self, inputs, training=None):
        outputs = super().call(inputs, training=training)
        scale = keras.ops.convert_to_tensor(self.scale, dtype=outputs.dtype)
        offset = keras.ops.convert_to_tensor(self.offset, dtype=outputs.dtype)
        return outputs * scale + offset

    def get_config(self):
        return {**super().get_config(), "offset": self.offset, "scale": self.scale}
