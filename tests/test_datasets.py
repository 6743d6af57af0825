"""Dataset loaders on generated files; the real datasets are checked against known figures (marked realdata)."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from annctl.datasets import DATASETS
from annctl.datasets.fashion_mnist import CLASSES, FashionMnist, read_idx
from annctl.errors import DataError

from .conftest import real_data_dir, write_csv


def csv_spec(path: Path, **fields):
    return DATASETS.get("csv").model_validate({"name": "csv", "path": str(path), "target": "target", **fields})


def test_iris_names_and_stratified_deterministic_split():
    spec = DATASETS.get("iris")()
    first, second = spec.load(seed=3), spec.load(seed=3)
    assert first.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert first.class_names == ["setosa", "versicolor", "virginica"]
    assert (len(first.train.x), len(first.validation.x), len(first.test.x)) == (96, 24, 30)
    assert np.array_equal(first.train.x, second.train.x)
    assert np.bincount(first.test.y).tolist() == [10, 10, 10]
    assert not np.array_equal(first.train.x, spec.load(seed=4).train.x)


def test_csv_infers_task_and_class_names(tmp_path):
    data = csv_spec(write_csv(tmp_path / "c.csv", "classification")).load(seed=0)
    assert data.task == "classification" and data.class_names == ["no_class", "yes_class"]
    assert data.feature_names == ["a", "b", "c"]
    data = csv_spec(write_csv(tmp_path / "r.csv", "regression")).load(seed=0)
    assert data.task == "regression" and data.class_names is None
    data = csv_spec(tmp_path / "r.csv", features=["b", "a"]).load(seed=0)
    assert data.feature_names == ["b", "a"] and data.train.x.shape[1] == 2


def test_csv_integer_target_with_few_values_is_classification(tmp_path):
    rows = "\n".join(f"{i * 0.5},{i % 3}" for i in range(30))
    (tmp_path / "k.csv").write_text("x,target\n" + rows + "\n")
    data = csv_spec(tmp_path / "k.csv").load(seed=0)
    assert data.task == "classification" and data.class_names == ["0", "1", "2"]
    data = csv_spec(tmp_path / "k.csv", task="regression").load(seed=0)
    assert data.task == "regression"


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "c.csv is empty; expected a header row and data rows"),
        ("a,target\n", "no data rows"),
        ("a,b\n1,2\n", "no column 'target'; columns: a, b"),
        ("a,target\n1,2\n,3\nNA,4\n", "missing values in a (2); set dataset.missing to drop"),
        ("a,target\n1,2\ninf,3\n", "c.csv:3: column 'a': 'inf' is not a finite number"),
        ("a,target\n1,2\n3\n", "c.csv:3: expected 2 fields, found 1"),
    ],
)
def test_csv_errors_name_file_row_and_column(tmp_path, text, message):
    (tmp_path / "c.csv").write_text(text)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        csv_spec(tmp_path / "c.csv").load(seed=0)


def test_csv_missing_file_and_text_target_for_regression(tmp_path):
    with pytest.raises(DataError, match="no such file: .*none.csv"):
        csv_spec(tmp_path / "none.csv").load(seed=0)
    write_csv(tmp_path / "c.csv", "classification")
    with pytest.raises(DataError, match="non-numeric target 'no_class'|non-numeric target 'yes_class'"):
        csv_spec(tmp_path / "c.csv", task="regression").load(seed=0)


def write_idx(directory: Path, images: np.ndarray, labels: np.ndarray, prefix: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", *images.shape)
    with gzip.open(directory / f"{prefix}-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(header + images.astype(np.uint8).tobytes())
    header = struct.pack(">BBBB", 0, 0, 8, 1) + struct.pack(">I", len(labels))
    with gzip.open(directory / f"{prefix}-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(header + labels.astype(np.uint8).tobytes())


def fake_fashion(root: Path, n_train: int = 40, n_test: int = 10) -> None:
    rng = np.random.default_rng(0)
    write_idx(root / "fashion-mnist", rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train) % 10, "train")
    write_idx(root / "fashion-mnist", rng.integers(0, 256, (n_test, 28, 28)), np.arange(n_test) % 10, "t10k")


def test_fashion_mnist_from_idx_files_split_like_the_course(tmp_path, monkeypatch):
    fake_fashion(tmp_path)
    monkeypatch.setenv("ANNCTL_DATA_DIR", str(tmp_path))
    data = FashionMnist(validation_size=5).load(seed=0)
    assert data.train.x.dtype == np.uint8 and data.train.x.shape == (35, 28, 28)
    assert data.validation.x.shape == (5, 28, 28) and data.test.x.shape == (10, 28, 28)
    assert data.validation.y.tolist() == [0, 1, 2, 3, 4] and data.train.y[0] == 5
    assert data.class_names == CLASSES and data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert data.description.kind == "image"
    cached = list((tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 4  # parsed once, then memory-mapped
    again = FashionMnist(validation_size=5).load(seed=0)
    assert isinstance(again.test.x, np.memmap) and np.array_equal(again.test.x, data.test.x)


def test_fashion_mnist_missing_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNCTL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("annctl.datasets.fashion_mnist.Path.home", lambda: tmp_path / "home")

    def no_download():
        raise OSError("no network")

    import keras

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", no_download)
    if Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is installed here")
    with pytest.raises(DataError) as info:
        FashionMnist().load(seed=0)
    message = str(info.value)
    assert str(tmp_path / "empty" / "fashion-mnist") in message
    assert "/usr/share/datasets/fashion-mnist" in message and "dataset-fashion-mnist" in message


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(struct.pack(">BBBB", 0, 0, 8, 1) + struct.pack(">I", 10) + b"\x01\x02")
    with pytest.raises(DataError, match="truncated IDX file"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(path)


def test_california_missing_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="SCIKIT_LEARN_DATA"):
        DATASETS.get("california_housing")().load(seed=0)


needs_fashion = pytest.mark.skipif(
    real_data_dir() is None or not (real_data_dir() / "fashion-mnist").is_dir(),
    reason="Fashion-MNIST not available (set ANNCTL_DATA_DIR)",
)


@pytest.mark.slow
@pytest.mark.realdata
@needs_fashion
def test_real_fashion_mnist_known_figures(monkeypatch):
    monkeypatch.setenv("ANNCTL_DATA_DIR", str(real_data_dir()))
    data = FashionMnist().load(seed=0)
    full = np.concatenate([data.validation.x, data.train.x])
    assert full.shape == (60000, 28, 28) and data.test.x.shape == (10000, 28, 28)
    assert np.concatenate([data.validation.y, data.train.y])[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert (full / 255.0).mean() == pytest.approx(0.2860, abs=1e-4)
    assert (full / 255.0).std() == pytest.approx(0.3530, abs=1e-4)
    assert np.bincount(data.test.y).tolist() == [1000] * 10


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("SCIKIT_LEARN_DATA"), reason="SCIKIT_LEARN_DATA not set")
def test_real_california_known_figures():
    from sklearn.datasets import fetch_california_housing

    housing = fetch_california_housing(download_if_missing=False)
    assert housing.data.shape == (20640, 8) and housing.target.mean() == pytest.approx(2.0686, abs=1e-4)
    data = DATASETS.get("california_housing")(test_split=0.25, validation_split=0.25).load(seed=42)
    assert data.feature_names[0] == "MedInc" and data.feature_names[-1] == "Longitude"
    assert data.description.target_name == "MedHouseVal"
    assert data.train.size + data.validation.size + data.test.size == 20640


def test_classification_splits_keep_the_class_proportions_for_every_seed():
    """Stratified: 80/20 classes give exactly 20 % of the minority class in every split, whatever the seed (a
    plain random split misses that for most seeds)."""
    from types import SimpleNamespace

    from annctl.datasets.tabular import split_tabular

    y = np.array([0] * 80 + [1] * 20)
    spec = SimpleNamespace(test_split=0.25, validation_split=0.2, max_train_samples=None)
    for seed in range(5):
        _, y_train, _, y_val, _, y_test = split_tabular(np.arange(100), y, spec, seed, stratify=True)
        assert (len(y_train), len(y_val), len(y_test)) == (60, 15, 25)
        assert (int(y_train.sum()), int(y_val.sum()), int(y_test.sum())) == (12, 3, 5), seed
