"""Native file events for the inbox (watchdog): they only say "look now", never what to ingest.

The periodic full scan stays the guarantee (events are lost on network shares, container bind
mounts, a full event queue or a removed inbox); an event just makes the next scan come sooner.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from ingest.inbox import is_inbox_name

log = logging.getLogger("strideguard.watch")

WatchMode = Literal["auto", "events", "polling"]
# what can mean "a file to read has arrived"; opens, reads and deletions never do (the scan's
# own reading and moving would otherwise wake it up again)
EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent,
    DirCreatedEvent, DirMovedEvent,
]
STOP_TIMEOUT_S = 5.0


class WatchError(RuntimeError):
    """Native file events were required (`ingest.watch: events`) but cannot watch the inbox."""


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: InboxWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not self._watcher.is_relevant(event):
            return
        try:
            self._watcher.on_change()
        except Exception:  # an exception here would silently end the observer thread
            log.exception("inbox change callback failed")


class InboxWatcher:
    """Calls `on_change()` (on the observer's thread) when a file may have arrived below `inbox`.

    `mode`: `events` requires native events (start() raises WatchError if they cannot start),
    `auto` tries them and otherwise logs one warning, `polling` starts no observer at all.
    `exclude` holds folders whose events mean nothing (archive and quarantine inside the inbox).
    """

    def __init__(self, inbox: Path, on_change: Callable[[], None], mode: WatchMode = "auto", *,
                 exclude: Sequence[Path] = (), poll_interval_s: float | None = None) -> None:
        self.inbox = inbox.resolve()
        self.on_change = on_change
        self.mode = mode
        self.exclude = tuple(path.resolve() for path in exclude)
        self.poll_interval_s = poll_interval_s
        self._observer: BaseObserver | None = None

    def start(self) -> bool:
        """Start watching; True if native events are on, False if only the scan interval is."""
        if self.mode == "polling":
            log.info("watching %s by polling only (ingest.watch: polling)", self.inbox)
            return False
        try:
            self._observer = self._start_observer()
        except (OSError, RuntimeError) as exc:
            cause = _describe(exc)
            if self.mode == "events":
                raise WatchError(
                    f"ingest.watch is 'events' but native file events cannot watch the inbox "
                    f"{self.inbox}: {cause}. Fix the cause, or set ingest.watch to 'auto' or "
                    f"'polling' to rely on the periodic scan") from exc
            every = (f" every {self.poll_interval_s:g}s" if self.poll_interval_s is not None
                     else "")
            log.warning("native file events cannot watch the inbox %s (%s); falling back to "
                        "polling%s (schedule.scan_interval)", self.inbox, cause, every)
            return False
        log.info("watching %s with native file events (%s)", self.inbox,
                 type(self._observer).__name__)
        return True

    def _start_observer(self) -> BaseObserver:
        if issubclass(Observer, PollingObserver):  # type: ignore[arg-type]
            raise RuntimeError("watchdog has no native file-event API on this platform")
        if not self.inbox.is_dir():
            raise FileNotFoundError(f"{self.inbox} is not a folder")
        observer = Observer()
        observer.schedule(_Handler(self), os.fspath(self.inbox), recursive=True,
                          event_filter=EVENT_TYPES)
        try:
            observer.start()  # adds the inotify (or FSEvents, kqueue, ...) watches now
        except BaseException:
            observer.stop()
            raise
        return observer

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the observer and wait for its thread (at most `timeout_s`)."""
        observer, self._observer = self._observer, None
        if observer is None:
            return
        noise = logging.getLogger("watchdog.observers.inotify")
        noise.addFilter(_quiet_stop)
        try:
            observer.stop()
            observer.join(timeout_s)
        finally:
            noise.removeFilter(_quiet_stop)
        if observer.is_alive():
            log.warning("the file-event observer did not stop within %gs; leaving it", timeout_s)

    def is_relevant(self, event: FileSystemEvent) -> bool:
        """A FIT file (or a zip export, a journal.csv, or a folder that may hold them) appeared
        or changed."""
        if not isinstance(event, tuple(EVENT_TYPES)):
            return False
        raw = event.dest_path if isinstance(event, FileMovedEvent | DirMovedEvent) else (
            event.src_path)
        if not raw:
            return False
        path = Path(os.fsdecode(raw))
        try:
            relative = path.relative_to(self.inbox)
        except ValueError:  # moved out of the inbox
            return False
        if not relative.parts or any(part.startswith(".") for part in relative.parts[:-1]):
            return False  # the inbox itself, or inside a hidden folder the scan skips
        if any(path == folder or folder in path.parents for folder in self.exclude):
            return False
        if event.is_directory:
            return not relative.parts[-1].startswith(".")  # may hold files not yet reported
        return is_inbox_name(path)


def _quiet_stop(record: logging.LogRecord) -> bool:
    """Drop watchdog's "called when the thread is inactive" error: a race inside its own stop
    (an event still queued when the watch closes), harmless, and no error of ours."""
    return "called when the thread is inactive" not in record.getMessage()


def _describe(exc: BaseException) -> str:
    """The cause in words an operator can act on."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and "inotify watch limit" in text:
        text += " (raise fs.inotify.max_user_watches, e.g. sysctl fs.inotify.max_user_watches=" \
                "524288)"
    elif isinstance(exc, OSError) and "inotify instance limit" in text:
        text += " (raise fs.inotify.max_user_instances)"
    return text or type(exc).__name__
