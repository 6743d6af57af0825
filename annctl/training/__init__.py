"""Training: turn a validated spec into a finished run directory. Imports TensorFlow only when called.

lifecycle.py (entry points, lock, statuses, signals) → fit.py (model, pipelines, callbacks/, model.fit) →
inference.py (predictions and the metrics every command reports).
"""

from annctl.training.lifecycle import Reporter, resume, train

__all__ = ["Reporter", "resume", "train"]
