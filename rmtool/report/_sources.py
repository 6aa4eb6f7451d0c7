"""Reports of ``measure``, ``replay``, ``compare``, ``diagnose`` and ``appraise``: each
command's results as a :class:`rmtool.report._model.Report`.

Each builder takes the objects the command already has (the ones its ``--format json``
serialises: :class:`rmtool.measure.MeasureResult` and ``measurements_json``'s document,
:class:`rmtool.replay.ReplayResult`, :class:`rmtool.verify.compare.compare.CompareReport`
with the :class:`rmtool.verify.compare._explain.MeasureTrace` and the replay), so the report
and the JSON never disagree (issue 17). ``diagnose`` (issue 15) adds its causes, the DTB
diff and the platform part; ``appraise`` (issue 16) the submods' trust vectors with their
reasons, the platform components and the realm claims. The inputs' digests are computed
here, streaming, from regular files only (:func:`rmtool._files.open_regular`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from rmtool import __version__
from rmtool._files import open_regular
from rmtool.diagnose.engine import PlatformCheck
from rmtool.diagnose.model import Diagnosis, Target
from rmtool.errors import RmtoolError
from rmtool.measure import MeasureResult
from rmtool.replay import ReplayResult
from rmtool.report._model import (
    Check,
    Claim,
    Component,
    DtbChange,
    Event,
    InputFile,
    Lane,
    Operation,
    RealmLayout,
    Region,
    Report,
    Status,
    Timeline,
    TrustClaim,
    Verdict,
    first_divergence,
    layout_of,
    operations,
    summary_of,
)
from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.appraisal import Appraisal
from rmtool.verify.appraise.endorsements import RealmReference
from rmtool.verify.appraise.platform import PlatformComparison
from rmtool.verify.appraise.realm import same_measurement
from rmtool.verify.compare import _explain as exp
from rmtool.verify.compare import compare as cmp
from rmtool.verify.compare.compare import equal_at_token_size
from rmtool.verify.token._claims import RealmClaims
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
                   inputs: Sequence[InputFile] = (), platform: PlatformCheck | None = None,
                   doc: dict[str, Any] | None = None) -> Report:
    """``rmtool compare``: the verdict, its causes (mismatches, explanations and, with
    MEASURE_ARGS, diagnose's causes, as in the JSON), the claims, the token's checks and
    the platform part (``--corim`` with platform reference values: a problem makes the
    verdict MISMATCH); with ``--measure-trace`` and ``--log`` the expected and actual
    Realms side by side and their operations aligned. ``doc``: the command's JSON
    document when it differs from ``report.to_json()`` (the platform key)."""
    doc = report.to_json() if doc is None else doc
    causes = list(doc["mismatches"]) + [e["message"] for e in doc["explanations"]]
    causes += [cause_text(c) for c in report.causes]
    causes += platform_causes(platform)
    ver = report.verification
    if ver is not None and not ver.ok:
        causes.insert(0, f"token verification failed: {ver.failure_text()}")
    ok = report.ok and (platform is None or platform.ok)
    status: Status = "fail"
    if ok:  # MATCH; with a waived check, MATCH (UNVERIFIED: ...): not all green
        status = "warn" if ver is not None and ver.unverified else "pass"
    verdict = Verdict(compare_verdict_text(report, platform), status, tuple(causes),
                      summary_of(doc))
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
        checks=_checks(ver), components=components_of(platform),
        warnings=list(result.warnings) if result is not None else [])


# ---------------------------------------------------------------- platform (issue 16)


def compare_verdict_text(report: cmp.CompareReport, platform: PlatformCheck | None) -> str:
    """compare's verdict with the platform part: a MATCH whose platform fails is
    ``MISMATCH (platform: N problems)``; FAIL and MISMATCH stay as they are."""
    text = report.verdict_text()
    if platform is None or platform.ok or not report.ok:
        return text
    n = len(platform.problems)
    return f"MISMATCH (platform: {n} problem{'s' if n != 1 else ''})"


def cause_text(cause: dict[str, Any]) -> str:
    """A diagnose cause (its JSON form) as compare's table prints it, in the words and
    units of ``rmtool diagnose`` (``memory size: expected 512 MiB, ...``)."""
    from rmtool.diagnose._render import LABELS, value_text

    p = cause["parameter"]
    return (f"{LABELS.get(p, p)}: expected {value_text(p, cause['expected'])}, the token's "
            f"Realm had {value_text(p, cause['actual'])} ({cause['detail']})")


def platform_causes(platform: PlatformCheck | None) -> list[str]:
    """The platform problems (``appraise``'s sentences), each marked as platform-side."""
    return [] if platform is None else [f"platform: {m}" for m in platform.problems]


def components_of(platform: PlatformCheck | PlatformComparison | None) -> list[Component]:
    """The platform software components: the token's digest, and as expected the same
    digest when a reference value endorses it (there is no "nearest" reference to show
    for one that matches none)."""
    cmp_ = platform.comparison if isinstance(platform, PlatformCheck) else platform
    if cmp_ is None:
        return []
    out = []
    for c in cmp_.components:
        if c.matched and not c.signer_id_differs:
            status = "match"
        elif c.matched:
            status = "signer id differs"
        else:
            status = "no reference value" if "matches no reference" in c.reason \
                else "mismatch"
        out.append(Component(c.measurement_type or f"sw_components[{c.index}]",
                             c.version or "-", c.signer_id, c.digest,
                             c.digest if c.matched else None, status))
    return out


# ---------------------------------------------------------------- diagnose (issue 15)


def _dtb_changes(d: Diagnosis) -> list[DtbChange]:
    """The DTB diff from the ``bootargs`` and ``dtb`` causes (node path in ``Cause.node``;
    a DTB known only by its digest is one change of the whole blob)."""
    out: list[DtbChange] = []
    for c in d.causes:
        if c.parameter == "bootargs" and c.evidence == "log":
            out.append(DtbChange("/chosen", "bootargs",
                                 None if c.expected is None else str(c.expected),
                                 None if c.actual is None else str(c.actual)))
        elif c.parameter == "dtb" and c.node:
            exp_v = c.expected if isinstance(c.expected, dict) else None
            act_v = c.actual if isinstance(c.actual, dict) else None
            props = list(dict.fromkeys([*(exp_v or {}), *(act_v or {})])) or ["(node)"]
            for prop in props:
                e = None if exp_v is None else exp_v.get(prop)
                a = None if act_v is None else act_v.get(prop)
                out.append(DtbChange(c.node, prop, None if e is None else str(e),
                                     None if a is None else str(a)))
        elif c.parameter == "dtb":
            out.append(DtbChange("(whole DTB)", "digest", str(c.expected), str(c.actual)))
    return out


def _diagnose_claims(target: Target, expected: MeasureResult) -> list[Claim]:
    m = expected.measurements
    src = "expected Realm (MEASURE_ARGS)"

    def row(name: str, want: bytes | None, got: bytes | None) -> Claim:
        same = want is not None and got is not None and equal_at_token_size(want, got)[0]
        return Claim(name, src, want, got, cmp.MATCH if same else cmp.MISMATCH)

    rows = [row("RIM", m.rim, target.rim or None)]
    rows += [row(f"REM{i}", m.rems[i] if i < len(m.rems) else None, rem)
             for i, rem in enumerate(target.rems)]
    if target.rpv is not None:
        want = expected.build.params.rpv
        rows.append(Claim("RPV", src, want, target.rpv,
                          cmp.MATCH if want == target.rpv else cmp.MISMATCH))
    return rows


def diagnose_report(d: Diagnosis, argv: Sequence[str], *, target: Target,
                    expected: MeasureResult, actual: ReplayResult | MeasureResult | None,
                    verification: Verification, inputs: Sequence[InputFile] = (),
                    log: ReplayResult | None = None) -> Report:
    """``rmtool diagnose``: the verdict and every cause (the JSON's, with the platform
    problems and errors), the claims with their differing bytes, the expected Realm
    (MEASURE_ARGS) and the actual one — the log's replay, or the ``reproduced_by``
    measurement (its RIM and REMs are the token's) when there is no log or the log does
    not replay — side by side with their operations aligned, the log's events (``log``),
    the DTB diff, the platform components and the token's checks."""
    from rmtool.diagnose._render import VERDICT_TEXT, cause_line

    doc = d.to_json()
    causes = [cause_line(c) + (f" — {c.detail}" if c.detail else "") for c in d.causes]
    causes += [f"platform: {p['message']}" for p in (d.platform or {}).get("problems", [])]
    causes += list(d.errors)
    text = VERDICT_TEXT[d.verdict]
    if not verification.ok:
        text += f" (token verification failed: {verification.failure_text()})"
    elif verification.unverified:
        text += f" (UNVERIFIED: {verification.unverified_text()})"
    status: Status = "fail"
    if d.verdict == "match" and verification.ok:
        status = "warn" if verification.unverified else "pass"
    build = expected.build
    records = expected.measurements.records()
    exp_ops = operations(records)
    layouts = [layout_of(f"expected: {build.vmm} (MEASURE_ARGS)", records, build.ram)]
    timeline = Timeline(tuple(exp_ops), actual_title=f"expected: {build.vmm} (MEASURE_ARGS)")
    events: list[Event] = events_of(log) if log is not None else []
    warnings = list(d.warnings)
    if actual is not None:
        if isinstance(actual, ReplayResult):
            title = f"actual: {exp.LOG_SOURCE}"
            layouts.append(_replay_layout(title, actual))
            act_ops = _replay_ops(actual)
        else:
            title = f"actual: {actual.build.vmm} (reproduced_by)"
            act_records = actual.measurements.records()
            layouts.append(layout_of(title, act_records, actual.build.ram))
            act_ops = operations(act_records)
        timeline = Timeline(tuple(act_ops), tuple(exp_ops), title,
                            f"expected: {build.vmm} (MEASURE_ARGS)",
                            first_divergence(exp_ops, act_ops))
    return Report(
        command="diagnose", verdict=Verdict(text, status, tuple(causes), summary_of(doc)),
        argv=tuple(argv), version=__version__, inputs=list(inputs), layouts=layouts,
        timeline=timeline, events=events, claims=_diagnose_claims(target, expected),
        checks=_checks(verification), components=_diagnose_components(d),
        dtb_diff=_dtb_changes(d), warnings=warnings)


def _diagnose_components(d: Diagnosis) -> list[Component]:
    """The platform components of the JSON's ``platform`` key (with --corim)."""
    if d.platform is None:
        return []
    out = []
    for c in d.platform.get("components", []):
        digest = bytes.fromhex(c["digest"]) if c.get("digest") else None
        signer = bytes.fromhex(c["signer_id"]) if c.get("signer_id") else None
        status = "match" if c["matched"] and not c["signer_id_differs"] else (
            "signer id differs" if c["matched"] else
            "no reference value" if "matches no reference" in c["reason"] else "mismatch")
        out.append(Component(c["measurement_type"] or f"sw_components[{c['index']}]",
                             c["version"] or "-", signer, digest,
                             digest if c["matched"] else None, status))
    return out


# ---------------------------------------------------------------- appraise (issue 16)


def _appraise_claims(realm: RealmClaims | None, refs: Sequence[RealmReference]) -> list[Claim]:
    """The token's realm claims against the reference whose RIM is the token's (else the
    first reference, else none): RIM, REM0..3, RPV."""
    if realm is None:
        return []
    ref = next((r for r in refs if r.values.rim is not None and realm.rim is not None
                and same_measurement(r.values.rim, realm.rim)), refs[0] if refs else None)
    vals = ref.values if ref is not None else None
    src = ref.source if ref is not None else "no reference value"

    def row(name: str, want: bytes | None, got: bytes | None) -> Claim:
        if want is None:
            status = "not given"
        else:
            status = cmp.MATCH if got is not None and same_measurement(want, got) \
                else cmp.MISMATCH
        return Claim(name, src, want, got, status)

    rows = [row("RIM", vals.rim if vals else None, realm.rim)]
    rems = realm.rems or []
    rows += [row(f"REM{i}", vals.rems[i] if vals and i < len(vals.rems) else None, rem)
             for i, rem in enumerate(rems)]
    rows.append(row("RPV", vals.rpv if vals else None, realm.personalization_value))
    return rows


def appraise_report(result: Appraisal, realm: RealmClaims | None,
                    refs: Sequence[RealmReference], argv: Sequence[str],
                    inputs: Sequence[InputFile] = ()) -> Report:
    """``rmtool appraise``: ``ear.status`` and, as causes, every trust claim that is not
    affirming (with its reason), the problems and the waived checks; each submod's trust
    vector with the reason for every claim; the token's checks; the platform components;
    the realm claims against the reference values."""
    doc = result.to_json()
    causes: list[str] = []
    trust: list[TrustClaim] = []
    for sub in result.submods:
        for claim in A.CLAIMS:
            value = sub.vector[claim]
            tier = A.tier_of(value)
            reason = sub.reasons.get(claim, "no claim made")
            trust.append(TrustClaim(sub.name, sub.status, claim, value, tier, reason))
            if tier not in (A.AFFIRMING, A.NONE) or (tier == A.NONE and value != A.NO_CLAIM):
                causes.append(f"{sub.name} {claim}: {tier} ({value}): {reason}")
        if sub.problem is not None and not any(sub.problem in c for c in causes):
            causes.append(f"{sub.name}: {sub.problem}")
    causes += [f"UNVERIFIED: {w}" for w in result.waived]
    status: Status = "fail"
    if result.exit_code == 0:
        status = "warn" if result.waived else "pass"
    text = result.status.upper() + (f" (UNVERIFIED: {'; '.join(result.waived)})"
                                    if result.waived and result.exit_code == 0 else "")
    return Report(
        command="appraise", verdict=Verdict(text, status, tuple(causes), summary_of(doc)),
        argv=tuple(argv), version=__version__, inputs=list(inputs),
        claims=_appraise_claims(realm, refs),
        checks=[Check(c.name, c.status, c.reason) for c in result.checks],
        components=components_of(result.platform), trust=trust,
        warnings=list(result.notes))
