"""Safe YAML loading that remembers where everything came from.

PyYAML's safe loaders build plain dicts and lists and forget positions; they
also keep the last of two duplicate keys without a word. pcr reports every
problem as `file:line:col`, so it composes the node graph itself (with the C
parser when available) and builds `Mapping`/`Sequence` values that carry the
mark of each key and value. Duplicate keys and non-standard tags are errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

try:  # the C parser is several times faster on large estates
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


@dataclass(frozen=True, order=True)
class Mark:
    """A 1-based position in a file."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class LoadError(Exception):
    """The file cannot be read as YAML; `mark` says where."""

    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(f"{mark}: {message}")
        self.mark = mark
        self.message = message


class Mapping(dict[str, Any]):
    """A YAML mapping with the marks of its keys and values."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]


class Sequence(list[Any]):
    """A YAML sequence with the marks of its items."""

    mark: Mark
    item_marks: list[Mark]


_STR = "tag:yaml.org,2002:str"


def _mark(path: str, node: yaml.Node) -> Mark:
    return Mark(path, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, path: str, loader: Any) -> None:
        self.path = path
        self.loader = loader

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return self._sequence(node)
        if node.tag == _STR:  # most scalars: skip the constructor machinery
            return node.value
        constructor = self.loader.yaml_constructors.get(node.tag)
        if constructor is None:
            raise LoadError(
                _mark(self.path, node),
                f"tag {node.tag!r} is not allowed: pcr reads plain YAML only",
            )
        try:
            return constructor(self.loader, node)
        except yaml.constructor.ConstructorError as exc:
            raise LoadError(_mark(self.path, node), _describe(exc)) from None

    def _mapping(self, node: yaml.MappingNode) -> Mapping:
        if node.tag != "tag:yaml.org,2002:map":
            raise LoadError(_mark(self.path, node), f"tag {node.tag!r} is not allowed")
        result = Mapping()
        result.mark = _mark(self.path, node)
        result.key_marks, result.value_marks = {}, {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise LoadError(_mark(self.path, key_node), "merge keys (<<) are not supported")
            key = self.build(key_node)
            if not isinstance(key, str):
                raise LoadError(_mark(self.path, key_node), f"key {key!r} must be a string")
            if key in result:
                first = result.key_marks[key]
                raise LoadError(
                    _mark(self.path, key_node),
                    f"duplicate key '{key}' (first defined at line {first.line})",
                )
            result[key] = self.build(value_node)
            result.key_marks[key] = _mark(self.path, key_node)
            result.value_marks[key] = _mark(self.path, value_node)
        return result

    def _sequence(self, node: yaml.SequenceNode) -> Sequence:
        if node.tag != "tag:yaml.org,2002:seq":
            raise LoadError(_mark(self.path, node), f"tag {node.tag!r} is not allowed")
        result = Sequence(self.build(item) for item in node.value)
        result.mark = _mark(self.path, node)
        result.item_marks = [_mark(self.path, item) for item in node.value]
        return result


def _describe(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "; ".join(parts) or str(exc)


def load_yaml(text: str, path: str) -> Any:
    """Parse one YAML document; None for an empty file. Raises LoadError with a mark."""
    try:
        loader = _SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, path, exc) from None
    try:
        node = loader.get_single_node()
        return None if node is None else _Builder(path, loader).build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise LoadError(Mark(path, line, col), f"YAML syntax: {_describe(exc)}") from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, path, exc) from None
    finally:
        loader.dispose()


def _reader_error(text: str, path: str, exc: yaml.reader.ReaderError) -> LoadError:
    """A character YAML does not allow (a NUL, a control character) at a text offset."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    col = exc.position - (before.rfind("\n") + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return LoadError(Mark(path, line, col), f"character U+{code:04X} is not allowed in YAML")
