"""Rosenblatt's perceptron: one layer of linear threshold units trained with the perceptron rule."""

from __future__ import annotations

from typing import ClassVar, Literal

from annctl.models import register_architecture
from annctl.models.base import ArchitectureSpec, preprocessing_layers


@register_architecture
class Perceptron(ArchitectureSpec):
    """Perceptron: a layer of linear threshold units (Heaviside step), trained with the perceptron rule.

    Training minimises the perceptron criterion max(0, −s·z) with s = ±1 (loss `perceptron`): with batch
    size 1 and SGD this is exactly the rule "on a misclassified sample, w ← w + η·s·x". The model outputs
    the score z; a class is the Heaviside step of z (z ≥ 0), or the largest score with one unit per class.
    """

    architecture: Literal["perceptron"] = "perceptron"
    default_loss: ClassVar[str | None] = "perceptron"
    decision: ClassVar[str] = "score"

    def build(self, data, head):
        import keras

        units = 1 if data.num_classes == 2 else data.num_classes
        layers = preprocessing_layers(data)  # dataset.normalize: false feeds the raw numbers, as the course does
        if len(data.input_shape) > 1:
            layers.append(keras.layers.Flatten(name="flatten"))
        layers.append(keras.layers.Dense(units, activation=None, name="output"))
        return keras.Sequential(layers, name="perceptron")
