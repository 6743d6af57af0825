"""One test per upstream internal annctl touches (annctl/compat.py): each fails, naming the touch, when a
Keras, TensorFlow or Optuna release moves or reshapes it."""

from __future__ import annotations

import importlib.metadata
import inspect

import numpy as np
import pytest

from annctl import compat


def _version(package: str) -> tuple[int, ...]:
    return tuple(int(part) for part in importlib.metadata.version(package).split(".")[:2])


@pytest.mark.parametrize("package", sorted(compat.CHECKED))
def test_the_installed_release_is_within_what_pyproject_allows_and_was_checked(package):
    checked = tuple(int(part) for part in compat.CHECKED[package].split(".")[:2])
    # pyproject.toml's upper bound is the minor release after the checked one: an install newer than that
    # one has not been checked (this suite is the check: update CHECKED and the bound together)
    assert _version(package) <= checked, f"{package} {importlib.metadata.version(package)} is newer than checked"


def test_require_names_the_missing_internal():
    with pytest.raises(compat.UpstreamChanged, match="somewhere has no _gone"):
        compat._require(object(), ("__class__", "_gone"), "somewhere")


def test_backend_random_dropout_and_its_seed_helpers():
    backend_random = compat.keras_backend_random()
    assert list(inspect.signature(backend_random.dropout).parameters) == ["inputs", "rate", "noise_shape", "seed"]
    import keras

    seed = backend_random._cast_seed(backend_random.draw_seed(keras.random.SeedGenerator(3)))
    assert tuple(seed.shape) == (2,)
    shape = backend_random._get_concrete_noise_shape(np.zeros((4, 3), "float32"), None)
    assert list(shape) == [4, 3]


def test_monitor_callback_decides_improvement_with_min_delta():
    callback = compat.monitor_callback()(monitor="val_loss", mode="min", min_delta=0.1)
    for name in compat.MONITOR_CALLBACK_NAMES:
        assert hasattr(callback, name), name
    callback._set_monitor_op()
    assert callback._is_improvement(0.5, 1.0)
    assert not callback._is_improvement(0.95, 1.0)  # better, but by less than min_delta


def test_tensorflow_trainer_has_what_the_multi_worker_patch_replaces():
    trainer = compat.keras_tensorflow_trainer()
    assert list(inspect.signature(trainer.reduce_per_replica).parameters) == ["values", "strategy", "reduction"]
    assert "data_batch" in inspect.signature(trainer.TensorFlowTrainer._symbolic_build).parameters
    rebuilt = inspect.signature(trainer.TensorFlowTrainer._maybe_symbolic_build).parameters
    assert {"iterator", "data_batch"} <= set(rebuilt)


def test_flatten_layers_reaches_nested_models_and_feeding_operation_walks_back():
    import keras

    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="inner_dense")], name="inner")
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(2, name="first")(inputs)
    outputs = keras.layers.Dense(1, name="last")(inner(hidden))
    model = keras.Model(inputs, outputs)
    names = [layer.name for layer in compat.flatten_layers(model, include_self=False)]
    assert "inner_dense" in names and "last" in names
    assert compat.flatten_layers(model)[0] is model
    assert compat.feeding_operation(model.get_layer("last")) is inner
    assert compat.feeding_operation(model.get_layer("first")).__class__.__name__ == "InputLayer"


def test_optuna_trial_and_study_ids_address_the_storage():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    trial = study.ask()
    storage = compat.study_storage(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    found = storage.get_trial_id_from_study_id_trial_number(compat.study_id(study), trial.number)
    assert found == compat.trial_id(trial)
    again = compat.trial_of(study, compat.trial_id(trial))
    again.set_user_attr("seen", True)
    frozen = study.get_trials(deepcopy=False)[0]
    assert compat.trial_id(frozen) == compat.trial_id(trial) and frozen.user_attrs == {"seen": True}
    assert storage.set_trial_state_values(compat.trial_id(trial), optuna.trial.TrialState.FAIL)
