"""The image kind: pictures as ``uint8`` pixels (a quarter of float32's memory), rescaled to [0, 1] inside the
model, so a saved model takes raw pixels.

Shared by the image entries (fashion_mnist, image_folder): the input block (with the random augmentation
layers, active only in training), the one decoder that turns an image file into the model's pixels (for
training, `predict` and `evaluate --data` alike: TensorFlow's decoder and resize, so a single photo is
converted exactly as the training images were), a split of image files read lazily in a parallel tf.data
pipeline, and how `predict` reads new images (.npy/.npz arrays, image files, a folder, a list of files).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from annctl.datasets.base import DatasetSpec, InputBlock, InputDescription, InputKind, Warn
from annctl.datasets.interfaces import InputReader, Split
from annctl.datasets.tabular import IMAGE_SUFFIXES, check_finite, load_array
from annctl.errors import DataError
from annctl.paths import why_unreadable
from annctl.specbase import StrictModel
from annctl.wording import shown_path

ColorMode = Literal["grayscale", "rgb", "rgba"]
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
Interpolation = Literal["bilinear", "nearest", "bicubic", "area"]
LIST_SUFFIXES = (".txt", ".lst")  # `predict --input list.txt`: one image path per line


class Augmentation(StrictModel):
    """Random changes to each training image, as Keras preprocessing layers inside the model: drawn anew for
    every image and epoch, seeded by the experiment's seed, active only in training (a saved model serves
    raw images), and restored exactly by `--resume` like dropout. 0 / false: off."""

    horizontal_flip: bool = Field(False, description="Mirror left-right with probability 1/2 (RandomFlip).")
    vertical_flip: bool = Field(False, description="Mirror top-bottom with probability 1/2 (RandomFlip).")
    rotation: float = Field(0.0, ge=0, le=180, description="Rotate by up to ± this many degrees (RandomRotation).")
    zoom: float = Field(
        0.0, ge=0, le=0.9, description="Zoom height and width independently by up to ± this fraction (RandomZoom)."
    )
    shear: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Shear along x by up to ± this fraction of the width (RandomShear's x_factor; Keras' "
        "ImageDataGenerator reads `shear_range` as degrees instead).",
    )
    translation: float = Field(
        0.0, ge=0, le=1, description="Shift by up to ± this fraction of height and width (RandomTranslation)."
    )
    contrast: float = Field(0.0, ge=0, le=1, description="Scale contrast by a factor in [1 - c, 1 + c].")
    brightness: float = Field(0.0, ge=0, le=1, description="Add up to ± this fraction of white (RandomBrightness).")
    fill_mode: Literal["nearest", "reflect", "constant", "wrap"] = Field(
        "nearest", description="How pixels moved in from outside the image are filled (the course's default)."
    )

    def layers(self) -> list:
        """The Keras layers, in a fixed order, each named `augment_<what>` (pixels already in [0, 1])."""
        import keras

        fill = {"fill_mode": self.fill_mode}
        layers = []
        flips = "horizontal_and_vertical" if self.horizontal_flip and self.vertical_flip else None
        flips = flips or ("horizontal" if self.horizontal_flip else "vertical" if self.vertical_flip else None)
        if flips:
            layers.append(keras.layers.RandomFlip(flips, name="augment_flip"))
        if self.rotation:
            layers.append(keras.layers.RandomRotation(self.rotation / 360, name="augment_rotation", **fill))
        if self.zoom:
            zoom = (-self.zoom, self.zoom)
            layers.append(keras.layers.RandomZoom(zoom, zoom, name="augment_zoom", **fill))
        if self.shear:
            # (0, s): the layer flips the sign itself; a plain s would be saved as (-s, s), which Keras 3.15
            # refuses to load back
            shear = keras.layers.RandomShear(
                x_factor=(0.0, self.shear), y_factor=(0.0, 0.0), name="augment_shear", **fill
            )
            layers.append(shear)
        if self.translation:
            shift = self.translation
            layers.append(keras.layers.RandomTranslation(shift, shift, name="augment_translation", **fill))
        if self.contrast:
            layers.append(keras.layers.RandomContrast(self.contrast, value_range=(0, 1), name="augment_contrast"))
        if self.brightness:
            layers.append(keras.layers.RandomBrightness(self.brightness, value_range=(0, 1), name="augment_brightness"))
        return layers


class ImageDataset(DatasetSpec):
    """Datasets of images: the image input block (with augmentation) and the image reader."""

    kind: ClassVar[InputKind] = "image"

    def summary_fields(self, description: InputDescription, test_metrics: dict[str, Any]) -> dict[str, Any]:
        skipped = description.details.get("skipped_images")  # image_folder with on_bad_image: skip
        return {"skipped_images": skipped} if skipped else {}

    augmentation: Augmentation | None = Field(
        None,
        description="Random changes to training images inside the model, e.g. {horizontal_flip: true, zoom: 0.2, "
        "shear: 0.2} (the course's); also rotation, translation, contrast, brightness, vertical_flip.",
    )

    def input_block(self, description: InputDescription) -> InputBlock:
        return ImageBlock(description, self.augmentation)

    def reader(self, description: InputDescription, source: str, *, chunk_rows: int, warn: Warn | None = None):
        return ImageReader(description, source, chunk_rows=chunk_rows, warn=warn)


BadImages = Literal["error", "skip"]  # `on_bad_image`: what a file that is not a readable image does


class ImageBlock(InputBlock):
    """uint8 pixels in, [0, 1] floats of shape (height, width, channels) out, then the augmentation layers."""

    def __init__(self, description: InputDescription, augmentation: Augmentation | None = None):
        self.description, self.augmentation = description, augmentation
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
        if self.augmentation is not None:
            layers += self.augmentation.layers()
        return layers


# --- the one decoder -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoding:
    """How an image file becomes the model's pixels: TensorFlow decodes it (PNG, JPEG, BMP, GIF's first frame),
    converts its channels to the colour mode, resizes it (``interpolation``, antialiased where it shrinks) and
    rounds to uint8."""

    height: int
    width: int
    channels: int
    interpolation: str = "bilinear"
    antialias: bool = True
    shape: tuple[int, ...] = ()  # the model's input shape when it differs from (height, width, channels)

    @classmethod
    def of(cls, description: InputDescription) -> Decoding:
        details = description.details
        height, width = description.shape[:2]
        shape = tuple(description.shape)
        return cls(
            height,
            width,
            description.channels or 1,
            details.get("interpolation", "bilinear"),
            details.get("antialias", True),
            shape if len(shape) != 3 else (),
        )

    def details(self) -> dict[str, Any]:
        """What dataset.json keeps so that `predict` decodes new images the same way."""
        mode = {value: key for key, value in CHANNELS.items()}[self.channels]
        return {
            "decoder": "tensorflow",
            "color_mode": mode,
            "image_size": [self.height, self.width],
            "interpolation": self.interpolation,
            "antialias": self.antialias,
        }

    def decode(self, contents):
        """Encoded bytes (a scalar string tensor) → uint8 pixels of the model's shape. Graph-safe."""
        import tensorflow as tf

        image = tf.io.decode_image(contents, channels=0, expand_animations=False)
        image = to_channels(image, self.channels)
        size = (self.height, self.width)
        plain = lambda: tf.image.resize(image, size, method=self.interpolation)  # noqa: E731
        if self.antialias:  # only where an axis shrinks: enlarging, it changes nothing but costs 2.4× the time
            shrinks = tf.logical_or(tf.shape(image)[0] > self.height, tf.shape(image)[1] > self.width)
            smooth = lambda: tf.image.resize(image, size, method=self.interpolation, antialias=True)  # noqa: E731
            image = tf.cond(shrinks, smooth, plain)
        else:
            image = plain()
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        image = tf.ensure_shape(image, (self.height, self.width, self.channels))
        return tf.reshape(image, self.shape) if self.shape else image

    def decode_file(self, path):
        import tensorflow as tf

        return self.decode(tf.io.read_file(path))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.shape or (self.height, self.width, self.channels)


def to_channels(image, channels: int):
    """A decoded image with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels in ``channels`` channels:
    alpha dropped or made opaque, gray repeated, RGB weighted to gray (TensorFlow's rgb_to_grayscale)."""
    import tensorflow as tf

    def gray(x):
        count = tf.shape(x)[-1]
        return tf.cond(count <= 2, lambda: x[..., :1], lambda: tf.image.rgb_to_grayscale(x[..., :3]))

    def rgb(x):
        count = tf.shape(x)[-1]
        return tf.cond(count <= 2, lambda: tf.repeat(x[..., :1], 3, axis=-1), lambda: x[..., :3])

    def alpha(x):
        count = tf.shape(x)[-1]
        opaque = tf.fill(tf.concat([tf.shape(x)[:-1], [1]], 0), tf.constant(255, x.dtype))
        return tf.cond(tf.equal(count % 2, 0), lambda: x[..., -1:], lambda: opaque)  # 2 and 4 carry alpha

    if channels == 1:
        return gray(image)
    if channels == 3:
        return rgb(image)
    return tf.concat([rgb(image), alpha(image)], axis=-1)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what the C image libraries print straight to file descriptor 2 ("Improper call to JPEG
    library…") while bad files are decoded: annctl reports them itself, one line per file."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def decode_error(error: Exception) -> str:
    """TensorFlow's message for a file it cannot decode, without its op and function names."""
    text = getattr(error, "message", None) or str(error)
    text = text.split("}}", 1)[-1].split("[Op:", 1)[0].strip(" .\n")
    return text or type(error).__name__


class FileSplit(Split):
    """A split of image files, read lazily: batches of files are read, decoded and resized in a parallel tf.data
    pipeline as training asks for them, so memory does not grow with the number of images. With ``cache`` (a
    uint8 array on disk of every decoded image, row ``rows[i]`` for file ``i``) batches are gathered from it
    instead of decoded again."""

    def __init__(self, files: list[str], y, decoding: Decoding, cache=None, rows=None):
        import numpy as np

        self.files: list[str] = list(files)
        self.y, self.decoding = np.asarray(y, dtype="int64"), decoding
        self.cache = cache
        self.rows = np.asarray(rows if rows is not None else np.arange(len(self.files)), dtype="int64")

    @property
    def size(self) -> int:
        return len(self.files)

    def labels(self):
        return self.y

    def head(self, count: int) -> FileSplit:
        return FileSplit(self.files[:count], self.y[:count], self.decoding, self.cache, self.rows[:count])

    def read(self, indices):
        """uint8 images of the files at ``indices`` (an int64 tensor): graph code for a tf.data map."""
        import tensorflow as tf

        if self.cache is not None:
            cache, rows = self.cache, self.rows

            def gather(batch):
                return cache[rows[batch]]

            images = tf.numpy_function(gather, [indices], tf.uint8, stateful=False)
            return tf.ensure_shape(images, (None, *self.decoding.sample_shape))
        paths = tf.gather(tf.constant(self.files), indices)
        spec = tf.TensorSpec(self.decoding.sample_shape, tf.uint8)
        return tf.map_fn(self.decoding.decode_file, paths, fn_output_signature=spec)

    def batches(self, order):
        import tensorflow as tf

        labels = tf.constant(self.y)

        def load(indices):
            return self.read(indices), tf.gather(labels, indices)

        return order.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def x_batches(self, batch_size: int) -> Iterator[Any]:
        import tensorflow as tf

        order = tf.data.Dataset.range(self.size).batch(min(batch_size, inference_rows(self.decoding.sample_shape)))
        dataset = order.map(self.read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        yield from dataset.prefetch(2).as_numpy_iterator()


def inference_rows(shape) -> int:
    """Images per model call when predicting: about 4 million pixel values a batch (341 images of 64×64 RGB),
    so a convolution's activations stay a few hundred MB at most instead of growing with a large --batch-size."""
    import math

    return max(16, 4_194_304 // math.prod(shape))


def decode_files(files: list[str], decoding: Decoding, batch_size: int = 256) -> Iterator[Any]:
    """The files' pixels, ``batch_size`` at a time, in order (predict). A file that does not decode is exit 2
    naming it."""
    import tensorflow as tf

    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        dataset = tf.data.Dataset.from_tensor_slices(chunk).map(
            decoding.decode_file, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        try:
            with quiet_native_stderr():
                yield next(dataset.batch(len(chunk)).as_numpy_iterator())
        except tf.errors.OpError:
            for path in chunk:  # find the one that failed, and say why
                try:
                    with quiet_native_stderr():
                        decoding.decode_file(path)
                except tf.errors.OpError as error:
                    raise DataError(f"{shown_path(path)}: unreadable image: {decode_error(error)}") from None
            raise


def check_header(path: Path, max_pixels: int) -> str | None:
    """Why ``path`` is not an image annctl will decode (not an image, not PNG/JPEG/BMP/GIF, too many pixels to
    decode safely), read from its header only; None when it is fine."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own DecompressionBombWarning: the limit below decides
            with Image.open(path) as image:
                kind, (width, height) = image.format, image.size
                frames = getattr(image, "n_frames", 1) if kind == "GIF" else 1
    except Image.DecompressionBombError as error:
        return f"too large to decode safely ({error}); the limit is dataset.max_pixels = {max_pixels:,} pixels"
    except UnidentifiedImageError:
        return "unreadable image: not an image, or a damaged one (no PNG, JPEG, BMP or GIF header)"
    except (OSError, ValueError, SyntaxError) as error:
        return f"unreadable image: {error}"
    if kind not in ("PNG", "JPEG", "MPO", "BMP", "GIF"):
        return f"a {kind} image; annctl reads PNG, JPEG, BMP and GIF"
    if width * height * frames > max_pixels:
        what = f"{width}×{height} pixels" + (f" × {frames} frames" if frames > 1 else "")
        return f"too large to decode safely ({what}); the limit is dataset.max_pixels = {max_pixels:,} pixels"
    return None


class ImageReader(InputReader):
    """New images for `predict`: .npy/.npz arrays shaped like the model's input (uint8 0..255, or floats in
    [0, 1] as the course prepares them, or in 0..255), an image file, a folder of them (nested folders too), or
    a list file (.txt: one image path per line, relative to the list file's folder; # comments).

    A folder's or a list's files that are not readable images (another kind of file, `Thumbs.db`, a `.webp`,
    a damaged image, a symbolic-link loop) are handled as training handles them (``on_bad_image``, the run's
    `dataset.on_bad_image` unless `--on-bad-image` says otherwise): `error` stops with exit 2 naming the first
    one and counting the rest; `skip` leaves them out, lists them in ``skipped`` and says so on stderr with the
    count. Hidden files (`.DS_Store`) are not looked at, as in training. One file given alone must be an image.
    """

    can_skip_bad_files = True

    def __init__(
        self,
        description: InputDescription,
        source: str,
        *,
        chunk_rows: int = 8192,
        warn: Warn | None = None,
        max_pixels: int | None = None,
        on_bad_image: BadImages = "error",
    ):
        self.description, self.source = description, source
        self.chunk_rows = min(chunk_rows, inference_rows(description.shape))  # each chunk is one model call
        self.warn = warn or (lambda message: None)
        self.decoding = Decoding.of(description)
        self.max_pixels = max_pixels or description.details.get("max_pixels") or DEFAULT_MAX_PIXELS
        self.on_bad_image = on_bad_image
        self.encoding = description.details.get("encoding", "utf-8")  # of a list file (`--encoding`)
        self.skipped: list[tuple[str, str]] = []  # (file, why) left out under `skip`

    def chunks(self) -> Iterator[tuple[Any, list[str] | None]]:
        path = Path(self.source)
        if self.source == "-":
            raise DataError("<stdin>: an image model takes .npy/.npz arrays or image files, not standard input")
        if (why := why_unreadable(path)) is not None:
            raise DataError(f"{shown_path(path)}: {why}")
        suffix = path.suffix.lower()
        if path.is_dir() or suffix in IMAGE_SUFFIXES or suffix in LIST_SUFFIXES:
            yield from self._files(path)
            return
        if suffix not in (".npy", ".npz"):
            raise DataError(
                f"{shown_path(path)}: "
                f"an image model takes .npy/.npz arrays, image files ({', '.join(IMAGE_SUFFIXES)}), "
                f"a folder of them or a list of them ({', '.join(LIST_SUFFIXES)}), not {suffix or 'this'}"
            )
        yield from self._arrays(path)

    def _arrays(self, path: Path) -> Iterator[tuple[Any, None]]:
        import numpy as np

        array = load_array(path, self.description.shape)
        scale = pixel_scale(array, path)
        if scale != 1:
            self.warn(f"{shown_path(path)}: float pixels in [0, 1]: scaled by 255 to the 0..255 pixels the model takes")
        for start in range(0, len(array), self.chunk_rows):
            chunk = np.asarray(array[start : start + self.chunk_rows])
            check_finite(chunk, path, start)
            yield np.rint(chunk * scale).astype("uint8") if scale != 1 else chunk.astype("uint8"), None

    def image_files(self, path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
        """The image files ``path`` names, and the files it names that are not images, each with why."""
        if path.is_dir():
            files: list[Path] = []
            bad: list[tuple[str, str]] = []
            for entry in sorted(path.rglob("*")):
                if any(part.startswith(".") for part in entry.relative_to(path).parts):
                    continue  # .DS_Store, .ipynb_checkpoints: as in training
                why = why_unreadable(entry)
                if why is None and entry.is_dir():
                    continue
                if why is None and entry.suffix.lower() not in IMAGE_SUFFIXES:
                    why = f"not an image file ({', '.join(IMAGE_SUFFIXES)})"
                if why is None:
                    files.append(entry)
                else:
                    bad.append((str(entry), why))
            if not files and not bad:
                raise DataError(f"{shown_path(path)}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            return files, bad
        if path.suffix.lower() in LIST_SUFFIXES:
            listed_bad: list[tuple[str, str]] = []
            skip = self.on_bad_image == "skip"
            return list_file(path, self.encoding, listed_bad if skip else None), listed_bad
        return [path], []

    def skipped_files(self) -> list[tuple[str, str]]:
        return self.skipped

    def _bad(self, bad: list[tuple[str, str]], alone: bool) -> None:
        """Bad files met: exit 2 naming the first (``alone``: the one file given; always), or skipped."""
        if not bad:
            return
        if alone or self.on_bad_image == "error":
            file, why = bad[0]
            others = len(bad) - 1
            what = "files that are not readable images" if others > 1 else "file that is not a readable image"
            more = f" (and {others} more {what})"
            advice = "" if alone else "; remove it, or pass --on-bad-image skip to leave such files out"
            raise DataError(f"{shown_path(file)}: {why}{more if others else ''}{advice}")
        self.skipped += bad

    def _files(self, path: Path) -> Iterator[tuple[Any, list[str]]]:
        import numpy as np

        alone = not path.is_dir() and path.suffix.lower() not in LIST_SUFFIXES
        files, bad = self.image_files(path)
        for file in files:  # what the header says, before anything is decoded
            why = why_unreadable(file) or (None if file.is_file() else "not a file")
            why = why or check_header(file, self.max_pixels)
            if why:
                bad.append((str(file), why))
        self._bad(bad, alone)
        broken = {name for name, _ in bad}
        files = [file for file in files if str(file) not in broken]
        predicted = 0
        for start in range(0, len(files), self.chunk_rows):
            batch = [str(f) for f in files[start : start + self.chunk_rows]]
            try:
                pixels = np.concatenate(list(decode_files(batch, self.decoding)))
            except DataError:
                if alone or self.on_bad_image == "error":
                    raise
                pixels, batch = self._decode_each(batch)
                if not batch:
                    continue
            predicted += len(batch)
            yield pixels, batch
        if self.skipped:
            listed = ", ".join(f"{name} ({why})" for name, why in self.skipped[:3])
            more = f", and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            self.warn(
                f"{shown_path(path)}: "
                f"skipped {len(self.skipped)} file(s) that are not readable images (on_bad_image: skip): "
                f"{listed}{more}"
            )
        if not predicted:
            raise DataError(f"{shown_path(path)}: no readable images to predict ({len(self.skipped)} skipped)")

    def _decode_each(self, batch: list[str]):
        """A batch in which some file does not decode: each file alone, the bad ones skipped."""
        import numpy as np

        pixels, kept = [], []
        for file in batch:
            try:
                pixels += list(decode_files([file], self.decoding))
                kept.append(file)
            except DataError as error:
                self.skipped.append((file, str(error).removeprefix(f"{shown_path(file)}: ")))
        return (np.concatenate(pixels) if pixels else None), kept

    def read_labeled(self, path: Path):  # pragma: no cover - image_folder overrides (class subfolders)
        raise DataError(f"{shown_path(path)}: --data for image models takes a folder of class subfolders")


DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold (a 24-bit image of 256 MB)


def list_file(path: Path, encoding: str = "utf-8", bad: list[tuple[str, str]] | None = None) -> list[Path]:
    """The image paths a list file names, one per line (relative to its folder); blank lines and # comments
    skipped. Read by the one text reader (a byte-order mark, CRLF, ``encoding``). An entry that is not an image
    file is exit 2 naming the list's line, or with ``bad`` (`on_bad_image: skip`) added to it."""
    from annctl.datasets.csv_dialect import read_lines

    files = []
    for number, entry in read_lines(path, encoding):
        if not entry or entry.startswith("#"):
            continue
        file = Path(entry).expanduser()
        file = file if file.is_absolute() else path.parent / file
        why = None
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            why = f"{entry!r} is not an image file ({', '.join(IMAGE_SUFFIXES)})"
        elif (unreadable := why_unreadable(file)) is not None:
            why = f"{entry!r}: {unreadable.replace('no such file or folder', 'no such file')} ({file})"
        elif not file.is_file():
            why = f"{entry!r}: not a file ({file})"
        if why is None:
            files.append(file)
        elif bad is None:
            raise DataError(f"{shown_path(path)}:{number}: {why}")
        else:
            bad.append((f"{shown_path(path)}:{number}", why))
    if not files and not bad:
        raise DataError(f"{shown_path(path)}: the list names no images")
    return files


def pixel_scale(array, path: Path) -> float:
    """255 for float pixels in [0, 1] (the course's `x / 255.0`), 1 for 0..255; anything else is exit 2."""
    if array.dtype.kind in "ui":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise DataError(f"{shown_path(path)}: image pixel values must lie in 0..255 (found {low}..{high})")
        return 1
    import numpy as np

    finite = np.isfinite(array)
    if not finite.all():
        check_finite(np.asarray(array), path, 0)
    lowest, highest = float(array.min()), float(array.max())
    if lowest < 0 or highest > 255:
        raise DataError(
            f"{shown_path(path)}: "
            f"image pixel values must lie in 0..255, or in 0..1 as floats (found {lowest:g}..{highest:g})"
        )
    return 255.0 if highest <= 1.0 else 1.0
