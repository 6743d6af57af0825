"""Run the hand computation step by step beside the same Keras model and compare every step.

Plain full-batch gradient descent on the experiment's data, in float64 on both sides, so the numbers are the
course's exact arithmetic. Each step: numpy forward/backward/update (``formulas``), TensorFlow's
``GradientTape`` gradients and a float64 gradient-descent update of the same Keras weights, and the largest difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from annctl.backprop.formulas import (
    SUPPORTED_ACTIVATIONS,
    Layer,
    Step,
    backward,
    forward,
    gradient_descent_problems,
    scaled_difference,
    sgd_update,
)
from annctl.errors import SpecError
from annctl.models.mlp import MLP
from annctl.spec import ExperimentSpec

TOLERANCE = 1e-8  # float64 on both sides: anything larger than this is a real disagreement
MAX_PARAMETERS = 100_000


def check_supported(spec: ExperimentSpec) -> None:
    """The by-hand method covers dense layers trained by plain gradient descent; say what else to change."""
    problems = []
    model, training = spec.model, spec.training
    if not isinstance(model, MLP):
        problems.append(
            f"model.architecture: backprop steps through `mlp` and `rnn` networks, not {model.architecture}"
        )
    else:
        if any(model.batch_norm_flags()) or any(model.dropout_rates()) or model.l1 or model.l2:
            problems.append("model: backprop covers plain dense layers; remove dropout, batch_norm, l1 and l2")
        for field, name in (("activation", model.activation), ("output_activation", model.output_activation)):
            if name is not None and name not in SUPPORTED_ACTIVATIONS:
                problems.append(f"model.{field}: {name} is not covered; use {', '.join(SUPPORTED_ACTIVATIONS)}")
    problems += gradient_descent_problems(training)
    if problems:
        raise SpecError(problems)


@dataclass
class Names:
    """The course's names: inputs i1.., hidden h1.. (h1.1.. with several hidden layers), outputs o1..,
    weights w1.. numbered unit by unit (w1 = i1→h1, w2 = i2→h1, ...), biases b(h1)..."""

    neurons: list[list[str]]
    weights: list[dict[str, Any]]
    biases: list[dict[str, Any]]


def course_names(layers: list[Layer]) -> Names:
    hidden = len(layers) - 1
    neurons = [[f"i{i + 1}" for i in range(layers[0].kernel.shape[0])]]
    for index, layer in enumerate(layers):
        units = layer.kernel.shape[1]
        if index == hidden:
            neurons.append([f"o{j + 1}" for j in range(units)])
        elif hidden == 1:
            neurons.append([f"h{j + 1}" for j in range(units)])
        else:
            neurons.append([f"h{index + 1}.{j + 1}" for j in range(units)])
    weights, biases, counter = [], [], 0
    for index, layer in enumerate(layers):
        for j in range(layer.kernel.shape[1]):
            for i in range(layer.kernel.shape[0]):
                counter += 1
                weights.append(
                    {
                        "name": f"w{counter}",
                        "layer": index,
                        "index": (i, j),
                        "connects": f"{neurons[index][i]}→{neurons[index + 1][j]}",
                    }
                )
            biases.append(
                {
                    "name": f"b({neurons[index + 1][j]})",
                    "layer": index,
                    "index": j,
                    "connects": f"bias of {neurons[index + 1][j]}",
                    "fixed": not layer.train_bias,
                }
            )
    return Names(neurons, weights, biases)


def run_backprop(spec: ExperimentSpec, steps: int = 1, every: int | None = None, source: str = "<spec>") -> dict:
    """Run ``steps`` gradient-descent steps; return a JSON-ready record of the shown steps and the check.

    A recurrent network (`rnn`) is stepped through time instead (annctl.backprop.through_time)."""
    if spec.model.architecture == "rnn":
        from annctl.backprop.through_time import run_through_time

        return run_through_time(spec, steps, every, source)
    check_supported(spec)
    from annctl.training.tf_setup import import_tensorflow, seed_everything

    tf = import_tensorflow()
    import keras

    from annctl.config import resolve_or_raise
    from annctl.models.base import dense_layers
    from annctl.training.assemble import build_model
    from annctl.training.compile import build_loss, encode_targets

    # The course's exact arithmetic, on both sides. Layers take their dtype from the global dtype policy, which
    # Keras fixes the first time it is asked (an earlier training in this process), so set both.
    previous_policy = keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        seed_everything(spec.seed)
        data = spec.dataset.load(spec.seed)
        spec = resolve_or_raise(spec, data.task, data.num_classes, source)
        check_supported(spec)
        loss_name = spec.training.resolved_loss()
        model = build_model(spec, data.description)
        if model.count_params() > MAX_PARAMETERS:
            raise SpecError(
                [f"model: {model.count_params()} parameters; backprop is for small networks (at most {MAX_PARAMETERS})"]
            )
        x_raw = np.asarray(next(iter(data.train.x_batches(max(1, data.train.size)))), dtype="float64")
        x = x_raw
        for layer in model.layers:  # preprocessing (normalization, flatten) happens before the first Dense
            if isinstance(layer, keras.layers.Dense):
                break
            x = np.asarray(layer(x))
        labels = data.train.labels()
        y_model = np.asarray(encode_targets(labels, loss_name, data.num_classes))
        y = np.asarray(
            np.eye(data.num_classes)[labels] if loss_name == "sparse_categorical_crossentropy" else y_model,
            dtype="float64",
        ).reshape(len(x), -1)
        keras_layers = dense_layers(model)
        layers = [
            Layer(
                k.name,
                np.array(k.kernel.numpy()),
                np.array(k.bias.numpy()),
                k.activation.__name__,
                train_bias=bool(k.bias.trainable),
            )
            for k in keras_layers
        ]
        names = course_names(layers)
        rate = spec.training.resolved_learning_rate()
        loss_fn = keras.losses.get(build_loss(loss_name))
        variables = [v for k in keras_layers for v in (k.kernel, k.bias) if v.trainable]
        x_tf, y_tf = tf.constant(x_raw), tf.constant(y_model)

        @tf.function(reduce_retracing=True)
        def tf_step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(y_tf, model(x_tf, training=True)))
            gradients = tape.gradient(loss, variables)
            for variable, gradient in zip(variables, gradients):  # plain gradient descent, in float64
                variable.assign_sub(rate * gradient)
            return loss, gradients

        every = every or (1 if steps <= 5 else steps + 1)
        shown, worst = [], {"loss": 0.0, "gradients": 0.0, "weights": 0.0}
        for number in range(1, steps + 1):
            step = Step()
            forward(layers, x, step)
            backward(layers, y, loss_name, step)
            record = _record(number, step, layers, names) if number == 1 or number % every == 0 else None
            sgd_update(layers, step, rate)
            tf_loss, tf_gradients = tf_step()
            differences = _compare(step, layers, keras_layers, float(tf_loss), tf_gradients)
            for key, value in differences.items():
                worst[key] = max(worst[key], value)
            if record is not None:
                record["updated"] = _parameters(layers, names)
                record["tensorflow_difference"] = differences
                shown.append(record)
        final = Step()
        outputs = forward(layers, x, final)
        backward(layers, y, loss_name, final)
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy(previous_policy)
    return {
        "experiment": spec.name,
        "loss_function": loss_name,
        "learning_rate": rate,
        "steps": steps,
        "samples": len(x),
        "neurons": names.neurons,
        "activations": [layer.activation for layer in layers],
        "fixed_biases": [not layer.train_bias for layer in layers],
        "initial": shown[0]["before"] if shown else None,
        "shown_steps": shown,
        "final": {
            "after_steps": steps,
            "loss": final.loss,
            "outputs": outputs.tolist(),
            "parameters": _parameters(layers, names),
        },
        "check": {
            "tolerance": TOLERANCE,
            "max_difference": worst,
            "agrees": all(value <= TOLERANCE for value in worst.values()),
        },
    }


def _parameters(layers: list[Layer], names: Names) -> dict[str, float]:
    values = {w["name"]: float(layers[w["layer"]].kernel[w["index"]]) for w in names.weights}
    values.update({b["name"]: float(layers[b["layer"]].bias[b["index"]]) for b in names.biases})
    return values


def _record(number: int, step: Step, layers: list[Layer], names: Names) -> dict[str, Any]:
    gradients = {w["name"]: float(step.grad_kernel[w["layer"]][w["index"]]) for w in names.weights}
    gradients.update({b["name"]: float(step.grad_bias[b["layer"]][b["index"]]) for b in names.biases})
    return {
        "step": number,
        "before": _parameters(layers, names),
        "forward": [
            {"neurons": names.neurons[i + 1], "z": step.z[i].tolist(), "a": step.a[i + 1].tolist()}
            for i in range(len(layers))
        ],
        "loss": step.loss,
        "delta": [{"neurons": names.neurons[i + 1], "delta": step.delta[i].tolist()} for i in range(len(layers))],
        "gradients": gradients,
        "weights": names.weights,
        "biases": names.biases,
    }


def _compare(step: Step, layers: list[Layer], keras_layers, tf_loss: float, tf_gradients) -> dict[str, float]:
    """Largest scaled difference between the hand computation and TensorFlow (loss, gradients, new weights)."""
    mine = []
    for index, layer in enumerate(keras_layers):
        mine.append(step.grad_kernel[index])
        if layer.bias.trainable:
            mine.append(step.grad_bias[index])
    gradient_diff = max(scaled_difference(a, np.asarray(b)) for a, b in zip(mine, tf_gradients, strict=False))
    weight_diff = max(
        scaled_difference(hand_array, np.asarray(variable.numpy()))
        for hand, k in zip(layers, keras_layers, strict=False)
        for hand_array, variable in ((hand.kernel, k.kernel), (hand.bias, k.bias))
    )
    return {
        "loss": scaled_difference(np.asarray(step.loss), np.asarray(tf_loss)),
        "gradients": gradient_diff,
        "weights": weight_diff,
    }
