"""image_folder: the course's cats-and-dogs practical on tiny generated class folders — discovery, splits,
colour modes and sizes, augmentation, resume, predict, evaluate --data, the report, every bad input."""

import csv
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.errors import DataError, SpecError
from annctl.training import train

runner = CliRunner()


def write_tree(root: Path, per_class: int = 6, size=(10, 12), classes=("cats", "dogs"), mode="RGB", seed=0) -> Path:
    """Class folders of small images whose classes differ in brightness (learnable in an epoch or two)."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = (rng.integers(0, 100, (*size, 3)) + 150 * label).astype("uint8")
            Image.fromarray(pixels).convert(mode).save(folder / f"{name}_{i:02d}.png")
    return root


def experiment(tmp_path: Path, dataset: str = "", model: str = "", training: str = "", name: str = "catsdogs") -> Path:
    text = f"""name: {name}
seed: 3
dataset:
  name: image_folder
  path: training_set
  image_size: [10, 12]
{dataset}model:
  architecture: cnn
  filters: [4]
  dense_units: [8]
{model}training:
  epochs: 2
  batch_size: 4
{training}"""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def load(tmp_path: Path, seed: int = 3, **dataset):
    fields = {"name": "image_folder", "path": str(tmp_path / "training_set"), "image_size": [10, 12], **dataset}
    document = {"name": "t", "seed": seed, "dataset": fields, "model": {"architecture": "cnn"}}
    return spec_from_text(json.dumps(document), "<t>").dataset.load(seed)


def pixels_of(split) -> np.ndarray:
    return np.concatenate(list(split.x_batches(64)))


# --- discovery, splits, colour modes, sizes -----------------------------------------------------------------


def test_classes_are_sorted_folder_names_nested_files_count_and_hidden_ones_do_not(tmp_path):
    write_tree(tmp_path / "training_set", per_class=5, classes=("dogs", "cats", "birds"))
    nested = tmp_path / "training_set" / "cats" / "indoor"
    nested.mkdir()
    Image.new("RGB", (7, 9), "white").save(nested / "deep.jpg")
    (tmp_path / "training_set" / "cats" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "training_set" / ".hidden_class").mkdir()
    data = load(tmp_path, test_split=0.2, validation_split=0.25)
    assert data.class_names == ["birds", "cats", "dogs"]
    assert data.description.shape == [10, 12, 3] and data.description.kind == "image"
    assert data.train.size + data.validation.size + data.test.size == 16
    every = data.train.files + data.validation.files + data.test.files
    assert str(nested / "deep.jpg") in every and not any(".DS_Store" in f for f in every)
    for split in (data.train, data.validation, data.test):
        for file, label in zip(split.files, split.labels()):
            assert Path(file).relative_to(tmp_path / "training_set").parts[0] == data.class_names[label]


def test_splits_are_stratified_and_deterministic_in_the_seed(tmp_path):
    write_tree(tmp_path / "training_set", per_class=10)
    first, again, other = load(tmp_path, seed=1), load(tmp_path, seed=1), load(tmp_path, seed=2)
    for name in ("train", "validation", "test"):
        assert first.split(name).files == again.split(name).files
    assert first.train.files != other.train.files
    for split, per_class in ((first.test, 2), (first.validation, 2), (first.train, 6)):  # 20 % test, 20 % of the rest
        assert np.bincount(split.labels()).tolist() == [per_class, per_class]
    assert sorted(first.train.files + first.validation.files + first.test.files) == sorted(
        other.train.files + other.validation.files + other.test.files
    )


@pytest.mark.parametrize(
    "mode,expected",
    [("rgb", [200, 100, 50]), ("grayscale", [124]), ("rgba", [200, 100, 50, 255])],
)
def test_color_modes_convert_every_file_the_same_way(tmp_path, mode, expected):
    """A colour PNG, a grayscale JPEG-free PNG and an RGBA one, at odd sizes, all become the mode's channels."""
    root = tmp_path / "training_set"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i, size in enumerate([(13, 7), (10, 12), (31, 5)]):
            Image.new("RGB", size, (200, 100, 50)).save(root / name / f"rgb{i}.png")
            Image.new("RGBA", size, (200, 100, 50, 17)).save(root / name / f"rgba{i}.png")
            Image.new("RGB", size, (200, 100, 50)).save(root / name / f"pal{i}.gif")
    data = load(tmp_path, color_mode=mode, test_split=0.3, validation_split=0.3)
    images = pixels_of(data.train)
    assert images.dtype == np.uint8 and images.shape[1:] == (10, 12, len(expected))
    # GIF stores a palette colour; every other file keeps (200, 100, 50) exactly through the resize, RGBA
    # files keep their alpha (17) in rgba mode, and RGB files get an opaque one
    for image, file in zip(images, data.train.files):
        if "rgba" in Path(file).name and mode == "rgba":
            assert (image == [200, 100, 50, 17]).all()
        elif not file.endswith(".gif"):
            assert (image == np.asarray(expected, dtype="uint8")).all(), file
    assert data.description.details["color_mode"] == mode and data.description.channels == len(expected)


def test_a_grayscale_source_becomes_rgb_by_repeating_its_channel(tmp_path):
    write_tree(tmp_path / "training_set", mode="L")
    images = pixels_of(load(tmp_path).train)
    assert (
        images.shape[-1] == 3 and (images[..., 0] == images[..., 1]).all() and (images[..., 1] == images[..., 2]).all()
    )


def test_cnn_takes_any_size_and_the_course_network_is_expressible(tmp_path):
    from annctl.training.assemble import build_model

    write_tree(tmp_path / "training_set", per_class=3, size=(64, 64))
    text = f"""name: course
dataset: {{name: image_folder, path: {tmp_path / "training_set"}, image_size: [64, 64], validation_split: 0.34}}
model: {{architecture: cnn, filters: [32, 32], padding: valid, dense_units: [128]}}
"""
    spec = spec_from_text(text, "<course>")
    data = spec.dataset.load(0)
    from annctl.config import resolve

    model = build_model(resolve(spec, data.task, data.num_classes), data.description)
    # the course's Keras summary: 896 + 9248 conv weights, 14*14*32 = 6272 flattened, 802,944 + 129 dense
    assert model.count_params() == 896 + 9248 + 802_944 + 129
    assert model.output_shape == (None, 1) and model.layers[-1].activation.__name__ == "sigmoid"
    bigger = text.replace("padding: valid", "batch_norm: true, global_average_pooling: true, conv_dropout: 0.25")
    model = build_model(resolve(spec_from_text(bigger, "<gap>"), "classification", 2), data.description)
    names = [layer.name for layer in model.layers]
    assert {"batch_norm_1", "global_average_pooling"} <= set(names)
    # the block's dropout follows its pooling, once per block, at the rate asked
    assert [n for n in names if n.startswith(("pool_", "conv_dropout_"))] == [
        "pool_1",
        "conv_dropout_1",
        "pool_2",
        "conv_dropout_2",
    ]
    assert model.get_layer("conv_dropout_2").rate == 0.25
    assert not any(
        n.startswith("conv_dropout")
        for n in [
            layer.name for layer in build_model(resolve(spec, data.task, data.num_classes), data.description).layers
        ]
    )
    # two convolutions a block (VGG's stacks): each with its normalization, one pooling a block; with padding
    # valid each convolution trims the image, so four blocks fit 64×64 with one convolution a block, not two
    stacked = text.replace("padding: valid", "convs_per_block: 2, batch_norm: true")
    model = build_model(resolve(spec_from_text(stacked, "<stacked>"), "classification", 2), data.description)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith(("conv_", "batch_norm_", "pool_"))] == [
        "conv_1",
        "batch_norm_1",
        "conv_1_2",
        "batch_norm_1_2",
        "pool_1",
        "conv_2",
        "batch_norm_2",
        "conv_2_2",
        "batch_norm_2_2",
        "pool_2",
    ]
    assert model.get_layer("conv_2_2").kernel.shape == (3, 3, 32, 32)
    four = text.replace("filters: [32, 32]", "filters: [2, 2, 2, 2]")
    assert build_model(resolve(spec_from_text(four, "<four>"), "classification", 2), data.description)
    with pytest.raises(
        SpecError,
        match=r"block 4 of 4 shrinks the 64×64 input to nothing \(kernel_size 3, padding valid, "
        r"convs_per_block 2, pool_size 2\)",
    ):
        four_stacked = four.replace("padding: valid", "padding: valid, convs_per_block: 2")
        build_model(resolve(spec_from_text(four_stacked, "<four stacked>"), "classification", 2), data.description)
    shrinking = text.replace("filters: [32, 32]", "filters: [2, 2, 2, 2, 2, 2, 2]")
    with pytest.raises(
        SpecError, match=r"block 5 of 7 shrinks the 64×64 input to nothing \(kernel_size 3, padding valid"
    ):
        build_model(resolve(spec_from_text(shrinking, "<small>"), "classification", 2), data.description)


# --- augmentation ----------------------------------------------------------------------------------------------


def test_augmentation_layers_act_only_in_training(tmp_path):
    import keras

    from annctl.datasets.images import ImageBlock

    write_tree(tmp_path / "training_set", per_class=3)
    augmentation = dict(horizontal_flip=True, zoom=0.2, shear=0.2, rotation=15, translation=0.1, contrast=0.2)
    spec_fields = {"augmentation": {**augmentation, "brightness": 0.1}, "validation_split": 0.34}
    data = load(tmp_path, **spec_fields)
    text = json.dumps(
        {
            "name": "a",
            "dataset": {"name": "image_folder", "path": str(tmp_path / "training_set"), **spec_fields},
            "model": {"architecture": "cnn"},
        }
    )
    block = spec_from_text(text, "<a>").dataset.input_block(data.description)
    assert isinstance(block, ImageBlock)
    inputs, tensor = block.functional()
    model = keras.Model(inputs, tensor)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith("augment_")] == [
        "augment_flip",
        "augment_rotation",
        "augment_zoom",
        "augment_shear",
        "augment_translation",
        "augment_contrast",
        "augment_brightness",
    ]
    images = pixels_of(data.train)
    served = np.asarray(model(images, training=False))
    np.testing.assert_allclose(served, images / 255, atol=1e-6)  # inference: rescaled, untouched
    trained = np.asarray(model(images, training=True))
    assert not np.allclose(trained, images / 255, atol=1e-3)  # training: changed


RESUMABLE = """name: resumable_images
seed: 5
dataset:
  name: image_folder
  path: training_set
  image_size: [10, 12]
  augmentation: {horizontal_flip: true, zoom: 0.2, shear: 0.2, rotation: 10}
model: {architecture: cnn, filters: [3], dense_units: [6]}  # no dropout: the random states are augmentation's
training: {epochs: 4, batch_size: 4, optimizer: sgd, learning_rate: 0.05, momentum: 0.9}
"""


def annctl_process(args: list[str], runs: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANNCTL_RUNS_DIR": str(runs)}
    env.pop("ANNCTL_FAULT", None)
    if fault:
        env["ANNCTL_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "annctl", *args, "--quiet"], env=env, capture_output=True, text=True, timeout=300
    )


def metrics_rows(run_dir: Path) -> list[dict]:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    for row in rows:
        row.pop("epoch_seconds")
    return rows


@pytest.mark.reliability
def test_augmented_training_killed_after_an_epoch_resumes_exactly(tmp_path):
    write_tree(tmp_path / "training_set", per_class=8)
    path = tmp_path / "resumable_images.yaml"
    path.write_text(RESUMABLE)
    reference = annctl_process(["train", str(path)], tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    expected = metrics_rows(Path(reference.stdout.strip()))
    assert len({row["loss"] for row in expected}) == 4
    killed = annctl_process(["train", str(path)], tmp_path / "runs", fault="epoch_end:2")
    assert killed.returncode == -signal.SIGKILL
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "checkpoints" / "manifest.json").read_text())
    saved = manifest["last"]["state"]["callbacks"]["rng"]
    assert len(saved) == 4  # the four augmentation layers' generators
    resumed = annctl_process(["train", "--resume", str(run_dir)], tmp_path / "runs")
    assert resumed.returncode == 0, resumed.stderr
    assert metrics_rows(run_dir) == expected  # every epoch once, identical numbers
    reference_summary = json.loads((Path(reference.stdout.strip()) / "summary.json").read_text())
    assert json.loads((run_dir / "summary.json").read_text())["test_metrics"] == reference_summary["test_metrics"]


# --- a trained run: predict, evaluate, report --------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("catsdogs")
    write_tree(base / "training_set", per_class=8)
    write_tree(base / "test_set", per_class=3, seed=1)
    augmentation = "  augmentation: {horizontal_flip: true, zoom: 0.2, shear: 0.2}\n"  # the course's
    path = experiment(base, dataset="  test_path: test_set\n" + augmentation)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANNCTL_CACHE_DIR", str(base / "cache"))
        run_dir = Path(train(load_spec(path), base / "runs").run_dir)
    return {"run": run_dir, "base": base}


def outputs_of(run_dir: Path, images: np.ndarray) -> np.ndarray:
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    return np.asarray(model.predict(images, verbose=0))


def predict_rows(*args: str) -> list[dict]:
    result = runner.invoke(app, ["predict", *args])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


@pytest.mark.slow
def test_predict_one_photo_is_converted_exactly_as_training_converts_it(trained, tmp_path):
    """The course's single prediction: a photo of another size, as JPEG, gets the probability the model gives
    the pixels training's own pipeline makes of that file."""
    from annctl.datasets.images import Decoding, FileSplit
    from annctl.rundir import read_data_info as read_description

    photo = tmp_path / "cat_or_dog.jpg"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (37, 23, 3)).astype("uint8")).save(photo)
    description = read_description(trained["run"])
    split = FileSplit([str(photo)], [0], Decoding.of(description))
    as_trained = pixels_of(split)
    expected = outputs_of(trained["run"], as_trained)[0, 0]
    (row,) = predict_rows(str(trained["run"]), "--input", str(photo), "--top-k", "2")
    assert row["file"] == str(photo)
    assert row["prediction"] == ("dogs" if expected >= 0.5 else "cats")
    assert float(row["probability"]) == pytest.approx(max(expected, 1 - expected), abs=1e-6)
    assert [item.split(":")[0] for item in row["top_k"].split("|")][0] == row["prediction"]


def test_predict_a_folder_a_list_file_and_a_mismatched_colour_mode(trained, tmp_path):
    run = str(trained["run"])
    folder = trained["base"] / "test_set"
    rows = predict_rows(run, "--input", str(folder))
    files = sorted(str(p) for p in folder.rglob("*.png"))
    assert [r["file"] for r in rows] == files
    listed = tmp_path / "photos.txt"
    listed.write_text(f"# two photos\n{files[0]}\n\n{os.path.relpath(files[-1], tmp_path)}\n")
    rows_from_list = predict_rows(run, "--input", str(listed))
    assert [r["prediction"] for r in rows_from_list] == [rows[0]["prediction"], rows[-1]["prediction"]]
    # a grayscale photo for an RGB model: its gray channel repeated, as training converts one
    gray = tmp_path / "gray.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (10, 12)).astype("uint8")).save(gray)
    rgb = tmp_path / "rgb.png"
    Image.open(gray).convert("RGB").save(rgb)
    (from_gray,), (from_rgb,) = predict_rows(run, "-i", str(gray)), predict_rows(run, "-i", str(rgb))
    assert from_gray["probability"] == from_rgb["probability"] and from_gray["prediction"] == from_rgb["prediction"]


def test_predict_bad_inputs_name_the_file_and_leave_no_output(trained, tmp_path):
    run = str(trained["run"])
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    listed = tmp_path / "list.txt"
    listed.write_text("missing.png\n")
    for source, message in [
        (tmp_path / "broken.jpg", "broken.jpg: unreadable image"),
        (listed, "list.txt:1: 'missing.png': no such file"),
        (tmp_path / "nothing", "nothing: no such file or folder"),
    ]:
        out = tmp_path / "out.csv"
        result = runner.invoke(app, ["predict", run, "--input", str(source), "-o", str(out)])
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert not out.exists()


def test_evaluate_data_folder_lists_the_most_confident_mistakes_and_the_report_shows_them(trained, tmp_path):
    run = str(trained["run"])
    result = runner.invoke(app, ["evaluate", run, "--data", str(trained["base"] / "test_set"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["samples"] == 6 and data["split"] == "data"
    mistakes = data["misclassified"]
    assert len(mistakes) == 6 - round(data["metrics"]["accuracy"] * 6)
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    for item in mistakes:
        assert item["true"] != item["predicted"] and Path(item["file"]).parent.name == item["true"]
    # the test split of the run (test_path) gives the same listing
    split_result = json.loads(runner.invoke(app, ["evaluate", run, "--json"]).stdout)
    assert split_result["misclassified"] == mistakes
    report = tmp_path / "report.html"
    assert runner.invoke(app, ["report", run, "-o", str(report)]).exit_code == 0
    page = report.read_text()
    if mistakes:
        assert "Most confidently misclassified" in page
        assert page.count("<figure") == len(mistakes) and f"true: <b>{mistakes[0]['true']}</b>" in page


def test_evaluate_with_other_class_names_is_exit_2_listing_both(trained, tmp_path):
    write_tree(tmp_path / "other", per_class=2, classes=("cats", "horses"))
    result = runner.invoke(app, ["evaluate", str(trained["run"]), "--data", str(tmp_path / "other")])
    assert result.exit_code == 2
    assert "class folders cats, horses do not match the run's classes cats, dogs (unknown: horses)" in result.stderr


def jpeg(path: Path, seed: int = 0, brightness: int = 0) -> Path:
    """A small real JPEG photo."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 100, (14, 11, 3)) + brightness
    Image.fromarray(pixels.astype("uint8")).save(path, "JPEG")
    return path


def test_evaluate_a_folder_holding_some_of_the_classes(trained, tmp_path):
    """Only `dogs/`: evaluation needs no second class (the photos of one class a user has at hand)."""
    for i in range(3):
        jpeg(tmp_path / "only_dogs" / "dogs" / f"dog{i}.jpg", seed=i, brightness=150)
    result = runner.invoke(app, ["evaluate", str(trained["run"]), "--data", str(tmp_path / "only_dogs"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["samples"] == 3
    assert all(item["true"] == "dogs" for item in data["misclassified"])


def test_evaluate_bad_images_say_what_evaluate_can_do(trained, tmp_path):
    """A symbolic-link loop between two photos and a damaged JPEG: exit 2 naming the first, advice that
    evaluate takes (`--on-bad-image skip`, not `set dataset.on_bad_image`, which evaluate has no `--set` for);
    with it, the good photos are evaluated and the bad ones counted."""
    folder = tmp_path / "mixed"
    for label, name in enumerate(["cats", "dogs"]):
        for i in range(2):
            jpeg(folder / name / f"{name}{i}.jpg", seed=i, brightness=150 * label)
    (folder / "cats" / "a.jpg").symlink_to("b.jpg")
    (folder / "cats" / "b.jpg").symlink_to("a.jpg")
    (folder / "dogs" / "torn.jpg").write_bytes((folder / "dogs" / "dogs0.jpg").read_bytes()[:200])
    result = runner.invoke(app, ["evaluate", str(trained["run"]), "--data", str(folder)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert (
        line.startswith(f"error: {folder / 'cats' / 'a.jpg'}: a symbolic link loop")
        and "(and 2 more bad files)" in line
    )
    assert "--on-bad-image skip" in line and "dataset.on_bad_image" not in line and "Traceback" not in result.output
    result = runner.invoke(
        app, ["evaluate", str(trained["run"]), "--data", str(folder), "--on-bad-image", "skip", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["samples"] == 4 and data["skipped_images"] == 3


def test_predict_a_folder_with_files_that_are_not_images_follows_on_bad_image(trained, tmp_path):
    """A folder as phones and Windows leave it: `.webp`, `.heic`, `Thumbs.db`, a loop between two links. The
    run's `on_bad_image: error`: exit 2 naming the first and counting the rest, no output. `--on-bad-image skip`
    (or a run trained with skip): the photos are predicted, the others named and counted on stderr."""
    folder = tmp_path / "phone"
    photos = [jpeg(folder / f"IMG_{i}.jpg", seed=i) for i in range(3)]
    (folder / "IMG_3.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    (folder / "IMG_4.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "sub").mkdir()
    (folder / "sub" / "x.jpg").symlink_to("y.jpg")
    (folder / "sub" / "y.jpg").symlink_to("x.jpg")
    (folder / ".DS_Store").write_bytes(b"\x00")  # hidden: not looked at, as in training
    run, out = str(trained["run"]), tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", run, "--input", str(folder), "-o", str(out)])
    assert result.exit_code == 2 and not out.exists(), result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {folder / 'IMG_3.webp'}: not an image file (.png, .jpg")
    assert "(and 4 more files that are not readable images)" in line and "--on-bad-image skip" in line
    result = runner.invoke(app, ["predict", run, "--input", str(folder), "--on-bad-image", "skip"])
    assert result.exit_code == 0, result.output
    assert [row["file"] for row in csv.DictReader(io.StringIO(result.stdout))] == [str(p) for p in photos]
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith(f"warning: {folder}: skipped 5 file(s) that are not readable images")
    # a run trained with on_bad_image: skip predicts the same way without the option
    from annctl.prediction import predict_run
    from annctl.rundir import RunPaths

    spec_file = RunPaths(trained["run"]).spec
    original = spec_file.read_text()
    try:
        spec_file.write_text(original.replace("on_bad_image: error", "on_bad_image: skip"))
        warned: list[str] = []
        outcome = predict_run(trained["run"], str(folder), out, warn=warned.append)
    finally:
        spec_file.write_text(original)
    assert outcome["rows"] == 3 and outcome["skipped"] == 5 and len(warned) == 1
    assert {Path(item["file"]).name for item in outcome["skipped_files"]} == {
        "IMG_3.webp", "IMG_4.heic", "Thumbs.db", "x.jpg", "y.jpg"
    }  # fmt: skip
    reasons = {Path(item["file"]).name: item["reason"] for item in outcome["skipped_files"]}
    assert reasons["IMG_3.webp"].startswith("not an image file (.png, .jpg"), reasons


def test_predict_a_list_file_written_by_notepad(trained, tmp_path):
    """A byte-order mark and CRLF (Notepad, PowerShell): the first line names `my_pet.jpg`, not `\\ufeffmy_pet.jpg`."""
    jpeg(tmp_path / "my_pet.jpg")
    jpeg(tmp_path / "other pet.jpg", seed=1)
    listed = tmp_path / "photos.txt"
    listed.write_bytes(b"\xef\xbb\xbfmy_pet.jpg\r\nother pet.jpg\r\n")
    rows = predict_rows(str(trained["run"]), "--input", str(listed))
    assert [row["file"] for row in rows] == [str(tmp_path / "my_pet.jpg"), str(tmp_path / "other pet.jpg")]


def test_evaluate_the_misclassified_listing_is_the_most_confident_first():
    from annctl.evaluation import misclassified

    outputs = np.array([[0.9], [0.2], [0.6], [0.95], [0.01]])
    y = np.array([0, 1, 0, 1, 1])
    listed = misclassified(outputs, y, list("abcde"), ["cat", "dog"], "probability")
    assert [(m["file"], m["predicted"], m["confidence"]) for m in listed] == [
        ("e", "cat", 0.99),
        ("a", "dog", 0.9),
        ("b", "cat", 0.8),
        ("c", "dog", 0.6),
    ]


# --- bad input: exit 2 naming the file, before any run directory exists ---------------------------------------


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims width × height pixels (a decompression bomb's header) with one tiny IDAT chunk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)))


def break_tree(root: Path, case: str) -> str:
    """Damage a good tree one way; return what the message must say."""
    cats = root / "cats"
    good = sorted(cats.glob("*.png"))[0].read_bytes()
    if case == "corrupt":
        (cats / "corrupt.png").write_bytes(good[:60] + b"\0" * 30 + good[90:])  # inside the pixel data
        return f"{cats / 'corrupt.png'}: unreadable image"
    if case == "truncated_png":
        (cats / "cut.png").write_bytes(good[: len(good) // 2])
        return f"{cats / 'cut.png'}: unreadable image"
    if case == "truncated_jpeg":
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3)).astype("uint8")).save(buffer, "JPEG")
        (cats / "cut.jpg").write_bytes(buffer.getvalue()[:-300])
        return f"{cats / 'cut.jpg'}: unreadable image"
    if case == "not_an_image":
        (cats / "notes.png").write_text("these are my notes, not a picture")
        return f"{cats / 'notes.png'}: unreadable image: not an image"
    if case == "other_suffix":
        (cats / "notes.txt").write_text("not a picture")
        return f"{cats / 'notes.txt'}: not an image file (.png, .jpg"
    if case == "bomb":
        png_header_only(cats / "bomb.png", 100_000, 100_000)
        return f"{cats / 'bomb.png'}: too large to decode safely"
    if case == "symlink_loop":
        (cats / "loop").symlink_to(cats, target_is_directory=True)
        return f"{cats / 'loop'}: a symbolic link loop"
    if case == "file_symlink_loop":  # Path.resolve raises RuntimeError on it (Python 3.11)
        (cats / "a.jpg").symlink_to("b.jpg")
        (cats / "b.jpg").symlink_to("a.jpg")
        return f"{cats / 'a.jpg'}: a symbolic link loop"
    if case == "symlink_outside":
        outside = root.parent / "elsewhere.png"
        outside.write_bytes(good)
        (cats / "link.png").symlink_to(outside)
        return f"{cats / 'link.png'}: a symbolic link to {outside}, outside {root}: not read"
    if case == "class_folder_outside":
        elsewhere = root.parent / "birds_elsewhere"
        write_tree(elsewhere, per_class=2, classes=("x",))
        (root / "birds").symlink_to(elsewhere / "x", target_is_directory=True)
        return f"{root / 'birds'}: a symbolic link to {elsewhere / 'x'}, outside {root}: not read"
    if case == "loose_file":
        (root / "stray.png").write_bytes(good)
        return f"{root / 'stray.png'}: not in a class folder"
    raise AssertionError(case)


SKIPPABLE = [
    "corrupt",
    "truncated_png",
    "truncated_jpeg",
    "not_an_image",
    "other_suffix",
    "bomb",
    "symlink_loop",
    "file_symlink_loop",
    "symlink_outside",
    "class_folder_outside",
    "loose_file",
]


@pytest.mark.parametrize("case", SKIPPABLE)
def test_each_bad_file_is_exit_2_naming_it_before_training(tmp_path, case):
    write_tree(tmp_path / "training_set", per_class=4)
    message = break_tree(tmp_path / "training_set", case)
    path = experiment(tmp_path)
    result = runner.invoke(app, ["train", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "on_bad_image: skip" in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not list((tmp_path / "runs").glob("*"))  # stopped before any run directory was made


def test_on_bad_image_skip_leaves_them_out_and_counts_them(tmp_path):
    root = write_tree(tmp_path / "training_set", per_class=5)
    for case in ("corrupt", "truncated_jpeg", "bomb", "other_suffix", "file_symlink_loop"):
        break_tree(root, case)
    path = experiment(tmp_path, dataset="  on_bad_image: skip\n", training="  epochs: 1\n")
    text = path.read_text().replace("  epochs: 2\n", "")
    path.write_text(text)
    result = runner.invoke(app, ["train", str(path), "--json", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["skipped_images"] == 6
    from rich.console import Console

    from annctl.progress import summary_table
    from annctl.records import Summary

    console = Console(width=120, record=True, file=io.StringIO())
    console.print(summary_table(Summary.model_validate(summary)))
    assert re.search(r"skipped images\s+│ 6 \(unreadable; listed in dataset.json\)", console.export_text())
    details = json.loads((Path(summary["run_dir"]) / "dataset.json").read_text())["details"]
    assert sorted(Path(item["file"]).name for item in details["skipped"]) == [
        "a.jpg",
        "b.jpg",
        "bomb.png",
        "corrupt.png",
        "cut.jpg",
        "notes.txt",
    ]
    assert sum(details["images"].values()) == 10


@pytest.mark.parametrize(
    "case,message",
    [
        ("empty_class", "training_set/dogs: empty class folder"),
        ("single_class", "training_set: only one class folder (cats); a classifier needs at least two classes"),
        ("no_class_folders", "training_set: no class subfolders (it holds 3 images directly)"),
        ("missing", "training_set: no such folder (dataset.path)"),
    ],
)
def test_a_tree_without_two_usable_classes_is_exit_2(tmp_path, case, message):
    root = tmp_path / "training_set"
    if case == "empty_class":
        write_tree(root, per_class=3, classes=("cats",))
        (root / "dogs").mkdir()
    elif case == "single_class":
        write_tree(root, per_class=3, classes=("cats",))
    elif case == "no_class_folders":
        write_tree(tmp_path / "flat", per_class=3, classes=("x",))
        (tmp_path / "flat" / "x").rename(root)
    path = experiment(tmp_path)
    result = runner.invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    validated = runner.invoke(app, ["validate", str(path)])  # found without TensorFlow too (issue 29: all of them)
    assert validated.exit_code == 2 and message in validated.stderr, validated.output


def test_a_file_changed_after_a_good_check_is_checked_again(tmp_path):
    """The check is remembered by path, size and time: a file corrupted later is caught on the next load."""
    root = write_tree(tmp_path / "training_set", per_class=4)
    load(tmp_path)
    assert list((tmp_path / "cache" / "image_folder").glob("checked-*.json"))
    victim = sorted((root / "dogs").glob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:-60])
    with pytest.raises(DataError, match=f"{victim}: unreadable image"):
        load(tmp_path)


def test_cache_true_serves_the_same_pixels_from_disk(tmp_path):
    write_tree(tmp_path / "training_set", per_class=5)
    plain = load(tmp_path)
    cached = load(tmp_path, cache=True)
    assert cached.train.cache is not None and plain.train.cache is None
    assert list((tmp_path / "cache" / "image_folder").glob("pixels-*.npy"))
    np.testing.assert_array_equal(pixels_of(cached.train), pixels_of(plain.train))
    again = load(tmp_path, cache=True)  # read back from the cache file
    from annctl.training.pipeline import ordered_dataset

    batches = ordered_dataset(again.validation, 4, lambda x, y: (x, y))
    np.testing.assert_array_equal(
        np.concatenate([x for x, _ in batches.as_numpy_iterator()]), pixels_of(plain.validation)
    )


def test_prediction_batches_of_large_images_stay_small(tmp_path):
    """A 4,096-image batch of 64×64 RGB through a 32-filter convolution needs 2 GB: image batches are cut to
    about 4 million pixel values whatever batch size is asked for."""
    from annctl.datasets.images import FileSplit, ImageReader

    write_tree(tmp_path / "training_set", per_class=200, size=(64, 64))
    data = load(tmp_path, image_size=[64, 64])
    every = FileSplit(data.train.files + data.validation.files + data.test.files, [0] * 400, data.train.decoding)
    assert [len(batch) for batch in every.x_batches(4096)] == [341, 59]  # 4_194_304 // (64 * 64 * 3) = 341
    reader = ImageReader(data.description, str(tmp_path / "training_set"), chunk_rows=4096)
    assert [len(files) for _, files in reader.chunks()] == [341, 59]


def test_cache_true_in_a_cache_folder_that_cannot_be_written_is_exit_2(tmp_path, monkeypatch):
    write_tree(tmp_path / "training_set", per_class=3)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("ANNCTL_CACHE_DIR", str(blocker))
    with pytest.raises(DataError, match=r"dataset.cache: cannot write the decoded images to .*set ANNCTL_CACHE_DIR"):
        load(tmp_path, cache=True)


def test_test_path_with_other_classes_and_test_split_with_test_path_are_refused(tmp_path):
    write_tree(tmp_path / "training_set", per_class=3)
    write_tree(tmp_path / "test_set", per_class=2, classes=("cats", "wolves"))
    path = experiment(tmp_path, dataset="  test_path: test_set\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert (
        result.exit_code == 2
        and "class folders cats, wolves do not match dataset.path's classes cats, dogs" in result.stderr
    )
    both = experiment(tmp_path, dataset="  test_path: test_set\n  test_split: 0.1\n", name="both")
    result = runner.invoke(app, ["validate", str(both)])
    assert result.exit_code == 2 and "give test_path or test_split, not both" in result.stderr


def test_a_test_path_holding_some_of_the_classes_validates_and_loads(tmp_path):
    """A test set is evaluated, and evaluation needs no second class: test_set/ with only cats/."""
    write_tree(tmp_path / "training_set", per_class=4)
    write_tree(tmp_path / "test_set", per_class=2, classes=("cats",))
    path = experiment(tmp_path, dataset="  test_path: test_set\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    data = load(tmp_path, test_path=str(tmp_path / "test_set"))
    assert data.test.labels().tolist() == [0, 0] and data.description.class_names == ["cats", "dogs"]


def test_make_examples_writes_fashion_mnist_as_class_folders(tmp_path, monkeypatch):
    from annctl.datasets.fashion_mnist import FashionMnist

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "data"))
    try:
        import make_examples
    finally:
        sys.path.pop(0)
    example = FashionMnist.example(tmp_path / "idx")
    monkeypatch.setenv("ANNCTL_DATA_DIR", example.env["ANNCTL_DATA_DIR"])
    counts = make_examples.fashion_mnist_folders(tmp_path / "tree", per_class=3, test_per_class=1)
    assert counts == {"training_set": 30, "test_set": 10}
    folders = sorted(p.name for p in (tmp_path / "tree" / "training_set").iterdir())
    assert folders[:2] == ["Ankle_boot", "Bag"] and "T-shirt_top" in folders and len(folders) == 10
    with Image.open(next((tmp_path / "tree" / "test_set" / "Bag").glob("*.png"))) as image:
        assert image.size == (28, 28) and image.mode == "L"


@pytest.mark.slow
@pytest.mark.realdata
def test_the_shipped_folder_experiment_learns_fashion_mnist_from_pngs(tmp_path, monkeypatch):
    """experiments/fashion_mnist_folders_cnn.yaml on a small tree that make_examples.py writes from the real
    IDX files: 50 training and 20 test images per class, one epoch."""
    from .conftest import EXPERIMENTS, real_data_dir

    if real_data_dir() is None or not (real_data_dir() / "fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST not available (set ANNCTL_DATA_DIR)")
    sys.path.insert(0, str(EXPERIMENTS / "data"))
    try:
        import make_examples
    finally:
        sys.path.pop(0)
    tree = tmp_path / "tree"
    assert make_examples.fashion_mnist_folders(tree, 50, 20) == {"training_set": 500, "test_set": 200}
    args = ["train", str(EXPERIMENTS / "fashion_mnist_folders_cnn.yaml"), "--json", "--set", "training.epochs=2"]
    args += ["--set", f"dataset.path={tree / 'training_set'}", "--set", f"dataset.test_path={tree / 'test_set'}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["test_metrics"]["accuracy"] >= 0.4  # ten classes: chance is 0.1
    (row,) = predict_rows(summary["run_dir"], "--input", str(next((tree / "test_set" / "Trouser").glob("*.png"))))
    assert row["prediction"] in sorted(p.name for p in (tree / "test_set").iterdir())  # classes: the folder names


def test_resize_is_antialiased_where_it_shrinks_and_plain_where_it_enlarges():
    """A fine checkerboard shrunk to 10×12 averages to gray (no aliasing); an enlarged image is plain bilinear."""
    import tensorflow as tf

    from annctl.datasets.images import Decoding

    def png(array) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "PNG")
        return buffer.getvalue()

    board = ((np.indices((80, 96)).sum(axis=0) % 2) * 255).astype("uint8")
    shrunk = Decoding(10, 12, 1).decode(tf.constant(png(board))).numpy()
    assert np.abs(shrunk.astype(int) - 128).max() <= 2
    small = np.random.default_rng(0).integers(0, 256, (5, 6)).astype("uint8")
    enlarged = Decoding(10, 12, 1).decode(tf.constant(png(small))).numpy()
    plain = tf.image.resize(small[..., None], (10, 12), method="bilinear")
    np.testing.assert_array_equal(enlarged, np.clip(np.round(plain.numpy()), 0, 255).astype("uint8"))
