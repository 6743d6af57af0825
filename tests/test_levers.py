"""Each performance lever trains to the same accuracy range as the defaults on a small dataset (timing lives in
benchmarks/, never in tests)."""

import pytest

from annctl.config import spec_from_text
from annctl.training import train

from .conftest import write_csv

LEVERS = {
    "defaults": "",
    "one step per execution": "steps_per_execution: 1",
    "many steps per execution": "steps_per_execution: 128",
    "xla": "jit_compile: true",
    "mixed bfloat16": "mixed_precision: bfloat16",
    "mirrored strategy": "distribution: mirrored",
}


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
    assert summary["status"] == "completed"
    assert summary["test_metrics"]["accuracy"] >= 0.85, summary["test_metrics"]
    assert summary["jit_compile"] == (lever == "xla")  # Keras silently refused XLA under op determinism once
