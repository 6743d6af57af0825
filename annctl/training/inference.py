"""Inference: run a model over inputs in large batches, and the one implementation of the metrics that
training's test metrics, `annctl evaluate` and `annctl report` all report."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from annctl.datasets.base import InputDescription
from annctl.datasets.interfaces import Split
from annctl.spec import ExperimentSpec


def _slices(x, batch_size: int) -> Iterator[Any]:
    count = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    for start in range(0, count, batch_size):
        yield (
            {k: v[start : start + batch_size] for k, v in x.items()}
            if isinstance(x, dict)
            else x[start : start + batch_size]
        )


def keras_batch(batch):
    """A batch as Keras takes it: NumPy text columns as string tensors (Keras' array handling is numeric only)."""
    if not isinstance(batch, dict):
        return batch
    import numpy as np

    if not any(isinstance(value, np.ndarray) and value.dtype.kind in "OUS" for value in batch.values()):
        return batch
    import tensorflow as tf

    return {
        key: tf.constant(value.astype(str)) if isinstance(value, np.ndarray) and value.dtype.kind in "OUS" else value
        for key, value in batch.items()
    }


def predict_batches(model, x, batch_size: int = 4096, all_outputs: bool = False):
    """Call the model on large batches: several times faster than ``model.predict`` for in-memory arrays.

    ``x`` is an array or a dict of named inputs (cut into ``batch_size`` rows), or an iterable of batches.
    Returns the main output's array, or with ``all_outputs`` a dict of every output (the main one first).
    """
    import numpy as np

    from annctl.training.distribution import is_multi_worker

    multi_worker = is_multi_worker(model)
    batches = _slices(x, batch_size) if hasattr(x, "shape") or isinstance(x, dict) else x
    pieces: dict[str, list] = {}
    for batch in map(keras_batch, batches):
        out = model(batch, training=False) if multi_worker else model.predict_on_batch(batch)
        named = out if isinstance(out, dict) else {"output": out}
        if isinstance(out, dict) and "main" in out:
            named = {"main": out["main"], **{k: v for k, v in out.items() if k != "main"}}
        for name, value in named.items():
            pieces.setdefault(name, []).append(np.asarray(value))
    outputs = {name: np.concatenate(parts) for name, parts in pieces.items()}
    if all_outputs:
        return outputs
    return next(iter(outputs.values())) if outputs else np.empty((0,))


def predict_split(model, spec: ExperimentSpec, description: InputDescription, split: Split, batch_size: int = 4096):
    """Every output of the model on a split of its data (in the split's order)."""
    batches = (spec.model.feed(x, description) for x in split.x_batches(batch_size))
    return predict_batches(model, batches, all_outputs=True)


def split_metrics(model, spec: ExperimentSpec, description: InputDescription, split: Split) -> dict[str, Any]:
    """The metrics of a model on a split: see :func:`metrics`. A split that offers a ``naive_forecast()``
    (forecasts: the last value, repeated) is measured against it too."""
    outputs = predict_split(model, spec, description, split)
    naive = split.naive_forecast()
    return metrics(spec, description, model, outputs, split.labels(), naive)


def metrics(spec: ExperimentSpec, description: InputDescription, model, outputs: dict, y, naive=None) -> dict[str, Any]:
    """Loss and scores of a model's ``outputs`` against labels ``y``.

    ``loss`` is the loss as training computes it: each output's loss, weighted as training weighs them, plus
    the weight penalties (l1, l2). Classification: accuracy, per-class precision/recall/F1, their macro
    averages, the confusion matrix (and `auc` when the spec logs it); regression: mse, rmse, mae, r2. With
    several outputs the main output's scores are at the top level and each output's under ``outputs``.
    ``naive``: a regression's naive baseline for the same samples; adds its `naive_mse`, `naive_rmse`,
    `naive_mae`, the model's `skill` (1 − mse / naive_mse), `beats_naive` (skill > 0) and `baseline`, what the
    baseline predicts (:func:`baseline_name`).
    """
    import keras

    from annctl.training.compile import build_loss, encode_targets

    loss_fn = keras.losses.get(build_loss(spec.training.resolved_loss()))
    encoded = encode_targets(y, spec.training.resolved_loss(), description.num_classes)
    weights = spec.model.loss_weights() or {name: 1.0 for name in outputs}
    decision = type(spec.model).decision
    per_output: dict[str, dict[str, Any]] = {}
    for name, predictions in outputs.items():
        loss = float(keras.ops.convert_to_numpy(keras.ops.mean(loss_fn(encoded, predictions))))
        if description.task == "classification":
            scores = classification_metrics(y, predictions, description.class_names or [], decision)
            if "auc" in (spec.training.metrics or []):
                scores["auc"] = binary_auc(y, predictions)
        else:
            scores = regression_metrics(y, predictions)
        per_output[name] = {"loss": loss, **scores}
    main = next(iter(per_output))
    result: dict[str, Any] = dict(per_output[main])
    penalties = float(sum(float(keras.ops.convert_to_numpy(p)) for p in model.losses)) if model.losses else 0.0
    result["loss"] = sum(weights[name] * values["loss"] for name, values in per_output.items()) + penalties
    if len(per_output) > 1:
        result["outputs"] = per_output
    if naive is not None and description.task == "regression":
        baseline = regression_metrics(y, naive)
        result.update({f"naive_{key}": baseline[key] for key in ("mse", "rmse", "mae")})
        result["skill"] = 1.0 - result["mse"] / baseline["mse"] if baseline["mse"] else float("nan")
        result["beats_naive"] = bool(result["mse"] < baseline["mse"])
        result["baseline"] = baseline_name(description)
    result["samples"] = len(y)
    return result


def baseline_name(description: InputDescription) -> str:
    """What a dataset's naive baseline predicts, in words: a forecast's repeats the last value; a generated
    dataset with a known answer names its own (`adding`: always 1.0) in its description's details."""
    return str(description.details.get("baseline", "the last value, repeated"))


def scalar_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numbers of a :func:`metrics` result, flat: each output's as ``<output>_<metric>`` (summary.json)."""
    flat = {
        k: float(v)
        for k, v in result.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "samples"
    }
    for name, values in (result.get("outputs") or {}).items():
        flat.update({f"{name}_{k}": float(v) for k, v in values.items() if isinstance(v, (int, float))})
    return flat


def predicted_classes(outputs, decision: str = "probability"):
    """Class indices from a classifier's main output."""
    import numpy as np

    outputs = np.asarray(outputs)
    if outputs.shape[-1] == 1:
        return (outputs[:, 0] >= (0.0 if decision == "score" else 0.5)).astype("int64")
    return outputs.argmax(axis=-1)


def classification_metrics(y: Any, outputs: Any, class_names: list[str], decision: str = "probability") -> dict:
    import numpy as np

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


def binary_auc(y, outputs) -> float:
    """Area under the ROC curve of a binary classifier's score (NaN when the labels hold one class)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(y)
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(outputs).reshape(len(labels), -1)[:, -1]))


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
