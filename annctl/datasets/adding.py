"""The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015), generated from the seed: the
textbook long-range test that a plain recurrence fails and an LSTM or GRU passes.

Each sequence has `steps` time steps of two features: a value drawn uniformly from [0, 1), and a marker that is
1 at exactly two steps, one in each half of the sequence. The target is the sum of the two marked values. The
first marker lies at least `steps / 2` steps before the end, so the error of the answer must travel that far
back through time. Always answering 1.0 (the mean of the sum) gives MSE 1/6 ≈ 0.167: the bar a model clears only
once it has learned to remember, reported beside the model's test MSE as a forecast's naive baseline is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from annctl.datasets.base import ArraySplit, Data, Example, Feature, InputDescription, Warn
from annctl.datasets.inline_sequence import ArrayReader
from annctl.datasets.registry import register_dataset
from annctl.datasets.timeseries import SequenceDataset
from annctl.errors import DataError
from annctl.wording import shown_path

CONSTANT = 1.0  # the baseline's answer: the expected sum of two uniform [0, 1) values


@register_dataset
class Adding(SequenceDataset):
    """The adding problem, generated: sequences of (value, marker) steps, target = the two marked values' sum.

    Regression; always answering 1.0 gives MSE ≈ 0.167, reported as the baseline."""

    name: Literal["adding"] = "adding"
    steps: int = Field(
        150,
        ge=2,
        le=10_000,
        description="Time steps per sequence; the first marker lies in the first half, so the answer must be "
        "remembered for at least steps / 2 steps.",
    )
    samples: int = Field(
        12_500,
        ge=3,
        le=1_000_000,
        description="Sequences generated (all splits together), from the experiment's seed.",
    )
    validation_split: float = Field(0.1, gt=0, lt=1, description="Fraction of the sequences that validates.")
    test_split: float = Field(0.1, gt=0, lt=1, description="Fraction of the sequences held out for testing.")

    @model_validator(mode="after")
    def _check(self) -> Adding:
        if self.validation_split + self.test_split >= 1:
            raise ValueError(
                f"validation_split + test_split: {self.validation_split} + {self.test_split} leaves no training "
                "sequences"
            )
        sizes = self.split_sizes()
        if min(sizes) < 1:
            raise ValueError(
                f"samples: {self.samples} sequences split into {sizes[0]} training, {sizes[1]} validation and "
                f"{sizes[2]} test sequences; each split needs at least one (raise samples)"
            )
        return self

    @classmethod
    def example(cls, directory):
        import numpy as np

        path = Path(directory) / "adding.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        x, _ = generate(8, 3, np.random.default_rng(0))
        np.save(path, x)
        return Example({"name": "adding", "steps": 8, "samples": 40}, new_inputs=path)

    def known_task(self):
        return "regression"

    def split_sizes(self) -> tuple[int, int, int]:
        """Sequences in the training, validation and test splits."""
        validation = int(round(self.samples * self.validation_split))
        test = int(round(self.samples * self.test_split))
        return self.samples - validation - test, validation, test

    def load(self, seed: int) -> Data:
        import numpy as np

        x, y = generate(self.steps, self.samples, np.random.default_rng(seed))
        train, validation, _ = self.split_sizes()
        description = InputDescription(
            kind="sequence",
            shape=[self.steps, 2],
            dtype="float32",
            features=[Feature(name="value"), Feature(name="marker")],
            normalize=False,
            task="regression",
            target_name="sum",
            details={"window": self.steps, "horizon": 1, "baseline": f"always {CONSTANT}"},
        )
        ends = (train, train + validation)
        train_split = AddingSplit(x[: ends[0]], y[: ends[0]])
        if self.max_train_samples:
            train_split = train_split.head(self.max_train_samples)
        return Data(
            description,
            train_split,
            AddingSplit(x[ends[0] : ends[1]], y[ends[0] : ends[1]]),
            AddingSplit(x[ends[1] :], y[ends[1] :]),
        )

    def reader(self, description: InputDescription, source: str, *, chunk_rows: int, warn: Warn | None = None):
        return AddingReader(description, source, chunk_rows=chunk_rows)


def generate(steps: int, samples: int, rng):
    """``samples`` sequences (samples, steps, 2) of (value, marker) and their targets (samples,), float32."""
    import numpy as np

    values = rng.random((samples, steps))
    half = steps // 2
    first = rng.integers(0, half, size=samples)  # one marker in each half
    second = rng.integers(half, steps, size=samples)
    rows = np.arange(samples)
    markers = np.zeros((samples, steps))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values[rows, first] + values[rows, second]).astype("float32")
    return x, y


class AddingSplit(ArraySplit):
    """A split of the adding problem; its baseline answers 1.0 for every sequence."""

    def head(self, rows: int) -> AddingSplit:
        return AddingSplit(self.x[:rows], self.y[:rows])

    def naive_forecast(self):
        import numpy as np

        return np.full_like(self.y, CONSTANT)


class AddingReader(ArrayReader):
    """New sequences for an `adding` run: a .npy/.npz array (N, steps, 2) of (value, marker) steps."""

    def read_labeled(self, path: Path):
        raise DataError(
            f"{shown_path(path)}: --data is not supported for adding runs (evaluate the test split instead)"
        )
