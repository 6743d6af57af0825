"""The manifest written beside every export (`export.json` in a SavedModel, `FILE.json` beside a file): what
the artifact takes and gives, where it came from, and how it was checked. Read by people and scripts; no
annctl code needs it to use the artifact."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from annctl.specbase import Record

Format = Literal["savedmodel", "tflite", "keras"]
Quantize = Literal["float16", "dynamic"]


class TensorInfo(Record):
    """One input or output of the artifact."""

    name: str = Field(..., description="Its name in the signature (SavedModel, TFLite) or the Keras model.")
    dtype: str = Field(..., description="float32, uint8, string, ...")
    shape: list[int | None] = Field(..., description="Its shape; null for the batch axis.")


class Source(Record):
    """The run the artifact was made from."""

    run_dir: str = Field(..., description="The run directory.")
    name: str = Field(..., description="The experiment's name.")
    architecture: str = Field(..., description="model.architecture.")
    dataset: str = Field(..., description="dataset.name.")
    checkpoint: Literal["final", "best", "last"] = Field(..., description="Which of the run's models.")
    model_sha256: str = Field(..., description="SHA-256 of the run's model file (checked before loading it).")


class Metric(Record):
    """The main test metric of the run's model and of the artifact on the same rows."""

    name: str = Field(..., description="accuracy (classification) or rmse (regression).")
    annctl: float | None = Field(..., description="annctl's model.")
    export: float | None = Field(..., description="The artifact.")
    change: float | None = Field(..., description="export − annctl.")


class Verification(Record):
    """The artifact run on rows of the run's test split in a separate process where annctl cannot be imported."""

    passed: bool = Field(..., description="Every output within tolerance of annctl's own predictions.")
    split: str = Field("test", description="The rows' split.")
    rows: int = Field(..., description="Rows compared (the test split, at most the first 10,000).")
    max_abs_difference: float | None = Field(
        ..., description="Largest |artifact − annctl| over every numeric output and row."
    )
    tolerance: float = Field(
        ..., description="Allowed |artifact − annctl| per value, relative above 1: tolerance × max(1, |annctl|)."
    )
    classes_agree: float | None = Field(None, description="Classifiers: share of rows whose class name agrees.")
    metric: Metric | None = Field(None, description="The main test metric, annctl's model against the artifact.")
    loader: str = Field(..., description="What loaded the artifact (tf.saved_model.load, keras, a TFLite interpreter).")
    annctl_importable: bool = Field(..., description="Whether `import annctl` worked in that process (it must not).")
    tensorflow: str | None = Field(None, description="TensorFlow's version in that process.")


class ExportManifest(Record):
    """`export.json`: an export's manifest (inside a SavedModel; beside a file as `FILE.json`)."""

    format: Format = Field(..., description="savedmodel, tflite or keras.")
    path: str = Field(..., description="The artifact (a folder for savedmodel, a file otherwise).")
    created_at: str = Field(..., description="UTC, ISO 8601.")
    annctl: str = Field(..., description="The annctl version that wrote it.")
    source: Source
    quantize: Quantize | None = Field(None, description="TFLite quantisation: float16, dynamic, or none.")
    signature: str | None = Field(None, description="The serving signature's key (savedmodel, tflite).")
    inputs: list[TensorInfo] = Field(..., description="What the artifact takes, one entry per named input.")
    signature_inputs: dict[str, str] = Field(
        default_factory=dict,
        description="Each input as the user knows it (a CSV column, `features`, `wide`) → its argument name.",
    )
    features: list[str] = Field(default_factory=list, description="Tabular: the feature names, in column order.")
    outputs: list[TensorInfo] = Field(..., description="What it gives, main output first.")
    task: str = Field(..., description="classification or regression.")
    class_names: list[str] | None = Field(None, description="Classification: the classes, in the outputs' order.")
    decision: str = Field(..., description="probability (0.5 / argmax) or score (0 / argmax): how a class follows.")
    compiled: bool | None = Field(None, description="keras: whether the file carries a loss and optimizer to train on.")
    notes: list[str] = Field(default_factory=list, description="Differences from annctl's model a user should know.")
    artifact_sha256: str | None = Field(None, description="SHA-256 of the artifact file (tflite, keras).")
    verification: Verification


def summary_lines(manifest: ExportManifest) -> list[str]:
    """What `annctl export` tells a person (stderr): the artifact's inputs and outputs, and how it was checked."""

    def tensors(items: list[TensorInfo]) -> str:
        return ", ".join(
            f"{t.name} {t.dtype} [{', '.join('None' if d is None else str(d) for d in t.shape)}]" for t in items
        )

    check = manifest.verification
    source = manifest.source
    kind = manifest.format + (f" ({manifest.quantize} quantised)" if manifest.quantize else "")
    lines = [
        f"{kind} of {source.name} ({source.checkpoint} model) → {manifest.path}",
        f"  inputs:  {tensors(manifest.inputs)}",
        f"  outputs: {tensors(manifest.outputs)}",
        f"  verified without annctl ({check.loader}, TensorFlow {check.tensorflow}): {check.rows} test rows, "
        f"max |difference| {check.max_abs_difference:.2g} (tolerance {check.tolerance:g})",
    ]
    if check.metric is not None and check.metric.annctl is not None and check.metric.export is not None:
        metric = check.metric
        lines.append(
            f"  test {metric.name}: annctl {metric.annctl:.4f}, export {metric.export:.4f} "
            f"(change {metric.change:+.4f})"
        )
    lines += [f"  note: {note}" for note in manifest.notes]
    return lines
