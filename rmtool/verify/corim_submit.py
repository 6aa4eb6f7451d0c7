"""Submit a CoRIM to a Veraison provisioning service.

Follows veraison/services ``provisioning/api/handler.go``: ``POST
/endorsement-provisioning/v1/submit`` with ``Content-Type: application/rim+cbor;
profile="<corim profile>"`` (``application/rim+cose`` for a signed CoRIM, see
``handler/schemeimplementationwrapper.go``) and ``Accept:
application/vnd.veraison.provisioning-session+json``.  The answer is a provisioning session
``{"status": "success"|"failed", "expiry", "failure-reason"}`` with HTTP 200 - a 200 can still
be a failure; 415 carries the supported media types in its ``Accept`` header; other errors are
RFC 7807 problem documents (``detail``).  Authentication: none, HTTP basic, or OAuth2 client
credentials (token from the token endpoint, then ``Authorization: Bearer``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from rmtool.errors import RmtoolError, UsageError

SUBMIT_PATH = "/endorsement-provisioning/v1/submit"
SESSION_MEDIA_TYPE = "application/vnd.veraison.provisioning-session+json"
MAX_RESPONSE = 1024 * 1024


class SubmitError(RmtoolError):
    """The provisioning service could not be reached or did not answer usably (exit 1)."""


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
    url: str = ""
    media_type: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "http_status": self.http_status, "status": self.status,
                "failure_reason": self.failure_reason, "accept": self.accept,
                "detail": self.detail, "url": self.url, "media_type": self.media_type}


def submit_url(api_server: str) -> str:
    """*api_server* as given if it has a path, else with the provisioning submit path."""
    parts = urlsplit(api_server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--api-server {api_server!r} is not an http(s) URL",
                         field="api-server")
    if parts.path in ("", "/"):
        parts = parts._replace(path=SUBMIT_PATH)
    return urlunsplit(parts)


def _one_line(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _bearer_token(client: httpx.Client, auth: AuthConfig) -> str:
    if not (auth.client_id and auth.client_secret and auth.token_url):
        raise UsageError("oauth2 needs --client-id, --client-secret and --token-url",
                         field="auth")
    form = {"grant_type": "client_credentials"}
    if auth.scopes:
        form["scope"] = " ".join(auth.scopes)
    try:
        r = client.post(auth.token_url, data=form,
                        auth=(auth.client_id, auth.client_secret))
    except httpx.HTTPError as exc:
        raise SubmitError(f"cannot get an OAuth2 token from {auth.token_url}: "
                          f"{_one_line(exc)}", field="token-url") from None
    if r.status_code != 200:
        raise SubmitError(f"OAuth2 token endpoint {auth.token_url} answered HTTP "
                          f"{r.status_code}", field="token-url")
    try:
        token = r.json().get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise SubmitError("OAuth2 token response has no access_token", field="token-url")
    return token


def _parse_session(body: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(body[:MAX_RESPONSE])
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def submit_corim(data: bytes, api_server: str, media_type: str, *,
                 auth: AuthConfig | None = None, verify: bool | str = True,
                 timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> SubmitResult:
    """POST *data* and interpret the provisioning session; network failures raise."""
    url = submit_url(api_server)
    auth = auth or AuthConfig()
    headers = {"Content-Type": media_type, "Accept": SESSION_MEDIA_TYPE}
    basic: tuple[str | bytes, str | bytes] | None = None
    try:
        with httpx.Client(verify=verify, timeout=timeout, transport=transport,
                          follow_redirects=False) as client:
            if auth.method == "basic":
                if auth.username is None or auth.password is None:
                    raise UsageError("basic auth needs --username and --password",
                                     field="auth")
                basic = (auth.username, auth.password)
            elif auth.method == "oauth2":
                headers["Authorization"] = "Bearer " + _bearer_token(client, auth)
            elif auth.method != "none":
                raise UsageError(f"unknown auth method {auth.method!r}", field="auth")
            if basic is not None:
                r = client.post(url, content=data, headers=headers, auth=basic)
            else:
                r = client.post(url, content=data, headers=headers)
    except httpx.HTTPError as exc:
        raise SubmitError(f"cannot submit to {url}: {_one_line(exc)}", field="api-server"
                          ) from None
    result = SubmitResult(ok=False, http_status=r.status_code, status=None, url=url,
                          media_type=media_type)
    body = r.content[:MAX_RESPONSE]
    session = _parse_session(body)
    if r.status_code == 415:
        accept = r.headers.get("Accept", "")
        result.accept = [a.strip() for a in _split_accept(accept) if a.strip()]
    if session is not None:
        status = session.get("status")
        result.status = status if isinstance(status, str) else None
        reason = session.get("failure-reason")
        result.failure_reason = reason if isinstance(reason, str) else None
        detail = session.get("detail") or session.get("title")
        result.detail = detail if isinstance(detail, str) else None
    elif body:
        result.detail = body[:200].decode("utf-8", "replace")
    result.ok = r.status_code in (200, 201) and result.status == "success"
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
