"""`annctl runs sync`: upload runs and searches that MLflow does not have whole yet (server away while they
trained, or never tracked), idempotently: a run already in MLflow is found by its `annctl.run_id` tag and
completed, never duplicated; one whose mlflow.json says it is synced to that server is not sent again.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from annctl.records import Tracking
from annctl.rundir import RunPaths, TunePaths, list_run_dirs, read_tracking, resolve_run, utc_now, write_tracking
from annctl.tracking import content, server


@dataclass
class Synced:
    """How one run or search fared: `uploaded`, `already synced`, `skipped` (still running) or `failed`."""

    path: Path
    kind: str
    outcome: str
    detail: str = ""


def sync(references: list[str], root: Path, uri: str | None = None) -> list[Synced]:
    """Upload each run or search named (a folder stands for its runs and searches marked not synced; none: the
    runs root's). ``uri``: the server, instead of the one each run was tracked to."""
    server.require_mlflow("runs sync")
    return [sync_one(path, uri) for path in targets(references, root)]


def targets(references: list[str], root: Path) -> list[Path]:
    """Runs and tune directories: each one named, and a folder's (or the runs root's) not yet synced."""
    from annctl.runs import check_root, is_tune_dir

    if not references:
        check_root(root)
        return unsynced(root)
    found: list[Path] = []
    for reference in references:
        path = Path(reference)
        if path.is_dir() and (is_tune_dir(path) or content.read_yaml(path / "spec.yaml")):
            found.append(path)
        elif path.is_dir():
            found += unsynced(path)
        else:
            found.append(resolve_run(reference, root))
    return list(dict.fromkeys(found))


def unsynced(folder: Path) -> list[Path]:
    """The tracked runs and searches directly in ``folder`` that MLflow does not have whole."""
    from annctl.runs import list_tune_dirs

    candidates = [*list_run_dirs(folder), *list_tune_dirs(folder)]
    return [path for path in candidates if (record := read_tracking(path)) is not None and not record.synced]


RUNNING = "still running: it reports itself, or sync it once it ends"


def sync_one(path: Path, uri_option: str | None) -> Synced:
    """Sync one run or search while holding its lock (the one `train` and `tune` hold), so that a `train
    --resume` or `tune --resume` starting meanwhile cannot interleave its mlflow.json with this one's."""
    from annctl.errors import UsageError
    from annctl.fileio import exclusive_lock
    from annctl.runs import is_tune_dir

    search = is_tune_dir(path)
    kind = "search" if search else "run"
    state = _state(path, search)
    if state == "running":
        return Synced(path, kind, "skipped", RUNNING)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(TunePaths(path).lock if search else RunPaths(path).lock, str(path)))
        except UsageError:  # a training, a search or another sync holds it
            return Synced(path, kind, "skipped", RUNNING)
        # a run read again under its lock: a resume may have ended since (a search's state reads its lock file)
        state = state if search else _state(path, search)
        return _sync_locked(path, kind, search, state, uri_option)


def _state(path: Path, search: bool) -> str:
    from annctl.runs import run_state, search_row, summary_json

    return search_row(path)["status"] if search else run_state(path, summary_json(path), time.time())


def _sync_locked(path: Path, kind: str, search: bool, state: str, uri_option: str | None) -> Synced:
    if state == "running":
        return Synced(path, kind, "skipped", RUNNING)
    record = read_tracking(path) or Tracking(run_id=uuid.uuid4().hex)
    uri = uri_option or usable(record.uri) or tracked_uri(path)
    uri = server.tracking_uri(uri, "--uri")
    if record.synced and record.uri == server.redact(uri):
        return Synced(path, kind, "already synced", record.mlflow_run_id or "")
    experiment = record.experiment or tracked_experiment(path)
    record = record.model_copy(update={"uri": server.redact(uri), "experiment": experiment})
    write_tracking(path, record)  # the run's id first: a sync cut short is completed, not duplicated
    status = "killed" if state in ("killed", "stale") else None
    try:
        client = server.connect(uri)
        experiment_id = server.experiment_id(client, experiment)
        if search:
            from annctl.tracking.search import upload_search

            run_id, sent = upload_search(client, experiment_id, path, record, status), True
        else:
            from annctl.tracking.upload import upload_run

            known = record.mlflow_run_id
            run_id, sent = upload_run(
                client,
                experiment_id,
                path,
                record.run_id,
                known_run=known,
                git_commit=git_commit(path, record),
                status=status,
            )
    except Exception as error:  # noqa: BLE001 - the server's failure, reported per run
        reason = server.describe(error)
        write_tracking(path, record.model_copy(update={"synced": False, "error": reason}))
        return Synced(path, kind, "failed", reason)
    write_tracking(
        path, record.model_copy(update={"mlflow_run_id": run_id, "synced": True, "synced_at": utc_now(), "error": None})
    )
    return Synced(path, kind, "uploaded" if sent else "already synced", run_id)


def usable(uri: str | None) -> str | None:
    """A recorded URI, unless its password was left out of it."""
    return uri if uri and ":***@" not in uri else None


def _tracking_section(path: Path) -> dict:
    spec = content.read_yaml(path / "spec.yaml") or content.read_yaml(path / "experiment.yaml")
    tracking = spec.get("tracking")
    mlflow = tracking.get("mlflow") if isinstance(tracking, dict) else None
    return {**(mlflow if isinstance(mlflow, dict) else {}), "name": spec.get("name") or path.name}


def tracked_uri(path: Path) -> str | None:
    return _tracking_section(path).get("uri")


def tracked_experiment(path: Path) -> str:
    section = _tracking_section(path)
    return str(section.get("experiment") or section["name"])


def git_commit(path: Path, record: Tracking) -> str | None:
    """The experiment file's commit recorded when it trained, else the commit the training ran in (env.json)."""
    return record.git_commit or content.read_json(path / "env.json").get("git_commit")
