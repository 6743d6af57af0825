"""`annctl tune` on tiny data: space validation, every output, resume without replay, failing trials."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec

from .conftest import write_csv

runner = CliRunner()

SPACE = """search:
  space:
    model.hidden_units: {type: choice, values: [[4], [8, 4]]}
    training.learning_rate: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
    training.batch_size: {type: int, low: 4, high: 16, log: true}
"""


def tune_experiment(directory: Path, search: str = SPACE, task: str = "classification", **training) -> Path:
    csv_path = write_csv(directory / f"{task}.csv", task)
    settings = {"epochs": 2, "batch_size": 8, **training}
    text = (
        "name: tiny_tune\nseed: 5\n"
        f"dataset: {{name: csv, path: {csv_path.name}, target: target}}\n"
        "model: {architecture: mlp, hidden_units: [8]}\n"
        "training:\n" + "".join(f"  {k}: {v}\n" for k, v in settings.items()) + search
    )
    path = directory / "tune.yaml"
    path.write_text(text)
    return path


def tune_dirs(runs: Path) -> list[Path]:
    return sorted(path for path in runs.iterdir() if "-tune-" in path.name)


def leaderboard(tune_dir: Path) -> list[dict]:
    return list(csv.DictReader(open(tune_dir / "leaderboard.csv")))


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("training.learning_rate: {type: float, low: 0.0, high: 0.1, log: true}", "log scale needs low > 0"),
        ("training.epochs: {type: int, low: 9, high: 2}", "low (9) is greater than high (2)"),
        (
            "model.hiden_units: {type: choice, values: [[4]]}",
            "search.space.model.hiden_units: value [4] is invalid: model.hiden_units: unknown field `hiden_units` "
            "(did you mean `hidden_units`?)",
        ),
        ("training.batch_size: {type: int, low: 0, high: 8}", "value 0 is invalid: training.batch_size"),
        ("model.activation: {type: choice, values: [relu, relu]}", "listed twice"),
        ("name: {type: choice, values: [a, b]}", "name cannot be searched"),
    ],
)
def test_impossible_space_is_exit_2_before_training(tmp_path, isolated_runs, entry, expected):
    experiment = tune_experiment(tmp_path, f"search:\n  space:\n    {entry}\n")
    result = runner.invoke(app, ["tune", str(experiment), "--trials", "2"])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert f"{experiment}:" in result.stderr  # file and line of the problem
    assert not isolated_runs.exists() or not list(isolated_runs.iterdir())  # nothing trained, nothing written
    assert runner.invoke(app, ["validate", str(experiment)]).exit_code == 2


def test_unknown_search_metric_is_exit_2(tmp_path):
    experiment = tmp_path / "iris.yaml"
    experiment.write_text(
        "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp}\nsearch:\n  metric: val_acuracy\n"
        "  space:\n    training.batch_size: {type: int, low: 4, high: 16}\n"
    )
    result = runner.invoke(app, ["validate", str(experiment)])
    assert result.exit_code == 2
    assert f"{experiment}:5:3: search.metric: unknown metric 'val_acuracy'" in result.stderr


def test_search_with_every_output_then_resume_continues_the_sequence(tmp_path, isolated_runs):
    experiment = tune_experiment(tmp_path)
    plan = runner.invoke(app, ["tune", str(experiment), "--trials", "5", "--dry-run", "--json"])
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.stdout)["configurations"]
    assert not isolated_runs.exists() or not list(isolated_runs.iterdir())  # a dry run trains nothing

    result = runner.invoke(app, ["tune", str(experiment), "--trials", "3", "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (tune_dir,) = tune_dirs(isolated_runs)
    assert summary["trials_complete"] == 3 and summary["status"] == "completed"
    for key in ("study", "storage", "sampler", "best_trial", "best_value", "wall_seconds", "trials_failed"):
        assert key in summary
    # every trial is a complete run directory
    for number in range(3):
        run_dir = tune_dir / "trials" / f"{number:03d}"
        run_summary = json.loads((run_dir / "summary.json").read_text())
        assert run_summary["status"] == "completed"
        assert (run_dir / "model.keras").is_file() and (run_dir / "metrics.csv").is_file()
        assert "search" not in yaml.safe_load((run_dir / "spec.yaml").read_text())
    # the leaderboard: best first, parameters under their dotted paths
    rows = leaderboard(tune_dir)
    assert [row["state"] for row in rows] == ["complete"] * 3
    values = [float(row["val_loss"]) for row in rows]
    assert values == sorted(values) and values[0] == pytest.approx(summary["best_value"])
    assert {"model.hidden_units", "training.learning_rate", "training.batch_size", "epochs", "seconds"} <= set(rows[0])
    # the trials got exactly the configurations the dry run announced
    by_trial = {int(row["trial"]): row for row in rows}
    for config in planned[:3]:
        row = by_trial[config["trial"]]
        assert json.loads(row["model.hidden_units"]) == config["model.hidden_units"]
        assert float(row["training.learning_rate"]) == pytest.approx(config["training.learning_rate"])
        assert int(row["training.batch_size"]) == config["training.batch_size"]
    # best.yaml is a plain experiment that validates, with the best parameters and no search
    best = load_spec(tune_dir / "best.yaml")
    assert best.search is None
    assert best.training.learning_rate == pytest.approx(summary["best_params"]["training.learning_rate"])
    # TensorBoard HParams: one session per trial with its parameters
    sessions = sorted((tune_dir / "tensorboard").iterdir())
    assert [s.name for s in sessions] == ["000", "001", "002"]
    assert hparams_plugin_in(sessions[0])

    # the storage is recorded as a URL Optuna's own tools open, from anywhere
    config = json.loads((tune_dir / "tune.json").read_text())
    assert config["storage"] == f"sqlite:///{(tune_dir / 'study.db').resolve()}" == summary["storage"]
    study = optuna.load_study(storage=config["storage"], study_name=config["study"])
    assert len(study.trials) == 3
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "optuna"), "studies", "--storage", config["storage"], "-f", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path.parent,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert [entry["name"] for entry in json.loads(listing.stdout)] == [config["study"]]

    # resume to 5: two more trials, new parameters (not a replay), the announced ones
    resumed = runner.invoke(app, ["tune", "--resume", str(tune_dir), "--trials", "5", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["trials_complete"] == 5
    rows = {int(row["trial"]): row for row in leaderboard(tune_dir)}
    assert sorted(rows) == [0, 1, 2, 3, 4]
    rates = [float(rows[n]["training.learning_rate"]) for n in range(5)]
    assert len(set(rates)) == 5
    assert rates[3] == pytest.approx(planned[3]["training.learning_rate"])
    assert rates[4] == pytest.approx(planned[4]["training.learning_rate"])
    # report and plot accept the tune directory (its trials)
    report = runner.invoke(app, ["report", str(tune_dir), "--output", str(tmp_path / "report.html")])
    assert report.exit_code == 0, report.output
    assert "004" in (tmp_path / "report.html").read_text()


def hparams_plugin_in(session: Path) -> bool:
    import tensorflow as tf

    for event_file in session.iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    return True
    return False


def test_failing_and_diverging_trials_are_recorded_and_the_study_goes_on(tmp_path, isolated_runs):
    # lr 10 on raw targets diverges; target `nope` is not a column (the trial raises a DataError)
    search = """search:
  space:
    training.learning_rate: {type: choice, values: [0.01, 10.0]}
    dataset.target: {type: choice, values: [target, nope]}
  max_consecutive_failures: 8
"""
    experiment = tune_experiment(tmp_path, search, task="regression", optimizer="sgd", epochs=3)
    experiment.write_text(experiment.read_text().replace("target: target}", "target: target, normalize: false}"))
    result = runner.invoke(app, ["tune", str(experiment), "--trials", "2", "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["trials_complete"] == 2 and summary["trials_failed"] >= 1
    (tune_dir,) = tune_dirs(isolated_runs)
    rows = leaderboard(tune_dir)
    failed = [row for row in rows if row["state"] == "failed"]
    assert rows[-len(failed) :] == failed  # failures sort last
    reasons = " | ".join(row["reason"] for row in failed)
    assert "nope" in reasons or "diverged" in reasons
    for row in rows:
        if row["state"] == "complete":
            assert row["training.learning_rate"] == "0.01" and row["dataset.target"] == "target"
        else:
            assert row["reason"]


def test_too_many_failures_in_a_row_stop_with_exit_1(tmp_path, isolated_runs):
    search = """search:
  space:
    dataset.target: {type: choice, values: [nope, nada]}
  max_consecutive_failures: 2
"""
    experiment = tune_experiment(tmp_path, search)
    result = runner.invoke(app, ["tune", str(experiment), "--trials", "5"])
    assert result.exit_code == 1, result.output
    assert "2 trials failed in a row" in result.stderr
    (tune_dir,) = tune_dirs(isolated_runs)
    summary = json.loads((tune_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["trials_failed"] == 2


def test_median_pruner_stops_a_trial_behind_the_others_and_the_summary_counts_saved_epochs(tmp_path):
    import keras
    import optuna

    from annctl.tuning.outputs import write_outputs
    from annctl.tuning.study import make_pruner, open_storage
    from annctl.tuning.trial import _pruning_callback

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url), pruner=make_pruner("median", 10))
    for _ in range(3):  # three finished trials whose val_loss falls to 0.1
        trial = study.ask()
        for epoch in range(1, 6):
            trial.report(1.0 / epoch - 0.1, epoch)
        study.tell(trial, 0.1)
    trial = study.ask()
    payload = {"study": "s", "storage": url, "pruner": "median", "epochs": 10, "trial_id": trial._trial_id}
    callback = _pruning_callback(payload, "val_loss")
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    for epoch in range(4):  # a trial stuck at val_loss 5: pruned as soon as the 2 warm-up epochs are over
        callback.on_epoch_end(epoch, {"val_loss": 5.0})
        if callback.pruned_epoch:
            break
    assert callback.pruned_epoch == 2 and callback.model.stop_training
    study._storage.set_trial_user_attr(trial._trial_id, "epochs", 2)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    config = {
        "metric": "val_loss",
        "direction": "minimize",
        "epochs": 10,
        "study": "s",
        "storage": url,
        "sampler": "random",
        "pruner": "median",
        "trials": 4,
    }
    base = {"name": "t", "dataset": {"name": "iris"}, "model": {"architecture": "mlp"}}
    summary = write_outputs(tmp_path, study, config, base, {}, {})
    assert summary["trials_pruned"] == 1 and summary["epochs_saved_by_pruning"] == 8


def test_bare_postgresql_url_uses_the_installed_driver(monkeypatch):
    import importlib

    from sqlalchemy.engine import make_url

    from annctl.errors import UsageError
    from annctl.tuning.study import database_url

    url = "postgresql://annctl@db.example/annctl"
    default = make_url(url).get_dialect().driver  # psycopg from SQLAlchemy 2.1, psycopg2 before
    other = {"psycopg": "psycopg2", "psycopg2": "psycopg"}[default]
    real_import = importlib.import_module

    def only(installed: str | None):
        def import_module(name, *args, **kwargs):
            if name in ("psycopg", "psycopg2"):
                if name != installed:
                    raise ImportError(f"No module named {name!r}")
                return object()
            return real_import(name, *args, **kwargs)

        return import_module

    monkeypatch.setattr(importlib, "import_module", only(default))
    assert database_url(url) == url
    monkeypatch.setattr(importlib, "import_module", only(other))
    assert database_url(url) == f"postgresql+{other}://annctl@db.example/annctl"
    assert database_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"  # named: left alone
    assert database_url("sqlite:////tmp/study.db") == "sqlite:////tmp/study.db"
    monkeypatch.setattr(importlib, "import_module", only(None))
    with pytest.raises(UsageError, match=r"pip install 'annctl\[postgres\]'"):
        database_url(url)
