"""The dataset registry, alone in its module so that entries can register without importing the package
(timm's ``_registry.py``). ``annctl.datasets`` imports every entry, so registration always runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annctl.registry import Registry

if TYPE_CHECKING:
    from annctl.datasets.base import DatasetSpec

# Every dataset users can name in `dataset.name`, keyed by that name.
DATASETS: Registry[type[DatasetSpec]] = Registry("dataset")


def input_kinds() -> list[str]:
    """The kinds of input the registered datasets give (each declared by its dataset or kind base class:
    ``kind: ClassVar[str]``); a module that adds a dataset of a new kind adds the kind."""
    return sorted({entry.kind for entry in DATASETS.values()})


def register_dataset(cls: type[DatasetSpec]) -> type[DatasetSpec]:
    """Class decorator: the key is the default of the class's ``name: Literal[...]`` field."""
    return DATASETS.add(cls.model_fields["name"].default, cls)
