"""TFLite: the serving SavedModel converted with TFLite's built-in operators only (what the standard
interpreter, LiteRT, runs on a phone), optionally quantised; or, where the model needs operators TFLite lacks,
a refusal naming the layer and why — before anything is written."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from annctl.errors import UsageError
from annctl.export.keras_file import rebuilt_with

# |TFLite − annctl| allowed per output value (relative above 1), by quantisation. A quantised file is judged
# by the change of its test metric, which the export reports; its tolerance only catches a broken conversion:
# 16-bit or 8-bit constants keep 3 or 2 significant digits (measured: up to 0.10 on California housing prices
# with float16, the test RMSE within 0.0005; 0.006 on Fashion-MNIST probabilities with dynamic range).
TOLERANCE = {None: 1e-5, "float16": 0.25, "dynamic": 0.25}
# A model trained with mixed precision computes in 16-bit floats (~3 significant digits) in annctl and in the
# export alike, but on different hardware (a GPU here, the CPU in the verifying process) they round differently.
MIXED_PRECISION_TOLERANCE = 1e-2


def refusals(model) -> list[str]:
    """Why the built-in TFLite operators cannot run ``model``: one line per layer, naming it (none: they can)."""
    from annctl.models.keras_layers import FillMissing

    found = []
    half = [layer for layer in _layers(model) if layer.compute_dtype in ("float16", "bfloat16")]
    if half:
        found.append(
            f"layer {half[0].name!r} computes in {half[0].compute_dtype} (training.mixed_precision), which "
            "TFLite's built-in operators do not take (they compute in float32; --quantize float16 stores a "
            "float32 run's weights in 16 bits)"
        )
    for layer in _layers(model):
        if isinstance(layer, FillMissing) and isinstance(layer.values, str):
            found.append(
                f"layer {layer.name!r} (annctl's FillMissing on a text column) finds blank cells with "
                "tf.strings.strip, which TFLite's built-in operators lack"
            )
    return found


def builtin_filling(model):
    """``model`` with annctl's FillMissing layers as built-in pieces (annctl.export.keras_file): a text column's
    blank cell is then the empty string, which is what annctl's readers give for a blank cell (they strip
    text cells), so TFLite sees the same inputs as training did. The light engine and `export --format tflite`
    both convert this model."""
    from annctl.export.keras_file import replace_fill_missing
    from annctl.models.keras_layers import FillMissing

    if type(model).__module__.startswith("keras.") and any(isinstance(x, FillMissing) for x in _layers(model)):
        model, _ = replace_fill_missing(model)
    return model


def half_precision(model) -> bool:
    """Whether ``model`` computes in float16 or bfloat16 anywhere (trained with mixed precision)."""
    return any(layer.compute_dtype in ("float16", "bfloat16") for layer in _layers(model))


def _layers(model) -> list:
    from annctl import compat

    return compat.flatten_layers(model, include_self=False)


def check_convertible(model) -> None:
    found = refusals(model)
    if found:
        raise UsageError(
            "--format tflite: this model cannot run on TFLite's built-in operators: "
            + "; ".join(found)
            + ". Export --format savedmodel (TensorFlow Serving, plain TensorFlow) instead"
        )


def float16_ready(model, spec, description):
    """``model`` with each standardisation (Normalization: (x − mean) / std) as one multiply-add (Rescaling:
    x · 1/std − mean/std), the same function in float32, for float16 files: measured on California housing,
    the test RMSE moves by at most 0.0005 with it against up to 0.0034 when the mean and variance are what
    the file stores in 16 bits."""
    import keras
    import numpy as np

    if not type(model).__module__.startswith("keras."):  # subclassed: its Functional twin can be cloned
        from annctl.export.keras_file import functional_twin

        model = functional_twin(model, spec, description)

    def clone(layer):
        if isinstance(layer, keras.layers.Normalization):
            mean = np.asarray(layer.mean, dtype="float64").reshape(-1)
            std = np.maximum(np.sqrt(np.asarray(layer.variance, dtype="float64").reshape(-1)), keras.config.epsilon())
            return keras.layers.Rescaling(scale=(1 / std).tolist(), offset=(-mean / std).tolist(), name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    return rebuilt_with(model, clone)


@contextlib.contextmanager
def unrolled(model) -> Iterator[None]:
    """``model``'s recurrent layers (SimpleRNN, LSTM, GRU, inside Bidirectional too) traced as one step per
    time step while the block runs, then restored.

    Traced as Keras runs them, a recurrent layer is a `while` loop over TensorList operations, which TFLite's
    built-in operators lack (the converter asks for SELECT_TF_OPS, i.e. TensorFlow's kernels in the app). The
    window is fixed by the dataset (dataset.window), so the loop can be written out: the same operations in
    the same order, built-in only (measured: outputs within 3e-7 of Keras'). The cuDNN kernel is skipped for
    the same reason (it is one fused GPU operation). A sequence of words arrives one-hot as int64, which
    TFLite's UNPACK does not split: it is cast to the layer's float type first (0 and 1 stay exact; the cell's
    matrix product converts it the same way).
    """
    import keras

    layers = [layer for layer in _layers(model) if isinstance(layer, keras.layers.RNN)]
    saved = [(layer.unroll, getattr(layer, "use_cudnn", None)) for layer in layers]
    try:
        for layer in layers:
            layer.unroll = True
            if hasattr(layer, "use_cudnn"):
                layer.use_cudnn = False
            layer.call = _float_sequences(layer, layer.call)
        yield
    finally:
        for layer, (unroll, cudnn) in zip(layers, saved):
            layer.unroll = unroll
            if cudnn is not None:
                layer.use_cudnn = cudnn
            del layer.call  # the class's own again


def _float_sequences(layer, call):
    import keras

    def cast_then_call(sequences, *args, **kwargs):
        if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(sequences.dtype)):
            sequences = keras.ops.cast(sequences, layer.compute_dtype)
        return call(sequences, *args, **kwargs)

    return cast_then_call


def convert(savedmodel: Path, signature: str, quantize: str | None) -> bytes:
    """The `.tflite` bytes of ``savedmodel``'s ``signature`` (its input and output names kept)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel), signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # alone: dynamic-range (8-bit weights)
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except Exception as error:  # noqa: BLE001 - the converter raises several types; each means "cannot"
        text = str(error)
        ops = re.search(r"TF Select ops: ([^\n]+)", text)
        reason = f"it needs TensorFlow operators that TFLite lacks ({ops.group(1).strip()})" if ops else text
        raise UsageError(
            f"--format tflite: the converter refused this model: {reason.splitlines()[0] if reason else 'unknown'}. "
            "Export --format savedmodel instead"
        ) from None
