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
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import __version__
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from reconciler.scaffold.repository import REPOSITORY
from reconciler.scaffold.repository import WORKFLOWS
from tests.artifact import REPO
from tests.artifact import Installed
from tests.artifact import offline_env
from tests.artifact import snapshot
from tests.azurite import Azurite
from tests.conftest import EXAMPLE
from tests.shared import once_per_run
from tests.workflows.release import release_commit
from tests.workflows.release import released_pcr
from tests.workflows.runner import ACTION_VENV
from tests.workflows.runner import PINNED
from tests.workflows.runner import JobRun
from tests.workflows.runner import Review
from tests.workflows.runner import Runner
from tests.workflows.runner import WorkflowRun
from tests.workflows.runner import every_step
from tests.workflows.runner import load_workflow

# The plan comment's hidden marker: the workflow's name and the desired-state folder.
MARKER = "<!-- pcr-plan: pcr plan / desired-state -->"
CHECKOUT = "11bd71901bbe5b1630ceea73d27597364c9af683"  # actions/checkout v4.2.2
ENVIRONMENT = "partner-center"
# The write credentials: environment secrets of `partner-center`, for the apply job only.
SECRET = "cs-WORKFLOW-SECRET-5d1f-never-in-install"
SECRETS = {
    "PCR_TENANT_ID": "11111111-2222-4333-8444-555555555555",
    "PCR_CLIENT_ID": "66666666-7777-4888-9999-000000000000",
    "PCR_CLIENT_SECRET": SECRET,
    "PCR_REFRESH_TOKEN": "rt-WORKFLOW-REFRESH-9a7c",
    "PCR_STORAGE_CONNECTION_STRING": "AccountName=never-unless-azure-blob;AccountKey=c3RvcmFnZQ==",
}
# The read-only credentials: repository secrets, for planning and drift.
READ_SECRET = "cs-READ-SECRET-77aa-plans-only"
READ_SECRETS = {
    "PCR_READ_TENANT_ID": "11111111-2222-4333-8444-555555555555",
    "PCR_READ_CLIENT_ID": "77777777-8888-4999-8000-111111111111",
    "PCR_READ_CLIENT_SECRET": READ_SECRET,
    "PCR_READ_REFRESH_TOKEN": "rt-READ-REFRESH-3b2e",
}
WRITE_NAMES = frozenset(SECRETS)
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


def init_repository(pcr: Path, target: Path, *options: str) -> Path:
    done = subprocess.run(
        [str(pcr), "init", str(target), "--partner-type", "direct", *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """pcr as the release workflow builds it: it knows the commit it was built from."""
    return released_pcr(tmp_path_factory)


@pytest.fixture
def released_repo(tmp_path: Path, released: Installed) -> Path:
    """A partner's repository as a released pcr writes it, on a branch of its own name."""
    repo = init_repository(released.pcr, tmp_path / "estate", "--branch", "release/estate")
    git(repo, "init", "-q", "-b", "release/estate")
    return repo


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

    def run(self, name: str) -> WorkflowRun:
        return self.runner.run(load_workflow(self.repo / ".github/workflows" / name))

    def customer(self, name: str) -> Path:
        return self.repo / "desired-state" / "customers" / name


@pytest.fixture(scope="session")
def runner_image(tmp_path_factory: pytest.TempPathFactory, installed: Installed) -> Path:
    """The Action's environment, installed once for the run by the Action's own install step.

    Most tests start their jobs on a machine that has it (`Runner.image`), so the
    suite does not spend seven seconds a job reinstalling the same locked wheels;
    the tests that prove the install step (`test_apply_workflow_plans_then_…`, this
    repository's own workflow) install on every job.
    """

    def install(root: Path) -> Path:
        repo = init_repository(installed.pcr, root / "estate")
        runner = Runner(
            workspace=repo,
            home=root / "runner",
            action_path=installed.source,
            action_repository=REPOSITORY,
        )
        steps: list[dict[str, Any]] = [
            {"uses": f"actions/checkout@{CHECKOUT}", "with": {"persist-credentials": False}}
        ]
        steps.append({"uses": f"{REPOSITORY}@main", "with": {"command": "validate"}})
        job = runner.run({"jobs": {"install": {"runs-on": "ubuntu-latest", "steps": steps}}})
        assert job.succeeded, job.log
        return runner.temp / ACTION_VENV

    return once_per_run(
        tmp_path_factory,
        "runner-image",
        install,
        lambda image: {"image": str(image)},
        lambda fields: Path(fields["image"]),
    )


def make_runner(
    workspace: Path, action: Path, fake: FakeServer, image: Path | None = None, **event: Any
) -> Runner:
    home = workspace.parent / f"runner-{workspace.name}"
    return Runner(
        image=image,
        workspace=workspace,
        home=home,
        action_path=action,
        action_repository=REPOSITORY,
        secrets=dict(READ_SECRETS),
        environments={ENVIRONMENT: dict(SECRETS)},
        # The runner's own environment: where Partner Center is (the fake) and its token.
        env={"PCR_ENDPOINT": fake.url, "PCR_TOKEN": "dummy", "PCR_GRAPH_TOKEN": "dummy-graph"}
        | NO_PACING,
        **event,
    )


def pull_request(number: int = 7, sha: str = "abcdef1234567") -> dict[str, Any]:
    return {
        "event_name": "pull_request",
        "event": {
            "pull_request": {
                "number": number,
                "head": {"sha": sha, "repo": {"full_name": "contoso-partner/estate"}},
                "base": {"ref": "trunk"},
            }
        },
    }


@pytest.fixture
def estate(
    partner_repo: Path, action_checkout: Path, fake: FakeServer, runner_image: Path
) -> Estate:
    return Estate(
        partner_repo, make_runner(partner_repo, action_checkout, fake, runner_image), fake
    )


@pytest.fixture
def fresh_estate(partner_repo: Path, action_checkout: Path, fake: FakeServer) -> Estate:
    """Every job installs pcr through the Action, as on GitHub's hosted runners."""
    return Estate(partner_repo, make_runner(partner_repo, action_checkout, fake), fake)


@pytest.fixture
def pr_estate(
    partner_repo: Path, action_checkout: Path, fake: FakeServer, runner_image: Path
) -> Estate:
    runner = make_runner(partner_repo, action_checkout, fake, runner_image, **pull_request())
    return Estate(partner_repo, runner, fake)


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


def test_a_released_pcrs_workflows_lint_clean(actionlint: str, released_repo: Path) -> None:
    """Pinned by commit, on a branch that is not main."""
    result = lint(actionlint, released_repo)
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


# zizmor, offline: every audit that needs no network (the online ones ask GitHub's API).
# A finding at any severity it reports by default fails these tests: errors, warnings
# and the help-level ones too. Two things are said in the files themselves, as zizmor
# ignore comments: `uses: ./` instead of `$/` (GitHub Enterprise Server knows no `$/`;
# this repository's workflow uses the action at its root, as checked out). The auditor
# persona's `secrets-outside-env` (read-only credentials as repository secrets, for the
# pull-request plan and drift) is what README.md's "Setting up the secrets" explains.


@pytest.fixture(scope="module")
def zizmor() -> str:
    found = shutil.which("zizmor", path=str(Path(sys.executable).parent))
    found = found or shutil.which("zizmor")
    if found is None:
        pytest.fail("zizmor is not installed: install the test extras (`make test`)")
    return found


def audit(zizmor: str, *paths: Path, home: Path) -> list[dict[str, Any]]:
    """zizmor's findings on `paths` (what it reports by default; ignored ones left out)."""
    done = subprocess.run(
        [zizmor, "--offline", "--no-exit-codes", "--no-progress", "--format", "json"]
        + [str(path) for path in paths],
        env=offline_env(HOME=str(home), XDG_CACHE_HOME=str(home / "cache")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for path in paths:
        assert str(path) in done.stderr, f"zizmor did not audit {path}: {done.stderr}"
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def described(findings: list[dict[str, Any]]) -> list[str]:
    """One line a finding: its audit, its severity, and where."""
    lines = []
    for finding in findings:
        primary = [
            place for place in finding["locations"] if place["symbolic"]["kind"] == "Primary"
        ] or finding["locations"]
        place = primary[0]
        where = place["symbolic"]["key"].get("Local", {}).get("verbatim_path", "?")
        row = place["concrete"]["location"]["start_point"]["row"] + 1
        severity = finding["determinations"]["severity"]
        lines.append(
            f"{finding['ident']} ({severity}) {where}:{row}: {place['concrete']['feature']}"
        )
    return lines


def test_a_released_pcrs_workflows_pass_zizmor(
    zizmor: str, released_repo: Path, tmp_path: Path
) -> None:
    workflows = released_repo / ".github/workflows"
    assert described(audit(zizmor, *sorted(workflows.glob("*.yml")), home=tmp_path)) == []


def test_this_repositorys_workflows_and_action_pass_zizmor(zizmor: str, tmp_path: Path) -> None:
    files = [*sorted((REPO / ".github/workflows").glob("*.yml")), REPO / "action.yml"]
    assert described(audit(zizmor, *files, home=tmp_path)) == []


def test_pinned_by_tag_the_pcr_action_is_zizmors_only_finding(
    zizmor: str, partner_repo: Path, tmp_path: Path
) -> None:
    """A pcr built from source (not by the release workflow) does not know its commit: its
    workflows name the Action by tag, zizmor says so, and `pcr init` says how to pin it."""
    workflows = sorted((partner_repo / ".github/workflows").glob("*.yml"))
    found = described(audit(zizmor, *workflows, home=tmp_path))
    ours = f"{REPOSITORY}@v{__version__}"
    assert found and all(line.startswith("unpinned-uses (High)") for line in found), found
    assert all(line.endswith(ours) for line in found), found
    uses = sum(path.read_text().count(f"uses: {ours}") for path in workflows)
    assert len(found) == uses


def test_zizmor_does_catch_what_the_workflows_once_had(zizmor: str, released_repo: Path) -> None:
    """Inherited secrets, a pull-request permission for every job, PATH changed by an action."""
    reconcile = released_repo / ".github/workflows/pcr-reconcile.yml"
    text = reconcile.read_text()
    text = text[: text.index("    secrets:\n")] + "    secrets: inherit\n"
    reconcile.write_text(text)
    plan = released_repo / ".github/workflows/pcr-plan.yml"
    plan.write_text(
        plan.read_text().replace("permissions: {}", "permissions:\n  pull-requests: write", 1)
    )
    action = released_repo / "action.yml"
    install = 'echo "pcr-path=$venv/bin/pcr"'
    action.write_text(
        (REPO / "action.yml")
        .read_text()
        .replace(install, f'echo "$venv/bin" >> "$GITHUB_PATH"\n        {install}')
    )
    found = described(audit(zizmor, reconcile, action, home=released_repo.parent))
    assert [line.split(" ", 1)[0] for line in found] == ["secrets-inherit", "github-env"], found
    pedantic = subprocess.run(
        [zizmor, "--offline", "--no-progress", "--persona", "pedantic", str(plan)],
        env=offline_env(HOME=str(released_repo.parent)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "excessive-permissions" in pedantic.stdout, pedantic.stdout + pedantic.stderr


USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.M)
VERSION_COMMENT = re.compile(r"\s+# v\d+(?:\.\d+)*$")


def uses_lines(*files: Path) -> Iterator[tuple[str, str, str]]:
    """(file, what it uses, what follows on the line) for every `uses:` in `files`."""
    for path in files:
        for match in USES.finditer(path.read_text(encoding="utf-8")):
            yield path.name, match.group(1), match.group(2)


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


def test_every_action_is_pinned_by_commit_with_its_version_beside_it(
    released_repo: Path, released: Installed
) -> None:
    """In what a released pcr writes, the pcr Action too (by the commit it was built from)."""
    files = [
        *sorted((released_repo / ".github/workflows").glob("*.yml")),
        *sorted((REPO / ".github/workflows").glob("*.yml")),
        REPO / "action.yml",
    ]
    found = list(uses_lines(*files))
    local = {"./", "./.github/workflows/pcr-apply.yml"}
    assert {uses for _, uses, _ in found if uses in local} == local
    loose = [
        (where, uses, rest)
        for where, uses, rest in found
        if uses not in local
        and not (PINNED.match(uses) and VERSION_COMMENT.match(rest.split("  #")[0]))
    ]
    assert loose == []
    ours = {uses for _, uses, _ in found if uses.startswith(f"{REPOSITORY}@")}
    assert ours == {f"{REPOSITORY}@{release_commit(released)}"}


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


# --- credentials: where the workflows hand them ------------------------------------------

SECRET_REFERENCE = re.compile(r"secrets\.([A-Za-z_]\w*)")


def initialised_workflows(partner_repo: Path) -> dict[str, dict[str, Any]]:
    return {
        path.name: load_workflow(path)
        for path in sorted((partner_repo / ".github/workflows").glob("*.yml"))
    }


def test_credentials_reach_only_the_steps_that_call_partner_center(partner_repo: Path) -> None:
    """No workflow or job `env` holds a secret; a secret is only ever an input of a pcr
    step; the write credentials only in the jobs of the protected environment."""
    ours = f"{REPOSITORY}@"
    for name, workflow in initialised_workflows(partner_repo).items():
        assert not SECRET_REFERENCE.search(str(workflow.get("env") or "")), name
        for job_id, job in workflow["jobs"].items():
            where = f"{name}: {job_id}"
            assert not SECRET_REFERENCE.search(str(job.get("env") or "")), where
            if "uses" in job:  # a call of this repository's own reusable workflow
                # The read-only credentials, by name: never `inherit`, never a write one.
                assert job["secrets"] == {
                    name: f"${{{{ secrets.{name} }}}}" for name in READ_SECRETS
                }, where
                continue
            used: set[str] = set()
            for step in job["steps"]:
                outside = str(step.get("env") or "") + str(step.get("run") or "")
                assert not SECRET_REFERENCE.search(outside), f"{where}: {step.get('name')}"
                found = set(SECRET_REFERENCE.findall(str(step.get("with") or "")))
                if found:
                    assert str(step.get("uses", "")).startswith(ours), f"{where}: {found}"
                used |= found
            if job.get("environment") != ENVIRONMENT:
                assert not used & WRITE_NAMES, f"{where} uses {sorted(used & WRITE_NAMES)}"


def test_every_write_credential_is_behind_a_reviewed_plan(partner_repo: Path) -> None:
    workflows = initialised_workflows(partner_repo)
    apply = workflows["pcr-apply.yml"]
    jobs = apply["jobs"]
    assert jobs["apply"]["environment"] == ENVIRONMENT
    assert jobs["apply"]["needs"] == "plan"
    assert "environment" not in jobs["plan"]
    assert "workflow_call" in apply["on"]
    reconcile = workflows["pcr-reconcile.yml"]
    assert reconcile["on"]["schedule"], "the reconcile runs by itself"
    (call,) = reconcile["jobs"].values()
    assert call["uses"] == "./.github/workflows/pcr-apply.yml"
    # One concurrency group for every apply: the daily one waits for a merge's, and back.
    assert "concurrency" not in reconcile
    assert apply["concurrency"] == {"group": "pcr-apply", "cancel-in-progress": False}


# --- running them ------------------------------------------------------------------------


def install_step(job: JobRun) -> Any:
    return job.step("Install pcr")


def assert_secrets_reach_only_pcr(job: JobRun, secret: str, names: Iterable[str]) -> None:
    """Only the step that runs pcr sees `secret`: never the install step (pip and the build
    tools it runs), nor any other step; no step prints it."""
    install = install_step(job)
    assert secret not in install.env.values()
    assert set(names).isdisjoint(install.env)
    runs = [s for s in job.all_steps() if s.name.startswith("Run pcr")]
    assert runs and all(s.env.get("INPUT_CLIENT_SECRET") == secret for s in runs)
    for step in job.all_steps():
        if not step.name.startswith("Run pcr"):
            assert secret not in step.env.values(), step.name
        assert secret not in step.stdout + step.stderr, step.name


def assert_never_seen(job: JobRun, secret: str) -> None:
    for step in job.all_steps():
        assert secret not in step.env.values(), f"{job.name}: {step.name}"
        assert secret not in step.stdout + step.stderr, f"{job.name}: {step.name}"


def the_comment(estate: Estate) -> str:
    (comment,) = estate.runner.github_api.comments
    return str(comment["body"])


def test_plan_workflow_comments_the_plan_and_updates_it_in_place(pr_estate: Estate) -> None:
    run = pr_estate.run("pcr-plan.yml")
    job = run.job("plan")
    assert job.succeeded, job.log
    assert install_step(job).outcome == "success"
    assert_secrets_reach_only_pcr(job, READ_SECRET, READ_SECRETS)
    assert_never_seen(job, SECRET)
    plan = job.step("Plan")
    assert plan.outputs["exitcode"] == "2"  # changes: what a pull request is for
    actions = int(plan.outputs["actions"])
    assert actions > 0
    assert job.summary.startswith("### pcr plan\n")
    # The report is an output as text (many lines), and as a file; the summary has it too.
    report = plan.outputs["report"]
    assert report.startswith("### pcr plan\n") and report.count("\n") > 10
    assert report == Path(plan.outputs["report-file"]).read_text().rstrip("\n")
    assert job.summary.startswith(report)
    body = the_comment(pr_estate)
    assert body.startswith(f"{MARKER}\n### pcr plan\n")
    assert f"**Merging this pull request applies {actions} actions**" in body
    assert "a reviewer approves that plan before it is applied" in body
    assert "pcr plans again on `trunk` after the merge" in body  # the base branch
    assert "Planned at abcdef1" in body
    assert pr_estate.fake.state.mutations == []  # planning never writes

    # The whole plan is kept, and the summary and the comment link what exists.
    name = f"pcr-plan-7-{run.run_id}-1"
    kept = pr_estate.runner.github_api.artifacts[name]
    assert sorted(p.name for p in kept.iterdir()) == ["plan.json", "plan.txt"]
    assert (kept / "plan.json").read_bytes() == job.file(".pcr/plan.json").read_bytes()
    assert len(json.loads((kept / "plan.json").read_text())["actions"]) == actions
    url = plan.outputs["artifact-url"]
    assert url.startswith("https://github.example/") and f"[`{name}`]({url})" in body
    assert f"[`{name}`]({url})" in job.summary

    # The next push: the same comment is updated, no second one appears.
    pr_estate.runner.event = pull_request(sha="1234567fedcba")["event"]
    again = pr_estate.run("pcr-plan.yml")
    assert again.succeeded, again.log
    (updated,) = pr_estate.runner.github_api.comments
    assert "Planned at 1234567" in updated["body"]
    assert f"pcr-plan-7-{again.run_id}-1" in updated["body"]
    assert [call[0] for call in pr_estate.runner.github_api.calls] == [
        "list",
        "create",
        "list",
        "update",
    ]


def test_a_comment_posted_with_a_personal_token_is_updated_in_place(pr_estate: Estate) -> None:
    """Found by its marker, whoever posted it: a person's token posts as a User, not a Bot."""
    pr_estate.runner.comment_user = {"type": "User", "login": "partner-admin"}
    assert pr_estate.run("pcr-plan.yml").succeeded
    pr_estate.runner.event = pull_request(sha="1234567fedcba")["event"]
    assert pr_estate.run("pcr-plan.yml").succeeded
    (comment,) = pr_estate.runner.github_api.comments
    assert comment["user"]["type"] == "User"
    assert "Planned at 1234567" in comment["body"]
    calls = [call[0] for call in pr_estate.runner.github_api.calls]
    assert calls == ["list", "create", "list", "update"]


def test_comments_of_another_estate_or_without_the_marker_are_left_alone(
    pr_estate: Estate,
) -> None:
    others = [
        {"id": 1, "user": {"type": "Bot"}, "body": "<!-- pcr-plan: pcr plan / other -->\nx"},
        {"id": 2, "user": {"type": "Bot"}, "body": "<!-- pcr-plan -->\nan older pcr's"},
        {"id": 3, "user": {"type": "User"}, "body": f"quoting it: {MARKER}"},
    ]
    pr_estate.runner.github_api.comments = [dict(c) for c in others]
    assert pr_estate.run("pcr-plan.yml").succeeded
    comments = pr_estate.runner.github_api.comments
    assert comments[:3] == others
    (ours,) = comments[3:]
    assert ours["body"].startswith(f"{MARKER}\n### pcr plan\n")


@pytest.mark.parametrize(
    "token", [{"type": "Bot"}, {"type": "User", "login": "partner-admin"}], ids=["app", "person"]
)
def test_a_marked_comment_somebody_else_wrote_is_never_taken_for_the_plan(
    pr_estate: Estate, token: dict[str, str]
) -> None:
    """Whoever can comment could plant the marker, and edit their comment afterwards to show
    another plan: the plan goes into a comment of the token's own."""
    pr_estate.runner.comment_user = token
    planted = {"id": 1, "user": {"type": "User", "login": "mallory"}, "body": f"{MARKER}\nfake"}
    pr_estate.runner.github_api.comments = [dict(planted)]
    assert pr_estate.run("pcr-plan.yml").succeeded
    first, ours = pr_estate.runner.github_api.comments
    assert first == planted
    assert ours["user"] == token and ours["body"].startswith(f"{MARKER}\n### pcr plan\n")
    assert [call[0] for call in pr_estate.runner.github_api.calls] == ["list", "create"]


def test_a_marked_comment_it_may_not_edit_gets_a_new_comment_beside_it(
    pr_estate: Estate,
) -> None:
    """Another GitHub App's comment (a Bot too) with the marker: the update is refused."""
    planted = {"id": 1, "user": {"type": "Bot"}, "body": f"{MARKER}\nan app's", "locked": True}
    pr_estate.runner.github_api.comments = [dict(planted)]
    assert pr_estate.run("pcr-plan.yml").succeeded
    first, ours = pr_estate.runner.github_api.comments
    assert first == planted
    assert ours["body"].startswith(f"{MARKER}\n### pcr plan\n")
    (warning,) = pr_estate.runner.github_api.warnings
    assert "cannot update comment 1 (403)" in warning


FABRIKAM = "d815fc46-557a-42b8-83ec-fb3ebcb1fb2f"


def change_fabrikam(estate: Estate) -> str:
    """A commit that changes one customer file; the sha of the commit before it."""
    base = git(estate.repo, "rev-parse", "HEAD").strip()
    fabrikam = estate.customer("fabrikam.yaml")
    fabrikam.write_text(fabrikam.read_text().replace("auto_renew: false", "auto_renew: true"))
    git(estate.repo, "commit", "-q", "-am", "Fabrikam renews after all")
    return base


def test_a_pull_request_plans_only_the_customers_it_changes(pr_estate: Estate) -> None:
    base = change_fabrikam(pr_estate)
    pr_estate.runner.event["pull_request"]["base"] = {"sha": base}
    job = pr_estate.run("pcr-plan.yml").job("plan")
    assert job.succeeded, job.log
    plan = json.loads(job.file(".pcr/plan.json").read_text())
    assert plan["scope"] == [FABRIKAM]
    assert {a["customer_id"] for a in plan["actions"]} == {FABRIKAM}
    assert "Scoped plan: 1 customer: Fabrikam Inc." in the_comment(pr_estate)
    calls = [r for r in pr_estate.fake.app.requests if r.path.startswith("/v1/customers")]
    assert all(r.path != "/v1/customers" for r in calls)  # no paging of the list


def test_a_push_to_main_applies_what_it_changed(estate: Estate) -> None:
    base = change_fabrikam(estate)
    estate.runner.event = {"before": base}
    run = estate.run("pcr-apply.yml")
    assert run.succeeded, run.log
    plan = json.loads(run.job("plan").file(".pcr/plan.json").read_text())
    assert plan["scope"] == [FABRIKAM]
    assert {m["customer_id"] for m in estate.fake.state.mutations} == {FABRIKAM}


def test_a_failed_validation_replaces_the_plan_comment(pr_estate: Estate) -> None:
    assert pr_estate.run("pcr-plan.yml").succeeded
    pr_estate.customer("contoso.yaml").write_text("tenant_id: nope\nrelationship: reseller\n")
    run = pr_estate.run("pcr-plan.yml")
    job = run.job("plan")
    assert not job.succeeded
    annotations = job.step("Run pcr plan").stdout
    assert "::error file=desired-state/customers/contoso.yaml,line=1" in annotations
    body = the_comment(pr_estate)
    assert "### pcr validate" in body
    assert "did not plan" in body
    assert "Merging this pull request" not in body
    assert "cannot be applied as it is" in body
    # Nothing was planned, so no artifact is kept, and none is linked.
    assert pr_estate.runner.github_api.artifacts == {}
    assert "artifact" not in body


def test_a_refused_plan_fails_the_check_and_says_so(pr_estate: Estate) -> None:
    litware = pr_estate.customer("litware.yaml")
    # A protected customer with an override that cancels: the guardrail refuses the plan.
    litware.write_text(
        litware.read_text()
        + "subscriptions:\n  - id: e1f3b5c7-0d2f-4be2-9d04-8f9a0b1c2d34\n    status: cancelled\n"
    )
    run = pr_estate.run("pcr-plan.yml")
    job = run.job("plan")
    assert not job.succeeded
    assert job.step("Run pcr plan").outputs["exitcode"] == "1"
    body = the_comment(pr_estate)
    assert "customer is protected" in body
    assert "cannot be applied as it is" in body
    assert "Merging this pull request" not in body
    # The refused plan is kept to read, never as a file that could be applied.
    kept = pr_estate.runner.github_api.artifacts[f"pcr-plan-7-{run.run_id}-1"]
    assert sorted(p.name for p in kept.iterdir()) == ["plan.txt"]
    assert "customer is protected" in (kept / "plan.txt").read_text()
    assert not job.file(".pcr/plan.json").exists()


def apply_directly(estate: Estate, installed: Installed, state_dir: Path) -> None:
    """What an earlier apply did: the example estate's actions are done, what waits remains."""
    done = subprocess.run(
        [
            str(installed.pcr),
            "apply",
            "--desired",
            str(estate.repo / "desired-state"),
            "--auto-approve",
            "--state-dir",
            str(state_dir),
        ],
        env=estate.runner.base_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert estate.fake.state.mutations


def test_a_plan_with_only_waiting_items_says_merging_changes_nothing(
    pr_estate: Estate, installed: Installed, tmp_path: Path
) -> None:
    apply_directly(pr_estate, installed, tmp_path / "state")
    job = pr_estate.run("pcr-plan.yml").job("plan")
    assert job.succeeded, job.log
    plan = job.step("Plan")
    assert plan.outputs["actions"] == "0"
    assert int(plan.outputs["deferred"]) > 0
    body = the_comment(pr_estate)
    assert "Merging this pull request changes nothing in Partner Center now." in body
    assert "for a date: the daily reconcile plans" in body
    assert "applies" not in body.split("\n\n")[-2]  # the outcome line


def test_a_pull_request_from_a_fork_fails_its_check_and_says_why(
    partner_repo: Path, action_checkout: Path, fake: FakeServer, runner_image: Path
) -> None:
    event = pull_request()
    event["event"]["pull_request"]["head"]["repo"]["full_name"] = "someone/fork"
    runner = make_runner(partner_repo, action_checkout, fake, runner_image, **event)
    (partner_repo / "desired-state/customers/contoso.yaml").write_text("tenant_id: nope\n")
    job = runner.run(load_workflow(partner_repo / ".github/workflows/pcr-plan.yml")).job("plan")
    # A check that fails, not a skipped job that passes a required check.
    assert job.ran and not job.succeeded
    assert job.step("Plan").outcome == "skipped"
    # Validated all the same: the annotations need no secrets.
    annotations = job.step("Run pcr validate").stdout
    assert "::error file=desired-state/customers/contoso.yaml" in annotations
    said = job.step("Not planned (a pull request from a fork)")
    assert said.outcome == "failure"
    assert "::error title=pcr plan::Not planned: a pull request from a fork" in said.stdout
    assert "### pcr plan: not planned" in job.summary
    assert "someone/fork" in job.summary
    assert runner.github_api.comments == [] and runner.github_api.calls == []
    assert_never_seen(job, READ_SECRET)
    assert_never_seen(job, SECRET)


# --- plan, approve, apply that plan -------------------------------------------------------


def plan_artifact(run: WorkflowRun, prefix: str = "") -> str:
    return run.job(f"{prefix}plan").outputs["artifact"]


def assert_plan_then_approval_then_that_plan(estate: Estate, run: WorkflowRun, prefix: str) -> None:
    assert run.succeeded, run.log
    plan, apply = run.job(f"{prefix}plan"), run.job(f"{prefix}apply")
    assert plan.outputs["has-actions"] == "true", plan.log
    assert plan.environment is None and apply.environment == ENVIRONMENT

    # The reviewer was asked once, after the plan job, and saw the plan and its file.
    (review,) = run.reviews
    assert (review.job, review.environment) == (f"{prefix}apply", ENVIRONMENT)
    assert list(review.jobs) == [f"{prefix}plan"]
    seen = review.jobs[f"{prefix}plan"].summary
    assert seen.startswith("### pcr plan\n")
    assert "### What happens next" in seen and plan.outputs["plan-sha256"] in seen
    artifact = plan_artifact(run, prefix)
    assert artifact in review.artifacts

    # The file applied is, byte for byte, the one the plan job produced and the reviewer saw.
    produced = plan.file(".pcr/plan.json").read_bytes()
    assert (review.artifacts[artifact] / "plan.json").read_bytes() == produced
    assert estate.runner.github_api.downloads == [(artifact, apply.file(".pcr"))]
    assert apply.file(".pcr/plan.json").read_bytes() == produced
    assert apply.step("Check that it is the plan that was reviewed").outcome == "success"
    assert apply.step("Apply").inputs["plan-file"] == ".pcr/plan.json"
    ran = apply.step("Run pcr apply")
    assert ran.env["PCR_ACTION_PLAN_FILE"] == ".pcr/plan.json"
    assert apply.step("Apply").outputs["exitcode"] == "0"
    assert estate.fake.state.mutations, "apply changed nothing in the fake"
    assert not (estate.repo / ".pcr").exists()  # each job on its own machine

    # Read-only credentials plan, write credentials apply, and nothing else sees either.
    assert_secrets_reach_only_pcr(plan, READ_SECRET, READ_SECRETS)
    assert_never_seen(plan, SECRET)
    assert_secrets_reach_only_pcr(apply, SECRET, SECRETS)
    assert_never_seen(apply, READ_SECRET)

    # The records of the run: the plan applied, the journal, the audit log.
    records = estate.runner.github_api.artifacts[f"pcr-apply-{run.run_id}-1"]
    names = sorted(p.name for p in records.iterdir())
    assert "audit.jsonl" in names and any(n.startswith("journal-") for n in names), names
    assert (records / "plan.json").read_bytes() == produced


def test_apply_workflow_plans_then_a_reviewer_approves_then_it_applies_that_plan(
    fresh_estate: Estate,
) -> None:
    estate = fresh_estate

    def reviewer(review: Review) -> bool:
        assert estate.fake.state.mutations == []  # nothing applied before the approval
        return True

    estate.runner.reviewer = reviewer
    run = estate.run("pcr-apply.yml")
    assert_plan_then_approval_then_that_plan(estate, run, prefix="")
    # Each job is a fresh machine: each installs pcr through the Action.
    installs = [s for job in run.jobs.values() for s in job.all_steps() if s.name == "Install pcr"]
    assert len(installs) == 2
    assert all("already installed" not in s.stdout for s in installs), installs
    apply = run.job("apply")
    # partner.yaml keeps the local backend: the summary says where the records are.
    assert "kept only as a CI artifact" in apply.summary
    assert f"pcr-apply-{run.run_id}-1" in apply.summary
    assert apply.step("Apply").inputs["storage-connection-string"] == ""
    assert "kept only as a CI artifact" in run.job("plan").summary


def test_with_nothing_to_apply_the_apply_job_does_not_run(
    estate: Estate, installed: Installed, tmp_path: Path
) -> None:
    apply_directly(estate, installed, tmp_path / "state")
    before = len(estate.fake.state.mutations)
    run = estate.run("pcr-apply.yml")
    assert run.succeeded, run.log
    plan = run.job("plan")
    assert plan.step("Plan").outputs["actions"] == "0"
    assert plan.outputs["has-actions"] == "false"
    assert "Nothing to apply now" in plan.summary
    assert run.job("apply").result == "skipped"
    assert run.reviews == []  # nobody is asked to approve nothing
    assert len(estate.fake.state.mutations) == before


def test_a_refused_plan_asks_nobody_and_applies_nothing(estate: Estate) -> None:
    litware = estate.customer("litware.yaml")
    litware.write_text(
        litware.read_text()
        + "subscriptions:\n  - id: e1f3b5c7-0d2f-4be2-9d04-8f9a0b1c2d34\n    status: cancelled\n"
    )
    run = estate.run("pcr-apply.yml")
    plan = run.job("plan")
    assert not plan.succeeded
    assert plan.outputs["has-actions"] == "false"
    assert "a guardrail refused the plan" in plan.summary
    assert run.job("apply").result == "skipped"
    assert run.reviews == []
    assert estate.fake.state.mutations == []


def test_a_plan_file_changed_after_review_is_not_applied(estate: Estate) -> None:
    def tamper(review: Review) -> bool:
        (saved,) = review.artifacts.values()
        plan = saved / "plan.json"
        plan.write_text(plan.read_text().replace('"reason": "', '"reason": "edited: ', 1))
        return True

    estate.runner.reviewer = tamper
    run = estate.run("pcr-apply.yml")
    apply = run.job("apply")
    assert not apply.succeeded
    check = apply.step("Check that it is the plan that was reviewed")
    assert check.outcome == "failure" and "FAILED" in check.stdout + check.stderr
    assert apply.step("Apply").outcome == "skipped"
    assert estate.fake.state.mutations == []


def test_a_plan_that_partner_center_made_stale_is_refused(estate: Estate) -> None:
    fabrikam = "d815fc46-557a-42b8-83ec-fb3ebcb1fb2f"
    legacy = "f3ea7643-adc7-4f68-b701-7b00fd007869"  # a legacy subscription the plan suspends

    def someone_changes_partner_center(review: Review) -> bool:
        with estate.fake.app.edit() as state:
            state.subscription(fabrikam, legacy)["status"] = "suspended"
        return True

    estate.runner.reviewer = someone_changes_partner_center
    run = estate.run("pcr-apply.yml")
    apply = run.job("apply")
    assert not apply.succeeded
    assert apply.step("Apply").outputs["exitcode"] == "1"
    assert "stale" in apply.step("Run pcr apply").stdout
    assert estate.fake.state.mutations == []


def test_a_rejected_deployment_applies_nothing(estate: Estate) -> None:
    estate.runner.reviewer = lambda review: False
    run = estate.run("pcr-apply.yml")
    assert run.job("plan").succeeded
    assert not run.job("apply").succeeded
    assert run.job("apply").steps[0].name == "rejected"
    assert estate.fake.state.mutations == []


def test_the_daily_reconcile_goes_through_the_same_gate(estate: Estate) -> None:
    estate.runner.event_name = "schedule"
    run = estate.run("pcr-reconcile.yml")
    # The calling job, and the called workflow's two jobs under it.
    assert list(run.jobs) == ["reconcile/plan", "reconcile/apply", "reconcile"]
    assert_plan_then_approval_then_that_plan(estate, run, prefix="reconcile/")


TAILSPIN = "6f55635c-a2f9-40b3-98c9-9879d04da870"
TAILSPIN_NCE = "f6a8c0d2-5e7a-4c9d-8ebf-3a4b5c6d7e8f"  # an annual term, its window long closed


def listed(estate: Estate) -> set[str]:
    with estate.fake.app.lock:
        return {c["id"] for c in estate.fake.state.customers()}


def last_day_of_term(estate: Estate, day: date) -> None:
    """Tailspin's NCE term ends after `day` (commitmentEndDate is inclusive), and the fake's
    clock is the real time, as the workflows' own: the term ends, or not, on its next read."""
    with estate.fake.app.edit() as state:
        subscription = state.subscription(TAILSPIN, TAILSPIN_NCE)
        subscription["commitmentEndDate"] = f"{day.isoformat()}T00:00:00Z"
        state.set_now(datetime.now(UTC))


def test_the_daily_reconcile_removes_a_customer_the_day_its_term_ends_and_not_before(
    estate: Estate, installed: Installed, tmp_path: Path
) -> None:
    apply_directly(estate, installed, tmp_path / "state")  # auto-renew off; the removal waits
    done = len(estate.fake.state.mutations)
    estate.runner.event_name = "schedule"
    now = datetime.now(UTC)

    # The day before: the term's last day is today (tomorrow when midnight is minutes away).
    last_day_of_term(estate, (now + timedelta(minutes=10)).date())
    before = estate.run("pcr-reconcile.yml")
    assert before.succeeded, before.log
    assert before.job("reconcile/plan").step("Plan").outputs["actions"] == "0"
    assert before.job("reconcile/apply").result == "skipped"
    assert before.reviews == []
    assert len(estate.fake.state.mutations) == done
    assert TAILSPIN in listed(estate)

    # The day it ends: its last day was yesterday, so Partner Center has ended it.
    last_day_of_term(estate, (now - timedelta(days=1)).date())
    due = estate.run("pcr-reconcile.yml")
    assert_plan_then_approval_then_that_plan(estate, due, prefix="reconcile/")
    applied = estate.fake.state.mutations[done:]
    assert [(m["customer_id"], m["action"]) for m in applied] == [(TAILSPIN, "remove_relationship")]
    assert TAILSPIN not in listed(estate)


def test_with_azure_blob_the_apply_step_gets_the_storage_secret(
    estate: Estate, azurite: Azurite
) -> None:
    from azure.storage.blob import BlobServiceClient

    container = azurite.new_container()
    partner = estate.repo / "desired-state" / "partner.yaml"
    partner.write_text(
        partner.read_text() + f"state:\n  backend: azure_blob\n  container: {container}\n"
    )
    estate.runner.environments[ENVIRONMENT]["PCR_STORAGE_CONNECTION_STRING"] = (
        azurite.connection_string
    )
    run = estate.run("pcr-apply.yml")
    assert run.succeeded, run.log
    assert run.job("plan").outputs["state-backend"] == "azure_blob"
    apply = run.job("apply")
    given = apply.step("Apply").inputs["storage-connection-string"]
    assert given == azurite.connection_string
    assert apply.step("Run pcr apply").env["INPUT_STORAGE_CONNECTION_STRING"] == given
    assert "in Blob Storage" in apply.summary
    assert "kept only as a CI artifact" not in apply.summary
    assert "kept only as a CI artifact" not in run.job("plan").summary
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    names = [b.name for b in blobs.get_container_client(container).list_blobs()]
    assert "audit.jsonl" in names, names


def test_drift_workflow_fails_on_drift(estate: Estate) -> None:
    job = estate.run("pcr-drift.yml").job("drift")
    assert not job.succeeded
    assert_secrets_reach_only_pcr(job, READ_SECRET, READ_SECRETS)
    assert_never_seen(job, SECRET)
    drift = job.step("Drift report")
    assert drift.outputs["exitcode"] == "2"
    (failed,) = [step for step in drift.inner if step.name == "Fail on errors"]
    assert "::error title=pcr drift::Partner Center differs" in failed.stdout
    # The calendar comes first, then the drift report.
    assert job.summary.index("### pcr calendar\n") < job.summary.index("### pcr drift\n")


def test_drift_workflow_publishes_the_calendar_before_its_report(estate: Estate) -> None:
    job = estate.run("pcr-drift.yml").job("drift")
    calendar = job.step("Estate calendar")
    assert calendar.outputs["exitcode"] in ("0", "2"), job.log
    assert job.summary.startswith("### pcr calendar\n")
    assert "```mermaid\ngantt" in job.summary and "### pcr drift\n" in job.summary
    kept = estate.runner.github_api.artifacts["pcr-calendar"]
    document = json.loads((kept / "calendar.json").read_text())
    assert document["events"] and document["format_version"] == 1
    ics = (kept / "calendar.ics").read_text()
    assert ics.startswith("BEGIN:VCALENDAR") and ics.count("BEGIN:VEVENT") == len(
        document["events"]
    )
    assert "Every event, to subscribe to in a calendar application" in job.summary
    assert_secrets_reach_only_pcr(job, READ_SECRET, READ_SECRETS)
    assert_never_seen(job, SECRET)


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
    job = estate.run("pcr-drift.yml").job("drift")
    assert job.succeeded, job.log
    assert "No drift." in job.summary


def test_this_repositorys_action_workflow(
    tmp_path: Path, action_checkout: Path, fake: FakeServer
) -> None:
    """`.github/workflows/action.yml`: this repository checked out, the Action used as `./`,
    its own fake Partner Center served by the installed pcr."""
    workspace = snapshot(tmp_path / "pcr")
    runner = make_runner(workspace, workspace, fake)
    runner.env = dict(NO_PACING)  # the workflow serves its own fake and points pcr at it
    job = runner.run(load_workflow(workspace / ".github/workflows/action.yml")).job("fake")
    assert job.succeeded, job.log
    outcomes = {s.name: s.outcome for s in job.steps}
    assert outcomes == dict.fromkeys(outcomes, "success")
    installs = [s.stdout for s in job.all_steps() if s.name == "Install pcr"]
    assert len(installs) == 4  # validate, plan, apply, drift
    assert all("already installed" in out for out in installs[1:]), installs
    assert json.loads(job.file(".pcr/plan.json").read_text())["actions"]


# --- the Action and the job it runs in ----------------------------------------------------


def action_job(*steps: dict[str, Any]) -> dict[str, Any]:
    """A workflow of one job: checkout, then `steps`."""
    checkout = {"uses": f"actions/checkout@{CHECKOUT}", "with": {"persist-credentials": False}}
    return {
        "name": "job",
        "jobs": {"job": {"runs-on": "ubuntu-latest", "steps": [checkout, *steps]}},
    }


RUNNER_FILES = {"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"}
VALIDATE = {"command": "validate"}


def test_the_action_leaves_the_job_as_it_found_it(fresh_estate: Estate) -> None:
    """Nothing on PATH, nothing in the job's environment: later steps see what earlier ones
    did, and run the pcr it installed only by the path it outputs."""
    workflow = action_job(
        {"name": "before", "run": "true"},
        {
            "name": "Validate",
            "id": "pcr",
            "uses": f"{REPOSITORY}@main",
            "with": {"command": "validate"},
        },
        {
            "name": "after",
            "env": {"PCR": "${{ steps.pcr.outputs.pcr-path }}"},
            "run": 'if command -v pcr; then exit 1; fi\n"$PCR" --version',
        },
    )
    job = fresh_estate.runner.run(workflow).job("job")
    assert job.succeeded, job.log
    before, after = job.step("before").env, job.step("after").env
    assert after["PCR"].endswith("/pcr-venv/bin/pcr")
    assert f"pcr, version {__version__}" in job.step("after").stdout
    unchanged = {k: v for k, v in after.items() if k not in RUNNER_FILES | {"PCR"}}
    assert unchanged == {k: v for k, v in before.items() if k not in RUNNER_FILES}
    # The runner's own Python did: actions/setup-python was not needed.
    assert job.step("Set up Python").outcome == "skipped"
    assert job.step("Find a Python").outputs["python"]


def test_without_a_python_to_use_the_action_sets_one_up_for_itself(
    partner_repo: Path, action_checkout: Path, fake: FakeServer, tmp_path: Path
) -> None:
    """A runner whose python3 is too old: actions/setup-python installs one for pcr alone
    (`update-environment: false`), and the job's python3 is still the old one after it."""
    old = tmp_path / "old-python"
    old.mkdir()
    for name in ("python3", "python"):
        (old / name).write_text("#!/usr/bin/env bash\necho 'Python 3.9.18'\nexit 1\n")
        (old / name).chmod(0o755)
    runner = make_runner(partner_repo, action_checkout, fake)
    runner.path_first = [old]
    workflow = action_job(
        {"name": "Validate", "uses": f"{REPOSITORY}@main", "with": VALIDATE},
        {"name": "after", "run": "command -v python3"},
    )
    job = runner.run(workflow).job("job")
    assert job.succeeded, job.log
    assert job.step("Find a Python").outputs["python"] == ""
    setup = job.step("Set up Python")
    assert setup.outcome == "success" and setup.inputs["update-environment"] is False
    install = job.step("Install pcr")
    assert install.env["PCR_PYTHON"] == setup.outputs["python-path"]
    assert job.step("after").stdout.strip() == str(old / "python3")
