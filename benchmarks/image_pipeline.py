"""The image_folder pipeline on Fashion-MNIST written as class folders of PNGs, at the shipped experiment's
settings (64×64 RGB, the course's CNN and augmentation):

1. images/s of the input pipeline alone (read, decode, resize, batch: one epoch of the training split, as
   training orders it), first from the files, then from `cache: true`'s decoded pixels;
2. images/s of training (one epoch of `fit` on the first --fit-images training images, no validation) fed by
   the pipeline, and the same model fed the same batches from memory, alternately --repeats times; the
   fraction of the streamed epoch spent waiting for data is 1 − (in-memory epoch time / streamed epoch time),
   from the fastest epoch of each (other processes on a shared machine only ever slow an epoch down);
3. peak RSS of `annctl train experiments/fashion_mnist_folders_cnn.yaml` (1 epoch) on trees of 2,000 and
   20,000 training images (the same 1,000 test images), each in its own process with a fresh cache folder
   (so the check of every file is included), from the kernel's accounting of that child (os.wait4).

Usage: python benchmarks/image_pipeline.py [--small 2000] [--large 20000] [--fit-images 4000] [--repeats 5]
       [--skip-rss] [--work DIR]
Needs the Fashion-MNIST IDX files where the fashion_mnist dataset finds them ($ANNCTL_DATA_DIR/fashion-mnist, …).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "fashion_mnist_folders_cnn.yaml"
sys.path.insert(0, str(REPO / "experiments" / "data"))


def make_tree(folder: Path, per_class: int, test_per_class: int = 100) -> Path:
    from make_examples import fashion_mnist_folders

    if not (folder / "training_set").is_dir():
        fashion_mnist_folders(folder, per_class, test_per_class)
    return folder


def pipeline_and_training(tree: Path, batch_size: int, fit_images: int, repeats: int) -> dict:
    """Parts 1 and 2, in this process."""
    from annctl.config import load_spec, resolve
    from annctl.datasets.base import ArraySplit
    from annctl.training.assemble import batch_preparer, make_model
    from annctl.training.pipeline import training_dataset
    from annctl.training.tf_setup import configure_threads, seed_everything

    overrides = [f"dataset.path={tree / 'training_set'}", f"dataset.test_path={tree / 'test_set'}"]
    spec = load_spec(EXPERIMENT, overrides)
    configure_threads(spec)
    seed_everything(spec.seed)
    started = time.perf_counter()
    data = spec.dataset.load(spec.seed)
    load_seconds = time.perf_counter() - started
    spec = resolve(spec, data.task, data.num_classes)
    prepare = batch_preparer(spec, data.description)
    result = {"train_images": data.train.size, "first_load_seconds (scan + check of every file)": load_seconds}

    def one_epoch(split) -> float:
        dataset, _, _ = training_dataset(split, batch_size, True, spec.seed, prepare)
        started = time.perf_counter()
        for _ in dataset:
            pass
        return time.perf_counter() - started

    one_epoch(data.train.head(batch_size * 4))  # warm up tf.data and the decoder
    seconds = one_epoch(data.train)
    result["pipeline_images_per_second (files)"] = data.train.size / seconds
    cached_spec = load_spec(EXPERIMENT, [*overrides, "dataset.cache=true"])
    cached = cached_spec.dataset.load(spec.seed)  # fills the cache (decodes every file once)
    cached = cached_spec.dataset.load(spec.seed)  # and reads it back
    seconds = one_epoch(cached.train)
    result["pipeline_images_per_second (cache: true)"] = cached.train.size / seconds

    import numpy as np

    files = data.train.head(fit_images)
    in_memory = ArraySplit(np.concatenate(list(files.x_batches(1024))), files.labels())

    def fit_epoch(split) -> float:
        model = make_model(spec, data.description)
        dataset, _, _ = training_dataset(split, batch_size, True, spec.seed, prepare)
        model.fit(dataset.take(8), epochs=1, verbose=0, shuffle=False)  # compile and warm up outside the timing
        started = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - started

    times: dict[str, list[float]] = {"streamed": [], "memory": []}
    for _ in range(repeats):
        times["streamed"].append(fit_epoch(files))
        times["memory"].append(fit_epoch(in_memory))
    streamed, from_memory = min(times["streamed"]), min(times["memory"])
    result["fit_images"] = files.size
    result["epoch_seconds (streamed, each repeat)"] = [round(t, 2) for t in times["streamed"]]
    result["epoch_seconds (from memory, each repeat)"] = [round(t, 2) for t in times["memory"]]
    result["training_images_per_second (streamed from files, fastest epoch)"] = files.size / streamed
    result["training_images_per_second (same batches from memory, fastest epoch)"] = files.size / from_memory
    result["fraction of the streamed epoch waiting for data (fastest epochs)"] = max(0.0, 1 - from_memory / streamed)
    return result


def peak_rss(tree: Path, runs: Path) -> dict:
    """Part 3: `annctl train` (1 epoch) in a child process; its peak RSS and wall time."""
    env = {**os.environ, "ANNCTL_CACHE_DIR": tempfile.mkdtemp(prefix="annctl-bench-cache-")}
    command = [
        sys.executable, "-m", "annctl", "train", str(EXPERIMENT), "--quiet", "--runs-dir", str(runs),
        "--set", "training.epochs=1",
        "--set", f"dataset.path={tree / 'training_set'}", "--set", f"dataset.test_path={tree / 'test_set'}",
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    run_dir = process.stdout.read().strip()
    process.stdout.close()
    if status != 0:
        raise SystemExit(f"annctl train failed (status {status}): {' '.join(command)}")
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    return {
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports kilobytes
        "command_seconds": seconds,
        "train_samples_per_second": summary["train_samples_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="image_folder pipeline: images/s, waiting fraction, peak RSS")
    parser.add_argument("--small", type=int, default=2000, help="training images of the small tree")
    parser.add_argument("--large", type=int, default=20000, help="training images of the large tree")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--fit-images", type=int, default=4000, help="training images per timed fit epoch")
    parser.add_argument("--repeats", type=int, default=5, help="timed fit epochs of each kind, alternately")
    parser.add_argument("--work", type=Path, default=None, help="folder for the trees and runs (default: temp)")
    parser.add_argument("--skip-rss", action="store_true", help="only parts 1 and 2")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="annctl-bench-images-"))
    small = make_tree(work / f"tree-{args.small}", args.small // 10)
    large = make_tree(work / f"tree-{args.large}", args.large // 10)
    report = {"machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start"}
    if not args.skip_rss:  # before this process imports TensorFlow and fills its memory
        for images, tree in ((args.small, small), (args.large, large)):
            report[f"annctl train, 1 epoch, {images:,} training images"] = peak_rss(tree, work / "runs")
    report["pipeline and training (large tree)"] = pipeline_and_training(
        large, args.batch_size, args.fit_images, args.repeats
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
