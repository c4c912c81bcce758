"""A partner's desired-state repository: the files `pcr init` writes, and the schemas.

The repository layout is the one this project's own example uses, so that the
modelines in customer files (`../../schemas/customer.schema.json`) and in
`partner.yaml` (`../schemas/partner.schema.json`) resolve in either:

    desired-state/partner.yaml
    desired-state/customers/          one file per customer
    schemas/*.schema.json             what editors validate the files against
    examples/customers/example.yaml   an annotated customer, not read by pcr
    .github/workflows/pcr-*.yml       plan on pull requests, a gated apply on merge, a daily
                                      reconcile through the same gate, daily drift
    .pre-commit-config.yaml           `pcr validate` before each commit
    .gitignore                        pcr's state (.pcr/) and saved plans

The contents are built by pure functions from templates shipped in the package;
`write_files` is the only part that touches the disk, and it never replaces a
file that exists unless asked to (and the partner's own settings never).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from reconciler import __version__
from reconciler.desired.load import CUSTOMERS_DIR
from reconciler.desired.load import PARTNER_FILE
from reconciler.desired.load import SCHEMA_NAMES
from reconciler.desired.load import schema_path
from reconciler.desired.model import PartnerType

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# Where this project lives on GitHub: the Action and the pre-commit hook come from it.
# A fork passes its own with `pcr init --repository`.
REPOSITORY = "partnercenter-reconciler/pcr"
# The distribution's name on PyPI (`pcr` there is somebody else's package).
DISTRIBUTION = "partnercenter-reconciler"
DESIRED_DIR = "desired-state"
SCHEMAS_DIR = "schemas"
# As deep as a customer file, so that its modeline resolves here and once copied in.
EXAMPLE_CUSTOMER = "examples/customers/example.yaml"
WORKFLOWS = ("pcr-plan.yml", "pcr-apply.yml", "pcr-reconcile.yml", "pcr-drift.yml")
# The partner's own settings: written once, never replaced.
KEPT = frozenset({f"{DESIRED_DIR}/{PARTNER_FILE}"})
# The branch the workflows apply from when nothing says otherwise.
DEFAULT_BRANCH = "main"

# What `pcr init` puts into the files it writes, checked first: every value lands in YAML
# (and the Action's in a `uses:`), so none may carry a space, a quote, `#`, `:`, `$`, `{`
# or anything else that YAML, a shell or an expression would read.
# GitHub's own rules: an owner is letters, digits and hyphens (not first), at most 39; a
# repository name letters, digits, `.`, `_` and `-`, at most 100, and neither `.` nor `..`.
OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}")
NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
COMMIT = re.compile(r"[0-9a-f]{40}")
SHORT_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")  # a commit, shortened or in capitals
# A tag or a branch: git's ref rules, within a safe character set (glob characters too
# are left out: a branch lands in an `on: push: branches:` filter).
REF_PART = r"[A-Za-z0-9_][A-Za-z0-9._+-]*"
TAG = re.compile(rf"{REF_PART}(?:/{REF_PART})*")
BRANCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
REF_MAX = 200


def repository_problem(repository: str) -> str | None:
    """Why `repository` is not a GitHub OWNER/NAME (None when it is one)."""
    owner, slash, name = repository.partition("/")
    if slash and OWNER.fullmatch(owner) and NAME.fullmatch(name) and name not in (".", ".."):
        return None
    return (
        f"{repository!r} is not OWNER/NAME (a GitHub owner: letters, digits and -; "
        "a repository name: letters, digits, ., _ and -)"
    )


def _ref_rules(ref: str) -> bool:
    """git's rules for a ref name, on top of the character sets above."""
    return (
        len(ref) <= REF_MAX
        and ".." not in ref
        and not ref.endswith(".")
        and not any(part.endswith(".lock") for part in ref.split("/"))
    )


def ref_problem(ref: str) -> str | None:
    """Why `ref` is neither a tag nor a full commit (None when it is one of them)."""
    if COMMIT.fullmatch(ref):
        return None
    if SHORT_COMMIT.fullmatch(ref):
        return f"{ref!r} looks like a commit: give all 40 of its hex digits, in lowercase"
    if TAG.fullmatch(ref) and _ref_rules(ref):
        return None
    return (
        f"{ref!r} is neither a tag (like v{__version__}: letters, digits, ., _, +, - and /, "
        "no '..') nor a commit (its 40 lowercase hex digits)"
    )


def branch_problem(branch: str) -> str | None:
    """Why `branch` cannot be the branch the workflows apply from (None when it can)."""
    if BRANCH.fullmatch(branch) and _ref_rules(branch) and branch != "HEAD":
        return None
    return (
        f"{branch!r} is not a branch name the workflows can use (letters, digits, ., _, - "
        "and /, no '..', not starting with - or .)"
    )


@dataclass(frozen=True)
class Release:
    """Where this installed pcr was built from: a repository, the tag, its commit."""

    repository: str
    tag: str
    commit: str


def installed_release() -> Release | None:
    """The commit this pcr was built from, when it is known, else None.

    Two places know it. The release workflow (.github/workflows/release.yml) writes
    `reconciler/_release.py` (REPOSITORY, TAG and COMMIT) into the tree it builds the
    sdist and the wheel from, so every package on PyPI carries it; a checkout of the
    source does not have that file. And pip, installing from git
    (`pipx install git+https://github.com/OWNER/NAME@TAG`), records the tag it was asked
    for and the commit it got (direct_url.json, PEP 610). Nothing here asks the network.
    """
    try:
        module = importlib.import_module("reconciler._release")
    except ImportError:
        pass
    else:
        found = Release(
            str(getattr(module, "REPOSITORY", "")),
            str(getattr(module, "TAG", "")),
            str(getattr(module, "COMMIT", "")),
        )
        return found if _sound(found) else None
    return _installed_from_git()


def _installed_from_git() -> Release | None:
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
        recorded = json.loads(text or "null")
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("vcs_info"), dict):
        return None
    vcs = recorded["vcs_info"]
    url = urlsplit(str(recorded.get("url", "")))
    path = url.path.strip("/").removesuffix(".git")
    if vcs.get("vcs") != "git" or url.scheme != "https" or url.hostname != "github.com":
        return None
    found = Release(path, str(vcs.get("requested_revision") or ""), str(vcs.get("commit_id")))
    return found if _sound(found) else None


def _sound(release: Release) -> bool:
    return (
        repository_problem(release.repository) is None
        and ref_problem(release.tag) is None
        and COMMIT.fullmatch(release.commit) is not None
    )


@dataclass(frozen=True)
class Source:
    """Where the Action and the pre-commit hook are taken from: OWNER/NAME at a tag (or a
    commit), and the commit that tag names when it is known, to pin them by."""

    repository: str = REPOSITORY
    ref: str = f"v{__version__}"
    commit: str | None = None

    @property
    def pinned(self) -> bool:
        return self.commit is not None

    @property
    def action(self) -> str:
        """What a workflow's `uses:` says: by commit, with the tag as a comment, when known."""
        if self.commit is None:
            return f"{self.repository}@{self.ref}"
        if self.commit == self.ref:
            return f"{self.repository}@{self.commit}"
        return f"{self.repository}@{self.commit} # {self.ref}"

    @property
    def rev(self) -> str:
        """The pre-commit hook's `rev:`, pinned as `pre-commit autoupdate --freeze` does."""
        if self.commit is None or self.commit == self.ref:
            return self.ref
        return f"{self.commit}  # frozen: {self.ref}"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}"


def pin(source: Source, release: Release | None) -> Source:
    """`source`, pinned by commit when that commit is known: `ref` is itself a commit, or
    it is the tag this installed pcr was built from, in the repository it was built in (a
    fork's tag of the same name may name another commit)."""
    if COMMIT.fullmatch(source.ref):
        return replace(source, commit=source.ref)
    if (
        release is not None
        and release.repository.lower() == source.repository.lower()
        and release.tag == source.ref
    ):
        return replace(source, commit=release.commit)
    return replace(source, commit=None)


# partner.type until the partner says which they are: no type pcr knows, so every command
# but `pcr validate` (which says what to write) refuses the desired state. An indirect
# reseller is never taken for a direct partner by default.
UNSET_PARTNER_TYPE = "unset  # set it: direct, indirect_provider or indirect_reseller"


def partner_type_to_set(path: Path) -> str:
    """What to tell whoever gets a partner.yaml whose type is not set yet."""
    types = ", ".join(t.value for t in PartnerType)
    return (
        f"set partner.type in {path} (one of {types}): pcr plans nothing until it knows who "
        "the partner is"
    )


def partner_settings(partner_type: PartnerType | None) -> str:
    """partner.yaml as pcr writes it, for `partner_type` (None: not known yet)."""
    text = (TEMPLATES / "partner.yaml").read_text(encoding="utf-8")
    return text.replace(
        "@PARTNER_TYPE@", partner_type.value if partner_type else UNSET_PARTNER_TYPE
    )


def _template(name: str, source: Source, branch: str = DEFAULT_BRANCH) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    return (
        text.replace("@PCR_ACTION@", source.action)
        .replace("@PCR_REPOSITORY_URL@", source.url)
        .replace("@PCR_REV@", source.rev)
        .replace("@PCR_BRANCH@", branch)
    )


def schema_files(root: str = SCHEMAS_DIR) -> dict[str, str]:
    """The JSON Schemas, under `root`, as this pcr validates with them."""
    return {
        f"{root}/{name}.schema.json": schema_path(name).read_text(encoding="utf-8")
        for name in SCHEMA_NAMES
    }


def repository_files(
    source: Source, branch: str = DEFAULT_BRANCH, partner_type: PartnerType | None = None
) -> dict[str, str]:
    """Every file of a new desired-state repository, by its path inside the repository;
    the workflows apply from `branch`."""
    files = {
        f"{DESIRED_DIR}/{PARTNER_FILE}": partner_settings(partner_type),
        # git keeps no empty folders; the loader only reads *.yaml and *.yml here.
        f"{DESIRED_DIR}/{CUSTOMERS_DIR}/.gitkeep": "",
        EXAMPLE_CUSTOMER: _template("customer.example.yaml", source),
        **schema_files(),
        ".pre-commit-config.yaml": _template("pre-commit-config.yaml", source),
        ".gitignore": _template("gitignore", source),
    }
    for name in WORKFLOWS:
        files[f".github/workflows/{name}"] = _template(f"workflows/{name}", source, branch)
    return files


def write_schema_files(root: Path) -> WriteResult:
    """The schemas under `root`/schemas, where desired-state files' modelines point."""
    return write_files(root, schema_files())


@dataclass
class WriteResult:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)  # there already, byte for byte
    kept: list[str] = field(default_factory=list)  # "path: why", one per file that differs

    @property
    def count(self) -> int:
        """Every file asked for: each is written, unchanged or kept."""
        return len(self.written) + len(self.unchanged) + len(self.kept)


def write_files(
    root: Path, files: dict[str, str], *, force: bool = False, kept: Iterable[str] = KEPT
) -> WriteResult:
    """Write `files` under `root`; an existing file is kept unless `force` (never if in `kept`)."""
    result = WriteResult()
    never = set(kept)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        if path.is_file() and path.read_bytes() == data:
            result.unchanged.append(path)
        elif write_file(path, text, replace=force and relative not in never):
            result.written.append(path)
        elif relative in never:
            result.kept.append(f"{path}: differs, kept (your settings: never replaced)")
        else:
            why = "differs, kept (--force replaces it)"
            if missing := _missing_lines(path, text):
                why += f"; it lacks {', '.join(missing)}"
            result.kept.append(f"{path}: {why}")
    return result


def _missing_lines(path: Path, text: str) -> list[str]:
    """The entries of an ignore file that an existing one lacks (none for other files)."""
    if path.name != ".gitignore":
        return []
    have = set(path.read_text(encoding="utf-8", errors="replace").split())
    wanted = [line.strip() for line in text.splitlines()]
    return [line for line in wanted if line and not line.startswith("#") and line not in have]


def write_file(path: Path, text: str, *, replace: bool) -> bool:
    """Write `text` to `path`; False when it exists and may not be replaced."""
    try:
        # "x" creates or fails, so a file that appears meanwhile is not overwritten either.
        with path.open("w" if replace else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        return False
    return True
