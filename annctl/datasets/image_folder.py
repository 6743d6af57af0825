"""Your own photos in class folders — the course's `training_set/cats`, `training_set/dogs` — as Keras'
`image_dataset_from_directory` and `flow_from_directory` read them.

Every file is checked before training (its header for size and format, then a full decode by the same
TensorFlow decoder training uses, in parallel), so a bad image stops the command with exit 2 naming it, or
with ``on_bad_image: skip`` is left out and counted. The check's outcome is remembered in annctl's cache
keyed by each file's path, size and modification time, so the next run over unchanged folders skips it;
``cache: true`` also keeps the decoded pixels there for the epochs to read instead of decoding again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from annctl.datasets.base import Data, Example, InputDescription
from annctl.datasets.images import (
    CHANNELS,
    DEFAULT_MAX_PIXELS,
    ColorMode,
    Decoding,
    FileSplit,
    ImageDataset,
    ImageReader,
    Interpolation,
    check_header,
    decode_error,
    quiet_native_stderr,
)
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import IMAGE_SUFFIXES
from annctl.errors import DataError
from annctl.paths import LOOP, resolved, why_unreadable
from annctl.wording import plural, shown_path

CHECK_VERSION = 1  # bump when what the check or the decoder does changes: older cache entries are then ignored
MAX_DEPTH = 32  # folders inside a class folder
SKIPPED_LISTED = 100  # skipped files named in dataset.json (all are counted)


@dataclass
class Tree:
    """A class-folder tree: class names (sorted folder names), each image file with its label, and the files
    that cannot be used, each with the reason."""

    root: Path
    classes: list[str]
    files: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)
    stats: list[tuple[int, int]] = field(default_factory=list)  # (size, mtime_ns) of each file


def class_folders(root: Path, what: str, min_classes: int = 2) -> list[str]:
    """The class names under ``root``: its subfolders (hidden ones aside), sorted. Exit 2 for a missing
    folder, a folder without class subfolders, or fewer than ``min_classes`` classes (a classifier learns from
    two or more; evaluating one needs only some of its classes)."""
    if (why := why_unreadable(root)) is not None:
        raise DataError(f"{shown_path(root)}: {why.replace('no such file or folder', 'no such folder')} ({what})")
    if not root.is_dir():
        raise DataError(f"{shown_path(root)}: not a folder ({what} takes a folder with one subfolder per class)")
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as error:
        raise DataError(f"{shown_path(root)}: cannot list the folder: {error.strerror or error}") from None
    classes = [e.name for e in entries if not e.name.startswith(".") and _is_dir(e)]
    if not classes:
        images = [e.name for e in entries if Path(e.name).suffix.lower() in IMAGE_SUFFIXES]
        found = f" (it holds {plural(len(images), 'image')} directly)" if images else ""
        raise DataError(
            f"{shown_path(root)}: no class subfolders{found}; put each class's images in a folder named after the "
            "class, "
            f"e.g. {root / 'cats'}/…, {root / 'dogs'}/…"
        )
    if len(classes) < min_classes:
        raise DataError(
            f"{shown_path(root)}: only one class folder ({classes[0]}); a classifier needs at least two classes"
        )
    return classes


def _is_dir(entry: os.DirEntry) -> bool:
    """``entry.is_dir()``, False for a symbolic-link loop (which raises ELOOP)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def scan_tree(root: Path, what: str, min_classes: int = 2) -> Tree:
    """Every file under the class folders of ``root``, nested folders included, hidden entries aside. Symbolic
    links are followed only inside ``root``; one that leads outside it, dangles or loops is a bad file."""
    root = resolved(root)
    tree = Tree(root, class_folders(root, what, min_classes))
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.name.startswith(".") and not _is_dir(entry):
            tree.bad.append((entry.path, "not in a class folder (each image belongs in its class's folder)"))
    for label, name in enumerate(tree.classes):
        folder = root / name
        before = len(tree.files) + len(tree.bad)
        _walk(tree, folder, label, ancestors=(root,), depth=0)
        if len(tree.files) + len(tree.bad) == before:
            raise DataError(f"{shown_path(folder)}: empty class folder; put the class's images in it, or remove it")
    return tree


def _walk(tree: Tree, folder: Path, label: int, ancestors: tuple[Path, ...], depth: int) -> None:
    real = folder.resolve()  # a loop of folders is found below (ancestors), before it is resolved again
    if not real.is_relative_to(tree.root):  # a class folder that is a link to elsewhere
        tree.bad.append((str(folder), f"a symbolic link to {real}, outside {tree.root}: not read"))
        return
    if real in ancestors:
        tree.bad.append((str(folder), f"a symbolic link loop (back to {real})"))
        return
    if depth > MAX_DEPTH:
        tree.bad.append((str(folder), f"nested more than {MAX_DEPTH} folders deep"))
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        tree.bad.append((str(folder), f"cannot list the folder: {error.strerror or error}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # .DS_Store, .ipynb_checkpoints, editors' files
        path = Path(entry.path)
        if entry.is_symlink():
            why = why_unreadable(path)
            if why == LOOP:  # between files (`ln -s b.jpg a.jpg; ln -s a.jpg b.jpg`): resolve() would raise
                tree.bad.append((str(path), f"{LOOP} (between files)"))
                continue
            target = path.resolve()
            if why is not None:
                tree.bad.append((str(path), f"a symbolic link to nothing ({target})"))
                continue
            if not target.is_relative_to(tree.root):
                tree.bad.append((str(path), f"a symbolic link to {target}, outside {tree.root}: not read"))
                continue
        if entry.is_dir():
            _walk(tree, path, label, (*ancestors, real), depth + 1)
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            tree.bad.append((str(path), f"not an image file ({', '.join(IMAGE_SUFFIXES)})"))
        else:
            stat = path.stat()
            tree.files.append(str(path))
            tree.labels.append(label)
            tree.stats.append((stat.st_size, stat.st_mtime_ns))


def cache_root() -> Path:
    from annctl.datasets.fashion_mnist import cache_dir

    return cache_dir() / "image_folder"


def fingerprint(tree: Tree, *extra) -> str:
    digest = hashlib.sha256(repr((CHECK_VERSION, *extra)).encode())
    for path, (size, mtime) in zip(tree.files, tree.stats):
        digest.update(f"{shown_path(path)}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()[:32]


def check_images(tree: Tree, max_pixels: int, decoding: Decoding, cache: bool) -> tuple[list[tuple[str, str]], object]:
    """Bad files (header, then a full decode) and, with ``cache``, the decoded pixels of every file (a
    memory-mapped array, one row per file of the tree). Both are remembered in the cache folder."""
    import numpy as np

    key = fingerprint(tree, max_pixels)
    record = cache_root() / f"checked-{key}.json"
    pixels_path = cache_root() / f"pixels-{key}-{fingerprint(tree, decoding)}.npy"
    bad = _read_json(record)
    pixels = None
    if cache:
        try:
            pixels = np.load(pixels_path, mmap_mode="r")
        except (OSError, ValueError):
            pixels = None
    if bad is not None and (pixels is not None or not cache):
        return [tuple(item) for item in bad], pixels
    bad = []
    readable = []
    for i, path in enumerate(tree.files):
        problem = check_header(Path(path), max_pixels)
        if problem:
            bad.append((path, problem))
        else:
            readable.append(i)
    sink = None
    if cache:
        from annctl.fileio import atomic_path

        with _writable_cache(pixels_path), atomic_path(pixels_path, suffix=".npy") as tmp:
            sink = np.lib.format.open_memmap(
                tmp, mode="w+", dtype="uint8", shape=(len(tree.files), *decoding.sample_shape)
            )
            bad += _decode_all(tree, readable, decoding, sink)
            sink.flush()
            del sink
        pixels = np.load(pixels_path, mmap_mode="r")
    else:
        bad += _decode_all(tree, readable, decoding, None)
    try:
        from annctl.fileio import atomic_write_json

        atomic_write_json(record, sorted(bad))
    except OSError:  # a read-only cache is not an error, just slower next time
        pass
    return sorted(bad), pixels


@contextlib.contextmanager
def _writable_cache(path: Path):
    """`cache: true` where the cache folder cannot be written: exit 2 saying where, and what to do."""
    try:
        yield
    except OSError as error:
        raise DataError(
            f"dataset.cache: cannot write the decoded images to {path.parent}: {error.strerror or error}; set "
            "ANNCTL_CACHE_DIR to a writable folder, or cache: false"
        ) from None


def _decode_all(tree: Tree, indices: list[int], decoding: Decoding, sink) -> list[tuple[str, str]]:
    """Decode every file at ``indices`` in parallel (the training decoder); the ones that fail, with why."""
    import numpy as np
    import tensorflow as tf

    if not indices:
        return []
    files = [tree.files[i] for i in indices]
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(indices, dtype="int64"), files))
    dataset = dataset.map(
        lambda i, path: (i, decoding.decode_file(path)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=False
    )
    decoded = np.zeros(len(tree.files), dtype=bool)
    with quiet_native_stderr():
        for rows, images in dataset.ignore_errors().batch(256).as_numpy_iterator():
            decoded[rows] = True
            if sink is not None:
                sink[np.sort(rows)] = images[np.argsort(rows)]
    bad = []
    for i in indices:
        if not decoded[i]:
            try:
                with quiet_native_stderr():
                    decoding.decode_file(tree.files[i])
                reason = "could not be decoded"
            except tf.errors.OpError as error:
                reason = f"unreadable image: {decode_error(error)}"
            bad.append((tree.files[i], reason))
    return bad


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@register_dataset
class ImageFolder(ImageDataset):
    """Your own images, one subfolder per class (the course's cats and dogs): PNG, JPEG, BMP, GIF."""

    name: Literal["image_folder"] = "image_folder"
    path: str = Field(
        ...,
        min_length=1,
        description="Folder with one subfolder per class (class names = folder names, sorted); "
        "relative to the experiment file.",
    )
    test_path: str | None = Field(
        None, description="Folder of test images in the same class subfolders (default: test_split of path)."
    )
    image_size: list[int] = Field(
        [64, 64], min_length=2, max_length=2, description="[height, width] every image is resized to (bilinear)."
    )
    color_mode: ColorMode = Field("rgb", description="`rgb` (3 channels), `grayscale` (1) or `rgba` (4).")
    interpolation: Interpolation = Field(
        "bilinear", description="How images are resized (antialiased where an image shrinks)."
    )
    validation_split: float = Field(0.2, gt=0, lt=1, description="Fraction of the training images that validate.")
    test_split: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Without test_path: fraction of path's images held out as the test set (default 0.2).",
    )
    on_bad_image: Literal["error", "skip"] = Field(
        "error",
        description="A file that is not a readable image: `error` stops before training naming it (exit 2); "
        "`skip` leaves it out, counted in summary.json (`skipped_images`) and listed in dataset.json.",
    )
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS,
        ge=1,
        le=1_000_000_000,
        description="An image with more pixels (width × height × frames) is refused as unsafe to decode.",
    )
    cache: bool = Field(
        False, description="Keep the decoded, resized images on disk in annctl's cache folder for later epochs."
    )

    @model_validator(mode="after")
    def _check(self) -> ImageFolder:
        if any(not 1 <= side <= 4096 for side in self.image_size):
            raise ValueError(f"image_size: each side must be 1 to 4096 pixels, got {self.image_size}")
        if self.test_path is not None and self.test_split is not None:
            raise ValueError("test_split: give test_path or test_split, not both")
        return self

    @classmethod
    def example(cls, directory):
        """Two classes of 12×10 colour images (6 each) and one image to predict."""
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        root = Path(directory) / "training_set"
        for label, name in enumerate(["cats", "dogs"]):
            (root / name).mkdir(parents=True, exist_ok=True)
            for i in range(6):
                pixels = rng.integers(0, 128, (10, 12, 3)) + 120 * label
                Image.fromarray(pixels.astype("uint8")).save(root / name / f"{i}.png")
        photo = Path(directory) / "photo.jpg"
        Image.fromarray(rng.integers(0, 256, (20, 16, 3)).astype("uint8")).save(photo)
        fields = {"name": "image_folder", "path": str(root), "image_size": [12, 10], "validation_split": 0.25}
        return Example(fields, new_inputs=photo)

    smoke_reference: ClassVar[bool] = False

    def known_task(self):
        return "classification"

    def resolve_paths(self, base_dir: Path) -> ImageFolder:
        update = {}
        for key in ("path", "test_path"):
            value = getattr(self, key)
            if value is not None and not Path(value).expanduser().is_absolute():
                update[key] = str(resolved(base_dir / Path(value).expanduser()))
        return self.model_copy(update=update) if update else self

    def problems(self):
        """The folders exist, hold two or more class folders, none of them empty, and test_path's classes are
        path's: what loading checks before training, without reading an image."""
        found, classes = [], None
        for key in ("path", "test_path"):
            value = getattr(self, key)
            if value is None:
                continue
            try:  # a test set may hold some of the classes only; every class folder must hold images
                names = scan_tree(Path(value), f"dataset.{key}", 2 if key == "path" else 1).classes
            except DataError as error:
                found.append(((key,), str(error)))
                continue
            if classes is None:
                classes = names
            elif set(names) - set(classes):
                found.append(((key,), mismatch(Path(value), names, classes)))
        return found

    def decoding(self) -> Decoding:
        height, width = self.image_size
        return Decoding(height, width, CHANNELS[self.color_mode], self.interpolation)

    def load(self, seed: int) -> Data:
        import numpy as np

        decoding = self.decoding()
        tree = scan_tree(Path(self.path), "dataset.path")
        test_tree = scan_tree(Path(self.test_path), "dataset.test_path", min_classes=1) if self.test_path else None
        if test_tree is not None and set(test_tree.classes) - set(tree.classes):
            raise DataError(mismatch(test_tree.root, test_tree.classes, tree.classes))
        bad, pixels = self.checked(tree, decoding)
        skipped = list(bad)
        keep = self.usable(tree, bad)
        files, labels = np.asarray(tree.files)[keep], np.asarray(tree.labels, dtype="int64")[keep]
        rows = np.flatnonzero(keep)
        if test_tree is None:
            parts = stratified_split(labels, seed, self.test_split or 0.2, self.validation_split)
        else:
            parts = stratified_split(labels, seed, 0.0, self.validation_split)
        splits = {}
        for name in ("train", "validation", "test"):
            chosen = parts.get(name)
            if chosen is not None:
                splits[name] = FileSplit(files[chosen].tolist(), labels[chosen], decoding, pixels, rows[chosen])
        if test_tree is not None:
            test_bad, test_pixels = self.checked(test_tree, decoding)
            skipped += test_bad
            test_keep = self.usable(test_tree, test_bad, allow_empty_class=True)
            relabel = np.asarray([tree.classes.index(name) for name in test_tree.classes], dtype="int64")
            test_labels = relabel[np.asarray(test_tree.labels, dtype="int64")[test_keep]]
            test_files = np.asarray(test_tree.files)[test_keep].tolist()
            splits["test"] = FileSplit(test_files, test_labels, decoding, test_pixels, np.flatnonzero(test_keep))
        if self.max_train_samples:
            splits["train"] = splits["train"].head(self.max_train_samples)
        description = InputDescription(
            kind="image",
            shape=list(decoding.sample_shape),
            dtype="uint8",
            channels=decoding.channels,
            task="classification",
            target_name="class",
            class_names=tree.classes,
            details={
                **decoding.details(),
                "max_pixels": self.max_pixels,
                "images": {name: split.size for name, split in splits.items()},
                "skipped_images": len(skipped),
                "skipped": [{"file": path, "reason": reason} for path, reason in skipped[:SKIPPED_LISTED]],
            },
        )
        return Data(description, splits["train"], splits["validation"], splits["test"])

    def checked(self, tree: Tree, decoding: Decoding, on_bad_image: str | None = None, advice: str | None = None):
        """The tree's bad files (exit 2 with `on_bad_image: error`) and its cached pixels (``cache``).
        ``on_bad_image``: in place of the spec's (`evaluate --on-bad-image`); ``advice``: how the command at hand
        leaves bad files out (training: the spec's field)."""
        found, pixels = check_images(tree, self.max_pixels, decoding, self.cache)
        bad = tree.bad + found
        if bad and (on_bad_image or self.on_bad_image) == "error":
            path, reason = bad[0]
            more = f" (and {plural(len(bad) - 1, 'more bad file')})" if len(bad) > 1 else ""
            advice = advice or "set dataset.on_bad_image: skip to leave bad files out"
            raise DataError(f"{shown_path(path)}: {reason}{more}; remove it, or {advice}")
        return bad, pixels

    def usable(self, tree: Tree, bad: list[tuple[str, str]], allow_empty_class: bool = False):
        """A mask of the tree's files to use; a class left without images is exit 2."""
        import numpy as np

        unusable = {path for path, _ in bad}
        keep = np.asarray([path not in unusable for path in tree.files], dtype=bool)
        labels = np.asarray(tree.labels, dtype="int64")
        for label, name in enumerate(tree.classes):
            if not allow_empty_class and not keep[labels == label].any():
                raise DataError(f"{tree.root / name}: no readable image left in this class folder")
        return keep

    def reader(self, description, source, *, chunk_rows, warn=None):
        return FolderReader(description, source, chunk_rows=chunk_rows, warn=warn, spec=self)


class FolderReader(ImageReader):
    """`predict` as for every image model, bad files as the run's `on_bad_image` says; `evaluate --data FOLDER`
    reads class subfolders like `path` (some of the run's classes are enough: evaluation needs no second)."""

    def __init__(self, description, source, *, chunk_rows, warn, spec: ImageFolder):
        super().__init__(
            description,
            source,
            chunk_rows=chunk_rows,
            warn=warn,
            max_pixels=spec.max_pixels,
            on_bad_image=spec.on_bad_image,
        )
        self.spec = spec

    def read_labeled(self, path: Path) -> FileSplit:
        """The folder's images as a split labelled by the run's classes (a subset of them is fine)."""
        import numpy as np

        classes = self.description.class_names or []
        tree = scan_tree(Path(path), "--data", min_classes=1)
        if set(tree.classes) - set(classes):
            raise DataError(mismatch(tree.root, tree.classes, classes, "the run's"))
        advice = "pass --on-bad-image skip to evaluate without bad files"
        bad, pixels = self.spec.checked(tree, self.decoding, self.on_bad_image, advice)
        keep = self.spec.usable(tree, bad, allow_empty_class=True)
        relabel = np.asarray([classes.index(name) for name in tree.classes], dtype="int64")
        labels = relabel[np.asarray(tree.labels, dtype="int64")[keep]]
        split = FileSplit(np.asarray(tree.files)[keep].tolist(), labels, self.decoding, pixels, np.flatnonzero(keep))
        split.skipped = len(bad)
        return split


def mismatch(root: Path, names: list[str], classes: list[str], whose: str = "dataset.path's") -> str:
    unknown = sorted(set(names) - set(classes))
    return (
        f"{shown_path(root)}: class folders {', '.join(names)} do not match {whose} classes {', '.join(classes)} "
        f"(unknown: {', '.join(unknown)})"
    )


def stratified_split(labels, seed: int, test_fraction: float, validation_fraction: float) -> dict[str, Any]:
    """Indices of each split: per class, a seeded shuffle, then ``test_fraction`` of it for test and
    ``validation_fraction`` of the rest for validation (the course's two nested splits). The training
    indices stay shuffled (classes interleaved, so max_train_samples keeps every class); the others sorted."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "validation": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * test_fraction))
        n_validation = int(round((len(members) - n_test) * validation_fraction))
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test : n_test + n_validation])
        parts["train"].append(members[n_test + n_validation :])
    result: dict[str, Any] = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    for name, fraction in (("validation", validation_fraction), ("test", test_fraction)):
        if fraction and not len(result[name]):
            raise DataError(
                f"dataset.{name}_split: {fraction:g} of {len(labels)} images leaves the {name} set empty; "
                "add images or raise the fraction"
            )
    if not len(result["train"]):
        raise DataError(f"dataset: no training images left after the validation and test splits of {len(labels)}")
    result["train"] = rng.permutation(result["train"])
    result["validation"] = np.sort(result["validation"])
    result["test"] = np.sort(result["test"]) if test_fraction else None
    return result
