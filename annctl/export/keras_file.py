"""`--format keras`: the run's model rebuilt from built-in Keras pieces only, so `keras.models.load_model`
opens it where annctl is not installed (safe mode, no custom objects).

What changes: annctl's FillMissing layer becomes Keras operations (numbers: `where(isnan(x), fill, x)`; text:
a StringLookup that reads "" as the mask token, and the fill's one-hot where nothing matched); a subclassed
model is rebuilt with the Functional API by its architecture's `functional_twin` and its weights copied; the
file is compiled with the run's loss, loss weights, metrics and optimizer when Keras has that loss, and left
uncompiled otherwise (annctl's `perceptron` and `quadratic` losses).
"""

from __future__ import annotations

from typing import Any

from annctl import compat
from annctl.errors import AnnctlError, UsageError

CUSTOM_LOSSES = ("perceptron", "quadratic")


def builtin_model(model, spec, description) -> tuple[object, list[str]]:
    """``(model, notes)``: ``model`` made of built-in Keras pieces, and what a user should know about it."""
    notes: list[str] = []
    if not type(model).__module__.startswith("keras."):
        model = functional_twin(model, spec, description)
        notes.append(
            f"{type(spec.model).__name__}'s subclassed model rebuilt with the Functional API "
            "(same layers, names and weights)"
        )
    from annctl.models.keras_layers import FillMissing

    if any(isinstance(layer, FillMissing) for layer in model.layers):
        model, text = replace_fill_missing(model)
        if text:
            notes.append(
                f"text columns {', '.join(text)}: the empty string is a missing value (annctl also fills cells "
                "of blanks only; strip cells before feeding them, as annctl does)"
            )
    check_builtin(model)
    loss = spec.training.loss
    if loss in CUSTOM_LOSSES:
        notes.append(
            f"saved without a loss or optimizer: Keras has no {loss!r} loss (annctl's own); compile it with a loss "
            "of your choice before training it further"
        )
    else:
        compile_like_run(model, spec, description)
    return model, notes


def functional_twin(model, spec, description):
    """The same network built by the architecture's Functional twin, with ``model``'s weights."""
    twin = getattr(spec.model, "functional_twin", None)
    if twin is None:
        raise UsageError(
            f"--format keras: {spec.model.architecture} is a subclassed Keras model ({type(model).__name__}), "
            "which plain Keras cannot rebuild without annctl's code; export --format savedmodel instead"
        )
    from annctl.training.assemble import build_model, precision_policy

    twin_spec = spec.model_copy(update={"model": twin()})
    with precision_policy(spec.training.mixed_precision):
        rebuilt = build_model(twin_spec, description)
    source = {layer.name: layer for layer in _weighted(model)}
    for layer in _weighted(rebuilt):
        if layer.name not in source:
            raise AnnctlError(f"--format keras: the rebuilt network has a layer {layer.name!r} the run's model lacks")
        layer.set_weights(source.pop(layer.name).get_weights())
    if source:
        raise AnnctlError(f"--format keras: the rebuilt network lacks the run's layers {', '.join(source)}")
    return rebuilt


def _weighted(model) -> list:
    return [layer for layer in compat.flatten_layers(model, include_self=False) if layer.weights]


def replace_fill_missing(model):
    """``(clone, text_columns)``: ``model`` with each FillMissing replaced by built-in pieces (see the module)."""
    import keras
    import numpy as np

    from annctl.models.keras_layers import FillMissing

    text_fills = {}  # the StringLookup after each text FillMissing: the lookup does the filling
    for layer in model.layers:
        if isinstance(layer, keras.layers.StringLookup):
            before = compat.feeding_operation(layer)
            if isinstance(before, FillMissing):
                text_fills[layer.name] = before

    def clone(layer):
        if isinstance(layer, FillMissing):
            if isinstance(layer.values, str):
                return keras.layers.Identity(name=layer.name)
            raw = keras.Input(shape=tuple(layer.input.shape[1:]), dtype=layer.input.dtype)
            fill = np.asarray(layer.values, dtype=layer.input.dtype)
            return keras.Model(raw, keras.ops.where(keras.ops.isnan(raw), fill, raw), name=layer.name)
        if layer.name in text_fills:
            return _filling_lookup(layer, text_fills[layer.name].values)
        return layer.__class__.from_config(layer.get_config())

    return rebuilt_with(model, clone), [fill.name.removeprefix("fill_") for fill in text_fills.values()]


def rebuilt_with(model, clone):
    """``model`` rebuilt layer by layer through ``clone`` (Keras' clone_function), with the trained weights of
    every layer that has any copied over by name."""
    import keras

    rebuilt = keras.models.clone_model(model, clone_function=clone)
    source = {layer.name: layer for layer in model.layers}
    for layer in rebuilt.layers:
        if layer.weights:
            layer.set_weights(source[layer.name].get_weights())
    return rebuilt


def _filling_lookup(lookup, fill: str):
    """A StringLookup that reads "" as missing (its mask token: a row of zeros), then puts the one-hot of
    ``fill`` wherever nothing matched — the same output as filling first, from built-in pieces."""
    import keras
    import numpy as np

    config = {**lookup.get_config(), "mask_token": "", "name": "lookup"}
    masked = keras.layers.StringLookup(**config)
    text = keras.Input(shape=(1,), dtype="string")
    encoded = masked(text)
    vocabulary = lookup.get_vocabulary()
    fill_row = np.zeros((1, len(vocabulary)), dtype=encoded.dtype)
    fill_row[0, vocabulary.index(fill) if fill in vocabulary else 0] = 1
    empty = keras.ops.equal(keras.ops.sum(encoded, axis=-1, keepdims=True), 0)
    return keras.Model(text, keras.ops.where(empty, fill_row, encoded), name=lookup.name)


def check_builtin(model) -> None:
    """Every object in the model's saved configuration is Keras' own; else exit 2 naming the first that is not."""
    import keras

    config = keras.saving.serialize_keras_object(model)

    def walk(node, owner: str):
        if isinstance(node, dict):
            module = node.get("module")
            name = (node.get("config") or {}).get("name") if isinstance(node.get("config"), dict) else None
            if isinstance(module, str) and not (module == "builtins" or module.startswith("keras")):
                raise UsageError(
                    f"--format keras: {node.get('class_name')} in layer {name or owner!r} is not part of Keras "
                    "(plain Keras cannot load it without its code); export --format savedmodel instead"
                )
            for value in node.values():
                walk(value, name or owner)
        elif isinstance(node, list):
            for value in node:
                walk(value, owner)

    walk(config, model.name)


def compile_like_run(model, spec, description) -> None:
    """Compile as training did, with a fresh optimizer: the file can be trained further as it is."""
    from annctl.training.assemble import learning_rate_schedule
    from annctl.training.compile import build_metrics, build_optimizer

    training, outputs = spec.training, spec.model.output_names()
    loss, metric_names = training.resolved_loss(), training.resolved_metrics()
    losses: Any
    metrics: Any
    if len(outputs) > 1:
        losses = {name: loss for name in outputs}
        metrics = {name: build_metrics(metric_names, loss, description.num_classes) for name in outputs}
    else:
        losses, metrics = loss, build_metrics(metric_names, loss, description.num_classes)
    model.compile(
        optimizer=build_optimizer(training, learning_rate_schedule(spec)),
        loss=losses,
        loss_weights=spec.model.loss_weights(),
        metrics=metrics,
    )
    model.optimizer.build(model.trainable_variables)  # its slots saved (zero), so loading it warns of nothing
