"""`metrics.csv`: one row per epoch (1-based), rewritten atomically so it is never half a line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras

from annctl.fileio import atomic_write_text


class MetricsLog(keras.callbacks.Callback):
    def __init__(self, path: Path, rows: list[dict] | None = None):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict] = list(rows or [])

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        row.update({key: float(value) for key, value in (logs or {}).items()})
        self.rows.append(row)
        atomic_write_text(self.path, rows_to_csv(self.rows))


def column_order(keys) -> list[str]:
    """epoch, train metrics (loss first), val_ metrics in the same order, gradient norms (grad_norm/…, in layer
    order), learning_rate, epoch_seconds."""
    keys = [k for k in keys if k not in ("epoch", "learning_rate", "epoch_seconds")]
    train = sorted((k for k in keys if not k.startswith(("val_", "grad_norm"))), key=lambda k: (k != "loss", k))
    val = [f"val_{k}" for k in train if f"val_{k}" in keys]
    rest = [k for k in keys if k not in train and k not in val]
    return ["epoch", *train, *val, *rest, "learning_rate", "epoch_seconds"]


def rows_to_csv(rows: list[dict]) -> str:
    columns = column_order(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return out.getvalue()
