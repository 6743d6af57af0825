"""Load an experiment file into a validated ExperimentSpec, or raise SpecError listing every problem.

Each problem reads ``FILE:LINE:COL: field.path: message``, with "did you mean" for misspelt keys and values
and the registered names for an unknown dataset or architecture. All problems are found in one pass: the
fields, the search space, and (``complete=True``, for `annctl validate`) what can be checked offline — the
dataset's files and names, the run `init_from` names. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from annctl import yamlsafe
from annctl.datasets import DATASETS
from annctl.errors import SpecError, UsageError
from annctl.models import ARCHITECTURES
from annctl.spec import ExperimentSpec, resolve
from annctl.tuning.space import NOT_SEARCHABLE, PATH_PATTERN, Param, trial_data

# Discriminated unions whose tags are registry names: an unknown tag lists the registry.
UNIONS = {("dataset",): ("name", DATASETS), ("model",): ("architecture", ARCHITECTURES)}
# A command-line option that sets a spec field: (the option as typed, e.g. "--seed", dotted path, value).
Option = tuple[str, str, Any]


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at a path of the experiment's data (keys and list indices)."""

    path: tuple
    message: str
    kind: str = field(default="", compare=False)


def load_spec(
    path: str | Path,
    overrides: Iterable[str] = (),
    options: Iterable[Option] = (),
    *,
    complete: bool = False,
    runs_root: Path | None = None,
) -> ExperimentSpec:
    """Read, override, validate and (when the data's task is known without loading it) resolve.

    ``overrides`` are ``--set PATH=VALUE`` strings; ``options`` set fields from other command-line options and
    are named by them in messages. ``complete`` adds the offline checks of `annctl validate` (files, column
    and class names, ``init_from`` against ``runs_root``).
    """
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
    base_dir = path.resolve().parent
    return spec_from_text(text, source, overrides, options, base_dir=base_dir, complete=complete, runs_root=runs_root)


def spec_from_text(
    text: str,
    source: str,
    overrides: Iterable[str] = (),
    options: Iterable[Option] = (),
    base_dir: Path | None = None,
    *,
    complete: bool = False,
    runs_root: Path | None = None,
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
    locate = Locator(source, document, apply_overrides(data, overrides, options))
    spec, errors = validate_fields(data)
    problems = search_problems(data, errors, locate)
    problems += [locate.line(error) for error in errors if not _search_path_error(error)]
    dataset = spec.dataset if spec else section(data, "dataset")
    if dataset is not None and base_dir is not None:
        dataset = dataset.resolve_paths(base_dir)
        if spec is not None:
            spec.dataset = dataset
    if complete:
        if dataset is not None:
            problems += [locate.line(Problem(("dataset", *where), message)) for where, message in dataset.problems()]
        model = spec.model if spec else section(data, "model")
        if model is not None and model.init_from:
            problems += init_from_problems(model.init_from, runs_root, locate)
    if spec is not None:
        task, num_classes = spec.dataset.known_task(), spec.dataset.known_num_classes()
        if task is not None and (task == "regression" or num_classes is not None):
            try:
                spec = resolve(spec, task, num_classes or 0)
            except ValueError as error:
                problems.append(locate.line(_resolve_problem(error)))
    if problems or spec is None:
        raise SpecError(sorted(dict.fromkeys(problems), key=_line_of) or [f"{source}: invalid experiment"])
    return spec


def validate_fields(data: dict) -> tuple[ExperimentSpec | None, list[Problem]]:
    """The spec, or None and every field's problem."""
    try:
        return ExperimentSpec.model_validate(data), []
    except ValidationError as error:
        return None, field_problems(error, data)


def section(data: dict, name: str):
    """The `dataset` or `model` section validated on its own (for offline checks when another section fails)."""
    tag, registry = UNIONS[(name,)]
    raw = data.get(name)
    if not isinstance(raw, dict) or not isinstance(raw.get(tag), str) or raw[tag] not in registry:
        return None
    entry = registry.get(raw[tag])
    try:
        return entry.model_validate(raw)
    except ValidationError as error:  # leave out the fields already reported, to check the others
        failed = {item["loc"][0] for item in error.errors() if item["loc"] and item["loc"][0] != tag}
    try:
        return entry.model_validate({key: value for key, value in raw.items() if key not in failed})
    except ValidationError:
        return None


def init_from_problems(reference: str, runs_root: Path | None, locate: Locator) -> list[str]:
    from annctl.rundir import resolve_run
    from annctl.rundir import runs_root as default_root

    try:
        resolve_run(reference, runs_root or default_root(), newest=True)
    except UsageError as error:
        return [locate.line(Problem(("model", "init_from"), str(error)))]
    return []


def resolve_or_raise(spec, task, num_classes, source, document=None, labels=None) -> ExperimentSpec:
    """``resolve`` with its ValueError turned into a positioned SpecError."""
    try:
        return resolve(spec, task, num_classes)
    except ValueError as error:
        raise SpecError([Locator(source, document, labels or {}).line(_resolve_problem(error))]) from None


def _resolve_problem(error: ValueError) -> Problem:
    field_path, _, message = str(error).partition(": ")
    return Problem(tuple(field_path.split(".")), message)


# --- overrides ---------------------------------------------------------------------------------------------


def apply_overrides(data: dict, overrides: Iterable[str], options: Iterable[Option] = ()) -> dict[tuple, str]:
    """Apply ``PATH=VALUE`` strings (VALUE is YAML: ``[64,32]``, ``1e-3``), then ``options``, in place.

    Returns each path set with the label that names it in messages: ``--set PATH`` or the option as typed.
    """
    labels: dict[tuple, str] = {}
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
        problem = _set(data, path, value)
        if problem:
            problems.append(f"--set {item}: {problem}")
        else:
            labels[path] = f"--set {key}"
    for label, dotted, value in options:
        path = tuple(dotted.split("."))
        problem = _set(data, path, value)
        if problem:  # pragma: no cover - the CLI's options set top-level fields
            problems.append(f"{label}: {problem}")
        else:
            labels[path] = label
    if problems:
        raise SpecError(problems)
    return labels


def _set(data: dict, path: tuple, value: Any) -> str | None:
    """Set ``value`` at ``path``, creating missing sections; a message when the path cannot be set."""
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        child = node[part] if _has(node, part) else None
        if child is None:
            if isinstance(part, int):
                return f"{'.'.join(map(str, path[: depth + 1]))} does not exist"
            child = node[part] = {}
        if not isinstance(child, (dict, list)):
            return f"{'.'.join(map(str, path[: depth + 1]))} is a value, not a section"
        node = child
    last = path[-1]
    if isinstance(node, list) and (not isinstance(last, int) or last >= len(node)):
        return f"index {last} is outside the list"
    node[last] = value
    return None


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


# --- the search space --------------------------------------------------------------------------------------


@cache
def _param_adapter() -> TypeAdapter:
    return TypeAdapter(Param)


def search_problems(data: dict, file_problems: list[Problem], locate: Locator) -> list[str]:
    """Every searched path must name a field, and every value a search can sample at its ends (each choice,
    each bound) must make a valid experiment; each problem once, under the parameter that causes it.

    A value is blamed when it is invalid in the file as written and stays invalid with the other parameters
    at their first values (which may be what makes it valid, e.g. `optimizer: sgd` for a momentum).
    """
    search = data.get("search")
    space = search.get("space") if isinstance(search, dict) else None
    if not isinstance(space, dict):
        return []
    base = {key: value for key, value in data.items() if key != "search"}
    known = set(file_problems)  # the file's own problems, reported on their own
    params, problems = {}, []
    for key, raw in space.items():
        where = ("search", "space", key)
        if not isinstance(key, str) or not PATH_PATTERN.match(key):
            problems.append(
                f"{locate.where(where)}: {_dotted(where)}: not a dotted spec path such as training.learning_rate"
            )
        elif key.split(".")[0] in NOT_SEARCHABLE:
            problems.append(f"{locate.where(where)}: {_dotted(where)}: {key.split('.')[0]} cannot be searched")
        else:
            try:
                params[key] = _param_adapter().validate_python(raw)
            except ValidationError:
                pass  # its fields' problems are among the file's own
    firsts = {key: param.extremes()[0] for key, param in params.items()}
    for key, param in params.items():
        where, parts, seen = ("search", "space", key), tuple(key.split(".")), set()
        for value in param.extremes():
            alone = _problems_of(trial_data(base, {key: value}))
            if not set(alone) - known - seen:
                continue
            together = set(_problems_of(trial_data(base, {**firsts, key: value})))
            for problem in alone:
                if problem in known or problem in seen or problem not in together:
                    continue
                seen.add(problem)
                if problem.kind == "extra_forbidden" and parts[: len(problem.path)] == problem.path:
                    what = ""  # the path itself names no field, whatever the value
                else:
                    what = f"value {json.dumps(value)} is invalid: "
                problems.append(
                    f"{locate.where(where)}: {_dotted(where)}: {what}{_dotted(problem.path)}: {problem.message}"
                )
    return problems


def _search_path_error(problem: Problem) -> bool:
    """SearchSpec's own check of the paths, which stops at the first; search_problems reports each path."""
    return (
        problem.path == ("search", "space")
        and problem.kind == "value_error"
        and ("is not a dotted spec path" in problem.message or problem.message.endswith("cannot be searched"))
    )


def _problems_of(data: dict) -> list[Problem]:
    return validate_fields(data)[1]


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
        return f"{self.where(problem.path)}: {_dotted(problem.path)}: {problem.message}"


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


def _problem(item: dict, data: dict) -> Problem:
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
    if value is None and not hint:
        return ""
    return f" (got {value!r}; {hint})" if hint else f" (got {value!r})"


def _without_got(message: str) -> str:
    return re.sub(r" \(got .*\)$", "", message)


def _dotted(path: tuple) -> str:
    return ".".join(_show(part) for part in path) or "(top level)"


def _show(part: Any) -> str:
    """A key as it reads in a message: plain when it is, quoted when it holds spaces or control characters."""
    text = str(part)
    return text if text.isprintable() and " " not in text and text else json.dumps(text)


def _line_of(problem: str) -> tuple[int, int]:
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
        present = _has(node, part)
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
