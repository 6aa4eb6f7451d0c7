"""``rmtool corim submit`` against a real local HTTP server (issue 8, submission semantics).

The server mimics veraison/services provisioning/api/handler.go: a provisioning session JSON
with HTTP 200 (``"status": "success"`` or ``"failed"`` + ``failure-reason``), 415 with an
Accept header listing the supported media types, basic and OAuth2 bearer authentication.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rmtool.cli.main import cli
from rmtool.errors import RmtoolError
from rmtool.verify.corim import REALM_PROFILE, build_realm_corim, sign_corim
from rmtool.verify.corim_submit import AuthConfig, SubmitError, submit_corim, submit_url

SESSION = "application/vnd.veraison.provisioning-session+json"
ACCEPT_415 = ('application/rim+cbor; profile="tag:arm.com,2025:cca_platform#1.0.0", '
              'application/rim+cose; profile="tag:arm.com,2025:cca_platform#1.0.0"')
REASON = "submit endorsement returned error: RIM (cca.rim) measurement is mandatory"


class Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, obj: dict[str, Any], ctype: str = SESSION,
              extra: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        Handler.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path == "/token":
            basic = base64.b64encode(b"cid:csecret").decode()
            if self.headers.get("Authorization") != f"Basic {basic}" or \
                    b"grant_type=client_credentials" not in body:
                self._send(401, {"error": "invalid_client"}, "application/json")
                return
            self._send(200, {"access_token": "tok123", "token_type": "Bearer"},
                       "application/json")
            return
        mode = self.path.split("/")[1]
        if mode == "basic" and self.headers.get("Authorization") != \
                "Basic " + base64.b64encode(b"alice:s3cret").decode():
            self._send(401, {"title": "Unauthorized", "detail": "bad credentials"},
                       "application/problem+json")
            return
        if mode == "oauth" and self.headers.get("Authorization") != "Bearer tok123":
            self._send(401, {"title": "Unauthorized"}, "application/problem+json")
            return
        if mode == "u415":
            self._send(415, {"title": "Unsupported Media Type", "status": 415,
                             "detail": "no active plugin found for x"},
                       "application/problem+json", {"Accept": ACCEPT_415})
            return
        if mode == "fail":
            self._send(200, {"status": "failed", "expiry": "2026-01-01T00:00:00Z",
                             "failure-reason": REASON})
            return
        self._send(200, {"status": "success", "expiry": "2026-01-01T00:00:00Z"})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def corim_file(tmp_path: Path) -> Path:
    f = tmp_path / "realm.cbor"
    f.write_bytes(build_realm_corim(b"\x42" * 32, [bytes(32)] * 4, "sha256", bytes(64)))
    return f


def invoke(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, args)
    if isinstance(r.exception, RmtoolError):
        return r.exception.exit_code, r.stdout, r.stderr + f"ERROR {r.exception}\n"
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def test_success_sends_realm_media_type_and_body(server: str, corim_file: Path) -> None:
    Handler.seen.clear()
    code, out, err = invoke(["corim", "submit", str(corim_file), "--api-server",
                             server + "/ok/endorsement-provisioning/v1/submit"])
    assert code == 0, err
    assert "success" in out
    req = Handler.seen[-1]
    assert req["headers"]["Content-Type"] == f'application/rim+cbor; profile="{REALM_PROFILE}"'
    assert req["headers"]["Accept"] == SESSION
    assert req["body"] == corim_file.read_bytes()


def test_base_url_gets_provisioning_path(server: str, corim_file: Path) -> None:
    Handler.seen.clear()
    code, _, _ = invoke(["corim", "submit", str(corim_file), "--api-server", server])
    assert code == 0
    assert Handler.seen[-1]["path"] == "/endorsement-provisioning/v1/submit"
    assert submit_url("https://v.example:9443/") == \
        "https://v.example:9443/endorsement-provisioning/v1/submit"


def test_signed_corim_uses_rim_cose(server: str, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    data = sign_corim(build_realm_corim(b"\x42" * 32, [None] * 4, "sha256", None),
                      ec.generate_private_key(ec.SECP256R1()))
    f = tmp_path / "s.cbor"
    f.write_bytes(data)
    Handler.seen.clear()
    code, _, _ = invoke(["corim", "submit", str(f), "--api-server", server + "/ok/x"])
    assert code == 0
    assert Handler.seen[-1]["headers"]["Content-Type"] == \
        f'application/rim+cose; profile="{REALM_PROFILE}"'


def test_200_failed_exits_1_with_reason(server: str, corim_file: Path) -> None:
    code, out, err = invoke(["corim", "submit", str(corim_file), "--api-server",
                             server + "/fail/submit"])
    assert code == 1
    assert REASON in err and "provisioning failed" in err


def test_415_prints_accept_list(server: str, corim_file: Path) -> None:
    code, _, err = invoke(["corim", "submit", str(corim_file), "--api-server",
                           server + "/u415/submit"])
    assert code == 1
    assert "HTTP 415" in err
    assert 'application/rim+cbor; profile="tag:arm.com,2025:cca_platform#1.0.0", ' \
           'application/rim+cose; profile="tag:arm.com,2025:cca_platform#1.0.0"' in err
    r = submit_corim(corim_file.read_bytes(), server + "/u415/submit", "application/rim+cbor")
    assert r.accept == [a.strip() for a in ACCEPT_415.split(", ")]


def test_connection_refused_is_one_line(corim_file: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    code, out, err = invoke(["corim", "submit", str(corim_file), "--api-server",
                             f"http://127.0.0.1:{port}/submit", "--timeout", "5"])
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("ERROR cannot submit to http://127.0.0.1:")
    with pytest.raises(SubmitError):
        submit_corim(b"x", f"http://127.0.0.1:{port}/submit", "application/rim+cbor")


def test_basic_auth(server: str, corim_file: Path) -> None:
    code, _, _ = invoke(["corim", "submit", str(corim_file), "--api-server",
                         server + "/basic/submit", "--auth", "basic", "--username", "alice",
                         "--password", "s3cret"])
    assert code == 0
    code, _, err = invoke(["corim", "submit", str(corim_file), "--api-server",
                           server + "/basic/submit", "--auth", "basic", "--username", "alice",
                           "--password", "wrong"])
    assert code == 1 and "HTTP 401" in err and "bad credentials" in err


def test_oauth2_client_credentials(server: str, corim_file: Path) -> None:
    Handler.seen.clear()
    r = submit_corim(corim_file.read_bytes(), server + "/oauth/submit",
                     f'application/rim+cbor; profile="{REALM_PROFILE}"',
                     auth=AuthConfig(method="oauth2", client_id="cid", client_secret="csecret",
                                     token_url=server + "/token", scopes=["provisioner"]))
    assert r.ok and r.status == "success"
    assert [s["path"] for s in Handler.seen] == ["/token", "/oauth/submit"]
    assert b"scope=provisioner" in Handler.seen[0]["body"]
    code, _, err = invoke(["corim", "submit", str(corim_file), "--api-server",
                           server + "/oauth/submit", "--auth", "oauth2", "--client-id", "cid",
                           "--client-secret", "nope", "--token-url", server + "/token"])
    assert code == 1 and "HTTP 401" in err


def test_lint_errors_block_submission(server: str) -> None:
    bad = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "corim" / "cbor" / \
        "services_armcca_corim-cca-realm-bad-no-rim.cbor"
    if not bad.exists():
        pytest.skip("shared corpus not available")
    Handler.seen.clear()
    code, _, err = invoke(["corim", "submit", str(bad), "--api-server", server + "/ok/s"])
    assert code == 1 and "not submitted" in err and Handler.seen == []
    code, _, _ = invoke(["corim", "submit", str(bad), "--api-server", server + "/ok/s",
                         "--no-lint"])
    assert code == 0 and len(Handler.seen) == 1
