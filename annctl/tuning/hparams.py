"""TensorBoard's HParams view of a search, written by the tune process (TensorBoard's protos, no TensorFlow).

``TUNE_DIR/tensorboard/`` holds the experiment, written once per search: every searched parameter with its
declared domain (a float range, an int range, the choices) and the metrics. ``TUNE_DIR/tensorboard/NNN/`` is one
session per finished trial: its parameters, the searched metric per epoch and the best value so far
(``best_<metric>``), at 0-based steps as Keras' TensorBoard callback logs a run's epochs, and how it ended.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from annctl.tuning.space import ChoiceParam, FloatParam, IntParam

TENSORBOARD_DIR = "tensorboard"
# Optuna's trial states as HParams session statuses; a pruned trial ended as the search asked, so a success.
STATUSES = {"complete": "STATUS_SUCCESS", "pruned": "STATUS_SUCCESS", "failed": "STATUS_FAILURE"}


def _choice_kind(values: list[Any]) -> str:
    """How a choice's values show in TensorBoard: as booleans, numbers or strings, else as their JSON text
    (lists such as hidden_units [16, 8], or mixed types)."""
    if all(isinstance(value, bool) for value in values):
        return "bool"
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        return "number"
    if all(isinstance(value, str) for value in values):
        return "str"
    return "json"


def hparam_value(param, value: Any) -> bool | float | str:
    """A sampled value as the HParams plugin stores it, in the type of the parameter's domain."""
    if isinstance(param, ChoiceParam):
        kind = _choice_kind(param.values)
        if kind == "json":
            return json.dumps(value)
        return float(value) if kind == "number" else value
    return float(value)


def domain(param):
    from tensorboard.plugins.hparams import summary_v2 as hp

    if isinstance(param, FloatParam):
        return hp.RealInterval(float(param.low), float(param.high))
    if isinstance(param, IntParam):
        return hp.IntInterval(int(param.low), int(param.high))
    return hp.Discrete([hparam_value(param, value) for value in param.values])


def write_experiment(tune_dir: Path, space: dict, metric: str) -> None:
    """The search's HParams experiment: its parameters' domains and metrics (once; a resume keeps it)."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    directory = tune_dir / TENSORBOARD_DIR
    if any(directory.glob("events.out.tfevents.*")):
        return
    summary = hp.hparams_config_pb(
        [hp.HParam(path, domain(param)) for path, param in space.items()],
        [
            hp.Metric(f"best_{metric}", description=f"Best {metric} of the trial so far (what the search ranks)."),
            hp.Metric(metric, description=f"{metric} of each epoch."),
        ],
    )
    _write(directory, [(0, summary)])


def write_session(
    tune_dir: Path,
    number: int,
    space: dict,
    params: dict[str, Any],
    state: str,
    metric: str,
    direction: str,
    rows: list[dict[str, float]],
    seconds: float,
) -> None:
    """Trial ``number`` as one HParams session: parameters, the metric per epoch from its ``rows``
    (metrics.csv, epochs 1-based there), and its end status."""
    from tensorboard.plugins.hparams import summary_v2 as hp
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb

    ended = time.time()
    values = {path: hparam_value(space[path], value) for path, value in params.items() if path in space}
    summaries = [(0, hp.hparams_pb(values, trial_id=f"{number:03d}", start_time_secs=ended - seconds))]
    best = None
    for row in rows:
        value = row.get(metric)
        if value is None:
            continue
        step = int(row["epoch"]) - 1  # Keras' TensorBoard callback logs epoch k (1-based) at step k - 1
        if best is None or (value < best if direction == "minimize" else value > best):
            best = value
        summaries += [(step, scalar_pb(metric, value)), (step, scalar_pb(f"best_{metric}", best))]
    last = summaries[-1][0]
    summaries.append((last, _session_end_pb(STATUSES.get(state, "STATUS_UNKNOWN"), ended)))
    _write(tune_dir / TENSORBOARD_DIR / f"{number:03d}", summaries)


def _session_end_pb(status: str, end_time_secs: float):
    """hparams' session end summary (tensorboard.plugins.hparams.summary.session_end_pb builds it through
    TensorFlow's protos; this is the same message from TensorBoard's own)."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value(status), end_time_secs=end_time_secs)
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.SESSION_END_INFO_TAG,
        metadata=metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(session_end_info=info)),
        tensor=metadata.NULL_TENSOR,
    )
    return summary


def _write(directory: Path, summaries: Iterable[tuple[int, Any]]) -> None:
    """One event file of ``(step, summary)`` records in ``directory``, written whole and then renamed into
    place. TensorBoard's EventFileWriter would import TensorFlow (for its file system layer) in the tune
    process; its RecordWriter over a plain file writes the same TFRecord format."""
    import os
    import socket

    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    from annctl.fileio import atomic_path

    directory.mkdir(parents=True, exist_ok=True)
    now = time.time()
    name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.{time.monotonic_ns()}"
    events = [event_pb2.Event(wall_time=now, file_version="brain.Event:2")]
    events += [event_pb2.Event(wall_time=now, step=step, summary=summary) for step, summary in summaries]
    with atomic_path(directory / name) as tmp:
        with open(tmp, "wb") as handle:
            writer = RecordWriter(handle)
            for event in events:
                writer.write(event.SerializeToString())
