"""Scoped runs: `--only` and `--changed-since` pick customers (added, changed, renamed and
deleted files included), a scoped plan reads only them, and a saved scoped plan applies only
within its scope. Against real git repositories and the installed `pcr`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.desired.load import load_desired
from reconciler.desired.load import load_scoped
from reconciler.desired.scope import DesiredDeclarations
from reconciler.desired.scope import ScopeError
from reconciler.desired.scope import changed_since
from reconciler.desired.scope import only
from tests.apply.support import FABRIKAM
from tests.apply.support import NORTHWIND
from tests.apply.support import NOW
from tests.apply.support import make_estate
from tests.apply.support import pcr_env
from tests.apply.support import run_pcr
from tests.conftest import EXAMPLE

CONTOSO = "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"
LITWARE = "c1260b6b-9d9b-424d-8a7b-e52c0648b082"
GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@pcr.invalid"}
GIT |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@pcr.invalid"}


def git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo.parent)} | GIT
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example estate committed in a git repository: `main` is the base of a change."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root / "desired-state")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def customers(repo: Path) -> Path:
    return repo / "desired-state" / "customers"


def declared(desired_dir: Path) -> DesiredDeclarations:
    result = load_desired(desired_dir)
    assert result.desired is not None, result.problems
    return DesiredDeclarations(result.desired, desired_dir / "customers")


def scope_of(repo: Path, ref: str = "main") -> tuple[set[str], tuple[str, ...]] | None:
    found = changed_since(declared(repo / "desired-state"), repo / "desired-state", ref)
    return None if found is None else (set(found.customers), found.left)


def test_an_unchanged_tree_scopes_no_customer(repo: Path) -> None:
    assert scope_of(repo) == (set(), ())


def test_changed_added_and_renamed_files_are_in_scope(repo: Path) -> None:
    fabrikam = customers(repo) / "fabrikam.yaml"
    fabrikam.write_text(fabrikam.read_text().replace("auto_renew: false", "auto_renew: true"))
    (customers(repo) / "contoso.yaml").rename(customers(repo) / "contoso-ltd.yaml")
    git(repo, "add", "-A")  # a rename git can see, committed or not
    scoped = scope_of(repo)
    assert scoped == ({FABRIKAM, CONTOSO}, ())


def test_a_deleted_file_is_reported_never_in_scope(repo: Path) -> None:
    (customers(repo) / "litware.yaml").unlink()
    scoped = scope_of(repo)
    assert scoped is not None
    covered, left = scoped
    assert covered == set()
    (line,) = left
    assert "litware.yaml was deleted since main" in line and LITWARE in line
    assert "never removed" in line


def test_a_file_moved_to_another_name_with_edits_leaves_nobody_behind(repo: Path) -> None:
    old = customers(repo) / "northwind.yaml"
    text = old.read_text()
    old.unlink()
    (customers(repo) / "northwind-traders.yaml").write_text(text + "protected: false\n")
    scoped = scope_of(repo)
    assert scoped == ({NORTHWIND}, ())


def test_a_changed_partner_yaml_scopes_everyone(repo: Path) -> None:
    partner = repo / "desired-state" / "partner.yaml"
    partner.write_text(partner.read_text() + "\n# a policy change\n")
    assert scope_of(repo) is None


def test_an_unknown_ref_or_no_repository_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    desired = declared(repo / "desired-state")
    with pytest.raises(ScopeError, match=r"no such commit here .*fetch-depth: 0"):
        changed_since(desired, repo / "desired-state", "no-such-branch")
    with pytest.raises(ScopeError, match="cannot start with '-'"):
        changed_since(desired, repo / "desired-state", "--output=/tmp/x")
    elsewhere = tmp_path / "not-a-repo"
    shutil.copytree(EXAMPLE, elsewhere)
    with pytest.raises(ScopeError, match="git rev-parse failed"):
        changed_since(desired, elsewhere, "main")


def test_only_takes_files_names_and_tenant_ids_and_refuses_strangers() -> None:
    desired = declared(EXAMPLE)
    picked = only(desired, ("fabrikam.yaml", "northwind", CONTOSO.upper()))
    assert picked.customers == (FABRIKAM, NORTHWIND, CONTOSO)
    with pytest.raises(ScopeError, match="neither a customer file"):
        only(desired, ("nobody.yaml",))
    with pytest.raises(ScopeError, match="is not declared in any file"):
        only(desired, ("00000000-0000-4000-8000-000000000000",))


# --- the installed pcr --------------------------------------------------------------------


def plan_json(pcr: str, root: Path, *args: str) -> dict[str, object]:
    done = run_pcr(
        pcr,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        *("--format", "json", *args),
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_scoped_plan_reads_only_its_customers_and_says_so(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    plan = plan_json(pcr_executable, estate.root, "--only", "fabrikam.yaml")
    assert plan["scope"] == [FABRIKAM]
    assert {a["customer_id"] for a in plan["actions"]} == {FABRIKAM}  # type: ignore[union-attr]
    summary = plan["summary"]
    assert isinstance(summary, dict)
    assert summary["api_calls"] == 2  # the customer by id, its subscriptions: no paging
    assert plan["unmanaged"] == []  # nobody else was read
    text = run_pcr(
        pcr_executable,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        *("--only", "fabrikam.yaml"),
        cwd=estate.root,
    )
    assert "Scoped plan: 1 customer: Fabrikam Inc." in text.stdout


def test_changed_since_plans_the_pull_requests_files(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    git(estate.root, "init", "-q", "-b", "main")
    git(estate.root, "add", "-A")
    git(estate.root, "commit", "-q", "-m", "base")
    northwind = estate.desired / "customers" / "northwind.yaml"
    northwind.write_text(
        northwind.read_text().replace("relationship: none", "relationship: reseller")
    )
    (estate.desired / "customers" / "litware.yaml").unlink()
    plan = plan_json(pcr_executable, estate.root, "--changed-since", "main")
    assert plan["scope"] == [NORTHWIND]
    assert plan["actions"] == []  # Northwind stays now: nothing to do for it
    warnings = plan["warnings"]
    assert isinstance(warnings, list)
    assert any("litware.yaml was deleted since main" in w for w in warnings)


def test_a_saved_scoped_plan_applies_only_within_its_scope(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    saved = run_pcr(
        pcr_executable,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        *("--only", "fabrikam.yaml", "--out", "plan.json"),
        cwd=estate.root,
    )
    assert saved.returncode == 0, saved.stderr
    applied = run_pcr(
        pcr_executable,
        *("apply", "plan.json", "--fake", "live.json", "--now", NOW),
        cwd=estate.root,
    )
    assert applied.returncode == 0, applied.stderr
    assert {m["customer_id"] for m in estate.mutations()} == {FABRIKAM}

    again = run_pcr(
        pcr_executable,
        *("apply", "plan.json", "--fake", "live.json", "--now", NOW, "--only", "contoso"),
        cwd=estate.root,
    )
    assert again.returncode == 1 and "applies exactly its own scope" in again.stderr

    # A hand-edited scoped plan whose actions reach outside its scope is refused whole.
    data = json.loads(estate.plan.read_text())
    data["scope"] = [NORTHWIND]
    estate.plan.write_text(json.dumps(data))
    refused = run_pcr(
        pcr_executable,
        *("apply", "plan.json", "--fake", "live.json", "--now", NOW),
        cwd=estate.root,
    )
    assert refused.returncode == 1
    assert f"actions for customers outside its scope ({FABRIKAM})" in refused.stderr


# --- a scoped load parses only its scope, and still refuses a tenant declared twice ------


def only_loaded(desired_dir: Path, *items: str) -> tuple[set[str], list[str]]:
    """The customers a scoped load of `--only ITEMS` yields, and its problems."""
    result, chosen = load_scoped(desired_dir, lambda declared: only(declared, items))
    assert chosen is not None
    loaded = set(result.desired.customers) if result.desired else set()
    return loaded, [str(problem) for problem in result.problems]


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    desired = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, desired)
    return desired


def test_a_scoped_load_parses_only_its_customers(estate: Path) -> None:
    # Broken YAML in a file outside the scope: a scoped run never reads it as YAML...
    (estate / "customers" / "broken.yaml").write_text("tenant_id: [unclosed\n")
    assert only_loaded(estate, "fabrikam.yaml") == ({FABRIKAM}, [])
    # ... `pcr validate`'s load does, and refuses it.
    assert load_desired(estate).desired is None


def test_a_tenant_id_finds_its_file_among_the_rest(estate: Path) -> None:
    assert only_loaded(estate, CONTOSO.upper()) == ({CONTOSO}, [])


def test_a_tenant_declared_in_a_file_outside_the_scope_is_refused(estate: Path) -> None:
    twin = estate / "customers" / "zz-fabrikam-again.yaml"
    twin.write_text(f"tenant_id: {FABRIKAM.upper()}\nrelationship: reseller\n")
    loaded, problems = only_loaded(estate, "fabrikam.yaml")
    assert loaded == set()
    assert any(
        f"tenant_id {FABRIKAM} is declared twice" in p and "zz-fabrikam-again.yaml:1:12" in p
        for p in problems
    ), problems


def test_a_subscription_declared_outside_the_scope_is_refused(estate: Path) -> None:
    legacy = "f3ea7643-adc7-4f68-b701-7b00fd007869"  # one of Fabrikam's overrides
    (estate / "customers" / "other.yaml").write_text(
        f"tenant_id: 00000000-0000-4000-8000-00000000000a\nrelationship: reseller\n"
        f"subscriptions:\n  - id: {legacy}\n    status: active\n"
    )
    loaded, problems = only_loaded(estate, "fabrikam.yaml")
    assert loaded == set()
    assert any(f"subscription {legacy} is declared twice" in p for p in problems), problems


def test_a_tenant_spelled_with_escapes_is_still_found(estate: Path) -> None:
    """YAML can spell a GUID without writing it (escapes in double quotes): a file with a
    backslash is always parsed."""
    spelled = "".join(f"\\x{ord(c):02x}" for c in FABRIKAM[:8]) + FABRIKAM[8:]
    (estate / "customers" / "escaped.yaml").write_text(
        f'tenant_id: "{spelled}"\nrelationship: reseller\n'
    )
    loaded, problems = only_loaded(estate, "fabrikam.yaml")
    assert loaded == set()
    assert any(f"tenant_id {FABRIKAM} is declared twice" in p for p in problems), problems


def test_a_file_that_only_mentions_a_tenant_is_not_a_second_declaration(estate: Path) -> None:
    notes = estate / "customers" / "litware.yaml"
    notes.write_text(notes.read_text() + f"# bought through Fabrikam ({FABRIKAM})\n")
    assert only_loaded(estate, "fabrikam.yaml") == ({FABRIKAM}, [])


def test_a_scoped_pcr_plan_refuses_a_duplicate_in_an_untouched_file(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    (estate.desired / "customers" / "copy.yaml").write_text(
        f"tenant_id: {FABRIKAM}\nrelationship: none\ndomain: fabrikam.onmicrosoft.com\n"
    )
    done = run_pcr(
        pcr_executable,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        *("--only", "fabrikam.yaml"),
        cwd=estate.root,
    )
    assert done.returncode == 1
    assert f"tenant_id {FABRIKAM} is declared twice" in done.stderr
    assert done.stdout == ""  # nothing planned, nothing read
    assert estate.mutations() == []


def test_changed_since_without_git_says_so_in_one_line(tmp_path: Path, pcr_executable: str) -> None:
    """(A git that hangs is given a minute here, as a large repository may need: `pcr init`'s
    test shows the same killing of a hung git with its own 5 seconds.)"""
    estate = make_estate(tmp_path)
    git(estate.root, "init", "-q", "-b", "main")
    git(estate.root, "add", "-A")
    git(estate.root, "commit", "-q", "-m", "base")
    plan = ("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW)
    done = subprocess.run(
        [pcr_executable, *plan, "--changed-since", "main"],
        cwd=estate.root,
        env=pcr_env() | {"PATH": "/nowhere"},
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "git" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
