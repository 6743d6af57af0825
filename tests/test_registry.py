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
