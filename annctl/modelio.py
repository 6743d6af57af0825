"""Load a model from a run directory, and only one that annctl wrote: hash-checked, `.keras` only, safe_mode."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from annctl.errors import AnnctlError, UsageError
from annctl.fileio import sha256_file
from annctl.rundir import RunPaths, read_manifest, read_summary
from annctl.wording import shown_path

Checkpoint = Literal["final", "best", "last"]


def model_path(run_dir: Path, checkpoint: Checkpoint) -> tuple[Path, str | None]:
    """The file of ``checkpoint`` and the SHA-256 the run recorded for it."""
    paths = RunPaths(run_dir)
    if checkpoint == "final":
        summary = read_summary(run_dir)
        return paths.model, summary.model_sha256 if summary else None
    try:
        manifest = read_manifest(run_dir)
    except AnnctlError:
        manifest = None
    entry = getattr(manifest, checkpoint, None) if manifest else None
    return paths.checkpoint(checkpoint), entry.sha256 if entry else None


def saved_models(run_dir: Path) -> dict[str, int]:
    """The checkpoints a run keeps (best, last, as its manifest vouches for them), each with its epoch."""
    try:
        manifest = read_manifest(run_dir)
    except AnnctlError:
        return {}
    entries = {which: getattr(manifest, which, None) for which in ("best", "last")} if manifest else {}
    return {
        which: entry.epoch
        for which, entry in entries.items()
        if entry is not None and RunPaths(run_dir).checkpoint(which).is_file()
    }


def _missing_hint(run_dir: Path, checkpoint: str) -> str:
    """Why a run lacks a model, and only the --checkpoint choices it really has."""
    summary = read_summary(run_dir)
    why = f"the run is {summary.status if summary else 'unknown'}"
    if summary and summary.diverged_epoch:
        why = f"it diverged in epoch {summary.diverged_epoch}"
    others = [which for which in saved_models(run_dir) if which != checkpoint]
    if checkpoint != "final" and RunPaths(run_dir).model.is_file():
        others.insert(0, "final")
    if others:
        return f" ({why}; try --checkpoint {' or '.join(others)})"
    return f" ({why}, before it saved any model or checkpoint: there is nothing to load; train it again)"


def load_run_model(run_dir: Path, checkpoint: Checkpoint = "final"):
    """The Keras model of a run, after checking its file against the hash the run recorded."""
    path, expected = model_path(run_dir, checkpoint)
    if not path.is_file() or path.is_symlink():
        raise UsageError(f"{shown_path(path)}: no {checkpoint} model in this run{_missing_hint(run_dir, checkpoint)}")
    if expected is None:
        raise UsageError(f"{shown_path(path)}: the run records no hash for this model, so annctl will not load it")
    if sha256_file(path) != expected:
        raise UsageError(
            f"{shown_path(path)}: the file does not match the hash recorded by the run (modified or corrupted); "
            "refusing to load it"
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
        raise UsageError(f"{shown_path(path)}: cannot load the model safely: {error}") from None
