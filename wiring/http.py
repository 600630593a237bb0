"""The health and metrics endpoint of `strideguard run` (DESIGN §8), on `http.listen`:

- `/healthz`: 200 `ok` while the process answers at all; never touches the database.
- `/readyz`: 200 `ready`, or 503 with each reason on a line (database unreachable or not
  migrated, inbox unreadable, scheduler not running).
- `/metrics`: the process's metrics in the Prometheus text format.

The standard library's threading server in a daemon thread: a few requests a minute need
nothing more, and a slow client ties up only its own thread (and only for REQUEST_TIMEOUT_S).
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import exposition

from config.schema import ListenAddress

log = logging.getLogger("strideguard.http")
REQUEST_TIMEOUT_S = 10.0
PATHS = ("/healthz", "/readyz", "/metrics")
# the text format generate_latest writes (0.0.4); older prometheus_client names it LATEST
METRICS_CONTENT_TYPE: str = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4",
                                    exposition.CONTENT_TYPE_LATEST)


class ListenError(Exception):
    """The endpoint cannot listen where the config says (the port is taken, say)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung client never holds the process open at shutdown
    # Linux: a restart binds at once despite TIME_WAIT, and a live listener still wins. Not
    # elsewhere: on Windows SO_REUSEADDR lets a second process bind a port in use
    allow_reuse_address = sys.platform == "linux"

    def __init__(self, address: ListenAddress, handler: type[BaseHTTPRequestHandler],
                 endpoint: HealthEndpoint) -> None:
        self.address_family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        self.endpoint = endpoint
        super().__init__((address.host, address.port), handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT_S
    server_version = "strideguard"

    def version_string(self) -> str:
        """The Server header: the name alone (no Python version, no trailing space)."""
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        try:
            status, content_type, body = self.server.endpoint.respond(path)
        except Exception:  # a bug here answers 500, never kills the server thread
            log.exception("answering %s failed", path)
            status, content_type, body = 500, "text/plain; charset=utf-8", b"internal error\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        # a probe every few seconds is no news: requests are logged at debug only
        log.debug("%s %s", self.address_string(), format % args)


class HealthEndpoint:
    """Serves /healthz, /readyz and /metrics from a daemon thread until `stop()`."""

    def __init__(self, address: ListenAddress, problems: Callable[[], list[str]],
                 metrics: Callable[[], bytes]) -> None:
        self.address = address
        self._problems = problems
        self._metrics = metrics
        try:
            self._server = _Server(address, _Handler, self)
        except OSError as exc:
            raise ListenError(_listen_failure(address, exc)) from exc
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.5},
                                        name="strideguard-http", daemon=True)

    @property
    def port(self) -> int:
        """The port listened on (the real one when the config asked for 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.address.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info("serving /healthz /readyz /metrics on %s", ListenAddress(self.address.host,
                                                                           self.port))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """The status, content type and body for a GET of `path`."""
        text = "text/plain; charset=utf-8"
        if path == "/healthz":
            return 200, text, b"ok\n"
        if path == "/readyz":
            problems = self._problems()
            if problems:
                return 503, text, ("not ready\n" + "\n".join(problems) + "\n").encode()
            return 200, text, b"ready\n"
        if path == "/metrics":
            return 200, METRICS_CONTENT_TYPE, self._metrics()
        return 404, text, f"not found; try {', '.join(PATHS)}\n".encode()


def _listen_failure(address: ListenAddress, exc: OSError) -> str:
    """Why listening failed, naming the address and what to do."""
    if exc.errno == errno.EADDRINUSE:
        return (f"http.listen {address}: port {address.port} is already in use (another "
                "strideguard run on this host?); give each process its own port, 0 for any "
                "free port, or `off`")
    if exc.errno == errno.EACCES:
        return (f"http.listen {address}: not allowed to listen on port {address.port} "
                "(ports below 1024 need privileges); choose another port or `off`")
    return f"http.listen {address}: cannot listen there ({exc.strerror or exc})"
