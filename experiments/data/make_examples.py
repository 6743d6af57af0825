"""Writes the example data of the shipped experiments (deterministic; run to regenerate).

    python experiments/data/make_examples.py                 # the small CSV files (committed)
    python experiments/data/make_examples.py fashion_mnist_folders [--per-class N] [--test-per-class N] [--out DIR]

houses.csv    — regression: price (in $100,000) from rooms, area, age and a text column `district`;
                some cells are empty, as in real exports (experiments/csv_regression.yaml).
customers.csv — classification with text labels: which `plan` a customer picks, from age, monthly usage
                and a text column `country`; some cells are NA (experiments/csv_classification.yaml).
gym.csv       — the course's gym schedule: shoulders → biceps → cardio, repeating, one row per day; on a
                missed day (`missed`, about one in six) the schedule stays put, so the next day brings the
                exercise that was missed (experiments/gym_rnn.yaml).
memory.csv    — a sequence whose answer lies far back: `x` is noise in [-1, 1], and `label` on row t says
                whether x was positive MEMORY_SPAN rows earlier — the first step of the window that ends on
                the row before (experiments/memory_*.yaml).
seattle-weather.csv is not generated: it is NOAA's daily Seattle weather 2012–2015 (public domain), as
the vega_datasets package ships it, unchanged.
fashion_mnist_folders/ — Fashion-MNIST as the course's cat/dog practical lays out photos: training_set/<class>/
                and test_set/<class>/, one 28×28 grayscale PNG per image (experiments/fashion_mnist_folders_cnn.yaml).
                Read from the IDX files where the fashion_mnist dataset finds them ($ANNCTL_DATA_DIR/fashion-mnist,
                ~/.keras/datasets/fashion-mnist, /usr/share/datasets/fashion-mnist). Not committed (70,000 files).
"""

import argparse
import csv
import datetime
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent


def houses(rows: int = 600) -> None:
    rng = random.Random(7)
    premium = {"riverside": 0.9, "centre": 0.6, "suburbs": 0.0, "industrial": -0.4}
    with open(HERE / "houses.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rooms", "area", "age", "district", "price"])
        for i in range(rows):
            rooms = rng.randint(1, 7)
            area = round(rng.uniform(25, 220), 1)
            age = rng.randint(0, 90)
            district = rng.choice(list(premium))
            price = 0.4 + 0.15 * rooms + 0.012 * area - 0.006 * age + premium[district] + rng.gauss(0, 0.15)
            cells = [rooms, area, age, district, round(price, 3)]
            if i % 19 == 0:
                cells[1] = ""  # area not recorded
            if i % 31 == 0:
                cells[3] = ""  # district unknown
            writer.writerow(cells)


def customers(rows: int = 600) -> None:
    rng = random.Random(11)
    with open(HERE / "customers.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["age", "monthly_hours", "devices", "country", "plan"])
        for i in range(rows):
            age = rng.randint(18, 80)
            hours = round(rng.uniform(0, 120), 1)
            devices = rng.randint(1, 6)
            country = rng.choice(["DE", "FR", "IT", "ES"])
            score = 0.03 * hours + 0.5 * devices - 0.02 * age + (0.8 if country == "DE" else 0) + rng.gauss(0, 0.4)
            plan = "basic" if score < 1.0 else "family" if score < 2.6 else "premium"
            cells = [age, hours, devices, country, plan]
            if i % 23 == 0:
                cells[1] = "NA"
            writer.writerow(cells)


EXERCISES = ["shoulders", "biceps", "cardio"]
MEMORY_SPAN = 50  # = dataset.window of experiments/memory_*.yaml


def gym(days: int = 730) -> None:
    rng = random.Random(3)
    due = 0  # the exercise the schedule is at
    with open(HERE / "gym.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["day", "exercise"])
        for day in range(days):
            date = (datetime.date(2024, 1, 1) + datetime.timedelta(days=day)).isoformat()
            if rng.random() < 1 / 6:
                writer.writerow([date, "missed"])  # the schedule waits: tomorrow brings today's exercise
                continue
            writer.writerow([date, EXERCISES[due]])
            due = (due + 1) % len(EXERCISES)


def memory(rows: int = 4000) -> None:
    rng = random.Random(5)
    x = [round(rng.uniform(-1, 1), 3) for _ in range(rows)]
    with open(HERE / "memory.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "x", "label"])
        for t in range(rows):
            first = x[t - MEMORY_SPAN] if t >= MEMORY_SPAN else rng.uniform(-1, 1)
            writer.writerow([t, x[t], "positive" if first > 0 else "negative"])


def folder_name(class_name: str) -> str:
    """A class name as a folder name: `T-shirt/top` → `T-shirt_top`, `Ankle boot` → `Ankle_boot`."""
    return class_name.replace("/", "_").replace(" ", "_")


def fashion_mnist_folders(out: Path, per_class: int | None = None, test_per_class: int | None = None) -> dict:
    """Write Fashion-MNIST's training and test images as PNGs in class folders (the first ``per_class`` and
    ``test_per_class`` images of each class, in file order; all by default). Returns the counts written."""
    import numpy as np
    from PIL import Image

    from annctl.datasets.fashion_mnist import CLASSES, load_arrays

    arrays = load_arrays()
    counts = {}
    for split, prefix, limit in (("training_set", "train", per_class), ("test_set", "test", test_per_class)):
        images, labels = arrays[f"x_{prefix}"], np.asarray(arrays[f"y_{prefix}"])
        written = 0
        for label, name in enumerate(CLASSES):
            folder = out / split / folder_name(name)
            folder.mkdir(parents=True, exist_ok=True)
            for index in np.flatnonzero(labels == label)[:limit]:
                Image.fromarray(np.asarray(images[index])).save(folder / f"{index:05d}.png")
                written += 1
        counts[split] = written
    return counts


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=["csv", "fashion_mnist_folders"], default="csv")
    parser.add_argument("--per-class", type=int, default=None, help="training images per class (default: all)")
    parser.add_argument("--test-per-class", type=int, default=None, help="test images per class (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "fashion_mnist_folders", help="folder to write into")
    args = parser.parse_args(argv)
    if args.what == "csv":
        houses()
        customers()
        gym()
        memory()
        return
    counts = fashion_mnist_folders(args.out, args.per_class, args.test_per_class)
    print(f"{args.out}: {counts['training_set']:,} training and {counts['test_set']:,} test images")


if __name__ == "__main__":
    main(sys.argv[1:])
