"""Shared pieces of the experiment spec: the strict pydantic base and the names of tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Task = Literal["classification", "regression"]


class StrictModel(BaseModel):
    """Every spec section rejects unknown keys, so a typo is an error, not a silent default, and converts no
    value between strings, numbers and booleans (pydantic's strict mode): `yes`, `"off"`, `0` are not
    booleans and `"3"` is not a number. An integer is still a valid float (`learning_rate: 1`)."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Record(BaseModel):
    """A file annctl writes and reads back (summary.json, dataset.json, ...): typed, and tolerant of keys a
    newer annctl may add."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


def first_line(text: str | None) -> str:
    """The first line of a docstring: a registry entry's one-line description."""
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""
