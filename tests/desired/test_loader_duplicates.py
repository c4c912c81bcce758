"""A duplicate key is reported at its own line and no longer hides the file's other problems."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired.load import load_desired
from tests.conftest import WriteFile

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
OTHER = "0b1c2d3e-4f5a-4b6c-9d7e-8f90a1b2c3d4"
SUB = "9a1c0d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"


def found(folder: Path) -> list[str]:
    return [str(p).removeprefix(f"{folder}/") for p in load_desired(folder).problems]


def test_duplicate_written_through_an_alias(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"&key tenant_id: {TENANT}\nrelationship: reseller\n*key : {OTHER}\n",
    )
    assert found(desired_dir) == [
        "customers/c.yaml:3:1: duplicate key 'tenant_id' (first defined at line 1): "
        "keep one of them"
    ]


def test_merge_keys_each_at_their_line(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n"
        f"  - &base {{id: {SUB}, status: suspended}}\n"
        f"  - <<: *base\n    <<: *base\n    colour: blue\n",
    )
    assert found(desired_dir) == [
        "customers/c.yaml:5:5: merge keys (<<) are not supported: write the keys out in full",
        "customers/c.yaml:5:5: missing required key 'id' in subscriptions[1]",
        "customers/c.yaml:6:5: merge keys (<<) are not supported: write the keys out in full",
        "customers/c.yaml:7:5: unknown key 'colour' in subscriptions[1]; allowed keys: "
        "auto_renew, id, status",
    ]


def test_duplicates_do_not_hide_cross_file_checks(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/a.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nname: A\nname: B\nsubscriptions:\n"
        f"  - id: {SUB}\n    status: active\n    status: cancelled\n",
    )
    write("customers/b.yaml", f"tenant_id: {TENANT}\nrelationship: reseller\n")
    assert found(desired_dir) == [
        f"customers/a.yaml:1:12: tenant_id {TENANT} is declared twice, also at "
        f"{desired_dir}/customers/b.yaml:1:12: keep one file per customer",
        "customers/a.yaml:4:1: duplicate key 'name' (first defined at line 3): keep one of them",
        "customers/a.yaml:8:5: duplicate key 'status' (first defined at line 7): keep one of them",
        f"customers/b.yaml:1:12: tenant_id {TENANT} is declared twice, also at "
        f"{desired_dir}/customers/a.yaml:1:12: keep one file per customer",
    ]


def test_duplicate_does_not_hide_schema_problems(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nrelationship: none\nprotected: maybe\n",
    )
    assert found(desired_dir) == [
        "customers/c.yaml:3:1: duplicate key 'relationship' (first defined at line 2): "
        "keep one of them",
        "customers/c.yaml:4:12: protected: expected true or false, got text 'maybe'",
    ]


def test_tenant_declared_twice_through_the_cli(desired_dir: Path, write: WriteFile) -> None:
    a = write("customers/a.yaml", f"relationship: reseller\ntenant_id: {TENANT}\n")
    b = write("customers/b.yaml", f"# moved\n\nrelationship: reseller\ntenant_id:   {TENANT}\n")
    result = CliRunner().invoke(cli, ["validate", str(desired_dir), "--format", "github"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(",title=")[0] for line in lines] == [
        f"::error file={str(a).replace(':', '%3A')},line=2,col=12",
        f"::error file={str(b).replace(':', '%3A')},line=4,col=14",
    ]
    assert lines[0].endswith(f"also at {b}:4:14: keep one file per customer")
