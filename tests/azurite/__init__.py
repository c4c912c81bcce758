"""Azurite, the Azure Storage emulator, for the Blob Storage state backend's tests.

`make test` installs it from the npm registry (`tests/azurite/package.json`, locked).
Each test session starts one blob service on a free loopback port, in memory, with
telemetry off (it would otherwise try to reach the internet), and stops it at the end.
Tests that need it skip only where Node.js itself is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
AZURITE = HERE / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LISTENING = re.compile(r"listens on (http://127\.0\.0\.1:\d+)")
STOP_SECONDS = 30  # a safety net for a hung emulator, not a measure of speed


@dataclass(frozen=True)
class Azurite:
    url: str  # the blob endpoint root, http://127.0.0.1:PORT

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.url}/{ACCOUNT};"
        )

    def new_container(self) -> str:
        """A fresh, empty container: each test its own state."""
        from azure.storage.blob import BlobServiceClient

        name = f"pcr-{uuid.uuid4().hex[:12]}"
        BlobServiceClient.from_connection_string(self.connection_string).create_container(name)
        return name


def missing_reason() -> str | None:
    """Why Azurite cannot run here, or None. Only a missing Node.js is a reason to skip."""
    if shutil.which("node") is None:
        return "Node.js is not installed: the Blob Storage backend tests need Azurite"
    return None


@contextmanager
def running() -> Iterator[Azurite]:
    if not AZURITE.exists():
        raise RuntimeError(f"{AZURITE} is missing: run `make test` (it runs npm ci in {HERE})")
    process = subprocess.Popen(
        [
            str(AZURITE),
            *("--blobHost", "127.0.0.1", "--blobPort", "0"),
            *("--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck"),
            *("--loose", "--silent"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen = []
        # Its banner is the event that it listens; nothing is waited on by the clock.
        for line in process.stdout:
            seen.append(line)
            if found := LISTENING.search(line):
                break
        else:
            raise RuntimeError("Azurite stopped before it listened:\n" + "".join(seen))
        # Keep reading what it prints, so that a full pipe never stalls it.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield Azurite(found.group(1))
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
