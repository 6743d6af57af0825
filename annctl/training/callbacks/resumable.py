"""The one protocol by which a resumed run gets back what Keras does not save with the weights.

Every callback with state a resumed run needs — early stopping, the plateau schedule, the checkpoints' best
value, the layers' random-generator states (dropout masks) — is a :class:`Resumable`: ``state()`` is written
to the checkpoint manifest after each epoch, and a saved state given to ``resume_from`` is applied by
``restore`` at the start of training, after Keras' own ``on_train_begin`` has reset the callback.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras


class Resumable:
    """Mixin for a Keras callback with resumable state (put it first among the bases)."""

    state_key: ClassVar[str]  # its entry in the manifest's state
    _saved: dict[str, Any] | None = None  # the state to re-apply when training begins (resume_from)

    def resume_from(self, saved: dict[str, Any] | None) -> Resumable:
        self._saved = saved
        return self

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._saved:
            self.restore(self._saved)

    def state(self) -> dict[str, Any]:  # pragma: no cover - every resumable overrides it
        raise NotImplementedError

    def restore(self, state: dict[str, Any]) -> None:  # pragma: no cover - every resumable overrides it
        raise NotImplementedError


def plain(value: Any) -> Any:
    """A JSON-ready number (Keras keeps some of its state as numpy scalars or tensors)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return float(value)


class AttributeState(Resumable):
    """State that is a few attributes of the callback (``STATE``); ``best`` is a float."""

    STATE: ClassVar[tuple[str, ...]] = ()

    def state(self) -> dict[str, Any]:
        return {key: plain(getattr(self, key, None)) for key in self.STATE}

    def restore(self, state: dict[str, Any]) -> None:
        for key in self.STATE:
            if key in state:
                setattr(self, key, float(state[key]) if key == "best" and state[key] is not None else state[key])


class RandomStates(Resumable, keras.callbacks.Callback):
    """The random-generator states of the model's layers (dropout, noise): without them a resumed run would
    draw other dropout masks than an uninterrupted one."""

    state_key = "rng"

    def state(self) -> dict[str, list[int]]:
        return {
            variable.path: [int(v) for v in keras.ops.convert_to_numpy(variable.value).ravel()]
            for variable in self.model.variables
            if variable.name == "seed_generator_state"
        }

    def restore(self, state: dict[str, list[int]]) -> None:
        import numpy as np

        for variable in self.model.variables:
            if variable.name == "seed_generator_state" and variable.path in state:
                variable.assign(np.asarray(state[variable.path], dtype=variable.dtype).reshape(variable.shape))
