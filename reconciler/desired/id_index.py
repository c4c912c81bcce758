"""Which customer files mention which ids: how a scoped run checks the rest of the estate.

A scoped run (`--only`, `--changed-since`, a saved scoped plan) parses and validates only
the customers in its scope, yet must be sure that no other file declares the same tenant or
subscription: two files for one tenant are two opinions about what to do to it. Parsing
100,000 files to learn that takes seconds; this index takes a fraction of it, without
building any YAML.

Why it is safe: a file declares an id only by writing its 36 characters (in either case).
YAML builds text out of other characters only through the escapes of double-quoted
scalars, and every escape starts with a backslash; folding a value over lines puts a space
into it, which no GUID has. So the index records, for every GUID-shaped run of characters
anywhere in a file (comments included), the files that hold it, and sets apart every file
with a backslash in it, or that cannot be read as a plain file. A file the index names for
an id, or sets apart, is parsed and validated the normal way; a file it does not name for
an id cannot declare that id.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from reconciler.desired.marked_yaml import MAX_FILE_BYTES

# Bytes, lower-cased before the search: a GUID is ASCII, and so is all that can spell one.
_GUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
# Below this many files one process is quicker than starting workers.
PARALLEL_FROM = 5000


@dataclass
class IdIndex:
    """Every GUID written in the customer files, and the names of the files that write it."""

    mentions: dict[bytes, list[str]] = field(default_factory=dict)  # lower-case id -> names
    # Files that must be parsed to know what they declare: a backslash in them, or not a
    # plain readable file of at most the loader's size (the loader says what is wrong).
    unusual: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, folder: Path, names: list[str]) -> IdIndex:
        """The index of the files `names` in `folder`; a large estate's on every core."""
        workers = min(os.cpu_count() or 1, 8)
        if len(names) < PARALLEL_FROM or workers < 2:
            return _build(str(folder), names)
        # Only a large estate's: not imported up front (it slows every start-up).
        from concurrent.futures import ProcessPoolExecutor

        size = -(-len(names) // workers)
        chunks = [names[i : i + size] for i in range(0, len(names), size)]
        built = cls()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_build, [str(folder)] * len(chunks), chunks):
                built.unusual += part.unusual
                for id_, found in part.mentions.items():
                    built.mentions.setdefault(id_, []).extend(found)
        return built

    def candidates(self, ids: Iterable[str]) -> list[str]:
        """The names of the files that may declare any of `ids` (lower case): those that
        write one of them, and the unusual ones. Sorted, each once."""
        found = {name for id_ in ids for name in self.mentions.get(id_.encode(), ())}
        return sorted(found.union(self.unusual))


def _build(folder: str, names: list[str]) -> IdIndex:
    built = IdIndex()
    mentions = built.mentions
    for name in names:
        data = _plain_bytes(os.path.join(folder, name))
        if data is None or b"\\" in data:
            built.unusual.append(name)
            continue
        for found in set(_GUID.findall(data.lower())):
            mentions.setdefault(found, []).append(name)
    return built


def _plain_bytes(path: str) -> bytes | None:
    """The file's bytes if it is a regular file (or a link to one) the loader would read."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        data = os.read(fd, MAX_FILE_BYTES + 1)
        return data if len(data) == info.st_size else None  # changing as it is read
    except OSError:
        return None
    finally:
        os.close(fd)
