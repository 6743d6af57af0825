"""The input pipelines: a fresh, reproducible order every epoch for training, the plain order otherwise.

Keras' own shuffling of NumPy arrays draws its permutation with a stateful random op inside tf.data; once a
global seed is set (as annctl does, for reproducibility) every epoch's iterator restarts that op, so every
epoch sees the *same* order. Here epoch *e*'s order is a stateless shuffle keyed by (seed, e): different
each epoch, identical across runs with the same seed, and known without replaying earlier epochs, so a
resumed run continues exactly as an uninterrupted one would. The order is a dataset of index batches; the
split (annctl.datasets.base) turns it into (x, y) batches — gathered from memory, or read from files.

Annctl's own training function (annctl.training.compiled) reads one stream of every epoch through a single
iterator: making an iterator instantiates the pipeline's functions, ~7 ms on this CPU (2026-11-30), and
Keras' `fit` makes two per epoch for a dataset it reads one epoch at a time (four with validation). On the
iris search's trials that was most of an epoch's 34 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from annctl.datasets.interfaces import Split


def training_stream(
    split: Split,
    batch_size: int,
    shuffle: bool,
    seed: int,
    prepare: Callable,
    batches_per_element: int,
    epochs: range,
):
    """(dataset, elements per epoch): every epoch of ``epochs`` in order, in one dataset whose elements are
    chunks of ``batches_per_element`` consecutive batches of that epoch's order (the epoch's last chunk holds
    the rest; its last batch may be smaller). Slicing a chunk into ``batch_size`` rows gives exactly the
    batches of :func:`training_dataset`. ``prepare(x, y)`` maps rows to the model's inputs and targets."""
    import tensorflow as tf

    n, rows = split.size, batch_size * batches_per_element
    seed_t = tf.constant(seed % 2**31, dtype=tf.int64)

    def order(epoch):
        return _epoch_order(n, rows, shuffle, seed_t, epoch)

    stream = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(order)
    dataset = split.batches(stream).map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE), math.ceil(n / rows)


def training_dataset(split: Split, batch_size: int, shuffle: bool, seed: int, prepare: Callable):
    """(dataset, epoch variable, batches per epoch): one epoch per iterator, for Keras' own training loop
    (distribution strategies). Set the variable to the epoch before it starts (the EpochOrder callback does)."""
    import tensorflow as tf

    n = split.size
    steps = math.ceil(n / batch_size)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="annctl_epoch")
    seed_t = tf.constant(seed % 2**31, dtype=tf.int64)

    def order(_):
        return _epoch_order(n, batch_size, shuffle, seed_t, epoch.read_value())

    dataset = split.batches(tf.data.Dataset.range(1).flat_map(order))
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)
    return dataset, epoch, steps


def _epoch_order(n: int, rows: int, shuffle: bool, seed, epoch):
    """Epoch ``epoch``'s sample indices, ``rows`` at a time: shuffled by (seed, epoch), or in order."""
    import tensorflow as tf

    indices = tf.range(n, dtype=tf.int64)
    if shuffle:
        indices = tf.random.experimental.stateless_shuffle(indices, seed=tf.stack([seed, epoch]))
    return tf.data.Dataset.from_tensor_slices(indices).batch(rows)


def ordered_dataset(split: Split, batch_size: int, prepare: Callable):
    """The split in its own order, ``batch_size`` at a time (validation: Keras' `evaluate` makes two new
    iterators of it every epoch). A split held in memory is prepared once, so its iterators set up no function
    (~0.3 ms each instead of ~7); one read from files streams."""
    import tensorflow as tf

    tensors = split.tensors()  # a split held in memory (annctl.datasets.base.ArraySplit)
    if tensors is not None:
        return tf.data.Dataset.from_tensor_slices(prepare(*tensors)).batch(batch_size)
    order = tf.data.Dataset.range(split.size).batch(batch_size)
    dataset = split.batches(order).map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    steps = math.ceil(split.size / batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)
