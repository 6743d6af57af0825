"""The floor annctl's training speed is compared with: the course's Fashion-MNIST MLP (784-300-100-10, SGD 0.01,
batch 32) trained by a bare hand-written loop, 32 batches per XLA-compiled call, uint8 input scaled in the graph,
no validation, checkpoints, metrics file or resume. Prints the epoch seconds (median over epochs 2..E).

    python benchmarks/xla_floor.py [EPOCHS (4)] [THREADS (1)]     # needs $ANNCTL_DATA_DIR/fashion-mnist

A floor for comparison, not a design to copy: it lacks everything a run needs besides the arithmetic.
"""

import gzip
import os
import sys
import time

import numpy as np
import tensorflow as tf

CHUNK = 32  # batches per XLA call, as annctl's steps_per_execution
BATCH = 32


def read_idx(folder: str, name: str, offset: int) -> np.ndarray:
    with gzip.open(os.path.join(folder, name)) as file:
        return np.frombuffer(file.read(), np.uint8, offset=offset)


def main(epochs: int, threads: int) -> None:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    folder = os.path.join(os.environ["ANNCTL_DATA_DIR"], "fashion-mnist")
    x_train = read_idx(folder, "train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[5000:]
    y_train = read_idx(folder, "train-labels-idx1-ubyte.gz", 8)[5000:].astype("int32")
    x_test = read_idx(folder, "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    y_test = read_idx(folder, "t10k-labels-idx1-ubyte.gz", 8).astype("int32")

    tf.random.set_seed(1)
    generator = tf.random.Generator.from_seed(1)

    def glorot(fan_in: int, fan_out: int) -> tf.Variable:
        limit = np.sqrt(6 / (fan_in + fan_out))
        return tf.Variable(generator.uniform((fan_in, fan_out), -limit, limit))

    weights = [glorot(784, 300), glorot(300, 100), glorot(100, 10)]
    biases = [tf.Variable(tf.zeros(units)) for units in (300, 100, 10)]
    params = weights + biases

    def forward(x):
        h = tf.cast(x, tf.float32) / 255.0
        h = tf.nn.relu(h @ weights[0] + biases[0])
        h = tf.nn.relu(h @ weights[1] + biases[1])
        return h @ weights[2] + biases[2]

    @tf.function(jit_compile=True)
    def chunk(xs, ys):  # xs: (CHUNK, BATCH, 784)
        def body(i, loss_sum, correct):
            x, y = xs[i], ys[i]
            with tf.GradientTape() as tape:
                logits = forward(x)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
            for param, gradient in zip(params, tape.gradient(loss, params)):
                param.assign_sub(0.01 * gradient)
            hits = tf.reduce_sum(tf.cast(tf.argmax(logits, 1, output_type=tf.int32) == y, tf.int32))
            return i + 1, loss_sum + loss, correct + hits

        _, loss_sum, correct = tf.while_loop(lambda i, *_: i < CHUNK, body, (0, 0.0, 0))
        return loss_sum, correct

    samples = (len(x_train) // (BATCH * CHUNK)) * BATCH * CHUNK
    times = []
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(x_train))[:samples]
        xs = tf.constant(x_train[order].reshape(-1, CHUNK, BATCH, 784))
        ys = tf.constant(y_train[order].reshape(-1, CHUNK, BATCH))
        started = time.perf_counter()
        for index in range(xs.shape[0]):
            loss_sum, _ = chunk(xs[index], ys[index])
        loss_sum.numpy()
        times.append(time.perf_counter() - started)
    accuracy = float(np.mean(np.argmax(forward(x_test).numpy(), 1) == y_test))
    print(
        f"jit loop: epoch s {[round(t, 2) for t in times]}, median(2..) {np.median(times[1:]):.2f}, "
        f"test acc {accuracy:.4f}, threads {threads}, samples/epoch {samples}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4, int(sys.argv[2]) if len(sys.argv) > 2 else 1)
