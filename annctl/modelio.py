"""Load a model from a run directory, and only one that annctl wrote: hash-checked, `.keras` only, safe_mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from annctl.errors import UsageError
from annctl.fileio import sha256_file
from annctl.rundir import MODEL_FILE, read_summary

Checkpoint = Literal["final", "best", "last"]


def model_path(run_dir: Path, checkpoint: Checkpoint) -> tuple[Path, str | None]:
    """The file of ``checkpoint`` and the SHA-256 the run recorded for it."""
    if checkpoint == "final":
        summary = read_summary(run_dir) or {}
        return run_dir / MODEL_FILE, summary.get("model_sha256")
    try:
        manifest = json.loads((run_dir / "checkpoints" / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    entry = manifest.get(checkpoint) or {}
    return run_dir / "checkpoints" / f"{checkpoint}.keras", entry.get("sha256")


def load_run_model(run_dir: Path, checkpoint: Checkpoint = "final"):
    """The Keras model of a run, after checking its file against the hash the run recorded."""
    path, expected = model_path(run_dir, checkpoint)
    if not path.is_file() or path.is_symlink():
        hint = " (the run did not finish; try --checkpoint best or last)" if checkpoint == "final" else ""
        raise UsageError(f"{path}: no {checkpoint} model in this run{hint}")
    if expected is None:
        raise UsageError(f"{path}: the run records no hash for this model, so annctl will not load it")
    if sha256_file(path) != expected:
        raise UsageError(
            f"{path}: the file does not match the hash recorded by the run (modified or corrupted); refusing to load it"
        )
    from annctl.training.tf_setup import import_tensorflow

    import_tensorflow()
    import keras

    import annctl.losses  # noqa: F401  (registers annctl's custom losses for deserialisation)
    import annctl.models.keras_layers  # noqa: F401  (registers FillMissing)
    import annctl.models.keras_wide_deep  # noqa: F401  (registers the subclassed Wide & Deep model)

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for a bad file; all mean the same here
        raise UsageError(f"{path}: cannot load the model safely: {error}") from None
