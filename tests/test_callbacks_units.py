"""The training callbacks one by one, their methods called directly on tiny models or plain stand-ins: the exact
values each writes, logs or decides, and which callbacks `build_callbacks` makes for which settings, in what order,
with what arguments (the end-to-end trainings reach them too, but only the slow ones)."""

from __future__ import annotations

import hashlib
import json
import math
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from annctl.config import spec_from_text
from annctl.datasets.timeseries import NUMERIC_INPUT
from annctl.records import BestCheckpoint, CheckpointEntry, Manifest
from annctl.rundir import RunPaths
from annctl.training.callbacks import TrainingCallbacks, build_callbacks, improvement_min_delta
from annctl.training.callbacks.checkpoints import Checkpoints, finite
from annctl.training.callbacks.divergence import DivergenceGuard
from annctl.training.callbacks.epoch_stats import EpochStats
from annctl.training.callbacks.gradient_norms import GradientNorms
from annctl.training.callbacks.metrics_log import MetricsLog, column_order, rows_to_csv
from annctl.training.callbacks.monitors import EarlyStopping, ReduceLROnPlateau
from annctl.training.callbacks.reporter_bridge import ReporterBridge
from annctl.training.callbacks.resumable import AttributeState, RandomStates, Resumable, plain
from annctl.training.callbacks.small import BatchFaults, EpochOrder, EpochSummary
from annctl.training.callbacks.step_gradients import StepGradientNorms, probe_batch, recorded_steps
from annctl.training.callbacks.stop import StopAtBatch, StopRequest, Terminated
from annctl.training.callbacks.tensorboard import EpochTensorBoard

CSV = "{name: csv, path: x.csv, target: y}", "{architecture: mlp, hidden_units: [4]}"
SEQUENCES = "{name: adding, steps: 5, samples: 20}", "{architecture: rnn, units: [2]}"


def spec_with(training: str = "", output: str = "", data: tuple[str, str] = CSV):
    """A spec of a tiny experiment (CSV rows by default) with extra `training:` and `output:` fields, in flow
    style; no file is read."""
    return spec_from_text(
        "\n".join(
            [
                "name: units",
                "seed: 1",
                f"dataset: {data[0]}",
                f"model: {data[1]}",
                f"training: {{epochs: 3{', ' + training if training else ''}}}",
                f"output: {{{output}}}",
            ]
        ),
        "<units>",
    )


class FakeModel:
    """What the checkpoints ask of a model: ``save`` (writes its own content, so each epoch's file differs)."""

    def __init__(self):
        self.saved = 0
        self.stop_training = False

    def save(self, path):
        self.saved += 1
        Path(path).write_bytes(f"weights {self.saved}".encode())


class Recorder:
    """A reporter that records every call."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def built(spec, tmp_path, **options):
    arguments = {
        "epoch_variable": None,
        "steps": 5,
        "reporter": Recorder(),
        "update_summary": lambda epoch, logs, checkpoints: None,
        "stop_request": StopRequest(),
        **options,
    }
    return build_callbacks(spec, tmp_path / "run", **arguments)


# -- build_callbacks: which, in what order, with what arguments --------------------------------------------------


def test_the_smallest_spec_builds_the_always_present_callbacks_in_order(tmp_path):
    result = built(spec_with(output="tensorboard: false"), tmp_path)
    assert isinstance(result, TrainingCallbacks)
    assert [type(c).__name__ for c in result.callbacks] == [
        "EpochStats",
        "DivergenceGuard",
        "BatchFaults",
        "RandomStates",
        "MetricsLog",
        "Checkpoints",
        "EpochSummary",
        "ReporterBridge",
        "StopAtBatch",
    ]
    assert result.early_stopping is None
    assert result.guard is result.callbacks[1] and result.metrics_log is result.callbacks[4]
    assert result.checkpoints is result.callbacks[5] and result.stop is result.callbacks[-1]
    assert result.metrics_log.path == tmp_path / "run" / "metrics.csv" and result.metrics_log.rows == []
    checkpoints = result.checkpoints
    assert (checkpoints.monitor, checkpoints.mode, checkpoints.min_delta) == ("val_loss", "min", 0.0)
    assert checkpoints.write is True and checkpoints.paths.dir == tmp_path / "run"
    assert [type(r).__name__ for r in checkpoints.resumables] == ["RandomStates", "Checkpoints"]
    assert checkpoints.resumables[0] is result.callbacks[3]
    assert checkpoints.manifest.spec == spec_with(output="tensorboard: false").model_dump(mode="json")


def test_every_option_adds_its_callback_at_its_place_with_the_specs_arguments(tmp_path):
    spec = spec_with(
        "early_stopping: {monitor: val_accuracy, patience: 4, min_delta: 0.25, restore_best_weights: true}, "
        "lr_schedule: {type: reduce_on_plateau, monitor: val_auc, factor: 0.25, patience: 3, min_lr: 0.001}",
        "histogram_freq: 2, gradient_norms: true",
    )
    epoch = object()
    extra = [SimpleNamespace(name="extra")]
    result = built(spec, tmp_path, epoch_variable=epoch, extra=extra, steps=7, batches_per_call=3)
    names = [type(c).__name__ for c in result.callbacks]
    assert names == [
        "EpochStats",
        "GradientNorms",
        "EpochOrder",
        "DivergenceGuard",
        "BatchFaults",
        "ReduceLROnPlateau",
        "EarlyStopping",
        "RandomStates",
        "MetricsLog",
        "Checkpoints",
        "EpochTensorBoard",
        "SimpleNamespace",
        "EpochSummary",
        "ReporterBridge",
        "StopAtBatch",
    ]
    by_name = dict(zip(names, result.callbacks))
    assert by_name["EpochOrder"].epoch_variable is epoch
    plateau = by_name["ReduceLROnPlateau"]
    assert (plateau.monitor, plateau.factor, plateau.patience, plateau.min_lr) == ("val_auc", 0.25, 3, 0.001)
    assert (plateau.mode, plateau.verbose) == ("max", 0)
    early = by_name["EarlyStopping"]
    assert result.early_stopping is early
    assert (early.monitor, early.patience, early.min_delta, early.restore_best_weights) == (
        "val_accuracy",
        4,
        0.25,
        True,
    )
    assert early.mode == "max"
    board = by_name["EpochTensorBoard"]
    assert board.log_dir == str(tmp_path / "run" / "tensorboard") and board.histogram_freq == 2
    assert board.write_graph is False and board._should_trace is False
    assert result.callbacks[11] is extra[0]
    bridge = by_name["ReporterBridge"]
    assert (bridge.epochs, bridge.steps, bridge.batches_per_call) == (3, 7, 3)
    checkpoints = result.checkpoints
    assert (checkpoints.monitor, checkpoints.mode, checkpoints.min_delta) == ("val_accuracy", "max", 0.25)
    assert checkpoints.resumables == [plateau, early, by_name["RandomStates"], checkpoints]


def test_step_gradient_norms_come_after_the_gradient_norms_and_measure_the_probe(tmp_path):
    spec = spec_with(output="tensorboard: false, gradient_norms: true, step_gradient_norms: true", data=SEQUENCES)
    probe = (np.zeros((2, 5, 1), "float32"), np.zeros((2, 1), "float32"))
    result = built(spec, tmp_path, probe=probe)
    assert [type(c).__name__ for c in result.callbacks[:4]] == [
        "EpochStats",
        "GradientNorms",
        "StepGradientNorms",
        "DivergenceGuard",
    ]
    norms = result.callbacks[2]
    assert norms.x is probe[0] and norms.y is probe[1] and norms.key is None and norms.steps == [1, 2, 3, 4, 5]
    numeric = {NUMERIC_INPUT: probe[0], "text": np.array(["a", "b"])}
    assert built(spec, tmp_path, probe=(numeric, probe[1])).callbacks[2].key == NUMERIC_INPUT


def test_a_dict_probe_measures_the_numeric_input():
    x = {"numeric_input": np.zeros((2, 4, 1), "float32"), "text": np.array(["a", "b"])}
    norms = StepGradientNorms((x, np.zeros((2, 1))), "numeric_input")
    assert norms.key == "numeric_input" and norms.steps == [1, 2, 3, 4]
    assert StepGradientNorms((x["numeric_input"], None), "numeric_input").key is None


def test_the_default_checkpoints_monitor_is_the_early_stopping_one_with_its_min_delta(tmp_path):
    spec = spec_with("early_stopping: {monitor: val_loss, min_delta: 0.5}", "tensorboard: false")
    result = built(spec, tmp_path, checkpoint_files=False)
    assert (result.checkpoints.monitor, result.checkpoints.mode) == ("val_loss", "min")
    assert result.checkpoints.min_delta == 0.5 and result.checkpoints.write is False
    assert result.early_stopping.mode == "min"


def test_improvement_min_delta_is_early_stoppings_only_for_the_same_metric():
    watched = spec_with("early_stopping: {monitor: val_loss, min_delta: 0.5}")
    assert improvement_min_delta(watched, "val_loss") == 0.5
    assert improvement_min_delta(watched, "val_accuracy") == 0.0
    assert improvement_min_delta(spec_with(), "val_loss") == 0.0


def test_saved_states_are_handed_to_each_resumable_and_rows_to_the_metrics_log(tmp_path):
    spec = spec_with(
        "early_stopping: {monitor: val_loss}, lr_schedule: {type: reduce_on_plateau}", "tensorboard: false"
    )
    saved = {
        "reduce_lr": {"wait": 1},
        "early_stopping": {"wait": 2},
        "rng": {"a": [1]},
        "checkpoints": {"best": 0.5, "best_epoch": 2},
    }
    rows = [{"epoch": 1, "loss": 1.0}]
    weights = [np.ones(2)]
    manifest = Manifest(last=CheckpointEntry(epoch=2, sha256="a" * 64))
    result = built(spec, tmp_path, saved=saved, metrics_rows=rows, best_weights=weights, manifest=manifest)
    plateau, early, random_states, checkpoints = result.checkpoints.resumables
    assert (plateau._saved, early._saved, random_states._saved) == (saved["reduce_lr"], {"wait": 2}, {"a": [1]})
    assert early._resumed_best_weights is weights
    assert checkpoints._saved == {"best": 0.5, "best_epoch": 2}
    assert checkpoints.manifest.last == manifest.last and checkpoints.manifest is not manifest
    assert result.metrics_log.rows == rows and result.metrics_log.rows is not rows


def test_the_summary_callback_hands_the_checkpoints_to_update_summary(tmp_path):
    calls = []
    result = built(
        spec_with(output="tensorboard: false"),
        tmp_path,
        update_summary=lambda epoch, logs, checkpoints: calls.append((epoch, logs, checkpoints)),
    )
    summary = result.callbacks[-3]
    summary.on_epoch_end(4, {"loss": 1.0})
    summary.on_epoch_end(5)
    assert calls == [(4, {"loss": 1.0}, result.checkpoints), (5, {}, result.checkpoints)]


def test_the_stop_callback_asks_the_given_request(tmp_path):
    request = StopRequest()
    result = built(spec_with(output="tensorboard: false"), tmp_path, stop_request=request)
    assert result.stop.request is request


# -- checkpoints -----------------------------------------------------------------------------------------------


def test_finite_is_false_for_none_nan_and_infinities_only():
    assert finite(0) and finite(1e308) and finite(np.float32(-2.5)) and finite("1.5")
    assert not finite(None) and not finite(math.nan) and not finite(math.inf) and not finite(-math.inf)


def checkpoints(tmp_path, monitor="val_loss", mode="min", **options) -> Checkpoints:
    callback = Checkpoints(RunPaths(tmp_path), monitor, mode, {"name": "units"}, **options)
    callback.set_model(FakeModel())
    callback.on_train_begin()
    return callback


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_checkpoints_write_last_previous_best_and_the_manifest_naming_them(tmp_path):
    callback = checkpoints(tmp_path)
    folder = tmp_path / "checkpoints"
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.8})
    assert (folder / "last.keras").read_bytes() == b"weights 1" == (folder / "best.keras").read_bytes()
    assert not (folder / "previous.keras").exists()
    first = json.loads((folder / "manifest.json").read_text())
    state = {"callbacks": {"checkpoints": {"best": 0.8, "best_epoch": 1}}}
    assert first == {
        "spec": {"name": "units"},
        "last": {"epoch": 1, "sha256": sha(folder / "last.keras"), "state": state},
        "previous": None,
        "best": {"epoch": 1, "sha256": sha(folder / "last.keras"), "state": None, "monitor": "val_loss", "value": 0.8},
    }
    callback.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.9})  # worse: last moves on, best stays
    assert (folder / "last.keras").read_bytes() == b"weights 2" and (folder / "previous.keras").read_bytes() == (
        b"weights 1"
    )
    assert (folder / "best.keras").read_bytes() == b"weights 1"
    second = Manifest.model_validate_json((folder / "manifest.json").read_text())
    assert second.previous == CheckpointEntry(epoch=1, sha256=first["last"]["sha256"], state=state)
    assert second.last.epoch == 2 and second.last.sha256 == sha(folder / "last.keras")
    assert second.last.state == state and second.best.epoch == 1
    assert (callback.best, callback.best_epoch) == (0.8, 1)


def test_an_epoch_with_a_non_finite_loss_is_never_saved(tmp_path):
    callback = checkpoints(tmp_path)
    callback.on_epoch_end(0, {"loss": math.nan, "val_loss": 0.1})
    callback.on_epoch_end(1, {"loss": math.inf, "val_loss": 0.1})
    callback.on_epoch_end(2, {"val_loss": 0.1})
    callback.on_epoch_end(3)
    assert callback.model.saved == 0 and not (tmp_path / "checkpoints").exists()
    assert (callback.best, callback.best_epoch) == (None, None)


def test_a_non_finite_or_missing_monitor_saves_last_but_never_improves(tmp_path):
    callback = checkpoints(tmp_path)
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": math.nan})
    callback.on_epoch_end(1, {"loss": 1.0})
    assert callback.model.saved == 2 and (callback.best, callback.best_epoch) == (None, None)
    assert not (tmp_path / "checkpoints" / "best.keras").exists()
    assert Manifest.model_validate_json((tmp_path / "checkpoints" / "manifest.json").read_text()).best is None


def test_an_improvement_must_exceed_min_delta_in_the_monitors_direction(tmp_path):
    lower = checkpoints(tmp_path / "min", min_delta=0.1)
    for epoch, value in enumerate([1.0, 0.95, 0.9, 0.85, 0.7]):
        lower.on_epoch_end(epoch, {"loss": 1.0, "val_loss": value})
        if epoch == 2:  # 1.0 - 0.9 == 0.1 exactly is not more than min_delta
            assert (lower.best, lower.best_epoch) == (1.0, 1)
    assert (lower.best, lower.best_epoch) == (0.7, 5)
    assert not lower.improved(0.6) and lower.improved(0.59)
    higher = checkpoints(tmp_path / "max", "val_accuracy", "max")
    for epoch, value in enumerate([0.5, 0.4, 0.5, 0.75]):
        higher.on_epoch_end(epoch, {"loss": 1.0, "val_accuracy": value})
    assert (higher.best, higher.best_epoch) == (0.75, 4)


def test_checkpoints_that_do_not_write_still_track_the_best_epoch(tmp_path):
    callback = checkpoints(tmp_path, write=False)
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.5})
    callback.on_epoch_end(1, {"loss": 1.0, "val_loss": 0.25})
    assert (callback.best, callback.best_epoch) == (0.25, 2)
    assert callback.model.saved == 0 and not (tmp_path / "checkpoints").exists()


def test_checkpoints_start_from_a_manifest_and_record_every_resumables_state(tmp_path):
    class Other(Resumable):
        state_key = "other"

        def state(self):
            return {"n": 3}

    manifest = Manifest(
        spec={"name": "old"},
        last=CheckpointEntry(epoch=4, sha256="a" * 64),
        best=BestCheckpoint(epoch=3, sha256="b" * 64, monitor="val_loss", value=0.5),
    )
    callback = checkpoints(tmp_path, manifest=manifest, resumables=[Other()])
    assert (callback.best, callback.best_epoch) == (0.5, 3)
    assert callback.manifest is not manifest and manifest.spec == {"name": "old"}
    assert callback.manifest.spec == {"name": "units"}
    callback.on_epoch_end(4, {"loss": 1.0, "val_loss": 0.5})  # equal: no improvement
    written = Manifest.model_validate_json((tmp_path / "checkpoints" / "manifest.json").read_text())
    assert written.previous == CheckpointEntry(epoch=4, sha256="a" * 64)
    assert written.last.state == {"callbacks": {"other": {"n": 3}, "checkpoints": {"best": 0.5, "best_epoch": 3}}}
    assert written.best == manifest.best


def test_checkpoints_state_is_plain_and_restored_when_training_begins(tmp_path):
    callback = Checkpoints(RunPaths(tmp_path), "val_loss", "min", {})
    assert callback.state_key == "checkpoints" and callback.state() == {"best": None, "best_epoch": None}
    callback.best, callback.best_epoch = np.float32(0.5), 2
    assert callback.state() == {"best": 0.5, "best_epoch": 2} and type(callback.state()["best"]) is float
    callback.resume_from({"best": 0.25, "best_epoch": 7})
    callback.set_model(FakeModel())
    callback.on_train_begin()
    assert (callback.best, callback.best_epoch) == (0.25, 7)
    assert not callback.improved(0.25) and callback.improved(0.24)


def test_checkpoint_writing_passes_its_fault_point(tmp_path, monkeypatch):
    points = []
    monkeypatch.setattr("annctl.training.callbacks.checkpoints.fault_point", points.append)
    callback = checkpoints(tmp_path)
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})
    assert points == ["checkpoint_write"]


# -- divergence ------------------------------------------------------------------------------------------------


def guard() -> DivergenceGuard:
    callback = DivergenceGuard()
    callback.set_model(FakeModel())
    return callback


def test_a_non_finite_batch_loss_stops_training_and_names_the_1_based_epoch():
    callback = guard()
    assert callback.diverged_epoch is None
    callback.on_epoch_begin(2)
    callback.on_train_batch_end(0, {"loss": 1e30})
    callback.on_train_batch_end(1, {"accuracy": math.nan})
    callback.on_train_batch_end(2, None)
    assert callback.diverged_epoch is None and callback.model.stop_training is False
    callback.on_train_batch_end(3, {"loss": math.inf})
    assert callback.diverged_epoch == 3 and callback.model.stop_training is True
    callback.on_epoch_end(2, {"loss": math.nan})
    assert callback.diverged_epoch == 3
    nan_guard = guard()
    nan_guard.on_epoch_begin(0)
    nan_guard.on_train_batch_end(0, {"loss": math.nan})
    assert nan_guard.diverged_epoch == 1


def test_a_non_finite_epoch_loss_of_any_kind_stops_training():
    callback = guard()
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0, "accuracy": math.nan})
    callback.on_epoch_end(1, None)
    assert callback.diverged_epoch is None and callback.model.stop_training is False
    callback.on_epoch_end(4, {"loss": 1.0, "val_loss": -math.inf})
    assert callback.diverged_epoch == 5 and callback.model.stop_training is True
    later = guard()
    later.on_epoch_end(0, {"main_loss": math.nan})
    assert later.diverged_epoch == 1


# -- epoch stats -----------------------------------------------------------------------------------------------


def test_epoch_stats_add_the_learning_rate_and_the_epochs_seconds(monkeypatch):
    import keras

    times = iter([10.0, 12.5])
    monkeypatch.setattr("annctl.training.callbacks.epoch_stats.time.perf_counter", lambda: next(times))
    callback = EpochStats()
    callback.set_model(SimpleNamespace(optimizer=SimpleNamespace(learning_rate=keras.Variable(0.25))))
    callback.on_epoch_begin(0)
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert logs == {"loss": 1.0, "learning_rate": 0.25, "epoch_seconds": 2.5}
    assert type(logs["learning_rate"]) is float
    callback.on_epoch_end(0, None)  # no logs: nothing to add to, and no clock read
    assert next(times, "unread") == "unread"


# -- gradient norms --------------------------------------------------------------------------------------------


def two_layer_model():
    import keras

    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(2, name="first"),
            keras.layers.Dropout(0.5, name="no_weights"),
            keras.layers.Dense(1, name="second"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_gradient_norms_are_per_layer_and_zeroed_at_each_epochs_start():
    model = two_layer_model()
    norms = GradientNorms()
    norms.set_model(model)
    norms.set_model(model)  # the same model again: installed once
    assert norms.layer_names == ["first", "second"]
    variables = model.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    rng = np.random.default_rng(0)
    for epoch, steps in enumerate([[0, 1], [2]]):  # the second epoch's norms are of its own step only
        norms.on_epoch_begin(epoch)
        gradients = []
        for step in steps:
            grads = [rng.normal(size=s).astype("float32") for s in shapes]
            model.optimizer.apply(grads, variables)
            gradients.append(grads)
        logs: dict = {"loss": 1.0}
        norms.on_epoch_end(epoch, logs)
        first = [math.sqrt(sum(float(np.sum(g[i] ** 2)) for i in (0, 1))) for g in gradients]
        second = [math.sqrt(sum(float(np.sum(g[i] ** 2)) for i in (2, 3))) for g in gradients]
        assert list(logs) == [
            "loss",
            "grad_norm/first",
            "grad_norm/second",
            "grad_norm_max/first",
            "grad_norm_max/second",
        ]
        assert logs["grad_norm/first"] == pytest.approx(np.mean(first), rel=1e-6)
        assert logs["grad_norm/second"] == pytest.approx(np.mean(second), rel=1e-6)
        assert logs["grad_norm_max/first"] == pytest.approx(max(first), rel=1e-6)
        assert logs["grad_norm_max/second"] == pytest.approx(max(second), rel=1e-6)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_gradient_norms_skip_missing_gradients_and_epochs_without_steps():
    model = two_layer_model()
    norms = GradientNorms()
    norms.set_model(model)
    norms.on_epoch_begin(0)
    logs: dict = {}
    norms.on_epoch_end(0, logs)
    assert logs == {}  # no step: nothing to average
    variables = model.trainable_variables
    grads = [np.full(tuple(v.shape), 2.0, "float32") for v in variables]
    grads[1] = None  # the first layer's bias has no gradient
    model.optimizer.apply(grads, variables)
    norms.on_epoch_end(0, None)
    norms.on_epoch_end(0, logs)
    assert logs["grad_norm/first"] == pytest.approx(4.0)  # its kernel, 2x2 of 2.0, alone
    assert logs["grad_norm/second"] == pytest.approx(math.sqrt(3 * 4.0))


def test_gradient_norms_measure_the_inner_optimizer_of_a_loss_scale_optimizer():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="only")])
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.0)), loss="mse")
    model.optimizer.build(model.trainable_variables)
    norms = GradientNorms()
    norms.set_model(model)
    norms.on_epoch_begin(0)
    kernel, bias = model.trainable_variables
    model.optimizer.inner_optimizer.apply([np.array([[3.0], [4.0]], "float32"), np.zeros(1, "float32")], [kernel, bias])
    logs: dict = {}
    norms.on_epoch_end(0, logs)
    assert logs == {"grad_norm/only": pytest.approx(5.0), "grad_norm_max/only": pytest.approx(5.0)}


def test_gradient_norms_pass_an_apply_without_variables_through_unmeasured():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="only")])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    model.optimizer.build(model.trainable_variables)
    norms = GradientNorms()
    norms.set_model(model)
    norms.on_epoch_begin(0)
    kernel, bias = model.trainable_variables
    before = kernel.numpy().copy()
    model.optimizer.apply([np.ones((2, 1), "float32"), np.zeros(1, "float32")])  # the optimizer's own variables
    assert np.allclose(kernel.numpy(), before - 1.0)
    logs: dict = {}
    norms.on_epoch_end(0, logs)
    assert logs == {}  # not a fit step: not measured


# -- metrics.csv -----------------------------------------------------------------------------------------------


def test_the_columns_are_epoch_train_val_the_rest_then_rate_and_seconds():
    keys = [
        "epoch_seconds",
        "val_accuracy",
        "grad_norm/dense",
        "accuracy",
        "learning_rate",
        "val_loss",
        "auc",
        "loss",
        "val_only",
        "grad_norm_max/dense",
        "epoch",
    ]
    assert column_order(keys) == [
        "epoch",
        "loss",
        "accuracy",
        "auc",
        "val_loss",
        "val_accuracy",
        "grad_norm/dense",
        "val_only",
        "grad_norm_max/dense",
        "learning_rate",
        "epoch_seconds",
    ]
    assert column_order([]) == ["epoch", "learning_rate", "epoch_seconds"]


def test_the_metrics_log_writes_one_row_per_epoch_numbered_from_1(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, [{"epoch": 1, "loss": 0.5, "learning_rate": 0.01, "epoch_seconds": 1.0}])
    log.on_epoch_end(1, {"val_loss": np.float32(0.75), "loss": 0.25, "learning_rate": 0.01, "epoch_seconds": 2})
    assert path.read_text() == (
        "epoch,loss,val_loss,learning_rate,epoch_seconds\n1,0.5,,0.01,1.0\n2,0.25,0.75,0.01,2.0\n"
    )
    assert log.rows[-1] == {"epoch": 2, "val_loss": 0.75, "loss": 0.25, "learning_rate": 0.01, "epoch_seconds": 2.0}
    empty = MetricsLog(tmp_path / "empty.csv")
    empty.on_epoch_end(0)
    assert (tmp_path / "empty.csv").read_text() == "epoch,learning_rate,epoch_seconds\n1,,\n"


def test_rows_to_csv_writes_floats_by_repr_and_ignores_nothing():
    text = rows_to_csv([{"epoch": 1, "loss": 0.1 + 0.2, "n": 3}, {"epoch": 2, "loss": 1e-20, "n": 4}])
    assert text == "epoch,loss,n,learning_rate,epoch_seconds\n1,0.30000000000000004,3,,\n2,1e-20,4,,\n"


# -- monitors and resumable state ------------------------------------------------------------------------------


def test_early_stopping_state_round_trips_with_best_weights_from_the_resume():
    weights = [np.zeros(2)]
    early = EarlyStopping(monitor="val_loss", mode="min", best_weights=weights)
    assert early.state_key == "early_stopping" and EarlyStopping.STATE == (
        "wait",
        "stopped_epoch",
        "best",
        "best_epoch",
    )
    assert early.resume_from({"wait": 2, "stopped_epoch": 0, "best": 1, "best_epoch": 3}) is early
    early.on_train_begin()
    assert early.state() == {"wait": 2, "stopped_epoch": 0, "best": 1.0, "best_epoch": 3}
    assert type(early.best) is float and early.best_weights is weights
    fresh = EarlyStopping(monitor="val_loss", mode="min")
    fresh.resume_from({"wait": 1, "best": None})
    fresh.on_train_begin()
    assert fresh.state() == {"wait": 1, "stopped_epoch": 0, "best": None, "best_epoch": 0}
    assert fresh.best_weights is None


def test_the_plateau_schedule_resumes_its_wait_cooldown_and_best():
    plateau = ReduceLROnPlateau(monitor="val_loss", mode="min")
    assert plateau.state_key == "reduce_lr" and ReduceLROnPlateau.STATE == ("wait", "cooldown_counter", "best")
    plateau.resume_from({"wait": 3, "cooldown_counter": 1, "best": 0.5})
    plateau.on_train_begin()
    assert plateau.state() == {"wait": 3, "cooldown_counter": 1, "best": 0.5}
    empty = ReduceLROnPlateau(monitor="val_loss", mode="min").resume_from({})
    empty.on_train_begin()
    assert empty.state() == {"wait": 0, "cooldown_counter": 0, "best": None}


def test_plain_keeps_json_values_and_makes_numbers_floats():
    assert plain(None) is None and plain(True) is True and plain(3) == 3 and type(plain(3)) is int
    assert plain("x") == "x" and type(plain(np.float32(0.5))) is float and plain(np.float32(0.5)) == 0.5
    assert type(plain(np.int64(2))) is float


def test_an_attribute_state_reads_missing_attributes_as_none():
    class Some(AttributeState):
        STATE = ("a", "best")

    some = Some()
    assert some.state() == {"a": None, "best": None}
    some.restore({"a": 7, "best": "2.5", "other": 1})
    assert (some.a, some.best) == (7, 2.5) and not hasattr(some, "other")


def test_random_states_round_trip_the_layers_seed_generators():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=3), keras.layers.Dense(1)])
    states = RandomStates()
    states.set_model(model)
    assert states.state_key == "rng"
    saved = states.state()
    (path,) = saved
    assert path.endswith("seed_generator_state") and all(type(v) is int for v in saved[path])
    variable = next(v for v in model.variables if v.path == path)
    variable.assign(np.asarray([11, 12], dtype=variable.dtype).reshape(variable.shape))
    assert states.state() == {path: [11, 12]}
    states.resume_from(saved)
    states.on_train_begin()
    assert states.state() == saved
    states.restore({"elsewhere": [5, 6]})
    assert states.state() == saved


# -- reporter bridge -------------------------------------------------------------------------------------------


def test_the_reporter_hears_epochs_1_based_and_batches_counted_by_chunks_up_to_the_epochs_steps():
    reporter = Recorder()
    bridge = ReporterBridge(reporter, epochs=2, steps_per_epoch=10, batches_per_call=4)
    logs = {"loss": 1.0}
    bridge.on_epoch_begin(1)
    for batch in range(3):
        bridge.on_train_batch_end(batch)
    bridge.on_epoch_end(1, logs)
    bridge.on_epoch_end(1)
    assert reporter.calls == [
        ("epoch_start", 2, 2, 10),
        ("batch_end", 2, 4),
        ("batch_end", 2, 8),
        ("batch_end", 2, 10),
        ("epoch_end", 2, 2, {"loss": 1.0}),
        ("epoch_end", 2, 2, {}),
    ]
    assert reporter.calls[4][3] is not logs
    single = Recorder()
    one = ReporterBridge(single, 1, 8)
    one.on_epoch_begin(0)
    one.on_train_batch_end(2)
    one.on_train_batch_end(7)
    assert single.calls[-2:] == [("batch_end", 1, 3), ("batch_end", 1, 8)]  # one batch per call by default


# -- small callbacks -------------------------------------------------------------------------------------------


def test_epoch_order_hands_the_0_based_epoch_to_the_pipeline():
    import tensorflow as tf

    variable = tf.Variable(-1, dtype=tf.int64)
    EpochOrder(variable).on_epoch_begin(3)
    assert int(variable.numpy()) == 3


def test_epoch_summary_calls_its_update_with_the_logs_or_an_empty_dict():
    calls = []
    summary = EpochSummary(lambda epoch, logs: calls.append((epoch, logs)))
    summary.on_epoch_end(2, {"loss": 1.0})
    summary.on_epoch_end(3, None)
    assert calls == [(2, {"loss": 1.0}), (3, {})]


def test_batch_faults_pass_the_mid_epoch_fault_point_at_each_batch_end(monkeypatch):
    points = []
    monkeypatch.setattr("annctl.training.callbacks.small.fault_point", points.append)
    faults = BatchFaults()
    faults.on_train_batch_end(0)
    faults.on_train_batch_end(1)
    assert points == ["mid_epoch", "mid_epoch"]


# -- step gradient norms ---------------------------------------------------------------------------------------


def test_the_recorded_steps_are_all_of_a_short_sequence_and_eleven_of_a_long_one():
    assert recorded_steps(1) == [1] and recorded_steps(2) == [1, 2]
    assert recorded_steps(11) == list(range(1, 12))
    assert recorded_steps(12) == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert recorded_steps(21) == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21]


def test_step_gradient_norms_are_the_input_gradients_norm_at_each_recorded_step():
    """A linear model on the flattened sequence: ∂mse/∂x[b, t, f] = 2/B · (ŷ_b − y_b) · w[t, f], in NumPy."""
    import keras
    import tensorflow as tf

    batch, steps, features = 3, 4, 2
    model = keras.Sequential(
        [keras.Input((steps, features)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)]
    )
    model.compile(loss="mse")
    w = np.arange(1, steps * features + 1, dtype="float32").reshape(-1, 1) / 10
    model.layers[-1].set_weights([w])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    y = rng.normal(size=(batch, 1)).astype("float32")
    residual = x.reshape(batch, -1) @ w - y
    gradient = (2 / batch) * residual[:, :, None] * w.reshape(1, steps, features)
    expected = np.sqrt((gradient**2).sum(axis=(0, 2)))
    # a dict probe (tensors, as probe_batch gives): the sequence is one of the inputs, beside an offset of zeros
    for probe_x, key in ((x, None), ({"numeric_input": x, "offset": tf.zeros((batch, 1))}, "numeric_input")):
        if key:
            inputs = keras.Input((steps, features), name="numeric_input")
            offset = keras.Input((1,), name="offset")
            dict_model = keras.Model(
                {"numeric_input": inputs, "offset": offset}, keras.layers.Add()([model(inputs), offset])
            )
            dict_model.compile(loss="mse")
        norms = StepGradientNorms((probe_x, y), "numeric_input")
        norms.set_model(dict_model if key else model)
        logs: dict = {"loss": 1.0}
        norms.on_epoch_end(0, logs)
        assert list(logs) == ["loss", "grad_norm_step/1", "grad_norm_step/2", "grad_norm_step/3", "grad_norm_step/4"]
        assert [logs[f"grad_norm_step/{t}"] for t in (1, 2, 3, 4)] == pytest.approx(expected, rel=1e-5)
        norms.on_epoch_end(1, None)


def test_the_probe_is_the_first_256_training_samples_prepared():
    import tensorflow as tf

    def split(size):
        values = tf.range(size, dtype=tf.float32)
        return SimpleNamespace(size=size, batches=lambda order: order.map(lambda i: tf.gather(values, i)))

    first = probe_batch(split(300), lambda batch: (batch * 2, batch))
    assert first[0].shape == (256,) and float(first[1][-1]) == 255.0 and float(first[0][1]) == 2.0
    small = probe_batch(split(5), lambda batch: (batch, batch))
    assert small[0].numpy().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


# -- stop requests ---------------------------------------------------------------------------------------------


def raised(call, *args):
    """The stop a call raises (KeyboardInterrupt or Terminated), or None: caught here, so that a wrong stop fails
    the test instead of interrupting the whole pytest session."""
    try:
        call(*args)
    except (KeyboardInterrupt, Terminated) as stop:
        return type(stop)
    return None


def test_a_first_signal_is_remembered_and_a_second_stops_at_once():
    request = StopRequest()
    assert request.signal is None and raised(request.check) is None  # nothing asked
    assert raised(request.handler, signal.SIGINT, None) is None
    assert request.signal == signal.SIGINT
    assert raised(request.check) is KeyboardInterrupt
    assert raised(request.handler, signal.SIGINT, None) is KeyboardInterrupt  # a second signal stops at once
    assert raised(request.handler, signal.SIGTERM, None) is Terminated  # by its own kind
    term = StopRequest()
    assert raised(term.handler, signal.SIGTERM, None) is None
    assert term.signal == signal.SIGTERM
    assert raised(term.check) is Terminated
    assert raised(term.handler, signal.SIGTERM, None) is Terminated
    assert raised(term.handler, signal.SIGINT, None) is KeyboardInterrupt


def test_the_stop_callback_checks_at_every_batch_and_epoch_end():
    request = StopRequest()
    stop = StopAtBatch(request)
    assert raised(stop.on_train_batch_end, 0) is None and raised(stop.on_epoch_end, 0) is None
    request.signal = signal.SIGTERM
    assert raised(stop.on_train_batch_end, 1) is Terminated and raised(stop.on_epoch_end, 1) is Terminated
    request.signal = signal.SIGINT
    assert raised(stop.on_train_batch_end, 2) is KeyboardInterrupt and raised(stop.on_epoch_end, 2) is KeyboardInterrupt
    assert issubclass(Terminated, BaseException) and not issubclass(Terminated, Exception)


# -- TensorBoard -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting,value,called",
    [
        (None, None, False),
        ("update_freq", 1, True),
        ("write_steps_per_second", True, True),
        ("_should_trace", True, True),
        ("_should_write_train_graph", True, True),
    ],
)
def test_tensorboards_batch_hook_runs_only_for_per_batch_work(tmp_path, monkeypatch, setting, value, called):
    import keras

    calls = []
    monkeypatch.setattr(
        keras.callbacks.TensorBoard, "on_train_batch_end", lambda self, batch, logs=None: calls.append(batch)
    )
    board = EpochTensorBoard(log_dir=str(tmp_path), write_graph=False, profile_batch=0)
    board._should_write_train_graph = False
    if setting:
        setattr(board, setting, value)
    board.on_train_batch_end(4, {"loss": 1.0})
    assert calls == ([4] if called else [])
