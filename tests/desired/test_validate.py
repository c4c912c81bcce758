"""Each validation problem: its message and its line, through `load_desired`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from reconciler.desired.load import DesiredStateError
from reconciler.desired.load import load_desired
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import PartnerType
from reconciler.desired.model import Relationship
from tests.conftest import DIRECT_PARTNER
from tests.conftest import EXAMPLE
from tests.conftest import WriteFile

# An offboarding declares its domain as a second key (policy.require_domain_for_removal).
DOMAIN = "domain: contoso.onmicrosoft.com\n"
TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
SUB_A = "9a1c0d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
SUB_B = "0b1c2d3e-4f5a-4b6c-9d7e-8f90a1b2c3d4"


def problems(folder: Path) -> list[tuple[str, int, str]]:
    result = load_desired(folder)
    return [(Path(p.mark.path).name, p.mark.line, p.message) for p in result.problems]


def only_problem(folder: Path) -> tuple[str, int, str]:
    found = problems(folder)
    assert len(found) == 1, found
    return found[0]


def test_example_estate_is_clean() -> None:
    result = load_desired(EXAMPLE)
    assert result.problems == []
    assert result.desired is not None
    assert len(result.desired.customers) >= 8
    assert result.desired.partner.type is PartnerType.DIRECT


def test_builds_typed_customer(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"""
        tenant_id: {TENANT.upper()}
        name: Contoso
        domain: contoso.onmicrosoft.com
        relationship: none
        subscriptions:
          - id: {SUB_A}
            status: cancelled
        offboarding:
          nce_outside_window: suspend
        """,
    )
    result = load_desired(desired_dir)
    assert result.desired is not None
    customer = result.desired.customers[TENANT]  # tenant ids are normalised to lower case
    assert customer.relationship is Relationship.NONE
    assert customer.nce_outside_window is NceOutsideWindow.SUSPEND
    assert customer.subscriptions[0].status is DesiredStatus.CANCELLED
    assert customer.subscriptions[0].mark.line == 6
    assert customer.path.endswith("c.yaml")


def test_partner_defaults_with_only_the_partner_type(desired_dir: Path) -> None:
    result = load_desired(desired_dir)
    assert result.desired is not None
    assert result.desired.partner.policy.max_removals_per_run == 10
    assert result.desired.customers == {}


def test_a_desired_state_without_partner_file_says_what_to_write(desired_dir: Path) -> None:
    # Without it pcr would not know an indirect reseller, who may remove nothing.
    (desired_dir / "partner.yaml").unlink()
    name, line, message = only_problem(desired_dir)
    assert (name, line) == ("partner.yaml", 1)
    assert message.startswith("missing: pcr needs partner.yaml to know who the partner is")
    assert "'partner:' and '  type: direct' (or indirect_provider, or indirect_reseller)" in message
    assert load_desired(desired_dir).desired is None


def test_a_partner_file_without_the_partner_type_is_refused(
    desired_dir: Path, write: WriteFile
) -> None:
    write("partner.yaml", "policy:\n  max_removals_per_run: 3\n")
    name, line, message = only_problem(desired_dir)
    assert name == "partner.yaml" and "partner" in message and "required" in message
    write("partner.yaml", "partner: {}\n")
    name, line, message = only_problem(desired_dir)
    assert name == "partner.yaml" and "type" in message and "required" in message


def test_yml_customer_files_are_read_like_yaml(desired_dir: Path, write: WriteFile) -> None:
    write("customers/a.yml", f"tenant_id: {TENANT}\nrelationship: reseller\n")
    result = load_desired(desired_dir)
    assert result.problems == [] and result.desired is not None
    assert list(result.desired.customers) == [TENANT]
    assert result.desired.customers[TENANT].path.endswith("a.yml")


def test_one_customer_name_in_yaml_and_yml_is_an_error(desired_dir: Path, write: WriteFile) -> None:
    write("customers/contoso.yaml", f"tenant_id: {TENANT}\nrelationship: reseller\n")
    write("customers/contoso.yml", f"tenant_id: {TENANT}\nrelationship: reseller\n")
    found = problems(desired_dir)
    twice = [f for f in found if "are both here" in f[2]]
    assert twice == [
        (
            "contoso.yml",
            1,
            "contoso.yaml and contoso.yml are both here: keep one file per customer "
            "(.yaml and .yml are read alike)",
        )
    ]


def test_yaml_syntax_error(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", "tenant_id: x\nrelationship: none: now\n")
    name, line, message = only_problem(desired_dir)
    assert (name, line) == ("c.yaml", 2)
    assert message.startswith("YAML syntax")


def test_duplicate_key(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: reseller\nrelationship: none\n")
    assert only_problem(desired_dir) == (
        "c.yaml",
        3,
        "duplicate key 'relationship' (first defined at line 2): keep one of them",
    )


def test_unknown_key_names_allowed_keys(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: reseller\ncolour: blue\n")
    name, line, message = only_problem(desired_dir)
    assert (name, line) == ("c.yaml", 3)
    assert "unknown key 'colour'" in message
    assert "allowed keys: domain, name, offboarding" in message


def test_unknown_key_in_subscription(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"""
        tenant_id: {TENANT}
        relationship: reseller
        subscriptions:
          - id: {SUB_A}
            seats: 4
        """,
    )
    name, line, message = only_problem(desired_dir)
    assert line == 5
    assert "unknown key 'seats' in subscriptions[0]" in message


def test_closed_enum(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: maybe\n")
    assert only_problem(desired_dir) == (
        "c.yaml",
        2,
        "relationship: 'maybe' is not allowed; use one of: reseller, none",
    )


def test_subscription_status_enum(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n"
        f"  - id: {SUB_A}\n    status: paused\n",
    )
    name, line, message = only_problem(desired_dir)
    assert line == 5
    assert "subscriptions[0].status: 'paused' is not allowed" in message
    assert "active, suspended, cancelled" in message


@pytest.mark.parametrize("bad", ["not-a-guid", "3f2b7a4e1c0d4e8f9a615b7c2d9e0f13", "12345"])
def test_tenant_id_must_be_guid(desired_dir: Path, write: WriteFile, bad: str) -> None:
    write("customers/c.yaml", f"tenant_id: '{bad}'\nrelationship: reseller\n")
    name, line, message = only_problem(desired_dir)
    assert line == 1
    assert f"tenant_id: '{bad}' is not a valid GUID" in message


def test_subscription_id_must_be_guid(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n"
        "  - id: sub-1\n    status: suspended\n",
    )
    name, line, message = only_problem(desired_dir)
    assert line == 4
    assert "subscriptions[0].id: 'sub-1' is not a valid GUID" in message


def test_wrong_type_says_what_was_found(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: reseller\nprotected: maybe\n")
    assert only_problem(desired_dir) == (
        "c.yaml",
        3,
        "protected: expected true or false, got text 'maybe'",
    )


def test_missing_required_key(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", "relationship: reseller\n")
    assert only_problem(desired_dir) == (
        "c.yaml",
        1,
        "missing required key 'tenant_id' at the top level",
    )


def test_every_problem_in_a_file_is_reported(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", "tenant_id: nope\nrelationship: maybe\nextra: 1\n")
    assert [line for _, line, _ in problems(desired_dir)] == [1, 2, 3]


def test_duplicate_tenant_points_at_both_tenant_ids(desired_dir: Path, write: WriteFile) -> None:
    a = write("customers/a.yaml", f"name: A\ntenant_id: {TENANT}\nrelationship: reseller\n")
    b = write("customers/b.yaml", f"relationship: none\n{DOMAIN}tenant_id:  {TENANT.upper()}\n")
    found = load_desired(desired_dir).problems
    assert [str(p) for p in found] == [
        f"{a}:2:12: tenant_id {TENANT} is declared twice, also at {b}:3:13: "
        "keep one file per customer",
        f"{b}:3:13: tenant_id {TENANT} is declared twice, also at {a}:2:12: "
        "keep one file per customer",
    ]


def test_duplicate_subscription_across_files(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/a.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n"
        f"  - id: {SUB_A}\n    status: suspended\n",
    )
    write(
        "customers/b.yaml",
        f"tenant_id: {SUB_B}\nrelationship: reseller\nsubscriptions:\n"
        f"  - id: {SUB_A}\n    auto_renew: false\n",
    )
    name, line, message = only_problem(desired_dir)
    assert (name, line) == ("b.yaml", 4)
    assert f"subscription {SUB_A} is declared twice (first at" in message
    assert "a.yaml:4:5" in message


def test_duplicate_subscription_in_one_file(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/a.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n"
        f"  - id: {SUB_A}\n    status: suspended\n  - id: {SUB_A}\n    status: active\n",
    )
    name, line, message = only_problem(desired_dir)
    assert line == 6
    assert "declared twice" in message


def test_active_override_contradicts_offboarding(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: none\nsubscriptions:\n"
        f"  - id: {SUB_A}\n    status: active\n{DOMAIN}",
    )
    name, line, message = only_problem(desired_dir)
    assert line == 4
    assert "'status: active' but the customer is offboarded" in message


def test_auto_renew_contradicts_offboarding(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: none\nsubscriptions:\n"
        f"  - id: {SUB_A}\n    auto_renew: true\n{DOMAIN}",
    )
    name, line, message = only_problem(desired_dir)
    assert line == 4
    assert "'auto_renew: true' but the customer is offboarded" in message


def test_cancelled_and_renewing_contradict(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n"
        f"  - id: {SUB_A}\n    status: cancelled\n    auto_renew: true\n",
    )
    assert "cannot be cancelled and renew" in only_problem(desired_dir)[2]


def test_override_that_declares_nothing(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml",
        f"tenant_id: {TENANT}\nrelationship: reseller\nsubscriptions:\n  - id: {SUB_A}\n",
    )
    name, line, message = only_problem(desired_dir)
    assert line == 4
    assert "declares nothing" in message


def test_protected_offboarding_says_which_to_change(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nprotected: true\nrelationship: none\n{DOMAIN}")
    name, line, message = only_problem(desired_dir)
    assert line == 3
    assert "protected customer cannot be offboarded" in message
    assert "'protected: false'" in message and "'relationship: reseller'" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file: expected a mapping of keys"),
        ("# nothing here\n", "empty file: expected a mapping of keys"),
        ("- a\n- b\n", "expected a mapping of keys, got a list"),
        ("just text\n", "expected a mapping of keys, got a str value"),
    ],
)
def test_empty_or_non_mapping_file(
    desired_dir: Path, write: WriteFile, text: str, message: str
) -> None:
    write("customers/c.yaml", text)
    assert only_problem(desired_dir) == ("c.yaml", 1, message)


def test_partner_file_schema(desired_dir: Path, write: WriteFile) -> None:
    write(
        "partner.yaml",
        "partner:\n  type: distributor\npolicy:\n  max_removals_per_run: -1\n",
    )
    found = problems(desired_dir)
    assert [(n, line) for n, line, _ in found] == [("partner.yaml", 2), ("partner.yaml", 4)]
    assert "direct, indirect_provider, indirect_reseller" in found[0][2]
    assert "too small" in found[1][2]


def test_partner_file_read(desired_dir: Path, write: WriteFile) -> None:
    write(
        "partner.yaml",
        "partner:\n  type: indirect_reseller\npolicy:\n  max_removals_per_run: 3\n"
        "  unmanaged_customers: ignore\n",
    )
    result = load_desired(desired_dir)
    assert result.desired is not None
    assert result.desired.partner.type is PartnerType.INDIRECT_RESELLER
    assert result.desired.partner.policy.max_removals_per_run == 3
    assert result.desired.partner.policy.unmanaged_customers == "ignore"


def test_stray_yaml_at_top_level(desired_dir: Path, write: WriteFile) -> None:
    write("contoso.yaml", f"tenant_id: {TENANT}\nrelationship: reseller\n")
    name, line, message = only_problem(desired_dir)
    assert name == "contoso.yaml"
    assert "customer files go under customers/" in message


def test_problems_sorted_by_path_then_line(desired_dir: Path, write: WriteFile) -> None:
    write("customers/b.yaml", "tenant_id: x\nrelationship: y\n")
    write("customers/a.yaml", "relationship: y\ntenant_id: x\n")
    found = [(name, line) for name, line, _ in problems(desired_dir)]
    assert found == sorted(found)
    assert found[0][0] == "a.yaml" and found[-1][0] == "b.yaml"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DesiredStateError, match="no such directory"):
        load_desired(tmp_path / "absent")


def test_file_instead_of_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(DesiredStateError, match="not a directory"):
        load_desired(tmp_path / "f")


yaml_fragments = st.sampled_from(
    [
        "tenant_id: ",
        TENANT,
        "relationship: ",
        "none",
        "reseller",
        "subscriptions:",
        "\n  - id: ",
        SUB_A,
        "\n    status: ",
        "active",
        "protected: true",
        "\n",
        ": ",
        "- ",
        "[",
        "{",
        "!!python/name:os.system",
        "&a ",
        "*a",
        "<<: ",
        "'",
        '"',
        "\t",
        "---\n",
        "\x00",
        "…",
        "!!int ",
        "!!bool ",
        "!foo ",
        "|\n  ",
        "&a [*a]",
        "2024-02-30",
        "9" * 5000,
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.lists(yaml_fragments, max_size=25).map("".join))
def test_any_text_gives_problems_never_an_exception(desired_dir: Path, text: str) -> None:
    (desired_dir / "customers" / "c.yaml").write_text(text, encoding="utf-8")
    result = load_desired(desired_dir)
    assert (result.desired is None) == bool(result.problems)
    for problem in result.problems:
        assert problem.mark.line >= 1 and problem.mark.col >= 1
        assert problem.message


def test_offboarding_without_domain_says_what_to_add(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: none\n")
    name, line, message = only_problem(desired_dir)
    assert (name, line) == ("c.yaml", 2)
    assert "offboarding needs 'domain:' as a second key" in message
    assert "policy.require_domain_for_removal: false" in message


def test_the_policy_can_let_an_offboarding_go_without_domain(
    desired_dir: Path, write: WriteFile
) -> None:
    write(
        "partner.yaml", "partner:\n  type: direct\npolicy:\n  require_domain_for_removal: false\n"
    )
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: none\n")
    result = load_desired(desired_dir)
    assert result.problems == []
    assert result.desired is not None
    assert result.desired.partner.policy.require_domain_for_removal is False


def test_no_customer_files_is_a_warning_not_a_problem(desired_dir: Path, write: WriteFile) -> None:
    write("customers/.gitkeep", "")
    result = load_desired(desired_dir)
    assert result.problems == []
    assert result.desired is not None and result.desired.customers == {}
    assert result.warnings == (
        f"no customer files in {desired_dir / 'customers'}: this desired state declares no "
        "customers, so pcr manages none; add one customers/<name>.yaml per customer (or check "
        "that this is the right folder)",
    )


def test_no_customers_folder_at_all_is_the_same_warning(tmp_path: Path) -> None:
    (tmp_path / "partner.yaml").write_text(DIRECT_PARTNER)
    result = load_desired(tmp_path)
    assert result.desired is not None
    assert [w.split(":")[0] for w in result.warnings] == [
        f"no customer files in {tmp_path / 'customers'}"
    ]


def test_customer_files_mean_no_warning(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: reseller\n")
    assert load_desired(desired_dir).warnings == ()
