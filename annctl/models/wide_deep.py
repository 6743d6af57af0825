"""Wide & Deep (Cheng et al. 2016) with Keras' Functional API, as the course builds it.

The input (or the `wide_features`) goes straight to the output layer beside the deep path's output; with
`wide_features` and `deep_features` the model has two named inputs, `wide` and `deep`; `aux_output` adds a
second head on the deep path (the course's regularising auxiliary output).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from annctl.errors import SpecError
from annctl.models.base import Activation, ArchitectureSpec, Head, output_layer
from annctl.models.registry import register_architecture
from annctl.specbase import StrictModel

FeatureRef = Annotated[str, Field(min_length=1)] | Annotated[int, Field(ge=0, le=100_000)]


class AuxOutput(StrictModel):
    """A second output on the deep path, trained with a share of the loss."""

    loss_weight: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Share of the loss for the auxiliary output "
        "(the main output gets 1 − loss_weight; the course uses 0.1).",
    )


class WideDeepBase(ArchitectureSpec):
    """Fields and wiring shared by the functional and the subclassed Wide & Deep."""

    hidden_units: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        [30, 30], min_length=1, max_length=64, description="Units of each layer of the deep path."
    )
    activation: Activation = Field("relu", description="Activation of the deep path.")
    wide_features: list[FeatureRef] | None = Field(
        None, min_length=1, description="Features (names or indices) of the wide input; with deep_features: two inputs."
    )
    deep_features: list[FeatureRef] | None = Field(
        None, min_length=1, description="Features (names or indices) of the deep input; may overlap wide_features."
    )
    aux_output: AuxOutput | None = Field(None, description="Add an auxiliary output on the deep path.")

    @model_validator(mode="after")
    def _both_or_neither(self):
        if (self.wide_features is None) != (self.deep_features is None):
            raise ValueError("wide_features: give both wide_features and deep_features, or neither")
        return self

    @property
    def multi_input(self) -> bool:
        return self.wide_features is not None

    def output_names(self) -> list[str]:
        return ["main", "aux"] if self.aux_output else ["output"]

    def loss_weights(self):
        if not self.aux_output:
            return None
        return {"main": 1.0 - self.aux_output.loss_weight, "aux": self.aux_output.loss_weight}

    def columns(self, refs, feature_names: list[str], field: str) -> list[int]:
        indices = []
        for ref in refs:
            if isinstance(ref, int):
                if ref >= len(feature_names):
                    raise SpecError(
                        [
                            f"model.{field}: index {ref} is out of range; the data has "
                            f"{len(feature_names)} features ({', '.join(feature_names)})"
                        ]
                    )
                indices.append(ref)
            elif ref in feature_names:
                indices.append(feature_names.index(ref))
            else:
                raise SpecError([f"model.{field}: no feature {ref!r}; features: {', '.join(feature_names)}"])
        return indices

    def feed(self, x, description):
        if not self.multi_input:
            return x
        import numpy as np

        names = description.feature_names
        wide = self.columns(self.wide_features, names, "wide_features")
        deep = self.columns(self.deep_features, names, "deep_features")
        if isinstance(x, np.ndarray):  # new rows (predict: no TensorFlow on the light path)
            return {"wide": np.take(x, wide, axis=1), "deep": np.take(x, deep, axis=1)}
        import keras

        return {"wide": keras.ops.take(x, wide, axis=1), "deep": keras.ops.take(x, deep, axis=1)}

    def input_stats(self, description) -> dict[str, tuple[list[float], list[float]]]:
        """Mean and variance of each input's columns on the training split (for the Normalization layers)."""
        if description.has_text or description.fill_values:
            raise SpecError(
                [
                    f"model.architecture: {self.architecture} takes complete numeric features; for text "
                    "columns or missing values use mlp, or pick numeric columns with dataset.features"
                ]
            )
        names = description.feature_names
        if self.multi_input:
            parts = {
                "wide": self.columns(self.wide_features, names, "wide_features"),
                "deep": self.columns(self.deep_features, names, "deep_features"),
            }
        else:
            parts = {"features": list(range(len(names)))}
        stats = {}
        for name, columns in parts.items():
            features = [description.features[i] for i in columns]
            if description.normalize:
                stats[name] = ([f.mean for f in features], [f.variance for f in features])
            else:
                stats[name] = ([0.0] * len(features), [1.0] * len(features))
        return stats


@register_architecture
class WideDeep(WideDeepBase):
    """Wide & Deep (Functional API): the input joins the deep path's output; optional second input and aux output."""

    architecture: Literal["wide_deep"] = "wide_deep"
    example: ClassVar[dict] = {
        "hidden_units": [4],
        "wide_features": [0, 1],
        "deep_features": [1, 2],
        "aux_output": {"loss_weight": 0.2},
    }

    def build(self, description, block, head: Head):
        import keras

        stats = self.input_stats(description)
        inputs, normalized = {}, {}
        for name, (mean, variance) in stats.items():
            inputs[name] = keras.Input(shape=(len(mean),), name=name)
            normalized[name] = keras.layers.Normalization(mean=mean, variance=variance, name=f"normalize_{name}")(
                inputs[name]
            )
        wide = normalized.get("wide", normalized.get("features"))
        deep = normalized.get("deep", normalized.get("features"))
        for i, units in enumerate(self.hidden_units, start=1):
            deep = keras.layers.Dense(units, activation=self.activation, name=f"hidden_{i}")(deep)
        joined = keras.layers.Concatenate(name="concat")([wide, deep])
        main = self.output_names()[0]
        outputs = {main: output_layer(head, main)(joined)}
        if self.aux_output:
            outputs["aux"] = output_layer(head, "aux")(deep)
        model_inputs = inputs if self.multi_input else inputs["features"]
        model_outputs = outputs if self.aux_output else outputs["output"]
        return keras.Model(inputs=model_inputs, outputs=model_outputs, name="wide_deep")
