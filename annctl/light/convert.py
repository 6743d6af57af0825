"""Make a run's light model (TensorFlow side, once per model): the Keras model's serving signature converted to
a TFLite flatbuffer with built-in operators only, run by LiteRT on the run's validation rows and compared with
the Keras model's own predictions there, then stored in `light/` with its hash in `light/<checkpoint>.json`.

A model that cannot be converted, or whose flatbuffer disagrees with Keras, gets a manifest that says why and
no flatbuffer: predict then uses Keras (and says so) without trying again until the model changes.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from annctl import __version__
from annctl.errors import AnnctlError
from annctl.fileio import atomic_path, atomic_write_json, sha256_file
from annctl.light.manifest import LightCheck, LightManifest
from annctl.light.runtime import ONE_TENSOR, LightModel
from annctl.modelio import Checkpoint, load_run_model, model_path
from annctl.rundir import RunPaths

if TYPE_CHECKING:
    from annctl.export.verify import TestRows

# |LiteRT − Keras| allowed per output value, relative above 1 (as `annctl export` measures), by task. float32
# computed in another order differs by a few units in the last place: ~1e-7 on a probability. A regression
# value can be a small difference of large terms (Wide & Deep adds its two paths): measured 1.2e-6 on a
# prediction of 0.116 from terms near 4 (2.5 units in their last place), so values get `annctl export`'s 1e-5.
TOLERANCE = {"classification": 1e-6, "regression": 1e-5}
BATCH_SIZE = 1024


def make_light_model(run_dir: Path, checkpoint: Checkpoint) -> tuple[LightManifest, bytes | None]:
    """Convert, check and store ``checkpoint``'s light model; ``(manifest, flatbuffer)``, the flatbuffer
    None when the model has none (the manifest's ``reason`` says why). Imports TensorFlow."""
    from annctl.config import load_spec
    from annctl.rundir import read_data_info

    paths = RunPaths(run_dir)
    description = read_data_info(run_dir)
    spec = load_spec(paths.spec)
    _, model_sha256 = model_path(run_dir, checkpoint)
    model = load_run_model(run_dir, checkpoint)  # hash-checked, safe mode
    stamp = {
        "checkpoint": checkpoint,
        "model_sha256": model_sha256 or "",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "annctl": __version__,
    }
    try:
        content, manifest = _converted(model, spec, description, stamp)
    except _NoLightModel as refusal:
        reason = f"this model has no TFLite form for LiteRT: {refusal}"
        manifest, content = LightManifest(**stamp, available=False, reason=reason), None
    try:
        if content is not None:
            with atomic_path(paths.light_model(checkpoint)) as tmp:
                tmp.write_bytes(content)
            manifest.tflite_sha256 = sha256_file(paths.light_model(checkpoint))
        else:
            paths.light_model(checkpoint).unlink(missing_ok=True)
        atomic_write_json(paths.light_manifest(checkpoint), manifest.model_dump(mode="json"))  # last
    except OSError as error:  # a read-only run: Keras predicts (each call converts and checks again)
        reason = f"its light model cannot be stored in {paths.light} ({error.strerror or error})"
        return LightManifest(**stamp, available=False, reason=reason), None
    return manifest, content


class _NoLightModel(Exception):
    """This model has no light model; the message says why (it goes in the manifest and on stderr)."""


def _converted(model, spec, description, stamp: dict) -> tuple[bytes, LightManifest]:
    from annctl.export import signature, tflite
    from annctl.fileio import quiet_stderr

    rows = _validation_rows(model, spec, description)  # the run's own model's answers
    model = tflite.builtin_filling(model)
    found = tflite.refusals(model)
    if found:
        raise _NoLightModel("; ".join(found))
    inputs = signature.signature_inputs(description, rows.model_input)
    outputs = [output for output in signature.signature_outputs(description) if not output.classes]
    with tempfile.TemporaryDirectory(prefix="annctl-light-") as scratch:
        savedmodel = Path(scratch) / "savedmodel"
        try:
            with quiet_stderr(), tflite.unrolled(model):
                signature.write_savedmodel(model, description, savedmodel, inputs, outputs)
                content = tflite.convert(savedmodel, signature.SIGNATURE, None)
        except AnnctlError as error:  # the converter's refusal, already one line
            raise _NoLightModel(str(error).removeprefix("--format tflite: ").split(". Export")[0]) from None
    manifest = LightManifest(
        **stamp,
        available=True,
        inputs={item.key if item.key is not None else ONE_TENSOR: item.argument for item in inputs},
        columns=[item.argument for item in inputs if item.column],
        outputs={output.model_output: output.name for output in outputs},
    )
    produced = LightModel(content, manifest).predict(rows.model_input, BATCH_SIZE)
    manifest.check = _compare(rows, produced, description)
    if not manifest.check.within or manifest.check.classes_agree is False:
        raise _NoLightModel(
            f"its TFLite model differs from the Keras model on the validation rows (by up to "
            f"{manifest.check.max_abs_difference:.3g}; tolerance {manifest.check.tolerance:g}"
            + (", and some classes differ)" if manifest.check.classes_agree is False else ")")
        )
    return content, manifest


def _validation_rows(model, spec, description) -> TestRows:
    """The first rows of the validation split (the test split when there is none; at most export's
    ROW_LIMIT), as the model takes them, and the Keras model's outputs on them."""
    from annctl.export.verify import split_rows

    try:
        data = spec.dataset.load(spec.seed)
    except AnnctlError as error:
        raise _NoLightModel(f"the run's data, needed to check its TFLite model, cannot be loaded: {error}") from None
    split = data.validation if data.validation is not None and data.validation.size else data.test
    rows = split_rows(split, spec, description, model)
    if rows is None:
        raise _NoLightModel("the run has no validation or test rows to check a TFLite model on")
    return rows


def _compare(rows: TestRows, produced: dict, description) -> LightCheck:
    import numpy as np

    from annctl.export.verify import differences
    from annctl.training.inference import predicted_classes

    reference = rows.reference
    # a one-output model's Keras output is unnamed (`output`); several outputs are named alike on both sides
    pairs = (
        list(zip(reference.values(), produced.values()))
        if len(reference) == 1
        else [(reference[name], produced[name]) for name in reference]
    )
    tolerance = TOLERANCE[description.task]
    worst, within = differences(pairs, tolerance)
    agree = None
    if description.class_names:
        decision = description.decision
        agree = all(
            np.array_equal(predicted_classes(expected, decision), predicted_classes(actual, decision))
            for expected, actual in pairs
        )
    return LightCheck(
        rows=rows.count, max_abs_difference=worst, tolerance=tolerance, classes_agree=agree, within=within
    )
