"""annctl against the plain-Keras course script, side by side on this machine (issue: performance).

Usage: python benchmarks/compare_keras.py [--epochs 3] [--repeats 2]
Needs Fashion-MNIST (ANNCTL_DATA_DIR or the other places annctl looks). Runs, alternating, the course script
(benchmarks/course_fashion_mnist_mlp.py) and `annctl train experiments/fashion_mnist_mlp.yaml` with the same
epochs and seed; reports medians of epoch seconds, samples/s, test accuracy and peak RSS, the training
FLOP/s as a share of this machine's measured float32 and bfloat16 matmul peaks (and both dtypes' rates at the
MLP's layer shape), start-up times of the light commands, the cached dataset load, and batched prediction
against `model.predict`. Prints a Markdown table.
`--set FIELD=VALUE` (repeatable) changes annctl's run, e.g. `training.jit_compile=false` (Keras' `fit`, as
before compiled steps) or `training.mixed_precision=bfloat16`; the table says what ran.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); "
    "print(json.dumps({'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}), "
    "file=sys.stderr); sys.exit(r.returncode)"
).replace("import resource", "import json, resource")
# Training cost of the course MLP per sample: forward 2·(784·300 + 300·100 + 100·10) FLOPs, backward ≈ 2× forward.
MLP_TRAIN_FLOPS = 3 * 2 * (784 * 300 + 300 * 100 + 100 * 10)


def measured(command: list[str], env: dict) -> tuple[str, float]:
    """stdout and peak RSS (MB) of one command, via a wrapper whose only child it is."""
    result = subprocess.run([PY, "-c", WRAPPER, *command], capture_output=True, text=True, env=env, cwd=REPO)
    if result.returncode:
        raise SystemExit(f"{command} failed:\n{result.stderr[-2000:]}")
    peak = json.loads(result.stderr.strip().splitlines()[-1])["peak_rss_mb"]
    return result.stdout, peak


def plain_keras(epochs: int, env: dict) -> dict:
    out, peak = measured([PY, "benchmarks/course_fashion_mnist_mlp.py", "--epochs", str(epochs), "--seed", "1"], env)
    data = json.loads(out.strip().splitlines()[-1])
    return {"epoch_seconds": data["epoch_seconds"], "accuracy": data["test_accuracy"], "peak_rss_mb": peak}


def annctl(epochs: int, env: dict, runs: Path, settings: list[str]) -> dict:
    overrides = [arg for setting in settings for arg in ("--set", setting)]
    out, peak = measured(
        [
            PY,
            "-m",
            "annctl",
            "train",
            "experiments/fashion_mnist_mlp.yaml",
            "--json",
            "--set",
            f"training.epochs={epochs}",
            *overrides,
            "--runs-dir",
            str(runs),
            "--quiet",
        ],
        env,
    )
    summary = json.loads(out)
    seconds = [
        float(line.split(",")[-1]) for line in (Path(summary["run_dir"]) / "metrics.csv").read_text().splitlines()[1:]
    ]
    return {
        "epoch_seconds": statistics.median(seconds),
        "accuracy": summary["test_metrics"]["accuracy"],
        "peak_rss_mb": peak,
        "threads": summary["threads"],
        "ran": "compiled steps, {} batches per XLA program".format(summary["compiled_steps"])
        if summary["jit_compile"]
        else "Keras fit" + (f" ({summary['jit_fallback']})" if summary.get("jit_fallback") else ""),
    }


MATMUL = """
import sys, time, tensorflow as tf
m, k, n, threads = map(int, sys.argv[1:])
if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
for dtype in (tf.float32, tf.bfloat16):
    a, b = tf.cast(tf.random.normal((m, k)), dtype), tf.cast(tf.random.normal((k, n)), dtype)
    reps = max(1, int(2e10 // (2 * m * k * n)))  # ~20 GFLOP a timing

    @tf.function(jit_compile=bool(threads))  # the layer shape in one XLA program, as compiled steps run it
    def products(a, b):
        return tf.reduce_sum([tf.reduce_sum(tf.cast((a + tf.cast(i, dtype)) @ b, tf.float32)) for i in range(8)])

    best = 0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(max(1, reps // 8)):
            out = products(a, b) if threads else a @ b
        float(tf.reduce_sum(tf.cast(out, tf.float32)))
        seconds = time.perf_counter() - start
        best = max(best, max(1, reps // 8) * (8 if threads else 1) * 2 * m * k * n / seconds)
    print(dtype.name, best / 1e9)
"""


def matmul_rates(m: int, k: int, n: int, threads: int = 0) -> dict[str, float]:
    """GFLOP/s of TensorFlow's best (m×k)·(k×n) product here, float32 and bfloat16 (this CPU's bfloat16 units):
    threads 0 is TensorFlow's default (every core, one product per call); else that many threads, 8 products in
    one XLA program."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [PY, "-c", MATMUL, *map(str, (m, k, n, threads))]
    out = subprocess.run(command, capture_output=True, text=True, env=env).stdout.split()
    return {out[i]: float(out[i + 1]) for i in range(0, len(out) - 1, 2)}


def startup(env: dict, runs: int = 9) -> dict[str, float]:
    """Median wall seconds of each light command as a subprocess, after one warm-up run. Bytecode caching is
    left on (PYTHONDONTWRITEBYTECODE removed), as in any pip install: with it off, an editable install
    recompiles annctl's modules on every start (+0.05 to 0.1 s here)."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    commands = {
        "--help": ["--help"],
        "validate": ["validate", "experiments/iris_mlp.yaml"],
        "datasets": ["datasets"],
        "models": ["models"],
        "runs list": ["runs", "list"],
    }
    times = {}
    for name, args in commands.items():
        samples = []
        subprocess.run([PY, "-m", "annctl", *args], capture_output=True, env=env, cwd=REPO, check=True)
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([PY, "-m", "annctl", *args], capture_output=True, env=env, cwd=REPO, check=True)
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples)
    return times


def cached_load(env: dict) -> float:
    code = (
        "import time; from annctl.datasets.fashion_mnist import load_arrays; load_arrays(); "
        "t = time.perf_counter(); a = load_arrays(); print(time.perf_counter() - t)"
    )
    return float(subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, cwd=REPO).stdout.split()[-1])


def prediction(env: dict) -> dict[str, float]:
    code = """
import time, numpy as np, keras
from annctl.datasets.fashion_mnist import load_arrays
from annctl.training.inference import predict_batches
x = np.asarray(load_arrays()["x_test"])
model = keras.Sequential([keras.Input((28, 28), dtype="uint8"), keras.layers.Rescaling(1 / 255),
    keras.layers.Flatten(), keras.layers.Dense(300, activation="relu"), keras.layers.Dense(100, activation="relu"),
    keras.layers.Dense(10, activation="softmax")])
model.predict(x[:64], verbose=0); predict_batches(model, x[:64])
def best(f):
    return min((lambda t: (f(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(len(x) / best(lambda: model.predict(x, verbose=0)), len(x) / best(lambda: predict_batches(model, x)))
"""
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, cwd=REPO).stdout.split()
    return {"model.predict rows/s": float(out[-2]), "annctl batched rows/s": float(out[-1])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="an override for annctl's run, e.g. training.jit_compile=false or training.mixed_precision=bfloat16",
    )
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = Path(tempfile.mkdtemp(prefix="annctl-bench-runs-"))
    results: dict[str, list[dict]] = {"plain": [], "annctl": []}
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit both alike
        results["plain"].append(plain_keras(args.epochs, env))
        results["annctl"].append(annctl(args.epochs, env, runs, args.set))
    numeric = ("epoch_seconds", "accuracy", "peak_rss_mb")
    med = {tool: {key: statistics.median(r[key] for r in rows) for key in numeric} for tool, rows in results.items()}
    peaks = matmul_rates(2048, 2048, 2048)
    layer = matmul_rates(32, 784, 300, threads=1)
    samples = 55_000
    print(f"Fashion-MNIST MLP, {args.epochs} epochs x {args.repeats} alternating repeats, medians\n")
    print("| | plain Keras (course script) | annctl | annctl / plain |")
    print("|---|---|---|---|")
    for key, label in (
        ("epoch_seconds", "epoch seconds"),
        ("accuracy", "test accuracy"),
        ("peak_rss_mb", "peak RSS (MB)"),
    ):
        a, b = med["plain"][key], med["annctl"][key]
        print(f"| {label} | {a:.4g} | {b:.4g} | {b / a:.2f} |")
    for tool in ("plain", "annctl"):
        rate = samples / med[tool]["epoch_seconds"]
        med[tool]["samples_per_second"] = rate
        med[tool]["flops"] = rate * MLP_TRAIN_FLOPS / 1e9
    a, b = med["plain"]["samples_per_second"], med["annctl"]["samples_per_second"]
    print(f"| training samples/s | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")
    a, b = med["plain"]["flops"], med["annctl"]["flops"]
    print(f"| training GFLOP/s | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    for dtype, peak in peaks.items():
        share = f"| share of the {dtype} matmul peak ({peak:.0f} GFLOP/s: 2048², every core)"
        print(f"{share} | {a / peak:.1%} | {b / peak:.1%} | |")
    pairs = zip(results["plain"], results["annctl"], strict=True)
    print(
        "\nEpoch seconds per repeat (plain / annctl = ratio): "
        + ", ".join(
            f"{p['epoch_seconds']:.2f} / {a['epoch_seconds']:.2f} = {a['epoch_seconds'] / p['epoch_seconds']:.2f}"
            for p, a in pairs
        )
        + f"; annctl ran on {results['annctl'][0]['threads']} TensorFlow thread(s) (training.threads: auto), "
        + f"{results['annctl'][0]['ran']}"
        + (f", with {' '.join(args.set)}" if args.set else "")
    )
    print(
        "Matrix products at the MLP's first layer (32×784 by 784×300, one thread, in an XLA program): "
        + ", ".join(f"{dtype} {rate:.0f} GFLOP/s" for dtype, rate in layer.items())
        + " (bfloat16 pays only where this beats float32)"
    )
    print(
        "Start-up, median of 9 after a warm-up (s): "
        + ", ".join(f"`annctl {k}` {v:.2f}" for k, v in startup(env).items())
    )
    print(f"Cached Fashion-MNIST load: {cached_load(env):.3f} s")
    rates = prediction(env)
    ratio = rates["annctl batched rows/s"] / rates["model.predict rows/s"]
    print(
        "Prediction on the 10,000 test images: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in rates.items())
        + f" (x{ratio:.1f})"
    )


if __name__ == "__main__":
    main()
