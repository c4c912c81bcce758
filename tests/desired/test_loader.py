from __future__ import annotations

import pytest

from reconciler.desired.marked_yaml import LoadError
from reconciler.desired.marked_yaml import Mapping
from reconciler.desired.marked_yaml import Mark
from reconciler.desired.marked_yaml import Sequence
from reconciler.desired.marked_yaml import load_yaml
from reconciler.desired.marked_yaml import parse_yaml


def test_marks_keys_values_and_items() -> None:
    data = load_yaml("a: 1\nb:\n  - x\n  - y: 2\n", "f.yaml")
    assert isinstance(data, Mapping)
    assert data == {"a": 1, "b": ["x", {"y": 2}]}
    assert data.key_marks["b"] == Mark("f.yaml", 2, 1)
    assert data.value_marks["a"] == Mark("f.yaml", 1, 4)
    items = data["b"]
    assert isinstance(items, Sequence)
    assert items.item_marks == [Mark("f.yaml", 3, 5), Mark("f.yaml", 4, 5)]
    assert items[1].key_marks["y"] == Mark("f.yaml", 4, 5)


def test_empty_document_is_none() -> None:
    assert load_yaml("# only a comment\n", "f.yaml") is None


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first defined at line 1)"),
        ("x:\n  y: 1\n  y: 2\n", 3, "duplicate key 'y'"),
        ("a: !!python/object/apply:os.system [ls]\n", 1, "is not allowed"),
        ("a: !custom 1\n", 1, "tag '!custom' is not allowed"),
        ("a: [1,\n", 2, "YAML syntax"),
        ("a: 1\n---\nb: 2\n", 2, "a second YAML document"),
        ("base: &b {x: 1}\nc:\n  <<: *b\n", 3, "merge keys"),
        ("1: one\n", 1, "must be a string"),
    ],
)
def test_rejected_documents_are_located(text: str, line: int, fragment: str) -> None:
    with pytest.raises(LoadError) as caught:
        load_yaml(text, "f.yaml")
    assert caught.value.mark.line == line
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"f.yaml:{line}:")


def test_control_character_is_located() -> None:
    with pytest.raises(LoadError) as caught:
        load_yaml("a: 1\nb: x\x00\n", "f.yaml")
    assert caught.value.mark == Mark("f.yaml", 2, 5)
    assert caught.value.message == "character U+0000 is not allowed in YAML"


def test_parse_collects_every_problem_and_keeps_the_rest() -> None:
    document = parse_yaml("a: 1\na: 2\nb: !!int x\nc: [ok]\n", "f.yaml")
    assert document.value == {"a": 1, "b": "x", "c": ["ok"]}
    assert [str(e) for e in document.errors] == [
        "f.yaml:2:1: duplicate key 'a' (first defined at line 1): keep one of them",
        "f.yaml:3:4: tag '!!int' is not allowed: pcr reads plain YAML only; remove it "
        "(quote the value if it is text)",
    ]


def test_a_syntax_error_stops_but_keeps_what_came_before() -> None:
    document = parse_yaml("a: 1\na: 2\nb: [\n", "f.yaml")
    assert document.value is None
    assert [e.mark.line for e in document.errors] == [2, 4]
