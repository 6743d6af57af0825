"""Import TensorFlow quietly and make it deterministic: same spec and seed, same numbers on one machine."""

from __future__ import annotations

import os


def import_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide TensorFlow's C++ chatter (set it to 0 to debug)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    return tf


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except AttributeError:  # pragma: no cover - very old TensorFlow
        pass
