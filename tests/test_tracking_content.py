"""What a run sends to MLflow, read from its run directory (no server, no MLflow import: fast)."""

import json
import subprocess
import sys

from annctl.tracking import content
from annctl.tracking.content import epoch_metrics, mlflow_key, params


def test_names_mlflow_would_refuse_are_made_acceptable():
    assert mlflow_key("dataset.columns.Preis [EUR]") == "dataset.columns.Preis _EUR_"
    assert mlflow_key("grad_norm/dense_1") == "grad_norm/dense_1"  # a slash groups metrics in MLflow's UI
    assert mlflow_key("../a//b/.") == "a/b"  # no empty or relative path parts
    assert len(mlflow_key("k" * 400)) == 250


def test_params_are_the_flattened_spec_with_fingerprint_and_versions(tmp_path):
    (tmp_path / "spec.yaml").write_text(
        "name: n\ndataset: {name: csv, path: d.csv}\nmodel: {architecture: mlp, hidden_units: [8, 4]}\n"
        "training: {learning_rate: 0.001, early_stopping: null}\ntracking: {mlflow: {uri: http://x}}\n"
    )
    (tmp_path / "env.json").write_text(json.dumps({"annctl": "0.1.0", "tensorflow": "2.21.0", "keras": "3.15.1"}))
    (tmp_path / "dataset.json").write_text('{"kind": "tabular"}')
    sent = params(tmp_path)
    assert sent["model.hidden_units"] == "[8, 4]" and sent["training.learning_rate"] == "0.001"
    assert sent["training.early_stopping"] == "null" and sent["dataset.path"] == "d.csv"
    assert sent["version.tensorflow"] == "2.21.0" and sent["version.keras"] == "3.15.1"
    assert not any(key.startswith("tracking") for key in sent)  # where a run reports is not what it is
    fingerprint = sent["dataset.fingerprint"]
    (tmp_path / "dataset.json").write_text('{"kind": "tabular", "classes": 3}')
    assert params(tmp_path)["dataset.fingerprint"] != fingerprint  # other data, another fingerprint


def test_metrics_are_every_column_at_step_epoch_and_the_test_metrics():
    step, values = epoch_metrics({"epoch": 3.0, "loss": 0.5, "val_loss": 0.625, "grad_norm/dense": 1.5})
    assert step == 3 and values == {"loss": 0.5, "val_loss": 0.625, "grad_norm/dense": 1.5}
    summary = {"test_metrics": {"mse": 0.25, "skill": 0.5, "naive_mse": 0.5, "beats_naive": True, "r2": None}}
    assert content.test_metrics(summary) == {"test_mse": 0.25, "test_skill": 0.5, "test_naive_mse": 0.5}


def test_reading_what_a_run_sends_imports_no_mlflow():
    code = (
        "import sys, tempfile, pathlib\n"
        "from annctl.tracking.content import params\n"
        "import annctl.training.lifecycle, annctl.tuning.runner\n"
        "params(pathlib.Path(tempfile.mkdtemp()))\n"
        "print('mlflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_experiment_files_commit_is_that_of_its_own_repository(tmp_path, monkeypatch):
    import subprocess

    from annctl.tracking.content import experiment_commit

    repo = tmp_path / "repo"
    repo.mkdir()
    experiment = repo / "exp.yaml"
    experiment.write_text("name: x\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "exp.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run([*git[:3], "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    monkeypatch.chdir(tmp_path)  # the command runs elsewhere: the file's repository counts, not the working folder
    assert experiment_commit(str(experiment)) == head
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("name: y\n")
    assert experiment_commit(str(outside)) is None
    assert experiment_commit(None) is None
