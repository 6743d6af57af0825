"""Streamed prediction on a large CSV: rows/second and peak RSS of `annctl predict` (bounded memory).

Usage: python benchmarks/predict_stream.py [--rows 1000000]
Trains a small California-housing-shaped run on generated data, writes a CSV of --rows rows, runs
`annctl predict RUN --input big.csv -o out.csv` in a subprocess and reports its wall time and peak RSS
(from the kernel's accounting of the child), plus the same for 10x fewer rows to show memory does not grow.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=1_000_000)
args = parser.parse_args()

work = Path(tempfile.mkdtemp(prefix="annctl-bench-"))
rng = np.random.default_rng(0)
features = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
x = rng.normal(size=(2000, 8))
y = x @ rng.normal(size=8) + 0.1 * rng.normal(size=2000)
train_csv = work / "train.csv"
np.savetxt(
    train_csv, np.column_stack([x, y]), delimiter=",", header=",".join(features + ["target"]), comments="", fmt="%.5f"
)
(work / "exp.yaml").write_text(
    "name: bench\ndataset: {name: csv, path: train.csv, target: target}\n"
    "model: {architecture: mlp, hidden_units: [30]}\ntraining: {epochs: 2}\n"
)
annctl = [sys.executable, "-m", "annctl"]
run_dir = subprocess.run(
    annctl + ["train", str(work / "exp.yaml"), "-q", "--runs-dir", str(work / "runs")],
    check=True,
    capture_output=True,
    text=True,
).stdout.strip()


def write_rows(path: Path, rows: int) -> None:
    with open(path, "w") as handle:
        handle.write(",".join(features) + "\n")
        block = 100_000
        for start in range(0, rows, block):
            chunk = rng.normal(size=(min(block, rows - start), 8))
            np.savetxt(handle, chunk, delimiter=",", fmt="%.5f")


def measure(rows: int) -> dict:
    path = work / f"in-{rows}.csv"
    write_rows(path, rows)
    # a wrapper process whose only child is `annctl predict`, so RUSAGE_CHILDREN is that command's peak RSS
    wrapper = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *annctl, "predict", run_dir, "--input", str(path), "-o", str(work / "out.csv")],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    peak = int(result.stdout.strip())
    lines = sum(1 for _ in open(work / "out.csv")) - 1
    assert lines == rows, (lines, rows)
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(peak / 1024),
        "input_mb": round(os.path.getsize(path) / 2**20),
    }


small = measure(args.rows // 10)
large = measure(args.rows)
print(json.dumps({"small": small, "large": large}, indent=2))
