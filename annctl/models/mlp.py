"""Multi-layer perceptron with Keras' Sequential API, as the course builds its first deep networks."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from annctl.models.base import (
    ANY_KIND,
    Activation,
    ArchitectureSpec,
    Head,
    Initializer,
    LayerWeights,
    apply_initial_weights,
    output_layer,
)
from annctl.models.registry import register_architecture


@register_architecture
class MLP(ArchitectureSpec):
    """Sequential MLP: dense hidden layers, then an output layer chosen from the task."""

    architecture: Literal["mlp"] = "mlp"
    input_kinds: ClassVar[tuple[str, ...]] = (ANY_KIND,)  # any input: images and sequences are flattened
    example: ClassVar[dict] = {"hidden_units": [4, 3], "dropout": [0.1, 0.0], "batch_norm": [True, False]}
    hidden_units: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        [32], max_length=64, description="Units of each hidden layer, input to output (empty: no hidden layer)."
    )
    hidden_layers: int | None = Field(
        None,
        ge=0,
        le=64,
        description="Shorthand with `units`: this many hidden layers of `units` each (replaces hidden_units; "
        "the course's search over depth and width).",
    )
    units: int | None = Field(None, ge=1, le=100_000, description="Units per hidden layer, with `hidden_layers`.")
    activation: Activation = Field("relu", description="Activation of the hidden layers.")
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer of the hidden layers' weights.")
    dropout: float | list[float] = Field(
        0.0, description="Dropout rate after each hidden layer: one number for all, or one per layer (0 to 0.95)."
    )
    batch_norm: bool | list[bool] = Field(
        False,
        description="Batch normalization after each hidden layer (before its activation): one flag for all, "
        "or one per layer.",
    )
    l1: float = Field(0.0, ge=0, le=10, description="L1 weight penalty on the hidden layers.")
    l2: float = Field(0.0, ge=0, le=10, description="L2 weight penalty on the hidden layers.")
    output_activation: Activation | None = Field(
        None, description="Activation of the output layer; default from the task (softmax, sigmoid or linear)."
    )
    initial_weights: list[LayerWeights] | dict[str, LayerWeights] | None = Field(
        None,
        description="Start from these weights instead of random ones: a list in layer order (hidden_1, ..., "
        "output) or a mapping by layer name; `kernel` is [inputs][units], `bias` is [units].",
    )
    train_biases: bool = Field(True, description="Update the biases while training (false keeps them fixed).")

    @model_validator(mode="after")
    def _check(self) -> MLP:
        if (self.hidden_layers is None) != (self.units is None):
            raise ValueError("hidden_layers: give hidden_layers and units together (or hidden_units alone)")
        if self.hidden_layers is not None and self.units is not None:
            self.hidden_units = [self.units] * self.hidden_layers
            self.hidden_layers = self.units = None  # the resolved spec keeps one form: hidden_units
        rates = self.dropout if isinstance(self.dropout, list) else [self.dropout]
        if isinstance(self.dropout, list) and len(self.dropout) != len(self.hidden_units):
            raise ValueError(
                f"dropout: {len(self.dropout)} rates given for {len(self.hidden_units)} hidden layers; "
                "give one number or one rate per layer"
            )
        if any(not 0 <= rate <= 0.95 for rate in rates):
            raise ValueError(f"dropout: rates must be between 0 and 0.95, got {self.dropout}")
        if isinstance(self.batch_norm, list) and len(self.batch_norm) != len(self.hidden_units):
            raise ValueError(
                f"batch_norm: {len(self.batch_norm)} flags given for {len(self.hidden_units)} hidden layers; "
                "give one flag or one per layer"
            )
        return self

    def dropout_rates(self) -> list[float]:
        return list(self.dropout) if isinstance(self.dropout, list) else [self.dropout] * len(self.hidden_units)

    def batch_norm_flags(self) -> list[bool]:
        if isinstance(self.batch_norm, list):
            return list(self.batch_norm)
        return [self.batch_norm] * len(self.hidden_units)

    def build(self, description, block, head):
        import keras

        chain = block.chain()
        if chain is None:  # named inputs of mixed types (CSV text columns): the same layers, Functional API
            inputs, tensor = block.functional()
            for layer in self.body_layers(block.shape, head):
                tensor = layer(tensor)
            model = keras.Model(inputs, tensor, name="mlp")
        else:
            model = keras.Sequential(chain + self.body_layers(block.shape, head), name="mlp")
        apply_initial_weights(model, self.initial_weights, self.train_biases)
        return model

    def body_layers(self, shape: tuple[int, ...], head: Head) -> list:
        """Flatten (for images), the hidden layers and the output layer."""
        import keras

        layers = []
        if len(shape) > 1:
            layers.append(keras.layers.Flatten(name="flatten"))
        regularizer = keras.regularizers.L1L2(l1=self.l1, l2=self.l2) if (self.l1 or self.l2) else None
        layer_settings = zip(self.hidden_units, self.dropout_rates(), self.batch_norm_flags())
        for i, (units, rate, normalize) in enumerate(layer_settings, start=1):
            dense = keras.layers.Dense(
                units,
                kernel_initializer=self.kernel_initializer,
                kernel_regularizer=regularizer,
                name=f"hidden_{i}",
                activation=None if normalize else self.activation,
            )
            layers.append(dense)
            if normalize:
                layers.append(keras.layers.BatchNormalization(name=f"batch_norm_{i}"))
                layers.append(keras.layers.Activation(self.activation, name=f"activation_{i}"))
            if rate:
                layers.append(keras.layers.Dropout(rate, name=f"dropout_{i}"))
        if self.output_activation:
            head = replace(head, activation=self.output_activation)
        layers.append(output_layer(head))
        return layers
