"""Pydantic's validation errors as problems a person can act on: the data path the user wrote (no union-member
tags), a message that says what to write instead (did-you-mean for misspelt keys and values), and where it
is written (``FILE:LINE:COL``, or the command-line option that set it)."""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from annctl.datasets import DATASETS
from annctl.models import ARCHITECTURES
from annctl.registry import Registry
from annctl.spec import ExperimentSpec

# Discriminated unions whose tags are registry names: an unknown tag lists the registry.
# The spec's registry-built unions: where each sits, the field that picks the entry, and its registry.
UNIONS: dict[tuple, tuple[str, Registry[Any]]] = {
    ("dataset",): ("name", DATASETS),
    ("model",): ("architecture", ARCHITECTURES),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at a path of the experiment's data (keys and list indices)."""

    path: tuple
    message: str
    kind: str = field(default="", compare=False)


# --- pydantic's errors as positioned problems --------------------------------------------------------------


class Locator:
    """Where a path is written: ``FILE:LINE:COL``, or the command-line option that set it."""

    def __init__(self, source: str, document, labels: dict[tuple, str]):
        self.source, self.document, self.labels = source, document, labels

    def where(self, path: tuple) -> str:
        for length in range(len(path), 0, -1):
            if tuple(path[:length]) in self.labels:
                return f"{self.source}: {self.labels[tuple(path[:length])]}"
        if self.document is None:
            return self.source
        line, column = self.document.position(path)
        return f"{self.source}:{line}:{column}"

    def line(self, problem: Problem) -> str:
        return f"{self.where(problem.path)}: {dotted(problem.path)}: {problem.message}"


def field_problems(error: ValidationError, data: dict) -> list[Problem]:
    """One problem per field. A value that fails every member of a union (``threads: auto`` or a number) gets
    one line naming what each member wanted."""
    by_path: dict[tuple, list[Problem]] = {}
    for item in error.errors():
        problem = _problem(item, data)
        by_path.setdefault(problem.path, []).append(problem)
    problems = []
    for path, found in by_path.items():
        if len(found) == 1:
            problems.append(found[0])
            continue
        got = re.search(r" \(got .*\)$", found[0].message)
        message = "; or: ".join(dict.fromkeys(_without_got(problem.message) for problem in found))
        problems.append(Problem(path, message + (got.group(0) if got else ""), "union"))
    return problems


def _problem(item: Mapping[str, Any], data: dict) -> Problem:
    path, model = _clean(item["loc"], data, item["type"])
    kind, message, value = item["type"], item["msg"], item.get("input")
    if kind == "literal_error" and path[:-1] in UNIONS and path[-1] == UNIONS[path[:-1]][0]:
        kind, path, item = "union_tag_invalid", path[:-1], {**item, "ctx": {"tag": value}}  # a one-member union
    if kind == "extra_forbidden":
        message = f"unknown field `{_show(path[-1])}`"
        parent = _clean(item["loc"][:-1], data, kind)[1]
        if parent is not None:
            close = difflib.get_close_matches(str(path[-1]), list(parent.model_fields), n=1)
            message += f" (did you mean `{close[0]}`?)" if close else f"; allowed: {', '.join(parent.model_fields)}"
    elif kind in ("union_tag_invalid", "union_tag_not_found") and path in UNIONS:
        tag, registry = UNIONS[path]
        path = (*path, tag)
        if kind == "union_tag_not_found":
            message = f"missing; registered {registry.kind}s: {', '.join(registry.names())}"
        else:
            message = registry.unknown_message(item["ctx"]["tag"])
    elif kind == "union_tag_invalid":  # e.g. lr_schedule's or a search parameter's `type`
        path = (*path, item["ctx"]["discriminator"].strip("'"))
        message = _one_of(_quoted(item["ctx"]["expected_tags"]), item["ctx"]["tag"])
    elif kind == "literal_error":
        message = _one_of(_quoted(item["ctx"]["expected"]), value)
    elif kind == "missing":
        message = "required field missing"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
        name, sep, rest = message.partition(": ")
        if sep and model is not None and name in model.model_fields:
            path, message = (*path, name), rest
    elif kind not in ("model_type", "dict_type") and not isinstance(value, (dict, list)):
        message += _got(value, _hint(kind, value))
    return Problem(tuple(path), message, kind)


def _one_of(allowed: list[str], value: Any) -> str:
    message = "Input should be " + (", ".join(f"'{v}'" for v in allowed[:-1]) + " or " if len(allowed) > 1 else "")
    message += f"'{allowed[-1]}'"
    close = difflib.get_close_matches(value, allowed, n=1) if isinstance(value, str) else []
    return message + _got(value, f"did you mean `{close[0]}`?" if close else "")


def _quoted(expected: str) -> list[str]:
    """``'a', 'b' or 'c'`` (pydantic's list of a Literal's values) → [a, b, c]."""
    return re.findall(r"'((?:[^'\\]|\\.)*)'", expected)


def _hint(kind: str, value: Any) -> str:
    """How to write what was meant, for the usual YAML slips."""
    if kind == "bool_type":
        return "write true or false"
    if kind in ("int_type", "float_type") and isinstance(value, str) and _is_number(value):
        return "write the number without quotes"
    if kind == "int_type" and isinstance(value, float) and value.is_integer():
        return "write a whole number without a decimal point"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _got(value: Any, hint: str = "") -> str:
    return f" (got {value!r}; {hint})" if hint else f" (got {value!r})"


def _without_got(message: str) -> str:
    return re.sub(r" \(got .*\)$", "", message)


def dotted(path: tuple) -> str:
    return ".".join(_show(part) for part in path) or "(top level)"


def _show(part: Any) -> str:
    """A key as it reads in a message: plain when it is, quoted when it holds spaces or control characters."""
    text = str(part)
    return text if text.isprintable() and " " not in text and text else json.dumps(text)


def line_of(problem: str) -> tuple[int, int]:
    match = re.match(r"^.*?:(\d+):(\d+): ", problem)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _clean(loc: tuple, data: Any, kind: str) -> tuple[tuple, type[BaseModel] | None]:
    """The data path of an error location without pydantic's union-member tags, and the spec class the path
    ends in (None when not known).

    A part of the location that is not in the data is a tag naming the union member pydantic tried
    (``iris``, ``cosine``, ``constrained-int``), except a missing field's name at the end.
    """
    path: list = []
    node: Any = data
    candidates: list[Any] = [ExperimentSpec]  # the types the current node is validated against
    for index, part in enumerate(loc):
        present = has(node, part)
        if not present and not (index == len(loc) - 1 and kind == "missing"):
            candidates = [c for c in candidates if _is_model(c) and _tag_of(c) == part]
            continue
        path.append(part)
        node = node[part] if present else None
        candidates = [child for c in candidates for child in _members(_child_annotation(c, part))]
    models = [c for c in candidates if _is_model(c)]
    return tuple(path), models[0] if len(models) == 1 else None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tag_of(model: type[BaseModel]) -> Any:
    """The value of a discriminated union member's tag (the default of its one-value Literal field)."""
    for info in model.model_fields.values():
        if typing.get_origin(info.annotation) is typing.Literal and len(typing.get_args(info.annotation)) == 1:
            return info.default
    return None


def _child_annotation(annotation: Any, part: Any) -> Any:
    if _is_model(annotation):
        info = annotation.model_fields.get(part) if isinstance(part, str) else None
        return info.annotation if info is not None else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict and isinstance(part, str):
        return args[1]
    return None


def _members(annotation: Any) -> list[Any]:
    """The non-union types an annotation allows (Annotated, Optional and unions unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _members(arg)]
    return [] if annotation is None or annotation is type(None) else [annotation]


def has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)
