"""Identifiers match as a whole: no trailing line break slips through Python's `$`.

A `|` block scalar keeps its final line break; Python's `$` matches just before
one, so `^...$` alone accepted "<guid>\\n". The schemas (which editors read too)
and pcr's own pattern check both refuse it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired import load as validate
from reconciler.desired.load import SCHEMA_DIR
from reconciler.desired.load import SCHEMA_NAMES
from reconciler.desired.load import load_desired
from reconciler.desired.load import schema_path
from tests.conftest import WriteFile

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
SUB = "9a1c0d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
LINE_BREAK = (
    "(it ends with a line break, as a '|' or '>' block scalar does: "
    "write the value on the same line as its key)"
)


def messages(folder: Path) -> list[str]:
    found = load_desired(folder).problems
    return [f"{Path(p.mark.path).name}:{p.mark.line}:{p.mark.col}: {p.message}" for p in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"tenant_id: |\n  {TENANT}\nrelationship: reseller\n",
            f"c.yaml:1:12: tenant_id: '{TENANT}\\n' is not a valid GUID {LINE_BREAK}",
        ),
        (
            f"tenant_id: >\n  {TENANT}\nrelationship: reseller\n",
            f"c.yaml:1:12: tenant_id: '{TENANT}\\n' is not a valid GUID {LINE_BREAK}",
        ),
        (
            f'tenant_id: "{TENANT}\\n"\nrelationship: reseller\n',
            f"c.yaml:1:12: tenant_id: '{TENANT}\\n' is not a valid GUID {LINE_BREAK}",
        ),
        (
            f'tenant_id: "\\n{TENANT}"\nrelationship: reseller\n',
            f"c.yaml:1:12: tenant_id: '\\n{TENANT}' is not a valid GUID (it has spaces at an "
            "end: remove them)",
        ),
        (
            f"tenant_id: {TENANT}\nrelationship: reseller\ndomain: |\n  contoso.com\n",
            f"c.yaml:3:9: domain: 'contoso.com\\n' is not a valid domain name {LINE_BREAK}",
        ),
        (
            f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n"
            f"  - id: |\n      {SUB}\n    status: suspended\n",
            f"c.yaml:4:9: subscriptions[0].id: '{SUB}\\n' is not a valid GUID {LINE_BREAK}",
        ),
        (
            f'tenant_id: {TENANT}\nrelationship: reseller\ndomain: "contoso\\t.com"\n',
            "c.yaml:3:9: domain: 'contoso\\t.com' is not a valid domain name (it holds a tab, "
            "line break or other control character: remove it)",
        ),
        (
            f"tenant_id: {TENANT}0\nrelationship: reseller\n",
            f"c.yaml:1:12: tenant_id: '{TENANT}0' is not a valid GUID (like {TENANT})",
        ),
    ],
)
def test_identifier_with_a_line_break_is_refused(
    desired_dir: Path, write: WriteFile, text: str, expected: str
) -> None:
    write("customers/c.yaml", text)
    assert messages(desired_dir) == [expected]


def test_strip_block_scalar_is_fine(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: |-\n  {TENANT}\nrelationship: reseller\n")
    result = load_desired(desired_dir)
    assert result.problems == []
    assert result.desired is not None and TENANT in result.desired.customers


def test_cli_reports_the_line_break(desired_dir: Path, write: WriteFile) -> None:
    path = write("customers/c.yaml", f"tenant_id: |\n  {TENANT}\nrelationship: reseller\n")
    result = CliRunner().invoke(cli, ["validate", str(desired_dir)])
    assert result.exit_code == 1
    assert (
        result.stdout == f"{path}:1:12: tenant_id: '{TENANT}\\n' is not a valid GUID {LINE_BREAK}\n"
    )


def _patterned(node: Any) -> Iterator[dict[str, Any]]:
    """Every (sub)schema with a `pattern`, except the "must not contain" ones under `not`."""
    if isinstance(node, dict):
        if "pattern" in node:
            yield node
        for key, value in node.items():
            if key != "not":
                yield from _patterned(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterned(item)


def test_the_identifiers_are_found() -> None:
    titles = [n.get("title") for n in _patterned(_schema("customer"))]
    assert titles == ["domain name", "GUID"]  # GUID: tenant_id and subscriptions[].id


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_pattern_is_anchored_and_guarded_for_python(name: str) -> None:
    """Editors and other tools may validate with Python's `re.search`: the schema itself
    must refuse a final line break, not only pcr's whole-text pattern check."""
    for node in _patterned(_schema(name)):
        pattern = node["pattern"]
        assert pattern.startswith("^") and pattern.endswith("$"), pattern
        assert "maxLength" in node or node.get("not") == {"pattern": "\\s"}, node


def _schema(name: str) -> Any:
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("where", "good"),
    [(("$defs", "guid"), TENANT), (("properties", "domain"), "contoso.onmicrosoft.com")],
)
def test_the_schema_alone_refuses_a_final_line_break(where: tuple[str, str], good: str) -> None:
    """What a Python-based editor sees: stock jsonschema, with `re.search` semantics."""
    node = _schema("customer")[where[0]][where[1]]
    stock = jsonschema.Draft202012Validator(node)
    assert re.search(node["pattern"], good + "\n")  # the hole: `$` before a final newline
    assert stock.is_valid(good)
    assert not stock.is_valid(good + "\n")


def test_pcr_matches_whole_text_even_without_the_schema_guards(
    tmp_path: Path, desired_dir: Path, write: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with maxLength and the `not` rules gone, pcr still fullmatches."""
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schemas)
    path = schemas / "customer.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    for node in _patterned(schema):
        node.pop("maxLength", None)
        node.pop("not", None)
    path.write_text(json.dumps(schema), encoding="utf-8")
    monkeypatch.setattr(validate, "SCHEMA_DIR", schemas)
    validate._validator.cache_clear()
    try:
        write("customers/c.yaml", f"tenant_id: |\n  {TENANT}\nrelationship: reseller\n")
        assert messages(desired_dir) == [
            f"c.yaml:1:12: tenant_id: '{TENANT}\\n' is not a valid GUID {LINE_BREAK}"
        ]
    finally:
        validate._validator.cache_clear()
