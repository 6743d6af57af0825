"""Safe, bounded YAML reading that remembers where each value came from.

- Only plain YAML types: no Python tags, no timestamps (PyYAML's SafeLoader base, rebuilt resolvers).
- YAML 1.2 scalars: ``1e-3`` is a float (PyYAML's YAML 1.1 reads it as a string), only true/false are booleans
  (so ``no`` or ``on`` stay strings), no sexagesimal or octal surprises.
- Size, depth, alias and node counts are capped, so an alias bomb or a deeply nested file fails fast.
- Duplicate keys are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # 1 MiB: experiment files are a few hundred bytes
MAX_DEPTH = 50
MAX_ALIASES = 100
MAX_NODES = 100_000

Path_ = tuple  # a path of keys and list indices from the root


class YamlProblem(Exception):
    """A YAML problem at a 1-based line and column."""

    def __init__(self, message: str, line: int = 1, column: int = 1):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


class _Loader(yaml.SafeLoader):
    yaml_implicit_resolvers: dict = {}

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise YamlProblem(
                    f"more than {MAX_ALIASES} aliases (*name): refusing to expand", mark.line + 1, mark.column + 1
                )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]


class _Dumper(yaml.SafeDumper):
    """Writes YAML that `parse` reads back as the same values: a string that these resolvers would take for
    a number or boolean (`1e3`, `0o17`) is quoted, where PyYAML's YAML 1.1 rules would leave it plain."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regexp, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))
    _Dumper.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class Document:
    """Parsed data plus the (line, column) of every key and list item, by path."""

    data: Any
    marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path_) -> tuple[int, int]:
        """Where ``path`` is written, or its nearest written parent (for a missing field)."""
        path = tuple(path)
        while path and path not in self.marks:
            path = path[:-1]
        return self.marks.get(path, (1, 1))


def dump(data: Any) -> str:
    """YAML text of plain data (mappings keep their order) that `parse` reads back unchanged."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def parse(text: str) -> Document:
    """Parse one YAML document. Raises YamlProblem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlProblem(f"file larger than {MAX_BYTES // 1024} KiB; an experiment file is a few hundred bytes")
    try:
        loader = _Loader(text)  # the reader already rejects control characters here
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        raise YamlProblem(f"not YAML text: {error.reason} (character {error.character!r})", line) from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(part for part in (error.context, error.problem) if part)
        raise YamlProblem(
            f"YAML syntax: {message}", mark.line + 1 if mark else 1, mark.column + 1 if mark else 1
        ) from None
    except yaml.YAMLError as error:
        raise YamlProblem(f"YAML: {error}") from None
    except RecursionError:
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    document = Document(None, {(): (1, 1)})
    if node is None:
        return document
    counter = [0]
    document.data = _convert(node, (), document.marks, loader, counter)
    return document


def _convert(node: yaml.Node, path: Path_, marks: dict, loader: _Loader, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise YamlProblem(f"more than {MAX_NODES} values (alias expansion?)", node.start_mark.line + 1)
    if len(path) > MAX_DEPTH:
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if isinstance(node, yaml.MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise YamlProblem(f"unsupported tag {node.tag}", line, column)
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(
                    "a key must be a plain scalar", key_node.start_mark.line + 1, key_node.start_mark.column + 1
                )
            key = _scalar(key_node, loader)
            key_line, key_column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key == "<<":
                raise YamlProblem("merge keys (<<) are not supported; write the fields out", key_line, key_column)
            if key in result:
                first = marks[(*path, key)]
                raise YamlProblem(f"duplicate key {key!r} (first at line {first[0]})", key_line, key_column)
            marks[(*path, key)] = (key_line, key_column)
            result[key] = _convert(value_node, (*path, key), marks, loader, counter)
        return result
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise YamlProblem(f"unsupported tag {node.tag}", line, column)
        items = []
        for index, item in enumerate(node.value):
            marks[(*path, index)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_convert(item, (*path, index), marks, loader, counter))
        return items
    return _scalar(node, loader)


def _scalar(node: yaml.Node, loader: _Loader) -> Any:
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if node.tag not in _SCALAR_TAGS:
        raise YamlProblem(f"unsupported tag {node.tag}: only plain YAML values are allowed", line, column)
    value = node.value
    try:
        if node.tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if node.tag == "tag:yaml.org,2002:null":
            return None
        if node.tag == "tag:yaml.org,2002:int":
            sign, digits = (-1, value[1:]) if value[0] == "-" else (1, value.lstrip("+"))
            if digits.startswith(("0x", "0o")):
                return sign * int(digits[2:], 16 if digits[1] == "x" else 8)
            return sign * int(digits, 10)
        if node.tag == "tag:yaml.org,2002:float":
            special = {".inf": "inf", "-.inf": "-inf", "+.inf": "inf", ".nan": "nan"}
            return float(special.get(value.lower()) or value)
    except ValueError as error:
        raise YamlProblem(f"bad number {value[:40]!r}: {error}", line, column) from None
    return value
