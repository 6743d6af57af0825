"""How fast can Keras train the course's Fashion-MNIST MLP here, and how much of an epoch is `fit` itself?

Usage: python benchmarks/fit_floor.py [--epochs 3] [--repeats 2]
Needs Fashion-MNIST (ANNCTL_DATA_DIR or the other places annctl looks). Same model, data and batches as
`annctl train experiments/fashion_mnist_mlp.yaml` (uint8 images, Rescaling inside the model, SGD 0.01,
batch 32, steps_per_execution 32, no validation), each variant in its own process, alternating:

- fit: Keras `fit` on annctl's training pipeline (what annctl runs, minus validation and callbacks)
- fit_no_metrics: the same without the accuracy metric (the loss is still tracked)
- fit_xla: the same as `fit` with jit_compile (op determinism off, as annctl does for jit_compile)
- tape_loop: a hand-written GradientTape loop over the same batches as one tf.function per 32 batches,
  no metrics: the floor a training loop of annctl's own could approach

Prints the median of the epochs after the first (tracing) of each variant, and its ratio to `fit`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
from annctl.datasets.fashion_mnist import load_arrays
from annctl.datasets.base import ArraySplit
from annctl.training.callbacks.small import EpochOrder
from annctl.training.pipeline import training_dataset
variant, epochs = sys.argv[1], int(sys.argv[2])
keras.utils.set_random_seed(1)
if variant != "fit_xla":
    tf.config.experimental.enable_op_determinism()
arrays = load_arrays()
x, y = np.asarray(arrays["x_train"][5000:]), np.asarray(arrays["y_train"][5000:]).astype("int64")
model = keras.Sequential([keras.Input((28, 28), dtype="uint8"), keras.layers.Rescaling(1 / 255),
    keras.layers.Flatten(), keras.layers.Dense(300, activation="relu"), keras.layers.Dense(100, activation="relu"),
    keras.layers.Dense(10, activation="softmax")])
optimizer = keras.optimizers.SGD(0.01)
seconds = []
if variant.startswith("fit"):
    model.compile(optimizer, "sparse_categorical_crossentropy",
        metrics=[] if variant == "fit_no_metrics" else ["accuracy"], steps_per_execution=32,
        jit_compile=variant == "fit_xla")
    dataset, epoch_variable, _ = training_dataset(ArraySplit(x, y), 32, True, 1, lambda xb, yb: (xb, yb))
    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)
    model.fit(dataset, epochs=epochs, shuffle=False, verbose=0,
        callbacks=[EpochOrder(epoch_variable), Timer()])
else:
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    chunk, batch = 32, 32
    full = len(x) // (chunk * batch)
    xs = tf.constant(x[: full * chunk * batch].reshape(full, chunk, batch, 28, 28))
    ys = tf.constant(y[: full * chunk * batch].reshape(full, chunk, batch))
    @tf.function
    def train_chunk(xc, yc):
        def body(i, total):
            with tf.GradientTape() as tape:
                loss = loss_fn(yc[i], model(xc[i], training=True))
            optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            return i + 1, total + loss
        return tf.while_loop(lambda i, t: i < chunk, body, (tf.constant(0), tf.constant(0.0)))[1]
    for epoch in range(epochs):
        start = time.perf_counter()
        for c in tf.random.experimental.stateless_shuffle(tf.range(full), seed=[1, epoch]).numpy():
            total = train_chunk(xs[c], ys[c])
        float(total)
        seconds.append((time.perf_counter() - start) * len(x) / (full * chunk * batch))  # per full epoch
print(json.dumps({"variant": variant, "seconds": seconds}))
"""

VARIANTS = ("fit", "fit_no_metrics", "fit_xla", "tape_loop")


def run(variant: str, epochs: int) -> list[float]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", WORKER, variant, str(epochs)], capture_output=True, text=True, env=env, cwd=REPO
    )
    if result.returncode:
        raise SystemExit(f"{variant} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit every variant alike
        for variant in VARIANTS:
            samples[variant] += run(variant, args.epochs)[1:]  # the first epoch traces and compiles
    base = statistics.median(samples["fit"])
    print(f"Fashion-MNIST MLP, batch 32, epochs 2..{args.epochs} x {args.repeats} repeats, no validation\n")
    print("| variant | epoch seconds (median) | / fit |")
    print("|---|---|---|")
    for variant, values in samples.items():
        value = statistics.median(values)
        print(f"| {variant} | {value:.2f} | {value / base:.2f} |")


if __name__ == "__main__":
    main()
