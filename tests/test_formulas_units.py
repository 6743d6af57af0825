"""annctl.backprop.formulas at unit level, in numpy only: each activation, derivative and loss against its
definition and a finite difference, the messages whole, and the update of a layer whose bias is not trained
(written for the mutants the mutation sample found surviving, docs/mutation.md)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from annctl.backprop.formulas import (
    Layer,
    Step,
    activate,
    backward,
    backward_through,
    forward,
    gradient_descent_problems,
    loss_and_gradient,
    scaled_difference,
    sgd_update,
)

Z = np.array([[-1.5, 0.0, 0.5], [2.0, -0.25, 1.0]])


def training(**fields):
    return SimpleNamespace(**{"optimizer": "sgd", "momentum": 0.0, "nesterov": False, "loss": None, **fields})


def test_what_plain_gradient_descent_does_not_cover_is_named_whole():
    assert gradient_descent_problems(training()) == []
    assert gradient_descent_problems(training(loss="mse")) == []
    sgd_only = "training.optimizer: backprop shows plain gradient descent; use sgd without momentum"
    for fields in ({"optimizer": "adam"}, {"momentum": 0.9}, {"nesterov": True}):
        assert gradient_descent_problems(training(**fields)) == [sgd_only]
    assert gradient_descent_problems(training(optimizer="adam", loss="hinge")) == [
        sgd_only,
        "training.loss: hinge is not covered; use quadratic, mse, binary_crossentropy, categorical_crossentropy, "
        "sparse_categorical_crossentropy",
    ]


def test_differences_are_relative_only_past_one():
    assert scaled_difference(np.array([3.0, 0.5]), np.array([2.0, 0.2])) == pytest.approx(0.5)
    assert scaled_difference(np.array([0.5, -1.0]), np.array([0.2, -1.0])) == pytest.approx(0.3)
    assert scaled_difference(np.array([-4.0]), np.array([-2.0])) == pytest.approx(1.0)


def test_each_activation_by_its_definition():
    assert np.array_equal(activate("linear", Z), Z)
    assert np.allclose(activate("sigmoid", Z), 1 / (1 + np.exp(-Z)))
    assert np.allclose(activate("tanh", Z), np.tanh(Z))
    assert np.array_equal(activate("relu", Z), np.where(Z > 0, Z, 0.0))
    softmax = activate("softmax", Z)
    assert np.allclose(softmax, np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True))
    assert np.allclose(activate("softmax", np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])  # no overflow
    # each row is shifted by its own largest value: a row far below another one's scale does not underflow to 0/0
    far_apart = activate("softmax", np.array([[1000.0, 1001.0], [0.0, 1.0]]))
    assert np.allclose(far_apart, [[0.26894142, 0.73105858]] * 2)
    with pytest.raises(ValueError) as error:
        activate("elu", Z)
    assert str(error.value) == "activation 'elu' is not supported by backprop; use linear, sigmoid, tanh, relu, softmax"


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu", "softmax"])
def test_each_derivative_is_the_finite_difference_of_its_activation(name):
    rng = np.random.default_rng(1)
    grad_a = rng.normal(size=Z.shape)
    delta = backward_through(name, Z, activate(name, Z), grad_a)
    eps = 1e-6
    numeric = np.zeros_like(Z)
    for index in np.ndindex(Z.shape):
        if name == "relu" and Z[index] == 0:
            continue  # no derivative at 0: taken as 0 below
        up, down = Z.copy(), Z.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = ((activate(name, up) - activate(name, down)) * grad_a).sum() / (2 * eps)
    assert np.allclose(delta, numeric, atol=1e-6)
    with pytest.raises(ValueError, match="^elu$"):
        backward_through("elu", Z, Z, grad_a)


LOSS_CASES = {  # a batch of 3, 2 outputs: the batch size and the outputs apart
    "quadratic": (np.array([[1.0, 0.0], [0.5, 2.0], [0.0, 1.0]]), np.array([[0.2, 0.4], [0.9, 1.0], [0.5, 0.5]])),
    "mse": (np.array([[1.0, 0.0], [0.5, 2.0], [0.0, 1.0]]), np.array([[0.2, 0.4], [0.9, 1.0], [0.5, 0.5]])),
    "binary_crossentropy": (
        np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        np.array([[0.8, 0.3], [0.4, 0.6], [0.9, 0.5]]),
    ),
    "categorical_crossentropy": (
        np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]),
        np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]]),
    ),
    "sparse_categorical_crossentropy": (
        np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]),
        np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]]),
    ),
}
LOSS_VALUES = {  # by hand, averaged over the batch as Keras does
    "quadratic": (0.5 * (0.64 + 0.16) + 0.5 * (0.16 + 1.0) + 0.5 * (0.25 + 0.25)) / 3,
    "mse": (0.64 + 0.16 + 0.16 + 1.0 + 0.25 + 0.25) / 6,
    "binary_crossentropy": -(np.log(0.8) + np.log(0.7) + np.log(0.6) + np.log(0.6) + np.log(0.9) + np.log(0.5)) / 6,
    "categorical_crossentropy": -(np.log(0.7) + np.log(0.6) + np.log(0.8)) / 3,
    "sparse_categorical_crossentropy": -(np.log(0.3) + np.log(0.4) + np.log(0.2)) / 3,
}


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_each_loss_and_its_gradient(name):
    y, a = LOSS_CASES[name]
    loss, gradient = loss_and_gradient(name, y, a)
    assert isinstance(loss, float) and loss == pytest.approx(LOSS_VALUES[name], rel=1e-12)
    eps = 1e-7
    for index in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[index] += eps
        down[index] -= eps
        numeric = (loss_and_gradient(name, y, up)[0] - loss_and_gradient(name, y, down)[0]) / (2 * eps)
        assert gradient[index] == pytest.approx(numeric, rel=1e-5, abs=1e-9), index


def test_an_unsupported_loss_is_named_whole():
    with pytest.raises(ValueError) as error:
        loss_and_gradient("hinge", np.zeros((1, 1)), np.zeros((1, 1)))
    assert str(error.value) == (
        "loss 'hinge' is not supported by backprop; use quadratic, mse, binary_crossentropy, "
        "categorical_crossentropy, sparse_categorical_crossentropy"
    )


def network():
    rng = np.random.default_rng(3)
    return [
        Layer("hidden", rng.normal(size=(3, 4)), rng.normal(size=4), "tanh"),
        Layer("middle", rng.normal(size=(4, 3)), rng.normal(size=3), "sigmoid"),
        Layer("output", rng.normal(size=(3, 2)), rng.normal(size=2), "softmax", train_bias=False),
    ]


def test_a_step_computes_every_layers_gradient_and_updates_only_trained_biases():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(5, 3)), np.eye(2)[rng.integers(0, 2, 5)]
    layers, step = network(), Step()
    forward(layers, x, step)
    assert len(step.a) == 4 and len(step.z) == 3 and step.a[0] is x
    backward(layers, y, "categorical_crossentropy", step)

    def loss_with(change):
        changed = network()
        change(changed)
        return loss_and_gradient("categorical_crossentropy", y, forward(changed, x, Step()))[0]

    eps = 1e-6
    for i in range(3):
        for index in np.ndindex(layers[i].kernel.shape):

            def nudge(ls, d, i=i, index=index):
                ls[i].kernel[index] += d

            numeric = (loss_with(lambda ls: nudge(ls, eps)) - loss_with(lambda ls: nudge(ls, -eps))) / (2 * eps)
            assert step.grad_kernel[i][index] == pytest.approx(numeric, rel=1e-4, abs=1e-8), (i, index)
        for j in range(len(layers[i].bias)):

            def shift(ls, d, i=i, j=j):
                ls[i].bias[j] += d

            numeric = (loss_with(lambda ls: shift(ls, eps)) - loss_with(lambda ls: shift(ls, -eps))) / (2 * eps)
            assert step.grad_bias[i][j] == pytest.approx(numeric, rel=1e-4, abs=1e-8), (i, j)
    before = [(layer.kernel.copy(), layer.bias.copy()) for layer in layers]
    sgd_update(layers, step, 0.5)
    for layer, (kernel, bias), grad_kernel, grad_bias in zip(layers, before, step.grad_kernel, step.grad_bias):
        assert np.allclose(layer.kernel, kernel - 0.5 * grad_kernel)
        assert np.allclose(layer.bias, bias - 0.5 * grad_bias if layer.train_bias else bias)


def test_softmax_of_one_vector_sums_to_one_along_its_only_axis():
    from annctl.backprop.formulas import activate

    out = activate("softmax", np.array([1.0, 2.0, 3.0]))
    assert out.shape == (3,) and np.isclose(out.sum(), 1.0) and out[2] > out[1] > out[0]
