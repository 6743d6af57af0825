"""The `search:` section of an experiment: what to vary, what to optimise. Pure pydantic, no Optuna.

Each parameter is keyed by a dotted spec path (``training.learning_rate``). A trial's spec is the experiment
with the sampled values set at those paths and the `search` section removed, validated like a file.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from annctl.specbase import StrictModel

PATH_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
NOT_SEARCHABLE = ("name", "search", "tracking")


class FloatParam(StrictModel):
    """A real number between low and high (log: uniform in log space, as for learning rates)."""

    type: Literal["float"] = "float"
    low: float = Field(..., ge=-1e12, le=1e12, description="Smallest value.")
    high: float = Field(..., ge=-1e12, le=1e12, description="Largest value.")
    log: bool = Field(False, description="Sample uniformly in log space (needs low > 0).")
    step: float | None = Field(None, gt=0, le=1e12, description="Sample on a grid low, low+step, ... (not with log).")

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_bounds(self.low, self.high, self.log, self.step)
        return self

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


class IntParam(StrictModel):
    """An integer between low and high inclusive (log: uniform in log space, as for batch sizes)."""

    type: Literal["int"] = "int"
    low: int = Field(..., ge=-(10**9), le=10**9, description="Smallest value.")
    high: int = Field(..., ge=-(10**9), le=10**9, description="Largest value.")
    log: bool = Field(False, description="Sample uniformly in log space (needs low ≥ 1).")
    step: int = Field(1, ge=1, le=10**9, description="Sample low, low+step, ... (must be 1 with log).")

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_bounds(self.low, self.high, self.log, None if self.step == 1 else self.step)
        return self

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


class ChoiceParam(StrictModel):
    """One of the listed values, each equally likely; values may be lists, e.g. hidden_units [[30], [30, 30]]."""

    type: Literal["choice"] = "choice"
    values: list[Any] = Field(..., min_length=1, max_length=1000, description="The values to choose from.")

    @model_validator(mode="after")
    def _check(self) -> ChoiceParam:
        keys = [json.dumps(value, sort_keys=True) for value in self.values]
        if len(set(keys)) != len(keys):
            raise ValueError("values: listed twice: " + ", ".join(sorted({k for k in keys if keys.count(k) > 1})))
        return self

    def extremes(self) -> list[Any]:
        return list(self.values)


def _check_bounds(low: float, high: float, log: bool, step: float | None) -> None:
    if low > high:
        raise ValueError(f"low ({low}) is greater than high ({high})")
    if log and low <= 0:
        raise ValueError(f"log: a log scale needs low > 0, got low = {low}")
    if log and step is not None:
        raise ValueError("step: cannot be combined with log")


Param = Annotated[Union[FloatParam, IntParam, ChoiceParam], Field(discriminator="type")]  # noqa: UP007


class SearchSpec(StrictModel):
    """Randomized hyperparameter search for `annctl tune` (ignored by `annctl train`)."""

    metric: str | None = Field(
        None, description="Per-epoch metric to optimise (its best epoch counts); default: the checkpoint monitor."
    )
    direction: Literal["minimize", "maximize"] | None = Field(
        None, description="Default: maximize for accuracy and auc, minimize for losses and errors."
    )
    space: dict[str, Param] = Field(
        ...,
        min_length=1,
        max_length=64,
        description="Dotted spec path → {type: float|int|choice, ...}, e.g. `training.learning_rate: "
        "{type: float, low: 3.0e-4, high: 3.0e-2, log: true}`.",
    )
    trial_timeout: float | None = Field(
        None, gt=0, le=10**7, description="Seconds after which a trial is stopped and recorded as failed."
    )
    max_consecutive_failures: int = Field(
        5, ge=1, le=10_000, description="A worker stops (exit 1) after this many failed trials in a row."
    )

    @model_validator(mode="after")
    def _check_paths(self) -> SearchSpec:
        for path in self.space:
            if not PATH_PATTERN.match(path):
                raise ValueError(f"space: {path!r} is not a dotted spec path such as training.learning_rate")
            if path.split(".")[0] in NOT_SEARCHABLE:
                raise ValueError(f"space: {path} cannot be searched")
        return self


def set_path(data: dict, path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` in nested dicts, creating sections that are missing."""
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def trial_data(base: dict, params: dict[str, Any]) -> dict:
    """The experiment data of one trial: ``base`` (a spec dump) with ``params`` set and no `search`."""
    data = json.loads(json.dumps(base))
    data.pop("search", None)
    for path, value in params.items():
        set_path(data, path, value)
    return data
