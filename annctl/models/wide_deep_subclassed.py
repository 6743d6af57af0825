"""The same Wide & Deep network written by subclassing `keras.Model` (the course's Subclassing API)."""

from __future__ import annotations

from typing import Literal

from annctl.models import register_architecture
from annctl.models.base import Head
from annctl.models.wide_deep import WideDeepBase


@register_architecture
class WideDeepSubclassed(WideDeepBase):
    """Wide & Deep written as a `keras.Model` subclass (layers in __init__, computation in call)."""

    architecture: Literal["wide_deep_subclassed"] = "wide_deep_subclassed"

    def build(self, data, head: Head):
        from annctl.models.keras_wide_deep import WideAndDeepModel

        model = WideAndDeepModel(
            hidden_units=list(self.hidden_units),
            activation=self.activation,
            output_units=head.units,
            output_activation=head.activation,
            input_stats=self.input_stats(data),
            aux=bool(self.aux_output),
            name="wide_deep_subclassed",
        )
        fed = self.feed(data.x_train[:2], data.feature_names)
        model(fed)  # create the weights now, so transfer, summaries and saving see them
        return model
