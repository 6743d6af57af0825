"""`annctl evaluate`: measure a finished run on a split of its data or on a labeled CSV, with quality gates."""

from __future__ import annotations

import errno
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annctl.errors import GateFailed, UsageError
from annctl.fileio import atomic_write_json
from annctl.modelio import Checkpoint, load_run_model

if TYPE_CHECKING:
    from annctl.datasets.interfaces import InputReader, Split

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


def evaluate_run(
    run_dir: Path,
    split: str = "test",
    data_file: Path | None = None,
    checkpoint: Checkpoint = "final",
    fail_under: list[str] | None = None,
    fail_over: list[str] | None = None,
    warn: Callable[[str], None] | None = None,
    dialect: dict[str, str] | None = None,
    on_bad_image: str | None = None,
) -> dict[str, Any]:
    """Evaluate; save `RUN/eval/<split>-<timestamp>.json`; raise GateFailed (exit 3) when a gate is not met.

    Saving is a convenience: a run directory that cannot be written (read-only) gets a ``warn`` and the result
    is returned all the same. ``dialect``: the `--data` CSV's `delimiter`, `decimal`, `encoding` in place of
    the training file's (annctl.datasets.tabular.dialect_options). ``on_bad_image``: for a `--data` folder of
    images, `error` or `skip` in place of the run's `dataset.on_bad_image`.
    """
    from annctl.config import load_spec
    from annctl.datasets.tabular import with_dialect
    from annctl.rundir import RunPaths, read_data_info

    paths = RunPaths(run_dir)
    spec = load_spec(paths.spec)
    description = read_data_info(run_dir)
    if dialect:
        if data_file is None:
            raise UsageError(f"{', '.join('--' + option for option in dialect)}: for the rows of --data; give a file")
        description = with_dialect(description, dialect)
    gates = parse_gates(list(fail_under or []), list(fail_over or []), description.task)
    model = load_run_model(run_dir, checkpoint)
    from annctl.training.inference import metrics as measure
    from annctl.training.inference import predict_batches, predict_split

    part: Split | None = None
    source: Split | InputReader
    if on_bad_image is not None and (data_file is None or description.kind != "image"):
        raise UsageError("--on-bad-image: for a --data folder of images")
    if data_file is not None:
        reader = spec.dataset.reader(description, str(data_file), chunk_rows=8192, warn=warn)
        if on_bad_image is not None:
            reader.on_bad_image = on_bad_image
        labeled = reader.read_labeled(Path(data_file))  # (x, y), or a split (image folders: read lazily)
        if isinstance(labeled, tuple):
            x, y = labeled
            outputs = predict_batches(model, spec.model.feed(x, description), all_outputs=True)
        else:
            part = labeled
        split = "data"
        source = reader
    else:
        part = spec.dataset.load(spec.seed).split(split)
    if part is not None:
        outputs, y = predict_split(model, spec, description, part), part.labels()
        source = part
    naive = source.naive_forecast()  # forecasts' baseline (None for other kinds)
    metrics = measure(spec, description, model, outputs, y, naive)
    main = next(iter(outputs))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    result: dict[str, Any] = {"run_dir": str(run_dir), "split": split, "checkpoint": checkpoint, "metrics": metrics}
    if data_file is not None:
        result["data"] = str(data_file)
    files = part.files if part is not None else None  # samples that are files (images): name the worst mistakes
    if files is not None and description.task == "classification":
        decision = type(spec.model).decision
        result["misclassified"] = misclassified(outputs[main], y, files, description.class_names or [], decision)
    if part is not None and part.skipped:
        result["skipped_images"] = part.skipped
    eval_dir = paths.eval
    try:
        atomic_write_json(eval_dir / f"{split}-{stamp}.json", result)
        if description.task == "classification":
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


def misclassified(outputs, y, files: list[str], class_names: list[str], decision: str, limit: int = 25) -> list[dict]:
    """The ``limit`` most confidently misclassified files: the highest probability given to a wrong class first."""
    import numpy as np

    from annctl.training.inference import predicted_classes

    outputs = np.asarray(outputs, dtype="float64")
    predicted = predicted_classes(outputs, decision)
    if outputs.shape[-1] == 1:  # one sigmoid unit: the probability of class 1
        confidence = np.where(predicted == 1, outputs[:, 0], 1 - outputs[:, 0])
    else:
        confidence = outputs[np.arange(len(outputs)), predicted]
    wrong = np.flatnonzero(predicted != np.asarray(y))
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:limit]
    return [
        {
            "file": files[i],
            "true": class_names[int(y[i])],
            "predicted": class_names[int(predicted[i])],
            "confidence": round(float(confidence[i]), 6),
        }
        for i in worst
    ]


def save_confusion_matrix(metrics: dict[str, Any], path: Path) -> Path:
    from annctl.plots import confusion_matrix

    matrix = metrics["confusion_matrix"]
    return confusion_matrix(matrix["labels"], matrix["rows_true_columns_predicted"], metrics["accuracy"], path)
