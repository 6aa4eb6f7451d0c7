"""Reports of ``measure``, ``replay`` and ``compare``: each command's results as a
:class:`rmtool.report.model.Report`.

Each builder takes the objects the command already has (the ones its ``--format json``
serialises: :class:`rmtool.measure.MeasureResult` and ``measurements_json``'s document,
:class:`rmtool.replay.ReplayResult`, :class:`rmtool.verify.compare.compare.CompareReport`
with the :class:`rmtool.verify.compare.explain.MeasureTrace` and the replay), so the report
and the JSON never disagree (issue 17). The inputs' digests are computed here, streaming,
from regular files only (:func:`rmtool.files.open_regular`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from rmtool import __version__
from rmtool.errors import RmtoolError
from rmtool.files import open_regular
from rmtool.measure import MeasureResult
from rmtool.replay import ReplayResult
from rmtool.report.model import (
    Check,
    Claim,
    Event,
    InputFile,
    Lane,
    Operation,
    RealmLayout,
    Region,
    Report,
    Status,
    Timeline,
    Verdict,
    first_divergence,
    layout_of,
    operations,
    summary_of,
)
from rmtool.verify.compare import compare as cmp
from rmtool.verify.compare import explain as exp
from rmtool.verify.token.checks import Verification

_CHUNK = 1 << 20
MAX_DIGEST_BYTES = 64 << 30  # inputs larger than this are listed without a digest


def input_file(role: str, path: str) -> InputFile:
    """PATH's size and SHA-256, read in chunks (a directory, a device or an unreadable
    file is listed with the reason instead)."""
    if os.path.isdir(path):
        return InputFile(role, path, None, None, "directory")
    try:
        fd = open_regular(path, role)
    except RmtoolError as exc:
        return InputFile(role, path, None, None, exc.message)
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "rb", closefd=True) as f:
            if os.fstat(f.fileno()).st_size > MAX_DIGEST_BYTES:
                return InputFile(role, path, os.fstat(f.fileno()).st_size, None,
                                 "too large to digest here")
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except OSError as exc:
        return InputFile(role, path, None, None, f"cannot read: {exc.strerror or exc}")
    return InputFile(role, path, size, h.hexdigest())


def input_files(named: Sequence[tuple[str, str | None]]) -> list[InputFile]:
    """The given inputs (role, path or None) in order, each path once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for role, path in named:
        if path and (role, path) not in seen:
            seen.add((role, path))
            out.append(input_file(role, path))
    return out


def _measurements(rim: bytes | None, rems: Sequence[bytes | None],
                  rpv: bytes | None = None) -> list[tuple[str, str]]:
    out = [("RIM", rim.hex() if rim is not None else "not rebuilt")]
    out += [(f"REM{i}", r.hex() if r is not None else "not computable")
            for i, r in enumerate(rems)]
    if rpv is not None:
        out.append(("RPV", rpv.hex()))
    return out


def measure_report(result: MeasureResult, doc: dict[str, Any], argv: Sequence[str],
                   inputs: Sequence[InputFile] = (), warnings: Sequence[str] = ()) -> Report:
    """``rmtool measure``: the computed values (no verdict: nothing is checked), the
    Realm's layout (the VMM's RAM and the trace's regions) and its operations."""
    m, build = result.measurements, result.build
    records = m.records()
    layout = layout_of(f"{build.vmm} Realm", records, build.ram)
    return Report(
        command="measure",
        verdict=Verdict("MEASURED", "info", tuple(warnings), summary_of(doc)),
        argv=tuple(argv), version=__version__, inputs=list(inputs), layouts=[layout],
        timeline=Timeline(tuple(operations(records)), actual_title=f"{build.vmm} Realm"),
        measurements=_measurements(m.rim, m.rems, m.rpv), warnings=list(warnings))


def _replay_layout(title: str, result: ReplayResult) -> RealmLayout:
    """The replayed regions, plus the region of the event at which the RIM stopped."""
    records = result.records(rim_only=True)
    lay = layout_of(title, records)
    failure = result.rim_failure
    if failure is None or failure.data is None:
        return lay
    lane: Lane = "unmeasured" if failure.kind == "DATA_CREATE_UNMEASURED" else "data"
    extra = Region(lane, failure.label, failure.data.ipa, failure.data.size, len(records),
                   f"event {failure.event} does not replay: {failure.note}")
    return RealmLayout(lay.title, (*lay.regions, extra), lay.ipa_bits)


def _replay_ops(result: ReplayResult) -> list[Operation]:
    """The log's RIM operations (``explain.log_rim_ops``), the failing one last."""
    return [Operation(i + 1, op.kind, f"event {op.event} ({op.row.description})",
                      op.detail if op.rim_after is not None
                      else f"does not replay: {op.row.note or op.row.description}",
                      op.rim_after, op.event)
            for i, op in enumerate(exp.log_rim_ops(result))]


def events_of(result: ReplayResult) -> list[Event]:
    return [Event(e.number, e.type, e.register, e.description, e.digest, e.image,
                  e.value_after, e.note) for e in result.events]


def replay_causes(result: ReplayResult) -> list[str]:
    causes = []
    if result.rim is None:
        causes.append(f"RIM cannot be rebuilt: {result.rim_error}")
    causes += list(result.errors)
    return causes


def replay_report(result: ReplayResult, argv: Sequence[str],
                  inputs: Sequence[InputFile] = ()) -> Report:
    """``rmtool replay``: REBUILT (exit 0) or NOT REBUILT with the errors (exit 1)."""
    ok = result.ok
    verdict = Verdict("REBUILT" if ok else "NOT REBUILT", "pass" if ok else "fail",
                      tuple(replay_causes(result)), summary_of(result.as_json()))
    return Report(
        command="replay", verdict=verdict, argv=tuple(argv), version=__version__,
        inputs=list(inputs), layouts=[_replay_layout("log replay", result)],
        timeline=Timeline(tuple(_replay_ops(result)), actual_title="log replay"),
        events=events_of(result), measurements=_measurements(result.rim, result.rems),
        warnings=list(result.warnings))


def _checks(ver: Verification | None) -> list[Check]:
    return [Check(c.name, c.status, c.reason) for c in ver.checks] if ver is not None else []


def compare_report(report: cmp.CompareReport, argv: Sequence[str], *,
                   trace: exp.MeasureTrace | None = None, result: ReplayResult | None = None,
                   inputs: Sequence[InputFile] = ()) -> Report:
    """``rmtool compare``: the verdict, its causes (mismatches and explanations, as in the
    JSON), the claims, the token's checks; with ``--measure-trace`` and ``--log`` the
    expected and actual Realms side by side and their operations aligned."""
    doc = report.to_json()
    causes = list(doc["mismatches"]) + [e["message"] for e in doc["explanations"]]
    ver = report.verification
    if ver is not None and not ver.ok:
        causes.insert(0, f"token verification failed: {ver.failure_text()}")
    status: Status = "fail"
    if report.ok:  # MATCH; with a waived check, MATCH (UNVERIFIED: ...): not all green
        status = "warn" if ver is not None and ver.unverified else "pass"
    verdict = Verdict(report.verdict_text(), status, tuple(causes), summary_of(doc))
    layouts: list[RealmLayout] = []
    timeline = None
    expected = operations(trace.steps) if trace is not None else []
    actual = _replay_ops(result) if result is not None else []
    if trace is not None:
        layouts.append(layout_of(f"expected: {trace.source}", trace.steps))
    if result is not None:
        layouts.append(_replay_layout(f"actual: {exp.LOG_SOURCE}", result))
    if trace is not None and result is not None:
        timeline = Timeline(tuple(actual), tuple(expected), exp.LOG_SOURCE, trace.source,
                            first_divergence(expected, actual))
    elif trace is not None:
        timeline = Timeline(tuple(expected), actual_title=trace.source)
    elif result is not None:
        timeline = Timeline(tuple(actual), actual_title=exp.LOG_SOURCE)
    claims = [Claim(cmp.LABELS[r.claim], r.source, r.expected, r.actual, r.status, r.note)
              for r in report.results]
    return Report(
        command="compare", verdict=verdict, argv=tuple(argv), version=__version__,
        inputs=list(inputs), layouts=layouts, timeline=timeline,
        events=events_of(result) if result is not None else [], claims=claims,
        checks=_checks(ver), warnings=list(result.warnings) if result is not None else [])
