"""annctl against the plain-Keras course script, side by side on this machine (issue: performance).

Usage: python benchmarks/compare_keras.py [--epochs 3] [--repeats 2]
Needs Fashion-MNIST (ANNCTL_DATA_DIR or the other places annctl looks). Runs, alternating, the course script
(benchmarks/course_fashion_mnist_mlp.py) and `annctl train experiments/fashion_mnist_mlp.yaml` with the same
epochs and seed; reports medians of epoch seconds, samples/s, test accuracy and peak RSS, the training
FLOP/s against this machine's measured float32 matmul peak, start-up times of the light commands, the
cached dataset load, and batched prediction against `model.predict`. Prints a Markdown table.
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


def annctl(epochs: int, env: dict, runs: Path) -> dict:
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
    }


def matmul_peak() -> float:
    code = (
        "import time, tensorflow as tf\n"
        "a = tf.random.normal((2048, 2048)); b = tf.random.normal((2048, 2048)); (a @ b).numpy()\n"
        "best = 0\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); [ (a @ b) for _ in range(10) ][-1].numpy(); s = time.perf_counter() - t\n"
        "    best = max(best, 10 * 2 * 2048**3 / s)\n"
        "print(best / 1e9)"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return float(subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env).stdout.split()[-1])


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
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = Path(tempfile.mkdtemp(prefix="annctl-bench-runs-"))
    results: dict[str, list[dict]] = {"plain": [], "annctl": []}
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit both alike
        results["plain"].append(plain_keras(args.epochs, env))
        results["annctl"].append(annctl(args.epochs, env, runs))
    med = {tool: {key: statistics.median(r[key] for r in rows) for key in rows[0]} for tool, rows in results.items()}
    peak = matmul_peak()
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
    print(
        f"| training GFLOP/s (float32 matmul peak {peak:.0f}) | {a:.1f} ({a / peak:.0%}) | {b:.1f} "
        f"({b / peak:.0%}) | {b / a:.2f} |"
    )
    pairs = zip(results["plain"], results["annctl"], strict=True)
    print(
        "\nEpoch seconds per repeat (plain / annctl = ratio): "
        + ", ".join(
            f"{p['epoch_seconds']:.2f} / {a['epoch_seconds']:.2f} = {a['epoch_seconds'] / p['epoch_seconds']:.2f}"
            for p, a in pairs
        )
        + f"; annctl ran on {results['annctl'][0]['threads']} TensorFlow thread(s) (training.threads: auto)"
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
