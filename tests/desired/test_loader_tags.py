"""Explicit tags are refused at their position, whatever the value after them.

Before, `!!int abc` and the like reached PyYAML's constructors and came out as
"internal error"; now any tag, standard or not, is one located problem.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired.load import load_desired
from tests.conftest import WriteFile

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
CUSTOMER = f"tenant_id: {TENANT}\nrelationship: reseller\n"
REMEDY = "is not allowed: pcr reads plain YAML only; remove it (quote the value if it is text)"


def found(folder: Path) -> list[str]:
    return [str(p).removeprefix(f"{folder}/") for p in load_desired(folder).problems]


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("name: !!int abc", "!!int"),
        ("name: !!float x", "!!float"),
        ("name: !!bool maybe", "!!bool"),
        ("name: !!timestamp nope", "!!timestamp"),
        ("name: !!binary 'x'", "!!binary"),
        ("name: !!str Contoso", "!!str"),  # even the harmless one: pcr reads plain YAML
        ("name: !!python/object/apply:os.system [ls]", "!!python/object/apply:os.system"),
        ("name: !!python/name:os.system ''", "!!python/name:os.system"),
        ("name: !foo x", "!foo"),
        ("name: ! x", "!"),
        ("name: !<tag:example.com,2000:x> y", "tag:example.com,2000:x"),
        ("name: !!set {a, b}", "!!set"),
        ("name: !!omap [a: 1]", "!!omap"),
    ],
)
def test_any_explicit_tag_is_refused(
    desired_dir: Path, write: WriteFile, line: str, shown: str
) -> None:
    write("customers/c.yaml", f"{CUSTOMER}{line}\n")
    problems = found(desired_dir)
    assert f"customers/c.yaml:3:7: tag {shown!r} {REMEDY}" in problems
    # what is left after the tag is read as plain YAML and checked too, never constructed
    assert all("internal error" not in p for p in problems)


def test_tag_on_the_whole_document(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"!!map\n{CUSTOMER}")
    assert found(desired_dir) == [f"customers/c.yaml:1:1: tag '!!map' {REMEDY}"]


def test_tag_and_a_schema_problem_are_both_reported(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"{CUSTOMER}protected: !!bool maybe\n")
    assert found(desired_dir) == [
        "customers/c.yaml:3:12: protected: expected true or false, got text 'maybe'",
        f"customers/c.yaml:3:12: tag '!!bool' {REMEDY}",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2024-02-30",
            "'2024-02-30' reads as a YAML date but is not a valid one (day is out of range "
            "for month): quote it if it is text",
        ),
        (
            "9" * 5000,
            f"'{'9' * 56}... reads as a YAML integer but is not a valid one: "
            "quote it if it is text",
        ),
    ],
)
def test_untagged_value_yaml_cannot_convert(
    desired_dir: Path, write: WriteFile, value: str, message: str
) -> None:
    write("customers/c.yaml", f"{CUSTOMER}name: {value}\n")
    assert found(desired_dir)[0] == f"customers/c.yaml:3:7: {message}"


def test_cli_reports_tags_without_internal_error(desired_dir: Path, write: WriteFile) -> None:
    path = write(
        "customers/c.yaml",
        f"{CUSTOMER}name: !!int abc\nprotected: !!python/object:os.system x\n",
    )
    result = CliRunner().invoke(cli, ["validate", str(desired_dir)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:3:7: tag '!!int' {REMEDY}",
        f"{path}:4:12: protected: expected true or false, got text 'x'",
        f"{path}:4:12: tag '!!python/object:os.system' {REMEDY}",
    ]
    assert "internal error" not in result.output
