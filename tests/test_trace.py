"""The trace is data: TraceRecord's JSON codec, replay's event mapping, explain from records.

Inputs are the example files of :mod:`rmtool.examples` (a kvmtool Realm, as
docs/cli-compare.md measures it); expected values that do not come from our own codec
(RAM ranges, event numbers) are the command line's ``-m`` sizes and the event order of
docs/measurement-log.md (VM VERSION, REALM_CREATE, INIT_RIPAS, KERNEL, ...).
"""

from __future__ import annotations

import copy
import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from rmtool.cli.main import run
from rmtool.examples import write_inputs
from rmtool.measure import MeasureInputs, measure_vmm
from rmtool.measure.host import HostCaps
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.rmm.trace import (
    DataInputs,
    Origin,
    RipasInputs,
    TraceFormatError,
    TraceRecord,
)
from rmtool.replay import replay_log
from rmtool.replay.emit import emit_log
from rmtool.verify.compare._explain import (
    diff_rim_ops,
    load_measure_trace,
    log_rim_ops,
    measure_trace_from_json,
)

KVMTOOL = ["--realm", "-c", "2", "-k", "Image", "-i", "initrd.cpio", "-p", "console=hvc0"]
RAM_BASE = 0x8000_0000  # kvmtool's arm64 RAM base (docs/vmm-kvmtool.md)


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("trace-ex")
    write_inputs(d)
    return d


def _inputs(ex: Path) -> MeasureInputs:
    caps = HostCaps(num_bps=6, num_wps=6, pmu_num_ctrs=6, ipa_bits=52)
    return MeasureInputs(caps=caps, profile=get_profile("1.0-rel0"),
                         kernel=str(ex / "Image"), initrd=str(ex / "initrd.cpio"))


def _trace_json(ex: Path, memory: str, log: Path | None = None) -> dict[str, Any]:
    out = io.StringIO()
    emit = ["--emit-log", str(log)] if log is not None else []
    with redirect_stdout(out):
        status = run(["measure", *emit, "-c", str(ex / "qemu-max-8.2.conf"), "-c",
                      str(ex / "kvm.conf"), "-k", str(ex / "Image"), "-i",
                      str(ex / "initrd.cpio"), "--format", "json", "--trace", "kvmtool",
                      *KVMTOOL, "-m", memory])
    assert status == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_codec_round_trip_of_a_real_measure(ex: Path) -> None:
    result = measure_vmm("kvmtool", [*KVMTOOL, "-m", "512M"], _inputs(ex))
    records = result.measurements.records()
    assert [r.kind for r in records] == ["REALM_CREATE", "INIT_RIPAS", "DATA_CREATE",
                                         "DATA_CREATE", "DATA_CREATE", "REC_CREATE"]
    text = json.dumps([r.to_json() for r in records])
    back = [TraceRecord.from_json(d) for d in json.loads(text)]
    assert back == records
    # the typed inputs carry what the detail text says: the -m 512M range ...
    assert records[1].inputs == RipasInputs(RAM_BASE, RAM_BASE + (512 << 20), True, "1.0-rel0")
    assert records[1].detail == "[0x80000000, 0xa0000000)"
    # ... and each image's kind is a typed origin, not a word in a sentence
    kinds = [r.origin for r in records if isinstance(r.inputs, DataInputs)]
    assert [o.kind for o in kinds] == ["image"] * 3
    assert {o.label for o in kinds} == {"KERNEL", "INITRD", "DTB"}
    assert records[-1].rim_after == result.measurements.rim


def test_measure_json_keeps_its_keys_and_adds_typed_fields(ex: Path) -> None:
    doc = _trace_json(ex, "512M")
    first = doc["trace"][0]
    # the keys (and values) of earlier releases, then the typed ones
    assert list(first) == ["number", "operation", "origin", "detail", "descriptors",
                           "rim_after", "inputs", "source", "rems_after"]
    assert first["operation"] == "REALM_CREATE" and first["origin"] == "kvmtool parameters"
    # the host capability files' values (qemu-max-8.2.conf + kvm.conf)
    assert first["detail"] == "s2sz=33 bps=6 wps=4 sve_vl=2048 pmu=on/6 lpa2=off algo=sha256"
    assert first["inputs"]["s2sz"] == 33 and first["inputs"]["sve_vl"] == 2048
    ripas = doc["trace"][1]
    assert ripas["inputs"] == {"base": RAM_BASE, "top": RAM_BASE + (512 << 20),
                               "measured": True, "rmm_version": "1.0-rel0"}
    assert doc["trace"][-1]["rim_after"] == doc["rim"]


@pytest.mark.parametrize("path, value, field", [
    (("inputs", "base"), "0x80000000", "trace[1].inputs.base"),  # a string for an integer
    (("inputs", "measured"), 1, "trace[1].inputs.measured"),  # an integer for a bool
    (("descriptors",), True, "trace[1].descriptors"),  # a bool for an integer
    (("source", "event"), 3, "trace[1].source.event"),  # a VMM decision claiming an event
    (("inputs", "extra"), 0, "trace[1].inputs.extra"),  # an unknown key
    (("detail",), "[0x80000000, 0x90000000)", "trace[1].detail"),  # text that lies
])
def test_trace_with_a_wrong_field_is_refused_naming_it(
        ex: Path, path: tuple[str, ...], value: Any, field: str) -> None:
    doc = copy.deepcopy(_trace_json(ex, "512M"))
    target = doc["trace"][1]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(TraceFormatError) as info:
        measure_trace_from_json(doc, "measure-trace t.json")
    assert info.value.field == f"measure-trace t.json {field}"
    assert field in str(info.value)
    assert info.value.exit_code == 2  # unusable input, never a verdict


def test_a_trace_of_an_earlier_release_is_refused_with_advice(ex: Path) -> None:
    doc = _trace_json(ex, "512M")
    for t in doc["trace"]:
        del t["inputs"], t["source"], t["rems_after"]
    with pytest.raises(TraceFormatError, match=r"trace\[0\]\.inputs: missing .*--trace"):
        measure_trace_from_json(doc, "old")


def test_replay_maps_each_operation_to_its_event(ex: Path, tmp_path: Path) -> None:
    result = measure_vmm("kvmtool", [*KVMTOOL, "-m", "512M", "--measurement-log"],
                         _inputs(ex))
    log = emit_log(result.build, result.measurements)
    replay = replay_log(log, [str(ex)], store=str(tmp_path / "s.sqlite3"))
    assert replay.rim == result.measurements.rim
    rows = {e.number: e for e in replay.events}
    records = replay.records()
    assert records and all(r.origin.kind == "event" for r in records)
    for r in records:  # each operation names the event it came from, and that event
        assert r.origin.event is not None
        row = rows[r.origin.event]  # became exactly that operation
        assert row.operation is not None and row.rim_after == r.rim_after.hex()
        assert replay.record_of_event(r.origin.event) == r
    # the same operations at the same addresses as the front-end's, but from log events
    def where(records: list[TraceRecord]) -> list[tuple[str, int, int]]:
        return [(r.kind, r.inputs.ipa, r.inputs.size) if isinstance(r.inputs, DataInputs)
                else (r.kind, getattr(r.inputs, "base", 0), getattr(r.inputs, "top", 0))
                for r in records]

    assert where(replay.records(rim_only=True)) == where(result.measurements.records())
    ripas = replay.records()[1]
    assert ripas.origin == Origin("event", "INIT_RIPAS", ripas.origin.event)
    assert str(ripas.origin) == f"event {ripas.origin.event} (INIT_RIPAS)"


def test_explain_names_both_ranges_from_records(ex: Path, tmp_path: Path) -> None:
    # the deployed Realm had 512M; the expected configuration says 256M
    log = tmp_path / "realm.log"
    _trace_json(ex, "512M", log)
    replay = replay_log(log.read_bytes(), [str(ex)], store=str(tmp_path / "s.sqlite3"))
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps(_trace_json(ex, "256M")))
    trace = load_measure_trace(expected)
    ops = log_rim_ops(replay)
    event = ops[1].event
    diff = diff_rim_ops(trace, ops, replay.rmm_version)
    assert diff is not None and diff.event == event
    assert diff.message == (
        "RIM: operation 2 is the first that differs between the log and measure-trace "
        "expected.json (the log agrees with measure-trace expected.json up to operation 1 "
        f"(event {ops[0].event})): INIT_RIPAS differs: expected [0x80000000, 0x90000000), "
        f"the log's event {event} (INIT_RIPAS [0x80000000, 0xa0000000)) has "
        "[0x80000000, 0xa0000000)")
