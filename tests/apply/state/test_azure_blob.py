"""The Blob Storage state backend against Azurite: the lease is the apply lock, records are
append blobs every runner shares, and `pcr unlock` breaks only the holder it names."""

from __future__ import annotations

import threading

import pytest

from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.apply.journal import RunContext
from reconciler.apply.state import Holder
from reconciler.apply.state import LockedError
from reconciler.apply.state import StateBackend
from reconciler.apply.state import StateError
from reconciler.apply.state import StateSettings
from reconciler.apply.state.azure_blob import CONNECTION_STRING
from reconciler.apply.state.azure_blob import AzureBlobStore
from reconciler.plan.actions import ActionType
from reconciler.plan.model import Action
from tests.azurite import Azurite


@pytest.fixture
def settings(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> StateSettings:
    monkeypatch.setenv(CONNECTION_STRING, azurite.connection_string)
    return StateSettings(StateBackend.AZURE_BLOB, container=azurite.new_container(), prefix="p/")


def store(settings: StateSettings) -> AzureBlobStore:
    return AzureBlobStore.from_settings(settings)


def test_records_are_append_blobs_that_two_stores_share(settings: StateSettings) -> None:
    first, second = store(settings), store(settings)
    first.records("journal-a.jsonl").append('{"n": 1}\n')
    second.records("journal-a.jsonl").append('{"n": 2}\n')
    assert first.records("journal-a.jsonl").read() == '{"n": 1}\n{"n": 2}\n'
    assert second.names("journal-") == ["journal-a.jsonl"]
    assert first.records("missing.jsonl").read() == ""


def test_appends_from_many_threads_all_land_whole(settings: StateSettings) -> None:
    records = store(settings).records("audit.jsonl")
    lines = [f'{{"n": {n}}}\n' for n in range(40)]
    threads = [threading.Thread(target=records.append, args=(line,)) for line in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(
        store(settings).records("audit.jsonl").read().splitlines(keepends=True)
    ) == sorted(lines)


def test_the_lease_is_the_apply_lock(settings: StateSettings) -> None:
    holder = Holder.me()
    with store(settings).lock(holder, print):
        with pytest.raises(LockedError) as refused, store(settings).lock(Holder.me(), print):
            pass  # pragma: no cover - never entered
        assert holder.id in str(refused.value)
        assert f"pcr unlock --holder {holder.id}" in str(refused.value)
    with store(settings).lock(Holder.me(), print):  # released: the next run takes it
        pass


def test_unlock_breaks_only_the_holder_it_names(settings: StateSettings) -> None:
    holder = Holder.me()
    with store(settings).lock(holder, print):
        with pytest.raises(StateError, match="not someone-else"):
            store(settings).unlock("someone-else")
        assert holder.id in store(settings).unlock(holder.id)
        with store(settings).lock(Holder.me(), print):  # broken: another run may start
            pass
    with pytest.raises(StateError, match="no apply holds the lock"):
        store(settings).unlock(holder.id)


def test_a_journal_and_an_audit_trail_resume_on_another_runner(settings: StateSettings) -> None:
    action = Action("c-1", ActionType.SUSPEND, "s-1", "r")
    first = Journal(store(settings).records("journal-k.jsonl"))
    first.start(action, "req-1")
    again = Journal(store(settings).records("journal-k.jsonl"))  # a second runner
    step = again.in_flight(action.id)
    assert step is not None and step.request_id == "req-1"
    assert step.step is not None and step.step["type"] == "suspend_subscription"
    audit = AuditLog(store(settings).records("audit.jsonl"), RunContext("ci", "abc123", "k"))
    audit.record(
        customer_id="c-1",
        action="suspend_subscription",
        target_id="s-1",
        result="done",
        request_id="req-1",
        before="active",
        after="suspended",
    )
    assert AuditLog(store(settings).records("audit.jsonl")).has("req-1")


def test_a_missing_container_is_a_clear_error(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONNECTION_STRING, azurite.connection_string)
    missing = StateSettings(StateBackend.AZURE_BLOB, container="no-such-container")
    with pytest.raises(StateError, match=r"does not exist.*create it"):
        store(missing)


def test_no_connection_string_and_no_account_url_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CONNECTION_STRING, raising=False)
    with pytest.raises(StateError, match="account_url is required"):
        store(StateSettings(StateBackend.AZURE_BLOB, container="c"))


def test_errors_never_show_the_account_key(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=Zzz9")
    monkeypatch.setenv(CONNECTION_STRING, wrong)
    with pytest.raises(StateError) as failed:
        store(StateSettings(StateBackend.AZURE_BLOB, container="c"))
    assert "Zzz9" not in str(failed.value) and "AccountKey" not in str(failed.value)
