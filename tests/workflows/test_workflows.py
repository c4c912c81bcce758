"""The GitHub workflows: linted by actionlint, and their `pcr` steps run against the fake.

Every `run:` script that calls `pcr` is executed as GitHub would run it (`shell:
bash` is `bash --noprofile --norc -eo pipefail`), in a temporary copy of the
repository's desired state, with `PCR_ENDPOINT` pointing at the fake Partner
Center on loopback and the runner's files (`GITHUB_STEP_SUMMARY`,
`GITHUB_OUTPUT`, `RUNNER_TEMP`) in temporary places. A changed command line,
a renamed option or a lost exit code fails here rather than in CI.
"""

from __future__ import annotations

import json
import os
import re
import shlex
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

from reconciler.partnercenter.fake_server import FakeServer
from reconciler.partnercenter.fake_state import FakeState
from tests.conftest import EXAMPLE, REPO

WORKFLOWS = REPO / ".github" / "workflows"
NAMES = ("pcr-plan.yml", "pcr-apply.yml", "pcr-drift.yml")
SECRETS = ("PCR_TENANT_ID", "PCR_CLIENT_ID", "PCR_CLIENT_SECRET", "PCR_REFRESH_TOKEN")
PCR_COMMAND = re.compile(r"(^|[\s;&|(])pcr\s", re.MULTILINE)
MARKER = "<!-- pcr-plan -->"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean true.
    found: dict[str, Any] = workflow["on"] if "on" in workflow else workflow[True]
    return found


def steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job["steps"]


def pcr_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(workflow) if "run" in s and PCR_COMMAND.search(s["run"])]


def step_named(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in steps(workflow) if s.get("name") == name)


# --- actionlint ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    found = found or shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: install the test extras (`make test`)")
    return found


def test_actionlint_finds_nothing_in_the_workflows(actionlint: str) -> None:
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert set(NAMES) <= {f.name for f in files}
    result = subprocess.run(
        [actionlint, "-no-color", *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_actionlint_does_catch_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = (WORKFLOWS / "pcr-drift.yml").read_text().replace("runs-on:", "runs_on:")
    broken.write_text(text)
    result = subprocess.run(
        [actionlint, "-no-color", str(broken)], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "runs_on" in result.stdout


# --- what each workflow promises --------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_common_shape(name: str) -> None:
    workflow = load(name)
    # `shell: bash` is bash -eo pipefail; the default shell has no pipefail.
    assert workflow["defaults"]["run"]["shell"] == "bash"
    for job in workflow["jobs"].values():
        assert {key: job["env"][key] for key in SECRETS} == {
            key: f"${{{{ secrets.{key} }}}}" for key in SECRETS
        }
        assert "timeout-minutes" in job
    for step in steps(workflow):
        # Expressions expanded into a script are a script-injection risk: use env instead.
        assert "${{" not in step.get("run", ""), step
    assert pcr_steps(workflow), f"{name} runs no pcr command"


def test_plan_workflow_triggers_and_permissions() -> None:
    workflow = load("pcr-plan.yml")
    assert triggers(workflow) == {"pull_request": {"paths": ["desired-state/**"]}}
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    comment = step_named(workflow, "Comment the plan on the pull request")
    assert comment["uses"].startswith("actions/github-script@")
    assert comment["if"] == "always() && steps.plan.outputs.exitcode != ''"


def test_apply_workflow_is_serialized_and_keeps_its_records() -> None:
    workflow = load("pcr-apply.yml")
    assert triggers(workflow)["push"] == {"branches": ["main"], "paths": ["desired-state/**"]}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"] == {"group": "pcr-apply", "cancel-in-progress": False}
    assert workflow["jobs"]["apply"]["environment"] == "partner-center"
    upload = step_named(workflow, "Keep the plan, journal and audit log")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == ".pcr/"
    assert upload["with"]["include-hidden-files"] is True
    apply_run = step_named(workflow, "Apply")["run"]
    assert "--auto-approve" in apply_run


def test_drift_workflow_runs_on_a_schedule_and_on_demand() -> None:
    workflow = load("pcr-drift.yml")
    on = triggers(workflow)
    assert set(on) == {"schedule", "workflow_dispatch"}
    assert len(on["schedule"][0]["cron"].split()) == 5
    assert workflow["permissions"] == {"contents": "read"}


# --- running the pcr steps against the fake ---------------------------------------------------


@dataclass
class Runner:
    """A runner's view of one job: a workspace, the runner files, the fake on loopback."""

    workspace: Path
    temp: Path
    summary: Path
    output: Path
    server: FakeServer

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", str(self.temp)),
            "PCR_ENDPOINT": self.server.url,
            "PCR_TOKEN": "dummy",
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "RUNNER_TEMP": str(self.temp),
            "NO_COLOR": "1",
        }

    def run(self, step: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        script = self.temp / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.workspace,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def outputs(self) -> dict[str, str]:
        lines = self.output.read_text().splitlines() if self.output.exists() else []
        return dict(line.split("=", 1) for line in lines)

    def mutations(self) -> list[dict[str, Any]]:
        return self.server.state.mutations


@pytest.fixture
def runner(tmp_path: Path, pcr_executable: str) -> Iterator[Runner]:
    workspace = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, workspace / "desired-state")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    state = FakeState.load(EXAMPLE / "fake-state.json")
    # pcr plans at the real time: the fake's clock must agree with it.
    state.set_now(datetime.now(UTC))
    state_file = tmp_path / "fake-state.json"
    state.save(state_file)
    with FakeServer(state_file) as server:
        yield Runner(workspace, temp, tmp_path / "summary.md", tmp_path / "output.txt", server)


def run_all(runner: Runner, workflow: dict[str, Any]) -> list[subprocess.CompletedProcess[str]]:
    """Each pcr step in order, stopping at the first that fails (as a job does)."""
    results = []
    for step in pcr_steps(workflow):
        result = runner.run(step)
        results.append(result)
        if result.returncode != 0:
            break
    return results


def test_plan_workflow_against_the_fake(runner: Runner) -> None:
    workflow = load("pcr-plan.yml")
    validate, plan = run_all(runner, workflow)
    assert validate.returncode == 0, validate.stderr
    assert plan.returncode == 0, plan.stderr
    assert runner.outputs() == {"exitcode": "2"}  # changes, which a pull request is for
    assert runner.summary.read_text().startswith("### pcr plan\n")
    assert (runner.temp / "plan.md").read_text() == runner.summary.read_text()
    assert runner.mutations() == []  # planning never writes


def test_a_refused_plan_fails_the_check_but_still_reports(runner: Runner) -> None:
    litware = runner.workspace / "desired-state" / "customers" / "litware.yaml"
    # A protected customer with an override that cancels: the guardrail refuses the plan.
    litware.write_text(
        litware.read_text()
        + "subscriptions:\n  - id: e1f3b5c7-0d2f-4be2-9d04-8f9a0b1c2d34\n    status: cancelled\n"
    )
    validate, plan = run_all(runner, load("pcr-plan.yml"))
    assert validate.returncode == 0, validate.stderr
    assert plan.returncode == 1
    assert runner.outputs() == {"exitcode": "1"}  # so the comment step still reports it
    assert "customer is protected" in runner.summary.read_text()


def test_validate_annotations_fail_the_plan_workflow(runner: Runner) -> None:
    broken = runner.workspace / "desired-state" / "customers" / "contoso.yaml"
    broken.write_text("tenant_id: nope\nrelationship: reseller\n")
    (validate,) = run_all(runner, load("pcr-plan.yml"))
    assert validate.returncode == 1
    assert validate.stdout.startswith("::error file=desired-state/customers/contoso.yaml,line=1")


def test_apply_workflow_against_the_fake(runner: Runner) -> None:
    validate, plan, apply = run_all(runner, load("pcr-apply.yml"))
    assert (validate.returncode, plan.returncode) == (0, 0), plan.stderr
    assert apply.returncode == 0, apply.stderr
    assert runner.summary.read_text().startswith("### pcr plan\n")
    assert runner.mutations(), "apply changed nothing in the fake"
    records = sorted(p.name for p in (runner.workspace / ".pcr").iterdir())
    assert "plan.json" in records
    assert any(name.startswith("journal-") for name in records), records


def test_drift_workflow_fails_on_drift(runner: Runner) -> None:
    (report,) = run_all(runner, load("pcr-drift.yml"))
    assert report.returncode == 2
    assert "::error title=pcr drift::" in report.stdout
    assert runner.summary.read_text().startswith("### pcr drift\n")


def test_drift_workflow_passes_without_drift(runner: Runner, pcr_executable: str) -> None:
    desired = runner.workspace / "desired-state"
    shutil.rmtree(desired)
    imported = subprocess.run(
        [pcr_executable, "import", "--out", str(desired)],
        env=runner.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    (report,) = run_all(runner, load("pcr-drift.yml"))
    assert report.returncode == 0, report.stdout + report.stderr
    assert "No drift." in runner.summary.read_text()


# --- the pull-request comment script ----------------------------------------------------------

COMMENT_HARNESS = """
const calls = [];
const existing = JSON.parse(process.env.EXISTING);
const github = {
  paginate: async (method, params) => { calls.push(['list', method, params]); return existing; },
  rest: { issues: {
    listComments: 'listComments',
    updateComment: async (params) => { calls.push(['update', params]); },
    createComment: async (params) => { calls.push(['create', params]); },
  } },
};
const context = {
  repo: { owner: 'octo', repo: 'estate' }, issue: { number: 7 }, runId: 42,
  serverUrl: 'https://github.example', payload: { pull_request: { head: { sha: 'abcdef123456' } } },
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const script = new AsyncFunction('github', 'context', 'core', 'require', process.env.SCRIPT);
script(github, context, {}, require).then(() => console.log(JSON.stringify(calls)));
"""


def run_comment_script(tmp_path: Path, existing: list[dict[str, Any]]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the comment script runs on GitHub's runner")
    plan = tmp_path / "plan.md"
    plan.write_text("### pcr plan\n\nNo changes.\n")
    step = step_named(load("pcr-plan.yml"), "Comment the plan on the pull request")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "EXISTING": json.dumps(existing),
        "SCRIPT": step["with"]["script"],
        "PLAN_FILE": str(plan),
        "PLAN_EXITCODE": "0",
    }
    result = subprocess.run(
        [node, "-e", COMMENT_HARNESS], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    calls: list[Any] = json.loads(result.stdout)
    return calls


def test_the_plan_comment_is_updated_in_place(tmp_path: Path) -> None:
    calls = run_comment_script(
        tmp_path,
        [
            {"id": 1, "user": {"type": "User"}, "body": f"{MARKER} a person quoting it"},
            {"id": 5, "user": {"type": "Bot"}, "body": f"{MARKER}\nthe old plan"},
        ],
    )
    assert calls[0] == [
        "list",
        "listComments",
        {"owner": "octo", "repo": "estate", "issue_number": 7, "per_page": 100},
    ]
    kind, params = calls[1]
    assert (kind, params["comment_id"], len(calls)) == ("update", 5, 2)
    assert params["body"].startswith(f"{MARKER}\n### pcr plan\n\nNo changes.\n")
    assert "No changes: Partner Center already matches. Planned at abcdef1" in params["body"]


def test_the_first_plan_comment_is_created(tmp_path: Path) -> None:
    calls = run_comment_script(tmp_path, [])
    kind, params = calls[1]
    assert (kind, params["issue_number"]) == ("create", 7)
    assert params["body"].startswith(MARKER)


# --- the pre-commit hook ------------------------------------------------------------------------


def test_pre_commit_hook_validates_the_desired_state(runner: Runner) -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {key: hook[key] for key in ("id", "language", "pass_filenames", "files")} == {
        "id": "pcr-validate",
        "language": "python",
        "pass_filenames": False,
        "files": "^desired-state/",
    }
    assert re.search(hook["files"], "desired-state/customers/contoso.yaml")
    assert not re.search(hook["files"], "README.md")

    def entry() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            shlex.split(hook["entry"]),
            cwd=runner.workspace,
            env=runner.env(),
            capture_output=True,
            text=True,
            check=False,
        )

    assert entry().returncode == 0
    (runner.workspace / "desired-state" / "customers" / "contoso.yaml").write_text("[]\n")
    assert entry().returncode == 1
