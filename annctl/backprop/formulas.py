"""Backpropagation with the course's formulas, in float64 numpy (no TensorFlow here).

forward:   z^l = a^{l-1} W^l + b^l,   a^l = σ(z^l)
output:    δ^L = ∇_a C ⊙ σ'(z^L)            (softmax: the Jacobian-vector product)
backward:  δ^l = (δ^{l+1} (W^{l+1})ᵀ) ⊙ σ'(z^l)
gradients: ∂C/∂W^l = (a^{l-1})ᵀ δ^l,   ∂C/∂b^l = Σ_batch δ^l
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SUPPORTED_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softmax")
SUPPORTED_LOSSES = (
    "quadratic",
    "mse",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)


def gradient_descent_problems(training) -> list[str]:
    """What in ``training`` the by-hand method does not cover (dense and through time alike)."""
    problems = []
    if training.optimizer != "sgd" or training.momentum or training.nesterov:
        problems.append("training.optimizer: backprop shows plain gradient descent; use sgd without momentum")
    if training.loss is not None and training.loss not in SUPPORTED_LOSSES:
        problems.append(f"training.loss: {training.loss} is not covered; use {', '.join(SUPPORTED_LOSSES)}")
    return problems


def scaled_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference between the by-hand ``a`` and TensorFlow's ``b``, relative where ``b`` > 1."""
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "linear":
        return z
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softmax":
        shifted = np.exp(z - z.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    raise ValueError(f"activation {name!r} is not supported by backprop; use {', '.join(SUPPORTED_ACTIVATIONS)}")


def backward_through(name: str, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
    """δ = ∂C/∂z from ∂C/∂a: elementwise σ'(z) for most activations, the Jacobian for softmax."""
    if name == "linear":
        return grad_a
    if name == "sigmoid":
        return grad_a * a * (1.0 - a)
    if name == "tanh":
        return grad_a * (1.0 - a**2)
    if name == "relu":
        return grad_a * (z > 0)
    if name == "softmax":
        return a * (grad_a - (grad_a * a).sum(axis=-1, keepdims=True))
    raise ValueError(name)


def loss_and_gradient(name: str, y: np.ndarray, a: np.ndarray) -> tuple[float, np.ndarray]:
    """C averaged over the batch as Keras computes it, and ∇_a C."""
    n, k = a.shape
    if name == "quadratic":  # ½ Σ_outputs (y − a)², mean over the batch
        return float(0.5 * ((y - a) ** 2).sum(axis=1).mean()), (a - y) / n
    if name == "mse":  # mean over outputs and batch
        return float(((y - a) ** 2).mean()), 2.0 * (a - y) / (n * k)
    if name == "binary_crossentropy":
        return float(-(y * np.log(a) + (1 - y) * np.log(1 - a)).mean()), (a - y) / (a * (1 - a)) / (n * k)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return float(-(y * np.log(a)).sum(axis=1).mean()), -y / a / n
    raise ValueError(f"loss {name!r} is not supported by backprop; use {', '.join(SUPPORTED_LOSSES)}")


@dataclass
class Layer:
    """One dense layer's parameters (float64) and whether its bias is trained."""

    name: str
    kernel: np.ndarray  # [inputs, units]
    bias: np.ndarray  # [units]
    activation: str
    train_bias: bool = True


@dataclass
class Step:
    """Everything one gradient-descent step computes."""

    z: list[np.ndarray] = field(default_factory=list)
    a: list[np.ndarray] = field(default_factory=list)  # a[0] is the input
    loss: float = 0.0
    delta: list[np.ndarray] = field(default_factory=list)
    grad_kernel: list[np.ndarray] = field(default_factory=list)
    grad_bias: list[np.ndarray] = field(default_factory=list)


def forward(layers: list[Layer], x: np.ndarray, step: Step) -> np.ndarray:
    step.a = [x]
    step.z = []
    for layer in layers:
        z = step.a[-1] @ layer.kernel + layer.bias
        step.z.append(z)
        step.a.append(activate(layer.activation, z))
    return step.a[-1]


def backward(layers: list[Layer], y: np.ndarray, loss: str, step: Step) -> None:
    step.loss, grad_a = loss_and_gradient(loss, y, step.a[-1])
    deltas: list[np.ndarray] = [np.empty(0)] * len(layers)
    for index in range(len(layers) - 1, -1, -1):
        if index < len(layers) - 1:
            grad_a = deltas[index + 1] @ layers[index + 1].kernel.T
        deltas[index] = backward_through(layers[index].activation, step.z[index], step.a[index + 1], grad_a)
    step.delta = deltas
    step.grad_kernel = [step.a[i].T @ deltas[i] for i in range(len(layers))]
    step.grad_bias = [deltas[i].sum(axis=0) for i in range(len(layers))]


def sgd_update(layers: list[Layer], step: Step, learning_rate: float) -> None:
    for layer, grad_kernel, grad_bias in zip(layers, step.grad_kernel, step.grad_bias, strict=False):
        layer.kernel = layer.kernel - learning_rate * grad_kernel
        if layer.train_bias:
            layer.bias = layer.bias - learning_rate * grad_bias
