"""Property tests (hypothesis, bounded budget) for rmtool.eventlog.

* the struct fast path reads exactly what the construct declarations declare;
* logs written with the construct builders parse back to the same events and registers;
* arbitrary and mutated inputs never raise: they end as ``errors`` with a field and an
  offset inside the input.
The on-demand atheris / mutation-loop harness is tests/fuzz/fuzz_eventlog.py.
"""

from __future__ import annotations

import hashlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmtool.cli._log import event_dict
from rmtool.eventlog import _constants as c
from rmtool.eventlog import build, parse
from rmtool.eventlog._replay import replay_all
from rmtool.eventlog._structs import FAST, FAST_REFERENCE

FAST_SETTINGS = settings(max_examples=150, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])


def _flatten(value: object) -> list[object]:
    if isinstance(value, dict):
        return [x for k, v in value.items() if not k.startswith("_") for x in _flatten(v)]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [value]


@FAST_SETTINGS
@given(st.sampled_from(sorted(FAST_REFERENCE)), st.data())
def test_fast_path_matches_construct_declaration(name: str, data: st.DataObject) -> None:
    fmt = FAST[name]
    raw = data.draw(st.binary(min_size=fmt.size, max_size=fmt.size))
    declared = FAST_REFERENCE[name]
    assert declared.sizeof() == fmt.size
    assert _flatten(dict(declared.parse(raw))) == list(fmt.unpack(raw))


BANKS = ["sha1", "sha256", "sha384", "sha512", "sm3_256"]
event_st = st.tuples(
    st.integers(0, 31),
    st.sampled_from(sorted(set(c.EVENT_TYPE_NAMES) - {c.EV_NO_ACTION}) + [0x1234]),
    st.binary(max_size=200),
)


@FAST_SETTINGS
@given(st.lists(st.sampled_from(BANKS), min_size=1, max_size=5, unique=True),
       st.lists(event_st, max_size=12), st.integers(0, 1), st.sampled_from([0, 0xFF]),
       st.integers(0, 64))
def test_built_logs_round_trip(banks: list[str], events: list[tuple[int, int, bytes]],
                               header_index: int, pad_byte: int, pad: int) -> None:
    data = build.build_log(banks, [build.LogEvent(i, t, d) for i, t, d in events],
                           header_index=header_index, padding=pad, padding_byte=pad_byte)
    log = parse(data)
    assert log.errors == [] and log.algorithms == banks
    assert log.format == ("tcg2" if header_index == 0 else "ccel")
    parsed = [(e.index, e.event_type, e.data) for e in log.events[1:]]
    assert parsed == events
    assert log.padding == pad
    for event in log.events[1:]:
        assert event.digests == {b: c.HASHES[b](event.data) for b in banks}
        json.dumps(event_dict(event))
    expected: dict[str, dict[int, bytes]] = {b: {} for b in banks}
    for index, etype, payload in [(e.index, e.event_type, e.data) for e in log.events[1:]]:
        for b in banks:
            size = c.DIGEST_SIZES[b]
            start = b"\xff" * size if header_index == 0 and 17 <= index <= 22 else bytes(size)
            if header_index == 0 and index == 0 and etype == c.EV_EFI_HCRTM_EVENT:
                expected[b].setdefault(0, bytes(size - 1) + b"\x04")  # H-CRTM: locality 4
            old = expected[b].get(index, start)
            expected[b][index] = c.HASHES[b](old + c.HASHES[b](payload))
    assert replay_all(log) == expected


def _check_clean(data: bytes) -> None:
    log = parse(data, max_event_size=1 << 16)
    for event in log:
        json.dumps(event_dict(event))
    replay_all(log)
    for err in log.errors:
        assert 0 <= err.offset <= len(data) and err.field and err.message


@FAST_SETTINGS
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    _check_clean(data)


# PciRoot(0x0)/Pci(0x2,0x0)/\a, then the end node
DEVICE_PATH = (b"\x02\x01\x0c\x00\xd0\x41\x03\x0a\x00\x00\x00\x00" + b"\x01\x01\x06\x00\x00\x02"
               + b"\x04\x04\x08\x00\\\x00a\x00" + b"\x7f\xff\x04\x00")
SEED = build.build_log(["sha1", "sha256"], [
    build.LogEvent(0, c.EV_NO_ACTION, build.startup_locality(3),
                   digests={"sha1": bytes(20), "sha256": bytes(32)}),
    build.LogEvent(0, c.EV_S_CRTM_VERSION, "1.0".encode("utf-16-le")),
    build.LogEvent(7, c.EV_EFI_VARIABLE_DRIVER_CONFIG, build.efi_variable(
        "8be4df61-93ca-11d2-aa0d-00e098032b8c", "SecureBoot", b"\x01")),
    build.LogEvent(0, c.EV_EVENT_TAG, build.realm_create(s2sz=48)),
    build.LogEvent(0, c.EV_POST_CODE2, build.blob2(b"KERNEL", 0x80000000, 4096),
                   digests={"sha1": bytes(20), "sha256": hashlib.sha256(b"k").digest()}),
    build.LogEvent(4, c.EV_EFI_BOOT_SERVICES_APPLICATION, bytes(24) + DEVICE_PATH.__len__()
                   .to_bytes(8, "little") + DEVICE_PATH),
    build.LogEvent(1, c.EV_SEPARATOR, build.separator()),
])


def test_seed_decodes() -> None:
    log = parse(SEED)
    assert log.errors == [] and len(log) == 8
    assert log[6].decoded["device_path"] == "PciRoot(0x0)/Pci(0x2,0x0)/\\a"
    assert log[3].decoded["unicode_name"] == "SecureBoot" and log[3].decoded["value"] == 1


@FAST_SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), max_size=8),
       st.integers(0, len(SEED)))
def test_mutated_log_never_raises(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(SEED)
    for pos, value in flips:
        data[pos] = value
    _check_clean(bytes(data[:cut]))
