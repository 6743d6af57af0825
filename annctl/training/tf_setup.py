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

        _limit_threads(tf)
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
    _limit_threads(tf)
    return tf


def _limit_threads(tf) -> None:
    """$ANNCTL_THREADS caps TensorFlow's thread pools (set by `annctl tune --workers K` for each trial)."""
    threads = os.environ.get("ANNCTL_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels.

    ``deterministic_ops=False`` is for `jit_compile: true`: Keras refuses XLA (falling back to the plain graph
    with only a Python warning) whenever TensorFlow's op determinism is on.
    """
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework.config import disable_op_determinism  # not exported under tf.config

        disable_op_determinism()
