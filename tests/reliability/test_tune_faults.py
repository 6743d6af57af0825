"""`annctl tune` killed and interrupted for real: nothing stays RUNNING, resume retries once with the same
parameters and finishes the study."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..test_tune import tune_dirs, tune_experiment

pytestmark = pytest.mark.reliability


def start_tune(args: list[str], runs: Path, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "ANNCTL_RUNS_DIR": str(runs), "ANNCTL_TUNE_HEARTBEAT": "1"}
    if fault:
        env["ANNCTL_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "annctl", "tune", *args, "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def study_trials(tune_dir: Path):
    import optuna

    storage = f"sqlite:///{tune_dir / 'study.db'}"
    study = optuna.load_study(study_name=tune_dir.name, storage=storage)
    return study.get_trials(deepcopy=False)


def rows(tune_dir: Path) -> dict[int, dict]:
    return {int(row["trial"]): row for row in csv.DictReader(open(tune_dir / "leaderboard.csv"))}


def interrupt_once_training(tune: subprocess.Popen, runs: Path) -> str:
    """SIGINT the search once its first trial is training; it must exit 130. Its stderr."""
    deadline = time.time() + 120
    while time.time() < deadline:
        dirs = tune_dirs(runs) if runs.exists() else []
        if dirs and (dirs[0] / "trials" / "000" / "metrics.csv").exists():
            break
        time.sleep(0.2)
    tune.send_signal(signal.SIGINT)
    _, err = tune.communicate(timeout=120)
    assert tune.returncode == 130, err
    return err


def test_killed_worker_trial_is_failed_and_retried_once_on_resume(tmp_path, isolated_runs):
    experiment = tune_experiment(tmp_path, epochs=3)
    # the tune process SIGKILLs itself as its second trial starts: trial 001 is left RUNNING in the storage
    killed = start_tune([str(experiment), "--trials", "3"], isolated_runs, fault="tune_trial_start:2")
    killed.wait(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    (tune_dir,) = tune_dirs(isolated_runs)
    states = {t.number: t.state.name for t in study_trials(tune_dir)}
    assert states == {0: "COMPLETE", 1: "RUNNING"}
    time.sleep(1)  # its trial process died with it (PR_SET_PDEATHSIG): nothing writes to trial 001 any more
    lost_params = next(t.params for t in study_trials(tune_dir) if t.number == 1)

    resumed = start_tune(["--resume", str(tune_dir)], isolated_runs)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    trials = {t.number: t for t in study_trials(tune_dir)}
    assert trials[1].state.name == "FAIL" and trials[1].user_attrs["fail_reason"] == "worker lost"
    retries = [t for t in trials.values() if t.user_attrs.get("retry_of") == 1]
    assert len(retries) == 1 and retries[0].params == lost_params and retries[0].state.name == "COMPLETE"
    assert sum(t.state.name == "COMPLETE" for t in trials.values()) == 3
    assert not any(t.state.name == "RUNNING" for t in trials.values())
    board = rows(tune_dir)
    assert board[1]["state"] == "failed" and board[retries[0].number]["retry_of"] == "1"


def test_sigint_marks_running_trials_failed_and_exits_130_then_resume_finishes(tmp_path, isolated_runs):
    experiment = tune_experiment(tmp_path, epochs=40, batch_size=4)  # long enough to be interrupted mid-trial
    tune = start_tune([str(experiment), "--trials", "2"], isolated_runs)
    err = interrupt_once_training(tune, isolated_runs)
    assert "--resume" in err
    (tune_dir,) = tune_dirs(isolated_runs)
    (trial,) = study_trials(tune_dir)
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == "interrupted"
    run_summary = json.loads((tune_dir / "trials" / "000" / "summary.json").read_text())
    assert run_summary["status"] == "interrupted"
    assert json.loads((tune_dir / "summary.json").read_text())["status"] == "interrupted"

    # resume with --trials 1: the interrupted trial is retried with its parameters and completes
    resumed = start_tune(["--resume", str(tune_dir), "--trials", "1"], isolated_runs)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    trials = study_trials(tune_dir)
    retry = [t for t in trials if t.user_attrs.get("retry_of") == 0]
    assert len(retry) == 1 and retry[0].params == trial.params and retry[0].state.name == "COMPLETE"


def test_sigint_stops_a_search_started_with_sigint_ignored(tmp_path, isolated_runs):
    """A command started in the background of a script inherits SIGINT ignored; `annctl train` still stops on
    it, and so must `annctl tune` (it ran on to exit 0: a stop that never happened)."""
    experiment = tune_experiment(tmp_path, epochs=40, batch_size=4)
    env = {**os.environ, "ANNCTL_RUNS_DIR": str(isolated_runs), "ANNCTL_TUNE_HEARTBEAT": "1"}
    tune = subprocess.Popen(
        [sys.executable, "-m", "annctl", "tune", str(experiment), "--trials", "2", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    interrupt_once_training(tune, isolated_runs)
    (tune_dir,) = tune_dirs(isolated_runs)
    assert json.loads((tune_dir / "summary.json").read_text())["status"] == "interrupted"


def worker_pid(tune_dir: Path, number: int) -> int:
    return json.loads((tune_dir / "trials" / f"{number:03d}" / "summary.json").read_text())["pid"]


def test_a_worker_killed_mid_trial_costs_that_trial_and_a_new_worker(tmp_path, isolated_runs):
    experiment = tune_experiment(tmp_path)  # 2 epochs per trial
    # every worker process SIGKILLs itself at its 3rd epoch end: in its second trial
    tune = start_tune([str(experiment), "--trials", "3"], isolated_runs, fault="epoch_end:3")
    out, err = tune.communicate(timeout=600)
    assert tune.returncode == 0, err
    (tune_dir,) = tune_dirs(isolated_runs)
    board = rows(tune_dir)
    assert {n: board[n]["state"] for n in board} == {
        0: "complete",
        1: "failed",
        2: "complete",
        3: "failed",
        4: "complete",
    }
    assert board[1]["reason"] == board[3]["reason"] == "the trial process was killed by SIGKILL"
    # trials 0-1 ran in one worker, 2-3 in its replacement, 4 in a third
    assert worker_pid(tune_dir, 0) == worker_pid(tune_dir, 1)
    assert worker_pid(tune_dir, 2) == worker_pid(tune_dir, 3)
    assert len({worker_pid(tune_dir, n) for n in (0, 2, 4)}) == 3


def test_a_trial_past_its_timeout_fails_and_the_search_goes_on_in_a_new_worker(tmp_path, isolated_runs):
    search = """search:
  space:
    training.epochs: {type: choice, values: [1, 5000]}
  trial_timeout: 15
  max_consecutive_failures: 10
"""
    experiment = tune_experiment(tmp_path, search, batch_size=4)
    plan = subprocess.run(
        [sys.executable, "-m", "annctl", "tune", str(experiment), "--trials", "8", "--dry-run", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "ANNCTL_RUNS_DIR": str(isolated_runs)},
    )
    epochs = [config["training.epochs"] for config in json.loads(plan.stdout)["configurations"]]
    # ask for as many finished trials as there are short ones up to the first short one after a long one
    last = next(n for n in range(epochs.index(5000), len(epochs)) if epochs[n] == 1)
    tune = start_tune([str(experiment), "--trials", str(epochs[: last + 1].count(1))], isolated_runs)
    out, err = tune.communicate(timeout=600)
    assert tune.returncode == 0, err
    (tune_dir,) = tune_dirs(isolated_runs)
    board = rows(tune_dir)
    assert sorted(board) == list(range(last + 1))
    for number, row in board.items():
        if epochs[number] == 5000:
            assert row["state"] == "failed" and row["reason"] == "timed out after 15 s"
            run_summary = json.loads((tune_dir / "trials" / f"{number:03d}" / "summary.json").read_text())
            assert run_summary["status"] == "interrupted"  # stopped at a batch boundary, its files intact
            later = [n for n in board if n > number]
            assert all(worker_pid(tune_dir, n) != worker_pid(tune_dir, number) for n in later)
        else:
            assert row["state"] == "complete"
