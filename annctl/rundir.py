"""Run and tune directories: where they go, how they are named and created, every path in them (the one place
file names are spelled: :class:`RunPaths`, :class:`TunePaths`), and reading and writing their JSON records
(annctl.records). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from annctl.records import DataInfo, Manifest, Summary, Tracking

from annctl import __version__
from annctl.errors import UsageError
from annctl.fileio import atomic_write_json, atomic_write_text
from annctl.wording import shown_path

RecordT = TypeVar("RecordT", bound="BaseModel")  # a record of annctl.records
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")  # a spec name (≤ 64) plus "-tune"
RUN_SUFFIX = re.compile(r"-(\d{8}T\d{6})-[0-9a-f]{6}$")  # what create_run_dir adds to the name: -<UTC second>-<6 hex>


class RunPaths:
    """Every file and folder of a run directory ``RUNS/<name>-<UTC yyyymmddThhmmss>-<6 hex>/``."""

    SPEC, ENV, SUMMARY, METRICS, MODEL, DATA, LOCK = (
        "spec.yaml",
        "env.json",
        "summary.json",
        "metrics.csv",
        "model.keras",
        "dataset.json",
        ".lock",
    )
    TRIAL, TRIAL_LOG = "trial.json", "trial.log"  # a search's trials: its outcome and its output
    TRACKING = "mlflow.json"  # records.Tracking: the run's MLflow counterpart and whether it is synced

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)

    spec = property(lambda self: self.dir / self.SPEC)  # the resolved spec that built the run
    env = property(lambda self: self.dir / self.ENV)  # versions, command line, seed (records.Environment)
    summary = property(lambda self: self.dir / self.SUMMARY)  # records.Summary
    metrics = property(lambda self: self.dir / self.METRICS)  # one row per epoch
    model = property(lambda self: self.dir / self.MODEL)  # the final model
    data = property(lambda self: self.dir / self.DATA)  # records.DataInfo
    lock = property(lambda self: self.dir / self.LOCK)  # exists while a process trains or syncs it (then removed)
    checkpoints = property(lambda self: self.dir / "checkpoints")
    manifest = property(lambda self: self.checkpoints / "manifest.json")  # records.Manifest
    tensorboard = property(lambda self: self.dir / "tensorboard")
    plots = property(lambda self: self.dir / "plots")
    learning_curves = property(lambda self: self.plots / "learning_curves.png")
    eval = property(lambda self: self.dir / "eval")  # one JSON per `annctl evaluate`, and its figures
    trial = property(lambda self: self.dir / self.TRIAL)  # records.TrialOutcome (search trials only)
    trial_log = property(lambda self: self.dir / self.TRIAL_LOG)  # the trial's output (search trials only)
    export = property(lambda self: self.dir / "export")  # `annctl export`'s artifacts by default
    light = property(lambda self: self.dir / "light")  # predict's TFLite models (annctl.light), made on first use
    tracking = property(lambda self: self.dir / self.TRACKING)  # records.Tracking (runs tracked in MLflow)

    def light_model(self, checkpoint: str) -> Path:
        """The TFLite flatbuffer of ``checkpoint`` (final, best, last) for the LiteRT engine."""
        return self.light / f"{checkpoint}.tflite"

    def light_manifest(self, checkpoint: str) -> Path:
        """records.LightManifest of ``checkpoint``'s light model (written after the flatbuffer)."""
        return self.light / f"{checkpoint}.json"

    def checkpoint(self, which: str) -> Path:
        """`best`, `last` or `previous`."""
        return self.checkpoints / f"{which}.keras"


class TunePaths:
    """Every file and folder of a tune directory ``RUNS/<name>-tune-<UTC time>-<6 hex>/``."""

    CONFIG, LOCK = "tune.json", ".lock"

    def __init__(self, tune_dir: str | Path):
        self.dir = Path(tune_dir)

    config = property(lambda self: self.dir / self.CONFIG)  # how the search was started
    lock = property(lambda self: self.dir / self.LOCK)  # one `annctl tune` process per directory (while it runs)
    experiment = property(lambda self: self.dir / "experiment.yaml")  # the experiment with its search, frozen
    database = property(lambda self: self.dir / "study.db")  # the default (SQLite) storage
    trials = property(lambda self: self.dir / "trials")  # each trial a run directory
    leaderboard = property(lambda self: self.dir / "leaderboard.csv")
    best = property(lambda self: self.dir / "best.yaml")  # the best trial as a plain experiment
    summary = property(lambda self: self.dir / "summary.json")
    tensorboard = property(lambda self: self.dir / "tensorboard")  # one HParams session per trial
    tracking = property(lambda self: self.dir / RunPaths.TRACKING)  # records.Tracking: the MLflow parent run

    def trial(self, number: int) -> Path:
        return self.trials / f"{number:03d}"


def runs_root(option: str | Path | None = None) -> Path:
    """`--runs-dir`, else $ANNCTL_RUNS_DIR, else ./runs."""
    return Path(option or os.environ.get("ANNCTL_RUNS_DIR") or "runs")


def prepare_root(root: Path) -> Path:
    """Create the runs root if needed and check it is writable, before any training starts."""
    for path in (root, *root.parents):  # a file where a folder should be: say so, not "File exists"
        if path.exists() and not path.is_dir():
            where = "" if path == root else f"cannot create it: {shown_path(path)} "
            raise UsageError(
                f"runs directory {shown_path(root)}: {where}is a file, not a directory; choose another with --runs-dir"
            )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"runs directory {shown_path(root)}: cannot create it: {error.strerror or error}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(
            f"runs directory {shown_path(root)}: not writable; choose another with --runs-dir or ANNCTL_RUNS_DIR"
        )
    return root


def create_run_dir(root: Path, name: str) -> Path:
    """A new, never reused run directory, made with an exclusive mkdir (concurrent trains never collide)."""
    if not SAFE_NAME.match(name):
        raise UsageError(
            f"run name {name!r}: use letters, digits, '.', '_' and '-' (at most 64, not starting with . or -)"
        )
    root = prepare_root(root)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    for _ in range(100):
        run_dir = root / f"{name}-{stamp}-{secrets.token_hex(3)}"
        if run_dir.resolve().parent != root.resolve():  # pragma: no cover - SAFE_NAME already prevents it
            raise UsageError(f"run name {name!r} would leave the runs directory")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise UsageError(
                f"runs directory {shown_path(root)}: cannot create a run in it: {error.strerror or error}"
            ) from None
        return run_dir
    raise UsageError(f"runs directory {shown_path(root)}: could not find a free run name")  # pragma: no cover


def spec_to_yaml(spec) -> str:
    """The resolved spec as YAML, with each section's registry key (`name`, `architecture`) first."""
    data = spec.model_dump(mode="json")
    for optional in ("search", "tracking"):  # only tune experiments have a search; tracked runs a tracking
        if data.get(optional, ...) is None:
            del data[optional]
    for section, key in (("dataset", "name"), ("model", "architecture")):
        data[section] = {key: data[section].pop(key), **data[section]}
    from annctl.yamlsafe import dump

    return dump(data)  # quoted wherever YAML 1.2 would read a string back as a number (a run named 1e3)


def write_spec(run_dir: Path, spec) -> None:
    text = spec_to_yaml(spec)
    atomic_write_text(RunPaths(run_dir).spec, text)


def write_env(run_dir: Path, seed: int, argv: list[str] | None = None) -> None:
    import keras
    import numpy
    import tensorflow

    from annctl.records import Environment

    environment = Environment(
        annctl=__version__,
        python=platform.python_version(),
        tensorflow=tensorflow.__version__,
        keras=keras.__version__,
        numpy=numpy.__version__,
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        command=list(argv if argv is not None else sys.argv),
        cwd=os.getcwd(),
        seed=seed,
        git_commit=git_commit(),
    )
    atomic_write_json(RunPaths(run_dir).env, environment.model_dump(mode="json"))


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the git checkout that holds ``folder`` (the command's working folder by default), if any."""
    where = ["-C", str(folder)] if folder is not None else []
    try:
        result = subprocess.run(
            ["git", *where, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_summary(run_dir: Path, summary: Summary) -> None:
    atomic_write_json(RunPaths(run_dir).summary, summary.model_dump(mode="json"))


def read_summary(run_dir: Path) -> Summary | None:
    """The run's summary.json, or None when it is missing or unreadable (a run killed as it started)."""
    from annctl.records import Summary

    return _read_record(RunPaths(run_dir).summary, Summary)


def write_tracking(folder: Path, record: Tracking) -> None:
    """mlflow.json of a run or tune directory (RunPaths.tracking and TunePaths.tracking are the same file)."""
    atomic_write_json(RunPaths(folder).tracking, record.model_dump(mode="json"))


def read_tracking(folder: Path) -> Tracking | None:
    """mlflow.json, or None when the run was never tracked (or the file is unreadable)."""
    from annctl.records import Tracking

    return _read_record(RunPaths(folder).tracking, Tracking)


def _read_record(path: Path, record: type[RecordT]) -> RecordT | None:
    """``path`` as a ``record``, or None when it is missing, unreadable or not one."""
    from pydantic import ValidationError

    try:
        return record.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def read_manifest(run_dir: Path) -> Manifest | None:
    """checkpoints/manifest.json, or None when the run has none; an unreadable one is an AnnctlError."""
    from pydantic import ValidationError

    from annctl.errors import AnnctlError
    from annctl.records import Manifest

    path = RunPaths(run_dir).manifest
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as error:
        raise AnnctlError(f"{shown_path(path)}: unreadable ({str(error).splitlines()[0]})") from None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_run_dir(path: Path) -> bool:
    return RunPaths(path).spec.is_file()


def list_run_dirs(root: Path) -> list[Path]:
    """Run directories directly under ``root``, oldest first: by the UTC second in their names, then (runs
    started within the same second) by when their spec.yaml, written once as a run starts, was written."""
    if not root.is_dir():
        return []
    runs = [path for path in root.iterdir() if path.is_dir() and not path.is_symlink() and is_run_dir(path)]
    return sorted(runs, key=lambda path: (_stamp(path.name), _written_ns(RunPaths(path).spec), path.name))


def _written_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # removed meanwhile
        return 0


def _stamp(name: str) -> str:
    match = RUN_SUFFIX.search(name)
    return match.group(1) if match else ""


def expand_runs(references: list[str], root: Path) -> list[Path]:
    """Run references, where a folder that is not itself a run stands for every run in it (a tune's trials)."""
    run_dirs: list[Path] = []
    for reference in references:
        folder = Path(reference)
        if folder.is_dir() and not is_run_dir(folder):
            trials = folder / "trials"  # a tune directory stands for its trials
            run_dirs += list_run_dirs(trials if trials.is_dir() else folder)
        else:
            run_dirs.append(resolve_run(reference, root))
    return run_dirs


def run_name(run_dir: Path) -> str:
    """The run's name: its folder's name without the `-<UTC time>-<6 hex>` that create_run_dir adds."""
    return RUN_SUFFIX.sub("", run_dir.name)


def resolve_run(reference: str, root: Path) -> Path:
    """The one rule that turns a RUN a user gives (every command's RUN argument, `train --resume`,
    `model.init_from`) into a run directory:

    1. a path to a run directory: that run;
    2. `latest`: the newest run in ``root``;
    3. a run name (the spec's `name`, or `--name`): the newest run of that name;
    4. otherwise a prefix of exactly one run directory's name in ``root`` (a full directory name is one).
    """
    path = Path(reference)
    if path.is_dir():
        if not is_run_dir(path):
            raise UsageError(f"{shown_path(path)}: not an annctl run directory (no {RunPaths.SPEC})")
        return path
    runs = list_run_dirs(root)
    if reference == "latest":
        if not runs:
            raise UsageError(f"no runs in {shown_path(root)}; train one first or pass --runs-dir")
        return runs[-1]
    named = [run for run in runs if run_name(run) == reference]
    if named:
        return named[-1]
    matches = [run for run in runs if run.name.startswith(reference)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(
            f"{shown_path(reference)}: no such run directory, and no run in {shown_path(root)} is named or starts "
            "with that"
        )
    names = sorted({run_name(run) for run in matches})
    raise UsageError(
        f"{shown_path(reference)}: {len(matches)} runs in {shown_path(root)} start with that and none is named so; "
        "give a run name "
        f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}) or a longer prefix"
    )


def write_data_info(run_dir: Path, description, spec) -> None:
    """dataset.json: the input description and the model's outputs — what predict and evaluate need without
    loading the training data."""
    from annctl.records import DataInfo

    info = DataInfo(**description.model_dump(), outputs=spec.model.output_names(), decision=type(spec.model).decision)
    atomic_write_json(RunPaths(run_dir).data, info.model_dump(mode="json"))


def read_data_info(run_dir: Path) -> DataInfo:
    """The run's dataset.json (an InputDescription with the model's outputs)."""
    from pydantic import ValidationError

    from annctl.records import DataInfo

    path = RunPaths(run_dir).data
    try:
        return DataInfo.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        raise UsageError(f"{shown_path(path)}: missing or unreadable; was this run made by an older annctl?") from None
