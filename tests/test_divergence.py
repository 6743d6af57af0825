"""Issue 29, item 4: a diverged run's messages name only what the run really keeps, and the cures of an
exploding loss: a lower learning rate and gradient clipping (training.clipnorm)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec
from annctl.fileio import atomic_write_json
from annctl.records import CheckpointEntry, Manifest
from annctl.training.fit import divergence_message

from .conftest import write_experiment

runner = CliRunner()


def test_a_run_diverging_at_once_names_no_checkpoint_and_suggests_clipnorm(tmp_path, isolated_runs):
    experiment = write_experiment(tmp_path, "regression", name="blowup", optimizer="sgd", learning_rate=10, epochs=3)
    result = runner.invoke(app, ["train", str(experiment), "--set", "dataset.normalize=false"])
    assert result.exit_code == 1, result.output
    (run_dir,) = isolated_runs.iterdir()
    message = result.stderr
    assert "lower training.learning_rate (now 10) or gradient clipping with training.clipnorm" in message
    for named in re.findall(r"checkpoints/(\w+)\.keras", message):  # whatever it names exists
        assert (run_dir / "checkpoints" / f"{named}.keras").is_file(), message
    if not (run_dir / "checkpoints" / "last.keras").exists():
        assert "no checkpoint was saved" in message and str(run_dir / "checkpoints") not in message

    evaluated = runner.invoke(app, ["evaluate", str(run_dir)])
    assert evaluated.exit_code == 2
    offered = re.findall(r"--checkpoint ((?:\w+(?: or )?)+)", evaluated.stderr)
    for choice in " or ".join(offered).split(" or ") if offered else []:
        assert (run_dir / "checkpoints" / f"{choice}.keras").is_file(), evaluated.stderr
    if not (run_dir / "checkpoints").exists():
        assert "it diverged in epoch 1, before it saved any model or checkpoint" in evaluated.stderr
        assert "--checkpoint" not in evaluated.stderr


def test_the_message_names_the_checkpoints_kept_and_the_clipping_in_use(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    for name in ("last", "best"):
        (run_dir / "checkpoints" / f"{name}.keras").write_bytes(b"weights")
    manifest = Manifest(last=CheckpointEntry(epoch=3, sha256="0" * 64), best=None)
    atomic_write_json(run_dir / "checkpoints" / "manifest.json", json.loads(manifest.model_dump_json()))
    training = load_spec_text(tmp_path, "training: {clipnorm: 5, learning_rate: 0.05}").training
    message = divergence_message(run_dir, 4, training)
    assert message == (
        "the loss became NaN or infinite in epoch 4; it keeps checkpoints/last.keras (epoch 3) (use one with "
        "--checkpoint last). Try a lower training.learning_rate (now 0.05) or a smaller training.clipnorm (now 5)."
    )  # best.keras is on disk but not in the manifest: not vouched for, not offered


def load_spec_text(directory: Path, text: str):
    path = directory / "e.yaml"
    path.write_text(f"name: e\ndataset: {{name: iris}}\nmodel: {{architecture: mlp}}\n{text}\n")
    return load_spec(path)
