"""The declared interfaces between datasets and the rest of annctl (annctl/datasets/interfaces.py): every
registered dataset's splits are Splits and its reader an InputReader, and a kind of input is registered by the
module that defines its datasets, not listed in a shared Literal."""

from __future__ import annotations

from typing import ClassVar, Literal

import pytest

from annctl.datasets import DATASETS
from annctl.datasets.base import DatasetSpec, InputDescription
from annctl.datasets.interfaces import InputReader, Split
from annctl.datasets.registry import input_kinds

WITH_EXAMPLES = [name for name, entry in DATASETS.items() if entry.example.__func__ is not DatasetSpec.example.__func__]


def test_datasets_with_examples_cover_every_kind():
    assert {DATASETS.get(name).kind for name in WITH_EXAMPLES} == set(input_kinds())


SLOW = {"image_folder"}  # decodes its images through TensorFlow (~15 s on a shared machine)


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else []) for name in WITH_EXAMPLES]
)
def test_every_dataset_gives_splits_and_a_reader_of_the_declared_interfaces(name, tmp_path, monkeypatch):
    entry = DATASETS.get(name)
    example = entry.example(tmp_path)
    if example is None:
        pytest.skip(f"{name}: only real data exists, and it is absent here")
    for key, value in example.env.items():
        monkeypatch.setenv(key, value)
    spec = entry.model_validate(example.fields).resolve_paths(tmp_path)
    data = spec.load(0)
    for part in ("train", "validation", "test"):
        split = data.split(part)
        assert isinstance(split, Split), (name, part, type(split))
        assert split.size == len(split.labels())
    source = str(example.new_inputs) if example.new_inputs else "-"
    reader = spec.reader(data.description, source, chunk_rows=16)
    assert isinstance(reader, InputReader), type(reader)
    # the optional capabilities answer for every kind: a naive baseline (forecasts, adding's 1.0), files, rolling
    assert (data.test.naive_forecast() is not None) == (name in ("timeseries", "adding") and data.task == "regression")
    assert (data.test.files is not None) == (name == "image_folder")
    assert reader.can_roll == (data.description.kind == "sequence" and name == "timeseries")


def test_a_kind_of_input_is_registered_by_the_module_that_defines_its_dataset(monkeypatch):
    description = {"kind": "text_lines", "shape": [1], "dtype": "string", "task": "classification", "target_name": "y"}
    before = input_kinds()
    with pytest.raises(ValueError, match=f"unknown input kind 'text_lines'; registered: {', '.join(before)}"):
        InputDescription.model_validate(description)

    class TextLines(DatasetSpec):
        kind: ClassVar[str] = "text_lines"
        name: Literal["text_lines_demo"] = "text_lines_demo"

    monkeypatch.setattr(DATASETS, "_entries", {**DATASETS._entries})
    DATASETS.add("text_lines_demo", TextLines)
    assert "text_lines" in input_kinds()
    assert InputDescription.model_validate(description).kind == "text_lines"
    enum = InputDescription.model_json_schema()["properties"]["kind"]["enum"]
    assert enum == sorted([*before, "text_lines"])
