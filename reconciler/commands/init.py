"""`pcr init`: write a ready desired-state repository for a partner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.commands import OK
from reconciler.commands import say
from reconciler.desired.model import PartnerType
from reconciler.errors import PcrError
from reconciler.errors import prefixed
from reconciler.git import GitUnavailable
from reconciler.git import git
from reconciler.scaffold import repository as scaffold

# git answers these from local files: a second is plenty, five seconds a hung git.
GIT_TIMEOUT = 5


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    source: scaffold.Source
    force: bool = False
    branch: str | None = None  # None: DIRECTORY's repository's default branch
    partner_type: PartnerType | None = None  # None: partner.yaml says to set it


def run(options: InitOptions) -> int:
    source = options.source
    if problem := scaffold.repository_problem(source.repository):
        raise PcrError(f"--repository {problem}")
    if problem := scaffold.ref_problem(source.ref):
        raise PcrError(f"--ref {problem}")
    if options.branch is not None:
        branch, where = options.branch, "--branch"
    else:
        branch, where = default_branch(options.directory)
    if problem := scaffold.branch_problem(branch):
        if options.branch is not None:
            raise PcrError(f"--branch {problem}")
        raise PcrError(f"{problem} ({where}): pass --branch NAME")
    source = scaffold.pin(source, scaffold.installed_release())
    files = scaffold.repository_files(source, branch, options.partner_type)
    with prefixed(f"cannot write to {options.directory}", OSError):
        result = scaffold.write_files(options.directory, files, force=options.force)
    for path in result.written:
        click.echo(f"wrote {path}")
    for path in result.unchanged:
        click.echo(f"unchanged {path}")
    for kept in result.kept:
        click.echo(f"kept {kept}")
    say(
        f"{result.count} files: {len(result.written)} written, "
        f"{len(result.unchanged)} unchanged, {len(result.kept)} kept."
    )
    if options.branch is None:
        where += "; --branch NAME for another"
    say(f"the workflows apply from the branch {branch!r} ({where}).")
    if source.pinned:
        say(f"the workflows and the pre-commit hook pin {source.repository} by commit.")
    else:
        tag = f"refs/tags/{source.ref}"
        say(
            f"the workflows and the pre-commit hook name {source.repository} by the tag "
            f"{source.ref}, which can be moved. To pin them by its commit, look it up "
            f"(`git ls-remote {source.url} {tag} '{tag}^{{}}'`: the last line) and run "
            f"`pcr init {options.directory} --force --ref COMMIT`."
        )
    desired = options.directory / scaffold.DESIRED_DIR
    example = options.directory / scaffold.EXAMPLE_CUSTOMER
    partner = desired / "partner.yaml"
    if options.partner_type is None and partner in result.written:
        say(f"{scaffold.partner_type_to_set(partner)}.")
    say(
        f"next: copy {example} into {desired / 'customers'} "
        f"(or run `pcr import --out {desired}`), and run `pcr validate {desired}`"
    )
    return OK


def default_branch(directory: Path) -> tuple[str, str]:
    """The branch the workflows apply from, and where it comes from: `directory`'s git
    repository's default branch (its origin's, else its current branch), else git's
    init.defaultBranch, else main. A directory outside any repository, or no git, is fine."""
    where = _existing(directory)
    try:
        remote = _git(where, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        if remote and remote.startswith("origin/"):
            return remote.removeprefix("origin/"), "the default branch of the repository's origin"
        if current := _git(where, "symbolic-ref", "--quiet", "--short", "HEAD"):
            return current, "the repository's current branch"
        if configured := _git(where, "config", "--get", "init.defaultBranch"):
            return configured, "git's init.defaultBranch"
    except GitUnavailable as exc:
        return scaffold.DEFAULT_BRANCH, f"pcr's default: {exc}"
    return scaffold.DEFAULT_BRANCH, "pcr's default"


def _existing(directory: Path) -> Path:
    """`directory`, or the nearest folder above it that exists (it may not, yet)."""
    path = directory.absolute()
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def _git(cwd: Path, *args: str) -> str | None:
    """What git prints, stripped; None when it says no (not a repository, no such ref)."""
    answer = git(cwd, *args, seconds=GIT_TIMEOUT, own_setup_only=True)
    return answer.text.strip() or None if answer.ok else None
