"""`training.distribution`: TensorFlow's strategies, this process's role in a cluster, and two Keras shims.

`multi_worker` uses tf.distribute.MultiWorkerMirroredStrategy, configured by the standard $TF_CONFIG: every
machine runs the same `annctl train EXP.yaml`; the chief (task type `chief`, else worker 0) writes the run
directory, the others train into a temporary directory they delete, so they write nothing under the runs
root. Every worker must run every step (the gradients are all-reduced), so all of them also save checkpoints
and evaluate; only the chief's files are kept.

Keras 3.15's `fit` does not work under MultiWorkerMirroredStrategy (keras-team/keras#20585), for two reasons
that `_patch_keras_for_multi_worker` fixes, in the TensorFlow trainer only and only once a multi-worker
strategy exists in the process:
1. `_maybe_symbolic_build` all-reduces a *data batch* to learn its shapes, which fails for PerReplica input
   values; any one local replica's batch has the shapes it needs.
2. `reduce_per_replica` reduces the per-replica logs (scalar metric results) over axis 0, which scalars do
   not have; across workers they are averaged as a whole.
With these, two workers on loopback train to the same weights as one process with the same global batch
(tests/test_multi_worker.py). Keras' multi-step loop (`steps_per_execution` > 1) still fails with
collectives, hence steps_per_execution 1. `python benchmarks/multi_worker_probe.py` checks whether plain
Keras has caught up.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

from annctl.errors import UsageError


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in a $TF_CONFIG cluster."""

    task_type: str
    index: int
    count: int  # machines that train: chief + workers
    chief: bool

    def describe(self) -> str:
        return f"{self.task_type} {self.index} ({'chief, ' if self.chief else ''}{self.count} machines)"


def worker_role(environ: dict[str, str] | None = None) -> WorkerRole:
    """Read $TF_CONFIG (without importing TensorFlow); a usage error if it is missing or not a training role."""
    text = (environ if environ is not None else os.environ).get("TF_CONFIG", "")
    if not text.strip():
        raise UsageError(
            "training.distribution multi_worker: TF_CONFIG is not set; set it on each machine to "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": I}} '
            "(see docs/how-to/multi-worker.md)"
        )
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, index = str(task["type"]), int(task["index"])
        chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"TF_CONFIG: not a cluster spec with cluster.worker and task.type/index ({error})") from None
    members = {"chief": chiefs, "worker": workers}
    if task_type not in members:
        raise UsageError(f"TF_CONFIG: task type {task_type!r}: annctl runs chief and worker tasks only")
    if not 0 <= index < len(members[task_type]):
        raise UsageError(f"TF_CONFIG: task index {index} is not in cluster.{task_type} ({len(members[task_type])})")
    chief = task_type == "chief" or (not chiefs and index == 0)
    return WorkerRole(task_type, index, len(chiefs) + len(workers), chief)


_STRATEGIES: dict[str, object] = {}


def strategy(kind: str):
    """The process's tf.distribute strategy for ``kind`` (created once: TensorFlow allows one multi-worker
    strategy per process), or None for `none`."""
    if kind == "none":
        return None
    if kind not in _STRATEGIES:
        import tensorflow as tf

        if kind == "mirrored":
            _STRATEGIES[kind] = tf.distribute.MirroredStrategy()
        else:
            worker_role()  # a clear message before TensorFlow's
            _STRATEGIES[kind] = tf.distribute.MultiWorkerMirroredStrategy()
            _patch_keras_for_multi_worker()
    return _STRATEGIES[kind]


@contextlib.contextmanager
def distribution_scope(kind: str) -> Iterator[None]:
    """Build and compile under the strategy; Keras then trains with it."""
    chosen = strategy(kind)
    if chosen is None:
        yield
        return
    with chosen.scope():
        yield


def is_multi_worker(model) -> bool:
    """The model was built under a multi-worker strategy: `predict_on_batch` would gather every worker's copy
    of the batch, so call the model instead."""
    return model.distribute_strategy is _STRATEGIES.get("multi_worker")


_PATCHED = False  # Keras' trainer is patched once per process


def _patch_keras_for_multi_worker() -> None:
    import tensorflow as tf
    from keras import tree

    from annctl import compat

    global _PATCHED
    if _PATCHED:
        return
    try:
        trainer = compat.keras_tensorflow_trainer()
    except (ImportError, compat.UpstreamChanged) as error:  # pragma: no cover - guards a Keras upgrade
        raise UsageError(f"training.distribution multi_worker: unsupported Keras version ({error})") from None

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        strategy = self.distribute_strategy

        def local_value(value):  # any one replica's part of the batch has the shapes the build needs
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(value)[0]
            return value

        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tree.map_structure(local_value, next(it))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original_reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
