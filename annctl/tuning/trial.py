"""One trial of `annctl tune`, run inside a warm trial worker (worker.py) from the payload its parent sent.

It trains the sampled spec into its run directory and reports the searched metric after each epoch to the study
(so a pruner can stop it); the outcome (state, value, epochs, or the failure's reason) goes to ``trial.json``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from annctl import compat
from annctl.errors import AnnctlError, Interrupted, TrainingDiverged

_storages: dict[str, Any] = {}  # storage URL → Optuna storage, kept across the trials of a worker


def run(payload: dict[str, Any], load_data: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Train one trial; return its outcome. ``clean`` in a failed outcome: the failure came from the trial's
    parameters or data (a bad value, divergence) and left the process fit for the next trial.
    ``load_data(spec)`` returns the spec's dataset (a worker's cache); default: `train` loads it."""
    from pydantic import ValidationError

    from annctl.spec import ExperimentSpec

    started = time.perf_counter()
    run_dir = Path(payload["run_dir"])
    metric, direction = payload["metric"], payload["direction"]
    try:
        spec = ExperimentSpec.model_validate(payload["spec"])
    except ValidationError as error:
        reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return {"state": "fail", "reason": f"invalid configuration: {reason}", "clean": True}
    from annctl.training import train
    from annctl.training.tf_setup import import_tensorflow

    import_tensorflow()  # first, so its start-up chatter stays out of trial.log
    callback = _pruning_callback(payload, metric)

    try:
        data = load_data(spec) if load_data else None
        summary = train(
            spec,
            Path(payload["runs_root"]),
            source=f"trial {payload['number']:03d}",
            run_dir=run_dir,
            callbacks=[callback],
            data=data,
            search_trial=True,  # selected on validation only (the test split is for the winner), never resumed
        )
    except Interrupted as error:
        return {"state": "fail", "reason": "interrupted", "exit_code": error.exit_code}
    except TrainingDiverged as error:
        return {"state": "fail", "reason": f"diverged: {error}", "clean": True}
    except AnnctlError as error:  # bad input (exit 2) says nothing against the process; a runtime failure might
        return {"state": "fail", "reason": str(error).splitlines()[0], "clean": error.exit_code == 2}
    logged = [row.get(metric) for row in _metrics(run_dir)]
    values = [v for v in logged if v is not None and math.isfinite(v)]
    if not values:
        return {"state": "fail", "reason": f"the run logged no finite {metric}", "clean": True}
    best = min(values) if direction == "minimize" else max(values)
    outcome = {
        "state": "pruned" if callback.pruned_epoch else "complete",
        "value": best,
        "epochs": summary.epochs_completed,
        "pruned_epoch": callback.pruned_epoch,
        "seconds": time.perf_counter() - started,
    }
    return outcome


def _metrics(run_dir: Path) -> list[dict[str, float]]:
    from annctl.plots import read_metrics

    return read_metrics(run_dir)


def _pruning_callback(payload: dict[str, Any], metric: str):
    """A Keras callback reporting ``metric`` each epoch to the Optuna trial and stopping when it is pruned."""
    import keras

    from annctl.tuning.study import make_pruner, open_storage, quiet_optuna

    optuna = quiet_optuna()
    url = payload["storage"]
    if url not in _storages:  # one connection pool per worker, not one per trial
        _storages[url] = open_storage(url, heartbeat=False)
    study = optuna.load_study(
        study_name=payload["study"], storage=_storages[url], pruner=make_pruner(payload["pruner"], payload["epochs"])
    )
    trial = compat.trial_of(study, payload["trial_id"])

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
