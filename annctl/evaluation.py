"""`annctl evaluate`: measure a finished run on a split of its data or on a labeled CSV, with quality gates."""

from __future__ import annotations

import errno
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from annctl.errors import GateFailed, UsageError
from annctl.fileio import atomic_write_json
from annctl.modelio import Checkpoint, load_run_model

# A run directory evaluate cannot save into (read-only, another user's, a full disk): it warns and goes on.
UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)
CLASSIFICATION_GATES = ("loss", "accuracy", "macro_precision", "macro_recall", "macro_f1")
REGRESSION_GATES = ("loss", "mse", "rmse", "mae", "r2")


def parse_gates(fail_under: list[str], fail_over: list[str], task: str) -> list[tuple[str, str, float]]:
    """`accuracy=0.85` strings → (metric, "under"|"over", bound); unknown metric names are exit 2."""
    available = CLASSIFICATION_GATES if task == "classification" else REGRESSION_GATES
    gates = []
    for kind, items in (("under", fail_under), ("over", fail_over)):
        for item in items:
            name, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"--fail-{kind} {item}: expected METRIC=VALUE, e.g. accuracy=0.85")
            if name not in available:
                raise UsageError(f"--fail-{kind} {item}: unknown metric {name!r}; available: {', '.join(available)}")
            try:
                bound = float(value)
            except ValueError:
                raise UsageError(f"--fail-{kind} {item}: {value!r} is not a number") from None
            gates.append((name, kind, bound))
    return gates


def check_gates(metrics: dict[str, Any], gates: list[tuple[str, str, float]], result: dict | None = None) -> None:
    failures = []
    for name, kind, bound in gates:
        value = metrics[name]
        if (kind == "under" and not value >= bound) or (kind == "over" and not value <= bound):
            relation = "below" if kind == "under" else "above"
            failures.append(f"gate failed: {name} = {value:.6g} is {relation} the bound {bound:g} (--fail-{kind})")
    if failures:
        raise GateFailed("\n".join(failures), result)


def classification_metrics(y: Any, outputs: Any, class_names: list[str], decision: str = "probability") -> dict:
    import numpy as np

    from annctl.models.base import predicted_classes

    predicted = predicted_classes(outputs, decision)
    k = len(class_names)
    matrix = np.zeros((k, k), dtype="int64")
    np.add.at(matrix, (np.asarray(y, dtype="int64"), predicted), 1)
    per_class = {}
    for i, name in enumerate(class_names):
        tp = matrix[i, i]
        precision = tp / matrix[:, i].sum() if matrix[:, i].sum() else 0.0
        recall = tp / matrix[i, :].sum() if matrix[i, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(matrix[i, :].sum()),
        }
    return {
        "accuracy": float(np.trace(matrix) / max(1, matrix.sum())),
        "macro_precision": float(np.mean([c["precision"] for c in per_class.values()])),
        "macro_recall": float(np.mean([c["recall"] for c in per_class.values()])),
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "per_class": per_class,
        "confusion_matrix": {"labels": class_names, "rows_true_columns_predicted": matrix.tolist()},
    }


def regression_metrics(y: Any, predictions: Any) -> dict[str, float]:
    import numpy as np

    y = np.asarray(y, dtype="float64").reshape(len(y), -1)
    errors = np.asarray(predictions, dtype="float64").reshape(y.shape) - y
    mse = float(np.mean(errors**2))
    total = float(np.sum((y - y.mean(axis=0)) ** 2))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(errors))),
        "r2": 1.0 - float(np.sum(errors**2)) / total if total else float("nan"),
    }


def evaluate_run(
    run_dir: Path,
    split: str = "test",
    data_file: Path | None = None,
    checkpoint: Checkpoint = "final",
    fail_under: list[str] | None = None,
    fail_over: list[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate; save `RUN/eval/<split>-<timestamp>.json`; raise GateFailed (exit 3) when a gate is not met.

    Saving is a convenience: a run directory that cannot be written (read-only) gets a ``warn`` and the result
    is returned all the same.
    """
    from annctl.config import load_spec
    from annctl.rundir import read_data_info

    spec = load_spec(run_dir / "spec.yaml")
    info = read_data_info(run_dir)
    gates = parse_gates(list(fail_under or []), list(fail_over or []), info["task"])
    if data_file is not None:
        from annctl.inputs import read_labeled_csv

        x, y = read_labeled_csv(data_file, info)
        split = "data"
    else:
        data = spec.dataset.load(spec.seed)
        x, y = {
            "train": (data.x_train, data.y_train),
            "validation": (data.x_val, data.y_val),
            "test": (data.x_test, data.y_test),
        }[split]
    model = load_run_model(run_dir, checkpoint)
    import keras

    from annctl.training.compile import build_loss, encode_targets
    from annctl.training.trainer import predict_batches

    outputs = predict_batches(model, spec.model.feed(x, info["feature_names"]), all_outputs=True)
    loss_fn = keras.losses.get(build_loss(spec.training.loss))
    encoded = encode_targets(y, spec.training.loss, len(info.get("class_names") or []))
    weights = spec.model.loss_weights() or {name: 1.0 for name in outputs}
    per_output: dict[str, dict[str, Any]] = {}
    for name, predictions in outputs.items():
        loss = float(keras.ops.convert_to_numpy(keras.ops.mean(loss_fn(encoded, predictions))))
        if info["task"] == "classification":
            scores = classification_metrics(y, predictions, info["class_names"], info.get("decision", "probability"))
        else:
            scores = regression_metrics(y, predictions)
        per_output[name] = {"loss": loss, **scores}
    main = next(iter(per_output))
    metrics: dict[str, Any] = dict(per_output[main])
    if len(per_output) > 1:  # the total loss as training weighs it; each output's own metrics beside it
        metrics["loss"] = sum(weights[name] * values["loss"] for name, values in per_output.items())
        metrics["outputs"] = per_output
    metrics["samples"] = len(y)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    result = {"run_dir": str(run_dir), "split": split, "checkpoint": checkpoint, "metrics": metrics}
    if data_file is not None:
        result["data"] = str(data_file)
    eval_dir = run_dir / "eval"
    try:
        atomic_write_json(eval_dir / f"{split}-{stamp}.json", result)
        if info["task"] == "classification":
            png = save_confusion_matrix(metrics, eval_dir / f"confusion_matrix-{split}.png")
            result["confusion_matrix_png"] = str(png)
        else:
            from annctl.plots import residuals

            result["residuals_png"] = str(residuals(y, outputs[main], eval_dir / f"residuals-{split}.png"))
    except OSError as error:
        if error.errno not in UNWRITABLE:  # e.g. a symbolic link planted in the run: refused loudly
            raise
        if warn is not None:
            warn(f"the evaluation is not saved: {error.filename}: {error.strerror or error}")
    check_gates(metrics, gates, result)
    return result


def save_confusion_matrix(metrics: dict[str, Any], path: Path) -> Path:
    from annctl.plots import confusion_matrix

    matrix = metrics["confusion_matrix"]
    return confusion_matrix(matrix["labels"], matrix["rows_true_columns_predicted"], metrics["accuracy"], path)
