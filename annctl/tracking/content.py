"""What a run sends to MLflow, read from its run directory: params, metric rows, test metrics, tags, files.

Nothing here talks to a server or imports MLflow, so the live logger and `runs sync` send the same things.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from annctl.fileio import read_json_object as read_json
from annctl.rundir import RunPaths

# annctl's run status → MLflow's RunStatus (a killed run, as `runs list` calls one, is KILLED too)
MLFLOW_STATUS = {
    "completed": "FINISHED",
    "failed": "FAILED",
    "diverged": "FAILED",
    "interrupted": "KILLED",
    "killed": "KILLED",
    "running": "RUNNING",
}
PARAM_VALUE_LIMIT = 6000  # MLflow 3's limit on a param's value (longer ones are cut, marked with …)
PARAM_KEY_LIMIT = 250
NOT_METRICS = ("epoch",)  # metrics.csv columns that are the step, not a metric
RUN_ID_TAG, SYNCED_TAG, MODEL_TAG = "annctl.run_id", "annctl.synced", "annctl.model"


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def params(run_dir: Path) -> dict[str, str]:
    """The resolved spec flattened with dotted keys (`training.learning_rate`), the dataset's fingerprint and
    the versions that trained it (from env.json)."""
    from annctl.runs import flatten

    paths = RunPaths(run_dir)
    spec = read_yaml(paths.spec)
    spec.pop("tracking", None)  # where the run reports is not what it is
    values: dict[str, Any] = flatten(spec)
    values["dataset.fingerprint"] = dataset_fingerprint(run_dir)
    env = read_json(paths.env)
    for package in ("annctl", "tensorflow", "keras", "python"):
        if env.get(package):
            values[f"version.{package}"] = env[package]
    return {mlflow_key(key): param_text(value) for key, value in values.items()}


def mlflow_key(name: str) -> str:
    """A param or metric name as MLflow takes it: letters, digits, `_ - . / ` and spaces, no empty or relative
    path parts (a spec's column named `Preis [EUR]` is sent as `Preis _EUR_`), at most 250 characters."""
    cleaned = re.sub(r"[^/\w.\- ]", "_", name)
    parts = [part for part in cleaned.split("/") if part not in ("", ".", "..")]
    return "/".join(parts)[:PARAM_KEY_LIMIT] or "_"


def param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= PARAM_VALUE_LIMIT else text[: PARAM_VALUE_LIMIT - 1] + "…"


def dataset_fingerprint(run_dir: Path) -> str:
    """SHA-256 (first 16 hex digits) of the run's dataset section and its dataset.json, the input description
    with what the model keeps of the training split (sizes, classes, normalisation statistics): equal
    fingerprints, same data as the model saw it."""
    paths = RunPaths(run_dir)
    digest = hashlib.sha256(json.dumps(read_yaml(paths.spec).get("dataset"), sort_keys=True).encode())
    try:
        digest.update(paths.data.read_bytes())
    except OSError:
        pass
    return digest.hexdigest()[:16]


def metric_rows(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv, one dict per epoch (its `epoch` is the step)."""
    from annctl.plots import read_metrics

    return read_metrics(run_dir)


def epoch_metrics(row: dict[str, float]) -> tuple[int, dict[str, float]]:
    """(step, metrics) of one metrics.csv row: every column but the epoch, under its own name."""
    return int(row["epoch"]), {mlflow_key(key): float(value) for key, value in row.items() if key not in NOT_METRICS}


def test_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The final model's test metrics (`test_accuracy`, `test_skill` and `test_naive_mse` for forecasts)."""
    metrics = summary.get("test_metrics") or {}
    return {
        mlflow_key(f"test_{key}"): float(value)
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def tags(run_dir: Path, summary: dict[str, Any], annctl_run_id: str, git_commit: str | None) -> dict[str, str]:
    """The run's identity and how it ended, in annctl's words and MLflow's."""
    values = {
        RUN_ID_TAG: annctl_run_id,
        "annctl.run_dir": str(Path(run_dir).resolve()),
        "annctl.status": str(summary.get("status") or "unknown"),
        "mlflow.runName": Path(run_dir).name,
    }
    if summary.get("host"):
        values["annctl.host"] = str(summary["host"])
    if git_commit:
        values["mlflow.source.git.commit"] = git_commit
    return values


def artifact_files(run_dir: Path) -> list[Path]:
    """The run's files MLflow keeps beside the model: spec, summary, metrics, the learning-curve picture."""
    paths = RunPaths(run_dir)
    files = [paths.spec, paths.summary, paths.metrics, paths.learning_curves]
    return [path for path in files if path.is_file()]


def mlflow_status(status: str | None) -> str:
    return MLFLOW_STATUS.get(status or "", "FAILED")


def experiment_commit(experiment_file: str | None) -> str | None:
    """The commit of the git repository that holds the experiment file, if it is in one."""
    from annctl.rundir import git_commit

    if not experiment_file or not Path(experiment_file).is_file():
        return None
    return git_commit(Path(experiment_file).resolve().parent)
