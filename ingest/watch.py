"""Native file events for the inbox and the source folders (watchdog): they only say "look
now", never what to ingest.

The periodic full scan stays the guarantee (events are lost on network shares, container bind
mounts, a full event queue or a removed inbox); an event just makes the next scan come sooner.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Sequence
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
from ingest.settings import SourceFolder

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
    """Native file events were required (`watch: events`) but cannot watch the folder."""


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
    `what` and `setting` name the folder and its watch setting in messages (a source folder's
    are not the inbox's).
    """

    def __init__(self, inbox: Path, on_change: Callable[[], None], mode: WatchMode = "auto", *,
                 exclude: Sequence[Path] = (), poll_interval_s: float | None = None,
                 what: str = "the inbox", setting: str = "ingest.watch") -> None:
        self.inbox = inbox.resolve()
        self.on_change = on_change
        self.mode = mode
        self.exclude = tuple(path.resolve() for path in exclude)
        self.poll_interval_s = poll_interval_s
        self.what = what
        self.setting = setting
        self._observer: BaseObserver | None = None

    def start(self) -> bool:
        """Start watching; True if native events are on, False if only the scan interval is."""
        if self.mode == "polling":
            log.info("watching %s by polling only (%s: polling)", self.inbox, self.setting)
            return False
        try:
            self._observer = self._start_observer()
        except (OSError, RuntimeError) as exc:
            cause = _describe(exc)
            if self.mode == "events":
                raise WatchError(
                    f"{self.setting} is 'events' but native file events cannot watch "
                    f"{self.what} {self.inbox}: {cause}. Fix the cause, or set {self.setting} "
                    f"to 'auto' or 'polling' to rely on the periodic scan") from exc
            every = (f" every {self.poll_interval_s:g}s" if self.poll_interval_s is not None
                     else "")
            log.warning("native file events cannot watch %s %s (%s); falling back to "
                        "polling%s (schedule.scan_interval)", self.what, self.inbox, cause, every)
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
        # links to folders are not watched through, as the scan does not walk them (a link
        # to / would otherwise add a watch for every folder on the machine)
        observer.schedule(_Handler(self), os.fspath(self.inbox), recursive=True,
                          event_filter=EVENT_TYPES, follow_symlink=False)
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


class SourceWatchers:
    """File events for the source folders with `watch: auto` or `events` (a `polling` one has
    none): like the inbox's, they only bring the scan forward. A folder that is not there at
    the start (a watch unplugged) is not an error: it is watched from when it comes back
    (`restart`, which the source scan calls), as is one mounted anew at the same path. Only the
    `usable` sources are watched (the scan refuses one overlapping StrideGuard's own folders).
    """

    def __init__(self, sources: Sequence[SourceFolder], on_change: Callable[[], None], *,
                 exclude: Sequence[Path] = (), poll_interval_s: float | None = None,
                 usable: Collection[SourceFolder] | None = None) -> None:
        # by their index in `sources:`, which messages name; `usable`: those the scan reads
        self._sources = {index: source for index, source in enumerate(sources)
                         if source.watch != "polling" and (usable is None or source in usable)}
        self._on_change = on_change
        self._exclude = tuple(exclude)
        self._poll_interval_s = poll_interval_s
        self._watchers: dict[Path, InboxWatcher] = {}
        self._lock = threading.Lock()  # restart() comes from the scan job's thread
        self._closed = False

    def _watcher(self, index: int, source: SourceFolder) -> InboxWatcher:
        return InboxWatcher(source.path, self._on_change, source.watch, exclude=self._exclude,
                            poll_interval_s=self._poll_interval_s, what="the source folder",
                            setting=f"sources[{index}].watch")

    def start(self) -> int:
        """Watch every such folder that is there; how many have native events. Raises
        WatchError for a folder with `watch: events` that is there but cannot be watched."""
        native = 0
        with self._lock:
            for index, source in self._sources.items():
                if not source.path.is_dir():
                    continue  # reported by the scan; watched once it is back
                watcher = self._watcher(index, source)
                native += watcher.start()
                self._watchers[source.path] = watcher
        return native

    def restart(self, source: SourceFolder) -> None:
        """A folder came back (or is another mount now): watch it anew. Failing is a warning
        here, not an error: the scan interval still reads it."""
        index = next((i for i, known in self._sources.items() if known == source), None)
        if index is None:
            return
        with self._lock:
            if self._closed:
                return
            old = self._watchers.pop(source.path, None)
            if old is not None:
                old.stop()
            watcher = self._watcher(index, source)
            try:
                watcher.start()
            except WatchError as exc:
                log.warning("%s", exc)
                return
            self._watchers[source.path] = watcher

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            watchers, self._watchers = list(self._watchers.values()), {}
        for watcher in watchers:
            watcher.stop()
