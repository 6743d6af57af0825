"""Does Keras' fit work under tf.distribute.MultiWorkerMirroredStrategy here? (two local workers, loopback)

Plain Keras (without annctl's shims in annctl/training/distribution.py): with TensorFlow 2.21 / Keras 3.15
both workers fail in `fit` with "Attempt to convert a value (PerReplica:...) ... to a Tensor" (keras-team/keras#20585).
Run `python benchmarks/multi_worker_probe.py` after upgrading; it prints WORKS or FAILS and the error (WORKS: the
shims can go).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

WORKER = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
strategy = tf.distribute.MultiWorkerMirroredStrategy()
keras.utils.set_random_seed(1)
x = np.random.rand(64, 3).astype("float32"); y = (x.sum(1) > 1.5).astype("float32")
with strategy.scope():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=2, verbose=0)
print("fit ok")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    if all(worker.returncode == 0 and "fit ok" in out for worker, out in zip(workers, outputs)):
        print("WORKS: Keras fit runs under MultiWorkerMirroredStrategy")
        return 0
    last = [line for line in outputs[0].strip().splitlines() if line.strip()][-1:]
    print(f"FAILS: {last[0] if last else 'no output'}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
