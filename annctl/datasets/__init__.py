"""The dataset registry. Each module below registers one entry; importing this package imports them all,
so registration always runs. Nothing here imports numpy-heavy or TensorFlow code at import time."""

from __future__ import annotations

from annctl.datasets.base import Dataset, DatasetSpec, TabularSpec
from annctl.registry import Registry

# Every dataset users can name in `dataset.name`, keyed by that name.
DATASETS: Registry[type[DatasetSpec]] = Registry("dataset")


def register_dataset(cls: type[DatasetSpec]) -> type[DatasetSpec]:
    """Class decorator: the key is the default of the class's ``name: Literal[...]`` field."""
    return DATASETS.add(cls.model_fields["name"].default, cls)


from annctl.datasets import california, csv_file, fashion_mnist, inline, iris, xor  # noqa: E402,F401  (registration)

__all__ = ["DATASETS", "Dataset", "DatasetSpec", "TabularSpec", "register_dataset"]
