"""annctl.training.inference on small known inputs: how inputs are cut into batches and outputs put together,
and the exact numbers each metric gives (the trainings and `evaluate` reach them only through slow tests)."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
import tensorflow as tf

from annctl.datasets.base import InputDescription
from annctl.training.inference import (
    _slices,
    baseline_name,
    binary_auc,
    classification_metrics,
    keras_batch,
    metrics,
    predict_batches,
    predict_split,
    predicted_classes,
    regression_metrics,
    scalar_metrics,
    split_metrics,
)


class BatchModel:
    """A stand-in model: `predict_on_batch` returns each row's sum (and twice it under `aux` when asked for
    several outputs); it records the batches it was given."""

    distribute_strategy = None

    def __init__(self, outputs=("output",)):
        self.batches: list = []
        self.outputs = outputs
        self.called: list = []

    def _out(self, batch):
        self.batches.append(batch)
        values = np.asarray(batch_rows(batch), "float32")
        values = values.reshape(len(values), -1)
        total = values.sum(axis=1, keepdims=True)
        if self.outputs == ("output",):
            return total
        return {name: total * (i + 1) for i, name in enumerate(self.outputs)}

    def predict_on_batch(self, batch):
        return self._out(batch)

    def __call__(self, batch, training=None):
        self.called.append(training)
        return self._out(batch)


def batch_rows(batch):
    return batch["a"] if isinstance(batch, dict) else batch


# -- cutting and feeding batches -------------------------------------------------------------------------------


def test_slices_cut_arrays_and_dicts_into_batch_size_rows_with_a_short_last_one():
    x = np.arange(10)
    assert [s.tolist() for s in _slices(x, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [s.tolist() for s in _slices(x[:8], 4)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [s.tolist() for s in _slices(x[:1], 4)] == [[0]]
    assert list(_slices(x[:0], 4)) == []
    pieces = list(_slices({"a": np.arange(5), "b": np.arange(5) * 10}, 3))
    assert [{k: v.tolist() for k, v in p.items()} for p in pieces] == [
        {"a": [0, 1, 2], "b": [0, 10, 20]},
        {"a": [3, 4], "b": [30, 40]},
    ]


def test_keras_batch_makes_text_columns_string_tensors_and_leaves_the_rest():
    array = np.zeros((2, 3))
    assert keras_batch(array) is array
    numeric = {"a": np.zeros(2), "b": [1, 2]}
    assert keras_batch(numeric) is numeric
    for text in (np.array(["x", "y"]), np.array([b"x", b"y"]), np.array(["x", 3], dtype=object)):
        numbers = np.ones(2)
        batch = keras_batch({"text": text, "n": numbers})
        assert isinstance(batch["text"], tf.Tensor) and batch["text"].dtype == tf.string
        assert batch["text"].numpy().tolist() == [b"x", (b"y" if text.dtype.kind != "O" else b"3")]
        assert batch["n"] is numbers


def test_predict_batches_cuts_4096_rows_by_default_and_joins_the_outputs_in_order():
    model = BatchModel()
    x = np.arange(4097 * 2, dtype="float32").reshape(4097, 2)
    out = predict_batches(model, x)
    assert [len(b) for b in model.batches] == [4096, 1]
    assert out.shape == (4097, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], x.sum(axis=1))
    small = BatchModel()
    np.testing.assert_array_equal(predict_batches(small, x[:5], batch_size=2)[:, 0], x[:5].sum(axis=1))
    assert [len(b) for b in small.batches] == [2, 2, 1]
    assert predict_batches(small, x[:5], batch_size=2, all_outputs=True).keys() == {"output"}


def test_predict_batches_takes_dicts_and_iterables_of_batches():
    model = BatchModel()
    out = predict_batches(model, {"a": np.ones((3, 2)), "b": np.zeros((3, 1))}, batch_size=2)
    assert out.tolist() == [[2.0], [2.0], [2.0]] and [len(b["a"]) for b in model.batches] == [2, 1]
    batches = iter([np.ones((2, 1)), np.full((1, 1), 3.0)])
    assert predict_batches(BatchModel(), batches, batch_size=1).tolist() == [[1.0], [1.0], [3.0]]
    empty = predict_batches(BatchModel(), iter([]))
    assert empty.shape == (0,) and predict_batches(BatchModel(), iter([]), all_outputs=True) == {}


def test_predict_batches_puts_the_main_output_first_and_keeps_the_others():
    model = BatchModel(outputs=("aux", "main", "extra"))
    outputs = predict_batches(model, np.ones((3, 1)), batch_size=2, all_outputs=True)
    assert list(outputs) == ["main", "aux", "extra"]
    assert outputs["main"].tolist() == [[2.0]] * 3 and outputs["aux"].tolist() == [[1.0]] * 3
    assert predict_batches(model, np.ones((3, 1))).tolist() == [[2.0]] * 3
    unnamed = BatchModel(outputs=("b", "a"))
    assert list(predict_batches(unnamed, np.ones((1, 1)), all_outputs=True)) == ["b", "a"]
    assert predict_batches(unnamed, np.ones((1, 1))).tolist() == [[1.0]]


def test_a_multi_worker_model_is_called_instead_of_predict_on_batch(monkeypatch):
    monkeypatch.setattr("annctl.training.distribution.is_multi_worker", lambda model: True)
    model = BatchModel()
    model.predict_on_batch = None
    assert predict_batches(model, np.ones((3, 2)), batch_size=2).tolist() == [[2.0]] * 3
    assert model.called == [False, False]


def test_predict_split_feeds_the_splits_batches_of_4096_in_order():
    asked = []

    def x_batches(batch_size):
        asked.append(batch_size)
        yield np.ones((2, 1))
        yield np.full((1, 1), 2.0)

    fed = []
    spec = SimpleNamespace(model=SimpleNamespace(feed=lambda x, description: fed.append(description) or x * 10))
    description = object()
    outputs = predict_split(BatchModel(), spec, description, SimpleNamespace(x_batches=x_batches))
    assert asked == [4096] and fed == [description, description]
    assert list(outputs) == ["output"] and outputs["output"].tolist() == [[10.0], [10.0], [20.0]]
    predict_split(BatchModel(), spec, description, SimpleNamespace(x_batches=x_batches), batch_size=7)
    assert asked == [4096, 7]


# -- metrics ---------------------------------------------------------------------------------------------------


def description(task="regression", class_names=None, **details) -> InputDescription:
    return InputDescription(
        kind="tabular", shape=[2], dtype="float32", task=task, target_name="y", class_names=class_names, details=details
    )


class Architecture:
    decision: ClassVar[str] = "probability"

    def __init__(self, weights=None):
        self.weights = weights

    def loss_weights(self):
        return self.weights


class Scorer(Architecture):
    decision: ClassVar[str] = "score"


def fake_spec(loss, metrics_=None, architecture=None):
    training = SimpleNamespace(resolved_loss=lambda: loss, metrics=metrics_)
    return SimpleNamespace(training=training, model=architecture or Architecture())


NO_PENALTY = SimpleNamespace(losses=[])


def classified(spec, predictions, y, naive=None):
    """The metrics of a binary classifier's one output (classes `no` and `yes`), without weight penalties."""
    return metrics(spec, description("classification", ["no", "yes"]), NO_PENALTY, {"o": predictions}, y, naive)


def test_regression_metrics_are_exact_on_known_errors():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    scores = regression_metrics(y, np.array([[1.5], [2.0], [2.5], [4.0]]))
    assert scores == {"mse": 0.125, "rmse": math.sqrt(0.125), "mae": 0.25, "r2": 1.0 - 0.5 / 5.0}
    assert list(scores) == ["mse", "rmse", "mae", "r2"]
    constant = regression_metrics([2.0, 2.0], [1.0, 3.0])
    assert constant["mse"] == 1.0 and math.isnan(constant["r2"])
    flat = regression_metrics(np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 2.0, 4.0]))  # shaped as y first
    assert flat["mse"] == 1.0 / 3.0 and flat["mae"] == 1.0 / 3.0
    two = regression_metrics(np.array([[0.0, 0.0], [2.0, 4.0]]), np.array([[1.0, 0.0], [2.0, 4.0]]))
    assert two["mse"] == 0.25 and two["mae"] == 0.25 and two["r2"] == 1.0 - 1.0 / 10.0


def test_the_regression_result_has_the_loss_penalties_naive_baseline_and_samples():
    y = np.array([[1.0], [2.0], [3.0], [4.0]], "float32")
    predictions = np.array([[1.5], [2.0], [2.5], [4.0]], "float32")
    naive = np.array([[1.0], [1.0], [2.0], [3.0]])  # errors 0, 1, 1, 1: mse 0.75, mae 0.75
    model = SimpleNamespace(losses=[np.float32(0.5), np.float32(0.25)])
    result = metrics(fake_spec("mse"), description(), model, {"output": predictions}, y, naive)
    assert result == {
        "loss": pytest.approx(0.125 + 0.75),
        "mse": 0.125,
        "rmse": math.sqrt(0.125),
        "mae": 0.25,
        "r2": 0.9,
        "naive_mse": 0.75,
        "naive_rmse": math.sqrt(0.75),
        "naive_mae": 0.75,
        "skill": 1.0 - 0.125 / 0.75,
        "beats_naive": True,
        "baseline": "the last value, repeated",
        "samples": 4,
    }
    worse = metrics(fake_spec("mse"), description(baseline="always 1.0"), NO_PENALTY, {"o": naive}, y, predictions)
    assert worse["loss"] == pytest.approx(0.75) and worse["skill"] == 1.0 - 0.75 / 0.125
    assert worse["beats_naive"] is False and worse["baseline"] == "always 1.0"
    same = metrics(fake_spec("mse"), description(), NO_PENALTY, {"o": naive}, y, naive)
    assert same["skill"] == 0.0 and same["beats_naive"] is False
    perfect = metrics(fake_spec("mse"), description(), NO_PENALTY, {"o": y}, y, y)
    assert math.isnan(perfect["skill"]) and perfect["beats_naive"] is False
    plain = metrics(fake_spec("mse"), description(), NO_PENALTY, {"o": predictions}, y)
    assert list(plain) == ["loss", "mse", "rmse", "mae", "r2", "samples"]


def test_several_outputs_weigh_their_losses_and_report_each_under_outputs():
    y = np.array([[0.0], [0.0]], "float32")
    outputs = {"main": np.array([[1.0], [1.0]], "float32"), "aux": np.array([[2.0], [2.0]], "float32")}
    spec = fake_spec("mse", architecture=Architecture({"main": 1.0, "aux": 0.25}))
    result = metrics(spec, description(), NO_PENALTY, outputs, y)
    assert result["loss"] == pytest.approx(1.0 + 0.25 * 4.0) and result["mse"] == 1.0
    assert result["outputs"]["main"]["loss"] == pytest.approx(1.0) and result["outputs"]["aux"]["mse"] == 4.0
    assert list(result["outputs"]) == ["main", "aux"]
    unweighted = metrics(fake_spec("mse"), description(), NO_PENALTY, outputs, y)
    assert unweighted["loss"] == pytest.approx(5.0)
    assert "outputs" not in metrics(fake_spec("mse"), description(), NO_PENALTY, {"main": outputs["main"]}, y)


def test_classification_results_add_auc_only_when_the_spec_logs_it_and_never_a_naive_baseline():
    y = np.array([0, 1, 1, 0])
    probabilities = np.array([[0.2], [0.7], [0.4], [0.6]], "float32")
    expected_loss = -np.mean(np.log([0.8, 0.7, 0.4, 0.4]))
    result = classified(fake_spec("binary_crossentropy", ["accuracy", "auc"]), probabilities, y, naive=y)
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-5) and result["accuracy"] == 0.5
    assert result["auc"] == 0.75 and result["samples"] == 4 and "naive_mse" not in result and "skill" not in result
    assert "auc" not in classified(fake_spec("binary_crossentropy", ["accuracy"]), probabilities, y)
    assert "auc" not in classified(fake_spec("binary_crossentropy", None), probabilities, y)


def test_the_architectures_decision_rule_picks_the_classes():
    y = np.array([0, 1])
    scores = np.array([[-0.5], [0.2]], "float32")  # as probabilities both below 0.5; as scores, one of each
    by_probability = classified(fake_spec("binary_crossentropy"), scores.clip(0, 1), y)
    by_score = classified(fake_spec("perceptron", architecture=Scorer()), scores, y)
    assert by_probability["accuracy"] == 0.5 and by_score["accuracy"] == 1.0


def test_split_metrics_measure_the_splits_outputs_against_its_labels_and_naive_forecast():
    y = np.array([[1.0], [2.0], [3.0]], "float32")
    split = SimpleNamespace(
        x_batches=lambda batch_size: iter([y]), labels=lambda: y, naive_forecast=lambda: np.array([[1.0], [1.0], [1.0]])
    )
    spec = fake_spec("mse")
    spec.model.feed = lambda x, description: x + 1.0
    model = BatchModel()
    model.losses = []
    result = split_metrics(model, spec, description(), split)
    assert result["mse"] == 1.0 and result["naive_mse"] == 5.0 / 3.0 and result["samples"] == 3
    split.naive_forecast = lambda: None
    assert "naive_mse" not in split_metrics(model, spec, description(), split)


def test_the_baseline_is_named_by_the_dataset_or_is_the_last_value():
    assert baseline_name(description()) == "the last value, repeated"
    assert baseline_name(description(baseline="always 1.0")) == "always 1.0"
    assert baseline_name(description(baseline=1)) == "1"


def test_scalar_metrics_flatten_numbers_and_each_outputs_under_its_name():
    result = {
        "loss": 1,
        "accuracy": 0.5,
        "beats_naive": True,
        "samples": 9,
        "baseline": "text",
        "per_class": {"a": {}},
        "outputs": {"main": {"loss": 2, "mse": 0.25, "flag": False, "name": "x"}, "aux": {"loss": 3.0}},
    }
    flat = scalar_metrics(result)
    assert flat == {"loss": 1.0, "accuracy": 0.5, "main_loss": 2.0, "main_mse": 0.25, "main_flag": 0.0, "aux_loss": 3.0}
    assert type(flat["loss"]) is float and type(flat["main_loss"]) is float
    assert scalar_metrics({"mse": 0.5}) == {"mse": 0.5}


def test_predicted_classes_threshold_one_column_and_take_the_largest_of_several():
    one = np.array([[0.49], [0.5], [0.51], [-0.01], [0.0]])
    assert predicted_classes(one).tolist() == [0, 1, 1, 0, 0]
    assert predicted_classes(one, "score").tolist() == [1, 1, 1, 0, 1]
    assert predicted_classes(one).dtype == np.int64
    assert predicted_classes([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]).tolist() == [1, 0]


def test_classification_metrics_are_exact_on_a_known_confusion_matrix():
    y = [0, 0, 0, 1, 1, 2]
    outputs = np.eye(3)[[0, 0, 1, 1, 0, 1]]  # class 2 is never predicted
    result = classification_metrics(y, outputs, ["a", "b", "c"])
    assert result["confusion_matrix"] == {
        "labels": ["a", "b", "c"],
        "rows_true_columns_predicted": [[2, 1, 0], [1, 1, 0], [0, 1, 0]],
    }
    assert result["per_class"] == {
        "a": {"precision": 2 / 3, "recall": 2 / 3, "f1": pytest.approx(2 / 3), "support": 3},
        "b": {"precision": 1 / 3, "recall": 0.5, "f1": pytest.approx(0.4), "support": 2},
        "c": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }
    assert result["accuracy"] == 0.5
    assert result["macro_precision"] == pytest.approx((2 / 3 + 1 / 3) / 3)
    assert result["macro_recall"] == pytest.approx((2 / 3 + 0.5) / 3)
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.4) / 3)
    assert list(result) == ["accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class", "confusion_matrix"]
    unseen = classification_metrics([0, 0], np.eye(2)[[0, 0]], ["a", "b"])  # b: no true and no predicted sample
    assert unseen["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert unseen["per_class"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    empty = classification_metrics(np.zeros(0), np.zeros((0, 2)), ["a", "b"])
    assert empty["accuracy"] == 0.0
    assert classification_metrics([1], np.array([[0.1, 0.9]]), ["a", "b"])["accuracy"] == 1.0
    scored = classification_metrics([0, 1], np.array([[-0.1], [0.0]]), ["a", "b"], "score")
    assert scored["accuracy"] == 1.0
    assert classification_metrics([0, 1], np.array([[0.2], [0.6]]), ["a", "b"])["accuracy"] == 1.0  # probability


def test_binary_auc_is_rocs_area_of_the_last_column_and_nan_for_one_class():
    y = [0, 0, 1, 1]
    assert binary_auc(y, np.array([[0.1], [0.4], [0.35], [0.8]])) == 0.75
    assert binary_auc(y, np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])) == 0.75
    assert binary_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN without asking scikit-learn, which would warn that it is undefined
        assert math.isnan(binary_auc([1, 1], [[0.2], [0.3]]))
