"""Fashion-MNIST (Zalando) from its four IDX files, split as the course does.

The parsed arrays are cached as ``.npy`` files and memory-mapped, so the second load is instant.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from annctl.datasets.base import ArraySplit, Data, Example, InputDescription, unknown_name
from annctl.datasets.images import ImageDataset
from annctl.datasets.registry import register_dataset
from annctl.errors import DataError
from annctl.wording import shown_path

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def search_dirs() -> list[Path]:
    """Where the IDX files are looked for, in order."""
    dirs = []
    if os.environ.get("ANNCTL_DATA_DIR"):
        dirs.append(Path(os.environ["ANNCTL_DATA_DIR"]) / "fashion-mnist")
    dirs.append(Path.home() / ".keras" / "datasets" / "fashion-mnist")
    dirs.append(Path("/usr/share/datasets/fashion-mnist"))  # Debian: apt install dataset-fashion-mnist
    return dirs


def find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path):
    """Parse one IDX file (gzip or plain) into a uint8 array."""
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{shown_path(path)}: cannot read IDX file: {error}") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{shown_path(path)}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise DataError(
            f"{shown_path(path)}: truncated IDX file ({len(raw) - offset} bytes of data, expected {expected})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def cache_dir() -> Path:
    """Where parsed arrays are cached: $ANNCTL_CACHE_DIR, else $XDG_CACHE_HOME/annctl, else ~/.cache/annctl."""
    if os.environ.get("ANNCTL_CACHE_DIR"):
        return Path(os.environ["ANNCTL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "annctl"


def load_arrays() -> dict:
    """The four arrays, from the first directory that has all IDX files (cached as .npy), else Keras' download."""
    import numpy as np

    from annctl.fileio import atomic_save_npy

    for directory in search_dirs():
        found = {key: find_file(directory, stem) for key, stem in FILES.items()}
        paths = {key: path for key, path in found.items() if path is not None}
        if len(paths) < len(found):
            continue
        arrays = {}
        for key, path in paths.items():
            stat = path.stat()
            cached = cache_dir() / "fashion_mnist" / f"{key}-{stat.st_size}-{int(stat.st_mtime)}.npy"
            try:
                arrays[key] = np.load(cached, mmap_mode="r")
                continue
            except (OSError, ValueError):
                pass
            arrays[key] = read_idx(path)
            try:
                atomic_save_npy(cached, arrays[key])
            except OSError:  # a read-only cache is not an error, just slower next time
                pass
        return arrays
    try:
        import contextlib
        import sys

        import keras

        with contextlib.redirect_stdout(sys.stderr):  # Keras prints "Downloading data from ..." on stdout
            (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    except Exception:  # noqa: BLE001 - any download failure ends in the same advice
        looked = ", ".join(str(d) for d in search_dirs())
        raise DataError(
            f"Fashion-MNIST not found: looked for the 4 IDX files ({', '.join(FILES.values())}, .gz or plain) "
            f"in {looked}, then tried Keras' download, which failed. Install Debian's `dataset-fashion-mnist`, "
            "or put the files in $ANNCTL_DATA_DIR/fashion-mnist."
        ) from None


@register_dataset
class FashionMnist(ImageDataset):
    """Fashion-MNIST: 70,000 28x28 grayscale clothing images, 10 classes (classification)."""

    name: Literal["fashion_mnist"] = "fashion_mnist"
    validation_size: int = Field(
        5000, ge=1, le=59_000, description="The first N training images form the validation set (course: 5,000)."
    )

    classes: list[str] | None = Field(
        None, min_length=2, description="Keep only these classes, by name (e.g. [Sandal, Shirt]), relabelled in order."
    )

    smoke_reference: ClassVar[bool] = True

    @classmethod
    def example(cls, directory):
        """40 training and 10 test images of noise in the four IDX files, and 3 of them as a .npy to predict."""
        import struct

        import numpy as np

        rng = np.random.default_rng(0)
        folder = Path(directory) / "fashion-mnist"
        folder.mkdir(parents=True, exist_ok=True)
        for prefix, count in (("train", 40), ("t10k", 10)):
            images, labels = rng.integers(0, 256, (count, 28, 28)), np.arange(count) % 10
            with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as handle:
                handle.write(struct.pack(">BBBBIII", 0, 0, 8, 3, count, 28, 28) + images.astype("uint8").tobytes())
            with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as handle:
                handle.write(struct.pack(">BBBBI", 0, 0, 8, 1, count) + labels.astype("uint8").tobytes())
        new_inputs = Path(directory) / "images.npy"
        np.save(new_inputs, images[:3].astype("uint8"))
        fields = {"name": "fashion_mnist", "validation_size": 8}
        return Example(fields, env={"ANNCTL_DATA_DIR": str(directory)}, new_inputs=new_inputs)

    def known_task(self):
        return "classification"

    def known_num_classes(self):
        return len(self.classes or CLASSES)

    def problems(self):
        return [
            p
            for i, name in enumerate(self.classes or [])
            for p in unknown_name(("classes", i), name, CLASSES, "class", "classes")
        ]

    def load(self, seed: int) -> Data:
        import numpy as np

        arrays = load_arrays()
        full_x, full_y = arrays["x_train"], arrays["y_train"]
        n = self.validation_size
        parts = {
            "train": (full_x[n:], full_y[n:]),
            "val": (full_x[:n], full_y[:n]),
            "test": (arrays["x_test"], arrays["y_test"]),
        }
        names = CLASSES
        if self.classes:
            unknown = [name for name in self.classes if name not in CLASSES]
            if unknown:
                raise DataError(
                    f"dataset.classes: no class {', '.join(map(repr, unknown))}; classes: {', '.join(CLASSES)}"
                )
            keep = [CLASSES.index(name) for name in self.classes]
            relabel = np.full(len(CLASSES), -1, dtype="int64")
            relabel[keep] = np.arange(len(keep))
            for key, (x, y) in parts.items():
                mask = np.isin(y, keep)
                parts[key] = (x[mask], relabel[y[mask]])
            names = list(self.classes)
        x_train, y_train = parts["train"]
        if self.max_train_samples:
            x_train, y_train = x_train[: self.max_train_samples], y_train[: self.max_train_samples]
        description = InputDescription(
            kind="image",
            shape=[28, 28],
            dtype="uint8",
            channels=1,
            task="classification",
            target_name="label",
            class_names=names,
            details={"color_mode": "grayscale"},
        )
        labels = lambda y: np.asarray(y, dtype="int64")  # noqa: E731
        return Data(
            description,
            ArraySplit(x_train, labels(y_train)),
            ArraySplit(parts["val"][0], labels(parts["val"][1])),
            ArraySplit(parts["test"][0], labels(parts["test"][1])),
        )
