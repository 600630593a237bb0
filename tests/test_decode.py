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

from fitwriter.encode import encode_file_id_only, encode_run
from ingest.decode import chained_file_problems, check_fit_complete, decode_fit
from ingest.parse import parse_fit


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


def _compared_files() -> list[Any]:
    """The samples compared, or one skipped case saying why there are none (never zero cases,
    which would pass without reading a file)."""
    files = [p for p in _sample_files() if p.stat().st_size <= COMPARED_MAX_BYTES]
    return files or [pytest.param(None, marks=pytest.mark.skip(
        reason=f"real FIT samples not found at {FIT_SAMPLES}"), id="no-samples")]


@pytest.mark.parametrize("path", _compared_files(), ids=lambda p: p.name if p else "none")
def test_cached_processor_reads_what_fitparse_reads(path: Path) -> None:
    data = path.read_bytes()
    expected = _plain_fitparse(data)
    if not expected:
        pytest.skip(f"fitparse reads nothing from {path.name}")
    decoded = decode_fit(data, "fitparse")
    if decoded.decoder.startswith("fitdecode"):
        pytest.skip(f"{path.name} is read by the fitdecode fallback")
    assert decoded.messages == expected


def _chain() -> tuple[bytes, bytes]:
    """A run followed by a settings file, as some watches write them."""
    run = encode_run(datetime(2026, 3, 2, 7, tzinfo=UTC), 8000, 2700)
    return run, encode_file_id_only("settings")


def test_a_whole_chain_has_no_problems() -> None:
    run, settings = _chain()
    assert chained_file_problems(run) == []
    assert chained_file_problems(run + settings) == []


def test_damage_in_a_chained_file_is_named() -> None:
    run, settings = _chain()
    damaged = run + settings[:-1] + bytes([settings[-1] ^ 0xFF])
    assert check_fit_complete(damaged).state == "complete"  # the first file is whole
    assert chained_file_problems(damaged) == [
        f"CRC mismatch in the 2nd FIT file of the chain (stored 0x"
        f"{int.from_bytes(damaged[-2:], 'little'):04x}): it was damaged"]
    assert "cut short" in chained_file_problems(run + settings[:-5])[0]
    assert "are not a FIT file" in chained_file_problems(run + b"x" * 20)[0]
    assert chained_file_problems(run + settings[:10]) == [
        "10 bytes after the 1st FIT file of the chain are not a FIT file"]


def test_a_damaged_chained_file_keeps_the_run_and_says_so() -> None:
    run, settings = _chain()
    parsed = parse_fit(run + settings[:-1] + bytes([settings[-1] ^ 0xFF]))
    assert parsed.summary is not None and len(parsed.summary.sessions) == 1
    assert parsed.summary.sessions[0].distance_m == pytest.approx(8000)
    assert any("2nd FIT file of the chain" in w for w in parsed.warnings)
