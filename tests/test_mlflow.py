"""Runs and searches in MLflow, checked against a real `mlflow server` (SQLite backend store, local artifact root,
a free port on loopback) through MlflowClient: what a run sends, the logged model without annctl, a search's
parent and children, and a server killed mid-run (offline-first: `runs sync` uploads the run later, once).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import write_experiment
from .reliability.test_tune_postgres import postgres_url  # noqa: F401 - the PostgreSQL server fixture
from .test_tune import SPACE, tune_dirs, tune_experiment

pytestmark = pytest.mark.mlflow
mlflow = pytest.importorskip("mlflow", reason="the mlflow extra: pip install -e '.[dev]'")

from mlflow.tracking import MlflowClient  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TrackingServer:
    """`mlflow server` on 127.0.0.1 with its store under ``base``; stop() kills it, start() brings it back."""

    def __init__(self, base: Path):
        self.base, self.port = base, _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--backend-store-uri", f"sqlite:///{self.base / 'mlflow.db'}", "--workers", "1"]
        args += ["--artifacts-destination", str(self.base / "artifacts")]
        log = open(self.base / "server.log", "a")
        self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                assert self.process.poll() is None, (self.base / "server.log").read_text()[-2000:]
                time.sleep(0.5)
        raise AssertionError("mlflow server did not start in 180 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the server and its worker: as a crash would
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    server = TrackingServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


def annctl(*args: str, cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "annctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, **env},
    )


def metrics_csv(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def tracked_run(client: MlflowClient, run_dir: Path):
    record = json.loads((run_dir / "mlflow.json").read_text())
    (experiment,) = [client.get_experiment_by_name(record["experiment"])]
    runs = client.search_runs([experiment.experiment_id], f"tags.`annctl.run_id` = '{record['run_id']}'")
    assert len(runs) == 1, runs  # never duplicated
    return record, runs[0]


def assert_history_is_metrics_csv(client: MlflowClient, run_id: str, run_dir: Path) -> None:
    rows = metrics_csv(run_dir)
    for column in rows[0]:
        if column == "epoch":
            continue
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, column))
        assert history == [(int(row["epoch"]), float(row[column])) for row in rows], column


# A subprocess where annctl cannot be imported loads the logged model with MLflow alone and predicts.
LOAD_WITHOUT_ANNCTL = """
import importlib.abc, json, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "annctl" or name.startswith("annctl."):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Refuse())
try:
    import annctl
    sys.exit("annctl is importable")
except ImportError:
    pass
import numpy as np, mlflow.pyfunc
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(f"runs:/{sys.argv[2]}/model")
rows = np.array(json.loads(sys.argv[3]), dtype="float32")
print(json.dumps(np.asarray(model.predict(rows)).reshape(-1).tolist()))
"""


def test_a_run_sends_params_metrics_artifacts_and_a_model_that_serves_without_annctl(tmp_path, tracking_server):
    experiment = write_experiment(tmp_path, "regression", name="tracked", epochs=3)
    env = {"MLFLOW_TRACKING_URI": tracking_server.uri}  # uri from MLflow's own variable, experiment: the name
    sets = ["--set", "tracking.mlflow={}", "--set", "output.gradient_norms=true"]
    trained = annctl("train", str(experiment), *sets, "-q", cwd=tmp_path, **env)
    assert trained.returncode == 0, trained.stderr
    assert "warning" not in trained.stderr
    run_dir = Path(trained.stdout.strip())  # `-q` prints the run directory only (MLflow's run URL is kept off)

    client = MlflowClient(tracking_server.uri)
    record, run = tracked_run(client, run_dir)
    assert record["synced"] is True and record["mlflow_run_id"] == run.info.run_id
    assert record["experiment"] == "tracked"  # the spec's name
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["annctl.status"] == "completed" and tags["annctl.run_dir"] == str(run_dir.resolve())
    assert tags["annctl.synced"] == "true" and tags["mlflow.runName"] == run_dir.name
    params = run.data.params
    assert params["training.epochs"] == "3" and params["model.hidden_units"] == "[8]"
    assert params["training.learning_rate"] == "0.001" and params["dataset.name"] == "csv"
    assert len(params["dataset.fingerprint"]) == 16 and params["version.tensorflow"]
    assert_history_is_metrics_csv(client, run.info.run_id, run_dir)
    assert any(column.startswith("grad_norm/") for column in metrics_csv(run_dir)[0])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert run.data.metrics["test_mse"] == summary["test_metrics"]["mse"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    artifacts |= {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    artifacts |= {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    expected = {"spec.yaml", "summary.json", "metrics.csv", "plots/learning_curves.png", "model/MLmodel"}
    assert expected <= artifacts
    mlmodel = client.download_artifacts(run.info.run_id, "model/MLmodel", str(tmp_path))
    assert '"shape": [-1, 3]' in Path(mlmodel).read_text()  # the input signature: any rows of 3 features

    # the logged model, loaded by MLflow where annctl cannot be imported, predicts what `annctl predict` does
    rows = [[0.5, -1.0, 0.25], [-0.3, 0.8, 1.5], [1.2, 0.1, -0.7]]
    inputs = tmp_path / "new.csv"
    inputs.write_text("a,b,c\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
    predicted = annctl("predict", str(run_dir), "-i", str(inputs), "--format", "jsonl", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    expected_values = [json.loads(line)["prediction"] for line in predicted.stdout.splitlines()]
    served = subprocess.run(
        [sys.executable, "-I", "-c", LOAD_WITHOUT_ANNCTL, tracking_server.uri, run.info.run_id, json.dumps(rows)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert served.returncode == 0, served.stderr[-3000:]
    assert json.loads(served.stdout.splitlines()[-1]) == pytest.approx(expected_values, rel=1e-5, abs=1e-5)

    listed = annctl("runs", "list", "--json", cwd=tmp_path)
    assert [row["mlflow"] for row in json.loads(listed.stdout)] == ["synced"]


def test_a_search_is_one_parent_with_a_child_per_trial(tmp_path, tracking_server):
    experiment = tune_experiment(tmp_path, SPACE)
    tuned = annctl(
        "tune",
        str(experiment),
        "--trials",
        "3",
        "--quiet",
        "--set",
        f"tracking.mlflow.uri={tracking_server.uri}",
        "--set",
        "tracking.mlflow.experiment=searches",
        cwd=tmp_path,
    )
    assert tuned.returncode == 0, tuned.stderr
    (tune_dir,) = tune_dirs(Path(os.environ["ANNCTL_RUNS_DIR"]))
    client = MlflowClient(tracking_server.uri)
    experiment_id = client.get_experiment_by_name("searches").experiment_id
    runs = client.search_runs([experiment_id])
    (parent,) = [run for run in runs if run.data.tags.get("annctl.kind") == "search"]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 4 and len(children) == 3
    assert parent.info.status == "FINISHED" and parent.data.params["search.trials"] == "3"
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"leaderboard.csv", "best.yaml", "summary.json"} <= parent_files
    with open(tune_dir / "leaderboard.csv", newline="") as handle:
        board = {row["trial"]: row for row in csv.DictReader(handle)}
    for child in children:
        number = child.data.tags["annctl.trial"]
        trial_dir = tune_dir / "trials" / f"{int(number):03d}"
        assert set(child.data.params) == {"model.hidden_units", "training.learning_rate", "training.batch_size"}
        assert child.data.params["training.batch_size"] == board[number]["training.batch_size"]
        assert child.data.tags["annctl.trial_state"] == board[number]["state"]
        assert_history_is_metrics_csv(client, child.info.run_id, trial_dir)
        assert json.loads((trial_dir / "mlflow.json").read_text())["synced"] is True
    assert json.loads((tune_dir / "mlflow.json").read_text())["mlflow_run_id"] == parent.info.run_id
    listed = annctl("runs", "list", "--json", "--trials", cwd=tmp_path)
    assert {row["mlflow"] for row in json.loads(listed.stdout)} == {"synced"}


def test_server_killed_mid_run_then_runs_sync_uploads_it_once(tmp_path):
    server = TrackingServer(tmp_path / "server")
    server.base.mkdir()
    server.start()
    try:
        epochs = 200
        experiment = write_experiment(tmp_path, "classification", name="offline", epochs=epochs, batch_size=4)
        args = [sys.executable, "-m", "annctl", "train", str(experiment), "-q"]
        args += ["--set", f"tracking.mlflow.uri={server.uri}"]
        training = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        client = MlflowClient(server.uri)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # wait until the run is in MLflow with some epochs
            experiment_found = client.get_experiment_by_name("offline")
            runs = client.search_runs([experiment_found.experiment_id]) if experiment_found else []
            if runs and client.get_metric_history(runs[0].info.run_id, "loss"):
                break
            assert training.poll() is None, training.communicate()
            time.sleep(0.2)
        # the training held still while the server dies, so that it dies mid-run whatever the machine's speed
        training.send_signal(signal.SIGSTOP)
        (run_dir,) = Path(os.environ["ANNCTL_RUNS_DIR"]).glob("offline-*")
        assert 1 <= len(metrics_csv(run_dir)) < epochs
        server.stop()
        training.send_signal(signal.SIGCONT)
        out, err = training.communicate(timeout=600)
        assert training.returncode == 0, err  # exits as it would have
        assert Path(out.strip()) == run_dir
        assert err.count("warning:") == 1 and "annctl runs sync" in err, err
        assert len(metrics_csv(run_dir)) == epochs  # every epoch trained and recorded
        record = json.loads((run_dir / "mlflow.json").read_text())
        assert record["synced"] is False and record["error"]
        listed = annctl("runs", "list", "--json", cwd=tmp_path)
        assert json.loads(listed.stdout)[0]["mlflow"] == "not synced"

        server.start()
        synced = annctl("runs", "sync", cwd=tmp_path)  # the runs root's unsynced runs
        assert synced.returncode == 0, synced.stderr
        assert synced.stdout.startswith(f"uploaded: run {run_dir}"), synced.stdout
        record, run = tracked_run(client, run_dir)
        assert record["synced"] is True and run.info.status == "FINISHED"
        assert_history_is_metrics_csv(client, run.info.run_id, run_dir)  # the epochs sent live are not doubled
        assert "model" in {a.path for a in client.list_artifacts(run.info.run_id)}

        def holdings():
            return (
                [r.info.run_id for r in client.search_runs([run.info.experiment_id])],
                {key: len(client.get_metric_history(run.info.run_id, key)) for key in run.data.metrics},
                sorted(a.path for a in client.list_artifacts(run.info.run_id, "model")),
            )

        before = holdings()
        again = annctl("runs", "sync", str(run_dir), cwd=tmp_path)
        assert again.returncode == 0 and again.stdout.startswith("already synced"), again.stdout
        # even with its record lost, MLflow's annctl.run_id tag matches the run: nothing is added
        (run_dir / "mlflow.json").write_text(json.dumps({**record, "synced": False, "mlflow_run_id": None}))
        matched = annctl("runs", "sync", str(run_dir), "--uri", server.uri, cwd=tmp_path)
        assert matched.returncode == 0 and matched.stdout.startswith("already synced"), matched.stdout
        assert holdings() == before
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


def test_an_unreachable_server_never_fails_the_run(tmp_path):
    experiment = write_experiment(tmp_path, "classification", name="unreachable", epochs=2)
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    trained = annctl("train", str(experiment), "-q", "--set", f"tracking.mlflow.uri={uri}", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert trained.stderr.count("warning:") == 1 and "connection refused" in trained.stderr
    run_dir = Path(trained.stdout.strip())
    assert json.loads((run_dir / "mlflow.json").read_text())["synced"] is False
    failed = annctl("runs", "sync", str(run_dir), cwd=tmp_path)
    assert failed.returncode == 1 and failed.stdout.startswith(f"failed: run {run_dir}"), failed.stdout


HOLD_LOCK = """
import sys
from pathlib import Path
from annctl.fileio import exclusive_lock
with exclusive_lock(Path(sys.argv[1]), "run"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_runs_sync_skips_a_run_whose_lock_another_process_holds(tmp_path):
    # a `train --resume` of a killed run holds the run's lock before its summary says "running" again
    run_dir = tmp_path / "resumed-20261204T120000-abcdef"
    run_dir.mkdir()
    (run_dir / "spec.yaml").write_text("name: resumed\n")
    (run_dir / "summary.json").write_text(json.dumps({"status": "killed"}))
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there: a sync that went ahead would fail
    record = json.dumps({"run_id": "0" * 32, "uri": uri, "synced": False})
    (run_dir / "mlflow.json").write_text(record)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir / ".lock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        synced = annctl("runs", "sync", str(run_dir), "--uri", uri, cwd=tmp_path)
    finally:
        holder.communicate(b"")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert synced.stdout == f"skipped: run {run_dir} (still running: it reports itself, or sync it once it ends)\n"
    assert (run_dir / "mlflow.json").read_text() == record  # untouched


def test_tracking_without_mlflow_installed_is_exit_2_with_the_install_command(tmp_path):
    experiment = write_experiment(tmp_path, "classification", name="no_extra")
    code = (
        "import importlib.abc, sys\n"
        "class Refuse(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mlflow' or name.startswith('mlflow.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "from annctl.cli import main\n"
        "main()\n"
    )
    for args in (
        ["train", str(experiment), "--set", "tracking.mlflow.uri=http://127.0.0.1:9"],
        ["runs", "sync", "latest"],
    ):
        result = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        assert result.returncode == 2, result.stderr
        assert "pip install 'annctl[mlflow]'" in result.stderr and "Traceback" not in result.stderr
    assert not any(Path(os.environ["ANNCTL_RUNS_DIR"]).glob("no_extra-*"))  # refused before any run started


def test_tracking_without_a_uri_is_exit_2_naming_the_field(tmp_path):
    experiment = write_experiment(tmp_path, "classification", name="no_uri")
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, "-m", "annctl", "train", str(experiment), "--set", "tracking.mlflow.experiment=x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "tracking.mlflow.uri" in result.stderr and "MLFLOW_TRACKING_URI" in result.stderr


@pytest.mark.postgres
def test_two_machines_sharing_a_study_report_to_one_parent(tmp_path, tracking_server, postgres_url):  # noqa: F811
    experiment = tune_experiment(tmp_path, SPACE)
    args = [sys.executable, "-m", "annctl", "tune", str(experiment), "--trials", "4", "--quiet"]
    args += ["--storage", postgres_url, "--study", "shared_tracked"]
    args += ["--set", f"tracking.mlflow.uri={tracking_server.uri}", "--set", "tracking.mlflow.experiment=machines"]
    machines = []
    for index in range(2):  # two "machines": separate processes and runs roots, one database, one MLflow
        env = {**os.environ, "ANNCTL_RUNS_DIR": str(tmp_path / f"machine{index}")}
        machines.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for machine in machines:
        _, err = machine.communicate(timeout=900)
        assert machine.returncode == 0, err
    client = MlflowClient(tracking_server.uri)
    runs = client.search_runs([client.get_experiment_by_name("machines").experiment_id])
    (parent,) = [run for run in runs if run.data.tags.get("annctl.kind") == "search"]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and sorted(int(run.data.tags["annctl.trial"]) for run in children) == [0, 1, 2, 3]
    for index in range(2):
        (tune_dir,) = tune_dirs(tmp_path / f"machine{index}")
        assert json.loads((tune_dir / "mlflow.json").read_text())["mlflow_run_id"] == parent.info.run_id
