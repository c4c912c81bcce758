"""The shared state backend: a Blob Storage container that every runner uses.

As Terraform's `azurerm` backend does, the apply lock is a lease on a blob:
acquired for LEASE_SECONDS, renewed while the run lives, so a runner that dies
lets go within a minute; a live holder's lease is broken only by `pcr unlock`
naming that holder. The journals and the audit trail are append blobs beside
it: each record is one `append_block`, which lands whole or not at all, and
runners on different machines append to the same trail.

Credentials: AZURE_STORAGE_CONNECTION_STRING when set (Azurite in tests, a
developer's machine), else azure-identity's DefaultAzureCredential for
`account_url` (a managed or federated identity in CI). No credential is ever
put in a message.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError
from azure.core.exceptions import HttpResponseError
from azure.core.exceptions import ResourceExistsError
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient
from azure.storage.blob import BlobLeaseClient
from azure.storage.blob import BlobServiceClient
from azure.storage.blob import ContainerClient

from reconciler.apply.state import AppendedInTurn
from reconciler.apply.state import Holder
from reconciler.apply.state import LockedError
from reconciler.apply.state import Notice
from reconciler.apply.state import StateError
from reconciler.desired.model import StateSettings

LOCK_NAME = "apply.lock"
LEASE_SECONDS = 60  # the service allows 15 to 60, or infinite
RENEW_EVERY_SECONDS = 15.0
# Bounded retries and timeouts: a storage outage fails the run in seconds, not minutes.
CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3, "connection_timeout": 10, "read_timeout": 30}
CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
_SECRET = re.compile(r"(sig|AccountKey|SharedAccessSignature)=[^&;\s]+", re.IGNORECASE)


def _say(exc: AzureError) -> str:
    """The storage error in one line, without any key or signature it may carry."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return _SECRET.sub(r"\1=<hidden>", first)


@dataclass
class BlobRecords(AppendedInTurn):
    """An append blob of JSON lines."""

    blob: BlobClient

    @property
    def where(self) -> str:
        return f"{self.blob.container_name}/{self.blob.blob_name}"

    def _append(self, text: str) -> None:
        data = text.encode("utf-8")
        try:
            self.blob.append_block(data)
        except ResourceNotFoundError:
            self._create()
            self.blob.append_block(data)
        except AzureError as exc:
            raise StateError(f"cannot append to {self.where}: {_say(exc)}") from None

    def _create(self) -> None:
        try:
            # if_none_match="*": two runners creating it at once both end with one blob.
            self.blob.create_append_blob(if_none_match="*")
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise StateError(f"cannot create {self.where}: {_say(exc)}") from None

    def read(self) -> str:
        try:
            data: bytes = self.blob.download_blob().readall()
            return data.decode("utf-8")
        except ResourceNotFoundError:
            return ""
        except AzureError as exc:
            raise StateError(f"cannot read {self.where}: {_say(exc)}") from None


class AzureBlobStore:
    def __init__(self, container: ContainerClient, prefix: str = "") -> None:
        self.container = container
        self.prefix = prefix
        self._records: dict[str, BlobRecords] = {}

    @classmethod
    def from_settings(cls, settings: StateSettings) -> AzureBlobStore:
        if not settings.container:
            raise StateError("state.container is required for backend azure_blob")
        service = _service(settings)
        container = service.get_container_client(settings.container)
        try:
            container.get_container_properties()
        except ResourceNotFoundError:
            raise StateError(
                f"Blob container {settings.container!r} does not exist in "
                f"{service.account_name}: create it (for example `az storage container create "
                f"--name {settings.container}`), then run again"
            ) from None
        except AzureError as exc:
            raise StateError(f"cannot reach Blob Storage: {_say(exc)}") from None
        return cls(container, settings.prefix)

    @property
    def where(self) -> str:
        return f"Blob container {self.container.container_name}/{self.prefix}"

    def records(self, name: str) -> BlobRecords:
        blob = self.container.get_blob_client(self.prefix + name)
        return self._records.setdefault(name, BlobRecords(blob))

    def names(self, prefix: str) -> list[str]:
        try:
            found = self.container.list_blob_names(name_starts_with=self.prefix + prefix)
            return sorted(name.removeprefix(self.prefix) for name in found)
        except AzureError as exc:
            raise StateError(f"cannot list {self.where}: {_say(exc)}") from None

    @contextmanager
    def lock(self, holder: Holder, notice: Notice) -> Iterator[None]:
        blob = self._lock_blob()
        lease = self._acquire(blob, holder)
        stop = threading.Event()
        renewer = threading.Thread(
            target=_keep_renewing, args=(lease, stop, notice), name="pcr-lease", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                lease.release()
            except AzureError as exc:  # it expires by itself within LEASE_SECONDS
                notice(f"pcr: could not release the apply lock: {_say(exc)}")

    def unlock(self, holder_id: str) -> str:
        blob = self._lock_blob()
        try:
            properties = blob.get_blob_properties()
        except AzureError as exc:
            raise StateError(f"cannot read the apply lock: {_say(exc)}") from None
        if properties.lease.state != "leased":
            raise StateError(f"{self.where}{LOCK_NAME}: no apply holds the lock")
        current = (properties.metadata or {}).get("holder", "")
        if current != holder_id:
            raise StateError(
                f"the apply lock is held by {current or 'an unnamed holder'}, not {holder_id}: "
                "name the holder the refusal printed"
            )
        try:
            BlobLeaseClient(blob).break_lease(lease_break_period=0)
        except AzureError as exc:
            raise StateError(f"cannot break the apply lock: {_say(exc)}") from None
        return f"broke the apply lock of holder {holder_id} ({self.where}{LOCK_NAME})"

    # -- the lease ------------------------------------------------------------------

    def _lock_blob(self) -> BlobClient:
        blob = self.container.get_blob_client(self.prefix + LOCK_NAME)
        try:
            blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass  # it exists, and may be leased: the lease decides, not the blob
        except AzureError as exc:
            raise StateError(f"cannot create the apply lock: {_say(exc)}") from None
        return blob

    def _acquire(self, blob: BlobClient, holder: Holder) -> BlobLeaseClient:
        try:
            lease = blob.acquire_lease(lease_duration=LEASE_SECONDS)
        except HttpResponseError as exc:
            if exc.status_code == 409:  # LeaseAlreadyPresent
                raise LockedError(self._held_by(blob)) from None
            raise StateError(f"cannot take the apply lock: {_say(exc)}") from None
        except AzureError as exc:
            raise StateError(f"cannot take the apply lock: {_say(exc)}") from None
        metadata = {key: _ascii(str(value)) for key, value in asdict(holder).items()}
        metadata["holder"] = metadata.pop("id")
        try:
            blob.set_blob_metadata(metadata, lease=lease)
        except AzureError as exc:
            lease.release()
            raise StateError(f"cannot name the apply lock's holder: {_say(exc)}") from None
        return lease

    def _held_by(self, blob: BlobClient) -> str:
        try:
            metadata = blob.get_blob_properties().metadata or {}
        except AzureError:
            metadata = {}
        holder = metadata.get("holder", "")
        who = f"holder {holder} ({metadata.get('actor', '?')} on {metadata.get('host', '?')}"
        who += f", commit {metadata.get('commit') or '?'}, since {metadata.get('started', '?')})"
        return (
            f"another apply is running ({who}) and holds the lease on "
            f"{self.where}{LOCK_NAME}: wait for it to finish (a runner that died lets go "
            f"within {LEASE_SECONDS} s); if it hangs, `pcr unlock --holder {holder or 'ID'}`"
        )


def _keep_renewing(lease: BlobLeaseClient, stop: threading.Event, notice: Notice) -> None:
    while not stop.wait(RENEW_EVERY_SECONDS):
        try:
            lease.renew()
        except AzureError as exc:
            notice(f"pcr: could not renew the apply lock's lease: {_say(exc)}")


def _ascii(value: str) -> str:
    # Blob metadata values must be ASCII.
    return value.encode("ascii", "replace").decode("ascii")


def _service(settings: StateSettings) -> BlobServiceClient:
    if connection := os.environ.get(CONNECTION_STRING):
        try:
            return BlobServiceClient.from_connection_string(connection, **CLIENT_OPTIONS)
        except ValueError:
            raise StateError(f"{CONNECTION_STRING} is not a valid connection string") from None
    if not settings.account_url:
        raise StateError(
            f"state.account_url is required for backend azure_blob (or set {CONNECTION_STRING})"
        )
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(settings.account_url, DefaultAzureCredential(), **CLIENT_OPTIONS)
