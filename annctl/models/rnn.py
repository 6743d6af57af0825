"""Recurrent network as the course's last chapter builds it: stacked recurrent layers (h_t = f(W·x_t + U·h_{t-1}
+ b) for `simple_rnn`, gated cells for `lstm` and `gru`), then a dense head.

Sequences come from the `sequence` kind's input block as (steps, features); images are read row by row, each
row one time step (Fashion-MNIST as 28 steps of 28 pixels, the classic recurrent-network demonstration).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from annctl.errors import SpecError
from annctl.models.base import Activation, ArchitectureSpec, Weight, output_layer
from annctl.models.registry import register_architecture

CELLS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}  # YAML name → Keras layer


@register_architecture
class RNN(ArchitectureSpec):
    """Recurrent network: stacked SimpleRNN, LSTM or GRU layers (optionally bidirectional), then dense layers."""

    architecture: Literal["rnn"] = "rnn"
    input_kinds: ClassVar[tuple[str, ...]] = ("sequence", "image")
    example: ClassVar[dict] = {"cell": "gru", "units": [3, 2], "dropout": 0.1, "dense_units": [3]}
    cell: Literal["simple_rnn", "lstm", "gru"] = Field(
        "lstm",
        description="`simple_rnn` (the plain recurrence, whose gradient vanishes over long spans), `lstm` (gated "
        "memory, the cure for vanishing gradients) or `gru` (a lighter gated cell).",
    )
    units: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(
        [32],
        min_length=1,
        max_length=16,
        description="Units of each recurrent layer, input to output; every layer but the last returns its whole "
        "sequence to the next, the last only its final state.",
    )
    activation: Activation = Field(
        "tanh", description="Activation of the recurrent state (Keras' default tanh; LSTM/GRU gates stay sigmoid)."
    )
    bidirectional: bool = Field(False, description="Read each sequence forwards and backwards (Bidirectional).")
    dropout: float = Field(0.0, ge=0, le=0.95, description="Dropout rate on each recurrent layer's inputs.")
    recurrent_dropout: float = Field(
        0.0, ge=0, le=0.95, description="Dropout rate on the recurrent state between time steps."
    )
    dense_units: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        [], max_length=16, description="Units of dense ReLU layers between the last recurrent layer and the output."
    )
    initial_weights: dict[str, dict[str, list[list[Weight]] | list[Weight]]] | None = Field(
        None,
        description="Start from these weights (the course's by-hand examples): layer name → weight name → "
        "values as Keras holds them, e.g. {simple_rnn_1: {kernel: [[0.5]], recurrent_kernel: [[0.8]], bias: "
        "[0.0]}, output: {kernel: [[1.0]], bias: [0.0]}} (kernel [inputs][units], recurrent_kernel "
        "[units][units]).",
    )

    def build(self, description, block, head):
        import keras

        inputs, tensor = block.functional()
        if description.kind == "image":  # rows as time steps: (height, width, channels) → (height, width·channels)
            height, width, channels = block.shape
            tensor = keras.layers.Reshape((height, width * channels), name="rows_as_steps")(tensor)
        layer_class = getattr(keras.layers, CELLS[self.cell])
        for i, units in enumerate(self.units, start=1):
            layer = layer_class(
                units,
                activation=self.activation,
                dropout=self.dropout,
                recurrent_dropout=self.recurrent_dropout,
                return_sequences=i < len(self.units),
                name=f"{self.cell}_{i}",
            )
            if self.bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
            tensor = layer(tensor)
        for i, units in enumerate(self.dense_units, start=1):
            tensor = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(tensor)
        model = keras.Model(inputs, output_layer(head)(tensor), name="rnn")
        if self.initial_weights:
            set_weights(model, self.initial_weights)
        return model


def set_weights(model, given: dict[str, dict[str, list]]) -> None:
    """Assign ``given`` weights by layer and weight name; an unknown name or a wrong shape is a SpecError."""
    import numpy as np

    layers = {layer.name: layer for layer in model.layers if layer.weights}
    for layer_name, weights in given.items():
        if layer_name not in layers:
            raise SpecError(
                [f"model.initial_weights: no layer {layer_name!r} with weights; layers: {', '.join(layers)}"]
            )
        variables = {}
        for variable in layers[layer_name].weights:
            if variable.name in variables:
                raise SpecError([f"model.initial_weights.{layer_name}: a bidirectional layer takes no initial_weights"])
            variables[variable.name] = variable
        for name, values in weights.items():
            where = f"model.initial_weights.{layer_name}.{name}"
            if name not in variables:
                raise SpecError([f"{where}: no such weight; {layer_name} has {', '.join(variables)}"])
            array = np.asarray(values, dtype=variables[name].dtype)
            if array.shape != tuple(variables[name].shape):
                raise SpecError(
                    [f"{where}: shape {array.shape} does not match the layer's {tuple(variables[name].shape)}"]
                )
            variables[name].assign(array)
