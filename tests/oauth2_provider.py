"""A tiny OAuth2 provider for the private mail stack: it issues access tokens and answers
token introspection (RFC 7662) on loopback, the way Google or Microsoft's endpoints tell a
mail server whom a bearer token belongs to.

Dovecot's ``oauth2`` passdb POSTs ``token=...`` to ``introspection_url`` at every XOAUTH2
or OAUTHBEARER login (no auth cache in the test config) and accepts the login when the
answer says ``"active": true`` and ``"username"`` is the user logging in. The SMTP relay
asks ``owner()`` directly: one table, so IMAP and SMTP agree on which tokens are valid.
Revoking a token is how a test makes it "expire".

This module must not import pytest: ``tests/mailstack.py`` uses it, and so do benchmarks.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

INTROSPECTION_PATH = "/introspect"


class OAuth2Provider:
    """Tokens by owner, and an introspection endpoint on 127.0.0.1 (``url``)."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.introspections = 0  # how many times the mail server asked about a token

    # ---- tokens ------------------------------------------------------------------------

    def grant(self, user: str) -> str:
        """A new access token for `user` (lower-cased), valid until revoked."""
        token = "ya29." + secrets.token_urlsafe(24)
        with self._lock:
            self._owners[token] = user.lower()
        return token

    def revoke(self, token: str) -> None:
        """The token stops working at once, as an expired one does."""
        with self._lock:
            self._owners.pop(token, None)

    def owner(self, token: str) -> str | None:
        """Whose the token is, or None for an unknown, revoked or expired one."""
        with self._lock:
            return self._owners.get(token)

    def _introspect(self, token: str) -> dict[str, object]:
        with self._lock:
            self.introspections += 1
            user = self._owners.get(token)
        if user is None:
            return {"active": False}
        return {"active": True, "username": user, "token_type": "Bearer"}

    # ---- the HTTP endpoint -------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{INTROSPECTION_PATH}"

    def start(self) -> OAuth2Provider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body go out in two writes: with Nagle's algorithm the body
            # waits for the client's delayed ACK, adding 40 ms to every login.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                if self.path.split("?")[0] != INTROSPECTION_PATH:
                    self._answer(404, {"error": "not_found"})
                    return
                self._answer(200, provider._introspect(form.get("token", [""])[0]))

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                # Request lines would carry nothing useful and clutter test output.
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="oauth2-introspection", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
