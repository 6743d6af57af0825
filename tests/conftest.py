"""Shared fixtures: tiny generated datasets and experiment files, an isolated runs root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"

if "mutmut" in sys.modules:
    # Under mutmut every mutant's tests run in a process forked from one that collected them. Importing TensorFlow
    # here, in that parent, lets each fork reuse it instead of importing it again per mutant (seconds each); a fork
    # after the import is safe, a fork after TensorFlow has run an op is not (docs/mutation.md).
    import tensorflow  # noqa: F401


def pytest_collection_modifyitems(items):
    """Fault-injection, PostgreSQL and MLflow tests run real processes for tens of seconds each: they are ``slow`` too,
    so ``pytest -m "not slow"`` is the quick inner loop (the README says what it leaves out)."""
    for item in items:
        if any(item.get_closest_marker(marker) for marker in ("reliability", "postgres", "mlflow")):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Every test writes runs under its own temp folder, and caches too."""
    monkeypatch.setenv("ANNCTL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("ANNCTL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "runs"


def write_csv(path: Path, task: str, rows: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3)).round(4)
    if task == "classification":
        labels = np.where(x[:, 0] + x[:, 1] > 0, "yes_class", "no_class")
        target = labels
    else:
        target = (2 * x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=rows)).round(4)
    lines = ["a,b,c,target"] + [f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(x, target)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_experiment(directory: Path, task: str = "classification", name: str = "tiny", **training) -> Path:
    """A tiny CSV experiment: 60 rows, 3 features, 2 epochs unless overridden."""
    csv_path = write_csv(directory / f"{task}.csv", task)
    settings = {"epochs": 2, "batch_size": 8, **training}
    lines = [
        f"name: {name}",
        "seed: 7",
        "dataset:",
        "  name: csv",
        f"  path: {csv_path.name}",
        "  target: target",
        "model:",
        "  architecture: mlp",
        "  hidden_units: [8]",
        "training:",
    ] + [f"  {key}: {value}" for key, value in settings.items()]
    path = directory / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def classification_experiment(tmp_path) -> Path:
    return write_experiment(tmp_path, "classification")


@pytest.fixture
def regression_experiment(tmp_path) -> Path:
    return write_experiment(tmp_path, "regression", name="tiny_regression")


def real_data_dir() -> Path | None:
    value = os.environ.get("ANNCTL_DATA_DIR")
    return Path(value) if value and Path(value).is_dir() else None
