"""`pcr import` against a hostile desired-state folder and hostile Partner Center text.

Two promises: writing never follows a link (or writes into a FIFO or a folder)
below `--out`, and never leaves an empty or half-written file; and whatever
Partner Center's names hold (NUL, ESC, C1 controls, lone surrogates,
bidirectional overrides), the files written validate and plan nothing.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from click.testing import Result
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from reconciler.cli import cli
from reconciler.commands import import_state
from reconciler.desired.load import load_desired
from reconciler.fake.state import FakeState
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import Live
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.planner import make_plan
from reconciler.scaffold.imported import ESCAPES_NOTE
from reconciler.scaffold.imported import CustomerFile
from reconciler.scaffold.imported import customer_files
from reconciler.scaffold.imported import customer_yaml
from reconciler.scaffold.imported import importable
from reconciler.scaffold.imported import printable
from tests.conftest import DIRECT_PARTNER
from tests.plan.builders import NOW
from tests.plan.builders import guid
from tests.plan.builders import sub
from tests.scaffold.test_import import nce_wire

CUSTOMER = guid(1000)
FILE = "contoso.yaml"  # the file the one-customer fake below is written to


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A fake Partner Center with two customers: Contoso (contoso.yaml) and Fabrikam."""
    fake = FakeState.empty(NOW)
    fake.add_customer(CUSTOMER, "Contoso", "contoso.onmicrosoft.com")
    fake.add_customer(guid(1001), "Fabrikam", "fabrikam.onmicrosoft.com")
    fake.add_subscription(CUSTOMER, nce_wire(guid(2000), "active"))
    path = tmp_path / "state.json"
    fake.save(path)
    return path


def run_import(state: Path, out: Path, *extra: str) -> Result:
    return invoke(
        "import", "--fake", str(state), "--out", str(out), "--partner-type", "direct", *extra
    )


def files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- links, FIFOs and folders under --out ----------------------------------------------------


@pytest.mark.parametrize("dangling", [False, True])
def test_force_does_not_write_through_a_symlinked_customer_file(
    state: Path, tmp_path: Path, dangling: bool
) -> None:
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    if not dangling:
        outside.write_text("not pcr's\n")
    link = out / "customers" / FILE
    link.symlink_to(outside)

    result = run_import(state, out, "--force")

    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"pcr: refusing to replace {link}: it is a symbolic link, not a file (pcr import "
        "never writes through or replaces one; remove it, or run without --force)\n"
    )
    assert link.is_symlink()
    if dangling:
        assert not outside.exists()
    else:
        assert outside.read_text() == "not pcr's\n"
    # Refused before anything was written.
    assert files_under(out / "customers") == [FILE]
    assert not (out / "partner.yaml").exists()


def test_without_force_a_symlinked_customer_file_is_left_alone(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    link = out / "customers" / FILE
    link.symlink_to(outside)  # dangling: opening it to write would create `outside`

    result = run_import(state, out)

    assert result.exit_code == 0, result.output
    assert f"skipped {link}: a symbolic link, not a file (left alone)" in result.stdout
    assert not outside.exists()
    assert (out / "customers" / "fabrikam.yaml").is_file()


@pytest.mark.parametrize("force", [False, True])
def test_a_symlinked_customers_folder_is_refused(state: Path, tmp_path: Path, force: bool) -> None:
    out = tmp_path / "desired"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "customers").symlink_to(elsewhere)

    result = run_import(state, out, *(["--force"] if force else []))

    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"pcr: refusing to write under {out / 'customers'}: it is a symbolic link, not a "
        "folder (pcr import never writes through a link; make it a folder)\n"
    )
    assert list(elsewhere.iterdir()) == []
    assert not (out / "partner.yaml").exists()


def test_a_customers_file_or_fifo_is_refused(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    out.mkdir()
    os.mkfifo(out / "customers")
    result = run_import(state, out)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"pcr: refusing to write under {out / 'customers'}: it is a FIFO, not a folder"
    )


@pytest.mark.parametrize("what", ["fifo", "directory"])
def test_force_refuses_a_fifo_or_a_folder_where_a_file_goes(
    state: Path, tmp_path: Path, what: str
) -> None:
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    target = out / "customers" / FILE
    if what == "fifo":
        os.mkfifo(target)  # reading or opening it to write would block the import
    else:
        target.mkdir()

    forced = run_import(state, out, "--force")
    assert forced.exit_code == 1, forced.output
    shown = "a FIFO" if what == "fifo" else "a directory"
    assert forced.stderr.startswith(f"pcr: refusing to replace {target}: it is {shown}, not a file")
    assert len(forced.stderr.splitlines()) == 1
    assert files_under(out / "customers") == [FILE]

    kept = run_import(state, out)
    assert kept.exit_code == 0, kept.output
    assert f"skipped {target}: {shown}, not a file (left alone)" in kept.stdout
    is_kind = stat.S_ISFIFO if what == "fifo" else stat.S_ISDIR
    assert is_kind(target.lstat().st_mode)


def test_a_fifo_named_like_a_customer_file_does_not_block_reading(
    state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    os.mkfifo(out / "customers" / "other.yaml")
    result = run_import(state, out)
    assert result.exit_code == 0, result.output
    assert (out / "customers" / FILE).is_file()


def test_a_symlinked_partner_file_is_left_alone(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    out.mkdir()
    outside = tmp_path / "outside.yaml"
    (out / "partner.yaml").symlink_to(outside)
    result = run_import(state, out, "--force")
    assert result.exit_code == 0, result.output
    assert f"skipped {out / 'partner.yaml'}: a symbolic link, not a file (left alone)" in (
        result.stdout
    )
    assert not outside.exists()


def test_nothing_is_written_beside_out_not_even_through_a_link(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "repo" / "desired"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.parent.mkdir()
    (out.parent / "schemas").symlink_to(elsewhere)
    result = run_import(state, out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["desired", "schemas"]
    assert list(elsewhere.iterdir()) == []
    assert "which are not there: `pcr init" in result.stderr


def test_a_symlinked_out_folder_is_followed(state: Path, tmp_path: Path) -> None:
    """`--out` is the operator's own path: a link to the checkout is written into."""
    real = tmp_path / "checkout" / "desired"
    real.mkdir(parents=True)
    out = tmp_path / "desired-link"
    out.symlink_to(real)
    result = run_import(state, out)
    assert result.exit_code == 0, result.output
    assert (real / "customers" / FILE).is_file()
    assert sorted(p.name for p in (tmp_path / "checkout").iterdir()) == ["desired"]
    assert invoke("validate", str(out)).exit_code == 0


def test_force_replaces_a_regular_file_whole_and_keeps_its_mode(
    state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    mine = out / "customers" / FILE
    mine.write_text(f"tenant_id: {CUSTOMER}\nrelationship: none\n")
    mine.chmod(0o640)
    hard = tmp_path / "hard-link"
    os.link(mine, hard)  # a second name for the old file: replaced, not written into

    result = run_import(state, out, "--force")

    assert result.exit_code == 0, result.output
    assert "relationship: reseller" in mine.read_text()
    assert stat.S_IMODE(mine.stat().st_mode) == 0o640
    assert hard.read_text() == f"tenant_id: {CUSTOMER}\nrelationship: none\n"
    assert not [p for p in (out / "customers").iterdir() if p.suffix == ".tmp"]


# --- nothing half-written ----------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_a_failed_write_leaves_no_file_behind(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    mine = out / "customers" / FILE
    mine.write_text("kept: as it was\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    writing = import_state.write_files

    def write_files_on_a_full_disk(*args: Any, **kwargs: Any) -> import_state.ImportResult:
        with monkeypatch.context() as disk:  # only while writing: the fake saves its state too
            disk.setattr(os, "fsync", full)
            return writing(*args, **kwargs)

    monkeypatch.setattr(import_state, "write_files", write_files_on_a_full_disk)
    result = run_import(state, out, *(["--force"] if force else []))

    assert result.exit_code == 1, result.output
    assert result.stderr == f"pcr: cannot write to {out}: [Errno 28] No space left on device\n"
    assert files_under(out / "customers") == [FILE]  # no empty, partial or temporary file
    assert mine.read_text() == "kept: as it was\n"


def test_text_that_cannot_be_encoded_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "desired"
    files = [
        CustomerFile(guid(1), "a.yaml", "tenant_id: a\n"),
        CustomerFile(guid(2), "b.yaml", "name: \ud800\n"),
    ]
    with pytest.raises(UnicodeEncodeError):
        import_state.write_files(out, files, force=False)
    assert not out.exists()


# --- hostile names ----------------------------------------------------------------------------

HOSTILE = [
    "Nul\x00Byte Ltd",
    "Esc\x1b[31mRed\x1b[0m GmbH",
    "Lone \ud800 High",
    "Lone \udfff Low",
    "C1 \x85\x9b Controls",
    "Bidi \u202eevil\u202c Corp",
    "Del\x7f and \ufffe and \ufeff",
    "Back\\slash \x07 Bell",
    "\x00",
]


@pytest.fixture
def hostile_state(tmp_path: Path) -> Path:
    fake = FakeState.empty(NOW)
    for n, name in enumerate(HOSTILE):
        tenant = guid(1000 + n)
        fake.add_customer(tenant, name, f"t{n}.onmicrosoft.com")
        wire = nce_wire(guid(2000 + n), "active")
        wire["offerName"] = name
        fake.add_subscription(tenant, wire)
        left_out = nce_wire(guid(2100 + n), "pending")
        left_out["offerName"] = name
        fake.add_subscription(tenant, left_out)
    fake.add_customer(guid(1100), "Advisor \x1b]0;pwned\x07", "a.onmicrosoft.com", "advisor")
    fake.add_customer(guid(1101), "Bad domain", "evil\x1b.example\ud800")
    path = tmp_path / "state.json"
    fake.save(path)
    return path


def test_hostile_names_round_trip(hostile_state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    result = run_import(hostile_state, out)
    assert result.exit_code == 0, result.output
    assert f"not imported: {guid(1100)} (Advisor \\x1b]0;pwned\\x07): relationship advisor" in (
        result.stdout
    )
    assert "\x1b" not in result.output

    validated = invoke("validate", str(out))
    assert validated.exit_code == 0, validated.output
    plan = invoke(
        "plan", "--desired", str(out), "--fake", str(hostile_state), "--detailed-exitcode"
    )
    assert plan.exit_code == 0, plan.output
    assert "No changes." in plan.stdout
    assert "differs from Partner Center" not in plan.output

    loaded = load_desired(out).desired
    assert loaded is not None
    for n, name in enumerate(HOSTILE):
        declared = loaded.customers[guid(1000 + n)].name
        has_surrogate = any("\ud800" <= ch <= "\udfff" for ch in name)
        assert declared == (None if has_surrogate else name)

    for path in (out / "customers").iterdir():
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                assert line.isprintable(), line
    esc = (out / "customers" / "esc-31mred-0m-gmbh.yaml").read_text()
    assert 'name: "Esc\\e[31mRed\\e[0m GmbH"\n' in esc
    assert "  # Esc\\x1b[31mRed\\x1b[0m GmbH (nce), quantity 3, term ends 2027-06-30\n" in esc
    assert ESCAPES_NOTE in esc
    lone = (out / "customers" / "lone-high.yaml").read_text()
    assert "\nname:" not in lone
    assert (
        "# name: left out: Partner Center's company name has a lone surrogate, which YAML "
        "cannot hold. Escaped, it reads:\n# Lone \\ud800 High\n"
    ) in lone
    assert f"#   {guid(2102)} Lone \\ud800 High: not declared (status pending)\n" in lone
    bell = (out / "customers" / "back-slash-bell.yaml").read_text()
    assert "# Back\\\\slash \\x07 Bell (nce)" in bell  # with an escape, a backslash is doubled
    bad = (out / "customers" / "bad-domain.yaml").read_text()
    assert "# domain: not a valid domain name: evil\\x1b.example\\ud800." in bad


def test_comments_without_hidden_characters_are_unchanged() -> None:
    text = customer_yaml(
        Customer(guid(5), "Back\\slash", "", "reseller"), CustomerDetail((sub(id=guid(6)),))
    )
    assert ESCAPES_NOTE not in text
    assert printable("Back\\slash  x\n y") == "Back\\slash x y"
    assert printable("a\\b\x1b") == "a\\\\b\\x1b"
    assert printable("\uffff\u2028x") == "\\uffff x"  # U+2028 breaks a line in YAML


def test_ids_with_a_final_newline_are_not_guids() -> None:
    chosen, notes = importable([Customer(guid(5) + "\n", "X", "", "reseller")])
    assert chosen == []
    assert notes == [f"{guid(5)} (X): the customer id is not a GUID"]


# --- the property: whatever the names, the file validates and plans nothing --------------

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    company=ANY_TEXT,
    domain=ANY_TEXT,
    offers=st.lists(ANY_TEXT, max_size=3),
    pending=ANY_TEXT,
)
def test_any_names_load_validate_and_plan_nothing(
    company: str, domain: str, offers: list[str], pending: str
) -> None:
    tenant = guid(7)
    live_customer = Customer(tenant, company, domain, "reseller")
    subscriptions = [
        replace(sub(id=guid(100 + n)), offer_name=offer) for n, offer in enumerate(offers)
    ]
    waiting = replace(sub(status=SubscriptionStatus.PENDING, id=guid(99)), offer_name=pending)
    live_detail = CustomerDetail((*subscriptions, waiting))
    (written,) = customer_files([live_customer], {tenant: live_detail})

    text = written.text
    text.encode("utf-8")  # no lone surrogate left
    for line in text.splitlines():
        if line.lstrip().startswith("#"):  # nothing raw that a comment cannot show
            assert not [ch for ch in line if unicodedata.category(ch) in ("Cc", "Cs")], line
            assert not set(line) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

    with tempfile.TemporaryDirectory() as folder:
        customers = Path(folder) / "customers"
        customers.mkdir()
        (Path(folder) / "partner.yaml").write_text(DIRECT_PARTNER)
        (customers / written.name).write_text(text, encoding="utf-8")
        loaded = load_desired(Path(folder))
        assert loaded.problems == [], text
        assert loaded.desired is not None
        declared = loaded.desired.customers[tenant]
    surrogate = any("\ud800" <= ch <= "\udfff" for ch in company)
    assert declared.name == (None if surrogate or not company else company)
    assert {o.id for o in declared.subscriptions} == {s.id for s in subscriptions}

    live = Live(customers={tenant: live_customer}, details={tenant: live_detail})
    plan = make_plan(loaded.desired, live, NOW)
    assert plan.actions == [] and plan.errors == [] and plan.blocked == []
    assert not [w for w in plan.warnings if "differs from Partner Center" in w]
