"""The course's Fashion-MNIST MLP exactly as the course writes it, in plain Keras (the benchmark's baseline).

Usage: python benchmarks/course_fashion_mnist_mlp.py [--epochs 30] [--seed 42]
Reads the IDX files through annctl's loader only to get the same arrays (no download here); everything else
is the course code: numpy arrays scaled by /255, Sequential Flatten-300-100-10, SGD, fit with defaults.
Prints one JSON line: epoch seconds, test accuracy, peak RSS.
"""

import argparse
import json
import resource
import time

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()

start = time.perf_counter()
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

from annctl.datasets.fashion_mnist import load_arrays  # noqa: E402

import_seconds = time.perf_counter() - start
keras.utils.set_random_seed(args.seed)

arrays = load_arrays()
X_train_full, y_train_full = arrays["x_train"], arrays["y_train"]
X_test, y_test = arrays["x_test"], arrays["y_test"]
X_valid, X_train = X_train_full[:5000] / 255.0, X_train_full[5000:] / 255.0
y_valid, y_train = y_train_full[:5000], y_train_full[5000:]
X_test = X_test / 255.0

model = keras.models.Sequential()
model.add(keras.layers.Flatten(input_shape=[28, 28]))
model.add(keras.layers.Dense(300, activation="relu"))
model.add(keras.layers.Dense(100, activation="relu"))
model.add(keras.layers.Dense(10, activation="softmax"))
model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t)


timer = EpochTimer()
history = model.fit(
    X_train, y_train, epochs=args.epochs, validation_data=(X_valid, y_valid), callbacks=[timer], verbose=0
)
test_loss, test_accuracy = model.evaluate(X_test, y_test, verbose=0)
print(
    json.dumps(
        {
            "tool": "plain keras (course script)",
            "tensorflow": tf.__version__,
            "epochs": args.epochs,
            "epoch_seconds": sorted(timer.seconds)[len(timer.seconds) // 2],
            "train_samples_per_second": len(X_train) / (sorted(timer.seconds)[len(timer.seconds) // 2]),
            "test_accuracy": test_accuracy,
            "test_loss": test_loss,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "import_seconds": import_seconds,
        }
    )
)
