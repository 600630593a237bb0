"""Symbolic links are never followed where StrideGuard reads on its own (the inbox, source
folders, folders named to `ingest`): a link dropped into an athlete's inbox folder could point
at another athlete's archived run, or at any file the service can read. Files are opened
without following a link (O_NOFOLLOW), so a link put in a file's place after the scan looked
is refused too."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

# os.open flags: refuse a link as the last part of the path; a FIFO or device put where a file
# was never blocks the open (the file type is checked right after)
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS = os.O_RDONLY | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(
    os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
LINK_ADVICE = ("StrideGuard never follows links in the inbox (one could make another athlete's "
               "or another program's file pass for this athlete's): put the file itself in the "
               "inbox, or list the folder it lives in under `sources:`")
FOLDER_LINK_ADVICE = ("list the folder it points to under `sources:` (read and copied, never "
                      "changed), or put the files themselves in the inbox")


class LinkRefused(OSError):
    """A path StrideGuard was to read is a symbolic link (or no regular file at all): nothing
    was read through it. An OSError, so a reader that meets one mid-way reports an error for
    that file and goes on."""


NOT_AS_SCANNED = ("it is no longer the file the scan found there (a folder on its path, or the "
                  "file itself, was replaced, perhaps by a link): not read, not moved; it is "
                  "looked at again at the next scan")


class NotAsScanned(LinkRefused):
    """The path leads to another file than the one the scan found (a folder on it swapped for a
    link, or the file for another): nothing is read from it or moved."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.ESTALE, NOT_AS_SCANNED, str(path))

    def __str__(self) -> str:
        return NOT_AS_SCANNED


def is_link(path: Path) -> bool:
    """Is the path itself a symbolic link (whatever it points to, if anything)? False for a
    path that is gone."""
    try:
        return stat.S_ISLNK(path.lstat().st_mode)
    except OSError:
        return False


def link_target(path: Path) -> str:
    """What a link points to, as written in it (not resolved), for messages."""
    try:
        return os.readlink(path)
    except OSError as exc:
        return f"? ({exc.strerror or exc})"


def link_reason(path: Path) -> str:
    """Why a linked file is not read, in a line that names where the link points."""
    return f"a symbolic link (to {link_target(path)}): not followed. {LINK_ADVICE}"


def folder_link_reason(path: Path) -> str:
    return (f"a symbolic link to a folder (to {link_target(path)}): not followed, nothing in "
            f"it is read; {FOLDER_LINK_ADVICE}")


def open_unfollowed(path: Path, identity: tuple[int, int] | None = None) -> BinaryIO:
    """The file opened for reading, never through a link: LinkRefused for a link (ELOOP from
    O_NOFOLLOW) or for anything but a regular file; other OSErrors as they come.

    O_NOFOLLOW guards the last part of the path only: a folder on it swapped for a link after
    the scan would lead elsewhere. With `identity` (the (st_dev, st_ino) the scan saw), the file
    opened must be that very file, else NotAsScanned."""
    try:
        if not _NO_FOLLOW and is_link(path):  # no O_NOFOLLOW here (Windows): look first
            raise OSError(errno.ELOOP, "a symbolic link")
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP or is_link(path):
            raise LinkRefused(errno.ELOOP, f"a symbolic link (to {link_target(path)}): not "
                              "followed", str(path)) from exc
        raise
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise LinkRefused(errno.EINVAL, "not a regular file: not read", str(path))
        if identity is not None and (status.st_dev, status.st_ino) != identity:
            raise NotAsScanned(path)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_unfollowed(path: Path, limit_bytes: int | None = None,
                    identity: tuple[int, int] | None = None) -> bytes:
    """A regular file's bytes, read without following a link; with `limit_bytes`, at most one
    byte more than that (the caller refuses a file past its limit without holding all of it)."""
    with open_unfollowed(path, identity) as stream:
        return stream.read() if limit_bytes is None else stream.read(limit_bytes + 1)
