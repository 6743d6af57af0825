"""What `annctl train --resume RUN` checks and finds before it continues a run.

The run's spec must be the one it started with (the manifest keeps a copy); the checkpoint it continues from
is found by its SHA-256 in the manifest, so a truncated or bit-flipped file is never loaded: the resume falls
back to the previous intact checkpoint with a warning, or stops with a clear error. Never from scratch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annctl.errors import AnnctlError, SpecError, UsageError
from annctl.fileio import sha256_file
from annctl.records import CheckpointEntry, Manifest
from annctl.rundir import RunPaths, read_manifest
from annctl.spec import ExperimentSpec


@dataclass
class ResumePoint:
    """Where a resumed run continues: the intact checkpoint, its manifest entry, the metrics rows up to it."""

    checkpoint: Path
    entry: CheckpointEntry
    manifest: Manifest
    rows: list[dict[str, Any]]
    best_weights_file: Path | None = None


def resumable_manifest(run_dir: Path) -> Manifest:
    """The run's checkpoint manifest, which must name at least one checkpointed epoch."""
    try:
        manifest = read_manifest(run_dir)
    except AnnctlError as error:
        raise AnnctlError(f"{error}; cannot resume") from None
    if manifest is None or manifest.last is None:
        raise UsageError(
            f"{run_dir}: no epoch was completed and checkpointed before it stopped; nothing to resume "
            "(train the experiment again)"
        )
    return manifest


def changed_fields(before: dict, after: dict) -> list[str]:
    from annctl.runs import flatten

    old, new = flatten(before), flatten(after)
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def load_run_spec(run_dir: Path, experiment: ExperimentSpec | None, source: str) -> tuple[ExperimentSpec, Manifest]:
    """The run's spec, refused when it differs from the one the run started with (or from ``experiment``)."""
    from annctl.config import load_spec

    manifest = resumable_manifest(run_dir)
    paths = RunPaths(run_dir)
    try:
        spec = load_spec(paths.spec)
    except SpecError as error:
        raise UsageError(f"{paths.spec} no longer validates: {error.problems[0]}") from None
    recorded = manifest.spec or None
    if recorded is not None:
        edited = changed_fields(recorded, spec.model_dump(mode="json"))
        if edited:
            raise UsageError(
                f"{paths.spec} was edited since the run started (changed: {', '.join(edited)}); a "
                "resume continues the same experiment — restore the file, or train the edited spec as a new run"
            )
    if experiment is not None:
        differs = [
            field
            for field in changed_fields(spec.model_dump(mode="json"), experiment.model_dump(mode="json"))
            if not _defaulted(field, experiment, spec)
        ]
        if differs:
            raise UsageError(
                f"{source} differs from the run's spec (changed: {', '.join(differs)}); resume continues the run "
                "as it started: drop the file argument, or train the edited experiment as a new run"
            )
    return spec, manifest


def _defaulted(field: str, experiment: ExperimentSpec, spec: ExperimentSpec) -> bool:
    """Fields filled in when the run started are not edits when the experiment file gives them as it did:
    loss, metrics and monitor left out (filled from the data), and an `init_from` name prefix the run pinned
    to the run directory it resolved to."""
    if field == "model.init_from":
        given, pinned = experiment.model.init_from, spec.model.init_from
        if not (given and pinned):
            return False
        return given == pinned or Path(pinned).name.startswith(Path(given).name)
    filled = ("training.loss", "training.metrics", "output.checkpoint_monitor")
    if not field.startswith(filled):
        return False
    node: Any = experiment.model_dump(mode="json")
    for part in field.split(".")[:2]:
        node = node.get(part) if isinstance(node, dict) else None
    return node is None


def find_resume_point(run_dir: Path, manifest: Manifest, spec: ExperimentSpec) -> ResumePoint:
    """The newest checkpoint whose file matches its recorded hash, with the metrics rows up to it."""
    from annctl.plots import read_metrics

    paths = RunPaths(run_dir)
    hashes = {}
    for which in ("last", "previous"):
        path = paths.checkpoint(which)
        if path.is_file() and not path.is_symlink():
            hashes[sha256_file(path)] = path
    chosen = None
    for key in ("last", "previous"):
        entry = getattr(manifest, key)
        if entry and entry.sha256 in hashes:
            chosen = (key, entry, hashes[entry.sha256])
            break
    newest = manifest.last.epoch if manifest.last else 0
    if chosen is None:
        raise AnnctlError(
            f"{paths.checkpoints}: no intact checkpoint (last.keras and previous.keras do not match the hashes in "
            "manifest.json: truncated or corrupted); cannot resume — train the experiment again"
        )
    key, entry, path = chosen
    if key != "last":
        print(
            f"warning: the checkpoint of epoch {newest} is missing or corrupted (hash mismatch); "
            f"resuming from the previous one, epoch {entry.epoch}",
            file=sys.stderr,
        )
    if not entry.state:
        print("warning: this checkpoint predates resumable state; callbacks and dropout restart", file=sys.stderr)
    continued = manifest.model_copy(update={"previous": None, "last": entry})
    rows = [{**row, "epoch": int(row["epoch"])} for row in read_metrics(run_dir) if row["epoch"] <= entry.epoch]
    return ResumePoint(path, entry, continued, rows, _best_weights_file(run_dir, manifest, entry, spec))


def _best_weights_file(run_dir: Path, manifest: Manifest, entry: CheckpointEntry, spec: ExperimentSpec) -> Path | None:
    """best.keras when it holds the weights early stopping will restore (same monitor: the usual case)."""
    stopping = spec.training.early_stopping
    saved = ((entry.state or {}).get("callbacks") or {}).get("early_stopping")
    if not stopping or not stopping.restore_best_weights or not saved or saved.get("best_epoch") is None:
        return None
    best = manifest.best
    path = RunPaths(run_dir).checkpoint("best")
    if best and best.epoch == saved["best_epoch"] + 1 and path.is_file() and sha256_file(path) == best.sha256:
        return path
    print(
        f"warning: early stopping's best weights (epoch {saved['best_epoch'] + 1}) are not in best.keras; they "
        "will be restored only if a later epoch improves on them",
        file=sys.stderr,
    )
    return None
