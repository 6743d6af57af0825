"""annctl.evaluation at unit level: gate parsing and checking with whole messages, each comparison at its bound,
the misclassified listing, and evaluate_run's result, saved file and warnings on two tiny runs trained once
(written for the mutants the mutation sample found surviving, docs/mutation.md)."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import numpy as np
import pytest

from annctl.errors import GateFailed, UsageError
from annctl.evaluation import check_gates, evaluate_run, misclassified, parse_gates, save_confusion_matrix

from .conftest import write_experiment


def usage_message(*args) -> str:
    with pytest.raises(UsageError) as error:
        parse_gates(*args)
    return str(error.value)


def test_every_metric_of_each_task_is_a_gate_under_gates_first():
    under = [f"{name}=0.{i}" for i, name in enumerate(("loss", "accuracy", "macro_precision", "macro_recall"), 1)]
    assert parse_gates(under, ["macro_f1=1e-3"], "classification") == [
        ("loss", "under", 0.1),
        ("accuracy", "under", 0.2),
        ("macro_precision", "under", 0.3),
        ("macro_recall", "under", 0.4),
        ("macro_f1", "over", 0.001),
    ]
    assert parse_gates(["r2=-1"], ["loss=2", "mse=3", "rmse=4", "mae=5"], "regression") == [
        ("r2", "under", -1.0),
        ("loss", "over", 2.0),
        ("mse", "over", 3.0),
        ("rmse", "over", 4.0),
        ("mae", "over", 5.0),
    ]
    assert parse_gates([], [], "classification") == []


def test_gate_messages_whole():
    assert usage_message(["accuracy"], [], "classification") == (
        "--fail-under accuracy: expected METRIC=VALUE, e.g. accuracy=0.85"
    )
    assert usage_message([], ["loss"], "regression") == "--fail-over loss: expected METRIC=VALUE, e.g. accuracy=0.85"
    assert usage_message([], ["mse=1"], "classification") == (
        "--fail-over mse=1: unknown metric 'mse'; available: loss, accuracy, macro_precision, macro_recall, macro_f1"
    )
    assert usage_message(["accuracy=0.9"], [], "regression") == (
        "--fail-under accuracy=0.9: unknown metric 'accuracy'; available: loss, mse, rmse, mae, r2"
    )
    assert usage_message(["r2=high"], [], "regression") == "--fail-under r2=high: 'high' is not a number"
    assert usage_message([], ["loss=0.5=1"], "regression") == "--fail-over loss=0.5=1: '0.5=1' is not a number"


def failure(metrics, gates, result=None) -> GateFailed:
    with pytest.raises(GateFailed) as failed:
        check_gates(metrics, gates, result)
    return failed.value


def test_each_gate_passes_on_its_side_of_the_bound_and_fails_past_it():
    check_gates({"accuracy": 0.9, "loss": 0.1}, [("accuracy", "under", 0.85), ("loss", "over", 0.3)])
    check_gates({"accuracy": 0.85, "loss": 0.3}, [("accuracy", "under", 0.85), ("loss", "over", 0.3)])
    assert str(failure({"accuracy": 0.8}, [("accuracy", "under", 0.85)])) == (
        "gate failed: accuracy = 0.8 is below the bound 0.85 (--fail-under)"
    )
    assert str(failure({"loss": 0.4}, [("loss", "over", 0.3)])) == (
        "gate failed: loss = 0.4 is above the bound 0.3 (--fail-over)"
    )


def test_gate_values_have_six_significant_digits_and_bounds_their_shortest_form():
    failed = failure(
        {"mse": 0.123456789, "r2": -12345678.9},
        [("mse", "over", 0.00001), ("r2", "under", 100000000.0)],
        result := {"metrics": {}},
    )
    assert str(failed) == (
        "gate failed: mse = 0.123457 is above the bound 1e-05 (--fail-over)\n"
        "gate failed: r2 = -1.23457e+07 is below the bound 1e+08 (--fail-under)"
    )
    assert failed.result is result and failed.exit_code == 3


def test_misclassified_by_one_sigmoid_unit_and_the_limit():
    outputs = np.array([[0.3], [0.7], [0.1], [0.9]])
    y = np.array([1, 0, 0, 1])  # the first two are wrong: "dog" said with 0.7 confidence, "cat" with 0.7 too
    assert misclassified(outputs, y, ["a", "b", "c", "d"], ["cat", "dog"], "probability") == [
        {"file": "a", "true": "dog", "predicted": "cat", "confidence": 0.7},
        {"file": "b", "true": "cat", "predicted": "dog", "confidence": 0.7},
    ]
    # confidences to six decimals
    assert misclassified(np.array([[0.12345678]]), np.array([1]), ["a"], ["cat", "dog"], "probability") == [
        {"file": "a", "true": "dog", "predicted": "cat", "confidence": 0.876543},
    ]
    # every one wrong, most confident first, ties in file order, at most 25 unless told
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.5, 1, 30).round(3)
    outputs = np.stack([1 - probabilities, probabilities], axis=1)
    files = [f"f{i}" for i in range(30)]
    listed = misclassified(outputs, np.zeros(30, dtype=int), files, ["cat", "dog"], "argmax")
    order = sorted(range(30), key=lambda i: -probabilities[i])
    assert [row["file"] for row in listed] == [files[i] for i in order[:25]]
    # equal confidences keep the files' order (a quicksort would not)
    tied = np.array([[0.2, 0.8], [0.1, 0.9]] * 20)
    listed = misclassified(tied, np.zeros(40, dtype=int), [f"f{i}" for i in range(40)], ["cat", "dog"], "argmax")
    assert [row["file"] for row in listed] == [f"f{i}" for i in range(1, 40, 2)] + [f"f{i}" for i in range(0, 10, 2)]
    three = misclassified(outputs, np.zeros(30, dtype=int), files, ["cat", "dog"], "argmax", limit=3)
    assert [row["file"] for row in three] == [files[i] for i in order[:3]]


def test_the_confusion_matrix_picture_gets_labels_rows_and_accuracy(monkeypatch, tmp_path):
    import annctl.plots

    drawn = []
    monkeypatch.setattr(annctl.plots, "confusion_matrix", lambda *args: drawn.append(args) or args[-1])
    metrics = {
        "accuracy": 0.75,
        "confusion_matrix": {"labels": ["a", "b"], "rows_true_columns_predicted": [[1, 2], [3, 4]]},
    }
    assert save_confusion_matrix(metrics, tmp_path / "m.png") == tmp_path / "m.png"
    assert drawn == [(["a", "b"], [[1, 2], [3, 4]], 0.75, tmp_path / "m.png")]


# --- evaluate_run on tiny trained runs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from annctl.config import load_spec
    from annctl.training import train

    base = tmp_path_factory.mktemp("evaluated")
    made = {"data": base}
    for task in ("classification", "regression"):
        spec = load_spec(write_experiment(base, task, name=f"tiny_{task}", epochs=1))
        made[task] = Path(train(spec, base / "runs").run_dir)
    return made


def saved(run_dir: Path, split: str) -> list[Path]:
    return sorted((run_dir / "eval").glob(f"{split}-*.json"))


def test_an_evaluation_result_its_file_and_its_picture(runs):
    run_dir = runs["classification"]
    before = saved(run_dir, "validation")
    result = evaluate_run(run_dir, split="validation")
    assert set(result) == {"run_dir", "split", "checkpoint", "metrics", "confusion_matrix_png"}
    assert (result["run_dir"], result["split"], result["checkpoint"]) == (str(run_dir), "validation", "final")
    assert result["confusion_matrix_png"] == str(run_dir / "eval" / "confusion_matrix-validation.png")
    assert Path(result["confusion_matrix_png"]).is_file()
    (file,) = set(saved(run_dir, "validation")) - set(before)
    assert re.fullmatch(r"validation-\d{8}T\d{12}\.json", file.name)
    assert json.loads(file.read_text()) == {k: v for k, v in result.items() if k != "confusion_matrix_png"}
    assert evaluate_run(run_dir, checkpoint="best")["checkpoint"] == "best"


def test_a_regression_evaluation_draws_residuals(runs):
    run_dir = runs["regression"]
    before = len(saved(run_dir, "test"))
    result = evaluate_run(run_dir)
    assert set(result) == {"run_dir", "split", "checkpoint", "metrics", "residuals_png"}
    assert result["residuals_png"] == str(run_dir / "eval" / "residuals-test.png")
    assert Path(result["residuals_png"]).is_file() and len(saved(run_dir, "test")) == before + 1


def test_an_evaluation_of_a_labeled_file_names_it(runs):
    run_dir, data = runs["classification"], runs["data"] / "semicolons.csv"
    data.write_text((runs["data"] / "classification.csv").read_text().replace(",", ";"))
    before = saved(run_dir, "data")
    result = evaluate_run(run_dir, data_file=data, dialect={"delimiter": ";"})  # the run's own is ','

    assert (result["split"], result["data"], result["metrics"]["samples"]) == ("data", str(data), 60)
    assert result["confusion_matrix_png"] == str(run_dir / "eval" / "confusion_matrix-data.png")
    (file,) = set(saved(run_dir, "data")) - set(before)
    assert json.loads(file.read_text())["data"] == str(data)


def test_evaluate_run_usage_messages_whole(runs):
    run_dir, data = runs["classification"], runs["data"] / "classification.csv"
    with pytest.raises(UsageError) as error:
        evaluate_run(run_dir, dialect={"delimiter": ";", "decimal": ","})
    assert str(error.value) == "--delimiter, --decimal: for the rows of --data; give a file"
    for data_file in (None, data):
        with pytest.raises(UsageError) as error:
            evaluate_run(run_dir, data_file=data_file, on_bad_image="skip")
        assert str(error.value) == "--on-bad-image: for a --data folder of images"


def test_a_failed_gate_carries_the_saved_result(runs):
    run_dir = runs["classification"]
    before = len(saved(run_dir, "train"))
    with pytest.raises(GateFailed) as failed:
        evaluate_run(run_dir, split="train", fail_under=["accuracy=1.01"], fail_over=["loss=0"])
    assert str(failed.value).count("gate failed: ") == 2
    assert set(failed.value.result) == {"run_dir", "split", "checkpoint", "metrics", "confusion_matrix_png"}
    assert failed.value.result["split"] == "train"
    assert len(saved(run_dir, "train")) == before + 1  # saved before the gates are checked
    with pytest.raises(GateFailed):
        evaluate_run(runs["regression"], fail_under=["r2=2"])


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT])
def test_a_run_directory_that_cannot_be_written_is_a_warning(runs, monkeypatch, code):
    import annctl.evaluation

    def refuse(path, data):
        raise OSError(code, "no way", str(path))

    monkeypatch.setattr(annctl.evaluation, "atomic_write_json", refuse)
    warnings = []
    result = evaluate_run(runs["regression"], split="train", warn=warnings.append)
    assert set(result) == {"run_dir", "split", "checkpoint", "metrics"}
    (warning,) = warnings
    assert re.fullmatch(
        rf"the evaluation is not saved: {re.escape(str(runs['regression']))}/eval/train-\d+T\d+\.json: no way", warning
    )
    assert evaluate_run(runs["regression"], split="train")["split"] == "train"  # no warn: still no error


def test_any_other_error_saving_an_evaluation_is_raised(runs, monkeypatch):
    import annctl.evaluation

    def loop(path, data):
        raise OSError(errno.ELOOP, "too many levels of symbolic links", str(path))

    monkeypatch.setattr(annctl.evaluation, "atomic_write_json", loop)
    with pytest.raises(OSError) as error:
        evaluate_run(runs["regression"], warn=print)
    assert error.value.errno == errno.ELOOP
