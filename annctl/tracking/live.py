"""A training reported to MLflow while it runs, from one background thread.

The training thread only puts each epoch's metrics.csv row on a queue (microseconds); the thread creates the
MLflow run (params, tags) as training starts, sends whatever rows are waiting in one `log_batch`, and at the
end uploads what the run directory holds (annctl.tracking.upload). The first failure of the server ends the
reporting for this run: training never waits for it, `finish` prints one warning, and mlflow.json says the
run is not synced (`annctl runs sync` sends it later).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from annctl.records import Tracking
from annctl.rundir import read_tracking, utc_now, write_tracking
from annctl.tracking import content, server, upload

FINISH_SECONDS = 120.0  # the longest the end of a training waits for the last upload (the model's)
_FINISH = object()


def is_tracked(spec: Any) -> bool:
    return spec.tracking is not None and spec.tracking.mlflow is not None


def check(spec: Any) -> str:
    """The tracking URI, after checking MLflow is installed; exit 2 before any training otherwise."""
    server.require_mlflow()
    return server.tracking_uri(spec.tracking.mlflow.uri)


class LiveTracking:
    """Report one run directory's training to MLflow; ``callback()`` goes into the fit's callbacks."""

    def __init__(self, spec: Any, run_dir: Path, source: str | None = None):
        self.uri = check(spec)
        self.run_dir = Path(run_dir)
        self.experiment = spec.tracking.mlflow.experiment or spec.name
        previous = read_tracking(self.run_dir)  # a resumed run keeps its id: the same MLflow run continues
        self.record = Tracking(
            run_id=previous.run_id if previous else uuid.uuid4().hex,
            uri=server.redact(self.uri),
            experiment=self.experiment,
            mlflow_run_id=previous.mlflow_run_id if previous and previous.uri == server.redact(self.uri) else None,
            git_commit=(previous.git_commit if previous else None) or content.experiment_commit(source),
        )
        self.experiment_id: str | None = None  # known once the thread has reached the server
        self.lock = threading.Lock()
        self.abandoned = False
        self.failure: str | None = None
        self.sent: upload.Sent = set()
        self.rows: queue.SimpleQueue = queue.SimpleQueue()
        write_tracking(self.run_dir, self.record)
        self.thread = threading.Thread(target=self._work, name="annctl-mlflow", daemon=True)
        self.thread.start()

    def callback(self) -> Any:
        from annctl.training.callbacks.small import EpochSummary

        return EpochSummary(self.epoch_end)

    def epoch_end(self, epoch: int, logs: dict) -> None:
        """Queue the epoch's row (``epoch`` 0-based, as Keras counts)."""
        row = {"epoch": epoch + 1, **logs}
        self.rows.put((*content.epoch_metrics(row), int(time.time() * 1000)))

    def finish(self) -> str | None:
        """Wait (at most FINISH_SECONDS) for the last upload; the one warning to print when MLflow does not have
        the whole run."""
        self.rows.put(_FINISH)
        self.thread.join(FINISH_SECONDS)
        with self.lock:
            if self.thread.is_alive():
                self.abandoned = True
                self.failure = self.failure or f"the upload took longer than {FINISH_SECONDS:g} s"
            if self.failure is None:
                return None
            self._save(synced=False, error=self.failure)
        return (
            f"MLflow at {self.record.uri} did not take the run ({self.failure}); its run directory has all of it, "
            f"marked not synced; send it later with: annctl runs sync {self.run_dir}"
        )

    # -- the thread --------------------------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            client, run_id = self._start()
            finished = False
            while not finished:
                items = [self.rows.get()]
                while True:  # whatever else is waiting goes in the same batch
                    try:
                        items.append(self.rows.get_nowait())
                    except queue.Empty:
                        break
                finished = items[-1] is _FINISH
                self._log_rows(client, run_id, [item for item in items if item is not _FINISH])
            upload.upload_run(
                client,
                self.experiment_id or "",
                self.run_dir,
                self.record.run_id,
                known_run=run_id,
                git_commit=self.record.git_commit,
                sent=self.sent,
            )
            with self.lock:
                if not self.abandoned:
                    self._save(synced=True, synced_at=utc_now(), error=None)
        except Exception as error:  # noqa: BLE001 - any failure of the server: the run goes on without it
            with self.lock:
                self.failure = server.describe(error)

    def _start(self) -> tuple[Any, str]:
        from mlflow.entities import Param

        client = server.connect(self.uri)
        self.experiment_id = server.experiment_id(client, self.experiment)
        summary = content.read_json(self.run_dir / "summary.json")
        tags = content.tags(self.run_dir, summary, self.record.run_id, self.record.git_commit)
        run, created = upload.start_run(client, self.experiment_id, self.run_dir, self.record.run_id, tags)
        run_id = run.info.run_id
        if not created:  # a resumed run: what the MLflow run already holds is not sent again
            self.sent = upload.logged_steps(client, run_id, run.data.metrics)
            if run.info.status != "RUNNING":
                client.update_run(run_id, status="RUNNING")
        with self.lock:
            if not self.abandoned:
                self._save(mlflow_run_id=run_id)
        params = [Param(k, v) for k, v in content.params(self.run_dir).items() if k not in run.data.params]
        for chunk in upload.chunks(params, upload.PARAM_BATCH):
            client.log_batch(run_id, params=chunk)
        return client, run_id

    def _log_rows(self, client: Any, run_id: str, rows: list[tuple[int, dict, int]]) -> None:
        from mlflow.entities import Metric

        metrics = [
            Metric(key, value, stamp, step)
            for step, values, stamp in rows
            for key, value in values.items()
            if (key, step) not in self.sent
        ]
        for chunk in upload.chunks(metrics, upload.BATCH):
            client.log_batch(run_id, metrics=chunk)
        self.sent.update((metric.key, metric.step) for metric in metrics)

    def _save(self, **changes: Any) -> None:
        self.record = self.record.model_copy(update=changes)
        write_tracking(self.run_dir, self.record)
