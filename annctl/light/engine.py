"""Which engine runs `annctl predict`: `litert` (the run's light model, no TensorFlow) or `keras`.

`auto` takes the light model wherever the run can have one: its flatbuffer is made on the first predict of
each of the run's models (that call imports TensorFlow once) and reused while the model's recorded hash is
the one it was made from. A run that cannot have one — image inputs, a model the converter refuses, a
flatbuffer that disagrees with Keras — is predicted by Keras, and ``reason`` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from annctl.errors import UsageError
from annctl.modelio import Checkpoint

if TYPE_CHECKING:
    from annctl.light.runtime import LightModel
    from annctl.records import DataInfo

Engine = Literal["auto", "litert", "keras"]
ENGINES = ("auto", "litert", "keras")

# Photos are decoded (JPEG/PNG) and resized with antialiasing by TensorFlow when training reads them; Pillow
# or NumPy would give other pixels, so image inputs keep TensorFlow's path (README: fast predictions).
IMAGES_KEEP_KERAS = (
    "image inputs are decoded and resized by TensorFlow, exactly as training read them, so they are predicted "
    "with Keras"
)


@dataclass
class Choice:
    """The engine that will run, the light model when it is LiteRT, and why it is not when it could be."""

    engine: Literal["litert", "keras"]
    light: LightModel | None = None
    reason: str | None = None
    expected: bool = False  # Keras by design (image inputs, as --help says): no line on stderr for it


def choose_engine(
    requested: str,
    run_dir: Path,
    checkpoint: Checkpoint,
    description: DataInfo,
    before_tensorflow: Callable[[], None] | None = None,
) -> Choice:
    """The engine for predicting with ``checkpoint`` of ``run_dir``; `litert` that cannot run is a UsageError.

    ``before_tensorflow`` is called before TensorFlow is imported (to make the light model the first time).
    """
    if requested not in ENGINES:
        raise UsageError(f"--engine {requested}: use {', '.join(ENGINES)}")
    if requested == "keras":
        return Choice("keras")
    light, reason = _light_model(run_dir, checkpoint, description, before_tensorflow)
    if light is not None:
        return Choice("litert", light)
    if requested == "litert":
        raise UsageError(f"--engine litert: {reason}; use --engine keras or auto")
    return Choice("keras", reason=reason, expected=reason == IMAGES_KEEP_KERAS)


def _light_model(run_dir, checkpoint, description, before_tensorflow) -> tuple[LightModel | None, str | None]:
    from annctl.light.runtime import LightModel, litert_missing

    if description.kind == "image":
        return None, IMAGES_KEEP_KERAS
    missing = litert_missing()
    if missing:
        return None, missing
    manifest, content = _stored(run_dir, checkpoint)
    if manifest is None:
        if before_tensorflow is not None:
            before_tensorflow()
        from annctl.light.convert import make_light_model

        manifest, content = make_light_model(run_dir, checkpoint)
    if content is None:
        return None, manifest.reason
    return LightModel(content, manifest), None


def _stored(run_dir: Path, checkpoint: Checkpoint):
    """``(manifest, flatbuffer)`` stored for the model as the run records it now; ``(None, None)`` when there is
    none yet, it was made from another model (a resumed run's `last`), or its file fails its hash."""
    import hashlib

    from pydantic import ValidationError

    from annctl.light.manifest import LightManifest
    from annctl.modelio import model_path
    from annctl.rundir import RunPaths

    paths = RunPaths(run_dir)
    try:
        manifest = LightManifest.model_validate_json(paths.light_manifest(checkpoint).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None, None
    _, recorded = model_path(run_dir, checkpoint)
    if recorded is None or manifest.model_sha256 != recorded:
        return None, None
    if not manifest.available:
        return manifest, None
    try:
        content = paths.light_model(checkpoint).read_bytes()
    except OSError:
        return None, None
    if hashlib.sha256(content).hexdigest() != manifest.tflite_sha256:
        return None, None  # changed since it was made: made again from the (hash-checked) Keras model
    return manifest, content
