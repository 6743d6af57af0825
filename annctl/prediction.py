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
from pathlib import Path
from typing import Any, Literal, TextIO

from annctl.errors import UsageError
from annctl.fileio import atomic_path
from annctl.inputs import InputSource, Warn
from annctl.modelio import Checkpoint, load_run_model

Format = Literal["csv", "jsonl"]


def output_format(output: Path | None, requested: str | None) -> Format:
    if requested:
        if requested not in ("csv", "jsonl"):
            raise UsageError(f"--format {requested}: use csv or jsonl")
        return requested  # type: ignore[return-value]
    if output is not None and output.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


class PredictionWriter:
    """Turns model outputs into rows: class name + probability (+ top k) for classifiers, values for regressors."""

    def __init__(self, handle: TextIO, fmt: Format, info: dict[str, Any], top_k: int | None):
        self.handle, self.fmt, self.info, self.top_k = handle, fmt, info, top_k
        self.classes = info.get("class_names")
        targets = info["target_name"].split(",") if info.get("n_targets", 1) > 1 else []
        self.value_columns = [f"prediction_{name}" for name in targets] or ["prediction"]
        self.writer: csv.DictWriter | None = None

    def columns(self, with_file: bool) -> list[str]:
        columns = ["file"] if with_file else []
        if self.classes:
            columns += ["prediction", "probability"] + (["top_k"] if self.top_k else [])
        else:
            columns += self.value_columns
        return columns

    def write(self, outputs: Any, files: list[str] | None) -> None:
        import numpy as np

        rows = []
        for i, output in enumerate(np.asarray(outputs, dtype="float64")):
            row: dict[str, Any] = {"file": files[i]} if files else {}
            if self.classes:
                probabilities = np.array([1 - output[0], output[0]]) if output.shape[-1] == 1 else output
                order = np.argsort(-probabilities, kind="stable")
                row["prediction"] = self.classes[order[0]]
                row["probability"] = round(float(probabilities[order[0]]), 6)
                if self.top_k:
                    top = [(self.classes[j], round(float(probabilities[j]), 6)) for j in order[: self.top_k]]
                    row["top_k"] = (
                        [{"class": c, "probability": p} for c, p in top]
                        if self.fmt == "jsonl"
                        else "|".join(f"{c}:{p:g}" for c, p in top)
                    )
            else:
                for column, value in zip(self.value_columns, np.atleast_1d(output)):
                    row[column] = float(value)
            rows.append(row)
        if self.fmt == "jsonl":
            self.handle.writelines(json.dumps(row) + "\n" for row in rows)
            return
        if self.writer is None:
            self.writer = csv.DictWriter(self.handle, fieldnames=self.columns(bool(files)), lineterminator="\n")
            self.writer.writeheader()
        self.writer.writerows(rows)


def predict_run(
    run_dir: Path,
    source: str,
    output: Path | None = None,
    fmt: str | None = None,
    top_k: int | None = None,
    checkpoint: Checkpoint = "final",
    batch_size: int = 4096,
    warn: Warn | None = None,
) -> dict[str, Any]:
    """Predict every row of ``source``; return counts and throughput. Writes to ``output`` or stdout."""
    from annctl.rundir import read_data_info

    info = read_data_info(run_dir)
    chosen = output_format(output, fmt)
    if top_k is not None and not info.get("class_names"):
        raise UsageError("--top-k applies to classifiers only")
    model = load_run_model(run_dir, checkpoint)
    from annctl.training.trainer import predict_batches

    inputs = InputSource(source, info, chunk_rows=max(batch_size, 1024), warn=warn)
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
            writer = PredictionWriter(handle, chosen, info, top_k)
            for chunk, files in inputs.chunks():
                writer.write(predict_batches(model, chunk, batch_size), files)
                rows += len(chunk)
        if output is None:
            with open(target, encoding="utf-8") as handle:
                shutil.copyfileobj(handle, sys.stdout)
            sys.stdout.flush()
    finally:
        if output is None:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_second": rows / seconds if seconds else None,
        "output": str(output) if output else "-",
        "format": chosen,
    }
