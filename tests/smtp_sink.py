"""A real SMTP server on loopback for tests: aiosmtpd with a handler that keeps what it gets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

# aiosmtpd's server thread logs each connection; after a test, pytest has closed the stream
# those lines would go to ("Logging error ... I/O operation on closed file")
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool


@dataclass
class Collector:
    """aiosmtpd handler: records each accepted message; per-address RCPT replies inject errors."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        if self.data_reply:
            return self.data_reply
        # The transport is the TLS one after STARTTLS or with implicit TLS.
        tls = server.transport.get_extra_info("ssl_object") is not None
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, tls)
        self.received.append(received)
        return "250 Message accepted"


class LoopbackController(Controller):
    """Binds an ephemeral port (port=0) and learns it before aiosmtpd's readiness probe."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


# the `smtp_server` fixture (conftest.py): start(handler, **options) -> a running server
StartServer = Callable[..., LoopbackController]
