"""`annctl evaluate --fail-under/--fail-over`: a bound is met by a metric equal to it, and missed by any metric
past it (or not a number), with a message naming the metric, its value and the bound."""

import math

import pytest

from annctl.errors import GateFailed, UsageError
from annctl.evaluation import check_gates, parse_gates


def test_a_metric_exactly_at_its_bound_meets_both_kinds_of_gate():
    check_gates({"accuracy": 0.85, "loss": 0.3}, [("accuracy", "under", 0.85), ("loss", "over", 0.3)])


@pytest.mark.parametrize(
    "metrics,gate,message",
    [
        ({"accuracy": 0.8499}, ("accuracy", "under", 0.85), "accuracy = 0.8499 is below the bound 0.85 (--fail-under)"),
        ({"loss": 0.3001}, ("loss", "over", 0.3), "loss = 0.3001 is above the bound 0.3 (--fail-over)"),
        ({"accuracy": math.nan}, ("accuracy", "under", 0.5), "accuracy = nan is below the bound 0.5 (--fail-under)"),
        ({"loss": math.nan}, ("loss", "over", 0.5), "loss = nan is above the bound 0.5 (--fail-over)"),
    ],
)
def test_a_metric_past_its_bound_fails_naming_value_and_bound(metrics, gate, message):
    result = {"metrics": metrics}
    with pytest.raises(GateFailed) as failed:
        check_gates(metrics, [gate], result)
    assert str(failed.value) == f"gate failed: {message}"
    assert failed.value.exit_code == 3


def test_every_failed_gate_is_reported_not_only_the_first():
    with pytest.raises(GateFailed) as failed:
        check_gates({"accuracy": 0.1, "loss": 9.0}, [("accuracy", "under", 0.5), ("loss", "over", 1.0)])
    assert str(failed.value).count("gate failed") == 2


def test_gates_are_parsed_per_task_with_their_kind():
    assert parse_gates(["accuracy=0.85"], ["loss=0.5"], "classification") == [
        ("accuracy", "under", 0.85),
        ("loss", "over", 0.5),
    ]
    with pytest.raises(UsageError, match="--fail-under accuracy=0.85: unknown metric 'accuracy'; available: "):
        parse_gates(["accuracy=0.85"], [], "regression")
    with pytest.raises(UsageError, match="--fail-over loss=low: 'low' is not a number"):
        parse_gates([], ["loss=low"], "classification")
    with pytest.raises(UsageError, match="expected METRIC=VALUE"):
        parse_gates(["accuracy"], [], "classification")
