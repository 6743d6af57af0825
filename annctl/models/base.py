"""The base of every architecture spec, and the pieces builders share: the input block and the output head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from annctl.errors import SpecError
from annctl.specbase import StrictModel

if TYPE_CHECKING:
    import keras

    from annctl.datasets.base import Dataset

Activation = Literal["relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "gelu", "softmax", "linear"]
Initializer = Literal[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
    "zeros",
]

REGRESSION_LOSSES = ("mse", "mae", "huber", "quadratic")
CLASSIFICATION_LOSSES = (
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "perceptron",
)


@dataclass(frozen=True)
class Head:
    """The output layer a task and loss call for."""

    units: int
    activation: str


def choose_head(task: str, num_classes: int, n_targets: int, loss: str) -> Head:
    """Softmax over exclusive classes, one sigmoid unit for a binary target, linear units for regression."""
    if task == "regression":
        return Head(n_targets, "linear")
    if loss == "binary_crossentropy":
        return Head(1, "sigmoid")
    return Head(num_classes, "softmax")


class ArchitectureSpec(StrictModel):
    """Subclasses add ``architecture: Literal[...]``, their own fields, and ``build``.

    The class attributes below say how the rest of annctl treats an architecture's outputs.
    """

    # The loss this architecture trains with when the spec names none (None: chosen from the task).
    default_loss: ClassVar[str | None] = None
    # How a classifier's output becomes a class: "probability" (0.5 / argmax) or "score" (0 / argmax).
    decision: ClassVar[str] = "probability"
    # True when its kernels (convolutions) are big enough to gain from every core; `training.threads: auto`
    # gives dense networks one thread on a CPU (annctl.training.tf_setup.wanted_threads).
    wants_all_cores: ClassVar[bool] = False

    init_from: str | None = Field(
        None,
        description="Transfer: copy the weights of layers with the same name and shape from this run "
        "(a run directory, or a run-name prefix in the runs root: the newest match).",
    )
    init_layers: list[str] | None = Field(
        None, description="Transfer only these layers from init_from (default: every layer with the same name)."
    )
    freeze: list[str] | None = Field(None, description="Layer names to keep fixed while training (transfer).")

    def output_names(self) -> list[str]:
        """Names of the model's outputs; the first is the main one."""
        return ["output"]

    def loss_weights(self) -> dict[str, float] | None:
        return None

    def feed(self, x, feature_names: list[str]):
        """The model's input for feature rows ``x`` (a dict of named inputs for multi-input models).

        A dict of CSV columns (files with text columns) becomes one (rows, 1) input per name; text becomes a
        TensorFlow string tensor, which Keras' array handling (numeric only) cannot make itself.
        """
        if isinstance(x, dict):
            import numpy as np

            fed = {}
            for name, column in x.items():
                column = np.asarray(column)
                if column.dtype.kind in "OUS":
                    import tensorflow as tf

                    fed[name] = tf.constant(column.astype(str).reshape(-1, 1))
                else:
                    fed[name] = column.reshape(-1, 1)
            return fed
        return x

    def build(self, data: Dataset, head: Head) -> keras.Model:  # pragma: no cover - every entry overrides it
        raise NotImplementedError


def predicted_classes(outputs, decision: str = "probability"):
    """Class indices from a classifier's main output."""
    import numpy as np

    outputs = np.asarray(outputs)
    if outputs.shape[-1] == 1:
        return (outputs[:, 0] >= (0.0 if decision == "score" else 0.5)).astype("int64")
    return outputs.argmax(axis=-1)


Weight = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class LayerWeights(StrictModel):
    """Explicit starting weights of one Dense layer."""

    kernel: list[list[Weight]] = Field(..., min_length=1, description="Weights as [inputs][units].")
    bias: list[Weight] | None = Field(None, description="One bias per unit (default: keep the initializer's zeros).")


def dense_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def apply_initial_weights(model, weights, train_biases: bool = True) -> None:
    """Set explicit weights (a list in layer order or a dict by name); a mismatch is a SpecError (exit 2)."""
    import numpy as np

    layers = dense_layers(model)
    names = [layer.name for layer in layers]
    if weights is not None:
        if isinstance(weights, list):
            if len(weights) != len(layers):
                raise SpecError(
                    [
                        f"model.initial_weights: {len(weights)} layers given, the model has "
                        f"{len(layers)} dense layers ({', '.join(names)})"
                    ]
                )
            pairs = list(zip(layers, weights, strict=False))
        else:
            unknown = [name for name in weights if name not in names]
            if unknown:
                raise SpecError(
                    [f"model.initial_weights: no dense layer {', '.join(unknown)}; layers: {', '.join(names)}"]
                )
            pairs = [(layer, weights[layer.name]) for layer in layers if layer.name in weights]
        for layer, given in pairs:
            kernel = np.asarray(given.kernel, dtype=layer.kernel.dtype)
            expected = tuple(layer.kernel.shape)
            if kernel.shape != expected:
                raise SpecError(
                    [
                        f"model.initial_weights.{layer.name}.kernel: shape {kernel.shape} does not match "
                        f"the layer's {expected} ([inputs][units])"
                    ]
                )
            layer.kernel.assign(kernel)
            if given.bias is not None:
                bias = np.asarray(given.bias, dtype=layer.bias.dtype)
                if bias.shape != tuple(layer.bias.shape):
                    raise SpecError(
                        [
                            f"model.initial_weights.{layer.name}.bias: shape {bias.shape} does not match "
                            f"the layer's {tuple(layer.bias.shape)}"
                        ]
                    )
                layer.bias.assign(bias)
    if not train_biases:
        for layer in layers:
            layer.bias.trainable = False


def preprocessing_layers(data: Dataset) -> list:
    """Input plus the scaling that travels inside the saved model, so it takes raw features.

    Images stay uint8 (a quarter of float32's memory) and are rescaled to [0, 1] in the model;
    tabular features are standardised with the training split's mean and variance.
    """
    import keras
    import numpy as np

    if data.input_kind == "image":
        return [
            keras.Input(shape=data.input_shape, dtype="uint8", name="image"),
            keras.layers.Rescaling(1 / 255, name="rescale"),
        ]
    if data.has_text:
        raise SpecError(
            [
                "model.architecture: text (categorical) CSV columns need the `mlp` architecture; "
                "choose numeric columns with dataset.features for this one"
            ]
        )
    layers = [keras.Input(shape=data.input_shape, name="features")]
    x = np.asarray(data.x_train, dtype="float64")
    if data.fill_values:
        from annctl.models.keras_layers import FillMissing

        fill = [float(data.fill_values.get(name, 0.0)) for name in data.feature_names]
        layers.append(FillMissing(fill, name="fill_missing"))
        x = np.where(np.isnan(x), np.asarray(fill), x)
    if data.normalize:
        layers.append(keras.layers.Normalization(mean=x.mean(axis=0), variance=x.var(axis=0), name="normalize"))
    return layers


def mixed_inputs(data: Dataset):
    """Functional input block for CSV files with text columns: one named input per column; numbers are filled
    and standardised, text is filled and one-hot encoded with a vocabulary from the training split (unseen
    values fall into an out-of-vocabulary slot). Returns (inputs by name, the joined feature tensor)."""
    import keras
    import numpy as np

    from annctl.models.keras_layers import FillMissing

    fills = data.fill_values or {}
    inputs, encoded = {}, []
    for name in data.feature_names:
        column = data.x_train[name]
        if data.feature_types[name] == "text":
            inputs[name] = keras.Input(shape=(1,), dtype="string", name=name)
            tensor = (
                FillMissing(str(fills.get(name, "")), name=f"fill_{name}")(inputs[name])
                if name in fills
                else inputs[name]
            )
            vocabulary = sorted({str(v) for v in column if str(v).strip()})
            encoded.append(
                keras.layers.StringLookup(vocabulary=vocabulary, output_mode="one_hot", name=f"lookup_{name}")(tensor)
            )
        else:
            inputs[name] = keras.Input(shape=(1,), name=name)
            values = np.asarray(column, dtype="float64")
            tensor = inputs[name]
            if name in fills:
                tensor = FillMissing(float(fills[name]), name=f"fill_{name}")(tensor)
                values = np.where(np.isnan(values), float(fills[name]), values)
            if data.normalize:
                tensor = keras.layers.Normalization(
                    mean=[values.mean()], variance=[values.var()], name=f"normalize_{name}"
                )(tensor)
            encoded.append(tensor)
    joined = keras.layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
    return inputs, joined


def output_layer(head: Head, name: str = "output"):
    """The output Dense layer; under mixed precision it stays float32, so softmax and the loss are exact."""
    import keras

    mixed = keras.config.dtype_policy().name.startswith("mixed")
    return keras.layers.Dense(head.units, activation=head.activation, name=name, dtype="float32" if mixed else None)
