"""How a warm tune worker's resident memory grows over trials: the measurement behind the recycling defaults
(annctl/tuning/workers.py: DEFAULT_TRIALS, DEFAULT_RSS_GROWTH_MB).

Usage: python benchmarks/tune_worker_memory.py [--trials 40] [--epochs 5]
Runs `annctl tune --workers 1` on the iris search of compare_keras_tuner.py with recycling off, then prints the
worker's RSS as each trial ended (from each trial's trial.json), the growth from the first trial, and the
average growth per trial over the second half (after start-up effects settle).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_keras_tuner import EXPERIMENT, PY, REPO, SEED  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ANNCTL_TUNE_WORKER_TRIALS": str(10**6),
        "ANNCTL_TUNE_WORKER_RSS_MB": str(10**6),
    }
    with tempfile.TemporaryDirectory(prefix="annctl-bench-rss-") as tmp:
        experiment = Path(tmp) / "iris_tune.yaml"
        experiment.write_text(EXPERIMENT.format(seed=SEED, epochs=args.epochs))
        command = [PY, "-m", "annctl", "tune", str(experiment), "--trials", str(args.trials), "--quiet"]
        out = subprocess.run([*command, "--runs-dir", f"{tmp}/runs"], env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        tune_dir = Path(out.stdout.strip().splitlines()[-1])
        rss, pids = [], set()
        for trial in sorted((tune_dir / "trials").iterdir()):
            worker = json.loads((trial / "trial.json").read_text())["worker"]
            pids.add(worker["pid"])
            rss.append(worker["rss_bytes"] / 2**20)
    print(f"{len(rss)} trials in {len(pids)} worker process(es); RSS (MB) as each trial ended:")
    print(" ".join(f"{value:.0f}" for value in rss))
    half = len(rss) // 2
    print(f"first {rss[0]:.0f} MB, last {rss[-1]:.0f} MB, max {max(rss):.0f} MB; growth {rss[-1] - rss[0]:+.0f} MB")
    print(f"second half: {(rss[-1] - rss[half]) / max(len(rss) - 1 - half, 1):+.2f} MB per trial")


if __name__ == "__main__":
    main()
