"""`annctl predict` on the light engine (LiteRT, no TensorFlow) against a plain TensorFlow script (issue 34).

Usage: python benchmarks/predict_light.py [--repeats 7] [--rows 100000]

Trains iris_mlp and seattle_forecast for a few epochs into a temporary runs folder, exports each run's
SavedModel (`annctl export`), and makes each run's light model with one untimed `annctl predict` (its one-time
conversion is reported apart). Then, alternating call by call on the same runs and inputs:
  - one iris row and one forecast window: `annctl predict` (light engine) against a plain Python script that
    loads the run's SavedModel with TensorFlow and predicts the same input (`python -c`, as a user would
    write it): median wall time of --repeats calls each, and their ratio;
  - --rows CSV rows of iris features: `annctl predict -o` with the light engine, with `--engine keras`, and the
    plain script (numpy.loadtxt + the SavedModel in batches of 4096): rows/s from the median wall time;
  - `annctl --help`.
Prints a table and the figures as JSON (`--json-out FILE` writes them too). The plain script's own time is
printed beside annctl's so a loaded machine shows as a slower reference.
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
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
ANNCTL = [sys.executable, "-m", "annctl"]

IRIS_SCRIPT = """
import csv, sys
import tensorflow as tf
rows = list(csv.reader(open(sys.argv[2])))
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = serve(features=tf.constant([[float(v) for v in row] for row in rows[1:]], tf.float32))
print(out["class_name"].numpy()[0].decode(), float(out["probabilities"].numpy().max()))
"""

WINDOW_SCRIPT = """
import csv, sys
import numpy as np
import tensorflow as tf
rows = list(csv.DictReader(open(sys.argv[2])))[-int(sys.argv[3]):]
window = np.array([[float(r[c]) for c in ("temp_max", "temp_min", "precipitation", "wind")] for r in rows], "float32")
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
print(float(serve(sequence=tf.constant(window[None]))["prediction"].numpy()[0, 0]))
"""

BULK_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
x = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1, dtype="float32")
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
parts = [serve(features=tf.constant(x[i : i + 4096]))["probabilities"].numpy() for i in range(0, len(x), 4096)]
np.savetxt(sys.argv[3], np.concatenate(parts), delimiter=",", fmt="%.6f")
"""


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr}")
    return result


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    run(command)
    return time.perf_counter() - started


def train(stem: str, runs: Path, epochs: int) -> Path:
    out = run(
        ANNCTL
        + ["train", str(REPO / "experiments" / f"{stem}.yaml"), "-q", "--runs-dir", str(runs)]
        + ["--set", f"training.epochs={epochs}"]
    )
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    run(ANNCTL + ["export", str(run_dir)])
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="annctl-light-bench-"))
    runs = work / "runs"
    iris, seattle = train("iris_mlp", runs, 20), train("seattle_forecast", runs, 2)

    one_row = work / "one.csv"
    one_row.write_text("sepal_length,sepal_width,petal_length,petal_width\n6.3,3.3,6.0,2.5\n")
    lines = (REPO / "experiments" / "data" / "seattle-weather.csv").read_text().splitlines()
    recent = work / "recent.csv"
    recent.write_text("\n".join([lines[0], *lines[-14:]]) + "\n")  # one window (dataset.window: 14)
    import numpy as np

    bulk = work / "bulk.csv"
    rng = np.random.default_rng(0)
    x = rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(args.rows, 4))
    np.savetxt(
        bulk, x, delimiter=",", fmt="%.2f", header="sepal_length,sepal_width,petal_length,petal_width", comments=""
    )

    first = {}  # the one-time conversion (TensorFlow imported once), then every call is light
    for name, run_dir, source in (("iris", iris, one_row), ("forecast", seattle, recent)):
        first[name] = timed(ANNCTL + ["predict", str(run_dir), "-i", str(source)])
        engine = json.loads(
            run(ANNCTL + ["predict", str(run_dir), "-i", str(source), "-o", str(work / "o.csv"), "--json"]).stdout
        )["engine"]
        assert engine == "litert", (name, engine)

    cases = {
        "iris_row": (
            ANNCTL + ["predict", str(iris), "-i", str(one_row)],
            [sys.executable, "-c", IRIS_SCRIPT, str(iris / "export" / "savedmodel"), str(one_row)],
        ),
        "forecast_window": (
            ANNCTL + ["predict", str(seattle), "-i", str(recent)],
            [sys.executable, "-c", WINDOW_SCRIPT, str(seattle / "export" / "savedmodel"), str(recent), "14"],
        ),
    }
    times: dict[str, dict[str, list[float]]] = {case: {"annctl": [], "script": []} for case in cases}
    bulk_times: dict[str, list[float]] = {"litert": [], "keras": [], "script": []}
    help_times: list[float] = []
    for _ in range(args.repeats):  # alternating, so a change of load hits both sides alike
        for case, (ours, theirs) in cases.items():
            times[case]["annctl"].append(timed(ours))
            times[case]["script"].append(timed(theirs))
        bulk_times["litert"].append(timed(ANNCTL + ["predict", str(iris), "-i", str(bulk), "-o", str(work / "l.csv")]))
        bulk_times["keras"].append(
            timed(ANNCTL + ["predict", str(iris), "-i", str(bulk), "-o", str(work / "k.csv"), "--engine", "keras"])
        )
        bulk_times["script"].append(
            timed(
                [sys.executable, "-c", BULK_SCRIPT, str(iris / "export" / "savedmodel"), str(bulk), str(work / "s.csv")]
            )
        )
        help_times.append(timed(ANNCTL + ["--help"]))

    figures = {"repeats": args.repeats, "rows": args.rows, "cpu_count": os.cpu_count(), "first_predict_s": first}
    print(f"{'case':<18}{'annctl (s)':>12}{'script (s)':>12}{'ratio':>8}")
    for case, sides in times.items():
        ours, theirs = statistics.median(sides["annctl"]), statistics.median(sides["script"])
        figures[case] = {"annctl_s": ours, "script_s": theirs, "ratio": ours / theirs}
        print(f"{case:<18}{ours:>12.3f}{theirs:>12.3f}{ours / theirs:>8.2f}")
    for side, values in bulk_times.items():
        seconds = statistics.median(values)
        figures[f"bulk_{side}"] = {"seconds": seconds, "rows_per_s": args.rows / seconds}
        print(f"{args.rows} rows, {side:<7}: {seconds:.2f} s = {args.rows / seconds:,.0f} rows/s")
    figures["help_s"] = statistics.median(help_times)
    print(
        f"annctl --help: {figures['help_s']:.3f} s; first predict (conversion): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in first.items())
    )
    print(json.dumps(figures))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
