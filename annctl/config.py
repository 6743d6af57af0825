"""Load an experiment file into a validated ExperimentSpec, or raise SpecError listing every problem.

Each problem reads ``FILE:LINE:COL: field.path: message``, with "did you mean" for misspelt keys and values
and the registered names for an unknown dataset or architecture. All problems are found in one pass: the
fields, the search space, and (``complete=True``, for `annctl validate`) what can be checked offline — the
dataset's files and names, the run `init_from` names. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from annctl import yamlsafe
from annctl.errors import SpecError, UsageError
from annctl.spec import ExperimentSpec, resolve
from annctl.spec_problems import UNIONS, Locator, Problem, dotted, field_problems, has, line_of
from annctl.tuning.space import NOT_SEARCHABLE, PATH_PATTERN, Param, trial_data
from annctl.wording import shown_path

# A command-line option that sets a spec field: (the option as typed, e.g. "--seed", dotted path, value).
Option = tuple[str, str, Any]


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
    source = shown_path(path)  # every message names the file: quoted if its name holds a newline
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
        problems += [locate.line(problem) for problem in input_kind_problems(spec)]
        task, num_classes = spec.dataset.known_task(), spec.dataset.known_num_classes()
        if task is not None and (task == "regression" or num_classes is not None):
            try:
                spec = resolve(spec, task, num_classes or 0)
            except ValueError as error:
                problems.append(locate.line(_resolve_problem(error)))
    if problems or spec is None:
        raise SpecError(sorted(dict.fromkeys(problems), key=line_of) or [f"{source}: invalid experiment"])
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


def input_kind_problems(spec: ExperimentSpec) -> list[Problem]:
    """The architecture must take the kind of input the dataset gives (known from the entries, without data)."""
    accepted, kind = type(spec.model).accepted_kinds(), type(spec.dataset).kind
    if kind in accepted:
        return []
    architecture, dataset = spec.model.architecture, spec.dataset.name
    message = f"{architecture} takes {' or '.join(accepted)} inputs; dataset {dataset} gives {kind} inputs"
    return [Problem(("model", "architecture"), message)]


def init_from_problems(reference: str, runs_root: Path | None, locate: Locator) -> list[str]:
    from annctl.rundir import resolve_run
    from annctl.rundir import runs_root as default_root

    try:
        resolve_run(reference, runs_root or default_root())
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
        except yamlsafe.YamlProblem as unreadable:
            problems.append(f"--set {item}: {unreadable.message}")
            continue
        path = tuple(int(part) if part.isdigit() else part for part in key.split("."))
        problem = _set(data, path, value)
        if problem:
            problems.append(f"--set {item}: {problem}")
        else:
            labels[path] = f"--set {key}"
    for label, field_path, value in options:
        path = tuple(field_path.split("."))
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
        child = node[part] if has(node, part) else None
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
        if not isinstance(key, str):
            continue  # the file's own problem: a key must be a string
        if not PATH_PATTERN.match(key):
            problems.append(
                f"{locate.where(where)}: {dotted(where)}: not a dotted spec path such as training.learning_rate"
            )
        elif key.split(".")[0] in NOT_SEARCHABLE:
            problems.append(f"{locate.where(where)}: {dotted(where)}: {key.split('.')[0]} cannot be searched")
        else:
            try:
                params[key] = _param_adapter().validate_python(raw)
            except ValidationError:  # its fields' problems are among the file's own; still check its path
                problems += [
                    f"{locate.where(where)}: {dotted(where)}: {dotted(problem.path)}: {problem.message}"
                    for problem in _problems_of(trial_data(base, {key: None}))
                    if _names_no_field(problem, key) and problem not in known
                ]
    firsts = {key: param.extremes()[0] for key, param in params.items()}
    for key, param in params.items():
        where, seen = ("search", "space", key), set[Problem]()
        for value in param.extremes():
            alone = _problems_of(trial_data(base, {key: value}))
            if not set(alone) - known - seen:
                continue
            together = set(_problems_of(trial_data(base, {**firsts, key: value})))
            for problem in alone:
                if problem in known or problem in seen or problem not in together:
                    continue
                seen.add(problem)
                if _names_no_field(problem, key):
                    what = ""  # the path itself names no field, whatever the value
                else:
                    what = f"value {json.dumps(value)} is invalid: "
                problems.append(
                    f"{locate.where(where)}: {dotted(where)}: {what}{dotted(problem.path)}: {problem.message}"
                )
    return problems


def _names_no_field(problem: Problem, key: str) -> bool:
    """Whether ``problem`` says that the searched path ``key`` (or a section on it) is not a field."""
    return problem.kind == "extra_forbidden" and tuple(key.split("."))[: len(problem.path)] == problem.path


def _search_path_error(problem: Problem) -> bool:
    """SearchSpec's own check of the paths, which stops at the first; search_problems reports each path."""
    return (
        problem.path == ("search", "space")
        and problem.kind == "value_error"
        and ("is not a dotted spec path" in problem.message or problem.message.endswith("cannot be searched"))
    )


def _problems_of(data: dict) -> list[Problem]:
    return validate_fields(data)[1]
