"""`training.distribution: multi_worker`: two local worker processes on loopback, as on two machines."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from annctl.errors import UsageError
from annctl.training.distribution import worker_role

from .conftest import write_experiment

ANNCTL = [sys.executable, "-m", "annctl"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tf_config(cluster: dict, task_type: str, index: int) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_worker_roles_follow_tf_config():
    two = {"worker": ["a:1", "b:2"]}
    assert worker_role({"TF_CONFIG": _tf_config(two, "worker", 0)}).chief
    assert not worker_role({"TF_CONFIG": _tf_config(two, "worker", 1)}).chief
    with_chief = {"chief": ["c:0"], "worker": ["a:1"]}
    assert worker_role({"TF_CONFIG": _tf_config(with_chief, "chief", 0)}).chief
    role = worker_role({"TF_CONFIG": _tf_config(with_chief, "worker", 0)})
    assert not role.chief and role.count == 2
    for bad, words in (
        ("", "TF_CONFIG is not set"),
        ("{not json", "not a cluster spec"),
        (_tf_config(two, "ps", 0), "chief and worker tasks only"),
        (_tf_config(two, "worker", 2), "task index 2"),
    ):
        with pytest.raises(UsageError, match=words):
            worker_role({"TF_CONFIG": bad})


@pytest.mark.slow
def test_multi_worker_without_tf_config_stops_before_training(tmp_path):
    experiment = write_experiment(tmp_path, distribution="multi_worker")
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([*ANNCTL, "train", str(experiment)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "TF_CONFIG is not set" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_multi_worker_refuses_a_multi_step_loop(tmp_path):
    experiment = write_experiment(tmp_path, distribution="multi_worker", steps_per_execution=8)
    result = subprocess.run([*ANNCTL, "validate", str(experiment)], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{experiment}:" in result.stderr and "needs steps_per_execution 1" in result.stderr


def _metrics(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open() as handle:
        return [{k: float(v) for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_two_workers_write_one_run_that_matches_one_process(tmp_path):
    """The chief writes one complete run; worker 1 writes nothing under the runs root (its scratch directory
    is deleted); and since the gradients of the two half-batches are all-reduced, the run's metrics equal
    those of one process training the same global batches (no dropout: nothing else is random)."""
    experiment = write_experiment(tmp_path, epochs=3, batch_size=8, distribution="multi_worker")
    root, scratch = tmp_path / "runs", tmp_path / "scratch"
    scratch.mkdir()
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": _tf_config(cluster, "worker", index), "TMPDIR": str(scratch)}
        workers.append(
            subprocess.Popen(
                [*ANNCTL, "train", str(experiment), "--runs-dir", str(root), "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr
    chief, other = (json.loads(stdout) for stdout, _ in outputs)
    assert chief["worker"]["chief"] and not other["worker"]["chief"]
    assert other["run_dir"] is None and other["status"] == "completed"
    runs = list(root.iterdir())
    assert [str(path) for path in runs] == [chief["run_dir"]]
    run_dir = runs[0]
    for name in ("spec.yaml", "metrics.csv", "model.keras", "summary.json", "checkpoints/best.keras", "tensorboard"):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert "steps_per_execution: 1" in (run_dir / "spec.yaml").read_text()
    assert list(scratch.iterdir()) == []  # worker 1's scratch run directory is gone

    single = subprocess.run(
        [*ANNCTL, "train", str(experiment), "--runs-dir", str(tmp_path / "single"), "--json"]
        + ["--set", "training.distribution=none", "--set", "training.steps_per_execution=1"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TF_CONFIG"},
    )
    assert single.returncode == 0, single.stderr
    alone = json.loads(single.stdout)
    two, one = _metrics(run_dir), _metrics(Path(alone["run_dir"]))
    assert len(two) == len(one) == 3
    for row_two, row_one in zip(two, one):
        assert row_two == pytest.approx(row_one, rel=1e-4, abs=1e-5)
    assert chief["test_metrics"] == pytest.approx(alone["test_metrics"], rel=1e-4, abs=1e-5)
    assert other["test_metrics"] == pytest.approx(chief["test_metrics"], rel=1e-6)

    evaluated = subprocess.run([*ANNCTL, "evaluate", str(run_dir), "--json"], capture_output=True, text=True)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["metrics"]["accuracy"] == pytest.approx(chief["test_metrics"]["accuracy"])

    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    resumed = subprocess.run([*ANNCTL, "train", "--resume", str(run_dir)], capture_output=True, text=True)
    assert resumed.returncode == 2 and "cannot be resumed" in resumed.stderr, resumed.stderr
