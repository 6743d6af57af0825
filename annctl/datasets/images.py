"""The image kind: pictures as ``uint8`` pixels (a quarter of float32's memory), rescaled to [0, 1] inside the
model, so a saved model takes raw pixels.

Shared by the image entries (fashion_mnist, image_folder): the input block, and how `predict` and
`evaluate --data` read new images (.npy/.npz arrays, image files, a folder of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from annctl.datasets.base import DatasetSpec, InputBlock, InputDescription, Warn
from annctl.datasets.tabular import IMAGE_SUFFIXES, check_finite, load_array
from annctl.errors import DataError

COLOR_MODES = {1: "L", 3: "RGB", 4: "RGBA"}  # channels → Pillow's mode


class ImageDataset(DatasetSpec):
    """Datasets of images: the image input block and image reader."""

    kind: ClassVar[str] = "image"

    def input_block(self, description: InputDescription) -> InputBlock:
        return ImageBlock(description)

    def reader(self, description: InputDescription, source: str, *, chunk_rows: int, warn: Warn | None = None):
        return ImageReader(description, source, chunk_rows=chunk_rows, warn=warn, decode=self.decode_file)

    def decode_file(self, path: Path, description: InputDescription):
        """One image file as the model's input (uint8, the description's shape)."""
        return load_image(path, description)


class ImageBlock(InputBlock):
    """uint8 pixels in, [0, 1] floats of shape (height, width, channels) out."""

    def __init__(self, description: InputDescription):
        self.description = description
        height, width = description.shape[:2]
        self.shape = (height, width, description.channels or 1)

    def chain(self) -> list:
        import keras

        shape = tuple(self.description.shape)
        layers = [
            keras.Input(shape=shape, dtype="uint8", name="image"),
            keras.layers.Rescaling(1 / 255, name="rescale"),
        ]
        if len(shape) == 2:  # grayscale stored without a channel axis (Fashion-MNIST)
            layers.append(keras.layers.Reshape(self.shape, name="add_channel"))
        return layers


def load_image(path: Path, description: InputDescription):
    """An image file converted to the description's colour mode and resized (Pillow, bilinear)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    height, width = description.shape[:2]
    mode = COLOR_MODES[description.channels or 1]
    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype="uint8")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{path}: unreadable image: {error}") from None
    return array.reshape(description.shape)


class ImageReader:
    """New images for `predict`: .npy/.npz arrays shaped like the model's input (uint8 0..255, or floats in
    [0, 1] as the course prepares them, or in 0..255), an image file, or a folder of them."""

    def __init__(
        self,
        description: InputDescription,
        source: str,
        *,
        chunk_rows: int = 8192,
        warn: Warn | None = None,
        decode: Callable[[Path, InputDescription], Any] = load_image,
    ):
        self.description, self.source, self.chunk_rows = description, source, chunk_rows
        self.warn = warn or (lambda message: None)
        self.decode = decode

    def chunks(self) -> Iterator[tuple[Any, list[str] | None]]:
        path = Path(self.source)
        if self.source == "-":
            raise DataError("<stdin>: an image model takes .npy/.npz arrays or image files, not standard input")
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
        suffix = path.suffix.lower()
        if path.is_dir() or suffix in IMAGE_SUFFIXES:
            yield from self._files(path)
            return
        if suffix not in (".npy", ".npz"):
            raise DataError(
                f"{path}: an image model takes .npy/.npz arrays or image files "
                f"({', '.join(IMAGE_SUFFIXES)}), not {suffix or 'this'}"
            )
        yield from self._arrays(path)

    def _arrays(self, path: Path) -> Iterator[tuple[Any, None]]:
        import numpy as np

        array = load_array(path)
        shape = tuple(self.description.shape)
        if tuple(array.shape[1:]) != shape:
            raise DataError(
                f"{path}: array shape {tuple(array.shape)} does not fit the model's input "
                f"(N, {', '.join(map(str, shape))})"
            )
        scale = pixel_scale(array, path)
        if scale != 1:
            self.warn(f"{path}: float pixels in [0, 1]: scaled by 255 to the 0..255 pixels the model takes")
        for start in range(0, len(array), self.chunk_rows):
            chunk = np.asarray(array[start : start + self.chunk_rows])
            check_finite(chunk, path, start)
            yield np.rint(chunk * scale).astype("uint8") if scale != 1 else chunk.astype("uint8"), None

    def _files(self, path: Path) -> Iterator[tuple[Any, list[str]]]:
        import numpy as np

        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not files:
            raise DataError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        for start in range(0, len(files), self.chunk_rows):
            batch = files[start : start + self.chunk_rows]
            yield np.stack([self.decode(file, self.description) for file in batch]), [str(f) for f in batch]

    def read_labeled(self, path: Path):  # pragma: no cover - image_folder overrides (class subfolders)
        raise DataError(f"{path}: --data for image models takes a folder of class subfolders")


def pixel_scale(array, path: Path) -> float:
    """255 for float pixels in [0, 1] (the course's `x / 255.0`), 1 for 0..255; anything else is exit 2."""
    if array.dtype.kind in "ui":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise DataError(f"{path}: image pixel values must lie in 0..255 (found {low}..{high})")
        return 1
    import numpy as np

    finite = np.isfinite(array)
    if not finite.all():
        check_finite(np.asarray(array), path, 0)
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise DataError(
            f"{path}: image pixel values must lie in 0..255, or in 0..1 as floats (found {low:g}..{high:g})"
        )
    return 255.0 if high <= 1.0 else 1.0
