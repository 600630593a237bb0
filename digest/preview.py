"""A rendered digest as files a person opens in a browser: the HTML and its PNG charts."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from digest.render import DigestMail


def safe_name(name: str, default: str = "digest") -> str:
    """A file name without folders or odd characters: letters, digits, `.`, `_`, `-` only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name).strip("-.")
    return cleaned or default


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over: never a half file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; these are files to open and share
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_preview(mail: DigestMail, out_dir: Path, stem: str) -> list[Path]:
    """`<stem>.html` with each `cid:` reference pointing at a PNG file beside it, and the PNGs.

    Returns the paths written, the HTML first. Every name is sanitised and checked to stay
    inside `out_dir`, so nothing outside it is ever written or overwritten.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    stem = safe_name(stem)
    html = mail.html
    targets: list[tuple[Path, bytes]] = []
    for image in mail.images:
        filename = safe_name(f"{stem}-{image.filename}", default=f"{stem}-image.png")
        html = html.replace(f'"cid:{image.cid}"', f'"{filename}"')  # the whole attribute value
        targets.append((root / filename, image.png))
    targets.insert(0, (root / f"{stem}.html", html.encode("utf-8")))
    for path, _ in targets:
        if path.parent != root:  # a sanitised name has no folders; this keeps it that way
            raise ValueError(f"preview file {path} would fall outside {root}")
    for path, data in targets:
        write_atomic(path, data)
    return [path for path, _ in targets]
