"""The CRC-16 of the FIT protocol (FIT SDK, "FIT File CRC"; it is CRC-16/ARC), for the writer."""

from __future__ import annotations


def _table_entry(byte: int) -> int:
    crc = byte
    for _ in range(8):
        crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


_TABLE = [_table_entry(byte) for byte in range(256)]


def fit_crc(data: bytes, crc: int = 0) -> int:
    """The FIT CRC-16 of data, continuing from crc."""
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
