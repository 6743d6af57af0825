"""annctl/rundir.py without training: where runs go (runs_root, prepare_root, create_run_dir), which run a
reference names (resolve_run, expand_runs, list_run_dirs' order), the resolved spec as YAML, env.json and the
git commit recorded with a run."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from annctl.errors import UsageError
from annctl.rundir import (
    RunPaths,
    create_run_dir,
    expand_runs,
    git_commit,
    list_run_dirs,
    prepare_root,
    resolve_run,
    runs_root,
    spec_to_yaml,
    write_env,
)
from annctl.spec import ExperimentSpec, TrainingSpec
from annctl.yamlsafe import parse


def make_run(root: Path, folder: str) -> Path:
    run = root / folder
    run.mkdir(parents=True)
    RunPaths(run).spec.write_text("name: x\n")
    return run


def test_runs_go_to_the_option_then_the_environment_variable_then_runs(monkeypatch):
    monkeypatch.delenv("ANNCTL_RUNS_DIR", raising=False)
    assert runs_root() == Path("runs")
    monkeypatch.setenv("ANNCTL_RUNS_DIR", "elsewhere")
    assert runs_root() == Path("elsewhere")
    assert runs_root("given") == Path("given")


def test_a_file_in_place_of_the_runs_directory_or_of_a_folder_above_it_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError) as raised:
        prepare_root(blocker)
    assert str(raised.value) == f"runs directory {blocker}: is a file, not a directory; choose another with --runs-dir"
    with pytest.raises(UsageError) as raised:
        prepare_root(blocker / "runs")
    assert str(raised.value) == (
        f"runs directory {blocker / 'runs'}: cannot create it: {blocker} is a file, not a directory; "
        "choose another with --runs-dir"
    )


def test_a_run_that_cannot_be_created_names_the_runs_directory(tmp_path, monkeypatch):
    real_mkdir = Path.mkdir

    def full_disk(self, *args, **kwargs):
        if self.parent == tmp_path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", full_disk)
    with pytest.raises(UsageError) as raised:
        create_run_dir(tmp_path, "x")
    assert str(raised.value) == f"runs directory {tmp_path}: cannot create a run in it: {os.strerror(errno.ENOSPC)}"


def test_a_folder_without_the_run_suffix_sorts_before_the_stamped_runs(tmp_path):
    stamped = make_run(tmp_path, "a-20261205T120000-abcdef")
    copied = make_run(tmp_path, "copied")  # written last, yet its name carries no time
    assert list_run_dirs(tmp_path) == [copied, stamped]
    assert resolve_run("latest", tmp_path) == stamped


def test_a_tune_directory_stands_for_its_trials_and_a_plain_folder_for_its_runs(tmp_path):
    tune = tmp_path / "search-tune"
    trials = [make_run(tune / "trials", name) for name in ("000", "001")]
    assert expand_runs([str(tune)], tmp_path) == trials
    folder = tmp_path / "kept"
    runs = [make_run(folder, f"k-20261205T12000{i}-abcdef") for i in range(2)]
    assert expand_runs([str(folder)], tmp_path) == runs


def test_an_unknown_run_names_the_runs_directory(tmp_path):
    make_run(tmp_path, "a-20261205T120000-abcdef")
    with pytest.raises(UsageError) as raised:
        resolve_run("zzz", tmp_path)
    assert str(raised.value) == f"zzz: no such run directory, and no run in {tmp_path} is named or starts with that"


@pytest.mark.parametrize(("count", "shown"), [(5, "p0, p1, p2, p3, p4"), (6, "p0, p1, p2, p3, p4, ...")])
def test_an_ambiguous_prefix_lists_five_run_names_then_dots(tmp_path, count, shown):
    for i in range(count):
        make_run(tmp_path, f"p{i}-20261205T12000{i}-abcdef")
    with pytest.raises(UsageError) as raised:
        resolve_run("p", tmp_path)
    assert str(raised.value) == (
        f"p: {count} runs in {tmp_path} start with that and none is named so; give a run name ({shown}) "
        "or a longer prefix"
    )


def spec(**extra) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {"name": "t", "dataset": {"name": "iris"}, "model": {"architecture": "mlp"}, **extra}
    )


def test_the_spec_yaml_leaves_out_an_absent_search_and_tracking_and_keeps_them_when_given():
    plain = parse(spec_to_yaml(spec())).data
    assert "search" not in plain and "tracking" not in plain
    assert list(plain["dataset"])[0] == "name" and list(plain["model"])[0] == "architecture"
    tracked = parse(spec_to_yaml(spec(tracking={"mlflow": {"experiment": "e"}}))).data
    assert tracked["tracking"]["mlflow"]["experiment"] == "e"
    space = {"training.learning_rate": {"type": "float", "low": 0.001, "high": 0.1}}
    searched = parse(spec_to_yaml(spec(search={"space": space}))).data
    assert searched["search"]["space"]["training.learning_rate"]["low"] == 0.001
    assert ExperimentSpec.model_validate(searched) == spec(search={"space": space})


def test_the_environment_file_records_the_cpus_the_seed_and_the_command(tmp_path):
    write_env(tmp_path, 7, ["annctl", "train", "x.yaml"])
    env = json.loads(RunPaths(tmp_path).env.read_text())
    assert (env["cpu_count"], env["seed"], env["command"]) == (os.cpu_count(), 7, ["annctl", "train", "x.yaml"])


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_git_commit_is_the_given_folders_head_and_none_outside_a_checkout(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no checkout above tmp_path counts
    assert git_commit(repo) == head
    assert git_commit() is None
    monkeypatch.chdir(repo)
    assert git_commit() == head


def test_reading_a_field_of_an_unresolved_spec_says_which_and_why():
    with pytest.raises(RuntimeError, match=r"^training\.metrics is read before the spec is resolved"):
        TrainingSpec().resolved_metrics()
    with pytest.raises(RuntimeError, match=r"^training\.learning_rate is read before the spec is validated$"):
        TrainingSpec.model_construct(learning_rate=None).resolved_learning_rate()


def test_a_new_run_is_its_name_then_the_utc_second_then_six_hex_digits(tmp_path):
    from annctl.rundir import RUN_SUFFIX, run_name

    run = create_run_dir(tmp_path, "iris")
    assert RUN_SUFFIX.search(run.name) and run_name(run) == "iris"


def test_a_run_without_its_dataset_file_says_so(tmp_path):
    from annctl.rundir import read_data_info

    with pytest.raises(UsageError) as raised:
        read_data_info(tmp_path)
    assert str(raised.value) == (
        f"{RunPaths(tmp_path).data}: missing or unreadable; was this run made by an older annctl?"
    )
