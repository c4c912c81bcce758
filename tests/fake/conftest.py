"""The fake is exercised through the same clients and fixtures as the live clients' tests."""

from tests.live.conftest import live
from tests.live.conftest import server
from tests.live.conftest import sleep
from tests.live.conftest import state
from tests.live.conftest import state_file

__all__ = ["live", "server", "sleep", "state", "state_file"]
