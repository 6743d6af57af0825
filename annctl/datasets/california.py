"""California housing (1990 census districts) through scikit-learn's cache, as the course uses it."""

from __future__ import annotations

from typing import Literal

from annctl.datasets.base import Data, Example
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import TabularSpec
from annctl.errors import DataError

# scikit-learn's feature_names for this dataset, known without reading it (`annctl validate` checks `features`).
FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]


@register_dataset
class CaliforniaHousing(TabularSpec):
    """California housing: 20,640 districts, 8 features, median house value in $100,000 (regression)."""

    name: Literal["california_housing"] = "california_housing"

    @classmethod
    def example(cls, directory):
        import os

        if not os.environ.get("SCIKIT_LEARN_DATA"):
            return None  # the real cache only; nothing to generate
        return Example({"name": "california_housing", "max_train_samples": 300})

    def known_task(self):
        return "regression"

    def problems(self):
        return self.known_names(FEATURES, None)

    def load(self, seed: int) -> Data:
        from sklearn.datasets import fetch_california_housing, get_data_home

        try:
            housing = fetch_california_housing(download_if_missing=False)
        except OSError:
            raise DataError(
                "California housing not found in scikit-learn's data home "
                f"{get_data_home()} (cal_housing_py3.pkz). Set SCIKIT_LEARN_DATA to the folder that holds it, "
                "or run `python -c 'import sklearn.datasets as d; d.fetch_california_housing()'` "
                "once on a machine with internet access."
            ) from None
        x, y = housing.data.astype("float32"), housing.target.astype("float32")
        return self.finish(
            x, y, seed, task="regression", feature_names=list(housing.feature_names), target_name="MedHouseVal"
        )
