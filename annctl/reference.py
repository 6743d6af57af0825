"""The experiment file's JSON Schema and Markdown reference, both generated from the pydantic field
descriptions, so the docs cannot drift from the code (tests compare them with the committed files)."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from annctl.datasets import DATASETS
from annctl.fileio import atomic_write_text
from annctl.models import ARCHITECTURES
from annctl.spec import (
    CosineDecay,
    EarlyStoppingSpec,
    ExperimentSpec,
    ExponentialDecay,
    OutputSpec,
    ReduceOnPlateau,
    TrainingSpec,
)
from annctl.specbase import first_line
from annctl.tuning.space import ChoiceParam, FloatParam, IntParam, SearchSpec

SCHEMA_ID = "https://annctl.example/experiment.schema.json"


def record_schema_text(name: str) -> str:
    """The JSON Schema of a run-directory record (annctl.records.RECORDS: summary, dataset, manifest, env), as
    the files are written (computed keys included)."""
    from annctl.records import RECORDS

    record = RECORDS[name]
    schema = record.model_json_schema(mode="serialization")
    schema.pop("title", None)
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://annctl.example/{name}.schema.json",
        "title": f"annctl {(record.__doc__ or '').strip().split(':')[0].strip('`')}",
        **schema,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def json_schema() -> dict[str, Any]:
    schema = ExperimentSpec.model_json_schema()
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "annctl experiment",
        **schema,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        return f"mapping to {_type_name(typing.get_args(annotation)[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return getattr(annotation, "__name__", str(annotation))


def _default(info) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        return "(section defaults)"
    if info.default is PydanticUndefined or info.default is None:
        return "none"
    return f"`{json.dumps(info.default)}`"


def _table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(info.annotation)} | {_default(info)} | {description} |")
    return lines


def markdown_reference() -> str:
    out = [
        "# Experiment file reference",
        "",
        "Generated from annctl's pydantic models by `annctl schema --markdown`; do not edit by hand.",
        "Editors that speak JSON Schema validate and complete experiment files against "
        "`experiment.schema.json` (`annctl schema`).",
        "",
        "## Top level",
        "",
    ]
    out += _table(ExperimentSpec)
    out += ["", "## `dataset`", "", "`name` picks the dataset; the other fields depend on it.", ""]
    for key, cls in DATASETS.items():
        out += [f"### `name: {key}`", "", first_line(cls.__doc__), ""] + _table(cls, skip=("name",)) + [""]
    from annctl.datasets.images import Augmentation

    out += ["### `dataset.augmentation` (image datasets)", "", " ".join((Augmentation.__doc__ or "").split()), ""]
    out += _table(Augmentation) + [""]
    out += ["## `model`", "", "`architecture` picks the network; the other fields depend on it.", ""]
    for key, architecture in ARCHITECTURES.items():
        doc = first_line(architecture.__doc__)
        out += [f"### `architecture: {key}`", "", doc, ""] + _table(architecture, skip=("architecture",))
        out += [""]
    out += ["## `training`", ""] + _table(TrainingSpec)
    out += ["", "### `training.early_stopping`", ""] + _table(EarlyStoppingSpec)
    for schedule in (ExponentialDecay, CosineDecay, ReduceOnPlateau):
        kind = schedule.model_fields["type"].default
        out += ["", f"### `training.lr_schedule` with `type: {kind}`", "", first_line(schedule.__doc__), ""]
        out += _table(schedule, skip=("type",))
    out += ["", "## `output`", ""] + _table(OutputSpec)
    out += ["", "## `search` (for `annctl tune`)", "", first_line(SearchSpec.__doc__), ""] + _table(SearchSpec)
    out += ["", "Each entry of `space` maps a dotted spec path (e.g. `training.learning_rate`) to one of:"]
    for param in (FloatParam, IntParam, ChoiceParam):
        kind = param.model_fields["type"].default
        out += ["", f"### `type: {kind}`", "", first_line(param.__doc__), ""] + _table(param, skip=("type",))
    return "\n".join(out) + "\n"


def generated_files() -> dict[str, str]:
    """Every file generated from annctl's code (spec models, records, the command line, error classes,
    registries), by its path in the repository."""
    from annctl import reference_pages
    from annctl.records import RECORDS

    files = {"experiment.schema.json": json_schema_text(), "docs/reference.md": markdown_reference()}
    files.update({f"schemas/{name}.schema.json": record_schema_text(name) for name in RECORDS})
    files.update({f"docs/reference/{name}.md": page() for name, page in reference_pages.PAGES.items()})
    return files


def regenerate(root: Path) -> list[str]:
    """Rewrite the generated files under ``root`` (the repository) that are out of date; return their paths."""
    changed = []
    for name, text in generated_files().items():
        path = root / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
            changed.append(name)
    return changed


if __name__ == "__main__":  # python -m annctl.reference: regenerate every generated file, from the repository root
    for name in regenerate(Path.cwd()):
        print(f"regenerated {name}")
