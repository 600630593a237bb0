"""The decoder: fitparse with StrideGuard's processor reads exactly what plain fitparse reads."""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fitparse
import pytest
from conftest import FIT_SAMPLES

from ingest.decode import decode_fit


def _plain_fitparse(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """fitparse's default processor, datetimes marked UTC; stops where fitparse stops."""
    messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            for message in fitparse.FitFile(io.BytesIO(data)).get_messages():
                values = {k: v.replace(tzinfo=UTC)
                          if isinstance(v, datetime) and k != "local_timestamp" else v
                          for k, v in message.get_values().items()}
                messages.append((message.name, values))
        except fitparse.FitParseError:
            pass
    return messages


COMPARED_MAX_BYTES = 200_000  # the big rides add minutes and no new field types


def _sample_files() -> list[Path]:
    return sorted(p for p in FIT_SAMPLES.rglob("*") if p.suffix.lower() == ".fit")


@pytest.mark.parametrize("path", [p for p in _sample_files()
                                  if p.stat().st_size <= COMPARED_MAX_BYTES],
                         ids=lambda p: p.name)
def test_cached_processor_reads_what_fitparse_reads(path: Path) -> None:
    data = path.read_bytes()
    expected = _plain_fitparse(data)
    if not expected:
        pytest.skip(f"fitparse reads nothing from {path.name}")
    decoded = decode_fit(data, "fitparse")
    if decoded.decoder.startswith("fitdecode"):
        pytest.skip(f"{path.name} is read by the fitdecode fallback")
    assert decoded.messages == expected


def test_there_are_samples_to_compare() -> None:
    if not FIT_SAMPLES.is_dir():
        pytest.skip(f"real FIT samples not found at {FIT_SAMPLES}")
    assert len(_sample_files()) > 40
