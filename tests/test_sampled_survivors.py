"""Tests written for mutants the mutation sample found surviving (docs/mutation.md): each pins one behaviour
that a small change of its line altered without any test noticing."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from annctl.config import load_spec
from annctl.datasets.csv_dialect import read_lines
from annctl.datasets.timeseries import advance
from annctl.errors import DataError
from annctl.evaluation import misclassified

from .conftest import EXPERIMENTS


def test_a_list_files_byte_order_mark_is_dropped_and_a_directory_is_named(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_bytes("\ufeffa.png\r\n b.png \r\n".encode())
    assert read_lines(listing) == [(1, "a.png"), (2, "b.png")]
    with pytest.raises(DataError, match=str(tmp_path)):
        read_lines(tmp_path)


def test_monthly_times_advance_across_the_year():
    months = {"unit": "months", "step": 1}
    assert advance(datetime(2024, 11, 30), months, 1) == datetime(2024, 12, 30)
    assert advance(datetime(2024, 11, 30), months, 2) == datetime(2025, 1, 30)
    assert advance(datetime(2024, 1, 15), {"unit": "months", "step": 3}, 4) == datetime(2025, 1, 15)


def test_misclassified_confidences_have_six_decimals():
    outputs = np.array([[0.1234567891, 0.8765432109], [0.9, 0.1]])
    rows = misclassified(outputs, np.array([0, 0]), ["a.png", "b.png"], ["cat", "dog"], "argmax")
    assert rows == [{"file": "a.png", "true": "cat", "predicted": "dog", "confidence": 0.876543}]


def test_a_search_on_an_accuracy_monitor_maximises_and_on_a_loss_minimises(tmp_path):
    space = "search.space={training.learning_rate: {type: float, low: 0.001, high: 0.1}}"
    spec = load_spec(EXPERIMENTS / "iris_mlp.yaml", [space, "search.metric=val_accuracy"])
    assert spec.search_objective() == ("val_accuracy", "maximize")
    spec = load_spec(EXPERIMENTS / "iris_mlp.yaml", [space, "search.metric=val_loss"])
    assert spec.search_objective() == ("val_loss", "minimize")


def test_an_undecodable_first_byte_is_byte_0_and_advice_only_where_an_option_exists(tmp_path):
    from annctl.datasets.csv_dialect import undecodable

    data = tmp_path / "data.csv"
    data.write_bytes(b"\xff,b\n1,2\n")
    message = undecodable(data, "utf-8", "dataset.encoding")
    assert message is not None and f"{data}:1: not utf-8 text" in message and "at byte 0)" in message
    assert message.endswith("; set dataset.encoding to the file's encoding (e.g. cp1252, latin-1, utf-16)")
    assert undecodable(data, "utf-8", None).endswith("at byte 0)")
