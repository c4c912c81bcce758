"""Limits on what one file can make pcr do: aliases, nesting, size (see `loader` for why).

No timings are asserted: each hostile input must end in its located error, and
the CLI runs go through a subprocess whose timeout turns a hang into a failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired.load import load_desired
from reconciler.desired.marked_yaml import MAX_ALIAS_NODES
from reconciler.desired.marked_yaml import MAX_ALIASES
from reconciler.desired.marked_yaml import MAX_DEPTH
from reconciler.desired.marked_yaml import load_yaml
from reconciler.desired.marked_yaml import parse_yaml
from tests.conftest import WriteFile

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
CUSTOMER = f"tenant_id: {TENANT}\nrelationship: reseller\n"
TOO_MANY = (
    f"too many aliases: more than {MAX_ALIASES} aliases, or aliases that expand to more than "
    f"{MAX_ALIAS_NODES:,} values, are refused; write the values out"
)
TOO_DEEP = (
    f"nested more than {MAX_DEPTH} levels deep: a pcr file is a few levels of keys and lists; "
    "remove the extra brackets or indentation"
)


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic: each level a list of `width` aliases of the level before (9^9 leaves)."""
    lines = [f"lol1: &lol1 [{', '.join(['lol'] * width)}]"]
    for level in range(2, levels + 1):
        items = ", ".join([f"*lol{level - 1}"] * width)
        lines.append(f"lol{level}: &lol{level} [{items}]")
    return "\n".join(lines) + "\n"


def only(folder: Path) -> str:
    found = load_desired(folder).problems
    assert len(found) == 1, found
    return str(found[0]).removeprefix(f"{folder}/")


def test_billion_laughs_in_a_customer_file(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", CUSTOMER + billion_laughs())
    # levels 2 to 4 bring in 8,289 values; the first alias of level 5 would pass 10,000
    assert only(desired_dir) == f"customers/c.yaml:7:14: {TOO_MANY}"


def test_billion_laughs_in_partner_yaml(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", CUSTOMER)
    write("partner.yaml", billion_laughs())
    assert only(desired_dir) == f"partner.yaml:5:14: {TOO_MANY}"


def test_billion_laughs_through_the_installed_pcr(
    pcr_executable: str, desired_dir: Path, write: WriteFile
) -> None:
    path = write("customers/c.yaml", CUSTOMER + billion_laughs())
    done = subprocess.run(
        [pcr_executable, "validate", str(desired_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == f"{path}:7:14: {TOO_MANY}\n"
    assert "Traceback" not in done.stderr


def test_more_aliases_than_allowed(desired_dir: Path, write: WriteFile) -> None:
    aliases = ", ".join(["*n"] * (MAX_ALIASES + 1))
    write("customers/c.yaml", CUSTOMER + f"x: &n 1\ny: [{aliases}]\n")
    col = len("y: [") + (MAX_ALIASES) * len("*n, ") + 1
    assert only(desired_dir) == f"customers/c.yaml:4:{col}: {TOO_MANY}"


def test_a_few_aliases_are_fine() -> None:
    data = load_yaml("a: &s [x, {k: v}]\nb: *s\nc: {d: *s}\n", "f.yaml")
    assert data == {"a": ["x", {"k": "v"}], "b": ["x", {"k": "v"}], "c": {"d": ["x", {"k": "v"}]}}
    assert data.value_marks["b"].line == 2  # an alias is located where it is written


def test_recursive_alias(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", CUSTOMER + "name: &x [*x]\n")
    assert (
        only(desired_dir)
        == "customers/c.yaml:3:11: alias *x is inside its own anchor &x: remove it"
    )


def test_alias_without_anchor(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", CUSTOMER + "name: *nowhere\n")
    assert (
        only(desired_dir) == "customers/c.yaml:3:7: alias *nowhere has no anchor &nowhere before it"
    )


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        ("name: " + "[" * 300 + "]" * 300 + "\n", "3:70"),
        ("name: " + "{a: " * 300 + "x" + "}" * 300 + "\n", "3:259"),
        ("".join("  " * i + "k:\n" for i in range(600)), "67:129"),
        (
            "name:\n" + "".join("  " * i + "-\n" for i in range(1, 601)) + "  " * 601 + "x\n",
            "67:129",
        ),
    ],
    ids=["300 flow lists", "300 flow mappings", "600 block mappings", "600 block lists"],
)
def test_deep_nesting_is_an_error_not_a_recursion_error(
    desired_dir: Path, write: WriteFile, text: str, mark: str
) -> None:
    write("customers/c.yaml", CUSTOMER + text)
    assert only(desired_dir) == f"customers/c.yaml:{mark}: {TOO_DEEP}"


@pytest.mark.parametrize("brackets", [999, 1024 * 1024])
def test_many_brackets(brackets: int) -> None:
    document = parse_yaml("[" * brackets, "f.yaml")
    assert document.value is None
    # libyaml stops at 1000 levels as it looks ahead, before pcr's limit; pure Python at it
    cols = {MAX_DEPTH + 1, 1001} if brackets > 1000 else {MAX_DEPTH + 1}
    assert [(e.mark.line, e.mark.col in cols, e.message) for e in document.errors] == [
        (1, True, TOO_DEEP)
    ]


def test_nesting_up_to_the_limit_is_read() -> None:
    text = "[" * (MAX_DEPTH - 1) + "x" + "]" * (MAX_DEPTH - 1)
    value = load_yaml(f"a: {text}\n", "f.yaml")
    for _ in range(MAX_DEPTH):  # the top-level mapping and MAX_DEPTH - 1 lists
        value = value["a"] if isinstance(value, dict) else value[0]
    assert value == "x"


def test_cli_deep_nesting(desired_dir: Path, write: WriteFile) -> None:
    path = write("customers/c.yaml", CUSTOMER + "name: " + "[" * 300 + "]" * 300 + "\n")
    result = CliRunner().invoke(cli, ["validate", str(desired_dir)])
    assert result.exit_code == 1
    assert result.stdout == f"{path}:3:70: {TOO_DEEP}\n"
    assert "internal error" not in result.output
