"""The serving signature every export shares: inputs named as the user knows them, outputs named by what they
hold, and the SavedModel that carries it (TFLite is converted from that SavedModel).

Inputs: a tabular model's one tensor is `features` (columns in the description's order), an image model's
`image` (raw pixels); a model with named inputs takes them by name — `wide`/`deep` for Wide & Deep with two
inputs, one input per column for CSV models with text columns (raw strings for text, one value per row).
Outputs: `probabilities` (classifiers), `score` (the perceptron's), `prediction` (regression), with
`class_name` beside a classifier's, and each further output prefixed with its name (`aux_prediction`), as
`annctl predict --all-outputs` names its columns.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from annctl.records import DataInfo

SIGNATURE = "serving_default"  # the key TensorFlow Serving and the TFLite signature runner use by default
SINGLE_INPUT = {"tabular": "features", "image": "image"}  # a model's one input tensor, per kind of input
# Latin letters that Unicode does not decompose into ASCII ones (é → e it does)
LETTERS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
        "Þ": "Th",
    }
)


@dataclass(frozen=True)
class SignatureInput:
    """One argument of the serving signature."""

    name: str  # as the user knows it: a CSV column, `features`, `wide`, `image`
    key: str | None  # the model's input key (None: the model takes one tensor)
    argument: str  # the signature's argument name: a valid identifier
    dtype: str  # float32, uint8, string
    shape: tuple[int | None, ...]  # the signature's, batch axis first
    column: bool  # one CSV column: the signature takes (rows,), the model (rows, 1)


@dataclass(frozen=True)
class SignatureOutput:
    """One output of the serving signature."""

    name: str  # probabilities, score, prediction, class_name, aux_prediction, ...
    model_output: str  # the model's output it comes from (DataInfo.outputs)
    classes: bool  # the class name decided from that output, not the output itself


def signature_inputs(description: DataInfo, model_input: Any) -> list[SignatureInput]:
    """The signature's inputs for a model of ``description``, given one batch as the model takes it
    (``spec.model.feed`` of the data's rows): the one place inputs are named.

    A named input that is a column of the data keeps the column's name as the user wrote it (the model's
    input is the Keras-safe name the description records for it); its argument is that name made a valid
    identifier (TensorFlow requires it: spaces and punctuation become `_`), unique.
    """
    import numpy as np

    columns = {key: name for name, key in description.input_names.items()}  # model input key → column name
    if not isinstance(model_input, dict):
        array = np.asarray(model_input)
        name = SINGLE_INPUT.get(description.kind, description.kind)
        return [SignatureInput(name, None, name, _dtype(array), (None, *array.shape[1:]), False)]
    taken: set[str] = set()
    inputs = []
    for key, value in model_input.items():
        array = np.asarray(value)
        column = key in columns and array.shape[1:] == (1,)
        shape = (None,) if column else (None, *array.shape[1:])
        name = columns[key] if column else key
        argument = argument_name(name, taken)
        taken.add(argument)
        inputs.append(SignatureInput(name, key, argument, _dtype(array), shape, column))
    return inputs


def argument_name(name: str, taken: set[str]) -> str:
    """``name`` as a signature argument: ASCII letters, digits and `_`, not starting with a digit or `_`
    (TensorFlow's rule for names), not a Python keyword, not in ``taken``."""
    ascii_name = unicodedata.normalize("NFKD", name.translate(LETTERS)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9]+", "_", ascii_name).strip("_") or "input"
    if text[0].isdigit():
        text = f"column_{text}"
    if keyword.iskeyword(text):
        text = f"{text}_"
    candidate, number = text, 2
    while candidate in taken:
        candidate, number = f"{text}_{number}", number + 1
    return candidate


def signature_outputs(description: DataInfo) -> list[SignatureOutput]:
    """Each model output under the name of what it holds, main output first; a classifier's class names too."""
    if description.task == "regression":
        holds = "prediction"
    else:
        holds = "score" if description.decision == "score" else "probabilities"
    outputs = []
    for i, output in enumerate(description.outputs):
        prefix = "" if i == 0 else f"{output}_"
        outputs.append(SignatureOutput(f"{prefix}{holds}", output, False))
        if description.class_names:
            outputs.append(SignatureOutput(f"{prefix}class_name", output, True))
    return outputs


def _dtype(array) -> str:
    return "string" if array.dtype.kind in "OSU" else str(array.dtype)


def serving_function(model, description: DataInfo, inputs: list[SignatureInput], outputs: list[SignatureOutput]):
    """``(serve, input_signature)``: the model behind the named inputs and outputs, for a tf.function."""
    import tensorflow as tf

    specs = {item.argument: tf.TensorSpec(item.shape, tf.as_dtype(item.dtype), name=item.argument) for item in inputs}
    threshold = 0.0 if description.decision == "score" else 0.5
    main = description.outputs[0]

    def serve(arguments):
        fed = {}
        for item in inputs:
            value = arguments[item.argument]
            fed[item.key] = tf.reshape(value, (-1, 1)) if item.column else value
        result = model(fed if inputs[0].key is not None else fed[None], training=False)
        named = result if isinstance(result, dict) else {main: result}
        served = {}
        for output in outputs:
            value = named[output.model_output]
            if output.classes:
                if value.shape[-1] == 1:
                    index = tf.cast(value[:, 0] >= threshold, tf.int64)
                else:
                    index = tf.argmax(value, axis=-1)
                value = tf.gather(tf.constant(description.class_names), index)
            served[output.name] = value
        return served

    return serve, [specs]


def write_savedmodel(model, description: DataInfo, path: Path, inputs, outputs) -> None:
    """A SavedModel at ``path`` whose `serving_default` signature takes ``inputs`` and gives ``outputs``;
    the class names in `assets/labels.txt`, one per line, in the outputs' order."""
    import keras

    serve, input_signature = serving_function(model, description, inputs, outputs)
    archive = keras.export.ExportArchive()  # tracks Keras variables so that TFLite's converter can freeze them
    archive.track(model)
    archive.add_endpoint(SIGNATURE, serve, input_signature=input_signature)
    archive.write_out(str(path), verbose=False)
    if description.class_names:
        assets = path / "assets"
        assets.mkdir(exist_ok=True)
        (assets / "labels.txt").write_text("".join(f"{name}\n" for name in description.class_names), encoding="utf-8")
