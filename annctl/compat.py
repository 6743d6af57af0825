"""Every use of a Keras, TensorFlow or Optuna internal in annctl goes through this module: what it touches,
why, and the versions it was checked against. tests/test_compat.py checks each touch against the installed
versions and fails, naming the touch, when an upstream release changes its shape; pyproject.toml bounds those
dependencies below the next release not yet checked.

Nothing here is imported at annctl's start: each function imports its library when called.
"""

from __future__ import annotations

from typing import Any

# The releases every touch below was checked against (tests/test_compat.py checks the installed ones).
CHECKED = {"keras": "3.15.1", "tensorflow": "2.21.0", "optuna": "5.1.0"}


class UpstreamChanged(RuntimeError):
    """An internal annctl relies on is not where, or not what, it was in the checked releases."""


def _require(owner: Any, names: tuple[str, ...], where: str) -> None:
    missing = [name for name in names if not hasattr(owner, name)]
    if missing:
        raise UpstreamChanged(f"{where} has no {', '.join(missing)} (checked against {CHECKED}); see annctl/compat.py")


# -- Keras ---------------------------------------------------------------------------------------------------

# keras.src.backend.tensorflow.random: annctl.training.compiled.xla_dropout swaps its `dropout` for an
# XLA-friendly one while a compiled chunk is traced, drawing the seed as Keras does.
BACKEND_RANDOM_NAMES = ("dropout", "draw_seed", "_cast_seed", "_get_concrete_noise_shape")


def keras_backend_random() -> Any:
    from keras.src.backend.tensorflow import random as backend_random

    _require(backend_random, BACKEND_RANDOM_NAMES, "keras.src.backend.tensorflow.random")
    return backend_random


# keras.src.callbacks.monitor_callback.MonitorCallback: the base of annctl's checkpoints, so "improved?" is
# Keras' own decision (min_delta included), as in EarlyStopping; Keras 3 exports no public name for it.
MONITOR_CALLBACK_NAMES = ("_set_monitor_op", "_is_improvement", "monitor_op", "min_delta", "monitor", "mode")


def monitor_callback() -> type:
    from keras.src.callbacks.monitor_callback import MonitorCallback

    _require(MonitorCallback, MONITOR_CALLBACK_NAMES[:2], "keras.src.callbacks.monitor_callback.MonitorCallback")
    return MonitorCallback


# keras.src.backend.tensorflow.trainer: annctl.training.distribution patches it once for multi-worker
# training (a symbolic build on one replica's batch; a mean over workers in reduce_per_replica).
TRAINER_NAMES = ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer")
TRAINER_METHODS = ("_maybe_symbolic_build", "_symbolic_build")


def keras_tensorflow_trainer() -> Any:
    from keras.src.backend.tensorflow import trainer

    _require(trainer, TRAINER_NAMES, "keras.src.backend.tensorflow.trainer")
    _require(trainer.TensorFlowTrainer, TRAINER_METHODS, "keras.src.backend.tensorflow.trainer.TensorFlowTrainer")
    return trainer


# Layer._flatten_layers: every layer of a model, nested models' included (the XLA check, the exports'
# rewrites); Keras 3's public `model.layers` lists only the top level.


def flatten_layers(model: Any, include_self: bool = True) -> list[Any]:
    return list(model._flatten_layers(include_self=include_self, recursive=True))


# Layer._inbound_nodes and KerasTensor._keras_history: the layer that feeds a layer of a functional model (the
# Keras export finds the FillMissing before each StringLookup); Keras 3 has no public graph walk.


def feeding_operation(layer: Any) -> Any:
    return layer._inbound_nodes[0].input_tensors[0]._keras_history.operation


# -- Optuna --------------------------------------------------------------------------------------------------

# A trial's storage id (Trial._trial_id, FrozenTrial._trial_id): heartbeats, the trial worker's own Trial, and
# marking a lost worker's trial failed address a trial by it; Optuna's public API offers only the number.


def trial_id(trial: Any) -> int:
    return trial._trial_id


# Study._storage and Study._study_id: the study's storage, to set a finished trial's attributes and state by
# id from the process that did not run it (Optuna's public tell() only takes the running trial's own).


def trial_of(study: Any, trial_id: int) -> Any:
    """The running trial of that id, in a process that did not ask for it (a trial worker): Optuna's own
    Trial(study, trial_id), which its documentation does not offer as a public constructor."""
    import optuna

    return optuna.trial.Trial(study, trial_id)


def study_storage(study: Any) -> Any:
    return study._storage


def study_id(study: Any) -> int:
    return study._study_id
