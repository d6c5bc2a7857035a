"""A preview server for a built folder, with the CDN's URL rules, 404 page and headers."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

from broadsheet.edition import urls, viewer

Fetch = Callable[[str], bytes | None]


def folder_fetcher(root: Path) -> Fetch:
    root = root.resolve()

    def fetch(key: str) -> bytes | None:
        try:
            path = (root / key).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                return None
            return path.read_bytes()
        except (OSError, ValueError):  # a name the file system cannot hold: not there
            return None

    return fetch


class _Handler(BaseHTTPRequestHandler):
    fetch: Fetch
    redirects: Callable[[], dict[str, str]]
    quiet = False
    server_version = "broadsheet"
    sys_version = ""

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def _respond(self, *, send_body: bool) -> None:
        decision = viewer.route(unquote(self.path), self.redirects())
        if decision.status is not None:
            self.send_response(HTTPStatus(decision.status))
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", "12")
            self.end_headers()
            if send_body:
                self.wfile.write(b"Bad request\n")
            return
        if decision.redirect is not None:
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            # Built from the decoded path, so encoded again: a header is ASCII, always.
            self.send_header("Location", quote(decision.redirect, safe="/"))
            self._headers("")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        key = decision.key or ""
        body = self.fetch(key)
        status = HTTPStatus.OK
        if body is None:
            status, key = HTTPStatus.NOT_FOUND, urls.NOT_FOUND.lstrip("/")
            body = self.fetch(key) or b"Not found\n"
        self.send_response(status)
        self.send_header("Content-Type", urls.content_type(key))
        self.send_header("Content-Length", str(len(body)))
        self._headers(key)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _headers(self, key: str) -> None:
        for name, value in viewer.SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", viewer.cache_control(key))
        if key.startswith("api/"):
            self.send_header("Access-Control-Allow-Origin", "*")

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            sys.stderr.write(f"  {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # One line, never a traceback: a reader's odd request is not the server's failure.
        error = sys.exc_info()[1]
        sys.stderr.write(f"  request from {client_address} failed: {error!r}\n")


def make_server(
    fetch: Fetch,
    host: str = "127.0.0.1",
    port: int = 8000,
    quiet: bool = False,
    redirects: Callable[[], dict[str, str]] = dict,
) -> ThreadingHTTPServer:
    """A server bound to (host, port); raises OSError with a plain message when taken."""
    handler = type(
        "Handler",
        (_Handler,),
        {"fetch": staticmethod(fetch), "quiet": quiet, "redirects": staticmethod(redirects)},
    )
    try:
        server = _Server((host, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise OSError(
                f"port {port} on {host} is already in use: stop what runs there or "
                f"choose another port (PORT=8002 make run)"
            ) from None
        raise
    server.daemon_threads = True
    return server
