"""A small GitHub Actions runner for the workflows pcr ships: every job, every step, in order.

It runs a workflow the way GitHub does for the parts pcr's workflows use: its jobs in
the order `needs:` gives them, each on a fresh machine (an empty workspace until
checkout, an empty RUNNER_TEMP, its own job summary), job `if:` conditions and
`outputs`, the `needs` context, reusable workflows (`uses: ./.github/workflows/…`
with `secrets: inherit` or secrets passed by name), and environments: a job with
`environment:` waits for a reviewer (the test's stand-in, who sees the jobs done so far
and the artifacts), and only then gets that environment's secrets. Within a job: `run:` steps under
`bash --noprofile --norc -eo pipefail`, the runner files (`GITHUB_OUTPUT`,
`GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`; multi-line values between
`NAME<<DELIMITER` lines), `if:` conditions, expressions,
job and step `env`, and composite actions (this repository's `action.yml`, as
`uses: ./` or `uses: OWNER/NAME@REF`) step by step with their own `inputs` and
`steps`. The Marketplace actions the workflows pin are stood in for: checkout (a
copy of the repository), setup-python (a Python 3.11, on PATH unless
`update-environment: false`, and its path as the output `python-path`), github-script (the
script itself, run by Node.js against a recording stand-in for the GitHub API), and
upload-artifact and download-artifact (copies kept for the run, hidden files left
out unless asked for, as v4 does). Anything else fails the test: a step this runner
cannot run is a step nobody tested.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from tests.artifact import base_python
from tests.artifact import offline_env

PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
STEP_TIMEOUT = 600  # a safety net only: every step ends by itself
ACTION_VENV = "pcr-venv"  # where the Action installs pcr, under RUNNER_TEMP (action.yml)


class UnsupportedStep(Exception):
    """The workflow uses something this runner does not know how to run."""


# --- expressions ------------------------------------------------------------------------

TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))"
    r"|(?P<call>(?:always|success|failure|cancelled)\(\))"
    r"|(?P<bool>true|false)\b|(?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*))"
)


def tokens(expression: str) -> list[tuple[str, str]]:
    found, position = [], 0
    expression = expression.strip()
    while position < len(expression):
        match = TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise UnsupportedStep(f"cannot read expression {expression!r} at {position}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


@dataclass
class Evaluator:
    """GitHub's expression language, the part pcr's workflows use."""

    contexts: dict[str, Any]
    status: dict[str, bool]  # "failure": an earlier step failed

    def value(self, expression: str) -> Any:
        self._tokens, self._at = tokens(expression), 0
        result = self._or()
        if self._at != len(self._tokens):
            raise UnsupportedStep(f"cannot read expression {expression!r}")
        return result

    def _peek(self) -> str:
        return self._tokens[self._at][1] if self._at < len(self._tokens) else ""

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._at += 1
            right = self._and()
            left = left or right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == "&&":
            self._at += 1
            right = self._compare()
            left = left and right
        return left

    def _compare(self) -> Any:
        left = self._unary()
        if self._peek() in ("==", "!="):
            operator = self._peek()
            self._at += 1
            right = self._unary()
            same = str(left if left is not None else "") == str(right if right is not None else "")
            return same if operator == "==" else not same
        return left

    def _unary(self) -> Any:
        kind, text = self._tokens[self._at]
        self._at += 1
        if text == "!":
            return not self._unary()
        if text == "(":
            inner = self._or()
            self._at += 1  # ")"
            return inner
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "bool":
            return text == "true"
        if kind == "call":
            return {
                "always()": True,
                "success()": not self.status["failure"],
                "failure()": self.status["failure"],
                "cancelled()": False,
            }[text]
        return self._lookup(text)

    def _lookup(self, dotted: str) -> Any:
        head, *rest = dotted.split(".")
        if head not in self.contexts:
            raise UnsupportedStep(f"unknown context {head!r} in {dotted!r}")
        node = self.contexts[head]
        for part in rest:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def expand(self, text: Any) -> Any:
        """`${{ … }}` replaced in a string; other values as they are."""
        if not isinstance(text, str):
            return text
        whole = EXPRESSION.fullmatch(text.strip())
        if whole and text.strip() == text:
            found = self.value(whole.group(1))
            return "" if found is None else found

        def one(match: re.Match[str]) -> str:
            found = self.value(match.group(1))
            if isinstance(found, bool):
                return str(found).lower()
            return "" if found is None else str(found)

        return EXPRESSION.sub(one, text)

    def condition(self, raw: Any) -> bool:
        if raw is None:
            return not self.status["failure"]  # success()
        text = str(raw).strip()
        if (whole := EXPRESSION.fullmatch(text)) is not None:
            text = whole.group(1)
        uses_status = re.search(r"\b(always|failure|success|cancelled)\(\)", text)
        result = bool(self.value(text))
        # An `if:` without a status function means `success() && (...)`.
        return result if uses_status else result and not self.status["failure"]


# --- the runner -------------------------------------------------------------------------


@dataclass
class GitHub:
    """What the stand-in GitHub API holds: the pull request's comments, the run's artifacts."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[list[Any]] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)  # this run's, by name
    downloads: list[tuple[str, Path]] = field(default_factory=list)  # (artifact, where to)
    warnings: list[str] = field(default_factory=list)  # what github-script scripts warned


@dataclass
class StepRun:
    name: str
    outcome: str  # success | failure | skipped
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # what a `run:` step's process saw
    inner: list[StepRun] = field(default_factory=list)  # a composite action's own steps
    inputs: dict[str, Any] = field(default_factory=dict)  # a `uses:` step's `with:`


@dataclass
class JobRun:
    name: str  # the job's id; `caller/called` for a job of a reusable workflow
    steps: list[StepRun]
    result: str = "success"  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    environment: str | None = None
    summary: str = ""  # what the job wrote to its job summary
    workspace: Path | None = None  # its checkout, as it was when the job ended

    @property
    def succeeded(self) -> bool:
        return self.result != "failure"

    @property
    def ran(self) -> bool:
        return self.result != "skipped"

    def file(self, relative: str) -> Path:
        """A path in the job's checkout, as it was when the job ended."""
        if self.workspace is None:
            raise KeyError(f"job {self.name} ran on no machine")
        return self.workspace / relative

    def step(self, name: str) -> StepRun:
        found = next((s for s in self.all_steps() if s.name == name), None)
        if found is None:
            raise KeyError(f"job {self.name} has no step {name!r}: {self.log}")
        return found

    def all_steps(self) -> Iterator[StepRun]:
        """Every step, a composite action's own steps right after the step that used it."""
        for step in self.steps:
            yield step
            yield from step.inner

    @property
    def log(self) -> str:
        steps = "\n".join(f"--- {s.name}: {s.outcome}\n{s.stdout}{s.stderr}" for s in self.steps)
        return f"=== job {self.name}: {self.result}\n{steps}"


@dataclass
class Review:
    """A job that waits for approval in an environment, and what its reviewer can see."""

    job: str
    environment: str
    jobs: dict[str, JobRun]  # the jobs of the run done so far: their summaries, their results
    artifacts: dict[str, Path]  # the run's artifacts so far


@dataclass
class WorkflowRun:
    run_id: int
    jobs: dict[str, JobRun] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)

    def job(self, name: str) -> JobRun:
        if name not in self.jobs:
            raise KeyError(f"no job {name!r} in this run: {sorted(self.jobs)}")
        return self.jobs[name]

    @property
    def succeeded(self) -> bool:
        return all(job.succeeded for job in self.jobs.values())

    @property
    def log(self) -> str:
        return "\n".join(job.log for job in self.jobs.values())


Reviewer = Callable[[Review], bool]


@dataclass
class Runner:
    """A repository's runners: each job on a fresh machine, its checkout a copy of `workspace`."""

    workspace: Path  # the repository at the commit the run is for: what checkout copies
    home: Path  # RUNNER_TEMP, the runner files and the jobs' checkouts live here
    action_path: Path  # where `uses: ./` or `uses: OWNER/NAME@REF` finds action.yml
    action_repository: str  # the OWNER/NAME that `uses:` names for this action
    event_name: str = "push"
    event: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # the repository's secrets
    environments: dict[str, dict[str, str]] = field(default_factory=dict)  # their secrets
    reviewer: Reviewer | None = None  # None approves every deployment
    # A machine image whose RUNNER_TEMP already holds the Action's installed environment
    # (made by a job that ran the install step): its install step then finds pcr
    # installed, as a second use in one job does. None: every job installs afresh.
    image: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # the runner machine's environment
    # Folders put first on the machine's PATH (a machine whose own Python is another).
    path_first: list[Path] = field(default_factory=list)
    # Who the job's token posts pull-request comments as: a GitHub App's token (the job's
    # own) shows as a Bot, a person's token as a User.
    comment_user: dict[str, str] = field(default_factory=lambda: {"type": "Bot"})
    github_api: GitHub = field(default_factory=GitHub)
    run_id: int = 1001  # the next run's id
    _run_id: int = 0  # the running one's
    _path: list[str] = field(default_factory=list)
    _job_env: dict[str, str] = field(default_factory=dict)  # env plus what GITHUB_ENV added
    _cwd: Path | None = None  # the running job's workspace
    _jobs_started: int = 0
    _sessions: list[int] = field(default_factory=list)
    _workflow: str = ""  # the name of the workflow that runs (the caller's, for a call)

    def __post_init__(self) -> None:
        self.temp.mkdir(parents=True, exist_ok=True)
        self.summary.touch()
        self._fresh_machine()

    @property
    def temp(self) -> Path:
        return self.home / "temp"

    @property
    def summary(self) -> Path:
        """The job summary of the job running (or of the last one run)."""
        return self.home / "step-summary.md"

    @property
    def cwd(self) -> Path:
        """The running job's workspace (the repository itself outside a job)."""
        return self._cwd or self.workspace

    def _fresh_machine(self) -> None:
        # The machine's tools, but no pcr: the workflow must install the one it runs.
        self._path = [str(d) for d in self.path_first] + [
            d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not _has_pcr(d)
        ]
        self._job_env = dict(self.env)

    # -- a workflow ------------------------------------------------------------------------

    def run(self, workflow: dict[str, Any]) -> WorkflowRun:
        """One run of `workflow`: every job, in the order `needs:` gives them."""
        run = WorkflowRun(self.run_id)
        self._run_id = self.run_id
        self._workflow = str(workflow.get("name") or "")
        self.run_id += 1
        self.github_api.artifacts = {}
        self.github_api.downloads = []
        self._jobs(workflow, run, self.secrets, prefix="")
        return run

    def _jobs(
        self, workflow: dict[str, Any], run: WorkflowRun, secrets: dict[str, str], prefix: str
    ) -> JobRun:
        """The workflow's jobs into `run`; one JobRun that stands for them all (for a caller)."""
        jobs: dict[str, Any] = workflow["jobs"]
        shell = ((workflow.get("defaults") or {}).get("run") or {}).get("shell", "bash")
        done: dict[str, JobRun] = {}
        while len(done) < len(jobs):
            ready = [
                job_id
                for job_id, spec in jobs.items()
                if job_id not in done and all(n in done for n in _needs(spec))
            ]
            if not ready:
                raise UnsupportedStep(f"jobs that need each other: {sorted(set(jobs) - set(done))}")
            job_id = ready[0]
            job = self._job(job_id, jobs[job_id], done, run, secrets, prefix, shell)
            done[job_id] = job
            run.jobs[prefix + job_id] = job
        failed = any(job.result == "failure" for job in done.values())
        return JobRun(prefix.rstrip("/"), [], "failure" if failed else "success")

    def _job(
        self,
        job_id: str,
        spec: dict[str, Any],
        done: dict[str, JobRun],
        run: WorkflowRun,
        secrets: dict[str, str],
        prefix: str,
        shell: str,
    ) -> JobRun:
        name = prefix + job_id
        needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in _needs(spec)}
        contexts = self._contexts(inputs={}, secrets=secrets, needs=needs)
        # A job runs when every job it needs succeeded, unless its `if:` says otherwise.
        upstream_failed = any(done[n].result != "success" for n in _needs(spec))
        if not Evaluator(contexts, {"failure": upstream_failed}).condition(spec.get("if")):
            return JobRun(name, [], "skipped")
        if "uses" in spec:
            return self._call(name, spec, contexts, run, secrets)
        environment = spec.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        if environment is not None:
            environment = str(environment)
            review = Review(name, environment, dict(run.jobs), dict(self.github_api.artifacts))
            run.reviews.append(review)
            if self.reviewer is not None and not self.reviewer(review):
                return JobRun(name, [StepRun("rejected", "failure")], "failure", {}, environment)
            contexts["secrets"] = secrets | self.environments.get(environment, {})
        return self._run_job(name, spec, contexts, environment, shell)

    def _call(
        self,
        name: str,
        spec: dict[str, Any],
        contexts: dict[str, Any],
        run: WorkflowRun,
        secrets: dict[str, str],
    ) -> JobRun:
        """A job that calls a reusable workflow of this repository."""
        uses = str(spec["uses"])
        if not uses.startswith("./.github/workflows/"):
            raise UnsupportedStep(f"{name}: only this repository's workflows are called: {uses}")
        called = load_workflow(self.workspace / uses)
        if not isinstance(called.get("on"), dict) or "workflow_call" not in called["on"]:
            raise UnsupportedStep(f"{name}: {uses} has no `on: workflow_call`")
        if spec.get("with"):
            raise UnsupportedStep(f"{name}: inputs to a called workflow")
        given = spec.get("secrets")
        if given == "inherit":
            passed = dict(secrets)
        else:
            evaluator = Evaluator(contexts, {"failure": False})
            passed = {k: str(evaluator.expand(v)) for k, v in (given or {}).items()}
        return self._jobs(called, run, passed, prefix=f"{name}/")

    def _run_job(
        self,
        name: str,
        spec: dict[str, Any],
        contexts: dict[str, Any],
        environment: str | None,
        shell: str,
    ) -> JobRun:
        # Each job starts on a fresh machine: an empty RUNNER_TEMP, summary and workspace.
        shutil.rmtree(self.temp)
        self.temp.mkdir()
        if self.image is not None:
            (self.temp / ACTION_VENV).symlink_to(self.image, target_is_directory=True)
        self.summary.write_text("")
        self._fresh_machine()
        self._jobs_started += 1
        machines = self.home / "jobs"
        machines.mkdir(parents=True, exist_ok=True)
        label = f"{self._run_id}-{self._jobs_started}-{name.replace('/', '-')}-"
        self._cwd = Path(tempfile.mkdtemp(prefix=label, dir=machines))
        contexts["github"]["workspace"] = str(self._cwd)
        evaluator = Evaluator(contexts, {"failure": False})
        job_env = {k: str(evaluator.expand(v)) for k, v in (spec.get("env") or {}).items()}
        try:
            steps = self._steps(spec["steps"], contexts, evaluator, job_env, shell=shell)
        finally:
            self.stop_background()
        outputs = {k: _text(evaluator.expand(v)) for k, v in (spec.get("outputs") or {}).items()}
        failed = any(s.outcome == "failure" for s in steps)
        return JobRun(
            name,
            steps,
            "failure" if failed else "success",
            outputs,
            environment,
            self.summary.read_text(encoding="utf-8"),
            self._cwd,
        )

    def stop_background(self) -> None:
        """What steps left running (a served fake) ends with the job, as on GitHub."""
        for session in self._sessions:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(session, signal.SIGTERM)
        self._sessions.clear()

    def _contexts(
        self,
        inputs: dict[str, Any],
        secrets: dict[str, str] | None = None,
        needs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "github": {
                "event_name": self.event_name,
                "event": self.event,
                "repository": "contoso-partner/estate",
                "run_id": str(self._run_id or self.run_id),
                "run_attempt": "1",
                "token": "ghs_stand-in-token",
                "workspace": str(self.cwd),
                "action_path": str(self.action_path),
                "workflow": self._workflow,
            },
            "secrets": dict(self.secrets if secrets is None else secrets),
            "vars": {},
            "runner": {"temp": str(self.temp), "os": "Linux"},
            "inputs": inputs,
            "needs": needs or {},
            "steps": {},
            "env": {},
        }

    def _steps(
        self,
        steps: list[dict[str, Any]],
        contexts: dict[str, Any],
        evaluator: Evaluator,
        env: dict[str, str],
        *,
        shell: str,
    ) -> list[StepRun]:
        done: list[StepRun] = []
        for index, step in enumerate(steps):
            name = str(evaluator.expand(step.get("name") or step.get("uses") or f"step {index}"))
            if not evaluator.condition(step.get("if")):
                done.append(StepRun(name, "skipped"))
                continue
            result = self._step(step, name, contexts, evaluator, env, shell)
            done.append(result)
            if "id" in step:
                contexts["steps"][step["id"]] = {
                    "outputs": result.outputs,
                    "outcome": result.outcome,
                }
            if result.outcome == "failure" and not step.get("continue-on-error"):
                evaluator.status["failure"] = True
        return done

    def _step(
        self,
        step: dict[str, Any],
        name: str,
        contexts: dict[str, Any],
        evaluator: Evaluator,
        env: dict[str, str],
        shell: str,
    ) -> StepRun:
        step_env = {k: str(evaluator.expand(v)) for k, v in (step.get("env") or {}).items()}
        if "run" in step:
            if step.get("shell", shell) != "bash":
                raise UnsupportedStep(f"{name}: shell {step.get('shell')!r}: pcr's steps use bash")
            return self._run(name, str(evaluator.expand(step["run"])), env | step_env)
        uses = str(step["uses"])
        with_ = {k: evaluator.expand(v) for k, v in (step.get("with") or {}).items()}
        if uses == "./" or uses.startswith(f"{self.action_repository}@"):
            result = self._composite(name, with_, env | step_env)
        else:
            if not PINNED.match(uses):
                raise UnsupportedStep(f"{name}: {uses} is not pinned to a commit")
            action = uses.split("@", 1)[0]
            stand_in = STAND_INS.get(action)
            if stand_in is None:
                raise UnsupportedStep(f"{name}: no stand-in for {action}")
            result = stand_in(self, name, with_, env | step_env)
        result.inputs = with_
        return result

    # -- steps -----------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        """The runner machine's environment: offline pip, the runner files, no PCR_*."""
        env = offline_env()
        env = {k: v for k, v in env.items() if not k.startswith("GITHUB_")}
        return (
            env
            | self._job_env
            | {
                "PATH": os.pathsep.join(self._path),
                "HOME": str(self.home),
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": str(self.cwd),
                "GITHUB_EVENT_NAME": self.event_name,
                "GITHUB_RUN_ID": str(self._run_id or self.run_id),
                "GITHUB_RUN_ATTEMPT": "1",
                "GITHUB_WORKFLOW": self._workflow,
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "RUNNER_TEMP": str(self.temp),
                "NO_COLOR": "1",
            }
        )

    def _run(self, name: str, script: str, env: dict[str, str]) -> StepRun:
        files = {key: self.home / f"{key.lower()}-{len(self._sessions)}" for key in _RUNNER_FILES}
        for path in files.values():
            path.write_text("")
        script_file = self.temp / "step.sh"
        script_file.write_text(script, encoding="utf-8")
        process_env = self.base_env() | env | {k: str(p) for k, p in files.items()}
        process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=self.cwd,
            env=process_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so what it leaves running can be stopped with the job
        )
        self._sessions.append(process.pid)
        stdout, stderr = process.communicate(timeout=STEP_TIMEOUT)
        self._job_env |= _pairs(files["GITHUB_ENV"].read_text())
        for directory in reversed(files["GITHUB_PATH"].read_text().splitlines()):
            self._path.insert(0, directory)
        outcome = "success" if process.returncode == 0 else "failure"
        outputs = _pairs(files["GITHUB_OUTPUT"].read_text())
        return StepRun(name, outcome, stdout, stderr, outputs, process_env)

    def _composite(self, name: str, with_: dict[str, Any], env: dict[str, str]) -> StepRun:
        action = yaml.safe_load((self.action_path / "action.yml").read_text(encoding="utf-8"))
        if action["runs"]["using"] != "composite":
            raise UnsupportedStep(f"{name}: only composite actions run here")
        inputs: dict[str, Any] = {}
        outer = Evaluator(self._contexts(inputs={}), {"failure": False})
        for key, spec in (action.get("inputs") or {}).items():
            if key in with_:
                inputs[key] = _text(with_[key])
            elif spec.get("required"):
                raise UnsupportedStep(f"{name}: required input {key!r} is missing")
            else:
                inputs[key] = outer.expand(spec.get("default", ""))
        unknown = set(with_) - set(action.get("inputs") or {})
        if unknown:
            raise UnsupportedStep(f"{name}: inputs {sorted(unknown)} are not the action's")
        # A composite action sees no secrets: only what its inputs hand it.
        contexts = self._contexts(inputs, secrets={})
        evaluator = Evaluator(contexts, {"failure": False})
        inner_env = env | {"GITHUB_ACTION_PATH": str(self.action_path)}
        steps = self._steps(action["runs"]["steps"], contexts, evaluator, inner_env, shell="bash")
        outputs = {
            key: _text(evaluator.expand(spec["value"]))
            for key, spec in (action.get("outputs") or {}).items()
        }
        failed = any(s.outcome == "failure" for s in steps)
        return StepRun(
            name,
            "failure" if failed else "success",
            "".join(f"--- {s.name}: {s.outcome}\n{s.stdout}" for s in steps),
            "".join(s.stderr for s in steps),
            outputs,
            inner=steps,
        )


def _needs(spec: dict[str, Any]) -> list[str]:
    needs = spec.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def _text(value: Any) -> str:
    """An expression's value as GitHub hands it on (inputs, outputs): a string."""
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


_RUNNER_FILES = ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")


def _pairs(text: str) -> dict[str, str]:
    """A runner file's values, as GitHub's runner reads them: `NAME=value` lines, and
    multi-line values between `NAME<<DELIMITER` and a line that is exactly DELIMITER."""
    found: dict[str, str] = {}
    lines = text.split("\n")
    at = 0
    while at < len(lines):
        line = lines[at]
        at += 1
        equals, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (equals == -1 or heredoc < equals):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not name or not delimiter:
                raise UnsupportedStep(f"a runner file line GitHub refuses: {line!r}")
            try:
                end = lines.index(delimiter, at)
            except ValueError:
                raise UnsupportedStep(f"{name}: no line {delimiter!r} ends its value") from None
            found[name] = "\n".join(lines[at:end])
            at = end + 1
        elif equals > 0:
            found[line[:equals]] = line[equals + 1 :]
        elif line.strip():
            raise UnsupportedStep(f"a runner file line GitHub refuses: {line!r}")
    return found


def _has_pcr(directory: str) -> bool:
    return (Path(directory) / "pcr").exists()


# --- stand-ins for the pinned Marketplace actions -----------------------------------------


def _checkout(runner: Runner, name: str, with_: dict[str, Any], env: dict[str, str]) -> StepRun:
    # A token left in .git/config would reach every later step.
    if with_.get("persist-credentials") not in (False, "false"):
        return StepRun(name, "failure", stderr="checkout must not persist credentials")
    if with_.get("fetch-depth") not in (None, 0, "0"):
        raise UnsupportedStep(f"{name}: only a full checkout (fetch-depth: 0) is copied here")
    unknown = set(with_) - {"persist-credentials", "fetch-depth"}
    if unknown:
        raise UnsupportedStep(f"{name}: checkout with {sorted(unknown)}")
    # The job's machine gets the repository at the run's commit: a copy of it, with its
    # whole history (all that fetch-depth: 0 asks for).
    shutil.copytree(runner.workspace, runner.cwd, symlinks=True, dirs_exist_ok=True)
    return StepRun(name, "success")


def _setup_python(runner: Runner, name: str, with_: dict[str, Any], env: dict[str, str]) -> StepRun:
    version = str(with_.get("python-version", ""))
    if version != "3.11":
        raise UnsupportedStep(f"{name}: this machine has Python 3.11, not {version!r}")
    if unknown := set(with_) - {"python-version", "update-environment"}:
        raise UnsupportedStep(f"{name}: setup-python with {sorted(unknown)}")
    shim = runner.home / "python-3.11" / "bin"
    shim.mkdir(parents=True, exist_ok=True)
    for command in ("python", "python3"):
        if not (shim / command).exists():
            (shim / command).symlink_to(base_python())
    if str(with_.get("update-environment", "true")).lower() != "false":
        runner._path.insert(0, str(shim))
    return StepRun(name, "success", outputs={"python-path": str(shim / "python")})


UPLOAD_INPUTS = {"name", "path", "if-no-files-found", "include-hidden-files", "retention-days"}


def _upload_artifact(
    runner: Runner, name: str, with_: dict[str, Any], env: dict[str, str]
) -> StepRun:
    if unknown := set(with_) - UPLOAD_INPUTS:
        raise UnsupportedStep(f"{name}: upload-artifact with {sorted(unknown)}")
    artifact = str(with_.get("name") or "artifact")
    paths = [line.strip() for line in str(with_["path"]).splitlines() if line.strip()]
    if len(paths) != 1:
        raise UnsupportedStep(f"{name}: upload-artifact of {len(paths)} paths")
    if artifact in runner.github_api.artifacts:
        # v4: an artifact's name is taken once per run.
        return StepRun(name, "failure", stderr=f"an artifact named {artifact} already exists")
    source = runner.cwd / paths[0]  # an absolute path stays as it is
    hidden = str(with_.get("include-hidden-files", "false")).lower() == "true"
    files: list[tuple[Path, Path]] = []
    if source.is_file():
        files = [(source, Path(source.name))]
    elif source.is_dir():
        files = [(f, f.relative_to(source)) for f in sorted(source.rglob("*")) if f.is_file()]
    if not hidden:
        # v4.4 and later leave out hidden files, also those under a hidden folder named as path.
        root_hidden = source.name.startswith(".")
        files = [
            (f, rel)
            for f, rel in files
            if not root_hidden and not any(part.startswith(".") for part in rel.parts)
        ]
    if not files:
        how = str(with_.get("if-no-files-found", "warn"))
        outcome = "failure" if how == "error" else "success"
        return StepRun(name, outcome, stderr=f"no files at {source}")
    target = runner.home / "artifacts" / str(runner._run_id) / artifact
    for found, relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(found, target / relative)
    runner.github_api.artifacts[artifact] = target
    number = len(runner.github_api.artifacts)
    url = f"https://github.example/contoso-partner/estate/actions/runs/{runner._run_id}"
    outputs = {"artifact-id": str(number), "artifact-url": f"{url}/artifacts/{number}"}
    return StepRun(name, "success", outputs=outputs)


def _download_artifact(
    runner: Runner, name: str, with_: dict[str, Any], env: dict[str, str]
) -> StepRun:
    if unknown := set(with_) - {"name", "path"}:
        raise UnsupportedStep(f"{name}: download-artifact with {sorted(unknown)}")
    if not with_.get("name"):
        raise UnsupportedStep(f"{name}: download-artifact of every artifact")
    artifact = str(with_["name"])
    stored = runner.github_api.artifacts.get(artifact)
    if stored is None:
        return StepRun(name, "failure", stderr=f"Unable to download artifact(s): {artifact}")
    target = runner.cwd / str(with_.get("path") or ".")
    shutil.copytree(stored, target, dirs_exist_ok=True)
    runner.github_api.downloads.append((artifact, target))
    return StepRun(name, "success", outputs={"download-path": str(target)})


GITHUB_SCRIPT = """
const state = JSON.parse(require('fs').readFileSync(process.env.STAND_IN_STATE, 'utf8'));
let nextId = Math.max(0, ...state.comments.map((c) => c.id)) + 1;
const record = (call) => { state.calls.push(call); };
const refused = () => Object.assign(new Error('Resource not accessible by integration'), {
  status: 403,
});
const github = {
  paginate: async (method, params) => { record(['list', params]); return state.comments; },
  rest: {
    // A person's token says whose it is; an app's (the job's own) may not ask.
    users: { getAuthenticated: async () => {
      if (state.user.type !== 'User') throw refused();
      return { data: { login: state.user.login } };
    } },
    issues: {
    listComments: 'listComments',
    updateComment: async (params) => {
      record(['update', params]);
      const comment = state.comments.find((c) => c.id === params.comment_id);
      if (comment.locked) throw refused(); // a comment this token may not edit
      comment.body = params.body;
    },
    createComment: async (params) => {
      record(['create', params]);
      state.comments.push({ id: nextId++, user: state.user, body: params.body });
    },
  } },
};
const event = JSON.parse(process.env.STAND_IN_EVENT);
const context = {
  repo: { owner: 'contoso-partner', repo: 'estate' },
  issue: { number: (event.pull_request || {}).number },
  runId: Number(process.env.GITHUB_RUN_ID), serverUrl: 'https://github.example',
  payload: event, workflow: process.env.GITHUB_WORKFLOW,
};
const core = { warning: (message) => { state.warnings.push(message); } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const script = new AsyncFunction('github', 'context', 'core', 'require', process.env.SCRIPT);
script(github, context, core, require).then(() => {
  require('fs').writeFileSync(process.env.STAND_IN_STATE, JSON.stringify(state));
});
"""


def _github_script(
    runner: Runner, name: str, with_: dict[str, Any], env: dict[str, str]
) -> StepRun:
    node = shutil.which("node")
    if node is None:
        raise UnsupportedStep("Node.js is needed to run github-script steps")
    if not with_.get("github-token"):
        return StepRun(name, "failure", stderr="github-script needs a token")
    state_file = runner.home / "github-api.json"
    api = runner.github_api
    state = {"comments": api.comments, "calls": [], "warnings": [], "user": runner.comment_user}
    state_file.write_text(json.dumps(state))
    done = subprocess.run(
        [node, "-e", GITHUB_SCRIPT],
        cwd=runner.cwd,
        env=runner.base_env()
        | env
        | {
            "SCRIPT": str(with_["script"]),
            "STAND_IN_STATE": str(state_file),
            "STAND_IN_EVENT": json.dumps(runner.event),
        },
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    if done.returncode == 0:
        state = json.loads(state_file.read_text())
        api.comments, api.calls = state["comments"], api.calls + state["calls"]
        api.warnings += state["warnings"]
    outcome = "success" if done.returncode == 0 else "failure"
    return StepRun(name, outcome, done.stdout, done.stderr)


StandIn = Callable[[Runner, str, dict[str, Any], dict[str, str]], StepRun]
STAND_INS: dict[str, StandIn] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "actions/upload-artifact": _upload_artifact,
    "actions/download-artifact": _download_artifact,
    "actions/github-script": _github_script,
}


def load_workflow(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as the boolean true
        data["on"] = data.pop(True)
    return data


def every_step(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])  # a job that calls a reusable workflow has none
