"""A search (`annctl tune`) in MLflow: one parent run for the study, one nested child run per trial.

The parent holds the experiment's params and the search's settings; at the end its leaderboard.csv,
best.yaml and summary.json as artifacts and the best value as a metric. A child holds the trial's sampled
values as params, every metrics.csv column per epoch, and tags saying its number and how it ended (`pruned`
included). All of it is read from the tune directory, so the live reporter (:class:`SearchTracking`, a
background thread of the `annctl tune` process that every local worker's trials go through) and
`annctl runs sync TUNE_DIR` send the same, idempotently. Machines that join one study (a shared storage) find
the study's parent through the study itself (a user attribute) and report to it.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from annctl.records import Tracking
from annctl.rundir import RunPaths, TunePaths, read_tracking, utc_now, write_tracking
from annctl.tracking import content, server, upload
from annctl.tracking.content import RUN_ID_TAG, SYNCED_TAG

PARENT_ATTR = "annctl.mlflow_parent"  # the study's user attribute naming its parent's annctl.run_id
PARENT_SETTLE_SECONDS = 1.0  # how long concurrent first writers of PARENT_ATTR have to agree
FINISH_SECONDS = 120.0
SEARCH_FILES = ("leaderboard", "best", "summary", "config")  # TunePaths properties sent as the parent's artifacts


def parent_id(study: Any) -> str:
    """The annctl.run_id of the study's parent run, the same for every machine that joins the study.

    The first machine names it in the study's storage; machines starting at the same moment may each write
    their own, so the writer reads it back a moment later: the last write is what every one of them uses."""
    recorded = study.user_attrs.get(PARENT_ATTR)
    if recorded:
        return recorded
    study.set_user_attr(PARENT_ATTR, uuid.uuid4().hex)
    time.sleep(PARENT_SETTLE_SECONDS)
    return study.user_attrs[PARENT_ATTR]


def search_params(tune_dir: Path) -> dict[str, str]:
    """The parent's params: the experiment flattened (without its search), the search's settings."""
    from annctl.runs import flatten

    paths = TunePaths(tune_dir)
    experiment = content.read_yaml(paths.experiment)
    search = experiment.pop("search", None) or {}
    experiment.pop("tracking", None)
    values: dict[str, Any] = flatten(experiment)
    config = content.read_json(paths.config)
    for key in ("study", "sampler", "pruner", "trials", "metric", "direction"):
        if config.get(key) is not None:
            values[f"search.{key}"] = config[key]
    values["search.space"] = sorted(search.get("space") or {})
    return {content.mlflow_key(key): content.param_text(value) for key, value in values.items()}


def sampled_params(tune_dir: Path, trial_dir: Path) -> dict[str, str]:
    """A trial's sampled values: its spec's fields at the searched paths."""
    from annctl.runs import flatten

    space = (content.read_yaml(TunePaths(tune_dir).experiment).get("search") or {}).get("space") or {}
    spec = flatten(content.read_yaml(RunPaths(trial_dir).spec))
    return {content.mlflow_key(path): content.param_text(spec[path]) for path in space if path in spec}


def trial_dirs(tune_dir: Path) -> list[Path]:
    folder = TunePaths(tune_dir).trials
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.is_dir() and path.name.isdigit())


def ensure_parent(client: Any, experiment_id: str, tune_dir: Path, record: Tracking) -> str:
    """The parent run (created with its params and tags when missing); its MLflow id."""
    from mlflow.entities import Param

    tags = {
        RUN_ID_TAG: record.run_id,
        "annctl.kind": "search",
        "annctl.tune_dir": str(Path(tune_dir).resolve()),
        "mlflow.runName": content.read_json(TunePaths(tune_dir).config).get("study") or Path(tune_dir).name,
    }
    run = upload.find_run(client, experiment_id, record.run_id, record.mlflow_run_id)
    if run is None:
        created_at = content.read_json(TunePaths(tune_dir).config).get("created_at")
        run = client.create_run(
            experiment_id, start_time=upload.epoch_ms(created_at), tags=tags, run_name=tags["mlflow.runName"]
        )
    params = [Param(k, v) for k, v in search_params(tune_dir).items() if k not in run.data.params]
    for chunk in upload.chunks(params, upload.PARAM_BATCH):
        client.log_batch(run.info.run_id, params=chunk)
    return run.info.run_id


def upload_trial(client: Any, experiment_id: str, tune_dir: Path, trial_dir: Path, parent: str, record: Tracking):
    """One trial as a child of ``parent`` (an MLflow run id); its mlflow.json says it is synced."""
    outcome = content.read_json(RunPaths(trial_dir).trial)
    state = outcome.get("state") or "running"
    trial_id = f"{record.run_id}-trial-{trial_dir.name}"
    summary = content.read_json(RunPaths(trial_dir).summary)
    status = "killed" if state == "pruned" and summary.get("status") != "completed" else None
    tags = {
        "mlflow.parentRunId": parent,
        "annctl.trial": str(int(trial_dir.name)),
        "annctl.trial_state": {"fail": "failed"}.get(state, state),
    }
    if outcome.get("pruned_epoch"):
        tags["annctl.pruned_epoch"] = str(outcome["pruned_epoch"])
    previous = read_tracking(trial_dir)
    run_id, _ = upload.upload_run(
        client,
        experiment_id,
        trial_dir,
        trial_id,
        known_run=previous.mlflow_run_id if previous else None,
        params=sampled_params(tune_dir, trial_dir),
        extra_tags=tags,
        with_model=False,
        status=status,
    )
    write_tracking(
        trial_dir,
        Tracking(
            run_id=trial_id,
            uri=record.uri,
            experiment=record.experiment,
            mlflow_run_id=run_id,
            synced=True,
            synced_at=utc_now(),
        ),
    )


def finish_parent(client: Any, tune_dir: Path, parent: str, status: str | None = None) -> None:
    """The search's outputs as the parent's artifacts, its best value, and how it ended (``status``: instead
    of summary.json's, for a killed search)."""
    summary = content.read_json(TunePaths(tune_dir).summary)
    paths = TunePaths(tune_dir)
    for name in SEARCH_FILES:
        path = getattr(paths, name)
        if path.is_file():
            client.log_artifact(parent, str(path))
    if isinstance(summary.get("best_value"), (int, float)):
        client.log_metric(parent, f"best_{summary.get('metric')}", float(summary["best_value"]), step=0)
    status = status or summary.get("status", "running")
    if status != "running":
        client.set_terminated(parent, content.mlflow_status(status))
        client.set_tag(parent, SYNCED_TAG, "true")


def upload_search(client: Any, experiment_id: str, tune_dir: Path, record: Tracking, status: str | None = None) -> str:
    """The whole search: parent, every finished trial not yet synced, the parent's outputs. Idempotent."""
    parent = ensure_parent(client, experiment_id, tune_dir, record)
    for trial_dir in trial_dirs(tune_dir):
        done = read_tracking(trial_dir)
        if (done is None or not done.synced) and RunPaths(trial_dir).trial.is_file():
            upload_trial(client, experiment_id, tune_dir, trial_dir, parent, record)
    finish_parent(client, tune_dir, parent, status)
    return parent


class SearchTracking:
    """The live reporter of one `annctl tune` process: ``trial(number)`` after each trial is recorded,
    ``finish()`` once the search's outputs are written. Never blocks the search; one warning at the end."""

    def __init__(self, spec: Any, tune_dir: Path, study: Any):
        from annctl.tracking.live import check

        self.uri = check(spec)
        self.tune_dir = Path(tune_dir)
        previous = read_tracking(self.tune_dir)
        self.record = Tracking(
            run_id=parent_id(study),
            uri=server.redact(self.uri),
            experiment=spec.tracking.mlflow.experiment or spec.name,
            mlflow_run_id=previous.mlflow_run_id if previous else None,
        )
        write_tracking(self.tune_dir, self.record)
        self.failure: str | None = None
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name="annctl-mlflow-search", daemon=True)
        self.thread.start()

    def trial(self, number: int) -> None:
        self.jobs.put(number)

    def finish(self) -> str | None:
        self.jobs.put(None)
        self.thread.join(FINISH_SECONDS)
        if self.thread.is_alive():
            self.failure = self.failure or f"the upload took longer than {FINISH_SECONDS:g} s"
        if self.failure is None:
            self._save(synced=True, synced_at=utc_now(), error=None)
            return None
        self._save(synced=False, error=self.failure)
        return (
            f"MLflow at {self.record.uri} did not take the whole search ({self.failure}); its tune directory has "
            f"all of it, marked not synced; send it later with: annctl runs sync {self.tune_dir}"
        )

    def _work(self) -> None:
        try:
            client = server.connect(self.uri)
            experiment_id = server.experiment_id(client, self.record.experiment or "")
            parent = ensure_parent(client, experiment_id, self.tune_dir, self.record)
            self._save(mlflow_run_id=parent)
            while (number := self.jobs.get()) is not None:
                trial_dir = TunePaths(self.tune_dir).trial(number)
                if RunPaths(trial_dir).trial.is_file():  # a trial that never started has nothing to show
                    upload_trial(client, experiment_id, self.tune_dir, trial_dir, parent, self.record)
            upload_search(client, experiment_id, self.tune_dir, self.record)
        except Exception as error:  # noqa: BLE001 - any failure of the server: the search goes on without it
            self.failure = server.describe(error)

    def _save(self, **changes: Any) -> None:
        self.record = self.record.model_copy(update=changes)
        write_tracking(self.tune_dir, self.record)
