"""Upload one run directory into MLflow, completing whatever part of it MLflow lacks (idempotent).

The run is found by its ``annctl.run_id`` tag (or created); params already there, metric steps already
logged, the model already logged (``annctl.model`` tag) are not sent again, and a run whose ``annctl.synced``
tag is set is left alone: a second upload adds nothing. The tag is set last, once everything is there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from annctl.rundir import RunPaths
from annctl.tracking import content
from annctl.tracking.content import MODEL_TAG, RUN_ID_TAG, SYNCED_TAG

BATCH = 1000  # MLflow's log_batch takes at most 1000 metrics, 100 params and 100 tags per call
PARAM_BATCH = 100

# (metric key, step) pairs MLflow already holds, when the caller knows (the live logger); None: ask MLflow
Sent = set[tuple[str, int]]


def find_run(client: Any, experiment_id: str, annctl_run_id: str, known: str | None = None) -> Any | None:
    """The MLflow run tagged ``annctl.run_id`` = ``annctl_run_id`` (``known``: its id, checked first)."""
    from mlflow.exceptions import MlflowException

    if known:
        try:
            run = client.get_run(known)
        except MlflowException:
            run = None
        if run is not None and run.data.tags.get(RUN_ID_TAG) == annctl_run_id and run.info.lifecycle_stage == "active":
            return run
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{annctl_run_id}'", max_results=1)
    return found[0] if found else None


def start_run(
    client: Any, experiment_id: str, run_dir: Path, annctl_run_id: str, tags: dict[str, str]
) -> tuple[Any, bool]:
    """(the run, whether it was created now)."""
    run = find_run(client, experiment_id, annctl_run_id)
    if run is not None:
        return run, False
    summary = content.read_json(RunPaths(run_dir).summary)
    run = client.create_run(
        experiment_id, start_time=epoch_ms(summary.get("started_at")), tags=tags, run_name=Path(run_dir).name
    )
    return run, True


def upload_run(
    client: Any,
    experiment_id: str,
    run_dir: Path,
    annctl_run_id: str,
    *,
    known_run: str | None = None,
    git_commit: str | None = None,
    params: dict[str, str] | None = None,
    extra_tags: dict[str, str] | None = None,
    with_model: bool = True,
    sent: Sent | None = None,
    status: str | None = None,
) -> tuple[str, bool]:
    """(the MLflow run id, whether anything was sent). ``params``: instead of the flattened spec (a search's
    trials send their sampled values); ``sent``: the metric steps already logged, when the caller knows;
    ``status``: instead of summary.json's (a killed run's is still `running` there)."""
    from mlflow.entities import Metric, Param, RunTag

    summary = content.read_json(RunPaths(run_dir).summary)
    status = status or summary.get("status")
    summary["status"] = status
    tags = {**content.tags(run_dir, summary, annctl_run_id, git_commit), **(extra_tags or {})}
    run = find_run(client, experiment_id, annctl_run_id, known_run)
    created = run is None
    if run is None:
        run, _ = start_run(client, experiment_id, run_dir, annctl_run_id, tags)
    elif run.data.tags.get(SYNCED_TAG) == "true":
        return run.info.run_id, False
    run_id = run.info.run_id
    wanted = content.params(run_dir) if params is None else params
    missing_params = [Param(key, value) for key, value in wanted.items() if key not in run.data.params]
    for chunk in chunks(missing_params, PARAM_BATCH):
        client.log_batch(run_id, params=chunk)
    if sent is None:
        sent = set() if created else logged_steps(client, run_id, run.data.metrics)
    metrics = [Metric(key, value, stamp, step) for key, value, stamp, step in metric_points(run_dir, summary)]
    missing = [metric for metric in metrics if (metric.key, metric.step) not in sent]
    for chunk in chunks(missing, BATCH):
        client.log_batch(run_id, metrics=chunk)
    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
    for path in content.artifact_files(run_dir):
        client.log_artifact(run_id, str(path), path.parent.name if path.parent != Path(run_dir) else None)
    if with_model and status == "completed" and MODEL_TAG not in run.data.tags:
        client.set_tag(run_id, MODEL_TAG, log_model(client, run_id, run_dir))
    if status != "running":
        client.set_terminated(run_id, content.mlflow_status(status), end_time=epoch_ms(summary.get("finished_at")))
        client.set_tag(run_id, SYNCED_TAG, "true")
    return run_id, True


def metric_points(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, float, int, int]]:
    """(key, value, timestamp in ms, step) of every metrics.csv cell (step = epoch) and the test metrics (step
    = the last epoch). Timestamps follow the run's own clock: its start plus the epochs' seconds."""
    clock = epoch_ms(summary.get("started_at")) or 0
    step = 0
    for row in content.metric_rows(run_dir):
        step, values = content.epoch_metrics(row)
        clock += int(1000 * values.get("epoch_seconds", 0.0))
        for key, value in values.items():
            yield key, value, clock, step
    finished = epoch_ms(summary.get("finished_at")) or clock
    for key, value in content.test_metrics(summary).items():
        yield key, value, finished, step


def logged_steps(client: Any, run_id: str, latest: dict[str, float]) -> Sent:
    """The (key, step) pairs a run already holds (one history request per metric it has)."""
    return {(key, metric.step) for key in latest for metric in client.get_metric_history(run_id, key)}


def log_model(client: Any, run_id: str, run_dir: Path) -> str:
    """The final model under the run's `model/` artifacts in MLflow's Keras flavour, rebuilt from built-in Keras
    pieces (it loads where annctl is not installed, as `annctl export --format keras` does), with its input
    signature and pinned requirements; returns what the `annctl.model` tag records."""
    import tempfile

    from annctl.training.tf_setup import import_tensorflow

    tf = import_tensorflow()  # `runs sync` loads it only here, with its start-up chatter kept off the terminal
    import keras
    import mlflow.keras

    from annctl.config import load_spec
    from annctl.errors import AnnctlError
    from annctl.export.keras_file import builtin_model
    from annctl.modelio import load_run_model
    from annctl.rundir import read_data_info

    try:
        model = load_run_model(run_dir, "final")
        plain, _ = builtin_model(model, load_spec(RunPaths(run_dir).spec), read_data_info(run_dir))
    except AnnctlError as error:  # e.g. a subclassed model without a Functional twin
        return f"not logged: {str(error).splitlines()[0][:200]}"
    requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"]
    with tempfile.TemporaryDirectory(prefix="annctl-mlflow-") as scratch:
        folder = Path(scratch) / "model"
        mlflow.keras.save_model(plain, str(folder), signature=signature(plain), pip_requirements=requirements)
        client.log_artifacts(run_id, str(folder), "model")
    return "model"


def signature(model: Any) -> Any:
    """The model's input and output tensors (name, dtype, shape with any batch size) as an MLflow signature."""
    import numpy as np
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    def schema(tensors: list) -> Any:
        named = len(tensors) > 1
        specs: list[ColSpec | TensorSpec] = []
        for tensor in tensors:
            dtype = np.dtype(object) if str(tensor.dtype) == "string" else np.dtype(str(tensor.dtype))
            shape = tuple(-1 if size is None else int(size) for size in tensor.shape)
            specs.append(TensorSpec(dtype, shape, tensor.name.split(":")[0] if named else None))
        return Schema(specs)

    return ModelSignature(inputs=schema(list(model.inputs)), outputs=schema(list(model.outputs)))


def chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def epoch_ms(iso: str | None) -> int | None:
    """An ISO 8601 time as milliseconds since 1970 (MLflow's clock), None when missing."""
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None
