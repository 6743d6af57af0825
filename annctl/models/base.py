"""The base of every architecture spec, and the pieces every builder shares: the output head.

An architecture takes its input from the dataset's input block (built from the dataset's description, never
from assumptions about shapes) and declares which kinds of input it accepts. Every output layer is made by
:func:`output_layer`, which keeps outputs in float32 under mixed precision; annctl.training.assemble checks
that no model bypasses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from annctl.errors import SpecError
from annctl.specbase import StrictModel

if TYPE_CHECKING:
    import keras

    from annctl.datasets.base import InputBlock, InputDescription

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
    """The output layer a task and loss call for. ``offset`` and ``scale`` (one per unit, from the input block's
    ``target_scale``) put a regression's outputs in the target's units: ``offset + scale · dense(x)``."""

    units: int
    activation: str
    offset: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None


def choose_head(task: str, num_classes: int, n_targets: int, loss: str | None) -> Head:
    """Softmax over exclusive classes, one sigmoid unit for a binary target, linear units for regression;
    the perceptron's linear scores (one unit for two classes, one per class otherwise)."""
    if task == "regression":
        return Head(n_targets, "linear")
    if loss == "perceptron":
        return Head(1 if num_classes == 2 else num_classes, "linear")
    if loss == "binary_crossentropy":
        return Head(1, "sigmoid")
    return Head(num_classes, "softmax")


ANY_KIND = "*"  # in input_kinds: every registered kind of input


class ArchitectureSpec(StrictModel):
    """Subclasses add ``architecture: Literal[...]``, their own fields, and ``build``.

    The class attributes below say how the rest of annctl treats an architecture's outputs.
    """

    if TYPE_CHECKING:
        # every entry narrows it to ``Literal["its-name"]`` (the discriminator of the spec's `model` union)
        architecture: str
    # The loss this architecture trains with when the spec names none (None: chosen from the task).
    default_loss: ClassVar[str | None] = None
    # How a classifier's output becomes a class: "probability" (0.5 / argmax) or "score" (0 / argmax).
    decision: ClassVar[str] = "probability"
    # True when its kernels (convolutions) are big enough to gain from every core; `training.threads: auto`
    # gives dense networks one thread on a CPU (annctl.training.tf_setup.wanted_threads).
    wants_all_cores: ClassVar[bool] = False
    # The kinds of input (annctl.datasets.registry.input_kinds) it can take; ANY_KIND: every registered kind,
    # a new one included (a network that flattens whatever its input block gives).
    input_kinds: ClassVar[tuple[str, ...]] = ("tabular",)
    # Fields of a tiny instance for the smoke test that trains every architecture on every kind it accepts.
    example: ClassVar[dict] = {}
    # `training:` settings its training rule needs when the experiment leaves them out (the perceptron's).
    training_defaults: ClassVar[dict] = {}

    init_from: str | None = Field(
        None,
        description="Transfer: copy the weights of layers with the same name and shape from this run "
        "(a run as every command names one: a run directory, `latest`, a run name (its newest run) or a unique "
        "prefix of a run directory's name in the runs root).",
    )
    init_layers: list[str] | None = Field(
        None, description="Transfer only these layers from init_from (default: every layer with the same name)."
    )
    freeze: list[str] | None = Field(None, description="Layer names to keep fixed while training (transfer).")

    @classmethod
    def accepted_kinds(cls) -> list[str]:
        """The registered kinds of input it takes."""
        from annctl.datasets.registry import input_kinds

        return [kind for kind in input_kinds() if ANY_KIND in cls.input_kinds or kind in cls.input_kinds]

    def output_names(self) -> list[str]:
        """Names of the model's outputs; the first is the main one."""
        return ["output"]

    def loss_weights(self) -> dict[str, float] | None:
        return None

    def feed(self, x, description: InputDescription):
        """The model's input for a batch ``x`` as the dataset gives it (numpy or tensors); multi-input models
        split it into named inputs."""
        return x

    def build(
        self, description: InputDescription, block: InputBlock, head: Head
    ) -> keras.Model:  # pragma: no cover - every entry overrides it
        """The Keras model: ``block`` gives the input layers, ``head`` the output layer (make it with
        :func:`output_layer`)."""
        raise NotImplementedError


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


def output_layer(head: Head, name: str = "output"):
    """The output Dense layer — the only way an architecture makes one. Under mixed precision it computes in
    float32, so softmax, the loss and the saved outputs are exact."""
    import keras

    mixed = keras.config.dtype_policy().name.startswith("mixed")
    dtype = "float32" if mixed else None
    if head.offset is not None and head.scale is not None:
        from annctl.models.keras_layers import TargetUnits

        return TargetUnits(head.units, head.offset, head.scale, activation=head.activation, name=name, dtype=dtype)
    return keras.layers.Dense(head.units, activation=head.activation, name=name, dtype=dtype)


def check_float32_outputs(model, output_names: list[str], architecture: str) -> None:
    """Every output layer of a built model computes in float32 (one made without :func:`output_layer` under
    mixed precision would leave the outputs 16-bit). A programming error, not a user's."""
    for name in output_names:
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise AssertionError(f"{architecture}: no output layer named {name!r}") from None
        if layer.compute_dtype in ("float16", "bfloat16"):
            raise AssertionError(
                f"{architecture}: output layer {name!r} computes in {layer.compute_dtype}, not float32; "
                "make output layers with annctl.models.base.output_layer"
            )
