"""The experiment spec: typed, bounded pydantic models. Field descriptions are the YAML reference.

`dataset` and `model` are discriminated unions built from the registries (on `name` and `architecture`),
so each dataset and architecture carries its own fields and an unknown key is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import Field, model_validator

from annctl.datasets import DATASETS
from annctl.errors import UsageError
from annctl.models import ARCHITECTURES
from annctl.models.base import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from annctl.specbase import StrictModel, Task
from annctl.tuning.space import SearchSpec

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

Optimizer = Literal["sgd", "adam", "rmsprop", "adagrad", "adamw"]
if TYPE_CHECKING:
    Loss = str  # the checker cannot build a Literal from the tuples; pydantic checks the names
else:
    Loss = Literal[REGRESSION_LOSSES + CLASSIFICATION_LOSSES]
Metric = Literal["accuracy", "auc", "mae", "mse", "rmse"]

# Keras' own default learning rate for each optimizer, filled into the resolved spec when none is given.
DEFAULT_LEARNING_RATES = {"sgd": 0.01, "adam": 0.001, "rmsprop": 0.001, "adagrad": 0.001, "adamw": 0.001}
CLASSIFICATION_METRICS = ("accuracy", "auc")
REGRESSION_METRICS = ("mae", "mse", "rmse")


def _union(entries: list[type], discriminator: str):
    if len(entries) == 1:
        return entries[0]
    return Annotated[Union[tuple(entries)], Field(discriminator=discriminator)]  # noqa: UP007


if TYPE_CHECKING:
    # The type checker sees the base every registered entry derives from (its fields and methods are the
    # interface the rest of annctl uses); pydantic sees the discriminated union of the registered entries.
    from annctl.datasets.base import DatasetSpec
    from annctl.models.base import ArchitectureSpec

    DatasetUnion = DatasetSpec
    ArchitectureUnion = ArchitectureSpec
else:
    DatasetUnion = _union(DATASETS.values(), "name")
    ArchitectureUnion = _union(ARCHITECTURES.values(), "architecture")


class EarlyStoppingSpec(StrictModel):
    """Stop when the monitored metric stops improving (Keras EarlyStopping)."""

    monitor: str = Field("val_loss", description="Metric to watch, e.g. `val_loss` or `val_accuracy`.")
    patience: int = Field(10, ge=0, le=100_000, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, le=1e6, description="Smallest change that counts as an improvement.")
    restore_best_weights: bool = Field(True, description="End with the weights of the best epoch.")


class ExponentialDecay(StrictModel):
    """learning_rate · decay_rate^(step / decay_steps) (Keras ExponentialDecay)."""

    type: Literal["exponential"] = "exponential"
    decay_steps: int = Field(
        ..., ge=1, le=10**9, description="Steps (batches) over which the rate decays by decay_rate."
    )
    decay_rate: float = Field(0.1, gt=0, le=1, description="Factor applied every decay_steps.")


class CosineDecay(StrictModel):
    """Cosine decay from learning_rate to alpha·learning_rate over decay_steps (Keras CosineDecay)."""

    type: Literal["cosine"] = "cosine"
    decay_steps: int = Field(..., ge=1, le=10**9, description="Steps (batches) of the decay.")
    alpha: float = Field(0.0, ge=0, le=1, description="Final rate as a fraction of the initial one.")


class ReduceOnPlateau(StrictModel):
    """Multiply the rate by `factor` when `monitor` stops improving (Keras ReduceLROnPlateau)."""

    type: Literal["reduce_on_plateau"] = "reduce_on_plateau"
    monitor: str = Field("val_loss", description="Metric to watch.")
    factor: float = Field(0.5, gt=0, lt=1, description="Multiplier applied to the rate.")
    patience: int = Field(5, ge=0, le=100_000, description="Epochs without improvement before reducing.")
    min_lr: float = Field(0.0, ge=0, le=10, description="Lower bound of the rate.")


LrSchedule = Annotated[Union[ExponentialDecay, CosineDecay, ReduceOnPlateau], Field(discriminator="type")]  # noqa: UP007


class TrainingSpec(StrictModel):
    """How the model is compiled and fitted."""

    optimizer: Optimizer = Field("adam", description="Optimizer: sgd, adam, rmsprop, adagrad or adamw.")
    learning_rate: float | None = Field(
        None, gt=0, le=10, description="Step size; default: Keras' default for the optimizer (sgd 0.01, others 0.001)."
    )
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum (sgd and rmsprop only).")
    nesterov: bool = Field(False, description="Nesterov momentum (sgd only).")
    weight_decay: float | None = Field(None, ge=0, le=1, description="Decoupled weight decay (adamw; default 0.004).")
    loss: Loss | None = Field(
        None,
        description="Cost function; default: sparse_categorical_crossentropy for several classes, "
        "binary_crossentropy for two, mse for regression.",
    )
    metrics: list[Metric] | None = Field(
        None, max_length=8, description="Metrics logged each epoch; default: [accuracy] or [mae]."
    )
    epochs: int = Field(10, ge=1, le=100_000, description="Maximum number of passes over the training data.")
    batch_size: int = Field(32, ge=1, le=65_536, description="Samples per gradient step.")
    shuffle: bool = Field(True, description="Shuffle the training data before each epoch.")
    early_stopping: EarlyStoppingSpec | None = Field(None, description="Stop early when validation stops improving.")
    steps_per_execution: int = Field(
        32,
        ge=1,
        le=100_000,
        description="Batches run per call into TensorFlow's compiled graph (with jit_compile, per XLA program); "
        "larger cuts per-batch overhead (same batches, progress and Ctrl-C act every this many batches).",
    )
    jit_compile: Literal["auto"] | bool = Field(
        "auto",
        description="XLA-compile the training: each call runs steps_per_execution batches of Keras' own train "
        "step as one XLA program (annctl's compiled steps: small networks train several times faster). `auto`: "
        "when an epoch has at least steps_per_execution batches and XLA can compile the model (no text lookups), "
        "else the same chunks without XLA (Keras' fit's numbers); a distribution strategy runs Keras' fit; "
        "`true`: always, and a model XLA cannot compile is an error; `false`: Keras' fit step by step. "
        "summary.json's jit_compile, compiled_steps and jit_fallback say what ran.",
    )
    threads: Literal["auto"] | Annotated[int, Field(ge=1, le=1024)] = Field(
        "auto",
        description="TensorFlow's intra- and inter-op threads. `auto`: 1 on a CPU for dense networks (mlp, "
        "perceptron, wide & deep) at batch sizes up to 256, whose small matrix products run faster on one "
        "thread than split across cores; every core for convolutions, larger batches, GPUs and distributed "
        "training. Never more than $ANNCTL_THREADS (set per trial by `annctl tune --workers`). Same results "
        "with any count.",
    )
    mixed_precision: Literal["off", "float16", "bfloat16"] = Field(
        "off",
        description="Compute in 16-bit floats, keep weights and the output layer in float32 (Keras mixed "
        "precision): faster on GPUs with tensor cores, usually slower on CPUs.",
    )
    distribution: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="`mirrored`: TensorFlow's MirroredStrategy, one replica per local GPU (or the CPU). "
        "`multi_worker`: MultiWorkerMirroredStrategy across the machines named in $TF_CONFIG (run `annctl train` "
        "on each; the chief writes the run directory); needs steps_per_execution 1 (set by default).",
    )
    lr_schedule: LrSchedule | None = Field(
        None, description="Learning-rate schedule: exponential, cosine or reduce_on_plateau (`type` picks it)."
    )
    clipnorm: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="Gradient clipping: rescale each weight's gradient so its L2 norm is at most this "
        "(the cure for exploding gradients). At most one of clipnorm, clipvalue, global_clipnorm.",
    )
    clipvalue: float | None = Field(
        None, gt=0, le=1e6, description="Gradient clipping: clip every gradient element to [-clipvalue, clipvalue]."
    )
    global_clipnorm: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="Gradient clipping: rescale all gradients together so their joint L2 norm is at most this "
        "(keeps the gradient's direction).",
    )

    @model_validator(mode="after")
    def _fill_and_check(self) -> TrainingSpec:
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(f"momentum applies to sgd and rmsprop only, not {self.optimizer}")
        if self.nesterov and self.optimizer != "sgd":
            raise ValueError("nesterov applies to sgd only")
        if self.weight_decay is not None and self.optimizer != "adamw":
            raise ValueError(f"weight_decay applies to adamw only, not {self.optimizer}")
        if self.learning_rate is None:
            self.learning_rate = DEFAULT_LEARNING_RATES[self.optimizer]
        clipping = [name for name in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, name) is not None]
        if len(clipping) > 1:  # Keras' optimizers take one kind of clipping
            raise ValueError(f"{' and '.join(clipping)}: give at most one kind of gradient clipping")
        if self.jit_compile is True and self.distribution != "none":
            raise ValueError(
                f"jit_compile: true does not work with distribution {self.distribution} (its strategy runs its own "
                "replica functions); use jit_compile: auto or false"
            )
        if self.distribution == "multi_worker" and self.steps_per_execution != 1:
            if "steps_per_execution" in self.model_fields_set:
                raise ValueError(
                    "distribution multi_worker needs steps_per_execution 1 (Keras' multi-step loop fails with "
                    "cross-worker collectives); leave steps_per_execution out"
                )
            self.steps_per_execution = 1
        return self

    # A resolved spec (annctl.config.resolve) has its loss, metrics and learning rate filled in; these give
    # them without the None of a spec as written.
    def resolved_loss(self) -> str:
        if self.loss is None:
            raise RuntimeError("training.loss is read before the spec is resolved (annctl.config.resolve)")
        return self.loss

    def resolved_metrics(self) -> list[str]:
        if self.metrics is None:
            raise RuntimeError("training.metrics is read before the spec is resolved (annctl.config.resolve)")
        return list(self.metrics)

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is None:  # pragma: no cover - the validator above fills it
            raise RuntimeError("training.learning_rate is read before the spec is validated")
        return self.learning_rate


class OutputSpec(StrictModel):
    """What a run writes besides metrics and the final model."""

    checkpoint_monitor: str | None = Field(
        None,
        description="Metric that picks checkpoints/best.keras; default: the early-stopping monitor, else val_loss.",
    )
    tensorboard: bool = Field(True, description="Write TensorBoard event files under tensorboard/.")
    histogram_freq: int = Field(
        0, ge=0, le=10_000, description="Epochs between weight histograms in TensorBoard (0: none)."
    )
    gradient_norms: bool = Field(
        False,
        description="Log each layer's gradient L2 norm per epoch (mean over the epoch's batches: "
        "`grad_norm/<layer>`, and the largest: `grad_norm_max/<layer>`) to metrics.csv and TensorBoard; "
        "`annctl plot RUN --gradients` draws them. Measured before clipping.",
    )
    step_gradient_norms: bool = Field(
        False,
        description="Sequence datasets: log how much of the loss's gradient reaches each time step — the L2 norm "
        "of ∂loss/∂x_t, the gradient with respect to the input at step t, at 11 steps from the first to the last "
        "(`grad_norm_step/<t>`), on the first 256 training sequences at each epoch's end — to metrics.csv; "
        "`annctl plot RUN --gradients` draws them against t (a vanishing gradient falls by orders of magnitude "
        "towards the first step).",
    )


class MlflowSpec(StrictModel):
    """Send the run (or a search) to an MLflow tracking server; needs `pip install 'annctl[mlflow]'`."""

    uri: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="Tracking server URI, e.g. http://127.0.0.1:5000; default: $MLFLOW_TRACKING_URI (MLflow's "
        "own convention). The run directory stays the source of truth: a server away or failing never stops or "
        "slows the training, and `annctl runs sync` uploads the run later.",
    )
    experiment: str | None = Field(
        None, min_length=1, max_length=500, description="MLflow experiment; default: the spec's `name`."
    )


class TrackingSpec(StrictModel):
    """Where runs are reported besides their run directory (off unless a section is given)."""

    mlflow: MlflowSpec | None = Field(None, description="MLflow: params, per-epoch metrics, artifacts, the model.")


class ExperimentSpec(StrictModel):
    """One experiment: what to train on, what to build, how to train it, what to keep."""

    name: str = Field(..., pattern=NAME_PATTERN, description="Run name: letters, digits, `.`, `_`, `-` (max 64).")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seeds the split, the initial weights and the shuffling.")
    dataset: DatasetUnion = Field(..., description="Where the data comes from; `name` picks a registered dataset.")
    model: ArchitectureUnion = Field(..., description="What to build; `architecture` picks a registered one.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Optimizer, loss, epochs, batches.")
    output: OutputSpec = Field(default_factory=OutputSpec, description="Checkpoints and TensorBoard.")
    search: SearchSpec | None = Field(
        None, description="Hyperparameter search for `annctl tune` (`annctl train` ignores it)."
    )
    tracking: TrackingSpec | None = Field(
        None, description="Experiment tracking (MLflow); off unless given. Not part of the run's result."
    )

    @model_validator(mode="before")
    @classmethod
    def _architecture_training_defaults(cls, data):
        """An architecture whose training rule is fixed brings the training settings that make the rule work
        (the perceptron: SGD on one sample at a time); they fill only what the file leaves out, so a
        user's values win, and `validate --show` shows them."""
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            return data
        name = data["model"].get("architecture")
        defaults = ARCHITECTURES.get(name).training_defaults if isinstance(name, str) and name in ARCHITECTURES else {}
        training = data.get("training", {})
        if not defaults or not isinstance(training, dict):
            return data
        filled = {key: value for key, value in defaults.items() if key not in training}
        if "optimizer" in training and "learning_rate" in filled:  # another optimizer: its own default rate
            del filled["learning_rate"]
        return {**data, "training": {**training, **filled}} if filled else data

    @model_validator(mode="after")
    def _check(self) -> ExperimentSpec:
        if self.output.gradient_norms and self.training.distribution != "none":
            raise ValueError(
                "output: gradient_norms are measured on one replica's gradients; use training.distribution none"
            )
        if self.output.step_gradient_norms:
            if type(self.dataset).kind != "sequence":
                raise ValueError(
                    f"output.step_gradient_norms: time steps need a sequence dataset (timeseries, adding, "
                    f"inline_sequence); {self.dataset.name} gives {type(self.dataset).kind} inputs"
                )
            if self.training.distribution != "none":
                raise ValueError(
                    "output.step_gradient_norms: measured on one replica's model; use training.distribution none"
                )
        return self

    def monitor(self) -> str:
        """The metric that picks the best epoch and checkpoint."""
        if self.output.checkpoint_monitor:
            return self.output.checkpoint_monitor
        return self.training.early_stopping.monitor if self.training.early_stopping else "val_loss"

    def search_section(self) -> SearchSpec:
        """The `search:` section `annctl tune` runs; an experiment without one cannot be tuned."""
        if self.search is None:
            raise UsageError(
                f"{self.name}: the experiment has no `search:` section; add one to tune (see docs/tutorials/search.md)"
            )
        return self.search

    def search_objective(self) -> tuple[str, Literal["minimize", "maximize"]]:
        """The metric `annctl tune` optimises and its direction."""
        search = self.search
        metric = (search.metric if search else None) or self.monitor()
        direction = search.direction if search and search.direction else None
        return metric, direction or ("maximize" if monitor_mode(metric) == "max" else "minimize")


def resolve(spec: ExperimentSpec, task: Task, num_classes: int) -> ExperimentSpec:
    """Fill the defaults that follow from the data (loss, metrics, monitor) and check they fit it.

    Raises ValueError naming the field (as ``field.path: message``) when a choice contradicts the data.
    """
    training = spec.training
    loss = training.loss
    architecture = type(spec.model)
    if loss is None:
        if architecture.default_loss:
            loss = architecture.default_loss
        elif task == "regression":
            loss = "mse"
        else:
            loss = "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"
    if (loss == "perceptron") != (architecture.default_loss == "perceptron"):
        raise ValueError(
            "training.loss: the perceptron architecture trains with the perceptron loss, "
            "and only it does; leave training.loss out"
        )
    if task == "regression" and loss not in REGRESSION_LOSSES:
        raise ValueError(
            f"training.loss: {loss} is a classification loss; this dataset is regression "
            f"(use one of {', '.join(REGRESSION_LOSSES)})"
        )
    if task == "classification" and loss not in CLASSIFICATION_LOSSES:
        raise ValueError(
            f"training.loss: {loss} is a regression loss; this dataset is classification "
            f"(use one of {', '.join(CLASSIFICATION_LOSSES[:3])})"
        )
    if loss == "binary_crossentropy" and num_classes != 2:
        raise ValueError(
            f"training.loss: binary_crossentropy needs 2 classes, this dataset has {num_classes} "
            "(use sparse_categorical_crossentropy)"
        )
    metrics = training.metrics
    if metrics is None:
        metrics = ["accuracy"] if task == "classification" else ["mae"]
    allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    for metric in metrics:
        if metric not in allowed:
            raise ValueError(f"training.metrics: {metric} does not apply to {task}; use {', '.join(allowed)}")
    if "auc" in metrics and loss != "binary_crossentropy":
        raise ValueError("training.metrics: auc needs a binary target with binary_crossentropy")
    resolved = spec.model_copy(deep=True)
    resolved.training.loss = loss
    resolved.training.metrics = list(dict.fromkeys(metrics))
    names = ["loss", *resolved.training.metrics]
    valid = names + [f"val_{name}" for name in names]
    watched = {"output.checkpoint_monitor": spec.output.checkpoint_monitor}
    if spec.training.early_stopping:
        watched["training.early_stopping.monitor"] = spec.training.early_stopping.monitor
    if spec.search is not None and spec.search.metric is not None:
        watched["search.metric"] = spec.search.metric
    if isinstance(spec.training.lr_schedule, ReduceOnPlateau):
        watched["training.lr_schedule.monitor"] = spec.training.lr_schedule.monitor
    outputs = spec.model.output_names()
    if len(outputs) > 1:  # Keras logs each output's loss and metrics too: main_loss, aux_mae, ...
        names = names + [f"{out}_{name}" for out in outputs for name in names]
    for field, monitor in watched.items():
        if monitor is not None and monitor not in valid:
            raise ValueError(f"{field}: unknown metric {monitor!r}; this run logs {', '.join(valid)}")
    monitor = resolved.monitor()
    resolved.output.checkpoint_monitor = monitor
    return resolved


def monitor_mode(monitor: str) -> Literal["min", "max"]:
    """Whether a larger value of the metric is better."""
    return "max" if monitor.removeprefix("val_") in ("accuracy", "auc") else "min"
