"""Run directories: where they go, how they are named and created, and the small files in them.

Layout of ``RUNS/<name>-<UTC yyyymmddThhmmss>-<6 hex>/``: spec.yaml, env.json, metrics.csv, summary.json,
checkpoints/{best,last}.keras, model.keras, tensorboard/. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from annctl import __version__
from annctl.errors import UsageError
from annctl.fileio import atomic_write_json, atomic_write_text

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")  # a spec name (≤ 64) plus "-tune"
SPEC_FILE, ENV_FILE, SUMMARY_FILE, METRICS_FILE, MODEL_FILE = (
    "spec.yaml",
    "env.json",
    "summary.json",
    "metrics.csv",
    "model.keras",
)


def runs_root(option: str | Path | None = None) -> Path:
    """`--runs-dir`, else $ANNCTL_RUNS_DIR, else ./runs."""
    return Path(option or os.environ.get("ANNCTL_RUNS_DIR") or "runs")


def prepare_root(root: Path) -> Path:
    """Create the runs root if needed and check it is writable, before any training starts."""
    for path in (root, *root.parents):  # a file where a folder should be: say so, not "File exists"
        if path.exists() and not path.is_dir():
            where = "" if path == root else f"cannot create it: {path} "
            raise UsageError(
                f"runs directory {root}: {where}is a file, not a directory; choose another with --runs-dir"
            )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"runs directory {root}: cannot create it: {error.strerror or error}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(f"runs directory {root}: not writable; choose another with --runs-dir or ANNCTL_RUNS_DIR")
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
            raise UsageError(f"runs directory {root}: cannot create a run in it: {error.strerror or error}") from None
        return run_dir
    raise UsageError(f"runs directory {root}: could not find a free run name")  # pragma: no cover


def spec_to_yaml(spec) -> str:
    """The resolved spec as YAML, with each section's registry key (`name`, `architecture`) first."""
    data = spec.model_dump(mode="json")
    if data.get("search", ...) is None:
        del data["search"]  # only tune experiments have one
    for section, key in (("dataset", "name"), ("model", "architecture")):
        data[section] = {key: data[section].pop(key), **data[section]}
    from annctl.yamlsafe import dump

    return dump(data)  # quoted wherever YAML 1.2 would read a string back as a number (a run named 1e3)


def write_spec(run_dir: Path, spec) -> None:
    text = spec_to_yaml(spec)
    atomic_write_text(run_dir / SPEC_FILE, text)


def write_env(run_dir: Path, seed: int, argv: list[str] | None = None) -> None:
    import keras
    import numpy
    import tensorflow

    atomic_write_json(
        run_dir / ENV_FILE,
        {
            "annctl": __version__,
            "python": platform.python_version(),
            "tensorflow": tensorflow.__version__,
            "keras": keras.__version__,
            "numpy": numpy.__version__,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "command": list(argv if argv is not None else sys.argv),
            "cwd": os.getcwd(),
            "seed": seed,
            "git_commit": git_commit(),
        },
    )


def git_commit() -> str | None:
    """The commit of the git checkout the command runs in, if any."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_json(run_dir / SUMMARY_FILE, summary)


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_run_dir(path: Path) -> bool:
    return (path / SPEC_FILE).is_file()


def list_run_dirs(root: Path) -> list[Path]:
    """Run directories directly under ``root``, oldest first (names start with a UTC timestamp per name)."""
    if not root.is_dir():
        return []
    runs = [path for path in root.iterdir() if path.is_dir() and not path.is_symlink() and is_run_dir(path)]
    return sorted(runs, key=lambda path: (_stamp(path.name), path.name))


def _stamp(name: str) -> str:
    match = re.search(r"-(\d{8}T\d{6})-[0-9a-f]{6}$", name)
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


def resolve_run(reference: str, root: Path, newest: bool = False) -> Path:
    """A run directory from a path, `latest` (newest run in the runs root), or an unambiguous name prefix
    (with ``newest``: the newest run whose name starts with the prefix)."""
    path = Path(reference)
    if path.is_dir():
        if not is_run_dir(path):
            raise UsageError(f"{path}: not an annctl run directory (no {SPEC_FILE})")
        return path
    runs = list_run_dirs(root)
    if reference == "latest":
        if not runs:
            raise UsageError(f"no runs in {root}; train one first or pass --runs-dir")
        return runs[-1]
    matches = [run for run in runs if run.name.startswith(reference)]
    if len(matches) == 1 or (matches and newest):
        return matches[-1]
    if not matches:
        raise UsageError(f"{reference}: no such run directory, and no run in {root} starts with that name")
    newest = ", ".join(run.name for run in matches[-5:])
    raise UsageError(f"{reference}: {len(matches)} runs in {root} start with that name ({newest}); be more specific")


DATA_FILE = "dataset.json"


def write_data_info(run_dir: Path, description, spec) -> None:
    """dataset.json: the input description (annctl.datasets.base.InputDescription) and the model's outputs —
    what predict and evaluate need without loading the training data."""
    atomic_write_json(
        run_dir / DATA_FILE,
        {
            "outputs": spec.model.output_names(),
            "decision": type(spec.model).decision,
            **description.model_dump(mode="json"),
            # for scripts: the same facts under the names earlier versions used
            "feature_names": description.feature_names,
            "feature_types": description.feature_types,
            "fill_values": description.fill_values,
            "input_kind": description.kind,
            "input_shape": list(description.shape),
        },
    )


def read_data_info(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / DATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"{run_dir}: no readable {DATA_FILE}; was this run made by an older annctl?") from None


def read_description(run_dir: Path):
    """The run's input description, from dataset.json."""
    from pydantic import ValidationError

    from annctl.datasets.base import InputDescription

    info = read_data_info(run_dir)
    try:
        return InputDescription.model_validate(info)
    except ValidationError:
        raise UsageError(
            f"{run_dir / DATA_FILE}: not an input description; was this run made by an older annctl?"
        ) from None
