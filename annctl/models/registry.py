"""The architecture registry, alone in its module so that entries can register without importing the package
(timm's ``_registry.py``). ``annctl.models`` imports every entry, so registration always runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annctl.registry import Registry

if TYPE_CHECKING:
    from annctl.models.base import ArchitectureSpec

# Every architecture users can name in `model.architecture`, keyed by that name.
ARCHITECTURES: Registry[type[ArchitectureSpec]] = Registry("architecture")


def register_architecture(cls: type[ArchitectureSpec]) -> type[ArchitectureSpec]:
    """Class decorator: the key is the default of the class's ``architecture: Literal[...]`` field."""
    return ARCHITECTURES.add(cls.model_fields["architecture"].default, cls)
