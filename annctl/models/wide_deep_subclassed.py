"""The same Wide & Deep network written by subclassing `keras.Model` (the course's Subclassing API)."""

from __future__ import annotations

from typing import ClassVar, Literal

from annctl.models.base import Head
from annctl.models.registry import register_architecture
from annctl.models.wide_deep import WideDeep, WideDeepBase


@register_architecture
class WideDeepSubclassed(WideDeepBase):
    """Wide & Deep written as a `keras.Model` subclass (layers in __init__, computation in call)."""

    architecture: Literal["wide_deep_subclassed"] = "wide_deep_subclassed"
    example: ClassVar[dict] = {
        "hidden_units": [4],
        "wide_features": [0],
        "deep_features": [1, 2],
        "aux_output": {"loss_weight": 0.1},
    }

    def functional_twin(self) -> WideDeep:
        """The same network with the Functional API (`annctl export --format keras` rebuilds it so that plain
        Keras loads the file without this class; same layer names, so the weights copy by name)."""
        return WideDeep(**self.model_dump(exclude={"architecture"}))

    def build(self, description, block, head: Head):
        import numpy as np

        from annctl.models.keras_wide_deep import WideAndDeepModel

        model = WideAndDeepModel(
            hidden_units=list(self.hidden_units),
            activation=self.activation,
            output_units=head.units,
            output_activation=head.activation,
            input_stats=self.input_stats(description),
            aux=bool(self.aux_output),
            name="wide_deep_subclassed",
        )
        sample = np.zeros((2, len(description.features)), dtype="float32")
        model(self.feed(sample, description))  # create the weights now, so transfer, summaries and saving see them
        return model
