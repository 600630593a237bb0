"""Charts: every chart decodes as a PNG at twice its display size, shows something, says its key
numbers in the alt text, survives empty and odd series, and draws the same in threads and worker
processes; `import charts` stays free of matplotlib."""

from __future__ import annotations

import math
import multiprocessing
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import charts
from charts import Png

ROOT = Path(__file__).resolve().parents[1]
END = date(2026, 11, 21)
WEEKS = [f"W{number}" for number in range(36, 48)]
DISTANCE_KM = [28.4, 31.0, 33.5, 26.0, 35.2, 38.1, 30.5, 40.2, 42.8, 36.0, 44.6, 39.3]
AVERAGE_4W_KM = [None, None, None, 29.7, 31.4, 33.2, 32.5, 36.0, 37.9, 37.4, 40.9, 40.7]
LONG_RUN_KM = [10.0, 12.0, 12.5, 9.0, 14.0, 15.0, 11.0, 15.0, 16.5, 13.0, 18.0, 14.0]
CTL_KM = [3.1, 3.3, 3.5, 3.5, 3.7, 4.0, 4.1, 4.3, 4.6, 4.7, 5.0, 5.1]
ATL_KM = [4.0, 4.4, 4.7, 3.9, 5.0, 5.4, 4.4, 5.7, 6.1, 5.1, 6.4, 5.6]
RUN_DAYS = [END - timedelta(days=back) for back in (29, 25, 22, 18, 15, 11, 8, 4, 1, 0)]
RUN_KM = [8.0, 15.0, 7.0, 12.0, 6.0, 13.5, 7.5, 10.0, 6.0, 24.0]
VERMILLION_RGB = (0xD5, 0x5E, 0x00)


def decoded(png: Png) -> Image.Image:
    """The PNG decoded, after checking it is one and has twice the display size."""
    assert isinstance(png.data, bytes) and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(BytesIO(png.data))
    assert image.format == "PNG"
    assert image.size == (2 * png.width_px, 2 * png.height_px)
    image.load()
    return image.convert("RGB")


def colours(image: Image.Image) -> dict[tuple[int, int, int], int]:
    """Pixel count per colour."""
    return {rgb: count for count, rgb in image.getcolors(maxcolors=1 << 24) or []}


def assert_drawn(png: Png) -> Image.Image:
    """A real picture: a valid PNG with many colours and a non-empty alt text."""
    image = decoded(png)
    assert len(colours(image)) > 8, "looks blank"
    assert png.alt.strip()
    return image


def weekly_load_chart(**overrides: object) -> Png:
    arguments: dict[str, object] = {
        "weeks": WEEKS, "distance_km": DISTANCE_KM, "average_4w_km": AVERAGE_4W_KM,
        "long_run_km": LONG_RUN_KM, "ctl_km": CTL_KM, "atl_km": ATL_KM,
        "title": "A bigger week: 39.3 km in 5 runs"}
    return charts.weekly_load(**{**arguments, **overrides})  # type: ignore[arg-type]


def spike_chart(highlight: list[bool] | None = None) -> Png:
    return charts.runs_against_longest(
        RUN_DAYS, RUN_KM, first_day=END - timedelta(days=29), last_day=END, reference_km=15.0,
        ratio_lines=[("1.1x longest", 1.1), ("2x longest", 2.0)],
        highlight=highlight if highlight is not None else [False] * 9 + [True],
        title="Saturday's 24 km run was 1.6x your longest run of the previous 30 days")


def test_weekly_load_two_panels_at_twice_the_display_size() -> None:
    png = weekly_load_chart()
    assert (png.width_px, png.height_px) == (600, 360)
    assert_drawn(png)
    for number in ("W36", "W47", "39.3", "40.7", "14.0", "5.1", "5.6"):
        assert number in png.alt
    assert len(png.data) < 80_000


def test_weekly_load_without_form_panel_says_nothing_of_it() -> None:
    png = weekly_load_chart(ctl_km=None, atl_km=None)
    assert_drawn(png)
    assert "CTL" not in png.alt and "39.3" in png.alt


def test_weekly_distance_over_the_limit_is_drawn_in_the_warning_colour() -> None:
    over = charts.weekly_distance(WEEKS[-8:], [26.0, 35.2, 38.1, 30.5, 40.2, 42.8, 36.0, 52.0],
                                  limit_km=46.8, limit_label="last week +30 %",
                                  title="52 km is 44 % more than last week")
    under = charts.weekly_distance(WEEKS[-8:], [26.0, 35.2, 38.1, 30.5, 40.2, 42.8, 36.0, 40.0],
                                   limit_km=46.8, limit_label="last week +30 %",
                                   title="40 km, within the +30 % limit")
    over_red = colours(assert_drawn(over)).get(VERMILLION_RGB, 0)
    under_red = colours(assert_drawn(under)).get(VERMILLION_RGB, 0)
    assert over_red > under_red + 2000  # the whole bar, not just the dashed limit line
    assert (over.width_px, over.height_px) == (600, 280)
    for number in ("52.0", "36.0", "46.8", "last week +30 %"):
        assert number in over.alt


def test_spike_chart_highlights_the_flagged_run_and_names_the_lines() -> None:
    flagged, plain = spike_chart(), spike_chart(highlight=[False] * 10)
    red_flagged = colours(assert_drawn(flagged)).get(VERMILLION_RGB, 0)
    red_plain = colours(assert_drawn(plain)).get(VERMILLION_RGB, 0)
    assert red_flagged > red_plain + 1000
    for number in ("24.0 km", "15.0 km", "1.6x", "16.5 km", "30.0 km", "10 runs"):
        assert number in flagged.alt


def test_spike_chart_leaves_out_runs_outside_the_window() -> None:
    png = charts.runs_against_longest(
        [END - timedelta(days=40), END], [30.0, 12.0], first_day=END - timedelta(days=29),
        last_day=END, reference_km=10.0, ratio_lines=[], highlight=[True, False], title="t")
    assert_drawn(png)
    assert "1 run from" in png.alt and "30.0" not in png.alt


def test_cadence_trend_with_its_interval() -> None:
    days = [END - timedelta(days=back) for back in range(84, -1, -4)]
    cadence = [168 + index * 0.2 + (1.5 if index % 3 else -1.2) for index in range(len(days))]
    png = charts.cadence_trend(days, cadence, fit_days=[days[0], days[-1]], fit_spm=[168.2, 172.4],
                               low_spm=[167.0, 171.0], high_spm=[169.5, 173.9],
                               title="Your cadence at the same pace rose by 4 steps/min")
    image = assert_drawn(png)
    assert (png.width_px, png.height_px) == (600, 280)
    for number in ("168.2", "172.4", "+4.2", "171.0", "173.9", f"{len(days)} runs"):
        assert number in png.alt
    # the interval band: orange #E69F00 at 25 % over white, over a large area
    band = sum(count for (r, g, b), count in colours(image).items()
               if abs(r - 249) <= 3 and abs(g - 231) <= 3 and abs(b - 191) <= 3)
    assert band > 20_000


def test_metric_days_has_gaps_thresholds_and_band() -> None:
    days = [END - timedelta(days=back) for back in range(41, -1, -1)]
    values: list[float | None] = [1.0 + (index % 5) * 0.05 if index % 9 else None
                                  for index in range(42)]
    values[-3:] = [1.9, 2.2, 2.4]
    png = charts.metric_days(days, values, unit="ratio", band=(0.8, 1.3),
                             thresholds=[("warn > 1.5", 1.5), ("critical > 2.0", 2.0)],
                             title="Your load ratio reached 2.4")
    assert_drawn(png)
    for number in ("2.40 ratio", "warn > 1.5", "critical > 2.0", "0.80", "1.30", "21 Nov"):
        assert number in png.alt


def test_squad_small_multiples_in_rows_and_the_left_out_counted() -> None:
    names = [f"Runner {index}" for index in range(30)]
    weeks_km = [[20.0 + index + week for week in range(12)] for index in range(30)]
    severities = ["critical", "warn", "info", None] * 7 + [None, None]
    png = charts.squad_weekly_distance(names, WEEKS, weeks_km, severities=severities,
                                       title="Squad, W47")
    few = charts.squad_weekly_distance(names[:4], WEEKS, weeks_km[:4],
                                       severities=severities[:4], title="Squad, W47")
    assert_drawn(png)
    assert_drawn(few)
    assert png.width_px == few.width_px == 600
    assert png.height_px > few.height_px + 4 * 90  # six rows of panels against one
    assert "24 athletes" in png.alt and "6 more athletes not shown" in png.alt
    assert "Runner 0 31.0 km this week (critical)" in png.alt and "Runner 24" not in png.alt
    assert "not shown" not in few.alt


def test_squad_max_panels_limits_the_grid() -> None:
    png = charts.squad_weekly_distance(["Ana", "Ben", "Cy"], WEEKS[:2], [[1.0, 2.0]] * 3,
                                       severities=["warn"], title="Squad", max_panels=1)
    assert_drawn(png)
    assert "2 more athletes not shown" in png.alt and "Ben" not in png.alt


EDGE_CASES: dict[str, Callable[[], Png]] = {
    "load empty": lambda: charts.weekly_load([], [], [], [], [], [], title="No runs yet"),
    "load all None": lambda: charts.weekly_load(WEEKS, [None] * 12, [None] * 12, [None] * 12,
                                                [None] * 12, [None] * 12, title="t"),
    "load one week": lambda: charts.weekly_load(["W47"], [12.0], [None], [12.0], title="t"),
    "load zero km": lambda: charts.weekly_load(WEEKS, [0.0] * 12, [0.0] * 12, [0.0] * 12,
                                               title="t"),
    "load short series": lambda: charts.weekly_load(WEEKS, [5.0], [], [3.0, 4.0], title=""),
    "distance empty": lambda: charts.weekly_distance([], [], title="t"),
    "distance all None": lambda: charts.weekly_distance(WEEKS, [None] * 12, limit_km=None,
                                                        title="t"),
    "distance one week": lambda: charts.weekly_distance(["W47"], [9.0], limit_km=0.0, title="t"),
    "distance zero": lambda: charts.weekly_distance(WEEKS, [0.0] * 12, limit_km=0.0,
                                                    limit_label="+30 %", title="t"),
    "spike empty": lambda: charts.runs_against_longest(
        [], [], first_day=END, last_day=END, reference_km=None, ratio_lines=[], highlight=[],
        title="t"),
    "spike one run": lambda: charts.runs_against_longest(
        [END], [0.0], first_day=END, last_day=END, reference_km=0.0,
        ratio_lines=[("2x", 2.0), ("nan", math.nan)], highlight=[True], title="t"),
    "spike reversed window": lambda: charts.runs_against_longest(
        [END], [5.0], first_day=END, last_day=END - timedelta(days=9), reference_km=4.0,
        ratio_lines=[("1.1x", 1.1)], highlight=[], title="t"),
    "spike two runs a day": lambda: charts.runs_against_longest(
        [END, END], [5.0, 7.0], first_day=END - timedelta(days=3), last_day=END,
        reference_km=None, ratio_lines=[("1.1x", 1.1)], highlight=[False, True], title="t"),
    "cadence empty": lambda: charts.cadence_trend([], [], fit_days=[], fit_spm=[], low_spm=[],
                                                  high_spm=[], title="t"),
    "cadence one run": lambda: charts.cadence_trend([END], [171.0], fit_days=[END],
                                                    fit_spm=[171.0], low_spm=[170.0],
                                                    high_spm=[172.0], title="t"),
    "cadence no fit": lambda: charts.cadence_trend([END, END - timedelta(days=400)],
                                                   [171.0, math.nan], fit_days=[],
                                                   fit_spm=[], low_spm=[], high_spm=[],
                                                   title="t"),
    "metric empty": lambda: charts.metric_days([], [], unit="", thresholds=[], title="t"),
    "metric all None": lambda: charts.metric_days(
        [END - timedelta(days=back) for back in range(10)], [None] * 10, unit="%",
        thresholds=[("warn > 5", 5.0)], band=(None, 3.0), title="t"),  # type: ignore[arg-type]
    "metric one point": lambda: charts.metric_days([END], [0.0], unit="x", title="t",
                                                   thresholds=[("critical > 0", 0.0)],
                                                   band=(0.0, 0.0)),
    "metric inf": lambda: charts.metric_days([END, END + timedelta(days=1)],
                                             [math.inf, -5.0], unit="km", thresholds=[],
                                             title="t"),
    "squad empty": lambda: charts.squad_weekly_distance([], [], [], severities=[], title="t"),
    "squad no weeks": lambda: charts.squad_weekly_distance(["Ana"], [], [[]], severities=[None],
                                                           title="t"),
    "squad missing rows": lambda: charts.squad_weekly_distance(
        ["Ana", "Ben with a very long name indeed"], WEEKS, [[0.0] * 12],
        severities=["bogus"], title="t", max_panels=0),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_odd_series_still_give_a_valid_png(case: str) -> None:
    png = EDGE_CASES[case]()
    image = decoded(png)
    assert len(colours(image)) > 2  # at least text on white
    assert png.alt.strip()


def test_no_data_is_said_in_the_alt_text() -> None:
    assert "no runs recorded" in EDGE_CASES["load all None"]().alt
    assert "none recorded" in EDGE_CASES["spike empty"]().alt
    assert "No values" in EDGE_CASES["metric all None"]().alt
    assert "No athletes" in EDGE_CASES["squad empty"]().alt


# None, NaN, infinities, the largest floats, negatives (labels far off the axes once failed to
# render) and ordinary amounts
values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(min_value=-1e6, max_value=1e6), st.floats(min_value=0, max_value=200))


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # random titles: any script
@settings(max_examples=25, deadline=None)
@given(distance_km=st.lists(values, max_size=20), average_km=st.lists(values, max_size=20),
       weeks=st.integers(min_value=0, max_value=20), title=st.text(max_size=200))
def test_any_weekly_series_draws(distance_km: list[float | None], average_km: list[float | None],
                                 weeks: int, title: str) -> None:
    labels = [f"W{index}" for index in range(weeks)]
    png = charts.weekly_load(labels, distance_km, average_km, distance_km,  # type: ignore[arg-type]
                             average_km, None, title=title)
    decoded(png)


@settings(max_examples=25, deadline=None)
@given(points=st.lists(st.tuples(st.integers(min_value=-60, max_value=60), values), max_size=40),
       threshold=values)
def test_any_daily_series_draws(points: list[tuple[int, float | None]],
                                threshold: float | None) -> None:
    days = [END + timedelta(days=offset) for offset, _ in points]
    decoded(charts.metric_days(days, [value for _, value in points], unit="u",
                               thresholds=[("warn", threshold)], title="t"))  # type: ignore[list-item]


@settings(max_examples=25, deadline=None)
@given(runs=st.lists(st.tuples(st.integers(min_value=-40, max_value=5), values), max_size=30),
       window=st.tuples(st.integers(min_value=-40, max_value=0), st.integers(-5, 5)),
       reference_km=values, ratio=values, flags=st.lists(st.booleans(), max_size=30))
def test_any_runs_draw(runs: list[tuple[int, float | None]], window: tuple[int, int],
                       reference_km: float | None, ratio: float | None, flags: list[bool]) -> None:
    png = charts.runs_against_longest(
        [END + timedelta(days=offset) for offset, _ in runs], [km for _, km in runs],  # type: ignore[misc]
        first_day=END + timedelta(days=window[0]), last_day=END + timedelta(days=window[1]),
        reference_km=reference_km, ratio_lines=[("r", ratio)], highlight=flags, title="t")  # type: ignore[list-item]
    decoded(png)


def test_titles_wrap_within_the_width_and_keep_numbers_with_units() -> None:
    from charts.text import text_width_px, wrap

    title = ("This week's 52 km is 44 % more than last week's 36 km: above the +30 % limit "
             "that keeps the week's load from rising faster than the body adapts to it")
    lines = wrap(title, 570, 13.0, bold=True)
    assert 2 <= len(lines) <= 3
    assert all(text_width_px(line, 13.0, bold=True) <= 570 for line in lines)
    assert " ".join(lines).replace(" …", "") in title
    assert not any(line.endswith(("52", "44", "36", "+30")) for line in lines)


def test_same_bytes_from_threads() -> None:
    serial = [weekly_load_chart().data, spike_chart().data]
    with ThreadPoolExecutor(max_workers=4) as pool:
        loads = list(pool.map(lambda _: weekly_load_chart().data, range(4)))
        spikes = list(pool.map(lambda _: spike_chart().data, range(4)))
    assert set(loads) == {serial[0]} and set(spikes) == {serial[1]}


def _spike_png_bytes(_: int) -> bytes:
    return spike_chart().data


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_same_bytes_from_worker_processes(method: str) -> None:
    expected = spike_chart().data  # the parent has drawn (fonts and caches loaded) before a fork
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        assert list(pool.map(_spike_png_bytes, range(2))) == [expected, expected]


def test_import_charts_does_not_import_matplotlib() -> None:
    code = ("import sys, charts; charts.Png; heavy = {'matplotlib', 'PIL', 'numpy'}; "
            "print(sorted({name.split('.')[0] for name in sys.modules} & heavy))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_no_pyplot_no_global_settings_no_svg_in_charts() -> None:
    sources = sorted((ROOT / "charts").glob("*.py"))
    assert sources
    for source in sources:
        text = source.read_text(encoding="utf-8").lower()
        assert "pyplot" not in text, source
        assert "rcparams" not in text and "matplotlib.use(" not in text, source
        assert "svg" not in text, source


def test_charts_import_nothing_of_ours() -> None:
    ours = {"cli", "config", "fitwriter", "ingest", "metrics", "notify", "rules", "service",
            "store", "wiring", "digest"}
    for source in (ROOT / "charts").glob("*.py"):
        for line in source.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in ours, f"{source.name}: {line}"
