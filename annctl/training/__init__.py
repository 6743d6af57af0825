"""Training: turn a validated spec into a finished run directory. Imports TensorFlow only when called."""

from annctl.training.trainer import Reporter, train

__all__ = ["Reporter", "train"]
