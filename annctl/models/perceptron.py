"""Rosenblatt's perceptron: one layer of linear threshold units trained with the perceptron rule."""

from __future__ import annotations

from typing import ClassVar, Literal

from annctl.models.base import ArchitectureSpec, output_layer
from annctl.models.registry import register_architecture


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
    input_kinds: ClassVar[tuple[str, ...]] = ("tabular", "image")
    # The rule itself: plain SGD, one sample at a time, learning rate 1 (scikit-learn's Perceptron default:
    # from zero weights the rate only scales them, so it needs no tuning).
    training_defaults: ClassVar[dict] = {"optimizer": "sgd", "learning_rate": 1.0, "batch_size": 1}

    def build(self, description, block, head):
        import keras

        from annctl.datasets.tabular import require_chain

        layers = require_chain(block, "perceptron")  # dataset.normalize: false feeds the raw numbers, as the course
        if len(block.shape) > 1:
            layers.append(keras.layers.Flatten(name="flatten"))
        layers.append(output_layer(head))  # linear scores: one unit for two classes, one per class otherwise
        return keras.Sequential(layers, name="perceptron")
