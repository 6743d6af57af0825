"""`annctl tune` against Keras Tuner's RandomSearch in one process, on the same iris search (issue 22).

Usage: python benchmarks/compare_keras_tuner.py [--trials 6] [--epochs 15] [--repeats 2]
Needs keras-tuner (pip install -e '.[bench]'). The search: learning rate log-uniform 3e-4…3e-2, hidden units
one of [8], [16, 8], [32], batch size 8…32, Adam, sparse categorical cross-entropy, val_accuracy; iris split
as annctl splits it (test 20 %, then validation 20 % of the rest, stratified, seed 42), inputs standardised.
Each round runs, alternating, Keras Tuner (a fresh Python process: import, data, search), `annctl tune
--workers 1` and `annctl tune --workers 2`, and times each whole command. Prints every wall time, annctl's
ratio to Keras Tuner with 1 worker (goal ≤ 1.0) and Keras Tuner's to annctl with 2 workers (goal ≥ 1.6), and
the best val_accuracy each found.
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
SEED = 42
EXPERIMENT = """name: iris_bench_tune
seed: {seed}
dataset: {{name: iris, validation_split: 0.2, test_split: 0.2}}
model: {{architecture: mlp, hidden_units: [16, 8], activation: relu}}
training:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: {epochs}
  batch_size: 16
output: {{tensorboard: false}}
search:
  metric: val_accuracy
  space:
    training.learning_rate: {{type: float, low: 3.0e-4, high: 3.0e-2, log: true}}
    model.hidden_units: {{type: choice, values: [[8], [16, 8], [32]]}}
    training.batch_size: {{type: int, low: 8, high: 32}}
"""


def keras_tuner_search(trials: int, epochs: int, directory: str) -> float:
    """Keras Tuner's RandomSearch over the same space, in this process; return the best val_accuracy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import keras_tuner
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    iris = load_iris()
    x, y = iris.data.astype("float32"), iris.target.astype("int64")
    x_rest, _, y_rest, _ = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, random_state=SEED, stratify=y_rest)
    keras.utils.set_random_seed(SEED)

    class IrisModel(keras_tuner.HyperModel):
        def build(self, hp):
            normalize = keras.layers.Normalization()
            normalize.adapt(x_train)
            model = keras.Sequential([keras.Input((4,)), normalize])
            for units in json.loads(hp.Choice("hidden_units", ["[8]", "[16, 8]", "[32]"])):
                model.add(keras.layers.Dense(units, activation="relu"))
            model.add(keras.layers.Dense(3, activation="softmax"))
            rate = hp.Float("learning_rate", 3e-4, 3e-2, sampling="log")
            model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
            return model

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(*args, batch_size=hp.Int("batch_size", 8, 32), **kwargs)

    tuner = keras_tuner.RandomSearch(
        IrisModel(),
        objective="val_accuracy",
        max_trials=trials,
        seed=SEED,
        directory=directory,
        project_name="iris",
        overwrite=True,
    )
    tuner.search(x_train, y_train, epochs=epochs, validation_data=(x_val, y_val), verbose=0)
    return float(tuner.oracle.get_best_trials(1)[0].score)


def timed(command: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def run_keras_tuner(trials: int, epochs: int, env: dict, scratch: Path) -> tuple[float, float]:
    seconds, out = timed(
        [PY, __file__, "--keras-tuner-only", "--trials", str(trials), "--epochs", str(epochs), "--dir", str(scratch)],
        env,
    )
    return seconds, json.loads(out.strip().splitlines()[-1])["best_val_accuracy"]


def run_annctl(experiment: Path, trials: int, workers: int, env: dict, runs: Path) -> tuple[float, float]:
    command = [PY, "-m", "annctl", "tune", str(experiment), "--trials", str(trials), "--workers", str(workers)]
    seconds, out = timed([*command, "--runs-dir", str(runs), "--json"], env)
    return seconds, json.loads(out)["best_value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds of the three searches")
    parser.add_argument("--keras-tuner-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_tuner_only:
        best = keras_tuner_search(args.trials, args.epochs, args.dir)
        print(json.dumps({"best_val_accuracy": best}))
        return

    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory(prefix="annctl-bench-tune-") as tmp:
        scratch = Path(tmp)
        experiment = scratch / "iris_tune.yaml"
        experiment.write_text(EXPERIMENT.format(seed=SEED, epochs=args.epochs))
        times: dict[str, list[float]] = {"keras_tuner": [], "annctl_w1": [], "annctl_w2": []}
        best: dict[str, list[float]] = {key: [] for key in times}
        print(f"iris, {args.trials} trials x {args.epochs} epochs, {os.cpu_count()} CPUs; wall seconds per search")
        for round_ in range(args.repeats):
            for key in times:
                if key == "keras_tuner":
                    seconds, value = run_keras_tuner(args.trials, args.epochs, env, scratch / f"kt{round_}")
                else:
                    workers = int(key[-1])
                    runs = scratch / f"runs-{key}-{round_}"
                    seconds, value = run_annctl(experiment, args.trials, workers, env, runs)
                times[key].append(seconds)
                best[key].append(value)
                print(f"round {round_ + 1}: {key:<12} {seconds:7.1f} s  best val_accuracy {value:.4f}", flush=True)
        median = {key: statistics.median(values) for key, values in times.items()}
        print()
        print("| search | wall s (median) | each round | best val_accuracy |")
        print("|---|---|---|---|")
        for key in times:
            rounds = ", ".join(f"{s:.1f}" for s in times[key])
            print(f"| {key} | {median[key]:.1f} | {rounds} | {', '.join(f'{v:.3f}' for v in best[key])} |")
        one = median["annctl_w1"] / median["keras_tuner"]
        two = median["keras_tuner"] / median["annctl_w2"]
        per_round_one = ", ".join(f"{a / k:.2f}" for a, k in zip(times["annctl_w1"], times["keras_tuner"]))
        per_round_two = ", ".join(f"{k / a:.2f}" for a, k in zip(times["annctl_w2"], times["keras_tuner"]))
        print()
        print(f"annctl --workers 1 / Keras Tuner: {one:.2f}x (goal <= 1.0; rounds {per_round_one})")
        print(f"Keras Tuner / annctl --workers 2: {two:.2f}x faster (goal >= 1.6; rounds {per_round_two})")


if __name__ == "__main__":
    main()
