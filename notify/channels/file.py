"""File channel: firing alerts as `.eml` files in `mail_dir`, used when nothing else is set up."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from config.schema import ServiceConfig
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing, Target
from notify.mail import render_alert_email

log = logging.getLogger("strideguard.notify")  # the dispatcher's logger: this line is its report

LOCAL_SENDER = "StrideGuard <strideguard@localhost>"


class FileChannel:
    """Writes the alert email to disk (openable in any mail client) instead of sending it."""

    kind = "file"

    def configured(self, config: ServiceConfig) -> bool:
        return False  # nothing in the config sets it up: it is where alerts go otherwise

    def targets(self, config: ServiceConfig, athlete_id: str, kind: NoticeKind) -> list[Target]:
        return [Target(self.kind)] if kind == "firing" else []

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        athlete = config.athlete(notice.athlete_id)
        to = [athlete.email] if athlete and athlete.email else [f"{notice.athlete_id}@localhost"]
        return render_alert_email(
            notice.alert, notice.kind, sender=LOCAL_SENDER, to=to, event_id=notice.event_id
        )

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        path = write_eml(message.payload, config.mail_dir, message.event_id)
        log.info("alert written to %s", path)
        return DeliveryResult(ok=True)


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
