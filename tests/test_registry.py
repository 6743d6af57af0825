import pytest

from annctl.datasets import DATASETS
from annctl.models import ARCHITECTURES
from annctl.registry import Registry


def test_registering_a_name_twice_raises():
    registry: Registry[int] = Registry("widget")
    registry.register("a")(1)
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        registry.register("a")(2)


def test_unknown_name_lists_what_exists_and_suggests():
    registry: Registry[int] = Registry("widget")
    registry.add("alpha", 1)
    registry.add("beta", 2)
    with pytest.raises(KeyError, match=r"unknown widget 'alpah' \(did you mean `alpha`\?\); registered: alpha, beta"):
        registry.get("alpah")


def test_builtin_registries_hold_the_contract_names():
    assert {"iris", "california_housing", "fashion_mnist", "csv"} <= set(DATASETS.names())
    assert "mlp" in ARCHITECTURES


@pytest.mark.parametrize("registry,field", [(DATASETS, "name"), (ARCHITECTURES, "architecture")])
def test_every_entry_is_keyed_by_its_yaml_name_and_described(registry, field):
    for key, entry in registry.items():
        assert entry.model_fields[field].default == key
        assert entry.__doc__ and entry.__doc__.strip(), f"{key} needs a one-line description"
        for name, info in entry.model_fields.items():
            if name != field:
                assert info.description, f"{key}.{name} needs a description (it is the YAML reference)"


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_loads_splits_and_describes_its_example(name, tmp_path, monkeypatch):
    """Each entry's tiny example: three non-empty splits, deterministic in the seed, described truthfully."""
    import json

    import numpy as np

    from annctl.datasets.base import InputDescription

    entry = DATASETS.get(name)
    example = entry.example(tmp_path)
    if example is None:
        pytest.skip(f"{name} exists only as real data, absent here")
    for key, value in example.env.items():
        monkeypatch.setenv(key, value)
    spec = entry.model_validate(example.fields)
    data, again = spec.load(seed=3), spec.load(seed=3)
    description = data.description
    assert description.kind == entry.kind
    assert InputDescription.model_validate(json.loads(description.model_dump_json())) == description
    for split_name in ("train", "validation", "test"):
        split, twin = data.split(split_name), again.split(split_name)
        assert split.size > 0 and len(split.labels()) == split.size
        np.testing.assert_array_equal(split.labels(), twin.labels())
        (batch,) = list(split.x_batches(split.size))
        leaves = list(batch.values()) if isinstance(batch, dict) else [batch]
        assert all(len(leaf) == split.size for leaf in leaves)
        if not isinstance(batch, dict):
            assert list(np.shape(batch)[1:]) == description.shape
    if description.task == "classification":
        labels = np.concatenate([data.split(s).labels() for s in ("train", "validation", "test")])
        assert set(np.unique(labels)) <= set(range(description.num_classes)) and description.num_classes >= 2
    else:
        assert description.class_names is None and description.n_targets >= 1
    if description.kind == "tabular":
        assert len(description.features) == description.shape[0] or description.has_text
