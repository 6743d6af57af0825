"""Load an experiment file into a validated ExperimentSpec, or raise SpecError listing every problem.

Each problem reads ``FILE:LINE:COL: field.path: message``, with "did you mean" for misspelt keys and the
registered names for an unknown dataset or architecture. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from annctl import yamlsafe
from annctl.datasets import DATASETS
from annctl.errors import SpecError
from annctl.models import ARCHITECTURES
from annctl.spec import ExperimentSpec, resolve
from annctl.tuning.space import ChoiceParam, FloatParam, IntParam

# Discriminated unions: pydantic puts the tag in an error's location right after these paths.
UNIONS = {("dataset",): ("name", DATASETS), ("model",): ("architecture", ARCHITECTURES)}
PARAM_TYPES = {"float": FloatParam, "int": IntParam, "choice": ChoiceParam}


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentSpec:
    """Read, override, validate and (when the data's task is known without loading it) resolve."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()[: yamlsafe.MAX_BYTES + 1]
    except FileNotFoundError:
        raise SpecError([f"{source}: no such file"]) from None
    except IsADirectoryError:
        raise SpecError([f"{source}: is a directory, expected an experiment YAML file"]) from None
    except OSError as error:
        raise SpecError([f"{source}: cannot read: {error.strerror or error}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SpecError([f"{source}:{line}:1: not UTF-8 text (byte {error.start}); save the file as UTF-8"]) from None
    if "\x00" in text:
        raise SpecError([f"{source}:1:1: binary file (contains NUL bytes), expected YAML text"])
    return spec_from_text(text, source, overrides, base_dir=path.resolve().parent)


def spec_from_text(
    text: str, source: str, overrides: list[str] | tuple[str, ...] = (), base_dir: Path | None = None
) -> ExperimentSpec:
    try:
        document = yamlsafe.parse(text)
    except yamlsafe.YamlProblem as problem:
        raise SpecError([f"{source}:{problem.line}:{problem.column}: {problem.message}"]) from None
    data = document.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError([f"{source}:1:1: expected a mapping of sections (name, dataset, model, training, output)"])
    overridden = apply_overrides(data, overrides)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(format_errors(error, data, document, source, overridden)) from None
    if spec.search is not None:
        check_space(spec, data, document, source)
    if base_dir is not None:
        spec.dataset = spec.dataset.resolve_paths(base_dir)
    task = spec.dataset.known_task()
    num_classes = spec.dataset.known_num_classes()
    if task is not None and (task == "regression" or num_classes is not None):
        spec = resolve_or_raise(spec, task, num_classes or 0, source, document, overridden)
    return spec


def check_space(spec: ExperimentSpec, data: dict, document, source: str) -> None:
    """Every value a search can sample at its ends (each choice, each bound) must make a valid experiment."""
    from annctl.tuning.space import trial_data

    base = {key: value for key, value in data.items() if key != "search"}
    space = spec.search.space
    firsts = {path: param.extremes()[0] for path, param in space.items()}  # the others sit at their first value
    problems = []
    for path, param in space.items():
        line, column = document.position(("search", "space", path))
        where = f"{source}:{line}:{column}: search.space.{path}"
        for value in param.extremes():
            candidate = trial_data(base, {**firsts, path: value})
            try:
                ExperimentSpec.model_validate(candidate)
            except ValidationError as error:
                label = f"{source}: --set {path}"
                for problem in format_errors(error, candidate, None, source, {tuple(path.split("."))}):
                    problems.append(
                        f"{where}: value {json.dumps(value)} is invalid: {problem.removeprefix(label + ': ')}"
                    )
                break
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))


def resolve_or_raise(spec, task, num_classes, source, document=None, overridden=frozenset()) -> ExperimentSpec:
    """``resolve`` with its ValueError turned into a positioned SpecError."""
    try:
        return resolve(spec, task, num_classes)
    except ValueError as error:
        field, _, message = str(error).partition(": ")
        path = tuple(field.split("."))
        raise SpecError([f"{_where(source, document, path, overridden)}: {field}: {message}"]) from None


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...]) -> set[tuple]:
    """Apply ``PATH=VALUE`` strings in place (VALUE is YAML: ``[64,32]``, ``1e-3``); return the paths set."""
    paths = set()
    problems = []
    for item in overrides:
        key, sep, value_text = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*", key):
            problems.append(f"--set {item}: expected PATH=VALUE, e.g. training.epochs=3")
            continue
        try:
            value = yamlsafe.parse(value_text).data
        except yamlsafe.YamlProblem as problem:
            problems.append(f"--set {item}: {problem.message}")
            continue
        path = tuple(int(part) if part.isdigit() else part for part in key.split("."))
        node: Any = data
        for depth, part in enumerate(path[:-1]):
            child = node[part] if _has(node, part) else None
            if child is None:
                if isinstance(part, int):
                    problems.append(f"--set {item}: {'.'.join(map(str, path[: depth + 1]))} does not exist")
                    break
                child = node[part] = {}
            if not isinstance(child, (dict, list)):
                problems.append(f"--set {item}: {'.'.join(map(str, path[: depth + 1]))} is a value, not a section")
                break
            node = child
        else:
            last = path[-1]
            if isinstance(node, list) and (not isinstance(last, int) or last >= len(node)):
                problems.append(f"--set {item}: index {last} is outside the list")
                continue
            node[last] = value
            paths.add(path)
    if problems:
        raise SpecError(problems)
    return paths


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def format_errors(error: ValidationError, data: dict, document, source: str, overridden) -> list[str]:
    problems = []
    for item in error.errors():
        path, model = _clean(item["loc"], data)
        kind, message = item["type"], item["msg"]
        if kind == "literal_error" and path[:-1] in UNIONS and path[-1] == UNIONS[path[:-1]][0]:
            kind = "union_tag_invalid"  # a union of one member: pydantic checks the tag as a Literal
            path = path[:-1]
            item = {**item, "ctx": {"tag": item.get("input")}}
        if kind == "extra_forbidden":
            message = f"unknown field `{path[-1]}`"
            _, parent = _clean(item["loc"][:-1], data)
            if parent is not None:
                close = difflib.get_close_matches(str(path[-1]), list(parent.model_fields), n=1)
                message += f" (did you mean `{close[0]}`?)" if close else f"; allowed: {', '.join(parent.model_fields)}"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            tag, registry = UNIONS[path]
            if kind == "union_tag_not_found":
                path = (*path, tag)
                message = f"missing; registered {registry.kind}s: {', '.join(registry.names())}"
            else:
                path = (*path, tag)
                message = registry.unknown_message(item["ctx"]["tag"])
        elif kind == "missing":
            message = "required field missing"
        elif kind == "value_error":
            message = message.removeprefix("Value error, ")
            field, sep, rest = message.partition(": ")
            if sep and model is not None and field in model.model_fields:
                path, message = (*path, field), rest
        elif kind not in ("model_type", "dict_type") and not isinstance(item.get("input"), (dict, list)):
            message += f" (got {item.get('input')!r})"
        dotted = ".".join(str(part) for part in path) or "(top level)"
        problems.append(f"{_where(source, document, path, overridden)}: {dotted}: {message}")
    return sorted(dict.fromkeys(problems), key=_line_of)


def _line_of(problem: str) -> tuple[int, int]:
    match = re.match(r"^.*?:(\d+):(\d+): ", problem)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _where(source, document, path, overridden) -> str:
    for length in range(len(path), 0, -1):
        if tuple(path[:length]) in overridden:
            return f"{source}: --set {'.'.join(map(str, path[:length]))}"
    if document is None:
        return source
    line, column = document.position(path)
    return f"{source}:{line}:{column}"


def _clean(loc: tuple, data: dict) -> tuple[tuple, type[BaseModel] | None]:
    """Drop pydantic's union tags from an error location; also return the spec class the location ends in."""
    path: list = []
    model: type[BaseModel] | None = ExperimentSpec
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        path.append(part)
        if tuple(path) in UNIONS:
            tag_field, registry = UNIONS[tuple(path)]
            section = data.get(part) if isinstance(data, dict) else None
            tag = section.get(tag_field) if isinstance(section, dict) else None
            if parts and parts[0] == tag:
                parts.pop(0)
            model = registry.get(tag) if isinstance(tag, str) and tag in registry else None
            continue
        if len(path) == 3 and path[:2] == ["search", "space"] and parts and parts[0] in PARAM_TYPES:
            model = PARAM_TYPES[parts.pop(0)]  # the tag of the parameter union
            continue
        model = _field_model(model, part)
    return tuple(path), model


def _field_model(model: type[BaseModel] | None, part: Any) -> type[BaseModel] | None:
    if model is None or not isinstance(part, str) or part not in model.model_fields:
        return None
    annotation = model.model_fields[part].annotation
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None
