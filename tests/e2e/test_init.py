"""`pcr init`: a ready desired-state repository, through the installed pcr."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from reconciler import __version__
from reconciler.scaffold import repository as scaffold
from tests.artifact import REPO
from tests.artifact import Installed
from tests.artifact import offline_env
from tests.artifact import run_pcr
from tests.conftest import EXAMPLE
from tests.workflows.release import release_commit
from tests.workflows.release import released_pcr

NOW = "2026-11-22T09:00:00Z"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.M)
EXPECTED = {
    ".github/workflows/pcr-apply.yml",
    ".github/workflows/pcr-drift.yml",
    ".github/workflows/pcr-plan.yml",
    ".github/workflows/pcr-reconcile.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "desired-state/customers/.gitkeep",
    "desired-state/partner.yaml",
    "examples/customers/example.yaml",
    "schemas/customer.schema.json",
    "schemas/partner.schema.json",
}


def pcr(installed: Installed, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_pcr(installed.pcr, *args, cwd=cwd)


def pcr_with(
    installed: Installed, *args: str | Path, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """The installed pcr with more in its environment (HOME, PATH, GIT_DIR)."""
    return subprocess.run(
        [str(installed.pcr), *map(str, args)],
        cwd=cwd,
        env=offline_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo.parent)}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@pcr.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@pcr.invalid"}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


DIRECT = ("--partner-type", "direct")


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """pcr as the release workflow builds it: it knows the commit it was built from."""
    return released_pcr(tmp_path_factory)


@pytest.fixture
def repo(installed: Installed, tmp_path: Path) -> Path:
    done = pcr(installed, "init", "estate", *DIRECT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return tmp_path / "estate"


def files_in(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def assert_modelines_resolve(files: list[Path]) -> None:
    assert files
    for path in files:
        found = MODELINE.search(path.read_text(encoding="utf-8"))
        assert found is not None, f"{path} has no schema modeline"
        target = (path.parent / found.group(1)).resolve()
        assert target.is_file(), f"{path}: its modeline points at {target}, which is not there"
        expected = "partner" if path.name == "partner.yaml" else "customer"
        assert target.name == f"{expected}.schema.json"


def test_init_writes_a_ready_repository(repo: Path, installed: Installed) -> None:
    assert files_in(repo) == EXPECTED
    for name in ("customer", "partner"):
        shipped = REPO / "reconciler" / "schemas" / f"{name}.schema.json"
        assert (repo / "schemas" / f"{name}.schema.json").read_bytes() == shipped.read_bytes()
    assert_modelines_resolve(
        [repo / "desired-state/partner.yaml", repo / "examples/customers/example.yaml"]
    )
    validated = pcr(installed, "validate", cwd=repo)  # the default: ./desired-state
    assert validated.returncode == 0, validated.stderr
    assert "0 customers, no problems" in validated.stderr
    workflow = (repo / ".github/workflows/pcr-plan.yml").read_text()
    assert "uses: partnercenter-reconciler/pcr@v0.1.0" in workflow
    hooks = (repo / ".pre-commit-config.yaml").read_text()
    assert "repo: https://github.com/partnercenter-reconciler/pcr" in hooks
    assert "rev: v0.1.0" in hooks and "id: pcr-validate" in hooks


def test_the_example_customer_validates_once_copied_in(repo: Path, installed: Installed) -> None:
    shutil.copy(
        repo / "examples/customers/example.yaml", repo / "desired-state/customers/contoso.yaml"
    )
    validated = pcr(installed, "validate", "desired-state", cwd=repo)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "1 customer, no problems" in validated.stderr
    assert_modelines_resolve([repo / "desired-state/customers/contoso.yaml"])


def test_with_customers_added_it_plans_against_the_fake(repo: Path, installed: Installed) -> None:
    shutil.copytree(EXAMPLE / "customers", repo / "desired-state/customers", dirs_exist_ok=True)
    shutil.copy(EXAMPLE / "fake-state.json", repo / "fake-state.json")
    planned = pcr(installed, "plan", "--fake", "fake-state.json", "--now", NOW, cwd=repo)
    assert planned.returncode == 0, planned.stderr
    assert "IRREVERSIBLE" in planned.stdout


def test_a_second_init_keeps_what_is_there(repo: Path, installed: Installed) -> None:
    partner = repo / "desired-state/partner.yaml"
    partner.write_text(partner.read_text().replace("type: direct", "type: indirect_provider"))
    workflow = repo / ".github/workflows/pcr-drift.yml"
    workflow.write_text("# ours now\n")
    again = pcr(installed, "init", ".", cwd=repo)
    assert again.returncode == 0, again.stderr
    counted = f"{len(EXPECTED)} files: 0 written, {len(EXPECTED) - 2} unchanged, 2 kept"
    assert counted in again.stderr
    assert "partner.yaml: differs, kept (your settings: never replaced)" in again.stdout
    assert "pcr-drift.yml: differs, kept (--force replaces it)" in again.stdout
    assert workflow.read_text() == "# ours now\n"
    forced = pcr(installed, "init", ".", "--force", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert f"{len(EXPECTED)} files: 1 written, {len(EXPECTED) - 2} unchanged, 1 kept" in (
        forced.stderr
    )
    assert "uses: partnercenter-reconciler/pcr@" in workflow.read_text()
    assert "type: indirect_provider" in partner.read_text(), "partner.yaml is never replaced"


def test_init_names_another_home_for_the_action(installed: Installed, tmp_path: Path) -> None:
    done = pcr(installed, "init", "x", "--repository", "fork/pcr", "--ref", "v9", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "uses: fork/pcr@v9" in (tmp_path / "x/.github/workflows/pcr-apply.yml").read_text()
    bad = pcr(installed, "init", "y", "--repository", "not-a-repository", cwd=tmp_path)
    assert bad.returncode == 1
    assert "is not OWNER/NAME" in bad.stderr and "Traceback" not in bad.stderr


def test_without_a_partner_type_nothing_plans_until_it_is_set(
    installed: Installed, tmp_path: Path
) -> None:
    """Who the partner is decides whether pcr may remove relationships: it is never assumed."""
    done = pcr(installed, "init", "estate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    partner = tmp_path / "estate/desired-state/partner.yaml"
    assert f"set partner.type in {Path('estate/desired-state/partner.yaml')}" in done.stderr
    refused = pcr(installed, "validate", cwd=tmp_path / "estate")
    assert refused.returncode == 1
    assert "partner.yaml:6:9: partner.type: 'unset' is not allowed; use one of: direct," in (
        refused.stdout + refused.stderr
    )
    partner.unlink()
    chosen = pcr(installed, "init", "estate", "--partner-type", "indirect_reseller", cwd=tmp_path)
    assert chosen.returncode == 0 and "set partner.type" not in chosen.stderr
    assert "  type: indirect_reseller\n" in partner.read_text()
    assert pcr(installed, "validate", cwd=tmp_path / "estate").returncode == 0


def test_init_into_a_file_is_an_error(installed: Installed, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    done = pcr(installed, "init", "taken", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "taken" in done.stderr


def test_imported_files_modelines_resolve_in_an_init_repository(
    installed: Installed, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLE / "fake-state.json", tmp_path / "state.json")
    assert pcr(installed, "init", "estate", *DIRECT, cwd=tmp_path).returncode == 0
    out = tmp_path / "estate" / "desired-state"
    done = pcr(installed, "import", "--fake", "state.json", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    schemas = tmp_path / "estate" / "schemas"
    assert f"modelines point at the JSON Schemas in {schemas}, for editors" in done.stderr
    assert_modelines_resolve([out / "partner.yaml", *sorted((out / "customers").glob("*.yaml"))])


# --- what a second run says ---------------------------------------------------------------


def test_init_again_says_every_file_is_there_unchanged(repo: Path, installed: Installed) -> None:
    again = pcr(installed, "init", ".", *DIRECT, cwd=repo)
    assert again.returncode == 0, again.stderr
    assert f"{len(EXPECTED)} files: 0 written, {len(EXPECTED)} unchanged, 0 kept." in again.stderr
    unchanged = {
        str(Path(line.removeprefix("unchanged ")))
        for line in again.stdout.splitlines()
        if line.startswith("unchanged ")
    }
    assert unchanged == EXPECTED
    assert "wrote" not in again.stdout and "kept" not in again.stdout


# --- .gitignore ---------------------------------------------------------------------------


def test_the_state_and_saved_plans_are_kept_out_of_git(repo: Path) -> None:
    git(repo, "init", "-q")
    ignored = [".pcr/journal-1.jsonl", ".pcr/plan.json", "plan.json", "pr-7.plan.json"]
    ignored.append("desired-state/plan.json")
    kept = ["desired-state/partner.yaml", ".github/workflows/pcr-apply.yml", "plans.json"]
    for name in ignored + kept:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).touch()
    done = subprocess.run(
        ["git", "check-ignore", *ignored, *kept], cwd=repo, capture_output=True, text=True
    )
    assert done.stdout.split() == ignored


def test_an_existing_gitignore_is_kept_and_init_says_what_it_lacks(
    installed: Installed, tmp_path: Path
) -> None:
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate/.gitignore").write_text("node_modules/\n.pcr/\n")
    done = pcr(installed, "init", "estate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "estate/.gitignore").read_text() == "node_modules/\n.pcr/\n"
    assert (
        "estate/.gitignore: differs, kept (--force replaces it); it lacks plan.json, *.plan.json"
        in done.stdout
    )


# --- what --repository and --ref accept ---------------------------------------------------

BAD_REFS = [
    "main branch",  # a space
    "v1..2",
    "-v1",
    ".v1",
    "v1.lock",
    "v1.",
    'v1"',
    "v1'",
    "v1\nrun: curl evil",
    "v1 # comment",
    "v1:x",
    "${{ github.token }}",
    "$(touch x)",
    "`touch x`",
    "v1;touch x",
    "refs//tags",
    "@{-1}",
    "v1*",
    "",
    "0123abc",  # a shortened commit
    "A" * 40,  # a commit in capitals
    "v" * 201,
]


@pytest.mark.parametrize("ref", BAD_REFS)
def test_ref_is_a_tag_or_a_whole_commit(installed: Installed, tmp_path: Path, ref: str) -> None:
    done = pcr(installed, "init", "estate", "--ref", ref, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("pcr: --ref ") and done.stderr.count("\n") == 1
    assert "neither a tag" in done.stderr or "looks like a commit" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "estate").exists()


BAD_REPOSITORIES = [
    "not-a-repository",
    "owner/name/more",
    "/name",
    "owner/",
    "-owner/name",
    "own er/name",
    "owner/na me",
    "owner/..",
    "owner/.",
    "owner/name@v1",
    "owner/name # x",
    "owner/name\nx: y",
    "owner:x/name",
    "${{ secrets.X }}/name",
    "o" * 40 + "/name",
    "owner/" + "n" * 101,
]


@pytest.mark.parametrize("repository", BAD_REPOSITORIES)
def test_repository_is_a_github_owner_and_name(
    installed: Installed, tmp_path: Path, repository: str
) -> None:
    done = pcr(installed, "init", "estate", "--repository", repository, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("pcr: --repository ") and "is not OWNER/NAME" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "estate").exists()


FORK = "my-org/pcr_fork.2"


def plan_step_uses(root: Path) -> str:
    workflow = yaml.safe_load((root / ".github/workflows/pcr-plan.yml").read_text())
    return str(workflow["jobs"]["plan"]["steps"][1]["uses"])


@pytest.mark.parametrize("ref", ["v0.1.0", "v2", "1.2.3-rc.1+build.5", "release/v1", "stable"])
def test_a_tag_names_the_action_by_that_tag(installed: Installed, tmp_path: Path, ref: str) -> None:
    done = pcr(installed, "init", "x", "--repository", FORK, "--ref", ref, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert plan_step_uses(tmp_path / "x") == f"{FORK}@{ref}"
    hooks = yaml.safe_load((tmp_path / "x/.pre-commit-config.yaml").read_text())
    assert hooks["repos"][0]["rev"] == ref
    assert f"name {FORK} by the tag {ref}, which can be moved" in done.stderr
    assert f"git ls-remote https://github.com/{FORK} refs/tags/{ref}" in done.stderr
    assert "--force --ref COMMIT" in done.stderr


def test_a_commit_as_ref_pins_the_action_and_the_hook_by_it(
    installed: Installed, tmp_path: Path
) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    done = pcr(installed, "init", "x", "--repository", FORK, "--ref", commit, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert plan_step_uses(tmp_path / "x") == f"{FORK}@{commit}"
    text = (tmp_path / "x/.github/workflows/pcr-drift.yml").read_text()
    assert f"uses: {FORK}@{commit}\n" in text
    hooks = yaml.safe_load((tmp_path / "x/.pre-commit-config.yaml").read_text())
    assert hooks["repos"][0]["rev"] == commit
    assert f"pin {FORK} by commit" in done.stderr


# --- pinned by the commit a release was built from ---------------------------------------


def test_a_released_pcr_pins_the_action_by_the_commit_it_was_built_from(
    released: Installed, tmp_path: Path
) -> None:
    commit = release_commit(released)
    done = pcr(released, "init", "estate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    estate = tmp_path / "estate"
    ours = f"uses: {scaffold.REPOSITORY}@{commit} # v{__version__}\n"
    for name in ("pcr-plan.yml", "pcr-apply.yml", "pcr-drift.yml"):
        text = (estate / ".github/workflows" / name).read_text()
        assert ours in text and f"@v{__version__}" not in text.replace(ours, ""), name
    hooks = (estate / ".pre-commit-config.yaml").read_text()
    assert f"rev: {commit}  # frozen: v{__version__}\n" in hooks
    assert yaml.safe_load(hooks)["repos"][0]["rev"] == commit
    assert f"pin {scaffold.REPOSITORY} by commit" in done.stderr
    assert "can be moved" not in done.stderr


def test_a_released_pcr_names_a_fork_or_another_tag_by_tag(
    released: Installed, tmp_path: Path
) -> None:
    """The commit it knows is its own tag's, in its own repository: a fork's tag of the
    same name, or another tag, may be another commit."""
    fork = pcr(released, "init", "a", "--repository", FORK, cwd=tmp_path)
    assert fork.returncode == 0, fork.stderr
    assert plan_step_uses(tmp_path / "a") == f"{FORK}@v{__version__}"
    other = pcr(released, "init", "b", "--ref", "v0.0.9", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert plan_step_uses(tmp_path / "b") == f"{scaffold.REPOSITORY}@v0.0.9"
    assert "can be moved" in fork.stderr and "can be moved" in other.stderr


def test_a_pcr_built_from_source_says_its_workflows_are_pinned_by_tag(
    installed: Installed, tmp_path: Path
) -> None:
    done = pcr(installed, "init", "again", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert plan_step_uses(tmp_path / "again") == f"{scaffold.REPOSITORY}@v{__version__}"
    assert f"by the tag v{__version__}, which can be moved. To pin them by its commit" in (
        done.stderr
    )


def distribution(direct_url: dict[str, Any] | None) -> Any:
    text = None if direct_url is None else json.dumps(direct_url)
    return SimpleNamespace(read_text=lambda name: text if name == "direct_url.json" else None)


GIT_INSTALL = {
    "url": "https://github.com/partnercenter-reconciler/pcr",
    "vcs_info": {"vcs": "git", "requested_revision": "v0.1.0", "commit_id": "c" * 40},
}


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (GIT_INSTALL, scaffold.Release("partnercenter-reconciler/pcr", "v0.1.0", "c" * 40)),
        (
            GIT_INSTALL | {"url": "https://token@github.com/Fork/pcr.git"},
            scaffold.Release("Fork/pcr", "v0.1.0", "c" * 40),
        ),
        (GIT_INSTALL | {"url": "https://gitlab.com/partnercenter-reconciler/pcr"}, None),
        (GIT_INSTALL | {"url": "http://github.com/partnercenter-reconciler/pcr"}, None),
        (GIT_INSTALL | {"vcs_info": {"vcs": "git", "commit_id": "c" * 40}}, None),
        (GIT_INSTALL | {"vcs_info": {"vcs": "hg", "commit_id": "c" * 40}}, None),
        ({"url": "file:///src/pcr", "dir_info": {}}, None),
        (None, None),
    ],
)
def test_pip_installed_from_git_the_commit_it_got_is_known(
    monkeypatch: pytest.MonkeyPatch, direct_url: dict[str, Any] | None, expected: Any
) -> None:
    """`pipx install git+https://github.com/OWNER/NAME@TAG`: pip records the commit."""
    monkeypatch.setattr(scaffold.metadata, "distribution", lambda name: distribution(direct_url))
    assert scaffold.installed_release() == expected


def test_pin_by_the_known_commit_only_for_its_own_repository_and_tag() -> None:
    release = scaffold.Release("partnercenter-reconciler/pcr", "v0.1.0", "c" * 40)
    pinned = scaffold.pin(scaffold.Source("PartnerCenter-Reconciler/PCR", "v0.1.0"), release)
    assert pinned.action == f"PartnerCenter-Reconciler/PCR@{'c' * 40} # v0.1.0"
    assert scaffold.pin(scaffold.Source("fork/pcr", "v0.1.0"), release).commit is None
    assert scaffold.pin(scaffold.Source(ref="v0.2.0"), release).commit is None
    assert scaffold.pin(scaffold.Source(ref="d" * 40), release).action == (
        f"{scaffold.REPOSITORY}@{'d' * 40}"
    )


# --- the branch the workflows apply from --------------------------------------------------


def apply_branches(root: Path) -> list[str]:
    workflow = yaml.safe_load((root / ".github/workflows/pcr-apply.yml").read_text())
    return list(workflow[True]["push"]["branches"])  # YAML 1.1 reads `on` as true


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME of the test's own: no git configuration but what the test writes."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_the_branch_is_the_repositorys_origin_default(
    installed: Installed, tmp_path: Path, home: Path
) -> None:
    estate = tmp_path / "estate"
    estate.mkdir()
    git(estate, "init", "-q", "-b", "work")
    git(estate, "commit", "-q", "--allow-empty", "-m", "start")
    git(estate, "update-ref", "refs/remotes/origin/production", "HEAD")
    git(estate, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/production")
    done = pcr_with(installed, "init", "estate", cwd=tmp_path, HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert apply_branches(estate) == ["production"]
    assert "apply from the branch 'production' (the default branch of the repository's origin" in (
        done.stderr
    )
    apply = (estate / ".github/workflows/pcr-apply.yml").read_text()
    assert "after a merge to production" in apply and "main" not in apply
    assert "plan against production" in (estate / ".github/workflows/pcr-reconcile.yml").read_text()


def test_without_a_remote_the_branch_is_the_current_one(
    installed: Installed, tmp_path: Path, home: Path
) -> None:
    estate = tmp_path / "estate"
    estate.mkdir()
    git(estate, "init", "-q", "-b", "trunk")  # no commit yet: the branch is there all the same
    # A GIT_DIR left in the environment (by a hook, say) is not what pcr asks.
    done = pcr_with(
        installed, "init", "estate/sub/..", cwd=tmp_path, HOME=str(home), GIT_DIR="/nowhere"
    )
    assert done.returncode == 0, done.stderr
    assert apply_branches(estate) == ["trunk"]
    assert "(the repository's current branch; --branch NAME for another)" in done.stderr


def test_a_folder_still_to_be_made_is_asked_about_through_its_parent(
    installed: Installed, tmp_path: Path, home: Path
) -> None:
    git(tmp_path, "init", "-q", "-b", "estates")
    done = pcr_with(installed, "init", "new/estate", cwd=tmp_path, HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert apply_branches(tmp_path / "new/estate") == ["estates"]


def test_outside_a_repository_gits_default_then_main(
    installed: Installed, tmp_path: Path, home: Path
) -> None:
    plain = pcr_with(installed, "init", "a", cwd=tmp_path, HOME=str(home))
    assert plain.returncode == 0, plain.stderr
    assert apply_branches(tmp_path / "a") == ["main"]
    assert "(pcr's default; --branch NAME for another)" in plain.stderr
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = develop\n")
    configured = pcr_with(installed, "init", "b", cwd=tmp_path, HOME=str(home))
    assert configured.returncode == 0, configured.stderr
    assert apply_branches(tmp_path / "b") == ["develop"]
    assert "(git's init.defaultBranch" in configured.stderr


def test_branch_given_wins_and_is_checked(installed: Installed, tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "trunk")
    done = pcr(installed, "init", "a", "--branch", "release/2026.1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert apply_branches(tmp_path / "a") == ["release/2026.1"]
    assert "(--branch)" in done.stderr
    for bad in ["a b", "a..b", "-x", ".x", "x.lock", "x/", "*", "x:y", "x#y", "HEAD", "v1'"]:
        refused = pcr(installed, "init", "b", "--branch", bad, cwd=tmp_path)
        assert refused.returncode == 1, bad
        assert refused.stderr.startswith("pcr: --branch ") and refused.stderr.count("\n") == 1
        assert not (tmp_path / "b").exists()


def test_a_repositorys_branch_the_workflows_cannot_use_is_an_error(
    installed: Installed, tmp_path: Path, home: Path
) -> None:
    git(tmp_path, "init", "-q", "-b", "fix#12")
    done = pcr_with(installed, "init", "a", cwd=tmp_path, HOME=str(home))
    assert done.returncode == 1
    assert "'fix#12' is not a branch name the workflows can use" in done.stderr
    assert "(the repository's current branch): pass --branch NAME" in done.stderr
    assert not (tmp_path / "a").exists()


def test_no_git_or_a_git_that_hangs_is_main(
    installed: Installed, tmp_path: Path, home: Path
) -> None:
    none = pcr_with(installed, "init", "a", cwd=tmp_path, HOME=str(home), PATH="/nowhere")
    assert none.returncode == 0, none.stderr
    assert apply_branches(tmp_path / "a") == ["main"]
    assert "(pcr's default: no git" in none.stderr
    hanging = tmp_path / "bin"
    hanging.mkdir()
    # A git that never answers, and leaves a child behind that holds its output open.
    (hanging / "git").write_text("#!/bin/sh\nsleep 600 &\nsleep 600\n")
    (hanging / "git").chmod(0o755)
    slow = pcr_with(
        installed, "init", "b", cwd=tmp_path, HOME=str(home), PATH=f"{hanging}:/usr/bin:/bin"
    )
    assert slow.returncode == 0, slow.stderr
    assert apply_branches(tmp_path / "b") == ["main"]
    assert "git did not answer in 5 s" in slow.stderr
