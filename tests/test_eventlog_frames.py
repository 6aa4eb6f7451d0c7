"""``EventLog.frames`` (framing without Event objects) frames exactly what ``stream`` frames.

Replay's pass 1 and its lean REM path past ``MAX_ROWS`` read the log through ``frames`` and
``event_at`` (docs/security.md, "Inputs"). Each test is the mistake it stops:

* a frame that differs from the event ``stream`` gives (offset, index, type, the bank's
  digest), on every corpus log, for every bank and for a bank the log does not have;
* a framing error or padding that ``frames`` reports differently from ``stream`` (a
  truncated event, an event size past the end, a digest list that is not the common one,
  0xFF padding), or ``frames`` going past the error;
* ``after`` skipping or repeating an event; ``event_at`` returning another event than the
  one ``events`` holds at that number.
"""

from __future__ import annotations

import hashlib

import pytest

from rmtool.eventlog import Event, EventLog, LogError, build, parse
from rmtool.eventlog import _constants as c
from tests.conftest import CORPUS

LOGS = CORPUS / "eventlogs"
Row = tuple[int, int, int, bytes | None]


def corpus_logs() -> list[str]:
    if not LOGS.is_dir():
        return []
    return sorted(str(p.relative_to(LOGS)) for p in LOGS.rglob("*.bin"))


def _fields(ev: Event) -> tuple[object, ...]:
    return ev.number, ev.offset, ev.index, ev.event_type, ev.digests, ev.data, ev.size


def _streamed(log: EventLog, bank: str) -> tuple[list[Row], list[LogError], list[int]]:
    errors: list[LogError] = []
    padding: list[int] = []
    rows = [(e.offset, e.index, e.event_type, e.digests.get(bank))
            for e in log.stream(errors, padding)]
    return rows, errors, padding


def _framed(log: EventLog, bank: str) -> tuple[list[Row], list[LogError], list[int]]:
    errors: list[LogError] = []
    padding: list[int] = []
    return list(log.frames(bank, errors, padding)), errors, padding


def _check(data: bytes) -> list[Row]:
    """frames == stream for every bank; ``after`` and ``event_at`` agree with ``events``.
    Returns the frames of the first bank."""
    log = parse(data)
    for bank in [*log.algorithms, "sha384", "no-such-bank"]:
        assert _framed(log, bank) == _streamed(log, bank)
    rows = _framed(log, log.algorithms[0] if log.algorithms else "sha1")[0]
    events = parse(data).events
    assert len(events) == len(rows)
    for number, (offset, *_) in enumerate(rows):
        assert _fields(log.event_at(number, offset)) == _fields(events[number])
    for cut in {0, len(events) // 2, len(events) - 1} if events else set():
        bank = log.algorithms[0] if log.algorithms else "sha1"
        tail = [(e.offset, e.index, e.event_type, e.digests.get(bank)) for e in events[cut + 1:]]
        assert list(log.frames(bank, after=events[cut])) == tail
    return rows


@pytest.mark.parametrize("rel", corpus_logs() or ["(corpus absent)"])
def test_frames_equal_stream_on_the_corpus(rel: str) -> None:
    if not LOGS.is_dir():
        pytest.skip("shared event-log corpus is not present")
    _check((LOGS / rel).read_bytes())


SHA1 = hashlib.sha1(b"x").digest()
SHA256 = hashlib.sha256(b"x").digest()


def _two_bank_log() -> bytes:
    """sha1 + sha256 log: common digest lists, a sha256-only list, the banks in the other
    order, an EV_NO_ACTION event, then 5 events of 0xFF padding."""
    return build.build_log(["sha1", "sha256"], [
        build.LogEvent(1, c.EV_EFI_ACTION, b"one"),
        build.LogEvent(2, c.EV_EFI_ACTION, b"", digests={"sha256": SHA256}),
        build.LogEvent(3, c.EV_SEPARATOR, b"\0" * 4,
                       digests={"sha256": SHA256, "sha1": SHA1}),
        build.LogEvent(0, c.EV_NO_ACTION, b"StartupLocality\0\3",
                       digests={"sha1": bytes(20), "sha256": bytes(32)}),
        build.LogEvent(4, c.EV_EFI_ACTION, b"four"),
    ], padding=5, padding_byte=0xFF)


def test_frames_two_banks_general_path_and_padding() -> None:
    rows = _check(_two_bank_log())
    assert [(index, etype) for _, index, etype, _ in rows] == [
        (0, c.EV_NO_ACTION), (1, c.EV_EFI_ACTION), (2, c.EV_EFI_ACTION), (3, c.EV_SEPARATOR),
        (0, c.EV_NO_ACTION), (4, c.EV_EFI_ACTION)]
    log = parse(_two_bank_log())
    sha1 = [digest for *_, digest in log.frames("sha1")]
    assert sha1 == [bytes(20), hashlib.sha1(b"one").digest(), None, SHA1, bytes(20),
                    hashlib.sha1(b"four").digest()]
    padding: list[int] = []
    list(log.frames("sha256", padding=padding))
    assert padding == [5]


def test_frames_stop_at_the_framing_error_where_stream_stops() -> None:
    whole = build.minimal_rem_log(6)
    truncated = whole[:-7]  # the last event loses its size field and 3 digest bytes
    rows = _check(truncated)
    assert len(rows) == 3 + 5
    errors: list[LogError] = []
    list(parse(truncated).frames("sha256", errors))
    assert errors == [LogError(len(whole) - 50 + 14, "digests[0].digest",
                               "digest needs 32 bytes, 29 left")]
    # an event size past the end of the log: the fast path must not accept it either
    oversized = bytearray(whole)
    oversized[-4:] = (1).to_bytes(4, "little")
    rows = _check(bytes(oversized))
    errors = []
    assert len(list(parse(bytes(oversized)).frames("sha256", errors))) == 3 + 5
    assert errors == [LogError(len(whole) - 4, "eventSize",
                               "event size 1 exceeds the 0 bytes left")]


def test_frames_of_a_minimal_log_carry_the_sha256_digests() -> None:
    rows = _check(build.minimal_rem_log(9))
    empty = hashlib.sha256(b"").digest()
    assert rows[3:] == [(offset, 1 + i % 4, c.EV_EFI_ACTION, empty)
                        for i, offset in enumerate(range(rows[3][0], rows[3][0] + 9 * 50, 50))]


def test_event_at_of_a_sha1_log_frames_one_event() -> None:
    """A legacy SHA-1 log has no crypto-agile framer: event_at frames the one event asked
    for (it must not parse and keep the whole log)."""
    data = build.build_sha1_log([build.LogEvent(i % 8, c.EV_SEPARATOR, b"\0" * 4)
                                 for i in range(20)])
    log = parse(data)
    rows = list(log.frames("sha1"))
    assert len(rows) == 20 and rows[5] == (5 * 36, 5, c.EV_SEPARATOR,
                                           hashlib.sha1(b"\0" * 4).digest())
    event = log.event_at(5, rows[5][0])
    assert log._events == []  # nothing parsed and kept
    assert _fields(event) == _fields(parse(data).events[5])
