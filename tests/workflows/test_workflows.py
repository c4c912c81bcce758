"""The workflows `pcr init` writes, and this repository's own, run step by step.

A scratch git repository laid out as a partner's (made by the installed `pcr init`,
with the example estate's customers in it) runs each workflow's job from its first
step to its last: checkout, the pcr Action's install step (a fresh virtual
environment, the locked dependencies hash-checked, pcr built from this
repository's source), the pcr command, the job summary, the pull-request comment
and the artifact, against the fake Partner Center on loopback. `tests/workflows/
runner.py` is the runner; pip installs only from the locked wheelhouse.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.partnercenter.fake.server import FakeServer
from reconciler.partnercenter.fake.state import FakeState
from reconciler.scaffold import REPOSITORY, WORKFLOWS
from tests.artifact import REPO, Installed, snapshot
from tests.conftest import EXAMPLE
from tests.workflows.runner import PINNED, JobRun, Runner, every_step, load_workflow

MARKER = "<!-- pcr-plan -->"
SECRET = "cs-WORKFLOW-SECRET-5d1f-never-in-install"
SECRETS = {
    "PCR_TENANT_ID": "11111111-2222-4333-8444-555555555555",
    "PCR_CLIENT_ID": "66666666-7777-4888-9999-000000000000",
    "PCR_CLIENT_SECRET": SECRET,
    "PCR_REFRESH_TOKEN": "rt-WORKFLOW-REFRESH-9a7c",
}
# The fake needs no pacing: the runner machine lets pcr call it as fast as it answers.
NO_PACING = {"PCR_RATE_LIMIT": "60000"}
GIT = {"GIT_AUTHOR_NAME": "pcr tests", "GIT_AUTHOR_EMAIL": "tests@pcr.invalid"}


def git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo.parent)} | GIT
    env |= {
        "GIT_COMMITTER_NAME": GIT["GIT_AUTHOR_NAME"],
        "GIT_COMMITTER_EMAIL": "tests@pcr.invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


# --- the scratch repositories -------------------------------------------------------------


@pytest.fixture(scope="session")
def action_checkout(installed: Installed) -> Path:
    """This repository at the tag a partner's workflow names: the source the Action installs."""
    return installed.source


def init_repository(pcr: Path, target: Path) -> Path:
    done = subprocess.run(
        [str(pcr), "init", str(target)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture
def partner_repo(tmp_path: Path, installed: Installed) -> Path:
    """`pcr init`, the example estate's customers added, committed: a partner's repository."""
    repo = init_repository(installed.pcr, tmp_path / "estate")
    shutil.copytree(EXAMPLE / "customers", repo / "desired-state" / "customers", dirs_exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Our customers")
    return repo


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeServer]:
    state = FakeState.load(EXAMPLE / "fake-state.json")
    state.set_now(datetime.now(UTC))  # the workflows plan at the real time
    path = tmp_path / "fake-state.json"
    state.save(path)
    with FakeServer(path) as server:
        yield server


@dataclass
class Estate:
    repo: Path
    runner: Runner
    fake: FakeServer

    def run(self, name: str) -> JobRun:
        return self.runner.run_workflow(load_workflow(self.repo / ".github/workflows" / name))

    def customer(self, name: str) -> Path:
        return self.repo / "desired-state" / "customers" / name


def make_runner(workspace: Path, action: Path, fake: FakeServer, **event: Any) -> Runner:
    home = workspace.parent / f"runner-{workspace.name}"
    return Runner(
        workspace=workspace,
        home=home,
        action_path=action,
        action_repository=REPOSITORY,
        secrets=dict(SECRETS),
        # The runner's own environment: where Partner Center is (the fake) and its token.
        env={"PCR_ENDPOINT": fake.url, "PCR_TOKEN": "dummy"} | NO_PACING,
        **event,
    )


def pull_request(number: int = 7, sha: str = "abcdef1234567") -> dict[str, Any]:
    return {
        "event_name": "pull_request",
        "event": {
            "pull_request": {
                "number": number,
                "head": {"sha": sha, "repo": {"full_name": "contoso-partner/estate"}},
            }
        },
    }


@pytest.fixture
def estate(partner_repo: Path, action_checkout: Path, fake: FakeServer) -> Estate:
    return Estate(partner_repo, make_runner(partner_repo, action_checkout, fake), fake)


@pytest.fixture
def pr_estate(partner_repo: Path, action_checkout: Path, fake: FakeServer) -> Estate:
    return Estate(
        partner_repo, make_runner(partner_repo, action_checkout, fake, **pull_request()), fake
    )


# --- actionlint and pinning ---------------------------------------------------------------


@pytest.fixture(scope="session")
def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    found = found or shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: install the test extras (`make test`)")
    return found


def lint(actionlint: str, repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint, "-no-color"], cwd=repo, capture_output=True, text=True, check=False
    )


def test_the_initialised_workflows_lint_clean(actionlint: str, partner_repo: Path) -> None:
    assert sorted(p.name for p in (partner_repo / ".github/workflows").iterdir()) == sorted(
        WORKFLOWS
    )
    result = lint(actionlint, partner_repo)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_this_repositorys_workflows_lint_clean(actionlint: str) -> None:
    # actionlint also checks each `uses: ./` step's inputs against action.yml.
    result = lint(actionlint, REPO)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_actionlint_does_catch_a_wrong_action_input(actionlint: str, tmp_path: Path) -> None:
    repo = snapshot(tmp_path / "repo")
    workflow = repo / ".github/workflows/action.yml"
    workflow.write_text(workflow.read_text().replace("command: drift", "comand: drift"))
    git(repo, "init", "-q")
    result = lint(actionlint, repo)
    assert result.returncode == 1
    assert 'input "comand" is not defined in action "pcr"' in result.stdout


def uses_everywhere(partner_repo: Path) -> Iterator[tuple[str, str]]:
    files = [*sorted((partner_repo / ".github/workflows").glob("*.yml"))]
    files += sorted((REPO / ".github/workflows").glob("*.yml"))
    for path in files:
        for step in every_step(load_workflow(path)):
            if "uses" in step:
                yield path.name, step["uses"]
    action = yaml.safe_load((REPO / "action.yml").read_text())
    for step in action["runs"]["steps"]:
        if "uses" in step:
            yield "action.yml", step["uses"]


def test_every_marketplace_action_is_pinned_to_a_commit(partner_repo: Path) -> None:
    ours = f"{REPOSITORY}@v"
    found = list(uses_everywhere(partner_repo))
    assert any(uses.startswith(ours) for _, uses in found)
    unpinned = [
        (where, uses)
        for where, uses in found
        if not (uses == "./" or uses.startswith(ours) or PINNED.match(uses))
    ]
    assert unpinned == []


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    lock = (REPO / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", lock, re.M))
    project = (REPO / "pyproject.toml").read_text()
    core = re.search(r"^dependencies = \[(.*?)\]", project, re.S | re.M)
    assert core is not None
    for requirement in re.findall(r'"([A-Za-z0-9-]+)', core.group(1)):
        assert requirement.lower() in pins, requirement
    assert "setuptools" in pins  # the Action builds pcr without build isolation
    for block in re.split(r"\n(?=[a-z0-9-]+==)", lock.split("\n", 2)[2]):
        assert "--hash=sha256:" in block, block


# --- running them ------------------------------------------------------------------------


def install_step(job: JobRun) -> Any:
    return job.step("Install pcr")


def test_plan_workflow_comments_the_plan_and_updates_it_in_place(pr_estate: Estate) -> None:
    job = pr_estate.run("pcr-plan.yml")
    assert job.succeeded, job.log
    assert install_step(job).outcome == "success"
    plan = job.step("Plan")
    assert plan.outputs["exitcode"] == "2"  # changes: what a pull request is for
    summary = pr_estate.runner.summary.read_text()
    assert summary.startswith("### pcr plan\n")
    (comment,) = pr_estate.runner.github_api.comments
    assert comment["body"].startswith(f"{MARKER}\n### pcr plan\n")
    assert (
        "Merging this pull request applies the plan above. Planned at abcdef1" in (comment["body"])
    )
    assert pr_estate.fake.state.mutations == []  # planning never writes

    # The next push: the same comment is updated, no second one appears.
    pr_estate.runner.event = pull_request(sha="1234567fedcba")["event"]
    again = pr_estate.run("pcr-plan.yml")
    assert again.succeeded, again.log
    (updated,) = pr_estate.runner.github_api.comments
    assert updated["id"] == comment["id"]
    assert "Planned at 1234567" in updated["body"]
    assert [call[0] for call in pr_estate.runner.github_api.calls] == [
        "list",
        "create",
        "list",
        "update",
    ]


def test_a_failed_validation_replaces_the_plan_comment(pr_estate: Estate) -> None:
    assert pr_estate.run("pcr-plan.yml").succeeded
    pr_estate.customer("contoso.yaml").write_text("tenant_id: nope\nrelationship: reseller\n")
    job = pr_estate.run("pcr-plan.yml")
    assert not job.succeeded
    run = job.step("Run pcr plan")
    assert "::error file=desired-state/customers/contoso.yaml,line=1" in run.stdout
    (comment,) = pr_estate.runner.github_api.comments
    assert "### pcr validate" in comment["body"]
    assert "did not plan" in comment["body"]
    assert "Merging this pull request" not in comment["body"]
    assert "cannot be applied as it is" in comment["body"]


def test_a_refused_plan_fails_the_check_and_says_so(pr_estate: Estate) -> None:
    litware = pr_estate.customer("litware.yaml")
    # A protected customer with an override that cancels: the guardrail refuses the plan.
    litware.write_text(
        litware.read_text()
        + "subscriptions:\n  - id: e1f3b5c7-0d2f-4be2-9d04-8f9a0b1c2d34\n    status: cancelled\n"
    )
    job = pr_estate.run("pcr-plan.yml")
    assert not job.succeeded
    assert job.step("Run pcr plan").outputs["exitcode"] == "1"
    (comment,) = pr_estate.runner.github_api.comments
    assert "customer is protected" in comment["body"]
    assert "cannot be applied as it is" in comment["body"]


def test_a_pull_request_from_a_fork_is_not_planned(
    partner_repo: Path, action_checkout: Path, fake: FakeServer
) -> None:
    event = pull_request()
    event["event"]["pull_request"]["head"]["repo"]["full_name"] = "someone/fork"
    runner = make_runner(partner_repo, action_checkout, fake, **event)
    job = runner.run_workflow(load_workflow(partner_repo / ".github/workflows/pcr-plan.yml"))
    assert [s.outcome for s in job.steps] == ["skipped"]


def assert_secrets_reach_only_pcr(job: JobRun) -> None:
    """The install step (pip and the build tools it runs) never sees a secret."""
    install = install_step(job)
    assert SECRET not in install.env.values()
    assert set(SECRETS).isdisjoint(install.env)
    runs = [s for s in job.all_steps() if s.name.startswith("Run pcr")]
    assert runs and all(s.env.get("INPUT_CLIENT_SECRET") == SECRET for s in runs)
    for step in job.all_steps():
        assert SECRET not in step.stdout + step.stderr, step.name


def test_apply_workflow_plans_applies_and_keeps_its_records(estate: Estate) -> None:
    job = estate.run("pcr-apply.yml")
    assert job.succeeded, job.log
    assert_secrets_reach_only_pcr(job)
    assert job.step("Plan").outputs["exitcode"] == "2"
    assert job.step("Apply").outputs["exitcode"] == "0"
    assert estate.fake.state.mutations, "apply changed nothing in the fake"
    kept = estate.runner.github_api.artifacts["pcr-apply-1001-1"]
    names = sorted(p.name for p in kept.iterdir())
    assert "plan.json" in names and "audit.jsonl" in names
    assert any(name.startswith("journal-") for name in names), names


def test_drift_workflow_fails_on_drift(estate: Estate) -> None:
    job = estate.run("pcr-drift.yml")
    assert not job.succeeded
    assert job.step("Drift report").outputs["exitcode"] == "2"
    assert "::error title=pcr drift::Partner Center differs" in job.step("Fail on errors").stdout
    assert estate.runner.summary.read_text().startswith("### pcr drift\n")


def test_drift_workflow_passes_after_an_import(estate: Estate, installed: Installed) -> None:
    desired = estate.repo / "desired-state"
    shutil.rmtree(desired / "customers")
    imported = subprocess.run(
        [str(installed.pcr), "import", "--out", str(desired)],
        env=estate.runner.base_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    job = estate.run("pcr-drift.yml")
    assert job.succeeded, job.log
    assert "No drift." in estate.runner.summary.read_text()


def test_this_repositorys_action_workflow(
    tmp_path: Path, action_checkout: Path, fake: FakeServer
) -> None:
    """`.github/workflows/action.yml`: this repository checked out, the Action used as `./`,
    its own fake Partner Center served by the installed pcr."""
    workspace = snapshot(tmp_path / "pcr")
    runner = make_runner(workspace, workspace, fake)
    runner.env = dict(NO_PACING)  # the workflow serves its own fake and points pcr at it
    job = runner.run_workflow(load_workflow(workspace / ".github/workflows/action.yml"))
    assert job.succeeded, job.log
    outcomes = {s.name: s.outcome for s in job.steps}
    assert outcomes == dict.fromkeys(outcomes, "success")
    installs = [s.stdout for s in job.all_steps() if s.name == "Install pcr"]
    assert len(installs) == 4  # validate, plan, apply, drift
    assert all("already installed" in out for out in installs[1:]), installs
    assert json.loads((workspace / ".pcr" / "plan.json").read_text())["actions"]
