"""The two interfaces between a dataset and the rest of annctl, declared once: a :class:`Split` of its data (what
training, evaluation and the export check read) and an :class:`InputReader` of new inputs (what `predict` and
`evaluate --data` read). Capabilities only some kinds have (a forecast's naive baseline, samples that are files,
bad files skipped, rolling forecasts, output rows of the reader's own) are declared here with the answer of a
kind that lacks them, so callers ask a split or a reader instead of probing it with ``hasattr``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np


class Split:
    """One part (train, validation or test) of a dataset: held in memory (base.ArraySplit), read from image
    files on demand (images.FileSplit), or the windows of a series (timeseries.WindowSplit)."""

    # Samples that are files (images): evaluation names its worst mistakes by file. None: not files.
    files: list[str] | None = None
    # Bad inputs left out of the split (image folders with `on_bad_image: skip`).
    skipped: int = 0

    @property
    def size(self) -> int:
        raise NotImplementedError  # pragma: no cover - every split defines it

    def labels(self) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - every split defines it

    def batches(self, order: Any) -> Any:
        """``order``: a tf.data dataset of int64 index batches → a dataset of (x, y) batches in that order."""
        raise NotImplementedError  # pragma: no cover - every split defines it

    def x_batches(self, batch_size: int) -> Iterator[Any]:
        """The inputs in order, ``batch_size`` samples at a time, as the model takes them."""
        raise NotImplementedError  # pragma: no cover - every split defines it

    def tensors(self) -> tuple[Any, Any] | None:
        """The whole split as (x, y) tensors made once (a split held in memory), or None (read on demand)."""
        return None

    def naive_forecast(self) -> np.ndarray | None:
        """A naive baseline for each sample — a forecast's last value, repeated; the adding problem's 1.0 —
        or None (none to beat)."""
        return None


class InputReader:
    """New inputs of one kind read from a file, a folder or ``-``, validated, as the model takes them."""

    # Whether it can forecast every complete window of its input (`predict --rolling`) instead of the last one.
    can_roll: ClassVar[bool] = False
    # Set by `predict --rolling` on a reader that can roll.
    rolling: bool = False
    # Whether files of a folder or list that are not readable images can be left out (`--on-bad-image skip`).
    can_skip_bad_files: ClassVar[bool] = False
    # `error` or `skip`: the run's `dataset.on_bad_image`, or `--on-bad-image` on a reader that can skip.
    on_bad_image: str = "error"

    def chunks(self) -> Iterator[tuple[Any, Any]]:
        """``(x, context)`` chunks: ``context`` per sample is its file name (images), a window's end (forecasts),
        or None."""
        raise NotImplementedError  # pragma: no cover - every reader defines it

    def read_labeled(self, path: Path) -> tuple[Any, Any] | Split:
        """`evaluate --data`: (x, y) of a labeled file, or a :class:`Split` (a folder of images, read lazily)."""
        raise NotImplementedError  # pragma: no cover - every reader defines it

    def naive_forecast(self) -> np.ndarray | None:
        """After :meth:`read_labeled`: a forecast's naive baseline of each sample, or None (not a forecast)."""
        return None

    def skipped_files(self) -> list[tuple[str, str]]:
        """After :meth:`chunks`: the files left out as not readable images, each with why (`on_bad_image:
        skip`); none for a reader that cannot skip."""
        return []

    def prediction_rows(self, outputs: Any, contexts: Any, writer: Any) -> list[dict[str, Any]] | None:
        """The output rows of a reader that makes its own (a forecast: one row per step ahead), or None: one
        row per input, made by the prediction writer."""
        return None
