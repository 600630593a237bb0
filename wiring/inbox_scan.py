"""The inbox walk of `strideguard run`'s scan job, and the folders it could not list.

A folder the process may not list (a container run with the wrong PUID, a folder made by
another user with mode 700) would otherwise be passed over in silence, scan after scan, and
the scan counted a success. Here each one is logged when it starts failing (again once it
can be listed and fails anew), counted in the metrics, named by `/readyz`; and a scan that
could not list the inbox itself is no successful scan.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from ingest.inbox import InboxFile, scan_inbox

log = logging.getLogger("strideguard.ingest")

PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR})
ADVICE = {
    "permission": "check the folder's owner and mode against the user StrideGuard runs as "
                  "(the container's PUID/PGID?)",
    "missing": "is it unmounted, or was it moved?",
    "other": "check the disk or the share it is on",
}


def folder_error_class(exc: OSError) -> str:
    """A metric label for why a folder could not be listed: permission, missing or other."""
    if exc.errno in PERMISSION_ERRNOS:
        return "permission"
    if exc.errno in MISSING_ERRNOS:
        return "missing"
    return "other"


class InboxScan:
    """The inbox's files for one scan at a time (the scan job's thread), and what the last
    scan could not list (read from any thread: `/readyz`)."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox
        self._root = os.fspath(inbox)
        self._lock = threading.Lock()
        # folder -> (reason class, the error's words): the folders that cannot be listed, as
        # far as the scans know (one below an inbox not listed is not known to be back)
        self._unlisted: dict[str, tuple[str, str]] = {}
        self._reasons: list[str] = []  # the class of each folder the last scan met unlistable
        self.inbox_listed = True

    def list_files(self, exclude: Sequence[Path] = ()) -> list[InboxFile]:
        """Every file of the inbox to ingest now (ingest.inbox.scan_inbox), after noting the
        folders it could not list."""
        failed: dict[str, tuple[str, str]] = {}

        def unlisted(exc: OSError) -> None:
            folder = os.fspath(exc.filename) if exc.filename is not None else self._root
            if folder != self._root and exc.errno in MISSING_ERRNOS:
                return  # removed (or replaced by a file) while the scan walked: no problem
            failed.setdefault(folder, (folder_error_class(exc), exc.strerror or str(exc)))

        items = list(scan_inbox(self.inbox, tuple(exclude), on_error=unlisted))
        self._settle(failed)
        return items

    def _settle(self, failed: dict[str, tuple[str, str]]) -> None:
        """Log the folders that started failing, and those that recovered; keep `failed`."""
        inbox_listed = self._root not in failed
        reasons = [reason for reason, _words in failed.values()]
        with self._lock:
            before = self._unlisted
            if not inbox_listed:  # nothing below was looked at: what failed there still does
                failed = {**{folder: why for folder, why in before.items()
                             if folder != self._root}, **failed}
            self._unlisted, self._reasons, self.inbox_listed = failed, reasons, inbox_listed
        for folder, (reason, words) in failed.items():
            if folder not in before:
                log.warning("cannot list %s (%s): its files are not read until it can be; %s",
                            folder, words, ADVICE.get(reason, ADVICE["other"]))
        for folder in before.keys() - failed.keys():
            log.info("%s can be listed again; its files are read", folder)

    def unlisted_reasons(self) -> list[str]:
        """The reason class of each folder the last scan could not list."""
        with self._lock:
            return list(self._reasons)

    def problems(self) -> list[str]:
        """`/readyz` lines for the folders below the inbox the last scan could not list (the
        inbox itself is looked at by each request: wiring.health.inbox_problem)."""
        with self._lock:
            unlisted = sorted(self._unlisted.items())
        return [f"inbox: cannot list {folder} at the last scan ({words}): its files are not "
                "read" for folder, (_reason, words) in unlisted if folder != self._root]
