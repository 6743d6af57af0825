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
