"""Scale-out: two `annctl tune` workers (as on two machines) share one study on a real PostgreSQL server.

The server is Debian's `postgresql`, started on loopback for this test in a temporary data directory (as
the `postgres` user when the tests run as root); `.ci/run` installs the package when it is missing.
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from annctl.errors import UsageError
from annctl.tuning.study import database_url

from ..test_tune import tune_dirs, tune_experiment

pytestmark = pytest.mark.postgres


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it")
    try:
        database_url("postgresql://annctl@127.0.0.1/tune")
    except UsageError:
        pytest.skip("no PostgreSQL driver: pip install -e '.[postgres]'")
    base = Path(tempfile.mkdtemp(prefix="annctl-pg-"))
    base.chmod(0o755)
    data, log = base / "data", base / "server.log"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args):
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "annctl", "--no-sync")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "annctl", "tune")
        yield f"postgresql://annctl@127.0.0.1:{port}/tune"  # the README's form, with the `postgres` extra's driver
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_study_without_losing_or_duplicating_trials(tmp_path, postgres_url):
    import optuna

    experiment = tune_experiment(tmp_path, epochs=2)
    args = [sys.executable, "-m", "annctl", "tune", str(experiment), "--trials", "5", "--quiet"]
    args += ["--storage", postgres_url, "--study", "shared"]
    workers = []
    for index in range(2):  # two "machines": separate processes and runs roots, one database
        env = {**os.environ, "ANNCTL_RUNS_DIR": str(tmp_path / f"machine{index}")}
        workers.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err

    # opened with the URL a machine recorded (the bare URL needs SQLAlchemy's default driver installed)
    (tune_dir,) = tune_dirs(tmp_path / "machine0")
    study = optuna.load_study(study_name="shared", storage=json.loads((tune_dir / "tune.json").read_text())["storage"])
    trials = [t for t in study.get_trials() if not t.user_attrs.get("discarded")]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 5 and len(trials) == 5  # none lost, none extra
    assert sorted(t.number for t in trials) == sorted({t.number for t in trials})  # none duplicated
    params = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(params)) == 5
    # each trial ran on exactly one machine, as a complete run directory there
    ran = {}
    for index in range(2):
        (tune_dir,) = tune_dirs(tmp_path / f"machine{index}")
        for trial_dir in (tune_dir / "trials").iterdir():
            assert trial_dir.name not in ran
            ran[trial_dir.name] = index
            assert (trial_dir / "model.keras").is_file()
    assert sorted(ran) == [f"{t.number:03d}" for t in sorted(trials, key=lambda t: t.number)]
    assert set(ran.values()) == {0, 1}  # both workers did work
    # each machine recorded a URL that Optuna opens as it is (the driver named, no password)
    for index in range(2):
        (tune_dir,) = tune_dirs(tmp_path / f"machine{index}")
        recorded = json.loads((tune_dir / "tune.json").read_text())["storage"]
        assert json.loads((tune_dir / "summary.json").read_text())["storage"] == recorded
        assert recorded.endswith(postgres_url.partition("://")[2])
        assert len(optuna.load_study(study_name="shared", storage=recorded).trials) == 5
