"""A Strava bulk export's index (`activities.csv`): the activity type of each exported file, for
files that do not name their sport themselves (a GPX track without a <type>).

Strava writes the index's header in the account's language (`Aktivitätsart`, `Dateiname`) and
its activity types too (`Lauf`): the type and the file are then found at the places Strava
keeps them (the 4th and the 13th column, in every language), and ingest/xmlread.py maps the
localised type names to sports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

STRAVA_INDEX = "activities.csv"
_TYPE_COLUMN = "Activity Type"
_FILE_COLUMN = "Filename"
# where Strava's export keeps the two columns whatever language it names them in (0-based:
# Activity ID, Activity Date, Activity Name, Activity Type, ..., Activity Gear, Filename)
_TYPE_POSITION, _FILE_POSITION = 3, 12
_EXPORTED_FILE_PREFIX = "activities/"


def _stem(member: str) -> str:
    """activities/123.gpx.gz and activities/123.gpx name the same activity's file."""
    return member.removesuffix(".gz")


@dataclass(frozen=True)
class StravaIndex:
    """Strava's activity type by exported file name (`activities/123.gpx`); `problem` says why
    an index maps nothing (it cannot be read, or its columns cannot be found)."""

    types_by_file: dict[str, str]
    problem: str | None = None

    def sport_for(self, member: str) -> str | None:
        return self.types_by_file.get(_stem(member))


def _columns(header: list[str], rows: list[list[str]]) -> tuple[int, int] | None:
    """(type column, file column): by their English names, else at Strava's fixed positions
    when the file column there holds exported file names (a localised export)."""
    if _TYPE_COLUMN in header and _FILE_COLUMN in header:
        # the export repeats some column names (two "Distance" columns): take the first of each
        return header.index(_TYPE_COLUMN), header.index(_FILE_COLUMN)
    files = [row[_FILE_POSITION] for row in rows if len(row) > _FILE_POSITION
             and row[_FILE_POSITION]]
    if files and all(f.strip().startswith(_EXPORTED_FILE_PREFIX) for f in files):
        return _TYPE_POSITION, _FILE_POSITION
    return None


def read_strava_index(data: bytes) -> StravaIndex:
    """The file-to-type map of an activities.csv; an index that cannot be read maps nothing,
    with the reason (the files are still read, they only lose the hint)."""
    text = data.decode("utf-8-sig", errors="replace")
    try:
        header, *rows = list(csv.reader(io.StringIO(text)))
    except (csv.Error, ValueError) as exc:  # ValueError: an empty file has no header
        return StravaIndex({}, f"{STRAVA_INDEX} cannot be read ({exc or 'it is empty'})")
    columns = _columns(header, rows)
    if columns is None:
        return StravaIndex({}, f"{STRAVA_INDEX} has neither an {_TYPE_COLUMN!r} and "
                               f"{_FILE_COLUMN!r} column nor exported file names in column "
                               f"{_FILE_POSITION + 1}")
    type_at, file_at = columns
    types: dict[str, str] = {}
    for row in rows:
        if len(row) > max(type_at, file_at) and row[file_at] and row[type_at]:
            types[_stem(row[file_at].strip())] = row[type_at].strip()
    return StravaIndex(types)
