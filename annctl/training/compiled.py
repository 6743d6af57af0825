"""Compiled steps: `training.steps_per_execution` batches per call, run as one XLA program (`jit_compile`).

A training step of a small dense network is bound by per-op overhead, not arithmetic: the course's
784-300-100-10 MLP does ~0.5 ms of matrix products per batch of 32 and Keras' `fit` spends ~1.3 ms on it,
even with `steps_per_execution` (which removes Python from the loop but still runs every op through
TensorFlow's executor). Keras' own `jit_compile` compiles one step per XLA call, and needs TensorFlow's op
determinism off. Here XLA compiles a whole chunk of batches into one program — loop, forward, gradients,
optimizer and metric updates fused — with op determinism on (TensorFlow's XLA path honours it; only Keras'
`jit_compile` refuses it).

The design keeps Keras everywhere but in one function. `fit` still runs the epochs, the callbacks (in their
order, with their logs), validation and `stop_training`; annctl replaces only ``model.train_function``, which
`fit` calls once per element of its training dataset:

- the pipeline (annctl.training.pipeline, :func:`~annctl.training.pipeline.training_stream`) yields every
  epoch through one iterator, in chunks of K×B rows in exactly the per-epoch order of Keras' own loop (which
  makes two new iterators an epoch, ~7 ms each), so slicing a chunk into B rows gives the same batches;
- the function runs Keras' own ``model.train_step`` on each batch of the chunk in a ``tf.while_loop`` inside
  one ``tf.function(jit_compile=True)``, then returns the model's metrics. Keras' loss and metric trackers,
  optimizer (schedules, loss scaling), regularisers and layers' random generators (dropout: their
  SeedGenerator states are variables, saved and restored as before) all stay Keras'. XLA compiles once: the
  epoch's last chunk is padded to the chunk's shape and runs only its full batches; its last batch, when
  smaller than the others, runs through the same train step in a plain graph (an XLA compilation costs about
  a second of CPU here, a plain trace a tenth of that; once an epoch, the batch gains nothing from XLA).
- without XLA (`auto` on an epoch too small to pay for the compilation, a layer XLA cannot compile), the same
  chunks run in one plain graph traced once: the same train step on the same batches as Keras' `fit`, with
  the same numbers (tests/test_compiled_steps.py).

Callbacks see one batch end per chunk, as with ``steps_per_execution`` in `fit`: a stop request, a NaN guard
or a fault point acts at a chunk boundary, and the progress bridge counts K batches per call. Validation
runs Keras' test step on batches of :data:`VALIDATION_BATCH` rows (one call each, no XLA needed: a few ops
per thousand rows; 3-4× less validation time than 32-row batches one per call, measured on the Fashion-MNIST
MLP). An annctl epoch loop instead of `fit` would have to re-implement all of the above (callback order,
validation, logs, `stop_training`, history) for the few milliseconds an epoch `fit`'s own loop costs.

XLA where it pays and works (:func:`plan`): an epoch of at least one full chunk (else XLA's compile time
outweighs the gain), every layer XLA can compile (Keras marks those it cannot: text lookups, some random
augmentations, cuDNN RNNs); a model XLA refuses only when it compiles it runs the same chunks without XLA.
Keras' `fit` runs the steps itself under a distribution strategy (Keras' strategies wrap the step in their
own replica functions) and with ``jit_compile: false`` (the numbers of annctl before compiled steps).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from annctl.errors import SpecError
from annctl.spec import ExperimentSpec

# Rows per validation batch on the compiled path (at least the training batch): the val_ metrics are the same
# means as with 32-row batches, up to float rounding.
VALIDATION_BATCH = 1024


@dataclass
class Plan:
    """How a run trains, for summary.json: chunks of ``steps`` batches per call (None: Keras' `fit` step by
    step), compiled by XLA or not (``jit``), and why `auto` runs without XLA (``reason``)."""

    steps: int | None
    jit: bool = False
    reason: str | None = None
    required: bool = False  # jit_compile: true

    def record(self) -> dict:
        return {"jit_compile": self.jit, "compiled_steps": self.steps, "jit_fallback": self.reason}


def plan(spec: ExperimentSpec, model, batches_per_epoch: int) -> Plan:
    """Chunks of ``steps_per_execution`` batches wherever Keras' `fit` does not have to run the steps itself
    (no distribution strategy, ``jit_compile`` not false); compiled by XLA where ``jit_compile`` allows it and
    the model supports it. `auto` also wants at least one full chunk per epoch: on smaller data the epoch is
    mostly validation and bookkeeping, and XLA's compile time (a second or more at start) would not pay. A
    model XLA cannot compile is a SpecError (exit 2) with ``jit_compile: true``."""
    training = spec.training
    if training.jit_compile is False:
        return Plan(None)
    if training.distribution != "none":  # jit_compile: true with a strategy is refused when the spec is read
        return Plan(None, reason=f"distribution {training.distribution} runs its own replica functions")
    required = training.jit_compile is True
    steps = training.steps_per_execution
    reason = unsupported(spec, model)
    if reason is not None:
        if required:
            raise SpecError([refusal(reason)])
        return Plan(steps, reason=reason)
    if not required and batches_per_epoch < steps:
        return Plan(
            steps,
            reason=f"an epoch has {batches_per_epoch} batches, fewer than steps_per_execution "
            f"({steps}): compiling would cost more than it saves",
        )
    return Plan(steps, jit=True, required=required)


def refusal(reason: str) -> str:
    return f"training.jit_compile: true, but {reason}; set jit_compile: auto (or false) to train this model"


def unsupported(spec: ExperimentSpec, model) -> str | None:
    """Why XLA cannot compile this model's training steps (as far as the model tells), or None."""
    from annctl import compat

    refused = sorted({type(layer).__name__ for layer in compat.flatten_layers(model) if not layer.supports_jit})
    if refused:
        return f"XLA cannot compile layer {', '.join(refused)}"
    inputs = getattr(model, "inputs", None) or []
    if any("string" in str(getattr(tensor, "dtype", "")) for tensor in inputs):
        return "the model takes text inputs"
    return None


def install(model, batch_size: int, how: Plan) -> None:
    """Make ``model.fit`` train one chunk per call: its dataset must yield chunks (annctl.training.pipeline's
    ``training_stream``)."""
    model.steps_per_execution = 1  # one chunk per call; the chunk holds the batches
    model.train_function = ChunkTrainer(model, batch_size, how)


class ChunkTrainer:
    """``model.train_function`` for chunks: Keras' train step on each batch of a chunk, in one call.

    With XLA, each full chunk runs as one XLA program (compiled once: the epoch's last chunk is padded to the
    chunk's shape and runs only its full batches) and the epoch's last batch, when smaller than the others,
    runs in the plain graph. Without XLA, every chunk runs in one plain graph traced once for any number of
    rows (the batch dimension unknown): the same train step on the same batches as Keras' `fit`.

    Some models XLA refuses only when it compiles them (e.g. max pooling, whose gradient has no deterministic
    XLA kernel): the first call then runs the plain graph from then on (nothing ran yet: XLA compiles before
    it executes), and ``how`` says why — or, with ``jit_compile: true``, it is a SpecError.
    """

    def __init__(self, model, batch_size: int, how: Plan):
        import tensorflow as tf

        self.model, self.batch_size, self.how = model, batch_size, how
        self.batches = how.steps
        self.full_batches = tf.function(self._train_batches, jit_compile=True)
        # the epoch's last batch after XLA's chunks, traced for its own shape (once an epoch: XLA would not pay)
        self.last_batch = tf.function(self._train_batch)
        self.plain = None  # without XLA: traced on the first call for any chunk (the dataset's element spec)
        self._compiled = False

    def __call__(self, iterator):
        import tensorflow as tf

        x, y = next(iterator)
        if self.plain is None:
            self.plain = tf.function(self._train_rows, input_signature=iterator.element_spec)
        if not self.how.jit:
            return self.plain(x, y)
        rows = tf.nest.flatten(y)[0].shape[0]
        full, tail = divmod(rows, self.batch_size)
        chunk_rows = self.batch_size * self.batches
        logs = None
        if full:
            padded = (x, y)
            if rows < chunk_rows:  # the epoch's last chunk: padded to the chunk's shape (one compilation)
                pad = lambda a: tf.pad(a, [(0, chunk_rows - rows)] + [(0, 0)] * (a.shape.rank - 1))  # noqa: E731
                padded = tf.nest.map_structure(pad, (x, y))
            logs = self._run_full(*padded, tf.constant(full))
            if logs is None:  # XLA refused the model: this chunk and the rest run in the plain graph
                return self.plain(x, y)
        if tail:  # the epoch's last batch, smaller than the others
            rest = lambda a: a[full * self.batch_size : rows]  # noqa: E731
            logs = self.last_batch(*tf.nest.map_structure(rest, (x, y)))
        return logs

    def _run_full(self, x, y, count):
        """The compiled chunk's logs, or None when XLA refuses the model (then ``how`` says why)."""
        import tensorflow as tf

        if self._compiled:
            return self.full_batches(x, y, count)
        try:
            logs = self.full_batches(x, y, count)
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError) as error:
            if "xla" not in str(error).lower():
                raise
            reason = f"XLA cannot compile it here: {str(error).strip().splitlines()[0]}"
            if self.how.required:
                raise SpecError([refusal(reason)]) from None
            self.how.jit, self.how.reason = False, reason
            return None
        self._compiled = True
        return logs

    def _train_batches(self, x, y, count):
        """Keras' train step on the first ``count`` batches of the padded chunk ``(x, y)``, then the metrics."""
        import tensorflow as tf

        size, batches = self.batch_size, self.batches
        split = lambda a: tf.reshape(a, (batches, size, *a.shape[1:]))  # noqa: E731
        xs, ys = tf.nest.map_structure(split, x), tf.nest.map_structure(split, y)

        def step(i):
            take = lambda a: a[i]  # noqa: E731
            self.model.train_step((tf.nest.map_structure(take, xs), tf.nest.map_structure(take, ys)))
            return (i + 1,)

        # runs while the function is traced: for XLA, dropout masks drawn the way XLA runs fast
        with xla_dropout():
            tf.while_loop(lambda i: i < count, step, (tf.constant(0),))
        return self.model.get_metrics_result()

    def _train_batch(self, x, y):
        self.model.train_step((x, y))
        return self.model.get_metrics_result()

    def _train_rows(self, x, y):
        """Keras' train step on each ``batch_size`` rows of ``(x, y)`` in order (the last batch may be smaller),
        then the metrics."""
        import tensorflow as tf

        size = self.batch_size
        rows = tf.shape(tf.nest.flatten(y)[0])[0]

        def step(start):
            take = lambda a: a[start : tf.minimum(start + size, rows)]  # noqa: E731
            self.model.train_step((tf.nest.map_structure(take, x), tf.nest.map_structure(take, y)))
            return (start + size,)

        tf.while_loop(lambda start: start < rows, step, (tf.constant(0),))
        return self.model.get_metrics_result()


@contextlib.contextmanager
def xla_dropout() -> Iterator[None]:
    """While a compiled chunk is traced, Keras' dropout (``Dropout``, ``SpatialDropout``, recurrent cells'
    dropout, attention dropout: all call ``keras.src.backend.random.dropout``) draws its mask with
    ``tf.random.stateless_uniform`` (ThreeFry) and ``tf.where``.

    Keras' own implementation (``tf.nn.experimental.stateless_dropout``) ran ~12× slower inside an XLA program
    on this CPU: the search's 512-256-128 MLP with dropout 0.34 took 17.5 s per Fashion-MNIST epoch against
    1.0 s without dropout and 1.75 s on Keras' `fit` (2026-11-30; plain Keras with `jit_compile=True` shows
    the same). The mask is drawn from the same seed (the layer's SeedGenerator, advanced as Keras does), keeps
    an element with probability 1 - rate and scales it by 1 / (1 - rate), as Keras' does; only the random
    numbers differ, as they already do between XLA and TensorFlow's own kernels. Saved models keep Keras'
    plain layers: nothing of this is stored."""
    from annctl import compat

    backend_random = compat.keras_backend_random()
    original = backend_random.dropout

    def dropout(inputs, rate, noise_shape=None, seed=None):
        import tensorflow as tf

        if not isinstance(rate, int | float) or rate in (0.0, 1.0):
            return original(inputs, rate, noise_shape=noise_shape, seed=seed)
        seed = backend_random._cast_seed(backend_random.draw_seed(seed))
        shape = backend_random._get_concrete_noise_shape(inputs, noise_shape)
        keep = tf.random.stateless_uniform(shape, seed=seed, alg="threefry") >= rate
        return tf.where(keep, inputs * tf.cast(1 / (1 - rate), inputs.dtype), tf.zeros((), inputs.dtype))

    backend_random.dropout = dropout
    try:
        yield
    finally:
        backend_random.dropout = original
