"""The `pcr` that users install, built and installed the way they do it, without a network.

`build_and_install` snapshots the working tree (the files git would commit),
builds the sdist and, from that sdist, the wheel (`python -m build`, an isolated
build as pip does it), then installs the wheel into a fresh virtual environment.
Every package comes from the wheelhouse of locked dependencies that `make test`
downloads (`PCR_WHEELHOUSE`), so nothing here reaches the package index, and the
machine's own pip configuration is ignored so that a test sees what a user gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"


class ArtifactError(Exception):
    """The package could not be built or installed: the message holds the tool's output."""


@dataclass(frozen=True)
class Installed:
    source: Path  # the snapshot both were built from
    wheel: Path
    sdist: Path
    venv: Path
    build_log: str

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def pcr(self) -> Path:
        return self.bin / "pcr"

    def dump(self) -> dict[str, str]:
        return {name: str(value) for name, value in vars(self).items()}

    @classmethod
    def load(cls, fields: dict[str, str]) -> Installed:
        paths = {name: Path(value) for name, value in fields.items() if name != "build_log"}
        return cls(**paths, build_log=fields["build_log"])


def wheelhouse() -> Path:
    found = os.environ.get("PCR_WHEELHOUSE") or str(REPO / ".venv" / "wheelhouse")
    path = Path(found)
    if not (path / ".complete").is_file():
        raise ArtifactError(f"no wheelhouse at {path}: run `make test`, which downloads it")
    return path


def offline_env(**extra: str) -> dict[str, str]:
    """An environment in which pip installs only from the wheelhouse, as a clean user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PCR_"))}
    env.pop("PYTHONPATH", None)  # the source tree must not be importable beside the install
    # Byte-compiling on is the default a user has; this machine may turn it off, and
    # setuptools then warns about it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env | {
        "PIP_CONFIG_FILE": os.devnull,  # no machine-wide index, find-links or constraints
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse()),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **extra,
    }


def run(command: list[str | Path], *, cwd: Path | None = None, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise ArtifactError(f"{' '.join(map(str, command))} failed:\n{output}")
    return output


def run_pcr(
    executable: Path | str, *args: str | Path, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """An installed `pcr`, offline, its output captured, whatever its exit code."""
    return subprocess.run(
        [str(executable), *map(str, args)],
        cwd=cwd,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def snapshot(target: Path) -> Path:
    """A copy of the files git would commit now: tracked and new, not ignored, not deleted."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not (source.exists() or source.is_symlink()):
            continue  # deleted in the working tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)
    return target


def base_python() -> str:
    """The interpreter under the dev virtual environment: a fresh venv must not inherit it."""
    return getattr(sys, "_base_executable", None) or sys.executable


def make_venv(path: Path, *, with_pip: bool = True) -> Path:
    """A fresh virtual environment; without pip of its own, it is quicker to make (another
    pip installs into it: `install_into`)."""
    options = [] if with_pip else ["--without-pip"]
    run([base_python(), "-m", "venv", *options, path], cwd=path.parent, env=offline_env())
    return path


def install_into(venv: Path, *requirements: str | Path, cwd: Path) -> None:
    """pip, the dev environment's, installing into `venv`, as users' installs do (compiled)."""
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install"]
    run([*pip, "--quiet", *requirements], cwd=cwd, env=offline_env())


def build_and_install(workdir: Path) -> Installed:
    source = snapshot(workdir / "source")
    dist = workdir / "dist"
    build_log = run(
        [sys.executable, "-m", "build", "--outdir", dist, source], cwd=workdir, env=offline_env()
    )
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    venv = make_venv(workdir / "venv", with_pip=False)
    # With the Blob Storage state backend's extra, as the GitHub Action installs it.
    install_into(venv, f"{wheel}[azure]", cwd=workdir)
    return Installed(source, wheel, sdist, venv, build_log)
