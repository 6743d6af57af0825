"""Import TensorFlow quietly and make it deterministic: same spec and seed, same numbers on one machine."""

from __future__ import annotations

import os
import sys


def import_tensorflow():
    """Import TensorFlow (and initialise its devices) with its C++ start-up chatter kept off the terminal.

    TensorFlow 2.21 logs through absl before any log level applies, so the environment variables alone do not
    silence it; file descriptor 2 is pointed at /dev/null for the import only. Python errors still raise.
    Set ANNCTL_TF_LOGS=1 to see everything.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if os.environ.get("ANNCTL_TF_LOGS"):
        import tensorflow as tf

        return tf
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # device initialisation logs too (e.g. "failed call to cuInit")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tf


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
