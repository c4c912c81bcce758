"""Text that is not UTF-8, and characters YAML refuses, are reported where they are."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired.load import load_desired

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
CUSTOMER = f"tenant_id: {TENANT}\nrelationship: reseller\n".encode()


def found(folder: Path) -> list[str]:
    return [str(p).removeprefix(f"{folder}/") for p in load_desired(folder).problems]


def test_latin1_byte_at_its_line_and_column(desired_dir: Path) -> None:
    (desired_dir / "customers" / "c.yaml").write_bytes(CUSTOMER + b"name: Caf\xe9 Ltd\n")
    assert found(desired_dir) == [
        "customers/c.yaml:3:10: not UTF-8 text (byte 0xE9): save the file as UTF-8"
    ]


def test_column_counts_characters_not_bytes(desired_dir: Path) -> None:
    text = CUSTOMER + "name: Café Ré".encode() + b"\xff\n"
    (desired_dir / "customers" / "c.yaml").write_bytes(text)
    assert found(desired_dir) == [
        "customers/c.yaml:3:14: not UTF-8 text (byte 0xFF): save the file as UTF-8"
    ]


def test_utf16_file(desired_dir: Path) -> None:
    (desired_dir / "customers" / "c.yaml").write_bytes(CUSTOMER.decode().encode("utf-16"))
    assert found(desired_dir) == [
        "customers/c.yaml:1:1: not UTF-8 text (byte 0xFF): save the file as UTF-8"
    ]


def test_utf8_bom_is_fine(desired_dir: Path) -> None:
    (desired_dir / "customers" / "c.yaml").write_bytes(b"\xef\xbb\xbf" + CUSTOMER)
    assert found(desired_dir) == []


def test_control_character_after_non_ascii_text(desired_dir: Path) -> None:
    # libyaml counts bytes; the column is in characters, as an editor shows it
    (desired_dir / "customers" / "c.yaml").write_bytes(CUSTOMER + "name: Çé\x00\n".encode())
    assert found(desired_dir) == ["customers/c.yaml:3:9: character U+0000 is not allowed in YAML"]


def test_invalid_partner_yaml_through_the_cli(desired_dir: Path) -> None:
    (desired_dir / "customers" / "c.yaml").write_bytes(CUSTOMER)
    (desired_dir / "partner.yaml").write_bytes(b"policy:\n  max_removals_per_run: 1\x80\n")
    result = CliRunner().invoke(cli, ["validate", str(desired_dir)])
    assert result.exit_code == 1
    assert result.stdout == (
        f"{desired_dir}/partner.yaml:2:26: not UTF-8 text (byte 0x80): save the file as UTF-8\n"
    )
