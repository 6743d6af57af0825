"""Backpropagation through time for a tiny recurrent network, with the course's formulas in float64 numpy,
checked step by step against TensorFlow's ``GradientTape`` on the same Keras model.

forward:   z_t = x_t·W + h_{t-1}·U + b,   h_t = f(z_t)   (h_0 = 0),   o = h_T·V + c,   a = g(o)
backward:  δ_o = ∂E/∂o,   ∂E/∂h_T = δ_o·Vᵀ
           δ_t = ∂E/∂z_t = ∂E/∂h_t ⊙ f′(z_t),   ∂E/∂h_{t-1} = δ_t·Uᵀ            (t = T … 1)
gradients: ∂E/∂W = Σ_t x_tᵀ·δ_t,   ∂E/∂U = Σ_t h_{t-1}ᵀ·δ_t,   ∂E/∂b = Σ_t Σ_batch δ_t   (summed over time)
           ∂E/∂V = h_Tᵀ·δ_o,   ∂E/∂c = Σ_batch δ_o
The error reaching step t is ∂E/∂h_T multiplied by ∂h_T/∂h_t = Π_{s=t+1..T} ∂h_s/∂h_{s-1}, each factor
diag(f′(z_s))·Uᵀ: with |f′·U| < 1 the product shrinks geometrically (the vanishing gradient), above 1 it grows
(the exploding gradient). The runner prints that product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annctl.backprop.formulas import (
    SUPPORTED_ACTIVATIONS,
    SUPPORTED_LOSSES,
    activate,
    backward_through,
    gradient_descent_problems,
    scaled_difference,
)
from annctl.backprop.formulas import loss_and_gradient as output_loss
from annctl.errors import SpecError
from annctl.models.rnn import RNN
from annctl.spec import ExperimentSpec

TOLERANCE = 1e-8
MAX_PARAMETERS = 10_000
STEP_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu")


def check_supported(spec: ExperimentSpec) -> RNN:
    """Backpropagation through time covers one simple_rnn layer feeding the output, trained by plain SGD."""
    problems = []
    model, training = spec.model, spec.training
    if not isinstance(model, RNN):
        raise SpecError([f"model.architecture: backprop through time steps through `rnn`, not {model.architecture}"])
    if model.cell != "simple_rnn" or len(model.units) != 1 or model.bidirectional or model.dense_units:
        problems.append(
            "model: backprop through time steps through one `simple_rnn` layer feeding the output; use "
            "cell: simple_rnn, one entry in units, no bidirectional, no dense_units"
        )
    if model.dropout or model.recurrent_dropout:
        problems.append("model: remove dropout and recurrent_dropout (backprop shows the plain recurrence)")
    if model.activation not in STEP_ACTIVATIONS:
        problems.append(f"model.activation: {model.activation} is not covered; use {', '.join(STEP_ACTIVATIONS)}")
    problems += gradient_descent_problems(training)
    if getattr(spec.dataset, "normalize", False):
        problems.append("dataset.normalize: backprop works on the raw numbers; set it to false")
    if problems:
        raise SpecError(problems)
    return model


@dataclass
class Recurrent:
    """The network's parameters (float64): W [features, units], U [units, units], b [units], V [units, outputs],
    c [outputs], and the step and output activations."""

    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    V: np.ndarray
    c: np.ndarray
    step_activation: str
    output_activation: str

    def parameters(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "U": self.U, "b": self.b, "V": self.V, "c": self.c}


@dataclass
class Pass:
    """Everything one gradient-descent step computes; lists are indexed by time step t = 1 … T."""

    z: list[np.ndarray] = field(default_factory=list)
    h: list[np.ndarray] = field(default_factory=list)  # h[0] = h_0 = 0
    o: np.ndarray = field(default_factory=lambda: np.empty(0))  # set by forward()
    a: np.ndarray = field(default_factory=lambda: np.empty(0))
    loss: float = 0.0
    grad_h: list[np.ndarray] = field(default_factory=list)  # ∂E/∂h_t, t = 1 … T
    delta: list[np.ndarray] = field(default_factory=list)  # ∂E/∂z_t
    jacobian: list[np.ndarray] = field(default_factory=list)  # ∂h_t/∂h_{t-1} per sample [batch, units, units]
    gradients: dict[str, np.ndarray] = field(default_factory=dict)
    contributions: list[dict[str, np.ndarray]] = field(default_factory=list)  # step t's share of ∂E/∂W, U, b


def step_derivative(name: str, z: np.ndarray, h: np.ndarray) -> np.ndarray:
    """f′(z_t) elementwise, from z_t and h_t = f(z_t)."""
    return backward_through(name, z, h, np.ones_like(z))


def forward(net: Recurrent, x: np.ndarray, run: Pass) -> None:
    """x: [batch, steps, features]."""
    batch, steps, _ = x.shape
    run.h = [np.zeros((batch, net.U.shape[0]))]
    run.z = []
    for t in range(steps):
        z = x[:, t, :] @ net.W + run.h[-1] @ net.U + net.b
        run.z.append(z)
        run.h.append(activate(net.step_activation, z))
    run.o = run.h[-1] @ net.V + net.c
    run.a = activate(net.output_activation, run.o)


def backward(net: Recurrent, x: np.ndarray, y: np.ndarray, loss: str, run: Pass) -> None:
    steps = x.shape[1]
    run.loss, grad_a = output_loss(loss, y, run.a)
    delta_o = backward_through(net.output_activation, run.o, run.a, grad_a)
    grad_h = delta_o @ net.V.T
    gradients = {"W": np.zeros_like(net.W), "U": np.zeros_like(net.U), "b": np.zeros_like(net.b)}
    unset = np.empty(0)  # every step's entry is filled below, last step first
    run.grad_h, run.delta, run.jacobian, run.contributions = [unset] * steps, [unset] * steps, [unset] * steps, []
    shares: list[dict[str, np.ndarray]] = [{}] * steps
    for t in range(steps - 1, -1, -1):  # index t holds time step t + 1
        derivative = step_derivative(net.step_activation, run.z[t], run.h[t + 1])
        delta = grad_h * derivative
        run.grad_h[t], run.delta[t] = grad_h, delta
        # ∂h_t/∂h_{t-1}[i, j] = ∂h_t[j]/∂h_{t-1}[i] = U[i, j]·f′(z_t[j]), per sample
        run.jacobian[t] = net.U[None, :, :] * derivative[:, None, :]
        shares[t] = {"W": x[:, t, :].T @ delta, "U": run.h[t].T @ delta, "b": delta.sum(axis=0)}
        for name in gradients:
            gradients[name] = gradients[name] + shares[t][name]
        grad_h = delta @ net.U.T
    gradients["V"] = run.h[-1].T @ delta_o
    gradients["c"] = delta_o.sum(axis=0)
    run.gradients, run.contributions = gradients, shares


def vanishing_factors(run: Pass) -> list[np.ndarray]:
    """∂h_T/∂h_t for t = 1 … T (per sample, [batch, units, units]): the product of the step Jacobians
    ∂h_s/∂h_{s-1} from s = t+1 to T, which carries the error from the last step back to step t."""
    steps = len(run.jacobian)
    batch, units, _ = run.jacobian[0].shape
    product = np.broadcast_to(np.eye(units), (batch, units, units)).copy()
    factors: list[np.ndarray] = [np.empty(0)] * steps
    factors[steps - 1] = product.copy()
    for t in range(steps - 1, 0, -1):  # ∂h_T/∂h_{t} = ∂h_T/∂h_{t+1} · ∂h_{t+1}/∂h_t, in row-vector order
        product = run.jacobian[t] @ product
        factors[t - 1] = product.copy()
    return factors


def sgd_update(net: Recurrent, run: Pass, rate: float) -> None:
    for name, value in net.parameters().items():
        setattr(net, name, value - rate * run.gradients[name])


def parameter_names(net: Recurrent) -> list[tuple[str, tuple, str]]:
    """(name, (matrix, index), what it connects): W[i,j] input i → h_j, U[i,j] h_i → h_j (one step later),
    b[j], V[j,k] h_j → o_k, c[k]."""
    names: list[tuple[str, tuple, str]] = []
    for i, j in np.ndindex(net.W.shape):
        names.append((f"W[{i + 1},{j + 1}]", ("W", (i, j)), f"x{i + 1}→h{j + 1}"))
    for i, j in np.ndindex(net.U.shape):
        names.append((f"U[{i + 1},{j + 1}]", ("U", (i, j)), f"h{i + 1}(t−1)→h{j + 1}(t)"))
    for j in range(len(net.b)):
        names.append((f"b[{j + 1}]", ("b", (j,)), f"bias of h{j + 1}"))
    for j, k in np.ndindex(net.V.shape):
        names.append((f"V[{j + 1},{k + 1}]", ("V", (j, k)), f"h{j + 1}(T)→o{k + 1}"))
    for k in range(len(net.c)):
        names.append((f"c[{k + 1}]", ("c", (k,)), f"bias of o{k + 1}"))
    return names


def _values(arrays: dict[str, np.ndarray], names) -> dict[str, float]:
    return {name: float(arrays[matrix][index]) for name, (matrix, index), _ in names}


def run_through_time(spec: ExperimentSpec, steps: int = 1, every: int | None = None, source: str = "<spec>") -> dict:
    """``steps`` full-batch gradient-descent steps by hand and with TensorFlow; a JSON-ready record."""
    check_supported(spec)
    from annctl.training.tf_setup import import_tensorflow, seed_everything

    tf = import_tensorflow()
    import keras

    from annctl.config import resolve_or_raise
    from annctl.training.assemble import build_model
    from annctl.training.compile import build_loss, encode_targets

    previous_policy = keras.config.dtype_policy()
    keras.config.set_floatx("float64")  # the course's exact arithmetic on both sides (see runner.py)
    keras.config.set_dtype_policy("float64")
    try:
        seed_everything(spec.seed)
        data = spec.dataset.load(spec.seed)
        spec = resolve_or_raise(spec, data.task, data.num_classes, source)
        rnn_activation = check_supported(spec).activation
        loss_name = spec.training.resolved_loss()
        if loss_name not in SUPPORTED_LOSSES:
            raise SpecError([f"training.loss: {loss_name} is not covered; use {', '.join(SUPPORTED_LOSSES)}"])
        model = build_model(spec, data.description)
        if model.count_params() > MAX_PARAMETERS:
            raise SpecError([f"model: {model.count_params()} parameters; backprop through time is for tiny networks"])
        x_raw = next(iter(data.train.x_batches(max(1, data.train.size))))
        if isinstance(x_raw, dict):
            raise SpecError(["dataset: backprop through time takes numeric sequences (no text columns)"])
        x = np.asarray(x_raw, dtype="float64")
        labels = data.train.labels()
        y_model = np.asarray(encode_targets(labels, loss_name, data.num_classes))
        y = np.asarray(
            np.eye(data.num_classes)[labels] if loss_name == "sparse_categorical_crossentropy" else y_model,
            dtype="float64",
        ).reshape(len(x), -1)
        recurrent = model.get_layer("simple_rnn_1")
        output = model.get_layer("output")
        cell = recurrent.cell
        net = Recurrent(
            np.array(cell.kernel.numpy()),
            np.array(cell.recurrent_kernel.numpy()),
            np.array(cell.bias.numpy()),
            np.array(output.kernel.numpy()),
            np.array(output.bias.numpy()),
            rnn_activation,
            output.activation.__name__,
        )
        if net.output_activation not in SUPPORTED_ACTIVATIONS:
            raise SpecError([f"output activation {net.output_activation} is not covered"])
        names = parameter_names(net)
        rate = spec.training.resolved_learning_rate()
        loss_fn = keras.losses.get(build_loss(loss_name))
        variables = [cell.kernel, cell.recurrent_kernel, cell.bias, output.kernel, output.bias]
        x_tf, y_tf = tf.constant(x), tf.constant(y_model)

        @tf.function(reduce_retracing=True)
        def tf_step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(y_tf, model(x_tf, training=True)))
            gradients = tape.gradient(loss, variables)
            for variable, gradient in zip(variables, gradients):
                variable.assign_sub(rate * gradient)
            return loss, gradients

        every = every or (1 if steps <= 5 else steps + 1)
        shown, worst = [], {"loss": 0.0, "gradients": 0.0, "weights": 0.0}
        for number in range(1, steps + 1):
            run = Pass()
            forward(net, x, run)
            backward(net, x, y, loss_name, run)
            record = _record(number, net, x, run, names) if number == 1 or number % every == 0 else None
            sgd_update(net, run, rate)
            tf_loss, tf_gradients = tf_step()
            differences = _compare(run, net, variables, float(tf_loss), tf_gradients)
            for key, value in differences.items():
                worst[key] = max(worst[key], value)
            if record is not None:
                record["updated"] = _values(net.parameters(), names)
                record["tensorflow_difference"] = differences
                shown.append(record)
        final = Pass()
        forward(net, x, final)
        backward(net, x, y, loss_name, final)
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy(previous_policy)
    return {
        "network": "rnn",
        "experiment": spec.name,
        "loss_function": loss_name,
        "learning_rate": rate,
        "steps": steps,
        "samples": len(x),
        "time_steps": x.shape[1],
        "units": net.U.shape[0],
        "activations": [net.step_activation, net.output_activation],
        "parameters": [{"name": name, "connects": connects} for name, _, connects in names],
        "shown_steps": shown,
        "final": {
            "after_steps": steps,
            "loss": final.loss,
            "outputs": final.a.tolist(),
            "parameters": _values(net.parameters(), names),
        },
        "check": {
            "tolerance": TOLERANCE,
            "max_difference": worst,
            "agrees": all(value <= TOLERANCE for value in worst.values()),
        },
    }


def _record(number: int, net: Recurrent, x: np.ndarray, run: Pass, names) -> dict[str, Any]:
    factors = vanishing_factors(run)
    steps = x.shape[1]
    return {
        "step": number,
        "before": _values(net.parameters(), names),
        "time": [
            {
                "t": t + 1,
                "x": x[:, t, :].tolist(),
                "z": run.z[t].tolist(),
                "h": run.h[t + 1].tolist(),
                "grad_h": run.grad_h[t].tolist(),
                "delta": run.delta[t].tolist(),
                "jacobian": run.jacobian[t].tolist(),  # ∂h_t/∂h_{t-1}
                "factor": factors[t].tolist(),  # ∂h_T/∂h_t
                "contribution": {key: value.tolist() for key, value in run.contributions[t].items()},
            }
            for t in range(steps)
        ],
        "output": {"o": run.o.tolist(), "a": run.a.tolist()},
        "loss": run.loss,
        "gradients": _values(run.gradients, names),
        # ∂h_T/∂h_1: how much of the error at the last step reaches the first (its largest singular value)
        "vanishing_factor": float(max(np.linalg.norm(f, 2) for f in factors[0])),
    }


def _compare(run: Pass, net: Recurrent, variables, tf_loss: float, tf_gradients) -> dict[str, float]:
    mine = [run.gradients[name] for name in ("W", "U", "b", "V", "c")]
    gradient_diff = max(scaled_difference(a, np.asarray(b)) for a, b in zip(mine, tf_gradients))
    weights = [net.W, net.U, net.b, net.V, net.c]
    weight_diff = max(scaled_difference(hand, np.asarray(v.numpy())) for hand, v in zip(weights, variables))
    return {
        "loss": scaled_difference(np.asarray(run.loss), np.asarray(tf_loss)),
        "gradients": gradient_diff,
        "weights": weight_diff,
    }
