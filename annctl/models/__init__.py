"""The architecture registry's entries. Importing this package imports every entry module, so registration
always runs; the registry itself lives in ``annctl.models.registry``. Builders import Keras inside ``build``,
so listing or validating never loads TensorFlow."""

from __future__ import annotations

from annctl.models import cnn, mlp, perceptron, rnn, wide_deep, wide_deep_subclassed  # noqa: F401  (registration)
from annctl.models.base import ArchitectureSpec
from annctl.models.registry import ARCHITECTURES, register_architecture

__all__ = ["ARCHITECTURES", "ArchitectureSpec", "register_architecture"]
