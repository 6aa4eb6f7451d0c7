"""A local Veraison provisioning service for the CLI tests (tests/test_exit_codes.py,
tests/test_outputs.py): veraison/services' provisioning-session JSON with HTTP 200. A path
that starts with ``/fail`` rejects the CoRIM with :attr:`Provisioning.reason`; every other
path accepts it. tests/test_corim_submit.py has the fuller server (auth, redirects, limits).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MEDIA_TYPE = "application/vnd.veraison.provisioning-session+json"


class Provisioning(BaseHTTPRequestHandler):
    """Accepts every CoRIM, except on ``/fail...`` paths."""

    reason = "RIM (cca.rim) measurement is mandatory"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        doc: dict[str, Any] = {"status": "success", "expiry": "2026-01-01T00:00:00Z"}
        if self.path.startswith("/fail"):
            doc = {"status": "failed", "expiry": "2026-01-01T00:00:00Z",
                   "failure-reason": self.reason}
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", MEDIA_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(handler: type[Provisioning] = Provisioning) -> Iterator[str]:
    """Run ``handler`` on a free local port; yields ``http://127.0.0.1:PORT``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
