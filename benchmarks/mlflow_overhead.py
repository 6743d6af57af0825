"""What MLflow tracking costs a training: the same run with tracking off and on, alternating, side by side.

Usage: python benchmarks/mlflow_overhead.py [--pairs 3] [--epochs 30] [--uri URI]
       [--experiment experiments/fashion_mnist_mlp.yaml]
Needs the real data ($ANNCTL_DATA_DIR) and the mlflow extra. Without --uri it starts `mlflow server` on a free
loopback port (SQLite store, local artifact root, in a temporary folder) and stops it at the end. Each pair runs
`annctl train EXP -q` once without and once with `--set tracking.mlflow.uri=URI`, the order swapped every pair,
so a machine that gets busier or quieter weighs on both. Prints one JSON line per run (the command's wall time,
the training's own `wall_seconds` from summary.json, the process's CPU seconds, whether the tracked run synced)
and a final line with each side's median, spread (min, max) and the overhead of the medians in percent. The
server started here shares the machine, so its CPU time counts against tracking's wall times (not its CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    args += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    args += ["--artifacts-destination", str(folder / "artifacts")]
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(args, stdout=log, stderr=log)
    uri = f"http://127.0.0.1:{port}"
    for _ in range(360):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return server, uri
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"mlflow server did not start; see {folder / 'server.log'}")


def train(experiment: str, epochs: int, runs_dir: Path, uri: str | None) -> dict:
    args = [sys.executable, "-m", "annctl", "train", experiment, "-q", "--set", f"training.epochs={epochs}"]
    if uri:
        args += ["--set", f"tracking.mlflow.uri={uri}"]
    started, cpu_before = time.perf_counter(), children_cpu()
    result = subprocess.run(
        args, capture_output=True, text=True, cwd=REPO, env={**os.environ, "ANNCTL_RUNS_DIR": str(runs_dir)}
    )
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"annctl train failed ({result.returncode}): {result.stderr[-2000:]}")
    run_dir = Path(result.stdout.strip())
    summary = json.loads((run_dir / "summary.json").read_text())
    tracking = run_dir / "mlflow.json"
    synced = json.loads(tracking.read_text())["synced"] if tracking.is_file() else None
    return {
        "tracking": bool(uri),
        "command_seconds": round(seconds, 2),
        "training_seconds": round(summary["wall_seconds"], 2),
        "cpu_seconds": round(cpu, 2),
        "test_accuracy": (summary.get("test_metrics") or {}).get("accuracy"),
        "synced": synced,
        "warnings": result.stderr.count("warning:"),
    }


def children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far (less sensitive to a busy machine than
    wall time: the work tracking adds, wherever it ran)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def side(runs: list[dict], key: str) -> dict:
    values = [run[key] for run in runs]
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values), "all": values}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--uri", help="an MLflow server to use instead of starting one")
    parser.add_argument("--experiment", default="experiments/fashion_mnist_mlp.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="annctl-mlflow-bench-") as scratch:
        folder = Path(scratch)
        server, uri = (None, args.uri) if args.uri else start_server(folder)
        runs: list[dict] = []
        try:
            for pair in range(args.pairs):
                order = (None, uri) if pair % 2 == 0 else (uri, None)
                for target in order:
                    run = {"pair": pair + 1, **train(args.experiment, args.epochs, folder / "runs", target)}
                    print(json.dumps(run), flush=True)
                    runs.append(run)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
    off = [run for run in runs if not run["tracking"]]
    on = [run for run in runs if run["tracking"]]
    report = {"epochs": args.epochs, "pairs": args.pairs}
    for key in ("command_seconds", "training_seconds", "cpu_seconds"):
        report[key] = {"off": side(off, key), "on": side(on, key)}
        before, after = report[key]["off"]["median"], report[key]["on"]["median"]
        report[key]["overhead_percent"] = round(100 * (after - before) / before, 2)
    report["tracked_runs_synced"] = all(run["synced"] for run in on)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
