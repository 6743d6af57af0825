"""The dataset registry's entries. Importing this package imports every entry module, so registration always
runs; the registry itself lives in ``annctl.datasets.registry``. Nothing here imports TensorFlow."""

from __future__ import annotations

from annctl.datasets import (  # noqa: F401  (registration)
    adding,
    california,
    csv_file,
    fashion_mnist,
    image_folder,
    inline,
    inline_sequence,
    iris,
    timeseries,
    xor,
)
from annctl.datasets.base import Data, DatasetSpec, InputDescription
from annctl.datasets.registry import DATASETS, register_dataset

__all__ = ["DATASETS", "Data", "DatasetSpec", "InputDescription", "register_dataset"]
