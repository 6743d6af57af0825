"""Issue 29, item 18 (the plurals): a count of one is written in the singular — `up to 1 epoch`,
`(and 1 more bad file)` — by the one helper every message uses (annctl.wording.plural)."""

from __future__ import annotations

import subprocess

import pytest
from PIL import Image

from annctl.config import load_spec
from annctl.errors import DataError
from annctl.wording import plural
from tests.conftest import EXPERIMENTS
from tests.terminal import annctl_command


def test_plural():
    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert plural(1, "more bad file") == "1 more bad file"


def test_validate_says_up_to_1_epoch():
    result = subprocess.run(
        [*annctl_command(), "validate", str(EXPERIMENTS / "iris_mlp.yaml"), "--set", "training.epochs=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("up to 1 epoch"), result.stdout


@pytest.mark.slow  # decoding the images imports TensorFlow
def test_one_more_bad_file(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8)).save(tmp_path / "photos" / name / f"{i}.png")
    for name in ("a.png", "b.png"):
        (tmp_path / "photos" / "cats" / name).write_bytes(b"not an image")
    experiment = tmp_path / "pets.yaml"
    experiment.write_text(
        "name: pets\ndataset: {name: image_folder, path: photos, image_size: [8, 8]}\nmodel: {architecture: cnn}\n"
    )
    with pytest.raises(DataError, match=r"\(and 1 more bad file\); remove it"):
        load_spec(experiment).dataset.load(0)
