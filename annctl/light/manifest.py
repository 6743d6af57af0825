"""`light/<checkpoint>.json`: the record of a run's light model — the flatbuffer's hash, the Keras model it was
converted from, and how it was checked against that model — or why the model has none (then predict uses Keras
without trying again)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from annctl.specbase import Record


class LightCheck(Record):
    """The flatbuffer run by LiteRT on the run's validation rows, against the Keras model's predictions."""

    split: str = Field("validation", description="The rows' split.")
    rows: int = Field(..., description="Rows compared (at most the first 10,000).")
    max_abs_difference: float = Field(..., description="Largest |LiteRT − Keras| over every output value and row.")
    tolerance: float = Field(
        ..., description="Allowed |LiteRT − Keras| per value, relative above 1: tolerance × max(1, |Keras|)."
    )
    within: bool = Field(..., description="Every value within tolerance.")
    classes_agree: bool | None = Field(None, description="Classifiers: every row's class is the same.")


class LightManifest(Record):
    """`light/<checkpoint>.json`: a run's light model (a TFLite flatbuffer for the LiteRT interpreter)."""

    checkpoint: Literal["final", "best", "last"] = Field(..., description="Which of the run's models.")
    model_sha256: str = Field(..., description="SHA-256 of the Keras model it was made from, as the run recorded it.")
    available: bool = Field(..., description="Whether the light model exists and passed its check.")
    reason: str | None = Field(None, description="Why there is no light model (predict then uses Keras).")
    tflite_sha256: str | None = Field(None, description="SHA-256 of `light/<checkpoint>.tflite` (checked before use).")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="The model's input key (`` for a one-tensor model) → signature argument."
    )
    columns: list[str] = Field(default_factory=list, description="Signature arguments that take one value per row.")
    outputs: dict[str, str] = Field(default_factory=dict, description="The model's output → signature output.")
    check: LightCheck | None = Field(None, description="How the flatbuffer was checked when it was made.")
    created_at: str = Field(..., description="When it was made (UTC, ISO 8601).")
    annctl: str = Field(..., description="The annctl version that made it.")
