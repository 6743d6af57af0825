"""One trial of `annctl tune` in its own process (``python -m annctl.tuning.trial`` with a JSON payload on stdin).

It trains the sampled spec into its run directory, reports the searched metric after each epoch to the study
(so a pruner can stop it) and leaves ``trial.json`` with the outcome for the worker that started it. A process
per trial means no memory grows across trials, and a crash takes down one trial only.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from annctl.errors import AnnctlError, Interrupted, TrainingDiverged
from annctl.fileio import atomic_write_json

TRIAL_FILE = "trial.json"


def main() -> None:
    payload = json.loads(sys.stdin.read())
    _die_with_parent(int(payload["parent_pid"]))
    run_dir = Path(payload["run_dir"])
    outcome = run(payload)
    atomic_write_json(run_dir / TRIAL_FILE, outcome)
    sys.exit(0 if outcome["state"] in ("complete", "pruned") else int(outcome.pop("exit_code", 1)))


def _die_with_parent(parent_pid: int) -> None:
    """Linux: be killed when the worker that started this trial dies (e.g. SIGKILL), instead of training on."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:  # pragma: no cover - no libc.so.6 (e.g. musl): the worker's heartbeat still goes stale
            pass
    if os.getppid() != parent_pid:  # the worker died before prctl took effect
        os._exit(1)


def run(payload: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    from annctl.spec import ExperimentSpec

    started = time.perf_counter()
    run_dir = Path(payload["run_dir"])
    metric, direction = payload["metric"], payload["direction"]
    try:
        spec = ExperimentSpec.model_validate(payload["spec"])
    except ValidationError as error:
        reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return {"state": "fail", "reason": f"invalid configuration: {reason}"}
    from annctl.training import train
    from annctl.training.tf_setup import import_tensorflow

    import_tensorflow()  # first, so its start-up chatter stays out of trial.log
    callback = _pruning_callback(payload, metric)

    try:
        summary = train(
            spec,
            Path(payload["runs_root"]),
            source=f"trial {payload['number']:03d}",
            run_dir=run_dir,
            callbacks=[callback],
        )
    except Interrupted as error:
        return {"state": "fail", "reason": "interrupted", "exit_code": error.exit_code}
    except TrainingDiverged as error:
        return {"state": "fail", "reason": f"diverged: {error}"}
    except AnnctlError as error:
        return {"state": "fail", "reason": str(error).splitlines()[0]}
    values = [row.get(metric) for row in _metrics(run_dir)]
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"state": "fail", "reason": f"the run logged no finite {metric}"}
    best = min(values) if direction == "minimize" else max(values)
    outcome = {
        "state": "pruned" if callback.pruned_epoch else "complete",
        "value": best,
        "epochs": summary.epochs_completed,
        "pruned_epoch": callback.pruned_epoch,
        "seconds": time.perf_counter() - started,
    }
    _write_hparams(payload, metric, values, best)
    return outcome


def _metrics(run_dir: Path) -> list[dict[str, float]]:
    from annctl.plots import read_metrics

    return read_metrics(run_dir)


def _pruning_callback(payload: dict[str, Any], metric: str):
    """A Keras callback reporting ``metric`` each epoch to the Optuna trial and stopping when it is pruned."""
    import keras

    from annctl.tuning.study import make_pruner, open_storage, quiet_optuna

    optuna = quiet_optuna()
    study = optuna.load_study(
        study_name=payload["study"],
        storage=open_storage(payload["storage"], heartbeat=False),
        pruner=make_pruner(payload["pruner"], payload["epochs"]),
    )
    trial = optuna.trial.Trial(study, payload["trial_id"])

    class Report(keras.callbacks.Callback):
        pruned_epoch: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(metric)
            if value is None or not math.isfinite(float(value)):
                return
            trial.report(float(value), step=epoch + 1)
            if trial.should_prune():
                self.pruned_epoch = epoch + 1
                self.model.stop_training = True

    return Report()


def _write_hparams(payload: dict[str, Any], metric: str, values: list[float], best: float) -> None:
    """This trial as one session of TensorBoard's HParams dashboard (under TUNE_DIR/tensorboard/NNN)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    params = {
        path: value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
        for path, value in payload["params"].items()
    }
    writer = tf.summary.create_file_writer(payload["hparams_dir"])
    with writer.as_default():
        hp.hparams(params, trial_id=f"{payload['number']:03d}")
        for step, value in enumerate(values, start=1):
            tf.summary.scalar(metric, value, step=step)
        tf.summary.scalar(f"best_{metric}", best, step=len(values))
    writer.close()


if __name__ == "__main__":
    main()
