"""The JSON files of a run directory, as typed records: one definition each, used by every writer and reader.

A run's `summary.json` (:class:`Summary`), `dataset.json` (:class:`DataInfo`), `checkpoints/manifest.json`
(:class:`Manifest`) and `env.json` (:class:`Environment`); a search's `tune.json` (:class:`TuneConfig`) and
`summary.json` (:class:`TuneSummary`), each trial's `trial.json` (:class:`TrialOutcome`), `mlflow.json` of a run
or search tracked in MLflow (:class:`Tracking`), and `annctl export`'s manifest (in annctl.export.manifest).
Where each file lives is annctl.rundir's business; `annctl schema --record NAME` prints each record's JSON
Schema (committed under schemas/), so "what is in summary.json" is one hop for scripts too. Records ignore keys
they do not know (a file written by a newer annctl still reads), and refuse to be given a field they do not have.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, computed_field

from annctl.datasets.base import InputDescription
from annctl.export.manifest import ExportManifest
from annctl.light.manifest import LightManifest
from annctl.specbase import Record

# The one status vocabulary. What training writes in a run's summary.json:
Status = Literal["running", "completed", "interrupted", "failed", "diverged"]
# What a search's summary.json says:
SearchStatus = Literal["running", "completed", "interrupted", "failed"]
# What readers (runs list and show, report, compare) tell: the written status, except that a "running" run or
# search whose process is gone from this host was `killed`, a run on another host untouched for a while is
# `stale`, and a run without a readable summary.json (killed as it started) is `unknown`.
State = Literal["running", "completed", "interrupted", "failed", "diverged", "killed", "stale", "unknown"]
STATES: tuple[str, ...] = get_args(State)
# The states a `train --resume` continues.
RESUMABLE: tuple[str, ...] = ("interrupted", "failed", "killed", "stale")


class Best(Record):
    """The best epoch's value of the monitored metric."""

    monitor: str = Field(..., description="The metric that picks the best epoch and checkpoint.")
    mode: Literal["min", "max"] | None = Field(None, description="Whether lower or higher is better.")
    value: float | None = Field(None, description="Its best value so far.")


class Worker(Record):
    """This process's place in a multi-worker cluster (training.distribution: multi_worker)."""

    task_type: str
    index: int
    count: int = Field(..., description="Machines that train: chief + workers.")
    chief: bool


class Source(Record):
    """The run whose weights a transfer (`model.init_from`) copied."""

    init_from: str = Field(..., description="`model.init_from` as the spec gives it (a path, a run name or a prefix).")
    run_dir: str = Field(..., description="The run it resolved to when this run started.")
    model_sha256: str | None = Field(None, description="SHA-256 of that run's model.keras, as it recorded it.")


class Summary(Record):
    """`summary.json`: how a run went. Rewritten after every epoch; every key is present from the start."""

    run_dir: str | None = Field(None, description="The run directory (null on a multi-worker run's non-chief).")
    name: str = Field(..., description="The spec's name.")
    status: Status = Field(..., description="running, completed, interrupted, failed or diverged.")
    pid: int | None = Field(None, description="The training process (with host: tells a live run from a killed one).")
    host: str | None = Field(None, description="The machine it runs on.")
    started_at: str | None = Field(None, description="UTC, ISO 8601.")
    finished_at: str | None = Field(None, description="UTC, ISO 8601, once it stopped.")
    resumed_at: list[str] = Field(default_factory=list, description="UTC times of each `train --resume`.")
    resumed_from_epoch: int | None = Field(None, description="The epoch the latest resume continued from.")
    threads: int | None = Field(None, description="TensorFlow's intra- and inter-op threads (training.threads).")
    jit_compile: bool | None = Field(None, description="Whether XLA compiled the training (compiled steps).")
    compiled_steps: int | None = Field(
        None, description="Batches per call of annctl's train function (with or without XLA); null: Keras' fit's steps."
    )
    jit_fallback: str | None = Field(
        None, description="Why `jit_compile: auto` trained without XLA (e.g. a layer XLA cannot compile)."
    )
    epochs_completed: int = Field(0, description="Epochs trained and recorded in metrics.csv.")
    best_epoch: int | None = Field(None, description="The epoch of checkpoints/best.keras (1-based).")
    best: Best | None = Field(None, description="The monitored metric's best value.")
    final_metrics: dict[str, float | None] = Field(
        default_factory=dict, description="The last epoch's metrics.csv row (null: NaN or infinite: a diverged run)."
    )
    test_metrics: dict[str, float | None] | None = Field(
        None, description="The final model on the test split: loss, accuracy or mse/rmse/mae/r2, per output too."
    )
    wall_seconds: float | None = Field(
        None, description="Training time: from building the model to the final save (no start-up, no data loading)."
    )
    train_samples_per_second: float | None = Field(None, description="Training samples per second of epoch time.")
    model_sha256: str | None = Field(None, description="SHA-256 of model.keras (checked before any load).")
    beats_naive: bool | None = Field(
        None,
        description="Forecasts (and `adding`): whether the model's test MSE is below the naive baseline's "
        "(forecasts: tomorrow = today).",
    )
    baseline: str | None = Field(
        None,
        description="What the naive baseline predicts: `the last value, repeated` (forecasts), `always 1.0` "
        "(adding). None with beats_naive: a forecast recorded before this field.",
    )
    transferred_layers: list[str] | None = Field(None, description="Layers whose weights came from init_from.")
    source: Source | None = Field(None, description="The run a transfer (init_from) copied weights from.")
    skipped_images: int | None = Field(
        None, description="image_folder with on_bad_image: skip: unreadable images left out (listed in dataset.json)."
    )
    diverged_epoch: int | None = Field(None, description="The epoch whose loss became NaN or infinite.")
    error: str | None = Field(None, description="Why a failed run failed.")
    worker: Worker | None = Field(None, description="Multi-worker runs: this process's role.")

    def update(self, **values: Any) -> None:
        """Set several fields at once (an unknown name is an error)."""
        for key, value in values.items():
            setattr(self, key, value)


class DataInfo(InputDescription):
    """`dataset.json`: the input description (what one input is, what the model keeps of the training split)
    and what the model outputs — everything `predict` and `evaluate` need without the training data."""

    outputs: list[str] = Field(default_factory=lambda: ["output"], description="The model's outputs, main first.")
    decision: Literal["probability", "score"] = Field(
        "probability", description="How a class follows from the output: probability (0.5 / argmax) or score (0)."
    )

    @computed_field(description="`kind`, under the name earlier versions used.")  # type: ignore[prop-decorator]
    @property
    def input_kind(self) -> str:
        return self.kind

    @computed_field(description="`shape`, under the name earlier versions used.")  # type: ignore[prop-decorator]
    @property
    def input_shape(self) -> list[int]:
        return list(self.shape)


class CheckpointEntry(Record):
    """A checkpoint file the manifest vouches for."""

    epoch: int = Field(..., description="The epoch it holds (1-based).")
    sha256: str = Field(..., description="SHA-256 of the file: a loader checks it first.")
    state: dict[str, Any] | None = Field(
        None, description="What a resume needs besides the weights: each resumable callback's state."
    )


class BestCheckpoint(CheckpointEntry):
    monitor: str = Field(..., description="The monitored metric.")
    value: float = Field(..., description="Its value at that epoch.")


class Manifest(Record):
    """`checkpoints/manifest.json`, written after the checkpoint files of each epoch: it names the complete ones."""

    spec: dict[str, Any] = Field(default_factory=dict, description="The resolved spec the run started with.")
    last: CheckpointEntry | None = Field(None, description="checkpoints/last.keras.")
    previous: CheckpointEntry | None = Field(None, description="checkpoints/previous.keras (the epoch before).")
    best: BestCheckpoint | None = Field(None, description="checkpoints/best.keras.")


class Environment(Record):
    """`env.json`: what ran the run."""

    annctl: str
    python: str
    tensorflow: str
    keras: str
    numpy: str
    platform: str
    machine: str
    cpu_count: int | None
    command: list[str]
    cwd: str
    seed: int
    git_commit: str | None


class TuneConfig(Record):
    """`tune.json`: how a search was started (a resume cannot silently change it)."""

    name: str = Field(..., description="The experiment's name.")
    study: str = Field(..., description="Optuna study name (machines sharing a storage join it).")
    storage: str | None = Field(
        None, description="A URL any Optuna tool opens (optuna-dashboard, optuna.load_study); never a password."
    )
    storage_in_tune_dir: bool = Field(False, description="The default SQLite storage, found relative to this folder.")
    sampler: Literal["random", "tpe"] = "random"
    pruner: Literal["none", "median", "hyperband"] = "none"
    trials: int = Field(..., description="Finished trials the study should hold, across all workers.")
    workers: int = Field(1, description="Trials at once on this machine.")
    timeout: float | None = Field(None, description="Start no new trial after this many seconds.")
    seed: int = Field(..., description="The experiment's seed (the sampler's too).")
    metric: str = Field(..., description="The per-epoch metric optimised (its best epoch counts).")
    direction: Literal["minimize", "maximize"]
    epochs: int = Field(..., description="Maximum epochs per trial.")
    created_at: str | None = Field(None, description="UTC, ISO 8601.")


class TuneSummary(Record):
    """A search's `summary.json`, rewritten after every trial."""

    tune_dir: str
    study: str
    storage: str | None = Field(None, description="The storage URL (no password).")
    sampler: str
    pruner: str
    metric: str
    direction: Literal["minimize", "maximize"]
    status: SearchStatus = "running"
    trials_requested: int
    trials_finished: int = Field(0, description="Complete + pruned (what --trials counts).")
    trials_complete: int = 0
    trials_failed: int = 0
    trials_pruned: int = 0
    trials_running: int = 0
    epochs_saved_by_pruning: int = 0
    best_trial: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] | None = Field(None, description="The best trial's values, by dotted spec path.")
    best_run_dir: str | None = None
    workers: int | None = None
    wall_seconds: float | None = Field(None, description="The search's time so far, resumes included.")
    updated_at: str | None = None
    error: str | None = Field(None, description="Why the search stopped, when it failed.")


class TrialWorker(Record):
    pid: int
    trial: int = Field(..., description="How many trials this worker process had run, this one included.")
    rss_bytes: int | None = None


class TrialOutcome(Record):
    """`trial.json`: how one trial of a search ended."""

    state: Literal["complete", "pruned", "fail"]
    value: float | None = Field(None, description="The searched metric's best epoch value.")
    epochs: int | None = None
    pruned_epoch: int | None = None
    seconds: float | None = None
    reason: str | None = Field(None, description="Why it failed.")
    worker: TrialWorker | None = None


class Tracking(Record):
    """`mlflow.json`: a run's (or a search's) counterpart in MLflow, written atomically whenever it changes.

    The run directory is the source of truth; this says whether MLflow has all of it yet."""

    run_id: str = Field(..., description="annctl's id of the run: the MLflow run's `annctl.run_id` tag.")
    uri: str | None = Field(None, description="The tracking server last sent to (without a password).")
    experiment: str | None = Field(None, description="The MLflow experiment.")
    mlflow_run_id: str | None = Field(None, description="The MLflow run, once created.")
    synced: bool = Field(False, description="Whether MLflow holds everything of the finished run.")
    synced_at: str | None = Field(None, description="UTC, ISO 8601, of the upload that completed it.")
    error: str | None = Field(None, description="Why it is not synced yet (the server's first failure).")
    git_commit: str | None = Field(None, description="The commit of the git repository holding the experiment file.")


RECORDS: dict[str, type[Record]] = {
    "summary": Summary,
    "dataset": DataInfo,
    "manifest": Manifest,
    "env": Environment,
    "tune": TuneConfig,
    "tune-summary": TuneSummary,
    "trial": TrialOutcome,
    "export": ExportManifest,  # `annctl export`'s manifest (annctl.export.manifest)
    "light": LightManifest,  # predict's light model, light/<checkpoint>.json (annctl.light.manifest)
    "tracking": Tracking,  # mlflow.json of a run or tune directory tracked in MLflow (annctl.tracking)
}
