"""The commit an apply is credited with: HEAD, or HEAD "with uncommitted changes" and a hash
of the difference when the desired state differs from it (an apply from edits nobody
committed is not credited to a commit that lacks them)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reconciler.apply.state import commit
from tests.apply.support import NOW
from tests.apply.support import make_estate
from tests.apply.support import run_pcr


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed example estate in a git repository of its own."""
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    make_estate(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "estate")
    return tmp_path


def test_a_clean_tree_is_its_commit(repository: Path) -> None:
    assert commit(repository / "desired-state") == git(repository, "rev-parse", "HEAD")


def test_edits_and_new_files_are_said_with_a_hash_of_them(repository: Path) -> None:
    desired = repository / "desired-state"
    head = git(repository, "rev-parse", "HEAD")
    contoso = desired / "customers" / "contoso.yaml"
    contoso.write_text(contoso.read_text() + "protected: true\n")
    edited = commit(desired)
    assert edited.startswith(f"{head} with uncommitted changes (sha256:")

    (desired / "customers" / "new.yaml").write_text("tenant_id: x\n")
    with_new = commit(desired)
    assert with_new.startswith(f"{head} with uncommitted changes (sha256:")
    assert with_new != edited  # the hash tells one difference from another

    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "both")
    assert commit(desired) == git(repository, "rev-parse", "HEAD")


def test_edits_that_are_not_utf8_are_hashed_as_they_are(repository: Path) -> None:
    """A note in Latin-1 beside the customer files, changed and new: git's diff of it is
    bytes, hashed as such (never decoded)."""
    desired = repository / "desired-state"
    (desired / "notes-latin1.txt").write_bytes("Müller, Zürich\n".encode("latin-1"))
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "notes")
    head = git(repository, "rev-parse", "HEAD")
    (desired / "notes-latin1.txt").write_bytes("Müller, Genève\n".encode("latin-1"))
    (desired / "nouveau-é.txt".encode("latin-1").decode("utf-8", "surrogateescape")).write_bytes(
        b"\xe9t\xe9\n"
    )
    assert commit(desired).startswith(f"{head} with uncommitted changes (sha256:")


def test_a_folder_outside_any_repository_has_no_commit(tmp_path: Path) -> None:
    assert commit(tmp_path) == ""


def test_an_apply_from_a_dirty_tree_says_so_in_the_audit_trail(
    repository: Path, pcr_executable: str
) -> None:
    fabrikam = repository / "desired-state" / "customers" / "fabrikam.yaml"
    fabrikam.write_text(fabrikam.read_text().replace("auto_renew: false", "auto_renew: true"))
    args = ("--desired", "desired-state", "--fake", "live.json", "--now", NOW)
    applied = run_pcr(
        pcr_executable, "apply", *args, "--auto-approve", "--only", "fabrikam.yaml", cwd=repository
    )
    assert applied.returncode == 0, applied.stderr
    records = [json.loads(line) for line in (repository / ".pcr" / "audit.jsonl").open()]
    head = git(repository, "rev-parse", "HEAD")
    assert records and all(
        r["commit"].startswith(f"{head} with uncommitted changes (sha256:") for r in records
    )
    shown = run_pcr(
        pcr_executable, "history", "fabrikam", "--desired", "desired-state", cwd=repository
    )
    assert f"commit {head[:12]} with uncommitted changes (sha256:" in shown.stdout
