"""annctl.datasets.image_folder function by function, without decoding an image (files that fail the header
check never reach TensorFlow): the exact messages, the example's files, the splits' sizes and the spec's
defaults and limits, so that a one-token change of a line fails a test."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annctl.datasets import image_folder
from annctl.datasets.image_folder import (
    CHECK_VERSION,
    MAX_DEPTH,
    SKIPPED_LISTED,
    ImageFolder,
    Tree,
    _writable_cache,
    cache_root,
    check_images,
    class_folders,
    fingerprint,
    mismatch,
    scan_tree,
    stratified_split,
)
from annctl.datasets.images import DEFAULT_MAX_PIXELS, ImageReader
from annctl.errors import DataError


@pytest.fixture(autouse=True)
def decoded(monkeypatch):
    """TensorFlow's decoder stands in here (importing it alone takes seconds): each file that passes the header
    check is reported as not decodable, and the calls are kept: (the indices given, the pixel sink)."""
    calls = []

    def decode_all(tree, indices, decoding, sink):
        calls.append((list(indices), sink))
        return [(tree.files[i], "could not be decoded") for i in indices]

    monkeypatch.setattr(image_folder, "_decode_all", decode_all)
    return calls


NOT_AN_IMAGE = "unreadable image: not an image, or a damaged one (no PNG, JPEG, BMP or GIF header)"


def data_error(function, *args, **kwargs) -> str:
    with pytest.raises(DataError) as error:
        function(*args, **kwargs)
    return str(error.value)


def png(path: Path, size=(3, 2)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), dtype="uint8")).save(path)
    return path


def junk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an image")
    return path


def relative(tree: Tree) -> list[str]:
    return [os.path.relpath(path, tree.root) for path in tree.files]


# -- the example ------------------------------------------------------------------------------------------


def test_the_example_can_be_written_again_over_itself(tmp_path):
    ImageFolder.example(tmp_path)
    again = ImageFolder.example(tmp_path)  # the class folders exist already
    assert sorted(path.name for path in (tmp_path / "training_set" / "cats").iterdir()) == [
        f"{i}.png" for i in range(6)
    ]
    assert again.new_inputs == tmp_path / "photo.jpg"


def test_the_example_writes_six_pngs_per_class_and_a_photo(tmp_path):
    example = ImageFolder.example(tmp_path)
    root = tmp_path / "training_set"
    files = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert files == [
        "photo.jpg",
        *(f"training_set/cats/{i}.png" for i in range(6)),
        *(f"training_set/dogs/{i}.png" for i in range(6)),
    ]
    assert example.fields == {
        "name": "image_folder",
        "path": str(root),
        "image_size": [12, 10],
        "validation_split": 0.25,
    }
    assert example.new_inputs == tmp_path / "photo.jpg"
    digest = hashlib.sha256()
    for name in ("cats", "dogs"):
        for i in range(6):
            with Image.open(root / name / f"{i}.png") as image:
                assert (image.format, image.mode, image.size) == ("PNG", "RGB", (12, 10))
                pixels = np.asarray(image)
            if name == "cats":
                assert pixels.max() <= 127
            else:
                assert pixels.min() >= 120 and pixels.max() <= 247
            digest.update(pixels.tobytes())
    assert digest.hexdigest()[:16] == "1a5f1a91e6f83b6d"
    with Image.open(tmp_path / "photo.jpg") as photo:
        assert (photo.format, photo.mode, photo.size) == ("JPEG", "RGB", (16, 20))
        assert np.asarray(photo).max() > 200
    ImageFolder.model_validate(example.fields)


# -- the spec ---------------------------------------------------------------------------------------------


def test_the_specs_defaults():
    spec = ImageFolder(path="x")
    assert spec.image_size == [64, 64]
    assert (spec.color_mode, spec.interpolation, spec.validation_split) == ("rgb", "bilinear", 0.2)
    assert (spec.test_path, spec.test_split, spec.on_bad_image, spec.cache) == (None, None, "error", False)
    assert spec.max_pixels == DEFAULT_MAX_PIXELS
    assert spec.known_task() == "classification"
    assert ImageFolder.smoke_reference is False
    assert (CHECK_VERSION, MAX_DEPTH, SKIPPED_LISTED) == (1, 32, 100)


def test_image_sides_from_1_to_4096_and_test_path_or_test_split():
    assert ImageFolder(path="x", image_size=[1, 4096]).image_size == [1, 4096]
    for size in ([0, 5], [5, 4097]):
        with pytest.raises(ValueError) as error:
            ImageFolder(path="x", image_size=size)
        assert f"image_size: each side must be 1 to 4096 pixels, got {size}" in str(error.value)
    with pytest.raises(ValueError) as error:
        ImageFolder(path="x", test_path="y", test_split=0.1)
    assert "test_split: give test_path or test_split, not both" in str(error.value)
    assert ImageFolder(path="x", test_path="y").test_path == "y"
    assert ImageFolder(path="x", test_split=0.1).test_split == 0.1


def test_decoding_takes_height_width_the_modes_channels_and_interpolation():
    decoding = ImageFolder(path="x", image_size=[7, 9], color_mode="rgba", interpolation="area").decoding()
    assert (decoding.height, decoding.width, decoding.channels, decoding.interpolation) == (7, 9, 4, "area")
    assert ImageFolder(path="x", color_mode="grayscale").decoding().channels == 1


def test_relative_paths_resolve_against_the_experiment_folder(tmp_path):
    spec = ImageFolder(path="a/b", test_path="../c")
    resolved = spec.resolve_paths(tmp_path / "exp")
    assert (resolved.path, resolved.test_path) == (str(tmp_path / "exp/a/b"), str(tmp_path / "c"))
    absolute = ImageFolder(path=str(tmp_path))
    assert absolute.resolve_paths(tmp_path / "exp") is absolute
    only_path = ImageFolder(path="a").resolve_paths(tmp_path)
    assert (only_path.path, only_path.test_path) == (str(tmp_path / "a"), None)


# -- class folders and the tree ------------------------------------------------------------------------------


def test_class_folders_are_sorted_visible_subfolders_and_each_refusal_in_full(tmp_path):
    for name in ("dogs", "cats", ".hidden", "ants"):
        (tmp_path / "root" / name).mkdir(parents=True)
    (tmp_path / "root" / "file.png").write_bytes(b"")
    assert class_folders(tmp_path / "root", "dataset.path") == ["ants", "cats", "dogs"]
    missing = tmp_path / "missing"
    assert data_error(class_folders, missing, "dataset.path") == f"{missing}: no such folder (dataset.path)"
    a_file = tmp_path / "root" / "file.png"
    assert data_error(class_folders, a_file, "--data") == (
        f"{a_file}: not a folder (--data takes a folder with one subfolder per class)"
    )
    flat = tmp_path / "flat"
    for name in ("a.png", "b.JPG", "notes.txt"):
        (flat / name).parent.mkdir(exist_ok=True)
        (flat / name).write_bytes(b"")
    (flat / ".git").mkdir()
    assert data_error(class_folders, flat, "dataset.path") == (
        f"{flat}: no class subfolders (it holds 2 images directly); put each class's images in a folder named after "
        f"the class, e.g. {flat / 'cats'}/…, {flat / 'dogs'}/…"
    )
    (flat / "a.png").unlink()
    (flat / "b.JPG").unlink()
    assert data_error(class_folders, flat, "dataset.path") == (
        f"{flat}: no class subfolders; put each class's images in a folder named after the class, e.g. "
        f"{flat / 'cats'}/…, {flat / 'dogs'}/…"
    )
    (flat / "b.JPG").write_bytes(b"")
    assert "(it holds 1 image directly)" in data_error(class_folders, flat, "dataset.path")
    (flat / "only").mkdir()
    assert data_error(class_folders, flat, "dataset.path") == (
        f"{flat}: only one class folder (only); a classifier needs at least two classes"
    )
    assert class_folders(flat, "--data", min_classes=1) == ["only"]


def test_the_tree_holds_nested_images_with_labels_and_names_every_unusable_file(tmp_path):
    root = tmp_path / "root"
    png(root / "dogs" / "b.png")
    png(root / "dogs" / "deep" / "a.PNG")
    png(root / "cats" / "z.jpg")
    (root / "cats" / ".DS_Store").write_bytes(b"")
    (root / "cats" / "notes.txt").write_text("x")
    (root / "stray.png").write_bytes(b"")
    (root / ".hidden.png").write_bytes(b"")
    tree = scan_tree(root, "dataset.path")
    assert tree.root == root.resolve() and tree.classes == ["cats", "dogs"]
    assert relative(tree) == ["cats/z.jpg", "dogs/b.png", "dogs/deep/a.PNG"]
    assert tree.labels == [0, 1, 1]
    assert tree.stats == [(os.stat(path).st_size, os.stat(path).st_mtime_ns) for path in tree.files]
    assert tree.bad == [
        (str(root / "stray.png"), "not in a class folder (each image belongs in its class's folder)"),
        (str(root / "cats" / "notes.txt"), "not an image file (.png, .jpg, .jpeg, .bmp, .gif)"),
    ]


def test_an_empty_class_folder_is_refused_but_one_of_bad_files_is_not(tmp_path):
    root = tmp_path / "root"
    png(root / "cats" / "a.png")
    (root / "dogs" / "sub").mkdir(parents=True)
    assert data_error(scan_tree, root, "dataset.path") == (
        f"{root / 'dogs'}: empty class folder; put the class's images in it, or remove it"
    )
    (root / "dogs" / "sub" / "notes.txt").write_text("x")
    assert scan_tree(root, "dataset.path").bad == [
        (str(root / "dogs" / "sub" / "notes.txt"), "not an image file (.png, .jpg, .jpeg, .bmp, .gif)")
    ]


def test_links_outside_dangling_or_looping_are_bad_files(tmp_path):
    root = tmp_path / "root"
    png(root / "cats" / "a.png")
    outside = png(tmp_path / "elsewhere" / "x.png")
    (root / "dogs").mkdir()
    png(root / "dogs" / "d.png")
    (root / "dogs" / "out.png").symlink_to(outside)
    (root / "dogs" / "gone.png").symlink_to(tmp_path / "nothing.png")
    (root / "dogs" / "inside.png").symlink_to(root / "cats" / "a.png")
    (root / "dogs" / "p.png").symlink_to(root / "dogs" / "q.png")
    (root / "dogs" / "q.png").symlink_to(root / "dogs" / "p.png")
    (root / "dogs" / "again").symlink_to(root / "dogs")
    (root / "birds").symlink_to(tmp_path / "elsewhere")
    tree = scan_tree(root, "dataset.path")
    real = root.resolve()
    assert tree.classes == ["birds", "cats", "dogs"]
    assert relative(tree) == ["cats/a.png", "dogs/d.png", "dogs/inside.png"]
    assert tree.labels == [1, 2, 2]
    assert tree.bad == [
        (str(real / "birds"), f"a symbolic link to {(tmp_path / 'elsewhere').resolve()}, outside {real}: not read"),
        (str(real / "dogs" / "again"), f"a symbolic link loop (back to {real / 'dogs'})"),
        (str(real / "dogs" / "gone.png"), f"a symbolic link to nothing ({tmp_path / 'nothing.png'})"),
        (str(real / "dogs" / "out.png"), f"a symbolic link to {outside.resolve()}, outside {real}: not read"),
        (str(real / "dogs" / "p.png"), "a symbolic link loop (between files)"),
        (str(real / "dogs" / "q.png"), "a symbolic link loop (between files)"),
    ]


def test_folders_nested_32_deep_are_read_and_33_are_not(tmp_path):
    root = tmp_path / "root"
    png(root / "cats" / "a.png")
    deep = root / "dogs"
    for level in range(1, MAX_DEPTH + 2):
        deep = deep / f"d{level}"
        png(deep / "x.png")
    tree = scan_tree(root, "dataset.path")
    assert len(tree.files) == 1 + MAX_DEPTH
    assert tree.bad == [(str(deep), "nested more than 32 folders deep")]


# -- the check and its cache -------------------------------------------------------------------------------


def test_the_fingerprint_is_32_hex_digits_of_version_extras_paths_sizes_and_times():
    tree = Tree(Path("/r"), ["a"], files=["/r/a/1.png"], labels=[0], stats=[(10, 5)])
    key = fingerprint(tree, 7)
    assert len(key) == 32 and int(key, 16) >= 0
    expected = hashlib.sha256(repr((1, 7)).encode())
    expected.update(b"/r/a/1.png\x0010\x005\n")
    assert key == expected.hexdigest()[:32]
    assert fingerprint(tree, 8) != key
    assert fingerprint(Tree(Path("/r"), ["a"], ["/r/a/1.png"], [0], stats=[(10, 6)]), 7) != key


def test_bad_headers_are_found_sorted_and_remembered_in_the_cache(tmp_path, decoded):
    root = tmp_path / "root"
    junk(root / "dogs" / "b.png")
    junk(root / "cats" / "a.png")
    png(root / "cats" / "big.png", size=(5, 4))
    tree = scan_tree(root, "dataset.path")
    decoding = ImageFolder(path=str(root)).decoding()
    bad, pixels = check_images(tree, 19, decoding, cache=False)
    big = "too large to decode safely (5×4 pixels); the limit is dataset.max_pixels = 19 pixels"
    expected = [
        (str(root / "cats" / "a.png"), NOT_AN_IMAGE),
        (str(root / "cats" / "big.png"), big),
        (str(root / "dogs" / "b.png"), NOT_AN_IMAGE),
    ]
    assert (bad, pixels) == (expected, None)
    assert decoded == [([], None)]
    record = cache_root() / f"checked-{fingerprint(tree, 19)}.json"
    assert record.is_file()
    assert cache_root() == Path(os.environ["ANNCTL_CACHE_DIR"]) / "image_folder"
    record.write_text('[["x", "remembered"]]')
    assert check_images(tree, 19, decoding, cache=False) == ([("x", "remembered")], None)
    bad, _ = check_images(tree, 18, decoding, cache=False)  # another limit: checked again
    assert bad == [(path, reason.replace("= 19", "= 18")) for path, reason in expected]
    bad, _ = check_images(tree, 20, decoding, cache=False)  # 5×4 = 20 pixels: not too many, so decoded
    assert decoded[-1] == ([1], None)
    assert bad == [expected[0], (str(root / "cats" / "big.png"), "could not be decoded"), expected[2]]


def test_a_cache_folder_that_cannot_be_written_says_where_and_what_to_do(tmp_path):
    target = tmp_path / "cache" / "pixels.npy"
    with pytest.raises(DataError) as error, _writable_cache(target):
        raise PermissionError(13, "Permission denied")
    assert str(error.value) == (
        f"dataset.cache: cannot write the decoded images to {target.parent}: Permission denied; set "
        "ANNCTL_CACHE_DIR to a writable folder, or cache: false"
    )


def test_the_first_bad_file_stops_with_how_many_more_and_the_advice(tmp_path):
    root = tmp_path / "root"
    for name in ("cats/a.png", "cats/b.png", "dogs/c.png"):
        junk(root / name)
    tree = scan_tree(root, "dataset.path")
    spec = ImageFolder(path=str(root))
    first = f"{root / 'cats' / 'a.png'}: {NOT_AN_IMAGE}"
    assert data_error(spec.checked, tree, spec.decoding()) == (
        f"{first} (and 2 more bad files); remove it, or set dataset.on_bad_image: skip to leave bad files out"
    )
    assert data_error(spec.checked, tree, spec.decoding(), None, "do this") == (
        f"{first} (and 2 more bad files); remove it, or do this"
    )
    junk(root / "cats" / "b.png").unlink()
    junk(root / "dogs" / "c.png").unlink()
    png(root / "dogs" / "c.png")
    png(root / "cats" / "b.png")
    tree = scan_tree(root, "dataset.path")
    one_bad = ImageFolder(path=str(root), max_pixels=1_000_000)
    tree.files, tree.labels, tree.stats = tree.files[:1], tree.labels[:1], tree.stats[:1]
    assert data_error(one_bad.checked, tree, one_bad.decoding()) == (
        f"{first}; remove it, or set dataset.on_bad_image: skip to leave bad files out"
    )
    skip = ImageFolder(path=str(root), on_bad_image="skip")
    assert skip.checked(tree, skip.decoding())[0] == [(str(root / "cats" / "a.png"), NOT_AN_IMAGE)]
    assert data_error(skip.checked, tree, skip.decoding(), "error").startswith(first)
    assert spec.checked(tree, spec.decoding(), "skip")[0] == [(str(root / "cats" / "a.png"), NOT_AN_IMAGE)]
    (root / "cats" / "notes.txt").write_text("x")
    tree = scan_tree(root, "dataset.path")
    tree.files, tree.labels, tree.stats = tree.files[:1], tree.labels[:1], tree.stats[:1]
    assert skip.checked(tree, skip.decoding())[0] == [
        (str(root / "cats" / "notes.txt"), "not an image file (.png, .jpg, .jpeg, .bmp, .gif)"),
        (str(root / "cats" / "a.png"), NOT_AN_IMAGE),
    ]


def test_usable_masks_bad_files_and_refuses_a_class_left_empty(tmp_path):
    tree = Tree(tmp_path, ["cats", "dogs"], ["c1", "c2", "d1"], [0, 0, 1])
    spec = ImageFolder(path=str(tmp_path))
    assert spec.usable(tree, [("c2", "bad")]).tolist() == [True, False, True]
    assert data_error(spec.usable, tree, [("d1", "bad")]) == (
        f"{tmp_path / 'dogs'}: no readable image left in this class folder"
    )
    assert spec.usable(tree, [("d1", "bad")], allow_empty_class=True).tolist() == [True, True, False]


def test_problems_name_the_field_and_test_path_classes_must_be_paths(tmp_path):
    for name in ("train/cats/a.png", "train/dogs/b.png", "test/cats/c.png", "odd/birds/d.png", "odd/cats/e.png"):
        png(tmp_path / name)
    train, test, odd = (str(tmp_path / name) for name in ("train", "test", "odd"))
    assert ImageFolder(path=train, test_path=test).problems() == []
    assert ImageFolder(path=train, test_path=odd).problems() == [
        (
            ("test_path",),
            f"{odd}: class folders birds, cats do not match dataset.path's classes cats, dogs (unknown: birds)",
        )
    ]
    assert ImageFolder(path=test, test_path=train).problems() == [
        (("path",), f"{test}: only one class folder (cats); a classifier needs at least two classes")
    ]
    missing = str(tmp_path / "missing")
    assert ImageFolder(path=missing).problems() == [(("path",), f"{missing}: no such folder (dataset.path)")]
    assert ImageFolder(path=train, test_path=missing).problems() == [
        (("test_path",), f"{missing}: no such folder (dataset.test_path)")
    ]
    gone = str(tmp_path / "gone")  # a bad path does not hide a bad test_path: both are reported
    assert ImageFolder(path=missing, test_path=gone).problems() == [
        (("path",), f"{missing}: no such folder (dataset.path)"),
        (("test_path",), f"{gone}: no such folder (dataset.test_path)"),
    ]


def test_mismatch_names_the_unknown_classes_sorted_and_whose_classes():
    assert mismatch(Path("/d"), ["zebra", "cats", "ant"], ["cats", "dogs"], "the run's") == (
        "/d: class folders zebra, cats, ant do not match the run's classes cats, dogs (unknown: ant, zebra)"
    )


# -- splits ----------------------------------------------------------------------------------------------


def test_stratified_split_sizes_per_class_sorted_held_out_parts_and_shuffled_training():
    labels = np.array([0] * 10 + [1] * 5)
    parts = stratified_split(labels, 0, 0.2, 0.25)
    assert (len(parts["train"]), len(parts["validation"]), len(parts["test"])) == (9, 3, 3)
    assert (labels[parts["test"]] == 0).sum() == 2 and (labels[parts["validation"]] == 0).sum() == 2
    assert list(parts["validation"]) == sorted(parts["validation"]) and list(parts["test"]) == sorted(parts["test"])
    assert sorted([*parts["train"], *parts["validation"], *parts["test"]]) == list(range(15))
    assert list(labels[parts["train"]]) == [1, 0, 0, 0, 0, 0, 1, 1, 0]  # classes interleaved
    alternating = stratified_split(np.arange(40) % 2, 0, 0.25, 0.25)
    assert alternating["validation"].tolist() == [5, 6, 7, 11, 20, 22, 32, 37]
    assert alternating["test"].tolist() == [4, 8, 9, 12, 13, 15, 23, 26, 33, 38]
    halves = stratified_split(np.zeros(20), 0, 0.5, 0.5)  # validation: half of the 10 left after the test set
    assert (len(halves["train"]), len(halves["validation"]), len(halves["test"])) == (5, 5, 10)
    again = stratified_split(labels, 0, 0.2, 0.25)
    assert all((again[name] == parts[name]).all() for name in parts)
    assert not (stratified_split(labels, 1, 0.2, 0.25)["test"] == parts["test"]).all()
    no_test = stratified_split(labels, 0, 0.0, 0.2)
    assert no_test["test"] is None and (len(no_test["train"]), len(no_test["validation"])) == (12, 3)


def test_a_split_left_empty_says_which_and_how_many_images():
    labels = np.array([0, 0, 1, 1])
    assert data_error(stratified_split, labels, 0, 0.2, 0.5) == (
        "dataset.test_split: 0.2 of 4 images leaves the test set empty; add images or raise the fraction"
    )
    assert data_error(stratified_split, labels, 0, 0.0, 0.1) == (
        "dataset.validation_split: 0.1 of 4 images leaves the validation set empty; add images or raise the fraction"
    )
    assert data_error(stratified_split, labels, 0, 0.5, 0.9) == (
        "dataset: no training images left after the validation and test splits of 4"
    )
    parts = stratified_split(np.array([0, 0, 1, 1]), 0, 0.5, 0.0)
    assert (len(parts["train"]), len(parts["validation"]), len(parts["test"])) == (2, 0, 2)
    one = stratified_split(np.array([0, 0]), 0, 0.5, 0.0)
    assert (len(one["train"]), len(one["validation"]), len(one["test"])) == (1, 0, 1)
    assert data_error(stratified_split, labels, 0, 0.0, 0.1234567) == (
        "dataset.validation_split: 0.123457 of 4 images leaves the validation set empty; add images or raise the "
        "fraction"
    )


def test_a_test_folder_class_left_without_readable_images_is_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(image_folder, "_decode_all", lambda tree, indices, decoding, sink: [])  # all decodable
    for name in ("train/cats/a.png", "train/cats/b.png", "train/dogs/c.png", "train/dogs/d.png", "test/cats/e.png"):
        png(tmp_path / name)
    junk(tmp_path / "test" / "dogs" / "f.png")  # the test folder's only dog is not an image
    spec = ImageFolder(
        path=str(tmp_path / "train"),
        test_path=str(tmp_path / "test"),
        on_bad_image="skip",
        validation_split=0.5,
        max_pixels=DEFAULT_MAX_PIXELS // 2,
    )
    data = spec.load(seed=0)
    assert data.test.files == [str(tmp_path / "test" / "cats" / "e.png")]
    assert data.test.y.tolist() == [0]
    assert data.description.details["skipped_images"] == 1
    # new images are held to the training's pixel limit: it travels in dataset.json's details
    assert data.description.details["max_pixels"] == spec.max_pixels
    assert ImageReader(data.description, "x.png").max_pixels == spec.max_pixels
    # evaluate --data FOLDER: the same for a labelled folder read with the run's classes
    reader = image_folder.FolderReader(data.description, str(tmp_path / "test"), chunk_rows=8, warn=None, spec=spec)
    labeled = reader.read_labeled(tmp_path / "test")
    assert (labeled.files, labeled.y.tolist(), labeled.skipped) == ([str(tmp_path / "test" / "cats" / "e.png")], [0], 1)


def test_two_bad_files_stop_with_one_more(tmp_path):
    root = tmp_path / "root"
    for name in ("cats/a.png", "dogs/c.png"):
        junk(root / name)
    spec = ImageFolder(path=str(root))
    assert data_error(spec.checked, scan_tree(root, "dataset.path"), spec.decoding()) == (
        f"{root / 'cats' / 'a.png'}: {NOT_AN_IMAGE} (and 1 more bad file); remove it, or set dataset.on_bad_image: "
        "skip to leave bad files out"
    )
