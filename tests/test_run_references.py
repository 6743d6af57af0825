"""Issue 29, item 10: one rule turns a RUN into a run directory, for every command and for `model.init_from`:
a run directory; `latest`; a run name, meaning that name's newest run; else a prefix of exactly one run."""

from __future__ import annotations

import json
import subprocess

import pytest

from annctl.config import load_spec
from annctl.errors import UsageError
from annctl.rundir import resolve_run
from annctl.training.lifecycle import pin_transfer_source
from tests.terminal import annctl_command


@pytest.fixture
def root(tmp_path):
    """iris_mlp trained twice, then `cached`, then `cached2` (newest last)."""
    root = tmp_path / "runs"
    for second, name in enumerate(["iris_mlp", "iris_mlp", "cached", "cached2"]):
        run_dir = root / f"{name}-20260101T00000{second}-{second:06x}"
        run_dir.mkdir(parents=True)
        (run_dir / "spec.yaml").write_text(f"name: {name}\n")
        (run_dir / "summary.json").write_text(json.dumps({"name": name, "status": "completed"}))
    return root


def test_a_name_means_its_newest_run_a_prefix_must_be_unique(root):
    assert resolve_run("iris_mlp", root).name == "iris_mlp-20260101T000001-000001"
    assert resolve_run("cached", root).name == "cached-20260101T000002-000002"  # not cached2, though newer
    assert resolve_run("cached2", root).name == "cached2-20260101T000003-000003"
    assert resolve_run("iris_mlp-20260101T000000-000000", root).name == "iris_mlp-20260101T000000-000000"
    assert resolve_run("iris_mlp-20260101T000000", root).name == "iris_mlp-20260101T000000-000000"  # a prefix
    assert resolve_run("latest", root).name == "cached2-20260101T000003-000003"
    with pytest.raises(UsageError, match=r"iris: 2 runs .* give a run name \(iris_mlp\) or a longer prefix"):
        resolve_run("iris", root)  # a prefix of two runs, though of one name: the name says which
    with pytest.raises(UsageError, match="cach: 2 runs .* start with that and none is named so; give a run name"):
        resolve_run("cach", root)
    with pytest.raises(UsageError, match="no run in .* is named or starts with that"):
        resolve_run("nothing", root)


def test_every_command_and_init_from_follow_the_rule(root, tmp_path):
    shown = subprocess.run(
        [*annctl_command(), "runs", "show", "iris_mlp", "--runs-dir", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr  # the README's `annctl predict iris_mlp` after two trainings
    assert json.loads(shown.stdout)["run_dir"].endswith("iris_mlp-20260101T000001-000001")
    compared = subprocess.run(
        [*annctl_command(), "runs", "compare", "cached", "cached2", "--runs-dir", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["runs"] == ["cached-20260101T000002-000002", "cached2-20260101T000003-000003"]
    experiment = tmp_path / "transfer.yaml"
    experiment.write_text("name: transfer\ndataset: {name: iris}\nmodel: {architecture: mlp, init_from: cached}\n")
    pinned, source = pin_transfer_source(load_spec(experiment), root)
    assert source.run_dir.endswith("cached-20260101T000002-000002")  # the prefix rule used to pick cached2
    assert pinned.model.init_from == source.run_dir
