"""fitwriter.encode output, decoded by both fitparse 1.2.0 and fitdecode; the writer's CRC and
the reader's agree."""

import io
import random
import struct
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import fitdecode
import fitparse
import pytest
from fitparse.profile import FIELD_TYPES
from fitparse.utils import FitCRCError

from fitwriter import encode as fe
from fitwriter import profile
from fitwriter.crc import fit_crc as writer_crc
from ingest import fit_crc as fit_crc_module
from ingest.fit_crc import fit_crc

START = datetime(2024, 5, 4, 6, 30, tzinfo=UTC)
CREATED = datetime(2024, 5, 4, 7, 45, 12, tzinfo=UTC)
SERIAL = 3_912_345_678

Messages = dict[str, list[dict]]


def _utc(value: object) -> object:
    """fitparse gives naive UTC datetimes, fitdecode aware ones: compare them as aware."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def decode_fitparse(data: bytes) -> Messages:
    messages: Messages = defaultdict(list)
    for message in fitparse.FitFile(io.BytesIO(data)).get_messages():  # check_crc=True
        messages[message.name].append({k: _utc(v) for k, v in message.get_values().items()})
    return messages


def decode_fitdecode(data: bytes) -> Messages:
    messages: Messages = defaultdict(list)
    with fitdecode.FitReader(io.BytesIO(data), check_crc=fitdecode.CrcCheck.RAISE) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitHeader):
                assert frame.crc_matched
            elif isinstance(frame, fitdecode.FitCRC):
                assert frame.matched
            elif isinstance(frame, fitdecode.FitDataMessage):
                messages[frame.name].append({f.name: _utc(f.value) for f in frame.fields})
    return messages


@pytest.fixture(params=[decode_fitparse, decode_fitdecode], ids=["fitparse", "fitdecode"])
def decode(request: pytest.FixtureRequest) -> Callable[[bytes], Messages]:
    return request.param


@pytest.fixture(scope="module")
def run_file() -> bytes:
    return fe.encode_run(START, 12000, 3600, serial_number=SERIAL, time_created=CREATED,
                         cadence_spm=171.3, stance_time_balance_left_pct=49.2,
                         vertical_ratio_pct=8.3, stance_time_ms=245)


def _spm(cadence: int, fractional: float) -> float:
    return 2 * (cadence + fractional)


def test_header_and_crcs(run_file: bytes) -> None:
    size, protocol, profile_version, data_size, magic, header_crc = struct.unpack(
        "<BBHI4sH", run_file[:14])
    assert (size, protocol, profile_version, magic) == (14, 0x20, profile.PROFILE_VERSION,
                                                        b".FIT")
    assert data_size == len(run_file) - 16
    assert header_crc == fit_crc(run_file[:12])
    assert struct.unpack("<H", run_file[-2:])[0] == fit_crc(run_file[:-2])
    assert fit_crc(run_file) == 0  # a CRC-16 over data + its own CRC is zero


def test_reader_and_writer_crcs_match_the_sdks_nibble_algorithm() -> None:
    data = random.Random(7).randbytes(1001)  # odd length: the reader's last byte goes alone
    crc = 0
    for byte in data:
        crc = fit_crc_module._crc_byte(crc, byte)
    for implementation in (fit_crc, writer_crc):
        assert implementation(data) == crc
        assert implementation(data[500:], implementation(data[:500])) == crc


def test_run_file_id_and_session(run_file: bytes, decode: Callable[[bytes], Messages]) -> None:
    messages = decode(run_file)
    (file_id,) = messages["file_id"]
    assert file_id["type"] == "activity"
    assert file_id["manufacturer"] == "garmin"
    assert file_id["serial_number"] == SERIAL
    assert file_id["time_created"] == CREATED
    (session,) = messages["session"]
    assert (session["sport"], session["sub_sport"]) == ("running", "generic")
    assert session["start_time"] == START
    assert session["timestamp"] == START + timedelta(seconds=3600)
    assert session["total_distance"] == 12000.0
    assert session["total_timer_time"] == session["total_elapsed_time"] == 3600.0
    assert session["avg_speed"] == pytest.approx(12000 / 3600, abs=0.001)
    assert session["avg_heart_rate"] == session["max_heart_rate"] == 145
    assert session["avg_running_cadence"] + session["avg_fractional_cadence"] == pytest.approx(
        171.3 / 2, abs=0.01)
    assert session["total_strides"] == round(171.3 / 2 * 60)
    assert session["avg_stance_time_balance"] == pytest.approx(49.2)
    assert session["avg_vertical_ratio"] == pytest.approx(8.3)
    assert session["avg_stance_time"] == pytest.approx(245.0)
    assert session["avg_step_length"] == pytest.approx(12000 / 3600 / (171.3 / 60) * 1000, abs=0.1)
    (lap,) = messages["lap"]
    assert lap["total_distance"] == 12000.0 and lap["start_time"] == START
    (activity,) = messages["activity"]
    assert activity["num_sessions"] == 1 and activity["total_timer_time"] == 3600.0
    assert [(e["event"], e["event_type"]) for e in messages["event"]] == [
        ("timer", "start"), ("timer", "stop_all")]


def test_run_records(run_file: bytes, decode: Callable[[bytes], Messages]) -> None:
    records = decode(run_file)["record"]
    assert len(records) == 361  # every 10 s, both ends included
    assert records[0]["timestamp"] == START
    assert records[-1]["timestamp"] == START + timedelta(seconds=3600)
    assert records[-1]["distance"] == 12000.0
    assert records[180]["distance"] == 6000.0
    for record in records:
        assert _spm(record["cadence"], record["fractional_cadence"]) == pytest.approx(171.3,
                                                                                    abs=0.01)
        assert record["stance_time_balance"] == pytest.approx(49.2)
        assert record["heart_rate"] == 145
        assert record["speed"] == pytest.approx(3.333, abs=0.001)


def test_encode_run_matches_encode_activity_of_run_records() -> None:
    options = {"cadence_spm": 168.0, "warmup_cadence_spm": 150.0, "step_length_mm": 1100.0}
    records = fe.run_records(START, 5000, 1500, **options)
    assert fe.encode_run(START, 5000, 1500, **options) == fe.encode_activity(
        [fe.SessionSpec(records=records)])


def test_warmup_cadence_and_derived_step_length(decode: Callable[[bytes], Messages]) -> None:
    data = fe.encode_run(START, 10000, 3000, cadence_spm=176, warmup_cadence_spm=150,
                         interval_s=60)
    records = decode(data)["record"]
    spm = [_spm(r["cadence"], r["fractional_cadence"]) for r in records]
    assert spm[:5] == [150.0] * 5 and set(spm[5:]) == {176.0}
    speed_mps = 10000 / 3000
    assert records[-1]["step_length"] == pytest.approx(speed_mps * 60_000 / 176, abs=0.1)
    assert "stance_time_balance" not in records[0]  # never given: not defined at all


def test_multisport_run_and_ride(decode: Callable[[bytes], Messages]) -> None:
    run = fe.run_records(START, 5000, 1500, stance_time_balance_left_pct=50.5)
    ride_start = START + timedelta(seconds=1800)
    ride = [fe.RecordSample(ride_start + timedelta(seconds=t), distance_m=8.0 * t, speed_mps=8.0,
                            heart_rate_bpm=130, latitude_deg=47.5, longitude_deg=-122.25)
            for t in range(0, 3601, 30)]
    data = fe.encode_activity([fe.SessionSpec("running", "trail", run),
                               fe.SessionSpec("cycling", "road", ride)], serial_number=SERIAL)
    messages = decode(data)
    sessions = messages["session"]
    assert [(s["sport"], s["sub_sport"]) for s in sessions] == [("running", "trail"),
                                                                 ("cycling", "road")]
    assert [s["message_index"] for s in sessions] == [0, 1]
    assert [s["start_time"] for s in sessions] == [START, ride_start]
    assert [s["total_distance"] for s in sessions] == [5000.0, 28800.0]
    assert sessions[1]["total_timer_time"] == 3600.0
    assert sessions[1]["avg_cadence"] is None and sessions[1]["avg_stance_time_balance"] is None
    assert messages["file_id"][0]["time_created"] == START
    assert messages["activity"][0]["num_sessions"] == 2
    assert len(messages["lap"]) == 2
    records = messages["record"]
    assert len(records) == len(run) + len(ride)
    last = records[-1]
    assert last["cadence"] is None and last["stance_time_balance"] is None
    assert last["position_lat"] == round(47.5 * 2**31 / 180)
    assert last["position_long"] == round(-122.25 * 2**31 / 180)
    assert records[0]["position_lat"] is None


def test_strength(decode: Callable[[bytes], Messages]) -> None:
    messages = decode(fe.encode_strength(START, 2400, serial_number=SERIAL))
    (session,) = messages["session"]
    assert (session["sport"], session["sub_sport"]) == ("training", "strength_training")
    assert session["total_timer_time"] == 2400.0
    assert session["total_distance"] is None
    assert session["avg_heart_rate"] == 110
    records = messages["record"]
    assert len(records) == 241
    assert all(set(r) == {"timestamp", "heart_rate"} for r in records)


@pytest.mark.parametrize(("file_type", "name"), [("settings", "settings"), (5, "workout")])
def test_file_id_only(file_type: int | str, name: str,
                      decode: Callable[[bytes], Messages]) -> None:
    messages = decode(fe.encode_file_id_only(file_type, serial_number=SERIAL))
    assert list(messages) == ["file_id"]
    (file_id,) = messages["file_id"]
    assert file_id["type"] == name
    assert file_id["serial_number"] == SERIAL
    assert file_id["time_created"] is None


def test_unknown_sport_code_round_trips_as_int(decode: Callable[[bytes], Messages]) -> None:
    # 254 is "all" in both profiles, so use codes neither profile names.
    records = fe.run_records(START, 3000, 900)
    data = fe.encode_activity([fe.SessionSpec(200, 250, records)])
    (session,) = decode(data)["session"]
    assert (session["sport"], session["sub_sport"]) == (200, 250)


def test_unknown_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="sport"):
        fe.encode_activity([fe.SessionSpec("quidditch", records=fe.run_records(START, 1, 60))])
    with pytest.raises(ValueError, match="file type"):
        fe.encode_file_id_only("nonsense")


def test_naive_datetimes_are_utc() -> None:
    naive = START.replace(tzinfo=None)
    assert fe.encode_run(naive, 5000, 1500) == fe.encode_run(START, 5000, 1500)


def test_name_tables_match_fitparse_profile() -> None:
    assert dict(enumerate(profile.SPORTS)) | {254: "all"} == FIELD_TYPES["sport"].values
    assert dict(enumerate(profile.SUB_SPORTS)) | {254: "all"} == FIELD_TYPES["sub_sport"].values
    file_types = {code: name for name, code in profile.FILE_TYPES.items()}
    assert file_types.items() <= FIELD_TYPES["file"].values.items()


@pytest.mark.parametrize("offset", [-3, 12], ids=["data", "header-crc"])
def test_changed_byte_fails_crc(run_file: bytes, offset: int) -> None:
    corrupt = bytearray(run_file)
    corrupt[offset] ^= 0x01  # -3: a value byte of the activity message, so only the CRC notices
    with pytest.raises(FitCRCError):
        decode_fitparse(bytes(corrupt))
    with pytest.raises(fitdecode.FitCRCError):
        decode_fitdecode(bytes(corrupt))
