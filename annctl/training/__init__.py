"""Training: turn a validated spec into a finished run directory. Imports TensorFlow only when called."""

from annctl.training.trainer import Reporter, resume, train

__all__ = ["Reporter", "resume", "train"]
