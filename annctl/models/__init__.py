"""The architecture registry. Each module below registers one entry; importing this package imports them all.
Builders import Keras inside ``build`` so that listing or validating never loads TensorFlow."""

from __future__ import annotations

from annctl.models.base import ArchitectureSpec
from annctl.registry import Registry

# Every architecture users can name in `model.architecture`, keyed by that name.
ARCHITECTURES: Registry[type[ArchitectureSpec]] = Registry("architecture")


def register_architecture(cls: type[ArchitectureSpec]) -> type[ArchitectureSpec]:
    """Class decorator: the key is the default of the class's ``architecture: Literal[...]`` field."""
    return ARCHITECTURES.add(cls.model_fields["architecture"].default, cls)


from annctl.models import cnn, mlp, perceptron, wide_deep, wide_deep_subclassed  # noqa: E402,F401  (registration)

__all__ = ["ARCHITECTURES", "ArchitectureSpec", "register_architecture"]
