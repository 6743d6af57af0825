"""The training input pipeline: a fresh, reproducible order every epoch.

Keras' own shuffling of NumPy arrays draws its permutation with a stateful random op inside tf.data; once a
global seed is set (as annctl does, for reproducibility) every epoch's iterator restarts that op, so every
epoch sees the *same* order. Here epoch *e*'s order is a stateless shuffle keyed by (seed, e): different
each epoch, identical across runs with the same seed, and known without replaying earlier epochs, so a
resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math


def training_dataset(x, y, batch_size: int, shuffle: bool, seed: int):
    """(dataset, epoch variable, steps per epoch). Set the variable to the epoch before it starts (the
    EpochOrder callback does)."""
    import tensorflow as tf

    leaves = tf.nest.flatten(x)
    n = int(leaves[0].shape[0])
    steps = math.ceil(n / batch_size)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="annctl_epoch")
    x_t = tf.nest.map_structure(tf.convert_to_tensor, x)
    y_t = tf.nest.map_structure(tf.convert_to_tensor, y)
    seed_t = tf.constant(seed % 2**31, dtype=tf.int64)

    def order(_):
        indices = tf.range(n, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(indices, seed=tf.stack([seed_t, epoch.read_value()]))
        return tf.data.Dataset.from_tensor_slices(indices).batch(batch_size)

    def gather(indices):
        return (
            tf.nest.map_structure(lambda a: tf.gather(a, indices), x_t),
            tf.nest.map_structure(lambda a: tf.gather(a, indices), y_t),
        )

    dataset = tf.data.Dataset.range(1).flat_map(order)
    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)
    return dataset, epoch, steps


def epoch_order_callback(epoch_variable):
    """A Keras callback that tells the pipeline which epoch is starting."""
    import keras

    class EpochOrder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epoch_variable.assign(epoch)

    return EpochOrder()
