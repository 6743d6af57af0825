"""Early stopping and the plateau schedule: Keras' own callbacks, made resumable. Like annctl's checkpoints
they decide "improved?" through Keras' MonitorCallback, honouring ``min_delta``."""

from __future__ import annotations

import keras

from annctl.training.callbacks.resumable import AttributeState


class EarlyStopping(AttributeState, keras.callbacks.EarlyStopping):
    state_key = "early_stopping"
    STATE = ("wait", "stopped_epoch", "best", "best_epoch")

    def __init__(self, *args, best_weights=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._resumed_best_weights = best_weights  # from best.keras: restore_best_weights after a resume

    def restore(self, state):
        super().restore(state)
        if self._resumed_best_weights is not None:
            self.best_weights = self._resumed_best_weights


class ReduceLROnPlateau(AttributeState, keras.callbacks.ReduceLROnPlateau):
    state_key = "reduce_lr"
    STATE = ("wait", "cooldown_counter", "best")
