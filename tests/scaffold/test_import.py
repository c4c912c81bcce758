"""`pcr import`: file names, file contents, never overwriting, and the round trip.

The round trip is the contract: right after an import, `pcr validate` is clean
and `pcr plan --detailed-exitcode` and `pcr drift --detailed-exitcode` find
nothing to do, however odd the company names are.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result

from reconciler.cli import cli
from reconciler.cli import main
from reconciler.desired.load import load_desired
from reconciler.desired.model import PartnerType
from reconciler.fake.state import FakeState
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.plan.planner import make_plan
from reconciler.scaffold.imported import CUSTOMER_MODELINE
from reconciler.scaffold.imported import customer_yaml
from reconciler.scaffold.imported import file_names
from reconciler.scaffold.imported import file_stem
from tests.conftest import EXAMPLE
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import guid
from tests.plan.builders import sub

# Names that break naive YAML writing: quotes, a colon-space, a comment mark, YAML
# keywords, a leading dash, surrounding spaces, backslashes, non-ASCII, a newline.
ODD_NAMES = [
    'Contoso: "Ltd" #1',
    "yes",
    "null",
    "- Dash & Co",
    "  Spaced  Out  ",
    "Back\\slash 'Quote'",
    "Ünïcödé Straße GmbH",
    "東京商事",
    "Line\nBreak Inc",
    "@at {brace} [bracket] *star* !bang %pct",
]


def nce_wire(sub_id: str, status: str, *, auto_renew: bool = True) -> dict[str, object]:
    return {
        "id": sub_id,
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "offerName": "Microsoft 365 Business Basic",
        "quantity": 3,
        "status": status,
        "autoRenewEnabled": auto_renew,
        "termDuration": "P1Y",
        "commitmentEndDate": "2027-06-30T00:00:00Z",
        "cancellationAllowedUntilDate": "2026-07-08T23:59:00Z",
        "productType": {"id": "OnlineServicesNCE"},
    }


def legacy_wire(sub_id: str, status: str) -> dict[str, object]:
    return {
        "id": sub_id,
        "offerId": "796B6B5F-613C-4E24-A17C-EBA730D49C02",
        "offerName": "Office 365 E3 # legacy\nseats",
        "quantity": 10,
        "status": status,
        "autoRenewEnabled": False,
        "termDuration": "P1Y",
        "commitmentEndDate": "2027-03-31T00:00:00Z",
    }


@pytest.fixture
def odd_state(tmp_path: Path) -> Path:
    """A fake Partner Center with odd names and every subscription status."""
    state = FakeState.empty(NOW)
    for n, name in enumerate(ODD_NAMES):
        tenant = guid(1000 + n)
        state.add_customer(tenant, name, f"tenant{n}.onmicrosoft.com")
    first = guid(1000)
    for n, status in enumerate(["active", "suspended", "deleted", "pending", "expired"]):
        state.add_subscription(first, nce_wire(guid(2000 + n), status, auto_renew=n % 2 == 0))
    state.add_subscription(first, legacy_wire(guid(2100), "active"))
    state.add_subscription(first, legacy_wire("not-a-guid", "active"))
    state.add_customer(guid(1100), 'Contoso: "Ltd" #1', "clash.onmicrosoft.com")  # same stem
    state.add_customer(guid(1101), "Advised Only", "advised.onmicrosoft.com", "advisor")
    path = tmp_path / "state.json"
    state.save(path)
    return path


DIRECT = ("--partner-type", "direct")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def imported(state: Path, out: Path, *extra: str) -> Result:
    result = invoke("import", "--fake", str(state), "--out", str(out), *DIRECT, *extra)
    assert result.exit_code == 0, result.output
    return result


# --- file names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("company", "stem"),
    [
        ("Contoso Ltd", "contoso-ltd"),
        ('Contoso: "Ltd" #1', "contoso-ltd-1"),
        ("Ünïcödé Straße GmbH", "unicode-strae-gmbh"),
        ("../../etc/passwd", "etc-passwd"),
        ("東京商事", "customer-3f2b7a4e"),
        ("", "customer-3f2b7a4e"),
        ("A" * 80, "a" * 60),
    ],
)
def test_file_stem_is_safe(company: str, stem: str) -> None:
    assert file_stem(company, "3F2B7A4E-1c0d-4e8f-9a61-5b7c2d9e0f13") == stem


def test_file_names_are_unique_and_stable() -> None:
    customers = [
        Customer(guid(3), "Contoso", "", "reseller"),
        Customer(guid(1), "Contoso", "", "reseller"),
        Customer(guid(2), "Contoso 2", "", "reseller"),  # its own stem is a suffixed one
    ]
    names = file_names(customers)
    assert names == {
        guid(1): "contoso.yaml",
        guid(3): "contoso-2.yaml",
        guid(2): "contoso-2-2.yaml",
    }
    assert file_names(reversed(customers)) == names


# --- file contents ---------------------------------------------------------------------------


def test_customer_file_shape() -> None:
    customer = Customer(guid(5), "Fabrikam Inc", "fabrikam.onmicrosoft.com", "reseller")
    active: Subscription = sub(id=guid(6), auto_renew=False)
    text = customer_yaml(customer, CustomerDetail((active,)))
    assert text.splitlines()[0] == CUSTOMER_MODELINE
    assert text.endswith(
        f"tenant_id: {guid(5)}\n"
        "name: Fabrikam Inc\n"
        "domain: fabrikam.onmicrosoft.com\n"
        "relationship: reseller\n"
        "subscriptions:\n"
        "  # nce offer (nce), quantity 5, term ends 2027-03-02\n"
        f"  - id: {guid(6)}\n"
        "    status: active\n"
        "    auto_renew: false\n"
    )


def test_an_invalid_domain_becomes_a_comment_that_says_what_to_add() -> None:
    customer = Customer(guid(5), "X", "not a domain", "reseller")
    text = customer_yaml(customer, CustomerDetail())
    assert "\ndomain:" not in text
    assert "# domain: not a valid domain name: not a domain." in text
    assert "before offboarding" in text


def test_the_domain_is_written_as_dns_reads_it() -> None:
    customer = Customer(guid(5), "X", " Contoso.OnMicrosoft.com. ", "reseller")
    assert "\ndomain: contoso.onmicrosoft.com\n" in customer_yaml(customer, CustomerDetail())


def test_a_customer_without_a_domain_gets_a_comment_for_the_second_key() -> None:
    text = customer_yaml(Customer(guid(5), "X", "", "reseller"), CustomerDetail())
    assert "\ndomain:" not in text
    assert "# domain: Partner Center reports none." in text


def test_import_and_plan_agree_on_the_last_day_of_a_term() -> None:
    """`commitmentEndDate` is inclusive: the day import names is the plan's last day."""
    leaving = sub(SubscriptionKind.NCE, term_end_days=100, window_days=-30)
    text = customer_yaml(
        Customer(guid(5), "X", "x.example", "reseller"), CustomerDetail((leaving,))
    )
    last_day = (NOW + timedelta(days=100)).date().isoformat()
    assert f"term ends {last_day}" in text
    desired = customer(guid(5))
    plan = make_plan(*estate((desired, detail(leaving))), NOW)
    (deferred,) = plan.deferred
    assert f"its term ends {last_day}" in deferred.reason
    assert deferred.not_before.date() > (NOW + timedelta(days=100)).date()


# --- the command and the round trip ----------------------------------------------------------


def test_round_trip_validates_and_plans_nothing(odd_state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    result = imported(odd_state, out)
    assert "not imported: " + guid(1101) + " (Advised Only): relationship advisor" in result.stdout

    assert invoke("validate", str(out)).exit_code == 0
    plan = invoke("plan", "--desired", str(out), "--fake", str(odd_state), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "No changes." in plan.stdout
    drift = invoke("drift", "--desired", str(out), "--fake", str(odd_state), "--detailed-exitcode")
    assert drift.exit_code == 0, drift.output

    loaded = load_desired(out).desired
    assert loaded is not None
    names = {c.tenant_id: c.name for c in loaded.customers.values()}
    for n, name in enumerate(ODD_NAMES):
        assert names[guid(1000 + n)] == name  # byte for byte, newline and spaces included


def test_statuses_the_schema_cannot_hold_are_comments(odd_state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    imported(odd_state, out)
    text = (out / "customers" / "contoso-ltd-1.yaml").read_text()
    loaded = load_desired(out).desired
    assert loaded is not None
    declared = {o.id: (o.status, o.auto_renew) for o in loaded.customers[guid(1000)].subscriptions}
    assert {i: (str(s), r) for i, (s, r) in declared.items()} == {
        guid(2000): ("active", True),
        guid(2001): ("suspended", False),
        guid(2002): ("cancelled", None),  # deleted; a cancelled one does not renew
        guid(2100): ("active", False),
    }
    assert f"#   {guid(2003)} Microsoft 365 Business Basic: not declared (status pending)" in text
    assert f"#   {guid(2004)} Microsoft 365 Business Basic: not declared (status expired)" in text
    assert (
        "#   not-a-guid Office 365 E3 # legacy seats: not declared (its id is not a GUID)" in text
    )
    assert (out / "customers" / "contoso-ltd-1-2.yaml").is_file()  # the clash got a suffix


def test_existing_files_are_kept_unless_forced(odd_state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    mine = out / "customers" / "yes.yaml"
    mine.write_text(f"tenant_id: {guid(1001)}\nrelationship: none\n")
    (out / "partner.yaml").write_text("policy:\n  max_removals_per_run: 1\n")

    result = imported(odd_state, out)
    assert f"skipped {mine}: exists (--force overwrites it)" in result.stdout
    assert f"skipped {out / 'partner.yaml'}: exists (kept, also with --force)" in result.stdout
    assert mine.read_text() == f"tenant_id: {guid(1001)}\nrelationship: none\n"
    assert (out / "customers" / "null.yaml").is_file()

    forced = imported(odd_state, out, "--force")
    assert f"wrote {mine}" in forced.stdout
    assert "relationship: reseller" in mine.read_text()
    assert (out / "partner.yaml").read_text() == "policy:\n  max_removals_per_run: 1\n"


def test_a_yml_file_of_the_same_name_is_left_alone(odd_state: Path, tmp_path: Path) -> None:
    """`null.yml` declares another tenant: an imported `null.yaml` beside it would make two
    files of one name, which validation refuses; it is not written, with --force neither."""
    out = tmp_path / "desired"
    (out / "customers").mkdir(parents=True)
    theirs = out / "customers" / "null.yml"
    theirs.write_text(f"tenant_id: {guid(4242)}\nrelationship: reseller\n")
    for extra in ((), ("--force",)):
        result = imported(odd_state, out, *extra)
        assert f"skipped {out / 'customers' / 'null.yaml'}: null.yml has that name" in (
            result.stdout
        )
        assert not (out / "customers" / "null.yaml").exists()
    assert theirs.read_text() == f"tenant_id: {guid(4242)}\nrelationship: reseller\n"


def test_without_a_partner_type_partner_yaml_says_to_set_it(
    odd_state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "desired"
    result = invoke("import", "--fake", str(odd_state), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"set partner.type in {out / 'partner.yaml'}" in result.stderr
    assert "  type: unset  # set it: direct, indirect_provider or indirect_reseller" in (
        (out / "partner.yaml").read_text()
    )
    refused = load_desired(out)
    assert refused.desired is None
    assert any("partner.type: 'unset' is not allowed" in str(p) for p in refused.problems)


def test_the_partner_type_given_is_the_one_written(odd_state: Path, tmp_path: Path) -> None:
    out = tmp_path / "desired"
    result = invoke(
        "import", "--fake", str(odd_state), "--out", str(out), "--partner-type", "indirect_provider"
    )
    assert result.exit_code == 0, result.output
    assert "set partner.type" not in result.stderr
    loaded = load_desired(out)
    assert loaded.desired is not None, loaded.problems
    assert loaded.desired.partner.type is PartnerType.INDIRECT_PROVIDER


def test_a_tenant_declared_in_another_file_is_not_declared_twice(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    shutil.copy(EXAMPLE / "fake-state.json", state)
    out = tmp_path / "desired"
    shutil.copytree(EXAMPLE, out)
    result = imported(state, out, "--force")
    contoso = out / "customers" / "contoso-ltd.yaml"
    assert f"skipped {contoso}: tenant cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b is already in " in (
        result.stdout
    )
    assert not contoso.exists()
    # Only the unmanaged customer was new; the rest of the estate is as it was.
    assert f"wrote {out / 'customers' / 'alpine-ski-house.yaml'}" in result.stdout
    assert invoke("validate", str(out)).exit_code == 0


def test_backend_failure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "--endpoint", "http://127.0.0.1:9/", "--out", str(tmp_path / "d")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("pcr: "), err
    assert not (tmp_path / "d").exists()


def test_out_is_required(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "--fake", str(EXAMPLE / "fake-state.json")])
    assert exit_info.value.code == 1


def test_out_that_is_a_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    shutil.copy(EXAMPLE / "fake-state.json", state)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "--fake", str(state), "--out", str(blocker / "desired")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"pcr: cannot write to {blocker / 'desired'}: "), err


def test_import_writes_only_under_out_and_says_where_the_schemas_are(
    odd_state: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    out = work / "desired"
    work.mkdir()
    result = imported(odd_state, out)
    written = {p for p in work.rglob("*")}
    assert written and all(p == out or out in p.parents for p in written)
    schemas = work / "schemas"
    assert (
        f"pcr: the files' modelines point at the JSON Schemas in {schemas}, which are not "
        f"there: `pcr init {work}` writes them" in result.stderr
    )

    init = invoke("init", str(work))
    assert init.exit_code == 0, init.output
    again = imported(odd_state, out)
    assert f"pcr: the files' modelines point at the JSON Schemas in {schemas}, for editors" in (
        again.stderr
    )
