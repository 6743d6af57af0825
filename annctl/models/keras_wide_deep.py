"""The Keras class behind `wide_deep_subclassed`; imports Keras, so it is loaded only when a model is built
or a saved run is loaded (annctl.modelio imports it to register the class)."""

from __future__ import annotations

import keras

from annctl.models.base import Head, output_layer


@keras.saving.register_keras_serializable(package="annctl", name="WideAndDeepModel")
class WideAndDeepModel(keras.Model):
    """Layers in ``__init__``, computation in ``call``; ``get_config`` lets a saved run reload it."""

    def __init__(self, hidden_units, activation, output_units, output_activation, input_stats, aux=False, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units, self.activation = list(hidden_units), activation
        self.output_units, self.output_activation = output_units, output_activation
        self.input_stats, self.aux = {k: [list(v[0]), list(v[1])] for k, v in input_stats.items()}, aux
        self.normalizers = {
            name: keras.layers.Normalization(mean=mean, variance=variance, name=f"normalize_{name}")
            for name, (mean, variance) in self.input_stats.items()
        }
        for name, layer in self.normalizers.items():  # built now: their constants must not live in a scratch graph
            layer.build((None, len(self.input_stats[name][0])))
        self.hidden = [
            keras.layers.Dense(u, activation=activation, name=f"hidden_{i}")
            for i, u in enumerate(self.hidden_units, start=1)
        ]
        self.concat = keras.layers.Concatenate(name="concat")
        head = Head(output_units, output_activation)
        self.main_output = output_layer(head, "main" if aux else "output")
        self.aux_output = output_layer(head, "aux") if aux else None

    def call(self, inputs):
        if isinstance(inputs, dict):
            wide = self.normalizers["wide"](inputs["wide"])
            deep = self.normalizers["deep"](inputs["deep"])
        else:
            wide = deep = self.normalizers["features"](inputs)
        for layer in self.hidden:
            deep = layer(deep)
        main = self.main_output(self.concat([wide, deep]))
        if self.aux_output is None:
            return main
        return {"main": main, "aux": self.aux_output(deep)}

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_units=self.hidden_units,
            activation=self.activation,
            output_units=self.output_units,
            output_activation=self.output_activation,
            input_stats=self.input_stats,
            aux=self.aux,
        )
        return config
