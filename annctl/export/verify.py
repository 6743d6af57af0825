"""Verification: run the artifact on rows of the run's test split in a second process where annctl cannot be
imported (annctl.export.standalone), and compare its outputs with annctl's own predictions on the same rows.

The rows are loaded and fed by annctl here, as `annctl evaluate` and training's test metrics do
(``spec.dataset.load(seed).test``, each batch through the architecture's ``feed``); the artifact gets the same
inputs under its own names. A value passes when |artifact − annctl| ≤ tolerance × max(1, |annctl|).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annctl.errors import AnnctlError, DataError
from annctl.export.manifest import Metric, TensorInfo, Verification
from annctl.export.signature import SignatureInput, SignatureOutput

ROW_LIMIT = 10_000  # the test split's first rows compared (all of every shipped experiment's)
BATCH_SIZE = 1024
TIMEOUT_SECONDS = 900  # loading TensorFlow and the artifact, and running ROW_LIMIT rows, takes seconds to a minute
SINGLE = "__single__"  # the key of a model's one input or output in the second process


@dataclass
class TestRows:
    """Rows of the test split: as the model takes them, annctl's outputs on them, and their labels."""

    model_input: Any  # an array, or a dict of arrays (text as str), all rows
    reference: dict[str, Any]  # annctl's outputs by model output name, main first
    labels: Any

    @property
    def count(self) -> int:
        return len(next(iter(self.reference.values())))


def test_rows(spec, description, model) -> TestRows:
    """The first ROW_LIMIT rows of the run's test split, and annctl's predictions on them."""
    try:
        split = spec.dataset.load(spec.seed).test
    except DataError as error:
        raise DataError(f"an export is verified on the run's test split, which cannot be loaded: {error}") from None
    rows = split_rows(split, spec, description, model)
    if rows is None:
        raise AnnctlError("the run's test split is empty: there is nothing to verify an export on")
    return rows


def split_rows(split, spec, description, model) -> TestRows | None:
    """The first ROW_LIMIT rows of ``split`` as the model takes them (each batch through the architecture's
    ``feed``), ``model``'s outputs on them and their labels; None when the split has no rows. Export's
    verification and the light engine's check (annctl.light.convert) both compare on these."""
    import numpy as np
    import tensorflow as tf

    from annctl.training.inference import predict_batches

    # full float32 on GPUs too (TensorFloat-32 matrix products keep ~3 digits): the artifact or the light
    # model it is compared with runs on the CPU, in float32
    tf.config.experimental.enable_tensor_float_32_execution(False)
    batches, count = [], 0
    for x in split.x_batches(BATCH_SIZE):
        fed = spec.model.feed(x, description)
        batches.append(fed)
        count += len(next(iter(fed.values()))) if isinstance(fed, dict) else len(fed)
        if count >= ROW_LIMIT:
            break
    if not batches:
        return None
    reference = predict_batches(model, iter(batches), all_outputs=True)
    rows = min(count, ROW_LIMIT)
    model_input: Any
    if isinstance(batches[0], dict):
        model_input = {key: _numpy(np.concatenate([_numpy(b[key]) for b in batches]))[:rows] for key in batches[0]}
    else:
        model_input = np.concatenate([_numpy(b) for b in batches])[:rows]
    return TestRows(
        model_input,
        {name: value[:rows] for name, value in reference.items()},
        np.asarray(split.labels())[:rows],
    )


def differences(pairs: list[tuple[Any, Any]], tolerance: float) -> tuple[float, bool]:
    """Over ``pairs`` of (annctl's output, the other's): the largest |other − annctl|, and whether every value is
    within tolerance × max(1, |annctl|). NaN on both sides is agreement; NaN on one side only, an infinite
    difference."""
    import numpy as np

    worst, within = 0.0, True
    for expected, actual in pairs:
        expected = np.asarray(expected, dtype="float64")
        actual = np.asarray(actual, dtype="float64").reshape(expected.shape)
        nan_actual, nan_expected = np.isnan(actual), np.isnan(expected)
        difference = np.where(nan_actual | nan_expected, 0.0, np.abs(actual - expected))
        difference = np.where(nan_actual != nan_expected, np.inf, difference)
        worst = max(worst, float(difference.max(initial=0.0)))
        within &= bool(np.all(difference <= tolerance * np.maximum(1.0, np.abs(np.nan_to_num(expected)))))
    return worst, within


def _numpy(value):
    """A batch as NumPy, text as Unicode strings (``np.savez`` stores those without pickling)."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind in "OS":
        array = np.char.decode(array.astype(bytes), "utf-8")
    return array


def artifact_inputs(fmt: str, rows: TestRows, inputs: list[SignatureInput]) -> dict[str, Any]:
    """The rows as the artifact takes them: by signature argument (savedmodel, tflite), or as the Keras model's
    own inputs (keras)."""
    if fmt == "keras":
        return dict(rows.model_input) if isinstance(rows.model_input, dict) else {SINGLE: rows.model_input}
    arrays = {}
    for item in inputs:
        value = rows.model_input[item.key] if item.key is not None else rows.model_input
        arrays[item.argument] = value.reshape(-1) if item.column else value
    return arrays


def run_without_annctl(fmt: str, artifact: Path, arrays: dict[str, Any], work: Path) -> tuple[dict, dict]:
    """``(outputs, report)`` of the artifact run in a separate `python -I` process without annctl."""
    import numpy as np

    import annctl

    names = list(arrays)
    np.savez(work / "inputs.npz", **{f"input_{i}": arrays[name] for i, name in enumerate(names)})
    job = {
        "format": fmt,
        "artifact": str(artifact),
        "inputs": str(work / "inputs.npz"),
        "input_names": names,
        "outputs": str(work / "outputs.npz"),
        "report": str(work / "report.json"),
        "project_root": str(Path(annctl.__file__).resolve().parent.parent),
        "batch_size": BATCH_SIZE,
    }
    (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
    source = (Path(__file__).parent / "standalone.py").read_text(encoding="utf-8")
    # the CPU only: reproducible float32, and no second claim on a GPU whose memory this process holds
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", source, str(work / "job.json")],
            capture_output=True,
            text=True,
            env=environment,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AnnctlError(f"verification: the artifact did not finish in {TIMEOUT_SECONDS} s without annctl") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise AnnctlError(
            f"verification: the artifact failed to load or run where annctl is not installed: "
            f"{lines[-1] if lines else f'exit status {result.returncode}'}"
        )
    with np.load(work / "outputs.npz", allow_pickle=False) as archive:
        outputs = {name: archive[name] for name in archive.files}
    return outputs, json.loads((work / "report.json").read_text(encoding="utf-8"))


def compare(
    fmt: str,
    description,
    rows: TestRows,
    produced: dict[str, Any],
    outputs: list[SignatureOutput],
    report: dict,
    tolerance: float,
) -> tuple[Verification, list[TensorInfo]]:
    """The verification record, and the artifact's outputs as the manifest lists them."""
    import numpy as np

    from annctl.training.inference import predicted_classes

    if fmt == "keras":
        main = description.outputs[0]
        pairs = [(name, SINGLE if name == main and SINGLE in produced else name) for name in rows.reference]
        class_checks = []
        listed = [_info(name if name != SINGLE else main, produced[name]) for name in produced]
    else:
        pairs = [(o.model_output, o.name) for o in outputs if not o.classes]
        class_checks = [o for o in outputs if o.classes]
        listed = [_info(o.name, produced[o.name]) for o in outputs]
    missing = [name for _, name in pairs if name not in produced]
    if missing:
        raise AnnctlError(f"verification: the artifact gave no output {', '.join(missing)}")
    worst, within = differences([(rows.reference[reference], produced[name]) for reference, name in pairs], tolerance)
    agree = None
    names = np.asarray(description.class_names or [])
    for output in class_checks:
        own = names[predicted_classes(produced[_values_of(output, outputs)], description.decision)]
        within &= bool(np.array_equal(produced[output.name], own))  # the class follows from its own output
        annctl = names[predicted_classes(rows.reference[output.model_output], description.decision)]
        share = float(np.mean(produced[output.name] == annctl))
        agree = share if agree is None else min(agree, share)
    main_name = dict(pairs)[description.outputs[0]] if description.outputs[0] in dict(pairs) else pairs[0][1]
    verification = Verification(
        passed=within and not report["annctl_importable"] and not report["annctl_loaded"],
        rows=rows.count,
        max_abs_difference=worst,
        tolerance=tolerance,
        classes_agree=agree,
        metric=_metric(description, rows, produced[main_name]),
        loader=report["loader"],
        annctl_importable=report["annctl_importable"] or report["annctl_loaded"],
        tensorflow=report.get("tensorflow"),
    )
    return verification, listed


def _values_of(class_output: SignatureOutput, outputs: list[SignatureOutput]) -> str:
    return next(o.name for o in outputs if o.model_output == class_output.model_output and not o.classes)


def _info(name: str, array) -> TensorInfo:
    dtype = "string" if array.dtype.kind in "OSU" else str(array.dtype)
    return TensorInfo(name=name, dtype=dtype, shape=[None, *array.shape[1:]])


def _metric(description, rows: TestRows, produced) -> Metric:
    from annctl.training.inference import classification_metrics, regression_metrics

    main = rows.reference[description.outputs[0]]
    if description.task == "classification":
        names = description.class_names or []
        score = lambda outputs: classification_metrics(rows.labels, outputs, names, description.decision)["accuracy"]  # noqa: E731
        name = "accuracy"
    else:
        score = lambda outputs: regression_metrics(rows.labels, outputs)["rmse"]  # noqa: E731
        name = "rmse"
    before, after = score(main), score(produced.reshape(main.shape))
    return Metric(name=name, annctl=before, export=after, change=after - before)
