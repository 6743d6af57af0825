"""Each performance lever trains to the same accuracy range as the defaults on a small dataset (timing lives in
benchmarks/, never in tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from annctl.config import spec_from_text
from annctl.training import tf_setup, train
from annctl.training.tf_setup import wanted_threads

from .conftest import write_csv, write_experiment

LEVERS = {
    "defaults": "",
    "one step per execution": "steps_per_execution: 1",
    "many steps per execution": "steps_per_execution: 128",
    "xla": "jit_compile: true",
    "no xla": "jit_compile: false",
    "mixed bfloat16": "mixed_precision: bfloat16",
    "mixed bfloat16 xla": "mixed_precision: bfloat16, jit_compile: true",
    "mirrored strategy": "distribution: mirrored",
}
# 10 batches an epoch: `jit_compile: auto` compiles where an epoch holds steps_per_execution batches
COMPILED = {"one step per execution", "xla", "mixed bfloat16 xla"}


@pytest.mark.slow
@pytest.mark.parametrize("lever", LEVERS, ids=list(LEVERS))
def test_lever_keeps_accuracy(lever, tmp_path):
    path = write_csv(tmp_path / "d.csv", "classification", rows=240)
    setting = f", {LEVERS[lever]}" if LEVERS[lever] else ""
    text = (
        f"name: lever\nseed: 3\ndataset: {{name: csv, path: {path}, target: target}}\n"
        "model: {architecture: mlp, hidden_units: [16]}\n"
        f"training: {{epochs: 25, batch_size: 16, learning_rate: 0.01{setting}}}\n"
        "output: {tensorboard: false}\n"
    )
    summary = train(spec_from_text(text, "<lever>"), tmp_path / "runs")
    assert summary.status == "completed"
    assert summary.test_metrics["accuracy"] >= 0.85, summary.test_metrics
    assert summary.jit_compile == (lever in COMPILED)  # Keras silently refused XLA under op determinism once


def _spec(model: str = "{architecture: mlp, hidden_units: [16]}", **training):
    settings = ", ".join(f"{key}: {value}" for key, value in training.items())
    dataset = "fashion_mnist" if "cnn" in model else "iris"  # a CNN takes images (validate checks it)
    text = f"name: t\ndataset: {{name: {dataset}}}\nmodel: {model}\ntraining: {{{settings}}}\n"
    return spec_from_text(text, "<threads>")


def test_auto_threads_give_dense_networks_one_thread_on_a_cpu(monkeypatch):
    monkeypatch.delenv("ANNCTL_THREADS", raising=False)
    monkeypatch.setattr(tf_setup, "cores", lambda: 8)
    assert wanted_threads(_spec(), gpus=0) == 1
    assert wanted_threads(_spec(model="{architecture: perceptron}"), gpus=0) == 1
    assert wanted_threads(_spec(model="{architecture: wide_deep}"), gpus=0) == 1
    assert wanted_threads(_spec(model="{architecture: cnn}"), gpus=0) == 8  # convolutions gain from every core
    assert wanted_threads(_spec(batch_size=1024), gpus=0) == 8  # large matrix products too
    assert wanted_threads(_spec(batch_size=tf_setup.ONE_THREAD_MAX_BATCH), gpus=0) == 1  # the bound is included
    assert wanted_threads(_spec(batch_size=tf_setup.ONE_THREAD_MAX_BATCH + 1), gpus=0) == 8
    assert wanted_threads(_spec(), gpus=1) == 8
    assert wanted_threads(_spec(distribution="mirrored"), gpus=0) == 8
    assert wanted_threads(_spec(threads=3), gpus=0) == 3
    monkeypatch.setenv("ANNCTL_THREADS", "2")  # `annctl tune --workers K` caps each trial
    assert wanted_threads(_spec(threads=3), gpus=0) == 2
    assert wanted_threads(_spec(model="{architecture: cnn}"), gpus=0) == 2
    assert wanted_threads(_spec(), gpus=0) == 1


@pytest.mark.slow
def test_thread_count_changes_speed_only(tmp_path):
    """One process per count: TensorFlow fixes its thread pools once per process. Keras' `fit` (compiled steps
    may split a matrix product's sums over the threads: the same count gives the same numbers, see the README)."""
    experiment = write_experiment(tmp_path, epochs=6, jit_compile="false")
    env = {key: value for key, value in os.environ.items() if key != "ANNCTL_THREADS"}
    summaries = {}
    for threads in (1, 2):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "annctl",
                "train",
                str(experiment),
                "--json",
                "--set",
                f"training.threads={threads}",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        summaries[threads] = json.loads(result.stdout)
        assert summaries[threads]["threads"] == threads
        assert json.loads(Path(summaries[threads]["run_dir"], "summary.json").read_text())["threads"] == threads
    assert summaries[1]["test_metrics"] == summaries[2]["test_metrics"]
    for summary in summaries.values():
        summary["final_metrics"].pop("epoch_seconds")
    assert summaries[1]["final_metrics"] == summaries[2]["final_metrics"]
