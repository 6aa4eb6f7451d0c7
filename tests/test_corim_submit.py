"""``rmtool corim submit`` against a real local HTTP server (docs/cli.md, "rmtool corim").

The server mimics veraison/services provisioning/api/handler.go: a provisioning session JSON
with HTTP 200 (``"status": "success"`` or ``"failed"`` + ``failure-reason``), 415 with an
Accept header listing the supported media types, basic and OAuth2 bearer authentication.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rmtool._files import LIMITS
from rmtool.cli.main import cli
from rmtool.errors import RmtoolError
from rmtool.verify.corim import _submit as corim_submit
from rmtool.verify.corim._submit import (
    MAX_RESPONSE,
    AuthConfig,
    Redactor,
    SubmitError,
    SubmitFailed,
    submit_corim,
    submit_url,
)
from rmtool.verify.corim.realm import REALM_PROFILE, build_realm_corim, sign_corim

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


# ------------------------------------------------ hostile servers (docs/security.md)
#
# Each server below runs on 127.0.0.1 on an ephemeral port, in daemon threads, and stops
# by itself: its handlers give up after at most HOSTILE_LIFETIME seconds or as soon as the
# client closes the connection.

HOSTILE_LIFETIME = 10.0
BIG = 64 * 1024 * 1024
CAP_MESSAGE = f"server response larger than {MAX_RESPONSE} bytes"
TOKEN = "tok-Zq8rT3uLk2"          # what the hostile token endpoint hands out
CLIENT_SECRET = "cs-9fJw2XoPq"    # the client secret the token endpoint expects


class Hostile(BaseHTTPRequestHandler):
    """Misbehaving provisioning / token endpoints, chosen by the first path segment."""

    sent: dict[str, int] = {}       # bytes of body written before the client hung up
    finished: dict[str, bool] = {}  # whether the whole body was written

    def log_message(self, *args: Any) -> None:
        pass

    def _echo(self, status: int, text: str) -> None:
        body = json.dumps({"title": "error", "detail": text}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, key: str, total: int, with_length: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", SESSION)
        if with_length:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        block = b"x" * 65536
        Hostile.sent[key] = 0
        Hostile.finished[key] = False
        try:
            while Hostile.sent[key] < total:
                self.wfile.write(block)
                Hostile.sent[key] += len(block)
            Hostile.finished[key] = True
        except OSError:  # the client closed the connection: what we want
            pass
        self.close_connection = True

    def _trickle(self, data: bytes, headers_too: bool) -> None:
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: {SESSION}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        out = head + data if headers_too else data
        if not headers_too:
            self.wfile.write(head)
            self.wfile.flush()
        deadline = time.monotonic() + HOSTILE_LIFETIME
        try:
            for i in range(len(out)):
                if time.monotonic() > deadline:
                    break
                self.wfile.write(out[i:i + 1])
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        mode = self.path.split("/")[1]
        success = json.dumps({"status": "success", "expiry": "2026-01-01T00:00:00Z"}).encode()
        if mode == "big":            # 64 MiB answer, no Content-Length, streamed
            self._stream("big", BIG, with_length=False)
        elif mode == "biglen":       # 64 MiB answer announced by Content-Length
            self._stream("biglen", BIG, with_length=True)
        elif mode == "bigtoken":     # an oversized OAuth2 token response
            self._stream("bigtoken", BIG, with_length=False)
        elif mode == "trickle":      # a success document, 1 byte every 0.2 s
            self._trickle(success, headers_too=False)
        elif mode == "tricklehead":  # even the status line comes 1 byte every 0.2 s
            self._trickle(success, headers_too=True)
        elif mode == "echo500":      # reflects every credential it was sent
            self._echo(500, f"internal error for {auth} at "
                            f"http://{self.headers.get('Host')}{self.path}; "
                            f"body {body.decode('latin-1')}; raw {base64.b64decode(auth[6:])!r}"
                       if auth.startswith("Basic ") else
                       f"internal error for {auth} token {auth[7:]} password={auth[7:]}")
        elif mode == "token":        # OAuth2 token endpoint that echoes bad credentials
            expected = "Basic " + base64.b64encode(f"cid:{CLIENT_SECRET}".encode()).decode()
            if auth != expected:
                raw = base64.b64decode(auth[6:]).decode("latin-1")
                body_json = json.dumps({"error": "invalid_client",
                                        "error_description": f"bad client {raw} ({auth}) "
                                                             f"client_secret={raw[4:]}"})
                data = body_json.encode()
                self.send_response(401)
            else:
                data = json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif mode == "basic":
            ok = auth == "Basic " + base64.b64encode(b"alice:s3cret").decode()
            data = success if ok else json.dumps(
                {"title": "Unauthorized", "detail": f"bad credentials {auth}"}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", SESSION)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._echo(404, "unknown")


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def invoke_env(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, args, env=env)
    if isinstance(r.exception, RmtoolError):
        return r.exception.exit_code, r.stdout, r.stderr + f"ERROR {r.exception}\n"
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every block the client reads from its sockets."""
    reads: list[int] = []
    original = corim_submit._DeadlineStream.read

    def counting(self: Any, max_bytes: int, timeout: float | None = None) -> bytes:
        data = original(self, max_bytes, timeout)
        reads.append(len(data))
        return data

    monkeypatch.setattr(corim_submit._DeadlineStream, "read", counting)
    return reads


@pytest.mark.parametrize("mode", ["big", "biglen"])
def test_64mib_answer_is_refused_after_the_cap(hostile: str, corim_file: Path, mode: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: a 200 with a huge body makes the client buffer it all (3.1 GB RSS for
    1.5 GB on main). Now: failure (exit 1) with the cap in the message, the client reads at
    most the cap plus one 64 KiB block (plus headers), and hangs up long before the server
    has written its 64 MiB."""
    reads = _count_reads(monkeypatch)
    code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                 f"{hostile}/{mode}/submit", "--timeout", "20"])
    assert code == 1 and out == ""
    assert CAP_MESSAGE in err and "success" not in err
    assert sum(reads) <= MAX_RESPONSE + 65536 + 4096
    for _ in range(100):  # the server thread notices the closed connection
        if mode in Hostile.finished:
            break
        time.sleep(0.05)
    assert Hostile.finished[mode] is False
    assert Hostile.sent[mode] < BIG


def test_oversized_token_response_is_refused(hostile: str, corim_file: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _count_reads(monkeypatch)
    with pytest.raises(SubmitFailed) as info:
        submit_corim(corim_file.read_bytes(), hostile + "/basic/submit", "application/rim+cbor",
                     auth=AuthConfig(method="oauth2", client_id="cid",
                                     client_secret=CLIENT_SECRET,
                                     token_url=hostile + "/bigtoken"), timeout=20)
    assert info.value.exit_code == 1
    assert CAP_MESSAGE in str(info.value) and "OAuth2 token" in str(info.value)
    assert sum(reads) <= MAX_RESPONSE + 65536 + 4096


@pytest.mark.parametrize("mode", ["trickle", "tricklehead"])
def test_trickling_server_fails_at_the_total_deadline(hostile: str, corim_file: Path,
                                                      mode: str) -> None:
    """The attack: a server sends its (successful) answer 1 byte every 0.2 s; with a
    per-read timeout of 1 s rmtool on main waited for all of it and printed success. Now
    --timeout 1 is the total: failure, exit 1, within a bounded time (a hang bound, not a
    performance figure)."""
    start = time.monotonic()
    code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                 f"{hostile}/{mode}/submit", "--timeout", "1"])
    elapsed = time.monotonic() - start
    assert code == 1 and out == "" and "success" not in err
    assert "no complete response within 1 s" in err
    assert elapsed < 3


def test_silent_server_and_slow_reader_fail_at_the_deadline(corim_file: Path) -> None:
    """A server that accepts the connection but never reads nor answers: the request write
    (8 MiB, more than the socket buffers hold) and the wait for an answer are both bounded
    by the one deadline."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # connections complete in the backlog; nobody ever accepts them
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/submit"
        for data in (b"x", b"x" * (8 * 1024 * 1024)):
            start = time.monotonic()
            with pytest.raises(SubmitFailed) as info:
                submit_corim(data, url, "application/rim+cbor", timeout=1)
            assert time.monotonic() - start < 3
            assert "no complete response within 1 s" in str(info.value)
    finally:
        listener.close()


def test_hanging_name_resolution_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution has no timeout of its own; the deadline still bounds it."""
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(5)
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    start = time.monotonic()
    with pytest.raises(SubmitFailed) as info:
        submit_corim(b"x", "http://provisioning.example.invalid/", "application/rim+cbor",
                     timeout=0.5)
    assert time.monotonic() - start < 3
    assert "no complete response within 0.5 s" in str(info.value)


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def test_userinfo_credentials_are_redacted(hostile: str, corim_file: Path) -> None:
    """The mistake: `--api-server https://user:pass@host/` and a server that echoes what it
    received put the password in rmtool's error output (and in CI logs)."""
    port = hostile.rsplit(":", 1)[1]
    url = f"http://alice:s3cret@127.0.0.1:{port}/echo500/submit?access_token=qT7x"
    basic = base64.b64encode(b"alice:s3cret").decode()
    for fmt in ("table", "json"):
        code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server", url,
                                     "--format", fmt])
        assert code == 1
        assert "HTTP 500" in err if fmt == "table" else json.loads(out)["http_status"] == 500
        assert _leaks(out + err, ["s3cret", basic, "qT7x"]) == []
        assert f"http://***@127.0.0.1:{port}/echo500/submit?access_token=***" in out + err
    # a refused connection names the URL, still without the password
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                 f"https://bob:pw-R4nd0m@127.0.0.1:{free}/"])
    assert code == 1 and "pw-R4nd0m" not in out + err
    assert f"cannot submit to https://***@127.0.0.1:{free}/" in err


def test_token_endpoint_echo_does_not_leak_client_secret(hostile: str, corim_file: Path,
                                                         tmp_path: Path) -> None:
    """The token endpoint reflects the (wrong) client secret in its error; the secret, its
    Basic encoding and token-URL user information never reach the output."""
    secret = "wrong-Secret-77"
    f = tmp_path / "secret"
    f.write_text(secret + "\n")
    port = hostile.rsplit(":", 1)[1]
    code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                 hostile + "/basic/submit", "--auth", "oauth2",
                                 "--client-id", "cid", "--client-secret-file", str(f),
                                 "--token-url", f"http://tu:tokpass@127.0.0.1:{port}/token"])
    assert code == 1 and "HTTP 401" in err and "bad client" in err
    encoded = base64.b64encode(f"cid:{secret}".encode()).decode()
    assert _leaks(out + err, [secret, encoded, "tokpass"]) == []


def test_bearer_token_echo_is_redacted(hostile: str, corim_file: Path) -> None:
    """A provisioning server that echoes the bearer token it received in a 500."""
    code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                 hostile + "/echo500/submit", "--auth", "oauth2",
                                 "--client-id", "cid", "--token-url", hostile + "/token"],
                                env={"RMTOOL_PROVISIONING_CLIENT_SECRET": CLIENT_SECRET})
    assert code == 1 and "HTTP 500" in err and "internal error for Bearer ***" in err
    assert _leaks(out + err, [TOKEN, CLIENT_SECRET]) == []


def test_basic_password_echo_is_redacted(hostile: str, corim_file: Path) -> None:
    code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                 hostile + "/basic/submit", "--auth", "basic", "--username",
                                 "alice"], env={"RMTOOL_PROVISIONING_PASSWORD": "Wr0ng-pw"})
    assert code == 1 and "HTTP 401" in err and "bad credentials Basic ***" in err
    assert _leaks(out + err, ["Wr0ng-pw", base64.b64encode(b"alice:Wr0ng-pw").decode()]) == []


def test_redactor_rules() -> None:
    r = Redactor(["hunter2"])
    assert r("see https://u:p@h.example/x?token=abc&client_secret=def&keep=1 hunter2") == \
        "see https://***@h.example/x?token=***&client_secret=***&keep=1 ***"
    assert r("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer ***"
    assert r("password=x%20y; status_code=500") == "password=***; status_code=500"
    assert r("p=hunter%32") == "p=hunter%32"        # not the secret
    assert r("q=hunter2%21") == "q=***%21"


def test_password_from_env_and_from_file(hostile: str, corim_file: Path,
                                         tmp_path: Path) -> None:
    """A password on the command line is visible in ps; the environment variable and the
    file are the alternatives, and the command line one earns a warning."""
    base = ["corim", "submit", str(corim_file), "--api-server", hostile + "/basic/submit",
            "--auth", "basic", "--username", "alice"]
    code, out, err = invoke_env(base, env={"RMTOOL_PROVISIONING_PASSWORD": "s3cret"})
    assert (code, err) == (0, "") and "success" in out
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    code, out, err = invoke_env(base + ["--password-file", str(pw)],
                                env={"RMTOOL_PROVISIONING_PASSWORD": "ignored"})
    assert (code, err) == (0, "") and "success" in out
    code, out, err = invoke_env(base + ["--password", "s3cret"])
    assert code == 0 and "WARN --password on the command line is visible" in err
    code, _, err = invoke_env(base + ["--password", "s3cret", "--password-file", str(pw)])
    assert code == 2 and "not both" in err
    code, _, err = invoke_env(base + ["--password-file", str(tmp_path / "missing")])
    assert code == 2 and "cannot read password file" in err


def test_client_secret_from_file(hostile: str, corim_file: Path, tmp_path: Path) -> None:
    f = tmp_path / "cs"
    f.write_text(CLIENT_SECRET + "\n")
    # the submit endpoint accepts only alice's basic credentials, so a bearer token gets a
    # 401: what matters here is that the token request (which needs the secret) succeeded
    code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                 hostile + "/echo500/submit", "--auth", "oauth2",
                                 "--client-id", "cid", "--client-secret-file", str(f),
                                 "--token-url", hostile + "/token"])
    assert code == 1 and "HTTP 500" in err and "Bearer ***" in err
    assert CLIENT_SECRET not in out + err and TOKEN not in out + err


@pytest.mark.parametrize("args, message", [
    (["--api-server", "ftp://h/"], "is not an http(s) URL"),
    (["--api-server", "http://h/", "--timeout", "0"], "--timeout must be a positive"),
    (["--api-server", "http://h/", "--timeout", "nan"], "--timeout must be a positive"),
    (["--api-server", "http://h/", "--auth", "basic", "--username", "a"], "needs --username"),
    (["--api-server", "http://h/", "--media-type", "a/b\r\nX-Injected: 1"], "not printable"),
])
def test_bad_arguments_exit_2(corim_file: Path, args: list[str], message: str) -> None:
    code, _, err = invoke_env(["corim", "submit", str(corim_file), *args])
    assert code == 2 and message in err


def test_unreadable_corim_exits_2(tmp_path: Path) -> None:
    """The CoRIM is read bounded and regular-file-only (a FIFO would hang, a huge file
    would be read whole): unusable input, exit 2, nothing sent."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.cbor"
    with open(huge, "wb") as f:
        f.truncate(LIMITS["corim"] + 1)
    for path, message in ((fifo, "is a FIFO"), (huge, f"larger than {LIMITS['corim']} bytes")):
        code, out, err = invoke_env(["corim", "submit", str(path), "--api-server",
                                     "http://127.0.0.1:9/"])
        assert code == 2 and out == "" and f"CoRIM {path}" in err and message in err


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_with_pinned_ca_and_deadline(corim_file: Path, tmp_path: Path) -> None:
    """The deadline-bounded transport still does TLS: a server certificate from --ca-cert
    is accepted, an unknown one is a failed submission (exit 1), --insecure skips the
    check; and a TLS server that never completes the handshake is bounded by --timeout."""
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # accepts TCP, never says a TLS word
    try:
        url = f"https://localhost:{httpd.server_address[1]}/ok/submit"
        base = ["corim", "submit", str(corim_file), "--api-server", url, "--timeout", "10"]
        code, out, err = invoke_env(base + ["--ca-cert", str(cert_file)])
        assert (code, err) == (0, "") and "success" in out
        code, out, err = invoke_env(base + ["--ca-cert", str(tmp_path / "missing.pem")])
        assert code == 2 and "cannot read CA bundle" in err
        code, out, err = invoke_env(base)
        assert code == 1 and out == "" and "CERTIFICATE_VERIFY_FAILED" in err
        code, out, err = invoke_env(base + ["--insecure"])
        assert code == 0 and "success" in out
        start = time.monotonic()
        code, out, err = invoke_env(["corim", "submit", str(corim_file), "--api-server",
                                     f"https://localhost:{silent.getsockname()[1]}/",
                                     "--insecure", "--timeout", "1"])
        assert code == 1 and "no complete response within 1 s" in err
        assert time.monotonic() - start < 3
    finally:
        silent.close()
        httpd.shutdown()
        httpd.server_close()
