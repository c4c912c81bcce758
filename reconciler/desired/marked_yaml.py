"""Safe YAML loading that remembers where everything came from.

PyYAML's safe loaders build plain dicts and lists and forget positions; they
also keep the last of two duplicate keys without a word. pcr reports every
problem as `file:line:col`, so it builds the values itself from the parser's
events (the C parser when available) into `Mapping`/`Sequence` values that
carry the mark of each key and value.

A pcr file is plain data, a few levels deep, written by people, so anything
else is refused with its position: explicit tags, merge keys, duplicate keys,
more than `MAX_DEPTH` levels of nesting, aliases beyond `MAX_ALIASES` or
expanding to more than `MAX_ALIAS_NODES` values ("billion laughs"), files
over `MAX_FILE_BYTES`, anything that is not a regular file, text that is not
UTF-8. Values are built with an explicit stack, never by recursion, so no
input can raise RecursionError.
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

# A file's path as listed (a string: 100,000 of them cost little) or as a Path.
FilePath = str | Path

try:  # the C parser is several times faster on large estates
    from yaml import CSafeLoader as _SafeLoader

    _LIBYAML = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

    _LIBYAML = False

# A customer file is a few hundred bytes; a megabyte is thousands of subscriptions.
MAX_FILE_BYTES = 1024 * 1024
# The schemas are four levels deep; the rest of the margin is for people.
MAX_DEPTH = 64
# Aliases are rare in pcr files; these bound what a few of them can multiply into.
MAX_ALIASES = 100
MAX_ALIAS_NODES = 10_000


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


@dataclass
class Document:
    """What one file holds, and every problem found in it.

    `value` is None for an empty file and when a problem stopped the reading
    (a syntax error, a limit); after a problem that did not (a duplicate key,
    a tag) it holds the rest of the file, so that later checks still run.
    """

    value: Any
    errors: list[LoadError] = field(default_factory=list)


# --- reading a file -------------------------------------------------------------------


def read_source(path: FilePath) -> str:
    """The text of the regular file (or link to one) at `path`. Raises LoadError.

    Nothing else is opened: a FIFO would block, a device could be endless.
    The file is opened non-blocking and checked again once open, in case it
    was swapped, and read no further than the size limit.
    """
    mark = Mark(str(path), 1, 1)
    if (found := what_is_at(path)) is not None:
        raise LoadError(mark, f"{found}, not a file: {_ONLY_FILES}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise LoadError(mark, _cannot_read(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LoadError(mark, f"{_kind(info.st_mode)}, not a file: {_ONLY_FILES}")
        data = b"" if info.st_size > MAX_FILE_BYTES else _read_at_most(fd, info.st_size)
    finally:
        os.close(fd)
    if info.st_size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
        raise LoadError(
            mark,
            f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB: a pcr file holds "
            "one customer's settings; split it, or remove what does not belong in it",
        )
    return _decode(data, str(path))


def _read_at_most(fd: int, size: int) -> bytes:
    """Up to one byte past the limit: enough to tell that a file is too large.

    Read in pieces the size the file says it has, so that a small file costs a small
    buffer and a file that grows while read still stops at the limit.
    """
    chunks, left = [], MAX_FILE_BYTES + 1
    while left > 0 and (chunk := os.read(fd, min(left, max(size + 1, 4096)))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_ONLY_FILES = "pcr reads regular files only (a symbolic link must point at one); replace it"


def what_is_at(path: FilePath) -> str | None:
    """None if `path` is a regular file or a link to one; otherwise what is there, in words.

    None too when even the entry cannot be looked at: opening it then says why.
    """
    try:
        link = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISREG(link.st_mode):  # the common case: one system call
        return None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"a link to nowhere ({_target(path)} does not exist)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"a link pcr cannot follow ({exc.strerror})"
    kind = _kind(info.st_mode)
    if kind is None or not stat.S_ISLNK(link.st_mode):
        return kind
    return f"a link to {kind} ({_target(path)})"


def _target(link: FilePath) -> str:
    try:
        return os.readlink(link)
    except OSError:  # replaced since it was looked at
        return "?"


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "something that is not a file"


def _cannot_read(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "cannot read the file: permission denied; let the user running pcr read it"
    return f"cannot read the file: {exc.strerror or exc}"


def _decode(data: bytes, path: str) -> str:
    """UTF-8 text (a leading BOM dropped); bad bytes are reported at their line and column."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line_start = before.rfind(b"\n") + 1
        col = len(before[line_start:].decode("utf-8")) + 1
        raise LoadError(
            Mark(path, before.count(b"\n") + 1, col),
            f"not UTF-8 text (byte 0x{data[exc.start]:02X}): save the file as UTF-8",
        ) from None


def load_file(path: FilePath) -> Document:
    """Read and parse one file; every problem is in the result, nothing is raised."""
    try:
        text = read_source(path)
    except LoadError as exc:
        return Document(None, [exc])
    return parse_yaml(text, str(path))


# --- parsing --------------------------------------------------------------------------


# `<<` and `=` mean something only as keys (`<<` is refused there); elsewhere, text.
_TEXT = frozenset({"tag:yaml.org,2002:str", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})
_TAG_PREFIX = "tag:yaml.org,2002:"
# The kinds of plain scalar YAML 1.1 turns into something other than text.
_SCALAR_KINDS = {
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:int": "integer",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:timestamp": "date",
}


_TOO_DEEP = (
    f"nested more than {MAX_DEPTH} levels deep: a pcr file is a few levels of keys and "
    "lists; remove the extra brackets or indentation"
)


class _Stop(Exception):
    """A problem after which the rest of the file cannot be read (syntax, a limit)."""

    def __init__(self, error: LoadError) -> None:
        super().__init__(str(error))
        self.error = error


def _mark(path: str, event: yaml.Event) -> Mark:
    start = event.start_mark  # both parsers always set it; the stubs allow None
    return Mark(path, start.line + 1, start.column + 1) if start else Mark(path, 1, 1)


@dataclass
class _Open:
    """A mapping or sequence being built, with the key waiting for its value."""

    value: Mapping | Sequence
    anchor: str | None
    nodes: int = 1
    key: Any = None
    key_mark: Mark | None = None
    awaiting_value: bool = False
    merge: bool = False


class _Composer:
    """Builds one document's values from parser events, with an explicit stack."""

    def __init__(self, path: str, loader: Any) -> None:
        self.path = path
        self.loader = loader
        self.errors: list[LoadError] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # value and its size in nodes
        self.open_anchors: set[str] = set()
        self.aliases = 0
        self.alias_nodes = 0

    def document(self) -> Any:
        self.loader.get_event()  # stream start
        if self.loader.check_event(yaml.StreamEndEvent):
            return None
        self.loader.get_event()  # document start
        value = self._root()
        self.loader.get_event()  # document end
        if not self.loader.check_event(yaml.StreamEndEvent):
            self._stop(
                self.loader.peek_event(),
                "a second YAML document (after '---'): a pcr file holds one; "
                "put each customer in a file of its own",
            )
        return value

    def _root(self) -> Any:
        stack: list[_Open] = []
        while True:
            event = self.loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append(self._start(event, len(stack)))
                continue
            mark = _mark(self.path, event)
            if isinstance(event, yaml.CollectionEndEvent):
                done = stack.pop()
                value, nodes, anchor, mark = done.value, done.nodes, done.anchor, done.value.mark
            elif isinstance(event, yaml.AliasEvent):
                (value, nodes), anchor = self._alias(event), None
            else:
                value, nodes, anchor = self._scalar(event), 1, event.anchor
            if anchor is not None:
                self.anchors[anchor] = (value, nodes)
                self.open_anchors.discard(anchor)
            if not stack:
                return value
            self._add(stack[-1], value, nodes, mark, event)

    def _start(self, event: yaml.CollectionStartEvent, depth: int) -> _Open:
        if depth >= MAX_DEPTH:
            self._stop(event, _TOO_DEEP)
        self._check_tag(event)
        value: Mapping | Sequence
        if isinstance(event, yaml.MappingStartEvent):
            value = Mapping()
            value.key_marks, value.value_marks = {}, {}
        else:
            value = Sequence()
            value.item_marks = []
        value.mark = _mark(self.path, event)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        return _Open(value, event.anchor)

    def _add(self, into: _Open, value: Any, nodes: int, mark: Mark, event: yaml.Event) -> None:
        into.nodes += nodes
        if isinstance(into.value, Sequence):
            into.value.append(value)
            into.value.item_marks.append(mark)
        elif not into.awaiting_value:
            into.key, into.key_mark, into.awaiting_value = value, mark, True
            into.merge = _is_merge_key(event)
        else:
            into.awaiting_value = False
            self._pair(into.value, into.key, into.key_mark or mark, value, mark, into.merge)

    def _pair(
        self, mapping: Mapping, key: Any, key_mark: Mark, value: Any, mark: Mark, merge: bool
    ) -> None:
        if merge:
            self._error(key_mark, "merge keys (<<) are not supported: write the keys out in full")
        elif not isinstance(key, str):
            self._error(key_mark, f"key {_short(key)} must be a string: quote it")
        elif key in mapping:
            first = mapping.key_marks[key]
            self._error(
                key_mark,
                f"duplicate key '{key}' (first defined at line {first.line}): keep one of them",
            )
        else:
            mapping[key] = value
            mapping.key_marks[key] = key_mark
            mapping.value_marks[key] = mark

    def _alias(self, event: yaml.AliasEvent) -> tuple[Any, int]:
        name = event.anchor or ""
        if name in self.open_anchors:
            self._stop(event, f"alias *{name} is inside its own anchor &{name}: remove it")
        if name not in self.anchors:
            self._stop(event, f"alias *{name} has no anchor &{name} before it")
        self.aliases += 1
        value, nodes = self.anchors[name]
        self.alias_nodes += nodes
        if self.aliases > MAX_ALIASES or self.alias_nodes > MAX_ALIAS_NODES:
            self._stop(
                event,
                f"too many aliases: more than {MAX_ALIASES} aliases, or aliases that expand to "
                f"more than {MAX_ALIAS_NODES:,} values, are refused; write the values out",
            )
        return value, nodes

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        self._check_tag(event)
        if event.style:  # quoted or a block scalar: always text (plain is None, or '' in C)
            return event.value
        tag = self.loader.resolve(yaml.ScalarNode, event.value, (True, False))
        if tag in _TEXT:  # most scalars: skip the constructor machinery
            return event.value
        if tag not in _SCALAR_KINDS:  # fail closed on whatever a resolver may add
            self._error(
                _mark(self.path, event),
                f"{_short(event.value)} has a special meaning in YAML: quote it to write text",
            )
            return event.value
        return self._construct(event, tag)

    def _construct(self, event: yaml.ScalarEvent, tag: str) -> Any:
        node = yaml.ScalarNode(tag, event.value)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node)
        except (ValueError, ArithmeticError, yaml.YAMLError) as exc:
            reason = str(exc).split("\n", 1)[0]
            why = f" ({reason})" if 0 < len(reason) <= 60 else ""
            self._error(
                _mark(self.path, event),
                f"{_short(event.value)} reads as a YAML {_SCALAR_KINDS[tag]} but is not a valid "
                f"one{why}: quote it if it is text",
            )
            return event.value

    def _check_tag(self, event: yaml.NodeEvent) -> None:
        tag = getattr(event, "tag", None)
        if tag is not None:  # an explicit tag; untagged values have none
            written = "!!" + tag.removeprefix(_TAG_PREFIX) if tag.startswith(_TAG_PREFIX) else tag
            self._error(
                _mark(self.path, event),
                f"tag {_short(written)} is not allowed: pcr reads plain YAML only; remove it "
                "(quote the value if it is text)",
            )

    def _error(self, mark: Mark, message: str) -> None:
        self.errors.append(LoadError(mark, message))

    def _stop(self, event: yaml.Event, message: str) -> None:
        raise _Stop(LoadError(_mark(self.path, event), message))


def _is_merge_key(event: yaml.Event) -> bool:
    """`<<` written plain: YAML's merge key, which pcr does not apply."""
    return (
        isinstance(event, yaml.ScalarEvent)
        and not event.style
        and event.tag is None
        and event.value == "<<"
    )


def _short(value: Any) -> str:
    """A value for a message: its repr, cut short so that a huge value stays one line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    # libyaml stops at 1000 levels while it looks ahead, before pcr's own limit is reached.
    if "exceeded maximum nesting depth" in str(exc.problem):
        return _TOO_DEEP
    return f"YAML syntax: {_describe(exc)}"


def _describe(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "; ".join(parts) or str(exc)


def parse_yaml(text: str, path: str) -> Document:
    """Parse one YAML document into marked values; every problem is in the result."""
    try:
        loader = _SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        return Document(None, [_reader_error(text, path, exc)])
    composer = _Composer(path, loader)
    try:
        value = composer.document()
        return Document(value, composer.errors)
    except _Stop as stop:
        return Document(None, [*composer.errors, stop.error])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        error = LoadError(Mark(path, line, col), _syntax_message(exc))
        return Document(None, [*composer.errors, error])
    except yaml.reader.ReaderError as exc:
        return Document(None, [*composer.errors, _reader_error(text, path, exc)])
    finally:
        loader.dispose()


def load_yaml(text: str, path: str) -> Any:
    """Parse one YAML document; None for an empty file. Raises the first problem as LoadError."""
    document = parse_yaml(text, path)
    if document.errors:
        raise min(document.errors, key=lambda e: e.mark)
    return document.value


def _reader_error(text: str, path: str, exc: yaml.reader.ReaderError) -> LoadError:
    """A character YAML does not allow (a NUL, a control character) at a text offset."""
    offset = exc.position
    if _LIBYAML:  # libyaml counts UTF-8 bytes, not characters
        offset = len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))
    before = text[:offset]
    line = before.count("\n") + 1
    col = offset - (before.rfind("\n") + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return LoadError(Mark(path, line, col), f"character U+{code:04X} is not allowed in YAML")
