"""`annctl predict`: stream rows through a run's model and write one prediction per row, in input order.

Output goes to a temp file first and is renamed (or copied to stdout) only when every row succeeded, so a
bad row never leaves half an output.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from annctl.datasets.base import Warn
from annctl.errors import UsageError
from annctl.fileio import atomic_path
from annctl.light.engine import choose_engine
from annctl.modelio import Checkpoint, load_run_model

if TYPE_CHECKING:
    from annctl.records import DataInfo

Format = Literal["csv", "jsonl"]


def output_format(output: Path | None, requested: str | None) -> Format:
    if requested:
        if requested not in ("csv", "jsonl"):
            raise UsageError(f"--format {requested}: use csv or jsonl")
        return requested  # type: ignore[return-value]
    if output is not None and output.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


PROBABILITY_DECIMALS = 6  # every probability (or score) with the same decimals: 1.000000 beside 0.999629


def model_number(value: Any) -> float:
    """A model's float32 output as the shortest decimal that is that float32 (6.90414, not 6.904140472412109:
    the digits after those are the float64 widening's, not the model's)."""
    import numpy as np

    return float(str(np.float32(value)))


class PredictionWriter:
    """Turns model outputs into rows: class name + probability (+ top k) for classifiers, values for regressors."""

    def __init__(self, handle: TextIO, fmt: Format, info: DataInfo, top_k: int | None, extra: list[str]):
        self.handle, self.fmt, self.info, self.top_k, self.extra = handle, fmt, info, top_k, extra
        self.classes = info.class_names
        # a perceptron's output is a score (the Heaviside step decides at 0), not a probability
        self.confidence = info.decision
        targets = info.target_name.split(",") if info.n_targets > 1 else []
        self.value_columns = [f"prediction_{name}" for name in targets] or ["prediction"]
        self.writer: csv.DictWriter | None = None

    def columns(self, with_file: bool) -> list[str]:
        columns = ["file"] if with_file else []
        for prefix in ["", *(f"{name}_" for name in self.extra)]:
            if self.classes:
                columns += [f"{prefix}prediction", f"{prefix}{self.confidence}"]
                columns += [f"{prefix}top_k"] if self.top_k else []
            else:
                columns += [f"{prefix}{column}" for column in self.value_columns]
        return columns

    def cells(self, output: Any, prefix: str, row: dict[str, Any]) -> None:
        """Fill ``row`` with one sample's output: the value(s), or the class and its probability (and top k)."""
        import numpy as np

        if not self.classes:
            for column, value in zip(self.value_columns, np.atleast_1d(output)):
                row[prefix + column] = model_number(value)
            return
        if output.shape[-1] == 1:
            threshold = 0.0 if self.confidence == "score" else 0.5
            positive = output[0] >= threshold
            order = [1, 0] if positive else [0, 1]
            values = [output[0], output[0]] if self.confidence == "score" else [1 - output[0], output[0]]
        else:
            order, values = list(np.argsort(-output, kind="stable")), output
        row[prefix + "prediction"] = self.classes[order[0]]
        row[prefix + self.confidence] = self.probability(values[order[0]])
        if self.top_k:
            top = [(self.classes[j], self.probability(values[j])) for j in order[: self.top_k]]
            row[prefix + "top_k"] = (
                [{"class": c, self.confidence: p} for c, p in top]
                if self.fmt == "jsonl"
                else "|".join(f"{c}:{p}" for c, p in top)
            )

    def probability(self, value: Any) -> float | str:
        """A probability or score with PROBABILITY_DECIMALS decimals: text in CSV (`1.000000`, as wide as its
        neighbours), a number in JSON lines."""
        if self.fmt == "jsonl":
            return round(float(value), PROBABILITY_DECIMALS)
        return f"{float(value):.{PROBABILITY_DECIMALS}f}"

    def write(self, outputs: dict[str, Any], files: list[str] | None) -> int:
        import numpy as np

        names = list(outputs)
        arrays = {name: np.asarray(outputs[name], dtype="float64") for name in [names[0], *self.extra]}
        rows = []
        for i in range(len(arrays[names[0]])):
            row: dict[str, Any] = {"file": files[i]} if files else {}
            self.cells(arrays[names[0]][i], "", row)
            for name in self.extra:
                self.cells(arrays[name][i], f"{name}_", row)
            rows.append(row)
        return self.write_rows(rows, self.columns(bool(files)))

    def write_rows(self, rows: list[dict[str, Any]], columns: list[str] | None = None) -> int:
        """Write finished rows (CSV columns: ``columns``, else the first row's keys); return how many."""
        if self.fmt == "jsonl":
            # names as written (café, not caf\u00e9): the file is UTF-8
            self.handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            return len(rows)
        if self.writer is None and (rows or columns):
            fields = columns or list(rows[0])
            self.writer = csv.DictWriter(self.handle, fieldnames=fields, lineterminator="\n")
            self.writer.writeheader()
        if self.writer is not None:
            self.writer.writerows(rows)
        return len(rows)


def predict_run(
    run_dir: Path,
    source: str,
    output: Path | None = None,
    fmt: str | None = None,
    top_k: int | None = None,
    checkpoint: Checkpoint = "final",
    batch_size: int = 4096,
    warn: Warn | None = None,
    all_outputs: bool = False,
    dialect: dict[str, str] | None = None,
    rolling: bool = False,
    on_bad_image: str | None = None,
    engine: str = "auto",
    before_tensorflow: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Predict every row of ``source``; return counts, throughput and the engine used. Writes to ``output`` or
    stdout.

    ``all_outputs`` adds one set of columns per extra output of a multi-output model (e.g. `aux_prediction`).
    ``dialect``: CSV input's `delimiter`, `decimal`, `encoding` in place of the training file's
    (annctl.datasets.tabular.dialect_options).
    ``rolling`` (forecasts): one forecast per complete window of the input instead of one after its last row.
    ``on_bad_image`` (images): `error` or `skip` for files of a folder or list that are not readable images, in
    place of the run's `dataset.on_bad_image`; the skipped files are counted in the result (`skipped`).
    ``engine``: auto, litert or keras (annctl.light.engine); with auto, a run that cannot use LiteRT is predicted
    by Keras and ``warn`` says why, once. ``before_tensorflow`` runs before TensorFlow is imported, if it is.
    """
    from annctl.config import load_spec
    from annctl.datasets.tabular import with_dialect
    from annctl.rundir import RunPaths, read_data_info

    info = with_dialect(read_data_info(run_dir), dialect)
    spec = load_spec(RunPaths(run_dir).spec)
    extra = list(info.outputs[1:]) if all_outputs else []
    chosen = output_format(output, fmt)
    if top_k is not None and not info.class_names:
        raise UsageError("--top-k applies to classifiers only")
    # new inputs are read by the dataset entry that made the run, as its kind of input is read
    inputs = spec.dataset.reader(info, source, chunk_rows=max(batch_size, 1024), warn=warn)
    if rolling:
        if not inputs.can_roll:
            raise UsageError(f"--rolling applies to forecasts (a timeseries run); this run takes {info.kind} inputs")
        inputs.rolling = True
    if on_bad_image is not None:
        if not inputs.can_skip_bad_files:
            raise UsageError(f"--on-bad-image applies to image inputs; this run takes {info.kind} inputs")
        inputs.on_bad_image = on_bad_image
    choice = choose_engine(engine, run_dir, checkpoint, info, before_tensorflow)
    if choice.light is not None:
        light = choice.light

        def predict_chunk(fed):
            return light.predict(fed, batch_size)
    else:
        if choice.reason and not choice.expected and warn is not None:
            warn(f"predicting with Keras: {choice.reason}")
        if before_tensorflow is not None:
            before_tensorflow()
        model = load_run_model(run_dir, checkpoint)
        from annctl.training.inference import predict_batches

        def predict_chunk(fed):
            return predict_batches(model, fed, batch_size, all_outputs=True)

    started, rows = time.perf_counter(), 0
    if output is not None:
        target = output
        context = atomic_path(output)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="annctl-predict-"))
        target = scratch / "predictions"
        context = atomic_path(target)
    try:
        with context as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = PredictionWriter(handle, chosen, info, top_k, extra)
            for chunk, files in inputs.chunks():
                fed = spec.model.feed(chunk, info)
                outputs = predict_chunk(fed)
                # a reader may make its own output rows (a forecast: one row per step ahead)
                own_rows = inputs.prediction_rows(next(iter(outputs.values())), files, writer)
                rows += writer.write_rows(own_rows) if own_rows is not None else writer.write(outputs, files)
        if output is None:
            with open(target, encoding="utf-8") as handle:
                shutil.copyfileobj(handle, sys.stdout)
            sys.stdout.flush()
    finally:
        if output is None:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    skipped = inputs.skipped_files()  # files of a folder or list that are not readable images
    return {
        "rows": rows,
        "skipped": len(skipped),
        "skipped_files": [{"file": file, "reason": reason} for file, reason in skipped],
        "seconds": seconds,
        "rows_per_second": rows / seconds if seconds else None,
        "output": str(output) if output else "-",
        "format": chosen,
        "engine": choice.engine,
        "engine_reason": choice.reason,
    }
