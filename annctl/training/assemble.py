"""From a resolved spec and its data's description to a compiled Keras model, and the batches `fit` takes.

Handles what every architecture shares: the input block (from the dataset entry), the output head, the
check that the architecture takes this kind of input, transfer (`init_from`, `freeze`), several outputs
(per-output losses, weights and metrics), learning-rate schedules.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annctl.datasets.base import InputDescription
from annctl.errors import SpecError
from annctl.models.base import check_float32_outputs, choose_head
from annctl.spec import CosineDecay, ExperimentSpec, ExponentialDecay
from annctl.training.compile import build_loss, build_metrics, build_optimizer, encode_targets


def check_input_kind(spec: ExperimentSpec, description: InputDescription) -> None:
    """The architecture takes this kind of input (images, tabular rows, sequences), or a clear exit 2."""
    accepted = type(spec.model).accepted_kinds()
    if description.kind not in accepted:
        raise SpecError(
            [
                f"model.architecture: {spec.model.architecture} takes {' or '.join(accepted)} inputs; dataset "
                f"{spec.dataset.name} gives {description.kind} inputs of shape {tuple(description.shape)}"
            ]
        )


def build_model(spec: ExperimentSpec, description: InputDescription):
    """The architecture's Keras model on the dataset's input block, with the head the task calls for."""
    check_input_kind(spec, description)
    head = choose_head(description.task, description.num_classes, description.n_targets, spec.training.loss)
    block = spec.dataset.input_block(description)
    if block.target_scale is not None and description.task == "regression":
        head = dataclasses.replace(head, offset=block.target_scale[0], scale=block.target_scale[1])
    model = spec.model.build(description, block, head)
    check_float32_outputs(model, spec.model.output_names(), spec.model.architecture)
    return model


def make_model(spec: ExperimentSpec, description: InputDescription, runs_root: Path | None = None, transfer=True):
    """Build, transfer weights (unless resuming: the checkpoint has them), freeze layers and compile."""
    training = spec.training
    model = build_model(spec, description)
    num_classes = description.num_classes
    model.transferred_layers = None  # reported in the summary
    if spec.model.init_from and transfer:
        model.transferred_layers = transfer_weights(model, spec.model.init_from, runs_root, spec.model.init_layers)
    if spec.model.freeze:
        names = [layer.name for layer in model.layers]
        unknown = [name for name in spec.model.freeze if name not in names]
        if unknown:
            raise SpecError([f"model.freeze: no layer {', '.join(unknown)}; layers: {', '.join(names)}"])
        for layer in model.layers:
            if layer.name in spec.model.freeze:
                layer.trainable = False
    outputs = spec.model.output_names()
    loss = build_loss(training.resolved_loss())
    output_metrics = build_metrics(training.resolved_metrics(), training.resolved_loss(), num_classes)
    losses: Any
    metrics: Any
    if len(outputs) == 1:
        losses, metrics = loss, output_metrics
    else:
        losses = {name: loss for name in outputs}
        metrics = {
            name: build_metrics(training.resolved_metrics(), training.resolved_loss(), num_classes) for name in outputs
        }
    model.compile(
        optimizer=build_optimizer(training, learning_rate_schedule(spec)),
        loss=losses,
        loss_weights=spec.model.loss_weights(),
        metrics=metrics,
        steps_per_execution=training.steps_per_execution,
        jit_compile=False,  # XLA runs in annctl.training.compiled, around Keras' step, with op determinism on
    )
    return model


@contextlib.contextmanager
def precision_policy(mode: str) -> Iterator[None]:
    """Keras' global dtype policy for the layers built inside (mixed_float16 / mixed_bfloat16), then restored."""
    import keras

    if mode == "off":
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(f"mixed_{mode}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def learning_rate_schedule(spec: ExperimentSpec):
    """A Keras schedule object for exponential/cosine decay, else None (a constant rate)."""
    import keras

    schedule, rate = spec.training.lr_schedule, spec.training.learning_rate
    if isinstance(schedule, ExponentialDecay):
        return keras.optimizers.schedules.ExponentialDecay(rate, schedule.decay_steps, schedule.decay_rate)
    if isinstance(schedule, CosineDecay):
        return keras.optimizers.schedules.CosineDecay(rate, schedule.decay_steps, alpha=schedule.alpha)
    return None


def batch_preparer(spec: ExperimentSpec, description: InputDescription):
    """``prepare(x, y)`` for a pipeline: the architecture's inputs (e.g. wide and deep columns) and the targets
    in the form the loss expects (one per output for multi-output models)."""
    import tensorflow as tf

    outputs = spec.model.output_names()
    loss, num_classes = spec.training.loss, description.num_classes

    @tf.autograph.experimental.do_not_convert  # plain tensor code: nothing for AutoGraph to rewrite
    def prepare(x, y):
        encoded = encode_targets(y, loss, num_classes)
        return spec.model.feed(x, description), encoded if len(outputs) == 1 else {n: encoded for n in outputs}

    return prepare


def transfer_weights(model, source: str, runs_root: Path | None, only: list[str] | None = None) -> list[str]:
    """Copy the weights of layers with the same name (or just the layers in ``only``) from another run's model;
    the same name with other weight shapes, or a layer in ``only`` that either model lacks, is an error."""
    from annctl.errors import UsageError
    from annctl.modelio import load_run_model
    from annctl.rundir import resolve_run
    from annctl.rundir import runs_root as default_root

    try:
        run_dir = resolve_run(source, runs_root or default_root())
        source_model = load_run_model(run_dir, "final")
    except UsageError as error:
        raise SpecError([f"model.init_from: {error}"]) from None
    source_layers = {layer.name: layer for layer in source_model.layers if layer.weights}
    target_layers = [layer for layer in model.layers if layer.weights]
    copied, mismatched = [], []
    if only:
        missing = [name for name in only if name not in source_layers or name not in {l.name for l in target_layers}]  # noqa: E741
        mismatched += [f"{name} (not in both models)" for name in missing]
    for layer in target_layers:
        donor = source_layers.get(layer.name)
        if donor is None or (only and layer.name not in only):
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        donor_shapes = [tuple(w.shape) for w in donor.weights]
        if shapes != donor_shapes:
            mismatched.append(f"{layer.name} {shapes} vs {donor_shapes}")
            continue
        layer.set_weights(donor.get_weights())
        copied.append(layer.name)
    describe = lambda layers: ", ".join(f"{l.name} {[tuple(w.shape) for w in l.weights]}" for l in layers)  # noqa: E731,E741
    if mismatched or not copied:
        problem = (
            ("layers with the same name but other shapes: " + "; ".join(mismatched))
            if mismatched
            else ("no layer of the same name and shape")
        )
        raise SpecError(
            [
                f"model.init_from: {run_dir.name}: {problem}. This model: {describe(target_layers)}. "
                f"That run's model: {describe(list(source_layers.values()))}. Rename or resize layers, or use "
                "model.freeze only with matching layers."
            ]
        )
    return copied
