"""Export every shipped experiment's run in every format and print the table of docs/benchmarks.md.

Usage: python benchmarks/export_shipped.py [--runs-dir DIR] [--skip-training] [--only NAME ...]
Trains each experiments/*.yaml that `annctl train` takes (not the `tune` ones) with `annctl train`, the
Fashion-MNIST ones with `--set training.epochs=1 --set dataset.max_train_samples=2000`, then runs
`annctl export RUN --format F --json` for savedmodel, tflite, tflite --quantize float16|dynamic and keras,
and prints one Markdown row per experiment: ok with the verification's max |difference| (and the test
metric's change for quantised files), or the refusal's reason. Needs the real data (ANNCTL_DATA_DIR,
SCIKIT_LEARN_DATA). Takes about half an hour on 2 cores.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORMATS = [("savedmodel", []), ("tflite", []), ("keras", []), ("tflite", ["--quantize", "float16"])]
FORMATS.append(("tflite", ["--quantize", "dynamic"]))
SHORT = ["--set", "training.epochs=1", "--set", "dataset.max_train_samples=2000"]

parser = argparse.ArgumentParser()
parser.add_argument("--runs-dir", type=Path, default=None)
parser.add_argument("--skip-training", action="store_true", help="reuse the newest run of each experiment")
parser.add_argument("--only", nargs="*", help="these experiments only (names without .yaml)")
args = parser.parse_args()
root = args.runs_dir or Path(tempfile.mkdtemp(prefix="annctl-export-"))
env = {**os.environ, "ANNCTL_RUNS_DIR": str(root)}
annctl = [sys.executable, "-m", "annctl"]

experiments = sorted(
    path
    for path in (REPO / "experiments").glob("*.yaml")
    if "search:" not in path.read_text()  # tune experiments: their trials are runs, exported like any other
    and (not args.only or path.stem in args.only)
)
experiments.sort(key=lambda path: path.stem == "fashion_mnist_transfer")  # after the run it transfers from


def run(command):
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def cell(result) -> str:
    if result.returncode != 0:
        lines = [line.removeprefix("error: ") for line in result.stderr.splitlines() if line.startswith("error:")]
        return f"refused (exit {result.returncode}): {lines[0] if lines else result.stderr.strip()[-200:]}"
    check = json.loads(result.stdout)["verification"]
    text = f"ok, {check['max_abs_difference']:.1g}"
    metric = check["metric"]
    if json.loads(result.stdout)["quantize"] and metric:
        text += f"; {metric['name']} {metric['annctl']:.4f} → {metric['export']:.4f}"
    return text


print(f"runs in {root}", file=sys.stderr)
print("| experiment | savedmodel | tflite | keras | tflite float16 | tflite dynamic |")
print("|---|---|---|---|---|---|")
for path in experiments:
    name = path.stem
    if not args.skip_training:
        extra = SHORT if name.startswith("fashion_mnist") else []
        trained = run([*annctl, "train", str(path), "--quiet", *extra])
        if trained.returncode != 0:
            print(f"| `{name}` | training failed: {trained.stderr.strip()[-200:]} |||||")
            continue
    run_dir = sorted(root.glob(f"{name}-2*"))[-1]  # the newest run of this experiment (names start with a UTC time)
    cells = []
    for fmt, options in FORMATS:
        out = root / "exports" / name / (f"{fmt}{''.join(options[1:])}" + {"keras": ".keras"}.get(fmt, ""))
        cells.append(cell(run([*annctl, "export", str(run_dir), "--format", fmt, *options, "-o", str(out), "--json"])))
    print(f"| `{name}` | " + " | ".join(cells) + " |", flush=True)
