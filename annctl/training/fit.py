"""The fit: model + data pipelines + callbacks → `model.fit` → the final model and its test metrics.

Called by annctl.training.lifecycle, which owns the run's status, lock and signals.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from annctl.errors import TrainingDiverged
from annctl.records import Summary
from annctl.spec import ExperimentSpec
from annctl.training.resuming import ResumePoint

# Validation batches on Keras' `fit` path: Keras' default evaluation batch, which `fit` used for validation arrays
# before annctl fed validation through a pipeline; the same batching keeps every val_ metric identical to the last
# digit. The compiled path (annctl.training.compiled) validates in larger batches.
VALIDATION_BATCH = 32


def fit(
    spec: ExperimentSpec,
    data,
    run_dir: Path,
    summary: Summary,
    reporter,
    runs_root: Path,
    extra: list,
    stop_request,
    resume: ResumePoint | None = None,
    search_trial: bool = False,
) -> None:
    """Train ``spec`` on ``data`` into ``run_dir``, updating ``summary`` (completed, with test metrics unless
    a search's trial: see annctl.training.lifecycle.train)."""
    from annctl.faults import fault_point
    from annctl.fileio import atomic_path, sha256_file
    from annctl.records import Best
    from annctl.rundir import RunPaths, write_summary
    from annctl.training import compiled
    from annctl.training.assemble import batch_preparer, make_model, precision_policy
    from annctl.training.callbacks import build_callbacks
    from annctl.training.callbacks.step_gradients import probe_batch
    from annctl.training.distribution import distribution_scope
    from annctl.training.inference import scalar_metrics, split_metrics
    from annctl.training.pipeline import ordered_dataset, training_dataset, training_stream

    training, description = spec.training, data.description
    state = (resume.entry.state or {}) if resume else {}
    saved = dict(state.get("callbacks") or {})
    with precision_policy(training.mixed_precision), distribution_scope(training.distribution):
        model = make_model(spec, description, runs_root, transfer=resume is None)
        best_weights = None
        if resume:
            model.optimizer.build(model.trainable_variables)
            if resume.best_weights_file is not None:
                model.load_weights(resume.best_weights_file)
                best_weights = model.get_weights()
            model.load_weights(resume.checkpoint)  # weights and optimizer state (moments, step, learning rate)
    if model.transferred_layers:
        summary.transferred_layers = model.transferred_layers
    batches = math.ceil(data.train.size / training.batch_size)  # per epoch
    how = compiled.plan(spec, model, batches)
    summary.update(**how.record())
    prepare = batch_preparer(spec, description)
    initial_epoch = resume.entry.epoch if resume else 0
    validation_batch = VALIDATION_BATCH
    if how.steps:  # annctl's train function on chunks: one stream of every epoch, one iterator
        train_data, steps_per_epoch = training_stream(
            data.train,
            training.batch_size,
            training.shuffle,
            spec.seed,
            prepare,
            how.steps,
            range(initial_epoch, training.epochs),
        )
        epoch_variable, steps = None, batches
        compiled.install(model, training.batch_size, how)
        validation_batch = max(compiled.VALIDATION_BATCH, training.batch_size)
    else:  # Keras' `fit` steps (a distribution strategy, jit_compile: false): a new iterator each epoch
        train_data, epoch_variable, steps = training_dataset(
            data.train, training.batch_size, training.shuffle, spec.seed, prepare
        )
        steps_per_epoch = None
    validation_data = ordered_dataset(data.validation, validation_batch, prepare)

    def update_summary(epoch: int, logs: dict, checkpoints) -> None:
        summary.update(
            **how.record(),  # XLA may refuse the model only when it first compiles it
            epochs_completed=epoch + 1,
            best_epoch=checkpoints.best_epoch,
            best=Best(monitor=checkpoints.monitor, mode=checkpoints.mode, value=checkpoints.best),
            final_metrics={k: float(v) for k, v in logs.items()},
        )
        write_summary(run_dir, summary)
        fault_point("epoch_end")

    built = build_callbacks(
        spec,
        run_dir,
        epoch_variable=epoch_variable,
        steps=steps,
        batches_per_call=how.steps or 1,
        reporter=reporter,
        update_summary=update_summary,
        stop_request=stop_request,
        extra=extra,
        saved=saved,
        manifest=resume.manifest if resume else None,
        metrics_rows=resume.rows if resume else None,
        best_weights=best_weights,
        checkpoint_files=not search_trial,
        probe=probe_batch(data.train, prepare) if spec.output.step_gradient_norms else None,
    )
    reporter.run_start(run_dir, spec, data.train_size)
    if _stopped_early(saved.get("early_stopping")) or initial_epoch >= training.epochs:
        # killed after its last epoch, before the final save: finish as EarlyStopping's on_train_end would
        if best_weights is not None and training.early_stopping and training.early_stopping.restore_best_weights:
            model.set_weights(best_weights)
    else:
        model.fit(
            train_data,
            validation_data=validation_data,
            epochs=training.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # the pipeline orders each epoch itself
            callbacks=built.callbacks,
            verbose=0,
        )
    if built.guard.diverged_epoch is not None:
        summary.update(status="diverged", diverged_epoch=built.guard.diverged_epoch)
        raise TrainingDiverged(divergence_message(run_dir, built.guard.diverged_epoch, training))
    stop_request.check()  # a stop requested after the last batch: stop before the final save
    model_path = RunPaths(run_dir).model
    with atomic_path(model_path, suffix=".keras") as tmp:
        model.save(tmp)
    total_seconds = sum(row["epoch_seconds"] for row in built.metrics_log.rows)
    test = {} if search_trial else split_metrics(model, spec, description, data.test)
    summary.update(
        status="completed",
        test_metrics=None if search_trial else scalar_metrics(test),
        train_samples_per_second=data.train_size * summary.epochs_completed / total_seconds if total_seconds else None,
        model_sha256=sha256_file(model_path),
    )
    summary.update(**spec.dataset.summary_fields(description, test))  # what this kind of input adds


def divergence_message(run_dir: Path, epoch: int, training) -> str:
    """What a diverged run leaves (only the checkpoints that exist) and the two cures: a lower learning rate
    and gradient clipping."""
    from annctl.modelio import saved_models

    kept = saved_models(run_dir)
    if kept:
        where = "; it keeps " + ", ".join(f"checkpoints/{which}.keras (epoch {e})" for which, e in kept.items())
        where += f" (use one with --checkpoint {' or '.join(kept)})"
    else:
        where = "; no checkpoint was saved (the first epoch did not end with a finite loss)"
    clipping = {name: getattr(training, name) for name in ("clipnorm", "clipvalue", "global_clipnorm")}
    clipped = {name: value for name, value in clipping.items() if value is not None}
    if clipped:
        name, value = next(iter(clipped.items()))
        clip = f"a smaller training.{name} (now {value:g})"
    else:
        clip = "gradient clipping with training.clipnorm (e.g. 1.0)"
    return (
        f"the loss became NaN or infinite in epoch {epoch}{where}. Try a lower training.learning_rate "
        f"(now {training.learning_rate:g}) or {clip}."
    )


def _stopped_early(saved: dict[str, Any] | None) -> bool:
    """Early stopping had already ended the run when it was killed (before the final model was saved)."""
    return bool(saved and saved.get("stopped_epoch"))
