"""Submit a CoRIM to a Veraison provisioning service, bounded in size, time and disclosure.

Follows veraison/services ``provisioning/api/handler.go``: ``POST
/endorsement-provisioning/v1/submit`` with ``Content-Type: application/rim+cbor;
profile="<corim profile>"`` (``application/rim+cose`` for a signed CoRIM, see
``handler/schemeimplementationwrapper.go``) and ``Accept:
application/vnd.veraison.provisioning-session+json``.  The answer is a provisioning session
``{"status": "success"|"failed", "expiry", "failure-reason"}`` with HTTP 200 - a 200 can still
be a failure; 415 carries the supported media types in its ``Accept`` header; other errors are
RFC 7807 problem documents (``detail``).  Authentication: none, HTTP basic (RFC 7617), or
OAuth2 client credentials (RFC 6749 section 4.4: token from the token endpoint, then
``Authorization: Bearer``, RFC 6750).

The server is not trusted to be well behaved:

* every response (token and submit) is streamed and refused once it exceeds
  ``MAX_RESPONSE`` bytes; no more than ``MAX_RESPONSE + 1`` body bytes are kept, and the
  socket is read in blocks of at most 64 KiB, so a 1.5 GB answer costs at most one block
  more than the cap;
* ``timeout`` is one deadline for the whole operation (name resolution, connect, TLS
  handshake, token request, submit, every read and write): each socket operation gets the
  time that remains, so a server trickling bytes cannot hold rmtool past it, and a late
  answer is a failure, never a success;
* credentials never reach a message: user information in URLs, secret query parameters,
  ``Basic``/``Bearer`` header values and every known secret (password, client secret,
  bearer token, and their encoded forms) are redacted from every text rmtool prints,
  including what the server echoes back.

HTTP goes through httpcore, the transport engine of the declared ``httpx`` dependency
(``httpx`` requires it), because only its documented network-backend interface lets every
socket operation take the remaining time of one deadline; ``httpx`` itself supplies the TLS
defaults (``httpx.create_ssl_context``).  A failed submission, a network failure or a
deadline overrun is a failed operation (``SubmitFailed``, exit 1); bad arguments are
``UsageError`` (exit 2).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

import httpcore
import httpx

from rmtool._files import MiB, read_bounded
from rmtool.errors import CheckFailed, InputFileError, UsageError

SUBMIT_PATH = "/endorsement-provisioning/v1/submit"
SESSION_MEDIA_TYPE = "application/vnd.veraison.provisioning-session+json"
#: Largest response body (token or submit) rmtool accepts.
MAX_RESPONSE = 1024 * 1024
#: Largest CA bundle (``--ca-cert``) rmtool reads.
MAX_CA_BUNDLE = 4 * MiB
#: Largest single socket send; each send gets the time left before the deadline.
_SEND_BLOCK = 64 * 1024
#: RFC 6750 section 2.1 ``b64token``.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class SubmitFailed(CheckFailed):
    """The submission was refused, the service could not be reached, did not answer usably,
    or did not answer within the deadline (exit 1)."""


#: The earlier name of ``SubmitFailed``.
SubmitError = SubmitFailed


@dataclass
class AuthConfig:
    """How to authenticate: method "none", "basic" or "oauth2" (client credentials)."""

    method: str = "none"
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    scopes: list[str] = field(default_factory=list)


@dataclass
class SubmitResult:
    ok: bool
    http_status: int
    status: str | None              # provisioning session status
    failure_reason: str | None = None
    accept: list[str] = field(default_factory=list)   # from a 415
    detail: str | None = None       # problem detail / body excerpt
    url: str = ""                   # redacted
    media_type: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "http_status": self.http_status, "status": self.status,
                "failure_reason": self.failure_reason, "accept": self.accept,
                "detail": self.detail, "url": self.url, "media_type": self.media_type}


# ---------------------------------------------------------------- redaction

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s@]*@")
_SECRET_PARAM = re.compile(
    r"(?i)(?<![a-z0-9_\-])((?:access|refresh|id|auth|api|bearer)?[_\-]?token|client[_\-]secret"
    r"|password|passwd|pwd|secret|api[_\-]?key|apikey|assertion|code|sig|signature)"
    r"(=)([^&#\s\"',;]*)")
_AUTH_VALUE = re.compile(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9\-._~+/]+=*")


class Redactor:
    """Removes credentials from a text before rmtool prints it: user information in URLs
    (``https://***@host``), secret query/form parameters (``token=***``), ``Basic`` /
    ``Bearer`` credentials, and every secret value it was told about (also percent- and
    form-encoded), wherever it appears - a server may echo them back."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})

    def add_basic(self, user: str, password: str) -> None:
        """A ``user:password`` pair: the password and its RFC 7617 encoding."""
        self.add(password)
        self.add(base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))

    def __call__(self, text: str) -> str:
        for s in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        text = _USERINFO.sub(r"\1***@", text)
        text = _SECRET_PARAM.sub(r"\1\2***", text)
        return _AUTH_VALUE.sub(r"\1\2***", text)


def _printable(text: str, limit: int | None = None) -> str:
    """One line of printable text (server text may hold control or escape sequences)."""
    out = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if limit is not None and len(out) > limit:
        out = out[:limit] + "..."
    return out


# ---------------------------------------------------------------- deadline


class Deadline:
    """One total time budget (seconds) for an operation, started at construction."""

    def __init__(self, seconds: float) -> None:
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
            raise UsageError(f"--timeout must be a positive number of seconds, not {seconds!r}",
                             field="timeout")
        self.seconds = float(seconds)
        self._end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def describe(self) -> str:
        return f"no complete response within {self.seconds:g} s"


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation gets (at most) the time left."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, exc: type[Exception]) -> float:
        left = self._deadline.remaining()
        if left <= 0:
            raise exc(self._deadline.describe())
        return left

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # The inner stream would reuse one timeout for every partial send; a slow reader
        # could then stretch a large write far past the deadline. Send block by block,
        # each with the time left (CPython bounds one send, TLS included, by its timeout).
        sock = self._inner.get_extra_info("socket")
        view = memoryview(buffer)
        while view:
            left = self._left(httpcore.WriteTimeout)
            if sock is None:
                self._inner.write(bytes(view), left)
                return
            try:
                sock.settimeout(left)
                sent = sock.send(view[:_SEND_BLOCK])
            except TimeoutError:
                raise httpcore.WriteTimeout(self._deadline.describe()) from None
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from None
            view = view[sent:]

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # CPython bounds the whole handshake by the socket timeout (one deadline per call).
        tls = self._inner.start_tls(ssl_context, server_hostname,
                                    self._left(httpcore.ConnectTimeout))
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend with name resolution and connect bounded by the
    deadline (``socket.create_connection`` would resolve without any time limit)."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def _left(self) -> float:
        left = self._deadline.remaining()
        if left <= 0:
            raise httpcore.ConnectTimeout(self._deadline.describe())
        return left

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        found: list[Any] = []
        failed: list[OSError] = []

        def run() -> None:
            try:
                found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            except OSError as exc:
                failed.append(exc)

        worker = threading.Thread(target=run, name="rmtool-resolve", daemon=True)
        worker.start()
        worker.join(self._left())
        if worker.is_alive():
            raise httpcore.ConnectTimeout(self._deadline.describe())
        if failed or not found:
            reason = failed[0].strerror or str(failed[0]) if failed else "no address"
            raise httpcore.ConnectError(f"cannot resolve {host}: {reason}")
        addresses: list[str] = []
        for info in found:
            if str(info[4][0]) not in addresses:
                addresses.append(str(info[4][0]))
        return addresses

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        error: Exception | None = None
        for address in self._resolve(host, port):
            try:
                stream = self._inner.connect_tcp(address, port, self._left(), local_address,
                                                 socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise error if error is not None else httpcore.ConnectError(f"cannot connect to {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by rmtool")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self._deadline.remaining())))


# ---------------------------------------------------------------- URLs


@dataclass
class _Endpoint:
    """A request target: the URL for httpcore (no user information), the Host header,
    the URL as printed (user information redacted) and credentials found in the URL."""

    url: httpcore.URL
    host_header: bytes
    shown: str
    https: bool
    user: str | None = None
    password: str | None = None


def submit_url(api_server: str) -> str:
    """*api_server* as given if it has a path, else with the provisioning submit path."""
    parts = urlsplit(api_server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--api-server {Redactor()(api_server)!r} is not an http(s) URL",
                         field="api-server")
    if parts.path in ("", "/"):
        parts = parts._replace(path=SUBMIT_PATH)
    return urlunsplit(parts)


def _endpoint(url: str, option: str, redact: Redactor) -> _Endpoint:
    parts = urlsplit(url)
    if parts.password:
        redact.add(parts.password)
        redact.add(unquote(parts.password))
    shown = redact(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} {shown!r} is not an http(s) URL", field=option[2:])
    try:
        port = parts.port
        host = parts.hostname.encode("idna")
    except (ValueError, UnicodeError) as exc:
        raise UsageError(f"{option} {shown!r} is not a usable URL: {exc}",
                         field=option[2:]) from None
    name = host.decode("ascii")
    if ":" in name:  # IPv6 literal
        name = f"[{name}]"
    host_header = (name if port is None else f"{name}:{port}").encode("ascii")
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return _Endpoint(url=httpcore.URL(scheme=parts.scheme.encode("ascii"), host=host,
                                      port=port, target=target.encode("ascii")),
                     host_header=host_header, shown=shown, https=parts.scheme == "https",
                     user=user, password=password)


# ---------------------------------------------------------------- HTTP


@dataclass
class _Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        key = name.lower().encode("ascii")
        for k, v in self.headers:
            if k.lower() == key:
                return v.decode("latin-1")
        return None


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


class _Session:
    """Requests against one deadline, one response cap and one redactor."""

    def __init__(self, pool: httpcore.ConnectionPool, deadline: Deadline,
                 redact: Redactor) -> None:
        self.pool = pool
        self.deadline = deadline
        self.redact = redact

    def fail(self, text: str, option: str) -> SubmitFailed:
        return SubmitFailed(_printable(self.redact(text)), field=option)

    def post(self, ep: _Endpoint, headers: list[tuple[bytes, bytes]], body: bytes,
             what: str, option: str) -> _Reply:
        """POST and read the whole (capped) response before the deadline."""
        headers = [(b"Host", ep.host_header), (b"Content-Length", str(len(body)).encode()),
                   (b"Accept-Encoding", b"identity"), *headers]
        try:
            with self.pool.stream(b"POST", ep.url, headers=headers, content=body) as r:
                length = next((v for k, v in r.headers if k.lower() == b"content-length"),
                              None)
                if length is not None and length.strip().isdigit() and \
                        int(length) > MAX_RESPONSE:
                    raise self.fail(f"{what}: server response larger than {MAX_RESPONSE} "
                                    f"bytes (Content-Length {int(length)})", option)
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_stream():
                    size += len(chunk)
                    if size > MAX_RESPONSE:
                        raise self.fail(f"{what}: server response larger than "
                                        f"{MAX_RESPONSE} bytes", option)
                    chunks.append(chunk)
                return _Reply(r.status, list(r.headers), b"".join(chunks))
        except httpcore.TimeoutException:
            raise self.fail(f"{what}: {self.deadline.describe()} (--timeout is the total for "
                            "the submission)", option) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                httpcore.ProxyError, OSError) as exc:
            if self.deadline.expired:
                raise self.fail(f"{what}: {self.deadline.describe()}", option) from None
            reason = str(exc) or type(exc).__name__
            raise self.fail(f"{what}: {reason}", option) from None


def _bearer_token(session: _Session, auth: AuthConfig, token_ep: _Endpoint) -> str:
    assert auth.client_id is not None and auth.client_secret is not None
    form: dict[str, str] = {"grant_type": "client_credentials"}
    if auth.scopes:
        form["scope"] = " ".join(auth.scopes)
    headers = [(b"Content-Type", b"application/x-www-form-urlencoded"),
               (b"Accept", b"application/json"),
               (b"Authorization", _basic(auth.client_id, auth.client_secret))]
    what = f"OAuth2 token endpoint {token_ep.shown}"
    r = session.post(token_ep, headers, urlencode(form).encode("ascii"),
                     f"cannot get an OAuth2 token from {token_ep.shown}", "token-url")
    if r.status != 200:
        detail = _problem_text(r.body, session.redact)
        raise session.fail(f"{what} answered HTTP {r.status}"
                           + (f": {detail}" if detail else ""), "token-url")
    obj = _json_object(r.body)
    token = obj.get("access_token") if obj is not None else None
    if not isinstance(token, str) or not token:
        raise session.fail(f"{what}: the token response has no access_token", "token-url")
    session.redact.add(token)
    if not _B64TOKEN.fullmatch(token):
        raise session.fail(f"{what}: the access_token is not an RFC 6750 bearer token",
                           "token-url")
    token_type = obj.get("token_type") if obj is not None else None
    if token_type is not None and (not isinstance(token_type, str)
                                   or token_type.lower() != "bearer"):
        raise session.fail(f"{what}: token_type {str(token_type)[:40]!r} is not Bearer",
                           "token-url")
    return token


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _problem_text(body: bytes, redact: Redactor) -> str | None:
    """A short, redacted, printable excerpt of an error body (problem ``detail`` /
    ``title`` / OAuth2 ``error_description`` / ``error``, else the raw text)."""
    obj = _json_object(body)
    text: Any = None
    if obj is not None:
        for key in ("detail", "title", "error_description", "error"):
            if isinstance(obj.get(key), str):
                text = obj[key]
                break
    elif body:
        text = body.decode("utf-8", "replace")
    if not isinstance(text, str) or not text:
        return None
    return _printable(redact(text), 200)


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if isinstance(verify, str):
        bundle = read_bounded(verify, MAX_CA_BUNDLE, "CA bundle")
        try:
            return ssl.create_default_context(cadata=bundle.decode("ascii"))
        except UnicodeDecodeError:
            pass
        except ssl.SSLError as exc:
            raise InputFileError(f"CA bundle {verify} holds no usable certificate: {exc}",
                                 field="ca-cert") from None
        try:
            return ssl.create_default_context(cadata=bundle)
        except ssl.SSLError as exc:
            raise InputFileError(f"CA bundle {verify} holds no usable certificate: {exc}",
                                 field="ca-cert") from None
    return httpx.create_ssl_context()


def _check_auth(auth: AuthConfig) -> None:
    if auth.method == "basic":
        if auth.username is None or auth.password is None:
            raise UsageError("basic auth needs --username and a password (--password-file, "
                             "$RMTOOL_PROVISIONING_PASSWORD or --password)", field="auth")
    elif auth.method == "oauth2":
        if not (auth.client_id and auth.client_secret and auth.token_url):
            raise UsageError("oauth2 needs --client-id, a client secret and --token-url",
                             field="auth")
    elif auth.method != "none":
        raise UsageError(f"unknown auth method {auth.method!r}", field="auth")


def submit_corim(data: bytes, api_server: str, media_type: str, *,
                 auth: AuthConfig | None = None, verify: bool | str = True,
                 timeout: float = 30.0, deadline: Deadline | None = None) -> SubmitResult:
    """POST *data* and interpret the provisioning session. Network failures, oversized
    responses and a missed deadline raise ``SubmitFailed``; *timeout* (or *deadline*, if
    given) is the total time for everything. Every text in the result is redacted."""
    auth = auth or AuthConfig()
    redact = Redactor([auth.password, auth.client_secret])
    if auth.username is not None and auth.password:
        redact.add_basic(auth.username, auth.password)
    if auth.client_id is not None and auth.client_secret:
        redact.add_basic(auth.client_id, auth.client_secret)
    ep = _endpoint(submit_url(api_server), "--api-server", redact)
    token_ep = _endpoint(auth.token_url, "--token-url", redact) \
        if auth.method == "oauth2" and auth.token_url else None
    _check_auth(auth)
    if ep.user is not None and ep.password is not None:
        redact.add_basic(ep.user, ep.password)
    if not media_type.isprintable() or not media_type.isascii():
        raise UsageError(f"--media-type {media_type[:80]!r} is not printable ASCII",
                         field="media-type")
    deadline = deadline or Deadline(timeout)
    headers = [(b"Content-Type", media_type.encode("ascii")),
               (b"Accept", SESSION_MEDIA_TYPE.encode("ascii"))]
    if auth.method == "basic":
        assert auth.username is not None and auth.password is not None
        headers.append((b"Authorization", _basic(auth.username, auth.password)))
    elif auth.method == "none" and ep.user is not None:
        headers.append((b"Authorization", _basic(ep.user, ep.password or "")))
    needs_tls = ep.https or (token_ep is not None and token_ep.https)
    ctx = _ssl_context(verify) if needs_tls else None
    with httpcore.ConnectionPool(ssl_context=ctx, retries=0,
                                 network_backend=_DeadlineBackend(deadline)) as pool:
        session = _Session(pool, deadline, redact)
        if token_ep is not None:
            headers.append((b"Authorization",
                            b"Bearer " + _bearer_token(session, auth, token_ep).encode()))
        r = session.post(ep, headers, data, f"cannot submit to {ep.shown}", "api-server")
    return _result(r, ep.shown, media_type, redact)


def _result(r: _Reply, shown: str, media_type: str, redact: Redactor) -> SubmitResult:
    result = SubmitResult(ok=False, http_status=r.status, status=None, url=shown,
                          media_type=media_type)
    session = _json_object(r.body)
    if r.status == 415:
        accept = r.header("Accept") or ""
        result.accept = [_printable(redact(a), 200) for a in _split_accept(accept)
                         if a.strip()]
    if session is not None:
        status = session.get("status")
        result.status = _printable(redact(status), 40) if isinstance(status, str) else None
        reason = session.get("failure-reason")
        result.failure_reason = _printable(redact(reason), 1000) \
            if isinstance(reason, str) else None
    result.detail = _problem_text(r.body, redact)
    result.ok = r.status in (200, 201) and result.status == "success"
    return result


def _split_accept(value: str) -> list[str]:
    """Split an Accept list on commas that are not inside quoted parameters."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out
