"""The CRC-16 of the FIT protocol (FIT SDK, "FIT File CRC"), table-driven for the reader."""

from __future__ import annotations

import sys
from array import array

_CRC_NIBBLES = (0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
                0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400)


def _crc_byte(crc: int, byte: int) -> int:
    """The FIT SDK's CRC step for one byte (two nibble-table lookups)."""
    crc = ((crc >> 4) & 0x0FFF) ^ _CRC_NIBBLES[crc & 0xF] ^ _CRC_NIBBLES[byte & 0xF]
    return ((crc >> 4) & 0x0FFF) ^ _CRC_NIBBLES[crc & 0xF] ^ _CRC_NIBBLES[byte >> 4]


# The same CRC two bytes at a time: after bytes (w & 0xFF, w >> 8) the CRC is _CRC_WORD[crc ^ w].
_CRC_WORD = [_crc_byte(_crc_byte(0, w & 0xFF), w >> 8) for w in range(65536)]


def fit_crc(data: bytes, crc: int = 0) -> int:
    """The FIT CRC-16 of data, continuing from crc."""
    words = array("H", data[: len(data) & ~1])
    if sys.byteorder == "big":
        words.byteswap()
    table = _CRC_WORD
    for word in words:
        crc = table[crc ^ word]
    return _crc_byte(crc, data[-1]) if len(data) & 1 else crc
