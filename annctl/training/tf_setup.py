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


# `threads: auto` runs dense networks on one thread up to this batch size. Measured on the 2-core machine
# (Keras train_step in a loop, µs per sample, 1 thread vs 2): 784-300-100-10 MLP at batch 32 26.9 vs 39.3,
# 128 15.0 vs 19.5, 512 12.6 vs 13.6, 1024 2 threads ahead; California's 8-30-10 at 32 5.9 vs 8.7; the CNN at
# batch 64 447 vs 280 (convolutions want every core).
ONE_THREAD_MAX_BATCH = 256


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _thread_cap() -> int | None:
    threads = os.environ.get("ANNCTL_THREADS", "")
    return int(threads) if threads.isdigit() and int(threads) > 0 else None


def _limit_threads(tf) -> None:
    """$ANNCTL_THREADS caps TensorFlow's thread pools (set by `annctl tune --workers K` for each trial)."""
    cap = _thread_cap()
    if cap:
        tf.config.threading.set_intra_op_parallelism_threads(cap)
        tf.config.threading.set_inter_op_parallelism_threads(cap)


def wanted_threads(spec, gpus: int) -> int:
    """Threads for a run of ``spec``: `training.threads`, or for `auto` 1 where one thread is measured faster
    (a dense network on the CPU at batch <= ONE_THREAD_MAX_BATCH) and every core elsewhere; at most
    $ANNCTL_THREADS."""
    training, available = spec.training, cores()
    if training.threads != "auto":
        wanted = training.threads
    elif (
        gpus == 0
        and training.distribution == "none"
        and not spec.model.wants_all_cores
        and training.batch_size <= ONE_THREAD_MAX_BATCH
    ):
        wanted = 1
    else:
        wanted = available
    return min(wanted, _thread_cap() or wanted)


def configure_threads(spec) -> int:
    """Size TensorFlow's thread pools for a run of ``spec`` (before any op runs); return the count in effect.

    TensorFlow fixes its pools when its runtime starts: a later run in the same Python process (tests,
    notebooks) keeps the first run's count, which this returns. The count never changes results.
    """
    tf = import_tensorflow()
    wanted = wanted_threads(spec, len(tf.config.list_physical_devices("GPU")))
    current = tf.config.threading.get_intra_op_parallelism_threads() or cores()  # 0: TensorFlow's default
    if current == wanted:
        return current
    try:
        tf.config.threading.set_intra_op_parallelism_threads(wanted)
        tf.config.threading.set_inter_op_parallelism_threads(wanted)
    except RuntimeError:  # the runtime has started in this process: its pools stay as they are
        return current
    return wanted


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels (XLA honours it too:
    annctl's compiled steps run with it on; only Keras' own `jit_compile` refuses it)."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
