"""What the rules of the fake's Partner Center work on: the store of the partner's estate,
the fake's clock and the log of the changes it made."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.fake.clock import Clock
from reconciler.fake.estate import Estate
from reconciler.fake.mutations import MutationLog


@dataclass(eq=False, repr=False)  # over the whole document: compared, shown by identity
class ServicePart:
    """One part of the service's rules (software orders, subscription updates, …), on the
    state's one estate, clock and log."""

    _estate: Estate
    _clock: Clock
    _log: MutationLog
