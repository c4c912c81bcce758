"""Text from outside (Partner Center, Graph, a plan file) made safe to show: the one rule.

A name or a status is kept as the service sent it, and escaped only where it is shown
(a terminal, a pull-request comment, a YAML comment): a control character, a lone
surrogate or a bidirectional override becomes a visible escape such as `\\x1b`, so that
a terminal escape cannot clear a reviewer's screen or retitle a window, and an override
cannot make the text around it read differently.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import fields
from dataclasses import is_dataclass
from dataclasses import replace
from enum import Enum
from typing import Any
from typing import TypeVar

T = TypeVar("T")

# What a YAML stream may hold at all (YAML 1.1, as PyYAML's and libyaml's readers check it).
_YAML_PRINTABLE = re.compile("[\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Shown escaped although YAML allows them: they reorder or hide the text around them.
MISLEADING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


# JSON keeps text as it came, and escapes control characters by itself; these it would
# write as they are, where a terminal showing the JSON would act on them.
JSON_ESCAPES = {ord(ch): f"\\u{ord(ch):04x}" for ch in MISLEADING}


def is_hidden(ch: str) -> bool:
    """A character a comment or a terminal line must not carry as it is (whitespace aside)."""
    if ch in "\t\n\r":
        return False
    return (
        unicodedata.category(ch) in ("Cc", "Cs")
        or ch in MISLEADING
        or _YAML_PRINTABLE.fullmatch(ch) is None
    )


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape_hidden(text: str) -> str:
    """`text` with every hidden character as an escape (`\\x1b`, `\\u202e`) and then, so
    that those read one way, every backslash as `\\\\`; text with none is returned as it is."""
    if text.isprintable() or not any(is_hidden(ch) for ch in text):
        return text
    return "".join(_escape(ch) if is_hidden(ch) else "\\\\" if ch == "\\" else ch for ch in text)


def shown(value: T) -> T:
    """`value` (a plan, a drift report: dataclasses, lists, tuples, dicts of them, strings)
    with every string in it `escape_hidden`: what a renderer for people is given. The same
    object where nothing needed escaping, so the common case costs one pass and no copy."""
    return _shown(value)  # type: ignore[no-any-return]


def _shown(value: Any) -> Any:
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return escape_hidden(value)
    if isinstance(value, list | tuple):
        items = [_shown(item) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        pairs = {_shown(k): _shown(v) for k, v in value.items()}
        if all(k in value and value[k] is v for k, v in pairs.items()):
            return value
        return pairs
    if is_dataclass(value) and not isinstance(value, type):
        changed = {
            name: new
            for name in _init_fields(type(value))
            if (new := _shown(old := getattr(value, name))) is not old
        }
        return replace(value, **changed) if changed else value
    return value


@functools.cache
def _init_fields(cls: type) -> tuple[str, ...]:
    # Asked once per class, not once per object: a large plan has a hundred thousand.
    return tuple(f.name for f in fields(cls) if f.init)
