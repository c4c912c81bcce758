"""The one rule for showing text from outside: hidden characters become visible escapes,
everything else is left as it is, and a document with nothing to escape is not copied."""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum

import pytest

from reconciler.printable import JSON_ESCAPES
from reconciler.printable import escape_hidden
from reconciler.printable import shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Contoso Ltd", "Contoso Ltd"),
        ("Café Zürich 東京", "Café Zürich 東京"),  # not hidden: not escaped
        ("a\\b", "a\\b"),  # nothing hidden: a backslash stays one
        ("Evil\x1b[2J", "Evil\\x1b[2J"),
        ("\u202eatad", "\\u202eatad"),  # a right-to-left override
        ("bell\x07 and \\", "bell\\x07 and \\\\"),  # escapes read one way
        ("line\nbreak\ttab", "line\nbreak\ttab"),  # layout, not hidden
        ("lone \ud800", "lone \\ud800"),
    ],
)
def test_hidden_characters_become_visible_escapes(text: str, expected: str) -> None:
    assert escape_hidden(text) == expected


class Kind(StrEnum):
    ODD = "odd\x1b"  # an enum is pcr's own word, never escaped


@dataclass(frozen=True)
class Item:
    name: str
    kind: Kind = Kind.ODD
    tags: tuple[str, ...] = ()


@dataclass
class Document:
    items: list[Item] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    count: int = 0


def test_a_document_is_copied_only_where_something_needed_escaping() -> None:
    clean = Item("Contoso")
    hostile = Item("Evil\x1b[2J", tags=("ok", "\u202e"))
    document = Document([clean, hostile], {"t1": "Fabrikam\x07"}, 3)
    safe = shown(document)
    assert safe is not document and document.items[1].name == "Evil\x1b[2J"  # untouched
    assert safe.items[0] is clean
    assert safe.items[1] == Item("Evil\\x1b[2J", Kind.ODD, ("ok", "\\u202e"))
    assert safe.names == {"t1": "Fabrikam\\x07"} and safe.count == 3
    plain = Document([clean], {"t1": "Fabrikam"})
    assert shown(plain) is plain


def test_json_keeps_text_as_it_came_but_never_writes_an_override_raw() -> None:
    text = json.dumps({"name": "x\u202ey\x1b"}, ensure_ascii=False).translate(JSON_ESCAPES)
    assert "\u202e" not in text and "\x1b" not in text
    assert json.loads(text) == {"name": "x\u202ey\x1b"}
