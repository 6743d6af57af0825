"""The dataset registry's entries. Importing this package imports every entry module, so registration always
runs; the registry itself lives in ``annctl.datasets.registry``. Nothing here imports TensorFlow."""

from __future__ import annotations

from annctl.datasets import california, csv_file, fashion_mnist, inline, inline_sequence, iris, timeseries, xor  # noqa: F401  (registration)
from annctl.datasets.base import Data, DatasetSpec, InputDescription
from annctl.datasets.registry import DATASETS, register_dataset

__all__ = ["DATASETS", "Data", "DatasetSpec", "InputDescription", "register_dataset"]
