"""The fake is exercised through the same clients and fixtures as the live clients' tests."""

from tests.live.conftest import live, server, sleep, state, state_file

__all__ = ["live", "server", "sleep", "state", "state_file"]
