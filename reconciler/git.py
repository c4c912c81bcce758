"""git, as pcr asks it things: which commit an apply runs from, what a pull request changed,
which branch a new repository applies from. One way to run it, bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import PcrError

# A local git answers in well under a second; this long, it is hung.
GIT_SECONDS = 60.0
# git's answers are read, so they are asked for in plain English, and git never waits for a
# password or takes a lock it does not need.
_QUIET = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
# What git may see of pcr's environment when asked about the user's own setup: where it is,
# and the user's configuration; never a GIT_DIR, GIT_WORK_TREE or the like left by a hook.
_OWN_SETUP = ("PATH", "HOME", "XDG_CONFIG_HOME", "SYSTEMROOT")


class GitUnavailable(PcrError):
    """git is not there, or did not answer in time: asking it again would not help."""


@dataclass(frozen=True)
class Answer:
    code: int
    out: bytes
    err: str  # the last line git wrote on stderr

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")


def git(
    cwd: Path, *args: str, seconds: float = GIT_SECONDS, own_setup_only: bool = False
) -> Answer:
    """`git args` in `cwd`. `own_setup_only`: git sees only the user's configuration of pcr's
    environment. On a timeout git is killed with whatever it started."""
    env = dict(os.environ)
    if own_setup_only:
        env = {key: value for key, value in env.items() if key in _OWN_SETUP}
    try:
        process = subprocess.Popen(
            ["git", "-C", str(cwd), *args],
            env=env | _QUIET,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,  # its own group: a timeout ends what it started too
        )
    except OSError as exc:
        raise GitUnavailable(f"no git ({exc.strerror or exc})") from exc
    with process:
        try:
            out, err = process.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise GitUnavailable(f"git did not answer in {seconds:g} s") from None
    last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    return Answer(process.returncode, out, last)
