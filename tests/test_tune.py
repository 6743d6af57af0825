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
from tensorboard.plugins.hparams import api_pb2
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec
from annctl.records import TuneConfig

from .conftest import EXPERIMENTS, write_csv

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
            "search.space.model.hiden_units: model.hiden_units: unknown field `hiden_units` "
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


@pytest.mark.slow
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
        assert run_summary["test_metrics"] is None  # issue 24: the search never looks at the test split
        assert (run_dir / "model.keras").is_file() and (run_dir / "metrics.csv").is_file()
        # light trials (issue 22): retried, never resumed, so no per-epoch checkpoints; no picture drawn
        assert not list(run_dir.rglob("checkpoints/*.keras"))
        assert not (run_dir / "plots" / "learning_curves.png").exists()
        assert run_summary["best_epoch"] is not None  # the best epoch is still tracked
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
    sessions = sorted(path for path in (tune_dir / "tensorboard").iterdir() if path.is_dir())
    assert [s.name for s in sessions] == ["000", "001", "002"]
    assert hparams_plugin_in(sessions[0])
    # ... the experiment with the declared domains (not the values tried) and the metrics, once
    (experiment_pb,) = [data.experiment for data, _ in hparams_records(tune_dir / "tensorboard")]
    infos = {info.name: info for info in experiment_pb.hparam_infos}
    rate = infos["training.learning_rate"].domain_interval
    assert (rate.min_value, rate.max_value) == pytest.approx((1e-3, 3e-2))
    batch = infos["training.batch_size"].domain_interval
    assert (batch.min_value, batch.max_value) == (4, 16)
    assert [v.string_value for v in infos["model.hidden_units"].domain_discrete.values] == ["[4]", "[8, 4]"]
    assert [m.name.tag for m in experiment_pb.metric_infos] == ["best_val_loss", "val_loss"]
    # ... each session ends with its status; its per-epoch scalars use the runs' 0-based steps
    for session in sessions:
        records = hparams_records(session)
        start = next(data.session_start_info for data, _ in records if data.HasField("session_start_info"))
        assert start.group_name == session.name
        row = by_trial[int(session.name)]
        assert start.hparams["model.hidden_units"].string_value == row["model.hidden_units"]
        assert start.hparams["training.batch_size"].number_value == int(row["training.batch_size"])
        (end,) = [data.session_end_info for data, _ in records if data.HasField("session_end_info")]
        assert api_pb2.Status.Name(end.status) == "STATUS_SUCCESS"
        logged = scalars(session, "val_loss")
        metrics_csv = list(csv.DictReader(open(tune_dir / "trials" / session.name / "metrics.csv")))
        assert logged == [(int(r["epoch"]) - 1, pytest.approx(float(r["val_loss"]))) for r in metrics_csv]
        assert scalars(session, "best_val_loss")[-1][1] == pytest.approx(float(row["val_loss"]))
        keras_steps = [step for step, _ in scalars(tune_dir / "trials" / session.name / "tensorboard", "epoch_loss")]
        assert sorted(set(keras_steps)) == [step for step, _ in logged] == [0, 1]  # one step convention
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


def hparams_records(directory: Path) -> list:
    """(HParamsPluginData, step) of every hparams summary in the event files directly in ``directory``."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    records = []
    for event_file in sorted(directory.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    content = value.metadata.plugin_data.content
                    records.append((plugin_data_pb2.HParamsPluginData.FromString(content), event.step))
    return records


def scalars(directory: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of scalar ``tag`` in every event file under ``directory``."""
    import tensorflow as tf

    found = []
    for event_file in sorted(directory.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == tag:
                    found.append((event.step, float(tf.make_ndarray(value.tensor))))
    return found


def hparams_plugin_in(session: Path) -> bool:
    import tensorflow as tf

    for event_file in session.iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    return True
    return False


@pytest.mark.slow
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
        # every trial, failed ones too, is an HParams session that ends with its status
        records = hparams_records(tune_dir / "tensorboard" / f"{int(row['trial']):03d}")
        (end,) = [data.session_end_info for data, _ in records if data.HasField("session_end_info")]
        expected = "STATUS_SUCCESS" if row["state"] == "complete" else "STATUS_FAILURE"
        assert api_pb2.Status.Name(end.status) == expected


@pytest.mark.slow
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
    config = TuneConfig(
        name="t",
        metric="val_loss",
        direction="minimize",
        epochs=10,
        study="s",
        storage=url,
        sampler="random",
        pruner="median",
        trials=4,
        seed=0,
    )
    base = {"name": "t", "dataset": {"name": "iris"}, "model": {"architecture": "mlp"}}
    summary = write_outputs(tmp_path, study, config, base, {}, {})
    assert summary.trials_pruned == 1 and summary.epochs_saved_by_pruning == 8


@pytest.mark.slow
def test_warm_worker_trials_match_a_process_per_trial(tmp_path, monkeypatch):
    """Trials run one after another in one warm worker give the same numbers as each in a fresh process."""
    experiment = tune_experiment(tmp_path)

    def search(runs: Path, trials_per_worker: str) -> Path:
        monkeypatch.setenv("ANNCTL_TUNE_WORKER_TRIALS", trials_per_worker)
        result = runner.invoke(app, ["tune", str(experiment), "--trials", "3", "--runs-dir", str(runs), "--json"])
        assert result.exit_code == 0, result.output
        (tune_dir,) = tune_dirs(runs)
        return tune_dir

    def pids(tune_dir: Path) -> set[int]:
        return {json.loads((trial / "summary.json").read_text())["pid"] for trial in (tune_dir / "trials").iterdir()}

    def metrics(tune_dir: Path, number: int) -> list[dict]:
        rows = csv.DictReader(open(tune_dir / "trials" / f"{number:03d}" / "metrics.csv"))
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]

    warm, fresh = search(tmp_path / "warm", "100"), search(tmp_path / "fresh", "1")
    assert len(pids(warm)) == 1  # one worker process ran the three trials
    assert len(pids(fresh)) == 3  # a new process per trial, as before warm workers
    for number in range(3):
        assert metrics(warm, number) == metrics(fresh, number)
        assert len(metrics(warm, number)) == 2


def test_a_worker_is_replaced_after_its_trial_limit_or_memory_growth(monkeypatch):
    from annctl.tuning.workers import TrialWorker

    worker = TrialWorker.__new__(TrialWorker)  # the policy alone, without a process
    worker.trials, worker.first_rss = 1, 500 * 2**20
    reply = {"fit": True, "rss_bytes": 600 * 2**20}
    monkeypatch.setenv("ANNCTL_TUNE_WORKER_TRIALS", "3")
    monkeypatch.setenv("ANNCTL_TUNE_WORKER_RSS_MB", "200")
    assert worker.worn_out(reply) is None
    assert worker.worn_out({**reply, "fit": False}) == "unfit"
    assert worker.worn_out({**reply, "rss_bytes": 701 * 2**20}) == "memory grew 201 MB"
    assert worker.worn_out({**reply, "rss_bytes": 700 * 2**20}) is None  # growth up to the limit is allowed
    worker.trials = 2
    assert worker.worn_out(reply) is None  # the limit's own trial is still run
    worker.trials = 3
    assert worker.worn_out(reply) == "3 trials"
    monkeypatch.setenv("ANNCTL_TUNE_WORKER_TRIALS", "junk")  # not a positive number: the default
    assert worker.worn_out(reply) is None


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


def test_a_worker_loads_each_dataset_once_read_only_and_keeps_the_latest_few(monkeypatch):
    from annctl.config import load_spec
    from annctl.datasets.iris import Iris
    from annctl.tuning.worker import DataCache

    loads = []
    real_load = Iris.load
    monkeypatch.setattr(Iris, "load", lambda self, seed: loads.append(seed) or real_load(self, seed))
    spec = load_spec(EXPERIMENTS / "iris_mlp.yaml")
    cache = DataCache()
    first = cache.load(spec)
    assert cache.load(spec) is first and loads == [42]  # the second trial reuses the arrays
    with pytest.raises(ValueError, match="read-only"):
        first.train.x[0, 0] = 0.0
    for seed in range(1, DataCache.KEEP + 1):  # other seeds split differently: loaded, and the oldest dropped
        cache.load(spec.model_copy(update={"seed": seed}))
    assert cache.load(spec) is not first and loads == [42, 1, 2, 3, 4, 42]
