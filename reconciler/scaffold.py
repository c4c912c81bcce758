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

The contents are built by pure functions from templates shipped in the package;
`write_files` is the only part that touches the disk, and it never replaces a
file that exists unless asked to (and the partner's own settings never).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler import __version__
from reconciler.validate import CUSTOMERS_DIR, PARTNER_FILE, SCHEMA_NAMES, schema_path

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Where this project lives on GitHub: the Action and the pre-commit hook come from it.
# A fork passes its own with `pcr init --repository`.
REPOSITORY = "partnercenter-reconciler/pcr"
DESIRED_DIR = "desired-state"
SCHEMAS_DIR = "schemas"
# As deep as a customer file, so that its modeline resolves here and once copied in.
EXAMPLE_CUSTOMER = "examples/customers/example.yaml"
WORKFLOWS = ("pcr-plan.yml", "pcr-apply.yml", "pcr-reconcile.yml", "pcr-drift.yml")
# The partner's own settings: written once, never replaced.
KEPT = frozenset({f"{DESIRED_DIR}/{PARTNER_FILE}"})


@dataclass(frozen=True)
class Source:
    """Where the Action and the pre-commit hook are taken from: OWNER/NAME at a tag."""

    repository: str = REPOSITORY
    ref: str = f"v{__version__}"

    @property
    def action(self) -> str:
        return f"{self.repository}@{self.ref}"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}"


def _template(name: str, source: Source) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    return (
        text.replace("@PCR_ACTION@", source.action)
        .replace("@PCR_REPOSITORY_URL@", source.url)
        .replace("@PCR_REF@", source.ref)
    )


def schema_files(root: str = SCHEMAS_DIR) -> dict[str, str]:
    """The JSON Schemas, under `root`, as this pcr validates with them."""
    return {
        f"{root}/{name}.schema.json": schema_path(name).read_text(encoding="utf-8")
        for name in SCHEMA_NAMES
    }


def repository_files(source: Source) -> dict[str, str]:
    """Every file of a new desired-state repository, by its path inside the repository."""
    files = {
        f"{DESIRED_DIR}/{PARTNER_FILE}": _template("partner.yaml", source),
        # git keeps no empty folders; the loader only reads *.yaml and *.yml here.
        f"{DESIRED_DIR}/{CUSTOMERS_DIR}/.gitkeep": "",
        EXAMPLE_CUSTOMER: _template("customer.example.yaml", source),
        **schema_files(),
        ".pre-commit-config.yaml": _template("pre-commit-config.yaml", source),
        ".gitignore": _template("gitignore", source),
    }
    for name in WORKFLOWS:
        files[f".github/workflows/{name}"] = _template(f"workflows/{name}", source)
    return files


def write_schema_files(root: Path) -> WriteResult:
    """The schemas under `root`/schemas, where desired-state files' modelines point."""
    return write_files(root, schema_files())


@dataclass
class WriteResult:
    written: list[Path] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "path: why", one per file not written


def write_files(
    root: Path, files: dict[str, str], *, force: bool = False, kept: Iterable[str] = KEPT
) -> WriteResult:
    """Write `files` under `root`; an existing file is kept unless `force` (never if in `kept`)."""
    result = WriteResult()
    never = set(kept)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        replace = force and relative not in never
        if write_file(path, text, replace=replace):
            result.written.append(path)
        elif path.read_bytes() != text.encode("utf-8"):
            how = "kept" if relative in never else "kept (--force replaces it)"
            result.kept.append(f"{path}: exists, {how}")
    return result


def write_file(path: Path, text: str, *, replace: bool) -> bool:
    """Write `text` to `path`; False when it exists and may not be replaced."""
    try:
        # "x" creates or fails, so a file that appears meanwhile is not overwritten either.
        with path.open("w" if replace else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        return False
    return True
