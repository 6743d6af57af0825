"""Every shipped experiment validates; on the real data each trains a couple of epochs (marked realdata)."""

import json
import os

import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec

from .conftest import EXPERIMENTS, real_data_dir

runner = CliRunner()
SHIPPED = sorted(EXPERIMENTS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_experiment_validates(path):
    spec = load_spec(path)
    assert spec.name == path.stem


def available(dataset: str) -> bool:
    if dataset == "fashion_mnist":
        return real_data_dir() is not None and (real_data_dir() / "fashion-mnist").is_dir()
    if dataset == "california_housing":
        return bool(os.environ.get("SCIKIT_LEARN_DATA"))
    return True


# (experiment, epochs, summary metric, bound) after a couple of epochs: far from the final figures, but
# only a working pipeline on the real data gets there.
CASES = [
    ("iris_mlp", 30, "accuracy", 0.8),
    ("california_mlp", 2, "mse", 0.6),
    ("fashion_mnist_mlp", 2, "accuracy", 0.8),
]


@pytest.mark.realdata
@pytest.mark.parametrize("stem,epochs,metric,bound", CASES, ids=[c[0] for c in CASES])
def test_shipped_experiment_trains_on_real_data(stem, epochs, metric, bound):
    spec = load_spec(EXPERIMENTS / f"{stem}.yaml")
    if not available(spec.dataset.name):
        pytest.skip(f"{spec.dataset.name} data not available")
    result = runner.invoke(
        app, ["train", str(EXPERIMENTS / f"{stem}.yaml"), "--json", "--set", f"training.epochs={epochs}"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    value = summary["test_metrics"][metric]
    assert value >= bound if metric == "accuracy" else value <= bound, (metric, value)
