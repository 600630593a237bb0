"""Reading activity XML (TCX, GPX) safely and leniently: no entities, no network, Strava's
leading whitespace tolerated, errors that name the file and line; plus the small readers both
formats share (times, numbers, element names, sports).

lxml is imported inside the functions: this module is on the decoding workers' path only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

UTF8_BOM = b"\xef\xbb\xbf"
_LINE_SUFFIX = re.compile(r",? line \d+, column \d+$")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
XmlElement = Any  # lxml.etree._Element (lxml is imported lazily)
# the largest TCX or GPX document read: a parsed XML tree takes ~30x its file's size in memory
# (90 MB of GPX took 2.7 GB), and a real activity's file is a few MB (a 24-hour track at 1 Hz
# with heart rate and cadence is ~25 MB)
MAX_XML_BYTES = 64 * 1024 * 1024


class XmlInputError(Exception):
    """The file is not usable XML: the message names the file and, where known, the line."""


def _without_leading_blank(data: bytes) -> tuple[bytes, int]:
    """The document from its first `<`, and how many lines were cut: Strava's exports start
    with spaces before `<?xml`, which XML forbids and every strict parser rejects."""
    start = 0
    while True:
        if data.startswith(UTF8_BOM, start):
            start += len(UTF8_BOM)
        stripped = len(data) - start - len(data[start:].lstrip())
        if not stripped:
            break
        start += stripped
    return data[start:], data.count(b"\n", 0, start)


def parse_xml(data: bytes, name: str) -> XmlElement:
    """The root element of an XML document, parsed without resolving entities or reaching the
    network; a declared entity is refused outright (nothing legitimate in TCX or GPX has one).
    A document over MAX_XML_BYTES is refused before parsing (it would take ~30x its size)."""
    from lxml import etree

    if len(data) > MAX_XML_BYTES:
        raise XmlInputError(f"{name}: {len(data) / 2**20:.0f} MB of XML is more than StrideGuard "
                            f"reads ({MAX_XML_BYTES // (1024 * 1024)} MB): no activity file is "
                            "that large; split it or export it as FIT")

    document, lines_cut = _without_leading_blank(data)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno or 1, 0)
        message = _LINE_SUFFIX.sub("", str(exc.msg or exc))
        raise XmlInputError(f"{name}: not well-formed XML at line {line + lines_cut}, column "
                            f"{column}: {message}") from exc
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise XmlInputError(f"{name}: declares XML entities (<!ENTITY ...>); StrideGuard does "
                            "not expand them")
    return root


def localname(element: XmlElement) -> str:
    """An element's name without its namespace ('{ns}Trackpoint' and 'ns3:TPX' alike)."""
    tag = element.tag
    if not isinstance(tag, str):  # an entity reference left unresolved
        return ""
    return tag.rpartition("}")[2]


def children(element: XmlElement, name: str) -> Iterator[XmlElement]:
    """Direct children by local name: TCX files come with, without and with odd namespaces."""
    return (child for child in element if localname(child) == name)


def child(element: XmlElement | None, *path: str) -> XmlElement | None:
    """The first element down a path of local names, or None."""
    for name in path:
        if element is None:
            return None
        element = next(children(element, name), None)
    return element


def descendants(element: XmlElement, name: str) -> Iterator[XmlElement]:
    return (node for node in element.iter() if localname(node) == name)


def text_at(element: XmlElement | None, *path: str) -> str | None:
    found = child(element, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def number(text: str | None) -> float | None:
    """A decimal number, or None for a missing or unreadable one."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN is no reading


def number_at(element: XmlElement | None, *path: str) -> float | None:
    return number(text_at(element, *path))


def read_time(text: str | None) -> tuple[datetime | None, bool]:
    """An ISO 8601 time as aware UTC, and whether it had to be taken as UTC (no offset given).
    Tolerates what exporters write: trailing blanks, 7-digit fractions, 'Z'."""
    if not text:
        return None, False
    cleaned = _LONG_FRACTION.sub(r"\1", text.strip())
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        return None, False
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC), True
    return value.astimezone(UTC), False


# --- sports: TCX Sport="...", GPX <type>, Strava's "Activity Type" -> FIT sport, sub_sport ----

RUNNING, GENERIC = "running", "generic"
# the store's activities.sport column holds this many characters
MAX_SPORT_CHARS = 40
_SPORTS: dict[str, tuple[str, str | None]] = {
    "running": (RUNNING, None), "run": (RUNNING, None), "jogging": (RUNNING, None),
    "9": (RUNNING, None),  # Strava's legacy numeric GPX type: 9 = Run
    # Garmin Connect's typeKeys (its GPX <type>) and Strava's types; sub_sport as FIT names it
    "trail_running": (RUNNING, "trail"), "trail_run": (RUNNING, "trail"),
    "trailrun": (RUNNING, "trail"), "treadmill_running": (RUNNING, "treadmill"),
    "indoor_running": (RUNNING, "indoor_running"), "street_running": (RUNNING, "street"),
    "track_running": (RUNNING, "track"), "virtual_run": (RUNNING, "virtual_activity"),
    "virtualrun": (RUNNING, "virtual_activity"), "ultra_run": (RUNNING, "ultra"),
    "ultra_running": (RUNNING, "ultra"), "obstacle_run": (RUNNING, "obstacle"),
    "obstacle_running": (RUNNING, "obstacle"), "obstacle_racing": (RUNNING, "obstacle"),
    "cycling": ("cycling", None), "biking": ("cycling", None), "ride": ("cycling", None),
    "1": ("cycling", None),  # Strava's legacy numeric GPX type: 1 = Ride
    "road_biking": ("cycling", "road"), "mountain_biking": ("cycling", "mountain"),
    "mountain_bike_ride": ("cycling", "mountain"), "gravel_ride": ("cycling", "gravel_cycling"),
    "virtual_ride": ("cycling", "virtual_activity"), "virtualride": ("cycling", "virtual_activity"),
    "e_bike_ride": ("cycling", "e_bike_fitness"), "ebikeride": ("cycling", "e_bike_fitness"),
    "walking": ("walking", None), "walk": ("walking", None),
    "hiking": ("hiking", None), "hike": ("hiking", None),
    "swimming": ("swimming", None), "swim": ("swimming", None),
    "weight_training": ("training", "strength_training"),
    "strength_training": ("training", "strength_training"),
}
# Strava's activity types as a localised export's activities.csv writes them (de, fr, es, it,
# nl, pt), keyed like _SPORTS (lowercase, blanks and dashes as "_", accents kept)
_LOCALISED_SPORTS: dict[str, tuple[str, str | None]] = {
    # German
    "lauf": (RUNNING, None), "traillauf": (RUNNING, "trail"), "trail_lauf": (RUNNING, "trail"),
    "virtueller_lauf": (RUNNING, "virtual_activity"), "spaziergang": ("walking", None),
    "gehen": ("walking", None), "wanderung": ("hiking", None), "radfahrt": ("cycling", None),
    "virtuelle_radfahrt": ("cycling", "virtual_activity"),
    "mountainbike_fahrt": ("cycling", "mountain"), "schwimmen": ("swimming", None),
    # French
    "course_à_pied": (RUNNING, None), "course": (RUNNING, None), "trail": (RUNNING, "trail"),
    "course_virtuelle": (RUNNING, "virtual_activity"), "marche": ("walking", None),
    "randonnée": ("hiking", None), "vélo": ("cycling", None), "sortie_à_vélo": ("cycling", None),
    "vélo_virtuel": ("cycling", "virtual_activity"), "natation": ("swimming", None),
    # Spanish
    "carrera": (RUNNING, None), "carrera_por_montaña": (RUNNING, "trail"),
    "carrera_virtual": (RUNNING, "virtual_activity"), "caminata": ("walking", None),
    "senderismo": ("hiking", None), "excursión": ("hiking", None),
    "bicicleta": ("cycling", None), "ciclismo": ("cycling", None), "natación": ("swimming", None),
    # Italian
    "corsa": (RUNNING, None), "corsa_in_montagna": (RUNNING, "trail"),
    "corsa_virtuale": (RUNNING, "virtual_activity"), "camminata": ("walking", None),
    "escursione": ("hiking", None), "escursionismo": ("hiking", None),
    "giro_in_bici": ("cycling", None), "pedalata": ("cycling", None), "nuoto": ("swimming", None),
    # Dutch
    "hardloopsessie": (RUNNING, None), "hardlopen": (RUNNING, None),
    "virtuele_hardloopsessie": (RUNNING, "virtual_activity"), "wandeling": ("walking", None),
    "wandelen": ("walking", None), "wandeltocht": ("hiking", None),
    "fietsrit": ("cycling", None), "virtuele_fietsrit": ("cycling", "virtual_activity"),
    "zwemmen": ("swimming", None),
    # Portuguese
    "corrida": (RUNNING, None), "corrida_em_trilha": (RUNNING, "trail"),
    "corrida_virtual": (RUNNING, "virtual_activity"), "caminhada": ("walking", None),
    "trilha": ("hiking", None), "pedalada_virtual": ("cycling", "virtual_activity"),
    "natação": ("swimming", None),
}
# labels that name no sport at all: the file's sport is unknown
_NO_SPORT = {"", "other", "generic", "unknown", "workout_other"}
_LABEL_SEPARATORS = re.compile(r"[\s\-]+")
_NOT_SPORT_CHARS = re.compile(r"[^a-z0-9_]+")


def _stored_sport(key: str) -> str:
    """An unknown label as the store keeps it: ASCII [a-z0-9_], at most MAX_SPORT_CHARS."""
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    return _NOT_SPORT_CHARS.sub("", ascii_key).strip("_")[:MAX_SPORT_CHARS]


def sport_from_label(label: str | None) -> tuple[str, str | None, str | None]:
    """(sport, sub_sport, warning) for a label; sport is 'generic' when the label names none.
    An unknown label is kept as the sport (not a run) with a warning, cut to what the store
    holds: lowercase ASCII letters, digits and '_', at most MAX_SPORT_CHARS."""
    key = _LABEL_SEPARATORS.sub("_", (label or "").strip().lower())
    if key in _NO_SPORT:
        return GENERIC, None, None
    known = _SPORTS.get(key) or _LOCALISED_SPORTS.get(key)
    if known is not None:
        return known[0], known[1], None
    sport = _stored_sport(key)
    shown = label if len(label or "") <= 80 else f"{(label or '')[:80]}..."
    if not sport or sport in _NO_SPORT:
        return GENERIC, None, (f"sport {shown!r} is not one StrideGuard knows: stored as "
                               f"{GENERIC!r}, which does not count as a run")
    return sport, None, (f"sport {shown!r} is not one StrideGuard knows: stored as {sport!r}, "
                         "which does not count as a run")


def names_a_sport(label: str | None) -> bool:
    return sport_from_label(label)[0] != GENERIC
