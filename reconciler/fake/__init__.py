"""The fake Partner Center: the same wire format and rules as the real service.

`state` holds the estate and the service's rules (over one JSON document), `app` is the
WSGI application that speaks the REST API over it (mounted as the client's
transport in process), and `server` puts that app on a loopback port (`pcr fake
serve`). The fake models Microsoft's side on its own, with its own copy of the
rules it enforces, so that a mistake in pcr's rules is caught by the fake, not
repeated by it.
"""

from reconciler.fake.app import FakePartnerCenter
from reconciler.fake.app import Hold
from reconciler.fake.app import serves
from reconciler.fake.server import FakeServer
from reconciler.fake.server import serve
from reconciler.fake.state import FakeState

__all__ = ["FakePartnerCenter", "FakeServer", "FakeState", "Hold", "serve", "serves"]
