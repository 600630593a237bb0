"""File channel: alerts and digests as `.eml` files in `mail_dir`, used when nothing is set up."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from config.schema import ServiceConfig
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing, Target
from notify.mail import render_email

log = logging.getLogger("strideguard.notify")  # the dispatcher's logger: this line is its report

LOCAL_SENDER = "StrideGuard <strideguard@localhost>"
COACH_ADDRESS = "coach@localhost"


class FileChannel:
    """Writes the alert or digest email to disk (openable in any mail client) instead of
    sending it."""

    kind = "file"

    def configured(self, config: ServiceConfig) -> bool:
        return False  # nothing in the config sets it up: it is where notices go otherwise

    def targets(
        self, config: ServiceConfig, athlete_id: str | None, kind: NoticeKind
    ) -> list[Target]:
        return [] if kind == "resolved" else [Target(self.kind)]

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        return render_email(notice, sender=LOCAL_SENDER,
                            to=[local_address(config, notice.athlete_id)])

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        path = write_eml(message.payload, config.mail_dir, message.event_id)
        log.info("email written to %s", path)
        return DeliveryResult(ok=True)


def local_address(config: ServiceConfig, athlete_id: str | None) -> str:
    """The To of an .eml: the athlete's address, else `<id>@localhost` (`coach@` for the squad)."""
    if athlete_id is None:
        return COACH_ADDRESS
    athlete = config.athlete(athlete_id)
    return athlete.email if athlete and athlete.email else f"{athlete_id}@localhost"


CHANNEL = FileChannel()


def write_eml(message_bytes: bytes, mail_dir: Path, name: str) -> Path:
    """Atomically write `mail_dir/<name>.eml`; the same name is the same file."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"unsafe .eml name {name!r}")
    mail_dir.mkdir(parents=True, exist_ok=True)
    target = mail_dir / f"{name}.eml"
    fd, temp_path = tempfile.mkstemp(dir=mail_dir, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(message_bytes)
            handle.flush()
            os.fsync(handle.fileno())
        # Readers see either no file or the whole message, never a partial one.
        os.replace(temp_path, target)
    except BaseException:
        Path(temp_path).unlink(missing_ok=True)
        raise
    return target
