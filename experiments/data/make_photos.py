"""Writes a small photo folder tree to try the `image_folder` dataset before you have photos of your own:

    python experiments/data/make_photos.py data            # data/training_set/{cats,dogs}, data/test_set/...

Two classes of 64×64 JPEG "photos" (deterministic): `cats` are warm-coloured with a bright disc, `dogs` are
cool-coloured with a dark bar, on noisy backgrounds, so a small CNN tells them apart in a few epochs. The layout
is the course's cats-and-dogs practical: one folder per class, the class names are the folder names.
"""

import argparse
import sys
from pathlib import Path


def photo(kind: str, rng):
    import numpy as np
    from PIL import Image

    size = 64
    base = np.array([200, 120, 60] if kind == "cats" else [60, 110, 190], dtype=float)
    pixels = base + rng.normal(0, 25, size=(size, size, 3))
    rows, cols = np.mgrid[:size, :size]
    centre = rng.integers(16, size - 16, size=2)
    if kind == "cats":
        pixels[(rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < rng.integers(60, 150)] = [250, 240, 200]
    else:
        pixels[abs(rows - centre[0]) < rng.integers(3, 7)] = [20, 20, 40]
    return Image.fromarray(pixels.clip(0, 255).astype("uint8"))


def write_photos(out: Path, per_class: int = 24, test_per_class: int = 8, seed: int = 0) -> int:
    """Write ``per_class`` training and ``test_per_class`` test photos of each class; returns how many."""
    import numpy as np

    rng = np.random.default_rng(seed)
    written = 0
    for split, count in (("training_set", per_class), ("test_set", test_per_class)):
        for kind in ("cats", "dogs"):
            folder = out / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(1, count + 1):
                photo(kind, rng).save(folder / f"{kind[:-1]}.{index}.jpg", quality=90)
                written += 1
    return written


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write training_set/ and test_set/ into")
    parser.add_argument("--per-class", type=int, default=24, help="training photos per class (default 24)")
    parser.add_argument("--test-per-class", type=int, default=8, help="test photos per class (default 8)")
    args = parser.parse_args(argv)
    count = write_photos(args.out, args.per_class, args.test_per_class)
    print(f"{args.out}: {count} photos in training_set/ and test_set/")


if __name__ == "__main__":
    main(sys.argv[1:])
