"""The fast paths of ``rmtool log show`` equal the plain implementations they replace.

* the streamed ``--format json`` writer gives, byte for byte, ``json.dumps`` of the
  documented dict (``event_dict`` per event), on the shared corpus and on built logs;
* the register replay of a forked child equals the in-process replay;
* ``guid_text`` equals ``uuid.UUID(bytes_le=...)``, the SM3 constructor equals OpenSSL's
  SM3 (GB/T 32905-2016 example 1), two interleaved iterations of a log see every event;
* the struct formats live in a construct-free module that ``structs`` re-exports.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmtool.cli import _log as cli_log
from rmtool.eventlog import _constants as c
from rmtool.eventlog import build, parse
from rmtool.eventlog._devicepath import guid_text
from rmtool.eventlog._layouts import FAST as LAYOUT_FAST
from rmtool.eventlog._structs import FAST, FAST_REFERENCE

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "eventlogs"


def corpus_logs() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.bin"))


def reference_json(data: bytes, bank: str | None) -> str:
    """The JSON contract written the plain way: one dict, one json.dumps."""
    log = parse(data)
    banks = cli_log._banks(log, bank)
    return json.dumps(cli_log._document(log, banks, bank), separators=(",", ":")) + "\n"


def streamed_json(data: bytes, bank: str | None) -> str:
    log = parse(data)
    banks = cli_log._banks(log, bank)
    return "".join(cli_log._json_chunks(log, banks, bank))


@pytest.mark.parametrize("rel", corpus_logs() or ["(corpus absent)"])
def test_streamed_json_is_json_dumps_of_the_contract(rel: str) -> None:
    if not CORPUS.is_dir():
        pytest.skip("shared event-log corpus (../shared/corpus/eventlogs) is not present")
    data = (CORPUS / rel).read_bytes()
    algorithms = parse(data).algorithms
    for bank in [None, *[b for b in algorithms if b in c.HASHES][:1]]:
        assert streamed_json(data, bank) == reference_json(data, bank)


def test_streamed_json_corpus_values() -> None:
    if not CORPUS.is_dir():
        pytest.skip("shared event-log corpus (../shared/corpus/eventlogs) is not present")
    data = (CORPUS / "tpm2/tpm2tss_binary_measurements_hcrtm.bin").read_bytes()
    doc = json.loads(streamed_json(data, None))
    assert doc["algorithms"] == ["sha1", "sha256", "sm3_256"]
    assert len(doc["events"]) == 204
    event = doc["events"][2]
    assert event["type"] == "EV_S_CRTM_VERSION" and event["offset"] == 184
    assert event["data"] == {"string": "Dhyana2.05.43.29.0003", "encoding": "utf-16-le"}
    assert event["digest_matches_data"] == {"sha1": True, "sha256": True, "sm3_256": True}
    assert event["digests"]["sha1"] == "0465ac6aed8e31ffcbd8ddbb0a9d1bec6850a5df"


BANKS = ["sha1", "sha256", "sha384", "sm3_256"]
# Text with characters JSON escapes (quotes, backslash, non-ASCII, control characters).
text_st = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(BANKS), min_size=1, max_size=4, unique=True),
       st.lists(st.tuples(st.integers(0, 24),
                          st.sampled_from([c.EV_IPL, c.EV_EFI_ACTION, c.EV_SEPARATOR,
                                           c.EV_POST_CODE, 0x1234, c.EV_NO_ACTION + 0x10]),
                          st.one_of(text_st.map(lambda t: t.encode("utf-8")),
                                    st.binary(max_size=40))), max_size=8),
       st.booleans())
def test_streamed_json_on_built_logs(banks: list[str], events: list[tuple[int, int, bytes]],
                                     one_bank: bool) -> None:
    data = build.build_log(banks, [build.LogEvent(i, t, d) for i, t, d in events])
    bank = banks[-1] if one_bank else None
    assert streamed_json(data, bank) == reference_json(data, bank)


def test_replay_in_child_equals_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(__import__("os"), "fork") or cli_log._usable_cpus() < 2:
        pytest.skip("needs fork and two usable CPUs")
    monkeypatch.setattr(cli_log, "_PARALLEL_MIN_BYTES", 0)
    data = build.build_log(["sha1", "sha256"], [
        build.LogEvent(0, c.EV_NO_ACTION, build.startup_locality(3),
                       digests={"sha1": bytes(20), "sha256": bytes(32)}),
        build.LogEvent(0, c.EV_S_CRTM_VERSION, b"1\x00"),
        build.LogEvent(17, c.EV_EFI_ACTION, b"DRTM"),
        build.LogEvent(4, c.EV_SEPARATOR, build.separator()),
    ])
    log = parse(data)
    for bank in (None, "sha256"):
        result = cli_log._replay_in_child(data, c.DEFAULT_MAX_EVENT_SIZE, bank)
        assert result is not None
        registers = result()
        assert registers == cli_log._registers(log, cli_log._banks(log, bank))
        name = bank or "sha1"
        ctor = getattr(hashlib, name)
        drtm = ctor(b"\xff" * ctor().digest_size + ctor(b"DRTM").digest()).hexdigest()
        assert registers is not None and registers[name]["17"] == drtm  # DRTM PCR from ones
    # An unknown --bank: the child fails, the caller falls back (and raises UsageError).
    failing = cli_log._replay_in_child(data, c.DEFAULT_MAX_EVENT_SIZE, "sha512")
    assert failing is not None and failing() is None


def test_replay_in_child_not_used_for_small_logs() -> None:
    assert cli_log._PARALLEL_MIN_BYTES == 1 << 20
    assert cli_log._replay_in_child(b"\x00" * 100, 1 << 24, None) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=16, max_size=16))
def test_guid_text_is_uuid_bytes_le(raw: bytes) -> None:
    assert guid_text(raw) == str(uuid.UUID(bytes_le=raw))


def test_guid_text_known_value_and_bad_length() -> None:
    # EFI_GLOBAL_VARIABLE as it is stored (mixed-endian) in UEFI_VARIABLE_DATA.
    raw = bytes.fromhex("61dfe48bca93d211aa0d00e098032b8c")
    assert guid_text(raw) == "8be4df61-93ca-11d2-aa0d-00e098032b8c"
    with pytest.raises(ValueError, match="bytes_le is not a 16-char string"):
        guid_text(raw[:15])


def test_sm3_constructor_matches_the_standard_vector() -> None:
    try:
        hashlib.new("sm3")
    except ValueError:
        pytest.skip("OpenSSL without SM3 (the cryptography fallback is used)")
    sm3 = c.HASH_CONSTRUCTORS["sm3_256"]
    expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3(b"abc").digest().hex() == expected
    assert sm3(b"abc").digest().hex() == expected  # the shared template is not consumed
    assert c.HASHES["sm3_256"](b"abc" * 100) == hashlib.new("sm3", b"abc" * 100).digest()


def test_interleaved_iterations_see_every_event() -> None:
    data = build.build_log(["sha256"], [build.LogEvent(i % 8, c.EV_EFI_ACTION, bytes([i]))
                                        for i in range(20)])
    log = parse(data)
    first, second = iter(log), iter(log)
    seen_first = [next(first).number for _ in range(5)]
    seen_second = [e.number for e in second]
    seen_first += [e.number for e in first]
    assert seen_first == seen_second == list(range(21))
    assert [e.number for e in log] == list(range(21))


def test_layouts_are_the_structs_fast_formats() -> None:
    assert FAST is LAYOUT_FAST
    assert set(FAST_REFERENCE) <= set(FAST)
    assert FAST["PCClientPCREventHeader"].size == FAST_REFERENCE[
        "PCClientPCREventHeader"].sizeof() == 32


def test_log_show_does_not_import_construct() -> None:
    code = ("import sys, rmtool.cli._log, rmtool.eventlog; "
            "print('construct' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("rel", corpus_logs() or ["(corpus absent)"])
def test_memoised_outputs_equal_the_event_properties(rel: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-value memo of small events (data text, digest checks, table data column)
    writes what each event's own ``decoded`` / ``digest_matches_data`` give."""
    if not CORPUS.is_dir():
        pytest.skip("shared event-log corpus (../shared/corpus/eventlogs) is not present")
    data = (CORPUS / rel).read_bytes()
    memoised = streamed_json(data, None), _table_text(data)
    monkeypatch.setattr(cli_log, "_MEMO_ENTRIES", 0)
    assert (streamed_json(data, None), _table_text(data)) == memoised


def _table_text(data: bytes) -> str:
    log = parse(data)
    return cli_log._table(log, cli_log._banks(log, None), [])


def test_table_past_its_rows_counts_every_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past _TABLE_ROWS the events are only framed: the count, the registers (hashlib
    chains of the empty-data digest) and the padding line still cover every event."""
    data = build.minimal_rem_log(22) + bytes(7)
    monkeypatch.setattr(cli_log, "_TABLE_ROWS", 10)
    text = _table_text(data)
    assert "... 15 more events not listed (the table shows the first 10; --format json " \
           "lists every event)" in text
    empty = hashlib.sha256(b"").digest()
    for index, count in ((1, 6), (2, 6), (3, 5), (4, 5)):
        value = bytes(32)
        for _ in range(count):
            value = hashlib.sha256(value + empty).digest()
        assert f"\n{index:7d}  {value.hex()}" in text
    assert text.endswith("\npadding: 7 bytes after the last event")
