"""The input pipelines: a fresh, reproducible order every epoch for training, the plain order otherwise.

Keras' own shuffling of NumPy arrays draws its permutation with a stateful random op inside tf.data; once a
global seed is set (as annctl does, for reproducibility) every epoch's iterator restarts that op, so every
epoch sees the *same* order. Here epoch *e*'s order is a stateless shuffle keyed by (seed, e): different
each epoch, identical across runs with the same seed, and known without replaying earlier epochs, so a
resumed run continues exactly as an uninterrupted one would. The order is a dataset of index batches; the
split (annctl.datasets.base) turns it into (x, y) batches — gathered from memory, or read from files.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def training_dataset(split, batch_size: int, shuffle: bool, seed: int, prepare: Callable, batches_per_element: int = 1):
    """(dataset, epoch variable, batches per epoch). Set the variable to the epoch before it starts (the
    EpochOrder callback does). ``prepare(x, y)`` maps a batch to the model's inputs and targets.

    ``batches_per_element`` > 1 (annctl.training.compiled): each element is a chunk of that many consecutive
    batches of the same order, so slicing a chunk into ``batch_size`` rows gives exactly the batches of the
    plain pipeline; the epoch's last chunk holds the rest (its last batch may be smaller, as before)."""
    import tensorflow as tf

    n = split.size
    steps = math.ceil(n / batch_size)
    rows = batch_size * batches_per_element
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="annctl_epoch")
    seed_t = tf.constant(seed % 2**31, dtype=tf.int64)

    def order(_):
        indices = tf.range(n, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(indices, seed=tf.stack([seed_t, epoch.read_value()]))
        return tf.data.Dataset.from_tensor_slices(indices).batch(rows)

    dataset = split.batches(tf.data.Dataset.range(1).flat_map(order))
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(n / rows))).prefetch(tf.data.AUTOTUNE)
    return dataset, epoch, steps


def ordered_dataset(split, batch_size: int, prepare: Callable):
    """The split in its own order, ``batch_size`` at a time (validation)."""
    import tensorflow as tf

    order = tf.data.Dataset.range(split.size).batch(batch_size)
    dataset = split.batches(order).map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    steps = math.ceil(split.size / batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)
