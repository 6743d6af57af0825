"""Run a light model: the TFLite flatbuffer in the LiteRT interpreter, fed what the run's readers give (NumPy
arrays, text as strings) and answering with each model output by name, as the Keras path does. Nothing here
imports TensorFlow or Keras."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from annctl.errors import AnnctlError
from annctl.fileio import quiet_stderr

if TYPE_CHECKING:
    from annctl.light.manifest import LightManifest

SIGNATURE = "serving_default"
ONE_TENSOR = ""  # the input key of a model that takes one tensor (LightManifest.inputs)


def litert_missing() -> str | None:
    """Why the LiteRT interpreter cannot be used here (None: it can)."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError as error:
        return f"the LiteRT interpreter (pip package ai-edge-litert) cannot be imported: {error}"
    return None


class LightModel:
    """A flatbuffer's serving signature, callable on batches of the model's inputs."""

    def __init__(self, content: bytes, manifest: LightManifest):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.manifest = manifest
        # The built-in kernels alone: the default XNNPACK delegate announces itself on stderr at every start
        # and sums in another order; without it the answers stay within 1e-7 of Keras' (measured, RNNs too).
        with quiet_stderr():
            interpreter = Interpreter(
                model_content=content,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                num_threads=1,
            )
            self.runner = interpreter.get_signature_runner(SIGNATURE)
        self.input_dtypes = {name: details["dtype"] for name, details in self.runner.get_input_details().items()}

    def arguments(self, fed: Any) -> dict[str, Any]:
        """The signature's arguments for one batch as the architecture feeds the model (``spec.model.feed``)."""
        import numpy as np

        arguments = {}
        for key, argument in self.manifest.inputs.items():
            value = np.asarray(fed if key == ONE_TENSOR else fed[key])
            if argument in self.manifest.columns:
                value = value.reshape(-1)
            dtype = self.input_dtypes[argument]
            if value.dtype.kind in "OUS":
                value = np.char.encode(value.astype(str), "utf-8").astype(object)
            elif value.dtype != dtype:
                value = value.astype(dtype)
            arguments[argument] = value
        return arguments

    def predict(self, fed: Any, batch_size: int = 4096) -> dict[str, Any]:
        """Every output of the model on ``fed`` (rows cut into ``batch_size``), by model output, main first."""
        import numpy as np

        pieces: dict[str, list] = {name: [] for name in self.manifest.outputs}
        for batch in _slices(self.arguments(fed), batch_size):
            produced = self.runner(**batch)
            for name, served in self.manifest.outputs.items():
                pieces[name].append(np.asarray(produced[served]))
        if not all(pieces.values()):
            raise AnnctlError("the light model was given no rows")
        return {name: np.concatenate(parts) for name, parts in pieces.items()}


def _slices(arguments: dict[str, Any], batch_size: int) -> Iterator[dict[str, Any]]:
    rows = len(next(iter(arguments.values())))
    for start in range(0, rows, batch_size):
        yield {name: value[start : start + batch_size] for name, value in arguments.items()}
