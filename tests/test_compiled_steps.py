"""Compiled steps (annctl.training.compiled): the batches of Keras' `fit`, steps_per_execution at a time in one XLA
program, with every guarantee of a run kept — accuracy, determinism, exact resume, callbacks, progress."""

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import spec_from_text
from annctl.datasets import DATASETS
from annctl.errors import SpecError
from annctl.modelio import load_run_model
from annctl.spec import resolve
from annctl.training import train
from annctl.training.lifecycle import SilentReporter

from .conftest import write_csv
from .test_architectures import smoke_cases, smoke_document

cli = CliRunner()

# 240 rows → 153 training rows: with batch 10 and 4 batches per call, 16 batches an epoch in calls of 4 — the
# last call's chunk padded to the chunk's shape for its 3 full batches, then a last batch of 3 rows.
BATCH, CALL = 10, 4


def experiment(
    directory: Path, training: str = "", model: str = "{architecture: mlp, hidden_units: [16]}", epochs: int = 12
) -> str:
    path = directory / "d.csv"
    if not path.exists():
        write_csv(path, "classification", rows=240)
    return (
        f"name: compiled\nseed: 3\ndataset: {{name: csv, path: {path}, target: target}}\nmodel: {model}\n"
        f"training: {{epochs: {epochs}, batch_size: {BATCH}, steps_per_execution: {CALL}, learning_rate: 0.05, "
        f"optimizer: sgd{', ' + training if training else ''}}}\noutput: {{tensorboard: false}}\n"
    )


def rows(summary) -> list[dict]:
    with open(Path(summary.run_dir) / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(handle)]


def test_the_epoch_exercises_a_padded_last_chunk_and_a_smaller_last_batch(tmp_path):
    spec = spec_from_text(experiment(tmp_path), "<c>")
    size = spec.dataset.load(spec.seed).train.size
    assert size == 153 and size % BATCH and (size % (BATCH * CALL)) // BATCH  # the case the numbers above describe


def test_the_stream_holds_exactly_the_plain_pipelines_batches_epoch_after_epoch():
    """One iterator reads every epoch (annctl's train function); its chunks are the batches Keras' own loop
    reads one epoch at a time, and a stream that starts at a resumed epoch continues the same order."""
    from annctl.datasets.base import ArraySplit
    from annctl.training.pipeline import training_dataset, training_stream

    x = np.arange(23, dtype="float32").reshape(23, 1)
    split = ArraySplit(x, x[:, 0])
    same = lambda x, y: (x, y)  # noqa: E731
    plain, epoch_variable, steps = training_dataset(split, 4, True, 5, same)
    expected = []
    for epoch in range(4):
        epoch_variable.assign(epoch)
        expected.append([bx.numpy().ravel().tolist() for bx, _ in plain])
    assert steps == 6 and expected[0] != expected[1]
    for first in (0, 2):  # from the start, and resumed at epoch 2
        stream, per_epoch = training_stream(split, 4, True, 5, same, 2, range(first, 4))
        chunks = [cx.numpy().ravel().tolist() for cx, _ in stream]
        assert per_epoch == 3 and [len(c) for c in chunks] == [8, 8, 7] * (4 - first)
        batches = [chunk[i : i + 4] for chunk in chunks for i in range(0, len(chunk), 4)]
        assert batches == sum(expected[first:], [])


@pytest.mark.slow
def test_compiled_and_fit_train_alike_and_say_what_ran(tmp_path):
    compiled = train(spec_from_text(experiment(tmp_path, "jit_compile: true"), "<c>"), tmp_path / "runs")
    plain = train(spec_from_text(experiment(tmp_path, "jit_compile: false"), "<c>"), tmp_path / "runs")
    assert (compiled.jit_compile, compiled.compiled_steps, compiled.jit_fallback) == (True, CALL, None)
    assert (plain.jit_compile, plain.compiled_steps, plain.jit_fallback) == (False, None, None)  # Keras' fit
    for summary in (compiled, plain):
        assert summary.status == "completed" and summary.test_metrics["accuracy"] >= 0.85, summary.test_metrics
        recorded = json.loads((Path(summary.run_dir) / "summary.json").read_text())
        assert recorded["jit_compile"] == summary.jit_compile and recorded["compiled_steps"] == summary.compiled_steps
    # the same batches in the same order: the losses agree up to float rounding (XLA fuses other sums)
    first, second = rows(compiled), rows(plain)
    assert list(first[0]) == list(second[0])  # metrics.csv means the same: the same columns
    for a, b in zip(first, second, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-3, abs=1e-4), (key, a, b)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["small epoch", "refused by XLA"])
def test_chunks_without_xla_train_exactly_as_keras_fit(case, tmp_path, monkeypatch):
    """annctl's chunks in a plain graph (one iterator for every epoch) give the training numbers of Keras' `fit`,
    dropout included: `auto` on an epoch smaller than a chunk (one chunk an epoch), and a model XLA cannot
    compile (several chunks an epoch, then the last batch). Validation in larger batches gives the same means
    up to float rounding."""
    from annctl.training import compiled

    model = "{architecture: mlp, hidden_units: [16], dropout: 0.3}"
    text = experiment(tmp_path, model=model, epochs=5)
    if case == "small epoch":
        text = text.replace(f"steps_per_execution: {CALL}", "steps_per_execution: 32")
        expected = "fewer than steps_per_execution"
    else:  # 16 batches an epoch: calls of 4, 4, 4 and 3 batches, then one of 3 rows
        monkeypatch.setattr(compiled, "unsupported", lambda spec, model: "XLA cannot compile layer Pretend")
        expected = "Pretend"
    chunks = train(spec_from_text(text, "<c>"), tmp_path / "runs")
    fit_text = text.replace("optimizer: sgd", "optimizer: sgd, jit_compile: false")
    keras_fit = train(spec_from_text(fit_text, "<c>"), tmp_path / "runs")
    assert not chunks.jit_compile and chunks.compiled_steps and keras_fit.compiled_steps is None
    assert expected in chunks.jit_fallback
    for a, b in zip(rows(chunks), rows(keras_fit), strict=True):
        assert (a["loss"], a["accuracy"]) == (b["loss"], b["accuracy"])
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-6)
        assert a["val_accuracy"] == b["val_accuracy"]


@pytest.mark.slow
def test_two_compiled_runs_give_identical_metrics(tmp_path):
    """Dropout draws its masks inside the XLA program: its random-generator state must advance the same way."""
    model = "{architecture: mlp, hidden_units: [16], dropout: 0.3}"
    text = experiment(tmp_path, "jit_compile: true", model, epochs=4)
    first = train(spec_from_text(text, "<c>"), tmp_path / "runs")
    second = train(spec_from_text(text, "<c>"), tmp_path / "runs")
    assert first.jit_compile and rows(first) == rows(second)
    assert first.test_metrics == second.test_metrics


def test_dropout_inside_compiled_steps_is_keras_dropout_drawn_the_way_xla_runs_fast(tmp_path, monkeypatch):
    """Keras' dropout ran ~12x slower inside an XLA program (17.5 s vs 1.2 s per Fashion-MNIST epoch for the
    tuned-MLP search's 512-256-128 with dropout): compiled steps trace it as a stateless ThreeFry mask."""
    import keras
    import tensorflow as tf
    from keras.src.backend.tensorflow import random as backend_random

    from annctl.training import compiled

    original = backend_random.dropout
    layer = keras.layers.Dropout(0.3, seed=4)

    @tf.function(jit_compile=True)
    def drop(x):
        with compiled.xla_dropout():
            return layer(x, training=True), layer(x, training=True)

    first, second = (a.numpy() for a in drop(tf.ones((400, 500))))
    assert backend_random.dropout is original  # restored once traced
    for mask in (first, second):
        kept = np.unique(mask[mask != 0])
        assert kept.size == 1 and kept[0] == pytest.approx(1 / 0.7)  # Keras' scaling of what it keeps
        assert abs((mask == 0).mean() - 0.3) < 0.01  # the rate
    assert (first != second).any()  # the layer's seed generator advances between draws
    again = keras.layers.Dropout(0.3, seed=4)
    with compiled.xla_dropout():
        replay = tf.function(lambda x: again(x, training=True), jit_compile=True)(tf.ones((400, 500)))
    assert (replay.numpy() == first).all()  # same seed, same mask
    # compiled training traces its chunks with it (and a second run gives the same numbers: the test above)
    entered = []

    @contextlib.contextmanager
    def counting():
        entered.append(True)
        with original_xla_dropout():
            yield

    original_xla_dropout = compiled.xla_dropout
    monkeypatch.setattr(compiled, "xla_dropout", counting)
    model = "{architecture: mlp, hidden_units: [16], dropout: 0.3}"
    summary = train(spec_from_text(experiment(tmp_path, "jit_compile: true", model, epochs=2), "<c>"), tmp_path / "r")
    assert summary.jit_compile and entered


def test_progress_counts_batches_and_ends_at_the_epochs_batch_count(tmp_path):
    class Recorder(SilentReporter):
        def __init__(self):
            self.frames: list[tuple[int, int, int]] = []
            self.steps = 0

        def run_start(self, *args):
            pass

        def epoch_start(self, epoch, epochs, steps):
            self.steps = steps

        def batch_end(self, epoch, step):
            self.frames.append((epoch, step, self.steps))

        def epoch_end(self, *args):
            pass

    recorder = Recorder()
    summary = train(
        spec_from_text(experiment(tmp_path, "jit_compile: true", epochs=2), "<c>"),
        tmp_path / "runs",
        reporter=recorder,
    )
    assert summary.jit_compile
    for epoch in (1, 2):
        assert [(step, total) for e, step, total in recorder.frames if e == epoch] == [
            (4, 16),
            (8, 16),
            (12, 16),
            (16, 16),
        ]


def test_early_stopping_and_a_schedule_act_on_compiled_steps(tmp_path):
    settings = (
        "jit_compile: true, early_stopping: {patience: 1, min_delta: 10}, "
        "lr_schedule: {type: exponential, decay_steps: 16, decay_rate: 0.5}"
    )
    summary = train(spec_from_text(experiment(tmp_path, settings), "<c>"), tmp_path / "runs")
    assert summary.jit_compile and summary.status == "completed"
    assert summary.epochs_completed == 2  # nothing improves by 10: stopped after patience 1
    rates = [float(row["learning_rate"]) for row in rows(summary)]
    assert rates == pytest.approx([0.05 * 0.5, 0.05 * 0.25])  # the optimizer counted every batch of every call


def test_divergence_is_caught_inside_compiled_steps(tmp_path, isolated_runs):
    write_csv(tmp_path / "r.csv", "regression", rows=240)
    path = tmp_path / "blowup.yaml"
    path.write_text(
        f"name: blowup\nseed: 3\ndataset: {{name: csv, path: {tmp_path / 'r.csv'}, target: target, normalize: false}}\n"
        "model: {architecture: mlp, hidden_units: [16]}\n"
        "training: {optimizer: sgd, learning_rate: 10, epochs: 5, batch_size: 10, steps_per_execution: 4, "
        "jit_compile: true}\n"
    )
    result = cli.invoke(app, ["train", str(path)])
    assert result.exit_code == 1, result.output
    assert "lower training.learning_rate" in result.stderr
    (run_dir,) = isolated_runs.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_epoch"] == 1 and summary["jit_compile"] is True
    assert not (run_dir / "model.keras").exists()


def test_auto_uses_compiled_steps_where_they_pay(tmp_path):
    from annctl.training.assemble import make_model
    from annctl.training.compiled import plan

    spec = spec_from_text(experiment(tmp_path), "<c>")
    data = spec.dataset.load(spec.seed)
    spec = resolve(spec, data.task, data.num_classes)
    model = make_model(spec, data.description)
    assert plan(spec, model, batches_per_epoch=CALL).jit  # one full chunk an epoch: compiled
    small = plan(spec, model, batches_per_epoch=CALL - 1)  # less: XLA's compile time would not pay
    assert not small.jit and small.steps == CALL and "fewer than steps_per_execution" in small.reason
    mirrored = spec.model_copy(update={"training": spec.training.model_copy(update={"distribution": "mirrored"})})
    keras_fit = plan(mirrored, model, batches_per_epoch=CALL)  # Keras' fit runs a strategy's replica functions
    assert keras_fit.steps is None and "distribution mirrored" in keras_fit.reason


def test_a_model_xla_cannot_compile_falls_back_or_is_refused(tmp_path, monkeypatch, isolated_runs):
    """Text columns (a lookup layer) are known before training; max pooling is refused only when XLA compiles
    it (its gradient has no deterministic XLA kernel): `auto` trains such models without XLA, `true` exits 2."""
    from annctl.training.assemble import make_model
    from annctl.training.compiled import plan

    text_csv = tmp_path / "t.csv"
    text_csv.write_text("a,colour,target\n" + "".join(f"{i % 7},{'rgb'[i % 3]},{i % 2}\n" for i in range(60)))
    text = f"name: t\ndataset: {{name: csv, path: {text_csv}, target: target}}\nmodel: {{architecture: mlp}}\n"
    spec = spec_from_text(text, "<t>")
    data = spec.dataset.load(0)
    spec = resolve(spec, data.task, data.num_classes)
    model = make_model(spec, data.description)
    assert "StringLookup" in plan(spec, model, 100).reason
    with pytest.raises(SpecError, match="jit_compile: true, but XLA cannot compile layer StringLookup"):
        plan(spec_from_text(text + "training: {jit_compile: true}\n", "<t>"), model, 100)
    with pytest.raises(SpecError, match="jit_compile: true does not work with distribution mirrored"):
        spec_from_text(text + "training: {jit_compile: true, distribution: mirrored}\n", "<t>")

    example = DATASETS.get("fashion_mnist").example(tmp_path / "data")
    for key, value in example.env.items():
        monkeypatch.setenv(key, value)
    document = {
        "name": "pooled",
        "dataset": example.fields,
        "model": {"architecture": "cnn", "filters": [4], "dense_units": [8]},
        "training": {"epochs": 2, "batch_size": 8, "steps_per_execution": 2},
    }
    summary = train(spec_from_text(json.dumps(document), "<cnn>"), tmp_path / "runs")
    assert summary.status == "completed"
    assert (summary.jit_compile, summary.compiled_steps) == (False, 2) and "MaxPool" in summary.jit_fallback
    assert json.loads((Path(summary.run_dir) / "summary.json").read_text())["jit_fallback"] == summary.jit_fallback
    path = tmp_path / "pooled.yaml"
    document["training"]["jit_compile"] = True
    path.write_text(json.dumps(document))
    result = cli.invoke(app, ["train", str(path), "--runs-dir", str(isolated_runs)])
    assert result.exit_code == 2, result.output
    assert "jit_compile: true, but XLA cannot compile it here" in result.stderr and "MaxPool" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("architecture,kind", smoke_cases(), ids=[f"{a}-{k}" for a, k in smoke_cases()])
def test_every_architecture_trains_on_compiled_steps_or_says_why_not(architecture, kind, tmp_path, monkeypatch):
    """Dict inputs (wide & deep), several outputs, the perceptron's loss, images: all through one XLA program."""
    training = {"epochs": 2, "batch_size": 8, "steps_per_execution": 2}
    document, _ = smoke_document(architecture, kind, tmp_path, monkeypatch, training)
    summary = train(spec_from_text(json.dumps(document), "<smoke>"), tmp_path / "runs")
    assert summary.status == "completed"
    assert summary.compiled_steps == 2  # chunks for every model; XLA where it compiles the model
    if "StringLookup" in (summary.jit_fallback or ""):  # text inputs: their lookups stay outside XLA
        model = load_run_model(Path(summary.run_dir))
        assert any("string" in str(tensor.dtype) for tensor in model.inputs) and not summary.jit_compile
        return
    assert summary.jit_compile or "XLA cannot compile" in summary.jit_fallback
    assert summary.jit_compile == (architecture != "cnn")  # max pooling's gradient: see the test above


RESUMABLE = """name: resumable
seed: 7
dataset: {name: csv, path: classification.csv, target: target}
model: {architecture: mlp, hidden_units: [16], dropout: 0.3}
training:
  optimizer: sgd
  learning_rate: 0.2
  momentum: 0.9
  epochs: 14
  batch_size: 3
  steps_per_execution: 4  # 40 training rows: 14 batches in calls of 4, 4, 4 and 2 (the last batch 1 row)
  jit_compile: true
  early_stopping: {patience: 4}
  lr_schedule: {type: reduce_on_plateau, patience: 1, factor: 0.5}
"""


def annctl(args: list[str], runs: Path, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "ANNCTL_RUNS_DIR": str(runs)}
    env.pop("ANNCTL_FAULT", None)
    if fault:
        env["ANNCTL_FAULT"] = fault
    command = [sys.executable, "-m", "annctl", *args, "--quiet"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def run_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def resumable(tmp_path_factory) -> tuple[Path, dict]:
    """The experiment and its uninterrupted compiled run, which every killed-and-resumed run must equal."""
    directory = tmp_path_factory.mktemp("compiled_resume")
    write_csv(directory / "classification.csv", "classification")
    path = directory / "resumable.yaml"
    path.write_text(RESUMABLE)
    code, out, err = finish(annctl(["train", str(path)], directory / "reference"))
    assert code == 0, err
    run_dir = Path(out.strip())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jit_compile"] is True and summary["compiled_steps"] == 4
    reference = {"rows": run_rows(run_dir), "summary": summary}
    assert len({row["learning_rate"] for row in reference["rows"]}) > 1  # the plateau schedule acted
    assert len(reference["rows"]) < 14  # early stopping acted
    return path, reference


@pytest.mark.reliability
@pytest.mark.parametrize("fault", ["mid_epoch:14", "epoch_end:2", "sigterm"])
def test_killed_or_stopped_compiled_run_resumes_exactly(resumable, tmp_path, fault):
    """mid_epoch:14 is the 2nd call of epoch 4 (4 calls an epoch); SIGTERM stops at a call's end."""
    path, reference = resumable
    runs = tmp_path / "runs"
    if fault == "sigterm":
        process = annctl(["train", str(path)], runs)
        while process.poll() is None and not any(runs.glob("*/metrics.csv")):  # an epoch done
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        code, _, err = finish(process)
        (run_dir,) = runs.iterdir()
        if json.loads((run_dir / "summary.json").read_text())["status"] == "completed":
            pytest.skip("the run finished before the signal arrived")  # pragma: no cover - a very slow machine
        assert code == 143, err
    else:
        assert finish(annctl(["train", str(path)], runs, fault))[0] == -signal.SIGKILL
        (run_dir,) = runs.iterdir()
    code, out, err = finish(annctl(["train", "--resume", str(run_dir)], runs))
    assert code == 0, err
    assert run_rows(run_dir) == reference["rows"]  # every epoch once, identical numbers
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["jit_compile"] is True
    assert summary["test_metrics"] == reference["summary"]["test_metrics"]
    assert summary["best_epoch"] == reference["summary"]["best_epoch"]
