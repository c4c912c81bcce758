"""Only regular files are read, and nothing that looks like desired state is skipped.

Every case goes through `load_desired`; the ones that could hang or exhaust
memory if pcr got them wrong (a FIFO, /dev/zero) also through the installed
`pcr` in a subprocess, whose timeout turns a hang into a failure.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired.load import DesiredStateError
from reconciler.desired.load import load_desired
from reconciler.desired.marked_yaml import MAX_FILE_BYTES
from tests.conftest import WriteFile

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
CUSTOMER = f"tenant_id: {TENANT}\nrelationship: reseller\n"
ONLY_FILES = "pcr reads regular files only (a symbolic link must point at one); replace it"


def problems(folder: Path) -> list[str]:
    """Each problem with its path relative to `folder`."""
    return [str(p).removeprefix(f"{folder}/") for p in load_desired(folder).problems]


@pytest.fixture
def customers(desired_dir: Path) -> Path:
    return desired_dir / "customers"


@pytest.fixture
def as_user_who_cannot_read() -> Iterator[None]:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    yield


def test_dangling_symlink(desired_dir: Path, customers: Path) -> None:
    (customers / "x.yaml").symlink_to("gone.yaml")
    assert problems(desired_dir) == [
        f"customers/x.yaml:1:1: a link to nowhere (gone.yaml does not exist), not a file: "
        f"{ONLY_FILES}"
    ]


def test_symlink_loop(desired_dir: Path, customers: Path) -> None:
    (customers / "a.yaml").symlink_to("b.yaml")
    (customers / "b.yaml").symlink_to("a.yaml")
    assert problems(desired_dir) == [
        f"customers/a.yaml:1:1: a symbolic link loop, not a file: {ONLY_FILES}",
        f"customers/b.yaml:1:1: a symbolic link loop, not a file: {ONLY_FILES}",
    ]


def test_folder_named_like_a_customer_file(desired_dir: Path, customers: Path) -> None:
    (customers / "x.yaml").mkdir()
    assert problems(desired_dir) == [f"customers/x.yaml:1:1: a folder, not a file: {ONLY_FILES}"]


def test_fifo_is_never_opened(desired_dir: Path, customers: Path) -> None:
    os.mkfifo(customers / "x.yaml")  # opening it for reading would wait for a writer
    assert problems(desired_dir) == [
        f"customers/x.yaml:1:1: a FIFO (named pipe), not a file: {ONLY_FILES}"
    ]


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_link_to_a_device(desired_dir: Path, customers: Path, device: str) -> None:
    (customers / "x.yaml").symlink_to(device)
    assert problems(desired_dir) == [
        f"customers/x.yaml:1:1: a link to a device ({device}), not a file: {ONLY_FILES}"
    ]


def test_link_to_a_folder(desired_dir: Path, customers: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (customers / "x.yaml").symlink_to(tmp_path / "elsewhere")
    assert problems(desired_dir) == [
        f"customers/x.yaml:1:1: a link to a folder ({tmp_path / 'elsewhere'}), not a file: "
        f"{ONLY_FILES}"
    ]


def test_links_to_regular_files_are_read(
    desired_dir: Path, customers: Path, tmp_path: Path
) -> None:
    (customers / "real.yaml").write_text(CUSTOMER)
    (customers / "inside.yaml").symlink_to("real.yaml")
    outside = tmp_path / "outside.yaml"
    outside.write_text(CUSTOMER.replace(TENANT, "0b1c2d3e-4f5a-4b6c-9d7e-8f90a1b2c3d4"))
    (customers / "outside.yaml").symlink_to(outside)
    found = problems(desired_dir)
    # the link inside is read: it declares the same tenant as the file it points at
    assert [p.split(": ", 1)[0] for p in found] == [
        "customers/inside.yaml:1:12",
        "customers/real.yaml:1:12",
    ]
    assert all("is declared twice" in p for p in found)


def test_customers_is_a_file(desired_dir: Path, customers: Path) -> None:
    customers.rmdir()
    customers.write_text(CUSTOMER)
    assert problems(desired_dir) == [
        "customers:1:1: a file, not a folder: customer files go in customers/<name>.yaml"
    ]


def test_customers_is_a_dangling_link(desired_dir: Path, customers: Path) -> None:
    customers.rmdir()
    customers.symlink_to("nowhere")
    assert problems(desired_dir) == [
        "customers:1:1: a link to nowhere (nowhere does not exist), not a folder: "
        "customer files go in customers/<name>.yaml"
    ]


def test_dangling_partner_link(desired_dir: Path) -> None:
    (desired_dir / "partner.yaml").unlink()
    (desired_dir / "partner.yaml").symlink_to("settings.yaml")
    assert problems(desired_dir) == [
        f"partner.yaml:1:1: a link to nowhere (settings.yaml does not exist), not a file: "
        f"{ONLY_FILES}"
    ]


def test_partner_folder(desired_dir: Path) -> None:
    (desired_dir / "partner.yaml").unlink()
    (desired_dir / "partner.yaml").mkdir()
    assert problems(desired_dir) == [f"partner.yaml:1:1: a folder, not a file: {ONLY_FILES}"]


@pytest.mark.parametrize(
    ("name", "wanted"), [("x.YML", "x.yaml"), ("X.YAML", "X.yaml"), ("x.Yaml", "x.yaml")]
)
def test_other_case_or_extension(
    desired_dir: Path, write: WriteFile, name: str, wanted: str
) -> None:
    write(f"customers/{name}", CUSTOMER)
    assert problems(desired_dir) == [
        f"customers/{name}:1:1: not read: pcr reads customers/*.yaml and *.yml (lower case); "
        f"rename it to {wanted}"
    ]


def test_yaml_in_a_subfolder(desired_dir: Path, write: WriteFile) -> None:
    write("customers/sub/x.yaml", CUSTOMER)
    write("customers/sub/deeper/y.yml", CUSTOMER)
    write("customers/sub/notes.md", "not desired state\n")
    assert problems(desired_dir) == [
        "customers/sub/deeper/y.yml:1:1: not read: pcr reads customers/*.yaml and *.yml only, "
        "not subfolders; move it to customers/y.yaml",
        "customers/sub/x.yaml:1:1: not read: pcr reads customers/*.yaml and *.yml only, not "
        "subfolders; move it to customers/x.yaml",
    ]


def test_link_to_a_folder_in_customers(desired_dir: Path, customers: Path, tmp_path: Path) -> None:
    (tmp_path / "more").mkdir()
    (customers / "more").symlink_to(tmp_path / "more")
    assert problems(desired_dir) == [
        "customers/more:1:1: a link to a folder: pcr reads customers/*.yaml and *.yml only, "
        "not subfolders; move its customer files into customers/ or remove the link"
    ]


@pytest.mark.parametrize("name", ["partner.yml", "Partner.yaml", "PARTNER.YML"])
def test_partner_under_another_name(desired_dir: Path, write: WriteFile, name: str) -> None:
    write(name, "policy:\n  max_removals_per_run: 0\n")
    assert problems(desired_dir) == [
        f"{name}:1:1: not read: pcr reads partner settings from partner.yaml (exactly this "
        "name); rename it to partner.yaml"
    ]


def test_customers_folder_in_another_case(desired_dir: Path, write: WriteFile) -> None:
    write("Customers/x.yaml", CUSTOMER)
    assert problems(desired_dir) == [
        "Customers:1:1: not read: customer files go in customers/ (lower case); rename it"
    ]


def test_other_files_are_left_alone(desired_dir: Path, write: WriteFile) -> None:
    write("customers/.gitkeep", "")
    write("customers/README.md", "# customers\n")
    write("fake-state.json", "{}")
    write("customers/c.yaml", CUSTOMER)
    assert problems(desired_dir) == []


def test_file_over_the_size_limit(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", CUSTOMER + "#" * (MAX_FILE_BYTES - len(CUSTOMER)) + "\n")
    assert problems(desired_dir) == [
        "customers/c.yaml:1:1: the file is larger than 1 MiB: a pcr file holds one customer's "
        "settings; split it, or remove what does not belong in it"
    ]


def test_file_at_the_size_limit_is_read(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", CUSTOMER + "#" * (MAX_FILE_BYTES - len(CUSTOMER) - 1) + "\n")
    assert problems(desired_dir) == []


def test_huge_sparse_file_is_refused_unread(desired_dir: Path, customers: Path) -> None:
    with (customers / "c.yaml").open("wb") as file:
        file.truncate(64 * 1024**3)  # 64 GiB of nothing: refused by its size, never read
    assert problems(desired_dir) == [
        "customers/c.yaml:1:1: the file is larger than 1 MiB: a pcr file holds one customer's "
        "settings; split it, or remove what does not belong in it"
    ]


def test_unreadable_file(
    desired_dir: Path, write: WriteFile, as_user_who_cannot_read: None
) -> None:
    write("customers/c.yaml", CUSTOMER).chmod(0)
    assert problems(desired_dir) == [
        "customers/c.yaml:1:1: cannot read the file: permission denied; let the user running "
        "pcr read it"
    ]


def test_unreadable_customers_folder(
    desired_dir: Path, customers: Path, as_user_who_cannot_read: None
) -> None:
    customers.chmod(0)
    try:
        assert problems(desired_dir) == [
            "customers:1:1: cannot list the folder: permission denied; let the user running "
            "pcr read it"
        ]
    finally:
        customers.chmod(0o755)


def test_unreadable_desired_folder(desired_dir: Path, as_user_who_cannot_read: None) -> None:
    desired_dir.chmod(0)
    try:
        with pytest.raises(DesiredStateError) as caught:
            load_desired(desired_dir)
        assert str(caught.value) == (
            f"{desired_dir}: cannot list the folder: permission denied; let the user running "
            "pcr read it"
        )
    finally:
        desired_dir.chmod(0o755)


def test_cli_names_each_entry_and_fails(desired_dir: Path, customers: Path) -> None:
    (customers / "gone.yaml").symlink_to("nowhere.yaml")
    (customers / "x.YML").write_text(CUSTOMER)
    result = CliRunner().invoke(cli, ["validate", str(desired_dir)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{customers}/gone.yaml:1:1: a link to nowhere (nowhere.yaml does not exist), not a "
        f"file: {ONLY_FILES}",
        f"{customers}/x.YML:1:1: not read: pcr reads customers/*.yaml and *.yml (lower case); "
        "rename it to x.yaml",
    ]
    assert "2 problems in 2 files under" in result.stderr


def test_installed_pcr_neither_hangs_on_a_fifo_nor_reads_dev_zero(
    pcr_executable: str, desired_dir: Path, customers: Path
) -> None:
    os.mkfifo(customers / "fifo.yaml")
    (customers / "zero.yaml").symlink_to("/dev/zero")
    done = subprocess.run(
        [pcr_executable, "validate", str(desired_dir)],
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails the test instead of stalling the run
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{customers}/fifo.yaml:1:1: a FIFO (named pipe), not a file: {ONLY_FILES}",
        f"{customers}/zero.yaml:1:1: a link to a device (/dev/zero), not a file: {ONLY_FILES}",
    ]
    assert "Traceback" not in done.stderr
