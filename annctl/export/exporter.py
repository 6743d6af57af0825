"""`annctl export RUN`: load the run's model (hash-checked, safe mode), refuse early what the format cannot
hold, write the artifact in a scratch folder beside its destination, verify it without annctl, and only then
move it into place with its manifest. A refusal or a failed verification leaves nothing behind; the run's own
files are never changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from annctl import __version__
from annctl.errors import AnnctlError, UsageError
from annctl.export.manifest import ExportManifest, Source, TensorInfo
from annctl.fileio import atomic_write_json, quiet_stderr, refuse_symlinks, sha256_file
from annctl.modelio import Checkpoint, load_run_model, model_path

FORMATS = ("savedmodel", "tflite", "keras")
QUANTIZE = ("float16", "dynamic")
MANIFEST_IN_FOLDER = "export.json"  # a SavedModel's manifest, inside it (TensorFlow ignores other files)


def default_target(run_dir: Path, fmt: str, checkpoint: str, quantize: str | None) -> Path:
    """RUN/export/savedmodel, RUN/export/model.tflite (model-float16.tflite), RUN/export/model.keras; a
    best or last checkpoint's name starts with `best-` or `last-`."""
    from annctl.rundir import RunPaths

    name = {"savedmodel": "savedmodel", "tflite": "model.tflite", "keras": "model.keras"}[fmt]
    if quantize:
        name = f"model-{quantize}.tflite"
    if checkpoint != "final":
        name = f"{checkpoint}-{name}"
    return RunPaths(run_dir).export / name


def manifest_path(target: Path, fmt: str) -> Path:
    """Where an export's manifest goes: inside a SavedModel, beside a file (`model.tflite.json`)."""
    return target / MANIFEST_IN_FOLDER if fmt == "savedmodel" else target.with_name(target.name + ".json")


def check_target(target: Path, fmt: str) -> None:
    """A destination export may write: a SavedModel replaces only an earlier export (never a folder of other
    files); a file must not be a folder; a Keras file must end in `.keras` (Keras refuses other names)."""
    refuse_symlinks(target)
    if fmt == "savedmodel":
        if target.is_file():
            raise UsageError(f"-o {target}: is a file; a SavedModel is a folder")
        if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST_IN_FOLDER).is_file():
            raise UsageError(
                f"-o {target}: the folder exists and is not an earlier export; choose another path or remove it"
            )
        return
    if target.is_dir():
        raise UsageError(f"-o {target}: is a folder; give the {fmt} file's path")
    if fmt == "keras" and target.suffix != ".keras":
        raise UsageError(f"-o {target}: a Keras file must end in .keras (Keras refuses other names)")


def export_run(
    run_dir: Path,
    fmt: str = "savedmodel",
    output: Path | None = None,
    checkpoint: Checkpoint = "final",
    quantize: str | None = None,
) -> ExportManifest:
    """Export, verify and publish; the manifest written beside the artifact."""
    from annctl.config import load_spec
    from annctl.export import signature, tflite, verify
    from annctl.rundir import RunPaths, read_data_info

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: use {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE:
        raise UsageError(f"--quantize {quantize}: use {' or '.join(QUANTIZE)}")
    if quantize is not None and fmt != "tflite":
        raise UsageError(f"--quantize applies to --format tflite, not {fmt}")
    target = Path(output) if output is not None else default_target(run_dir, fmt, checkpoint, quantize)
    check_target(target, fmt)
    description = read_data_info(run_dir)
    spec = load_spec(RunPaths(run_dir).spec)
    model = load_run_model(run_dir, checkpoint)
    _, model_sha256 = model_path(run_dir, checkpoint)
    notes: list[str] = []
    artifact_model: Any = model
    compiled = None
    if fmt == "tflite":
        artifact_model = tflite.builtin_filling(model)  # a text column's gaps filled by built-in operators
        tflite.check_convertible(artifact_model)  # before anything is written
        if quantize == "float16":
            artifact_model = tflite.float16_ready(artifact_model, spec, description)
            notes.append("standardisation computed as x·(1/std) − mean/std (closer to annctl's in 16 bits)")
    if fmt == "keras":
        from annctl.export.keras_file import builtin_model

        artifact_model, notes = builtin_model(model, spec, description)
        compiled = artifact_model.compiled
    rows = verify.test_rows(spec, description, model)
    inputs = signature.signature_inputs(description, rows.model_input)
    outputs = signature.signature_outputs(description)
    tolerance = tflite.TOLERANCE[quantize]
    if tflite.half_precision(model):
        tolerance = max(tolerance, tflite.MIXED_PRECISION_TOLERANCE)
        notes.append(f"computes in 16-bit floats (mixed precision): compared with annctl's to {tolerance:g}")
    with scratch_folder(target) as work:
        artifact = work / ("artifact" if fmt == "savedmodel" else f"artifact{target.suffix or '.' + fmt}")
        with quiet_stderr():
            write_artifact(fmt, artifact, artifact_model, description, inputs, outputs, quantize)
        produced, report = verify.run_without_annctl(
            fmt, artifact, verify.artifact_inputs(fmt, rows, inputs), work / "verify"
        )
        verification, listed = verify.compare(fmt, description, rows, produced, outputs, report, tolerance)
        manifest = ExportManifest(
            format=fmt,
            path=str(target),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            annctl=__version__,
            source=Source(
                run_dir=str(run_dir),
                name=spec.name,
                architecture=spec.model.architecture,
                dataset=spec.dataset.name,
                checkpoint=checkpoint,
                model_sha256=model_sha256 or "",
            ),
            quantize=quantize,
            signature=None if fmt == "keras" else signature.SIGNATURE,
            inputs=_listed_inputs(fmt, inputs, artifact_model),
            signature_inputs={} if fmt == "keras" else {item.name: item.argument for item in inputs},
            features=[feature.name for feature in description.features],
            outputs=listed,
            task=description.task,
            class_names=description.class_names,
            decision=description.decision,
            compiled=compiled,
            notes=notes,
            artifact_sha256=None if fmt == "savedmodel" else sha256_file(artifact),
            verification=verification,
        )
        if not verification.passed:
            raise AnnctlError(_failure(verification))
        publish(artifact, target, fmt, manifest, work)
    return manifest


def write_artifact(fmt: str, artifact: Path, model, description, inputs, outputs, quantize: str | None) -> None:
    """The SavedModel, the `.tflite` file (converted from a SavedModel beside it) or the `.keras` file."""
    from annctl.export import signature, tflite

    if fmt == "keras":
        model.save(artifact)
        return
    savedmodel = artifact if fmt == "savedmodel" else artifact.with_name("savedmodel")
    if fmt == "tflite":
        with tflite.unrolled(model):  # recurrent layers without TensorList loops (built-in operators only)
            signature.write_savedmodel(model, description, savedmodel, inputs, outputs)
    else:
        signature.write_savedmodel(model, description, savedmodel, inputs, outputs)
    if fmt == "tflite":
        artifact.write_bytes(tflite.convert(savedmodel, signature.SIGNATURE, quantize))


def _listed_inputs(fmt: str, inputs, model) -> list[TensorInfo]:
    if fmt != "keras":
        return [TensorInfo(name=item.argument, dtype=item.dtype, shape=list(item.shape)) for item in inputs]
    return [
        TensorInfo(name=tensor.name, dtype=str(tensor.dtype), shape=list(tensor.shape))
        for tensor in model.inputs  # the Keras model's own inputs, by its input names
    ]


def _failure(verification) -> str:
    if verification.annctl_importable:
        return "verification: annctl was importable in the verifying process, so the check proves nothing"
    return (
        f"verification failed: the export's outputs differ from annctl's by up to "
        f"{verification.max_abs_difference:.3g} on {verification.rows} test rows "
        f"(tolerance {verification.tolerance:g}); nothing was written"
    )


@contextlib.contextmanager
def scratch_folder(target: Path) -> Iterator[Path]:
    """A hidden folder beside ``target`` (same file system, so publishing is a rename), removed afterwards
    (with the folder it was made in, when this made that folder and the export failed)."""
    made = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    (work / "verify").mkdir()
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for folder in made:  # innermost first; each only if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def publish(artifact: Path, target: Path, fmt: str, manifest: ExportManifest, work: Path) -> None:
    """Move the verified artifact to ``target`` and write its manifest (last, as checkpoints' manifests are)."""
    if fmt == "savedmodel":
        atomic_write_json(artifact / MANIFEST_IN_FOLDER, manifest.model_dump(mode="json"))
        if target.exists():  # an earlier export: moved aside, then removed with the scratch folder
            os.replace(target, work / "previous")
        os.replace(artifact, target)
        return
    with open(artifact, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(artifact, target)
    atomic_write_json(manifest_path(target, fmt), manifest.model_dump(mode="json"))
