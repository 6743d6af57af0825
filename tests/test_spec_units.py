"""annctl/spec.py: the defaults and checks that follow from the data (resolve), and which way a monitored metric
improves (monitor_mode, search_objective)."""

from __future__ import annotations

import pytest

from annctl.spec import ExperimentSpec, monitor_mode, resolve


def spec(**training) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {"name": "t", "dataset": {"name": "iris"}, "model": {"architecture": "mlp"}, "training": training}
    )


def test_accuracy_and_auc_are_maximized_with_or_without_val_and_everything_else_minimized():
    assert [monitor_mode(m) for m in ("accuracy", "val_accuracy", "auc", "val_auc")] == ["max"] * 4
    assert [monitor_mode(m) for m in ("loss", "val_loss", "val_mse", "VAL_accuracy", "val_val_accuracy")] == ["min"] * 5


def test_a_search_without_a_direction_maximizes_accuracy_and_minimizes_a_loss():
    space = {"training.learning_rate": {"type": "float", "low": 0.001, "high": 0.1}}

    def searched(**search) -> ExperimentSpec:
        return ExperimentSpec.model_validate({**spec().model_dump(), "search": {"space": space, **search}})

    for metric, direction in [("val_accuracy", "maximize"), ("val_auc", "maximize"), ("val_loss", "minimize")]:
        assert searched(metric=metric).search_objective() == (metric, direction)
    assert searched(metric="val_accuracy", direction="minimize").search_objective() == ("val_accuracy", "minimize")


def test_auc_needs_binary_crossentropy_and_is_kept_with_it():
    with pytest.raises(ValueError) as raised:
        resolve(spec(metrics=["accuracy", "auc"]), "classification", 3)
    assert str(raised.value) == "training.metrics: auc needs a binary target with binary_crossentropy"
    binary = resolve(spec(metrics=["accuracy", "auc"]), "classification", 2)
    assert (binary.training.loss, binary.training.metrics) == ("binary_crossentropy", ["accuracy", "auc"])
    told = resolve(spec(metrics=["auc"], loss="binary_crossentropy"), "classification", 2)
    assert told.training.metrics == ["auc"]


def test_a_loss_or_metric_that_contradicts_the_data_is_named_with_what_to_use_instead():
    with pytest.raises(ValueError) as raised:
        resolve(spec(loss="binary_crossentropy"), "classification", 3)
    assert str(raised.value) == (
        "training.loss: binary_crossentropy needs 2 classes, this dataset has 3 (use sparse_categorical_crossentropy)"
    )
    with pytest.raises(ValueError) as raised:
        resolve(spec(metrics=["mae"]), "classification", 3)
    from annctl.spec import CLASSIFICATION_METRICS

    assert str(raised.value) == (
        f"training.metrics: mae does not apply to classification; use {', '.join(CLASSIFICATION_METRICS)}"
    )


def test_an_unknown_monitored_metric_names_the_field_that_asks_for_it():
    checkpoint = ExperimentSpec.model_validate({**spec().model_dump(), "output": {"checkpoint_monitor": "val_f1"}})
    with pytest.raises(ValueError, match=r"^output\.checkpoint_monitor: unknown metric 'val_f1'; this run logs loss, "):
        resolve(checkpoint, "classification", 3)
    space = {"training.learning_rate": {"type": "float", "low": 0.001, "high": 0.1}}
    searched = ExperimentSpec.model_validate({**spec().model_dump(), "search": {"space": space, "metric": "val_f1"}})
    with pytest.raises(ValueError, match=r"^search\.metric: unknown metric 'val_f1'"):
        resolve(searched, "classification", 3)


def test_a_registry_of_two_entries_is_a_union_of_both():
    from typing import Literal

    from pydantic import BaseModel, TypeAdapter

    from annctl.spec import _union

    class A(BaseModel):
        kind: Literal["a"]

    class B(BaseModel):
        kind: Literal["b"]

    adapter = TypeAdapter(_union([A, B], "kind"))
    assert isinstance(adapter.validate_python({"kind": "b"}), B)
    assert _union([A], "kind") is A
