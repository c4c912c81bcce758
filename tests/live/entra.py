"""A fake Entra ID that speaks the real wire, over TLS on loopback, for the Secure Application
Model's tests (test_auth_msal.py) and `pcr login`'s (test_login.py).

For one tenant and one app registration it serves what MSAL and a browser use of Entra ID's v2
endpoints: the OpenID configuration; `/authorize`, which signs "the user" in at once and
redirects the browser to the app's loopback redirect URI with a code (or with an error); the
device authorization endpoint; and a token endpoint taking the three grants pcr uses:
`refresh_token` (rotating the refresh token each time), `authorization_code` (with the PKCE
verifier checked against the challenge, S256) and the device code grant. The TLS certificate
is signed by a CA made for the run, which pcr is told to trust the way production trusts a
proxy's: SSL_CERT_FILE.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import secrets
import socketserver
import ssl
import threading
import time
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

from reconciler.live.auth import GRAPH
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import SCOPES
from reconciler.live.credentials import token_provider_from_env
from reconciler.live.sam import SamTokenProvider

SAFETY_SECONDS = 30  # only a bound for waits that end on events
TENANT = "8777b240-c6f0-4469-9e98-a3205431b836"
CLIENT = "app-6c3f"
SECRET = "client-SECRET-51a0-do-not-print"
REFRESH = "refresh-SECRET-77d2-do-not-print"
USER = "admin@partner.test"
# What Entra ID answers a `.default` request with: the permissions it stands for.
GRAPH_GRANTED = (
    "https://graph.microsoft.com/DelegatedAdminRelationship.ReadWrite.All "
    "https://graph.microsoft.com/User.Read"
)
# The redirect URIs of the app registration. Entra ID ignores the port of a loopback one.
REDIRECT_URIS = ("http://localhost",)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Entra ID's own words for the refusals the tests provoke.
PKCE_MISMATCH = (
    "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the "
    "authorization request."
)
DECLINED = "AADSTS65004: User declined to consent to access the app."
GRAPH_NOT_CONSENTED = (
    "AADSTS65001: The user or administrator has not consented to use the application."
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def s256(verifier: str) -> str:
    """The PKCE code challenge of `verifier` (RFC 7636, 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass
class Received:
    method: str
    path: str
    form: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Authorization:
    """What `/authorize` bound a code to: the token request must present the same."""

    client_id: str
    redirect_uri: str
    scope: str
    challenge: str
    nonce: str | None


@dataclass
class DeviceAuthorization:
    client_id: str
    scope: str
    pending: int  # `authorization_pending` answers left before the user is done


@dataclass
class FakeEntra:
    """Entra ID's v2 endpoints for one tenant and one app registration.

    The token endpoint rotates the refresh token each time and (with `strict`) takes only the
    newest one, as a token endpoint may. `client_secret` None makes the app a public client,
    which must present no secret."""

    tenant: str = TENANT
    client_id: str = CLIENT
    client_secret: str | None = SECRET
    expires_in: int = 3600
    strict: bool = True
    # Set: the first token request waits for it (`first_arrived` says it came), so that
    # other callers arrive while it is in flight.
    hold_first: threading.Event | None = None
    first_arrived: threading.Event = field(default_factory=threading.Event)
    graph_scope: str = GRAPH_GRANTED
    # (status, body) to answer the next token requests with, in turn, instead of a token.
    answers: list[tuple[int, bytes]] = field(default_factory=list)
    # Overrides of the OpenID configuration's fields.
    configuration: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    valid_refresh_tokens: set[str] = field(default_factory=lambda: {REFRESH})
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    most_in_flight: int = 0
    # The interactive sign-in: the user declines consent at /authorize.
    decline: bool = False
    codes: dict[str, Authorization] = field(default_factory=dict)
    # The device code flow: pending answers before the tokens, or an error instead of them.
    device_pending: int = 2
    device_expires_in: int = 900
    device_interval: int = 0
    device_error: str | None = None
    # The app has no consent for Microsoft Graph: a refresh token does not redeem for it.
    refuse_graph: bool = False
    devices: dict[str, DeviceAuthorization] = field(default_factory=dict)
    user_codes: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # every token handed out, in order
    # Customers' tenants where the partner's app is consented (None) or refused (Entra ID's
    # error description): a refresh token of the partner's user redeems at their authority
    # for a Graph token of that tenant, a JWT whose `tid` claim names it.
    customer_tenants: dict[str, str | None] = field(default_factory=dict)

    @property
    def grants(self) -> list[dict[str, str]]:
        return [r.form for r in self.received if r.method == "POST" and r.path == self._token]

    @property
    def _token(self) -> str:
        return f"/{self.tenant}/oauth2/v2.0/token"

    def tenant_grants(self, tenant: str) -> list[dict[str, str]]:
        """The token requests made at a customer tenant's authority."""
        path = f"/{tenant}/oauth2/v2.0/token"
        return [r.form for r in self.received if r.method == "POST" and r.path == path]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(size).decode()).items()}
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with self.lock:
            self.received.append(Received(method, path, form, query))
        tenant = path.split("/")[1] if path.count("/") > 1 else ""
        known = tenant == self.tenant or tenant in self.customer_tenants
        if method == "GET" and known and path == f"/{tenant}/v2.0/.well-known/openid-configuration":
            base = f"https://{environ['HTTP_HOST']}/{tenant}"
            configuration = {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                **self.configuration,
            }
            return answer(start_response, 200, json.dumps(configuration).encode())
        if method == "POST" and tenant in self.customer_tenants and path.endswith("/token"):
            return answer(start_response, *self._customer_grant(tenant, form))
        if method == "GET" and path == f"/{self.tenant}/oauth2/v2.0/authorize":
            return self._authorize(query, start_response)
        if method == "POST" and path == f"/{self.tenant}/oauth2/v2.0/devicecode":
            return self._device_authorization(form, environ["HTTP_HOST"], start_response)
        if method == "POST" and path == self._token:
            return self._token_request(form, start_response)
        return answer(start_response, 404, b'{"error": "not_found"}')

    # -- the browser's part: /authorize ---------------------------------------------------------

    def _authorize(self, query: dict[str, str], start_response: Any) -> list[bytes]:
        """Entra ID shows an error page (and redirects nowhere) for an unknown app or a
        redirect URI the app does not have; anything else comes back to the redirect URI."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return page(start_response, 400, "AADSTS700016: Application not found.")
        if not registered(redirect_uri):
            return page(start_response, 400, "AADSTS50011: The redirect URI does not match.")
        back: dict[str, str] = {"state": query.get("state", "")}
        if query.get("response_type") != "code":
            back |= {"error": "unsupported_response_type"}
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            back |= {"error": "invalid_request", "error_description": "AADSTS9002325: PKCE."}
        elif self.decline:
            back |= {"error": "access_denied", "error_description": DECLINED}
        else:
            code = f"code-{secrets.token_urlsafe(12)}"
            with self.lock:
                self.codes[code] = Authorization(
                    query["client_id"],
                    redirect_uri,
                    query.get("scope", ""),
                    query["code_challenge"],
                    query.get("nonce"),
                )
            back = {"code": code, **back}
        # Entra ID adds the slash to a redirect URI without a path (query response mode).
        target = redirect_uri if urlsplit(redirect_uri).path else f"{redirect_uri}/"
        start_response("302 Found", [("Location", f"{target}?{urlencode(back)}")])
        return [b""]

    def _device_authorization(
        self, form: dict[str, str], host: str, start_response: Any
    ) -> list[bytes]:
        if form.get("client_id") != self.client_id:
            failure = {"error": "unauthorized_client", "error_description": "AADSTS700016: no."}
            return answer(start_response, 400, json.dumps(failure).encode())
        device_code = f"device-{secrets.token_urlsafe(12)}"
        user_code = f"C{len(self.devices) + 1:03d}-{secrets.token_hex(2).upper()}"
        with self.lock:
            self.devices[device_code] = DeviceAuthorization(
                form["client_id"], form.get("scope", ""), self.device_pending
            )
            self.user_codes.append(user_code)
        verification_uri = f"https://{host}/devicelogin"
        body = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
            "message": f"To sign in, open {verification_uri} and enter the code {user_code}.",
        }
        return answer(start_response, 200, json.dumps(body).encode())

    # -- the token endpoint ---------------------------------------------------------------------

    def _token_request(self, form: dict[str, str], start_response: Any) -> list[bytes]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            first = len(self.grants) == 1
        try:
            if first and self.hold_first is not None:
                self.first_arrived.set()
                assert self.hold_first.wait(SAFETY_SECONDS), "the first grant was never let go"
            status, body = self._grant(form)
        finally:
            with self.lock:
                self.in_flight -= 1
        return answer(start_response, status, body)

    def _grant(self, form: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
        if not self._client_authenticated(form):
            return refusal("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh(form)
        if grant_type == "authorization_code":
            return self._code(form)
        if grant_type == DEVICE_GRANT:
            return self._device(form)
        return refusal("unsupported_grant_type", "AADSTS70003: no.")

    def _client_authenticated(self, form: dict[str, str]) -> bool:
        if form.get("client_id") != self.client_id:
            return False
        if self.client_secret is None:  # a public client: a secret is a mistake (AADSTS700025)
            return "client_secret" not in form
        return hmac.compare_digest(form.get("client_secret", ""), self.client_secret)

    def _refresh(self, form: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            if form.get("refresh_token") not in self.valid_refresh_tokens:
                return refusal("invalid_grant", "AADSTS70000: no.")
        if self.refuse_graph and SCOPES[GRAPH] in form["scope"].split():
            return refusal("invalid_grant", GRAPH_NOT_CONSENTED)
        return self._tokens(form["scope"])

    def _code(self, form: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            authorization = self.codes.pop(form.get("code", ""), None)  # good once
        if authorization is None:
            return refusal(
                "invalid_grant",
                "AADSTS70008: The provided authorization code "
                "or refresh token has expired or was already redeemed.",
            )
        if form.get("redirect_uri") != authorization.redirect_uri:
            return refusal("invalid_grant", "AADSTS50011: The redirect URI does not match.")
        if s256(form.get("code_verifier", "")) != authorization.challenge:
            return refusal("invalid_grant", PKCE_MISMATCH)
        return self._tokens(form.get("scope") or authorization.scope, authorization.nonce)

    def _device(self, form: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            device = self.devices.get(form.get("device_code", ""))
            if device is None:
                return refusal("bad_verification_code", "AADSTS70019: no such device code.")
            if self.device_error is not None:
                return refusal(self.device_error, f"AADSTS70019: {self.device_error}.")
            if device.pending > 0:
                device.pending -= 1
                return refusal("authorization_pending", "AADSTS70016: Waiting for the user.")
            del self.devices[form["device_code"]]  # good once
        return self._tokens(device.scope)

    def _tokens(self, scope: str, nonce: str | None = None) -> tuple[int, bytes]:
        """An answer as Entra ID gives it: the access token of the first scope's resource, a
        new refresh token, and who signed in (an ID token, client_info)."""
        with self.lock:
            number = len(self.grants)
            rotated = f"rotated-{number}-do-not-print"
            if self.strict:
                self.valid_refresh_tokens = {rotated}
            else:
                self.valid_refresh_tokens.add(rotated)
        audience = "pc" if SCOPES[PARTNER_CENTER] in scope.split() else "graph"
        token = {
            "token_type": "Bearer",
            "scope": SCOPES[PARTNER_CENTER] if audience == "pc" else self.graph_scope,
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": f"{audience}-access-{number}",
            "refresh_token": rotated,
            "id_token": self._id_token(self.tenant, int(time.time()), nonce),
            "client_info": b64url(json.dumps({"uid": "user-oid-1", "utid": self.tenant}).encode()),
        }
        with self.lock:
            self.issued += [token["access_token"], rotated]
        return 200, json.dumps(token).encode()

    def _id_token(self, tenant: str, now: int, nonce: str | None = None) -> str:
        """Who signed in, and in which tenant."""
        claims: dict[str, Any] = {
            "aud": self.client_id,
            "iss": f"https://login.test/{tenant}/v2.0",
            "iat": now,
            "exp": now + 3600,
            "sub": "subject-1",
            "oid": "user-oid-1",
            "tid": tenant,
            "preferred_username": USER,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return unsigned_jwt(claims)

    def _customer_grant(self, tenant: str, form: dict[str, str]) -> tuple[int, bytes]:
        """A refresh token of the partner's user redeemed at a customer tenant's authority:
        a Graph token of that tenant, where the app is consented through GDAP."""
        if not self._client_authenticated(form):
            return refusal("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)
        with self.lock:
            if form.get("refresh_token") not in self.valid_refresh_tokens:
                return refusal("invalid_grant", "AADSTS70000: no.")
        if (refused := self.customer_tenants[tenant]) is not None:
            return refusal("invalid_grant", refused)
        with self.lock:
            number = len(self.received)
            rotated = f"rotated-{tenant[:8]}-{number}-do-not-print"
            self.valid_refresh_tokens.add(rotated)  # the partner's own stays good too
        now = int(time.time())
        claims = {"tid": tenant, "aud": "https://graph.microsoft.com", "iat": now, "n": number}
        token = {
            "token_type": "Bearer",
            "scope": self.graph_scope,
            "expires_in": self.expires_in,
            "access_token": unsigned_jwt(claims),
            "refresh_token": rotated,
            "id_token": self._id_token(tenant, now),
            "client_info": b64url(json.dumps({"uid": "user-oid-1", "utid": self.tenant}).encode()),
        }
        with self.lock:
            self.issued += [token["access_token"], rotated]
        return 200, json.dumps(token).encode()


def registered(redirect_uri: str) -> bool:
    """Whether the app has `redirect_uri`, the port of a loopback one aside."""
    parts = urlsplit(redirect_uri)
    if parts.hostname in ("localhost", "127.0.0.1") and parts.scheme == "http":
        redirect_uri = parts._replace(netloc=parts.hostname).geturl()
    return redirect_uri in REDIRECT_URIS


def refusal(error: str, description: str, status: int = 400) -> tuple[int, bytes]:
    return status, json.dumps({"error": error, "error_description": description}).encode()


def answer(start_response: Any, status: int, body: bytes) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
    start_response(
        f"{status} {reason.get(status, 'Status')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def page(start_response: Any, status: int, text: str) -> list[bytes]:
    body = f"<!doctype html><title>Sign in</title><p>{text}</p>".encode()
    start_response(f"{status} Error", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


# -- TLS on loopback, with a CA made for the test ---------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> Certificates:
    """A CA and a server certificate it signed for 127.0.0.1 and localhost, in `directory`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("pcr test CA"))
        .issuer_name(_name("pcr test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Silent(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingTLSServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    context: ssl.SSLContext

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        # The handshake runs in the request's thread: a client that refuses the certificate
        # does not hold up the others.
        return self.context.wrap_socket(connection, server_side=True), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake is what some tests are about


@dataclass
class Login:
    """A fake Entra ID on a loopback port over TLS, and the environment that points pcr at it."""

    entra: FakeEntra
    url: str
    ca: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PCR_TENANT_ID": self.entra.tenant,
            "PCR_CLIENT_ID": CLIENT,
            "PCR_CLIENT_SECRET": SECRET,
            "PCR_REFRESH_TOKEN": REFRESH,
            "PCR_LOGIN_URL": self.url,
            "SSL_CERT_FILE": str(self.ca),
            **extra,
        }

    def providers(self, **extra: str) -> tuple[SamTokenProvider, SamTokenProvider]:
        env = self.env(**extra)
        pc = token_provider_from_env(env)
        graph = token_provider_from_env(env, audience=GRAPH)
        assert isinstance(pc, SamTokenProvider) and isinstance(graph, SamTokenProvider)
        return pc, graph


@contextmanager
def serving(entra: FakeEntra, certificates: Certificates) -> Iterator[Login]:
    """`entra` on a loopback port over TLS, in a background thread, while the block runs."""
    server = make_server(
        "127.0.0.1", 0, entra, server_class=_ThreadingTLSServer, handler_class=_Silent
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert, certificates.key)
    server.context = context
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield Login(entra, f"https://127.0.0.1:{server.server_port}", certificates.ca)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
