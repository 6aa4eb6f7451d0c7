"""Explain ``rmtool compare --log`` mismatches: which register, which event, which operation.

docs/cli-compare.md "Explanations"; register semantics from TF-RMM measurement_extend
(lib/measurement/src/measurement.c, RSI_MEASUREMENT_EXTEND:
``REM = H(REM[:hash_size] || data)``) and the CCA log replay of :mod:`rmtool.replay`
(docs/measurement-log.md sections 2-4). Three kinds of explanation:

1. **The token's REM differs from the log's replay.** A token holds only the final value
   of a hash chain, so where the Realm's chain and the log's chain part cannot be read
   from it. What can be concluded, in order:

   * the token equals the log's value after an earlier event *k* (or zero): the log
     records events after *k* that the Realm had not extended when the token was made;
   * a single change to the log explains the token, tried with every *known digest*
     (the ``--images`` files' digests and the log's own digests): one unlogged
     extension after the last event or between two events, one altered digest, one
     extra event, two events swapped;
   * otherwise: the log fails to explain the register; its chain ends at event *N* with
     value *X*; the Realm made an extension after *N* the log does not record, or an
     event at or before *N* was altered, added or dropped. Events whose digest is not a
     known reference image are named as the suspects.

2. **The replay equals the token but a reference (``--rem*``, ``--endorsements``,
   ``--corim``, ``--measure-trace``) differs:** the first event of that register whose
   digest is not a known reference image is the component that changed.

3. **RIM mismatches:** the log's RIM operations (REALM_CREATE, INIT_RIPAS, DATA_CREATE,
   REC_CREATE) are diffed against the expected configuration's operation stream, the
   JSON that ``rmtool measure --format json --trace`` writes (``--measure-trace``). The
   RIM is a chain too, so the first operation whose running RIM differs is the first
   operation that differs; it is named with its addresses ("DTB at 0x... differs").
   With only a reference RIM (no trace), the log's running RIM after each event is
   searched for it.

The search in (1) is bounded (``MAX_HASHES``); a larger log is searched from its end.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmtool import _hashalgo as hashalgo
from rmtool._files import load_json_bounded
from rmtool.errors import UsageError
from rmtool.measure.rmm.trace import (
    REALM_CREATE,
    RIM_KINDS,
    DataInputs,
    Inputs,
    RealmInputs,
    RecInputs,
    RipasInputs,
    TraceRecord,
)
from rmtool.replay import ReplayResult
from rmtool.replay._engine import EventRow
from rmtool.verify.compare.compare import (
    LABELS,
    MISMATCH,
    CompareReport,
    Explanation,
    ReferenceValues,
    equal_at_token_size,
)
from rmtool.verify.token._claims import RealmClaims

MAX_TRACE_JSON = 16 << 20
MAX_TRACE_STEPS = 1 << 20
MAX_HASHES = 400_000  # extend operations spent on single-change hypotheses per register
MAX_CANDIDATES = 65_536
LOG_SOURCE = "log replay"
_ALGOS = {a.name: a.size for a in hashalgo.REALM}  # the Realm algorithms' sizes
_TOKEN_NAMES = {a.name: a.ni_name for a in hashalgo.REALM if a.ni_name}


# ---------------------------------------------------------------- expected configuration


@dataclass(frozen=True)
class MeasureTrace:
    """``rmtool measure --format json --trace`` output: the expected configuration."""

    source: str
    rim: bytes
    rems: list[bytes]
    hash_algo: str | None
    rmm_version: str | None
    steps: list[TraceRecord]  # RIM operations only (MEASUREMENT_EXTEND dropped)


def _hex_field(doc: Mapping[str, Any], key: str, where: str) -> bytes:
    value = doc.get(key)
    if not isinstance(value, str) or len(value) > 256:
        raise UsageError(f"{where}: {key!r} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise UsageError(f"{where}: {key!r} is not hex: {value[:40]!r}") from None


def measure_trace_from_json(doc: Any, source: str) -> MeasureTrace:
    """Validate the measure JSON (``rim``, ``rems``, ``trace``); each trace entry is read
    with the one record codec (:meth:`TraceRecord.from_json`, strict)."""
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: not the JSON of `rmtool measure --format json --trace`")
    rim = _hex_field(doc, "rim", source)
    rems_raw = doc.get("rems", [])
    if not isinstance(rems_raw, list) or len(rems_raw) > 4:
        raise UsageError(f"{source}: 'rems' must be a list of 4 hex strings")
    rems = [_hex_field({"rem": r}, "rem", f"{source} rems[{i}]") for i, r in enumerate(rems_raw)]
    trace = doc.get("trace")
    if not isinstance(trace, list):
        raise UsageError(f"{source}: no 'trace' list (run `rmtool measure --format json "
                         "--trace`)", field="trace")
    if len(trace) > MAX_TRACE_STEPS:
        raise UsageError(f"{source}: more than {MAX_TRACE_STEPS} trace entries", field="trace")
    records = [TraceRecord.from_json(t, f"{source} trace[{i}]") for i, t in enumerate(trace)]
    algo = doc.get("hash_algo")
    version = doc.get("rmm_version")
    return MeasureTrace(source, rim, rems, algo if isinstance(algo, str) else None,
                        version if isinstance(version, str) else None,
                        [r for r in records if r.kind in RIM_KINDS])


def load_measure_trace(path: str | Path) -> MeasureTrace:
    p = Path(path)
    doc = load_json_bounded(p, MAX_TRACE_JSON, UsageError)
    return measure_trace_from_json(doc, f"measure-trace {p.name}")


def trace_reference(trace: MeasureTrace) -> ReferenceValues:
    """The trace's final RIM as a reference set. Its REMs are not used: ``measure`` knows
    only what the VMM loads, not what firmware and the OS extend at run time."""
    ref = ReferenceValues(trace.source, hash_algo=_token_algo(trace.hash_algo))
    ref.add("rim", trace.rim)
    return ref


def measured_reference(rim: bytes, rpv: bytes, hash_algo: str,
                       source: str = "MEASURE_ARGS") -> ReferenceValues:
    """The RIM and personalization value of the Realm ``rmtool measure MEASURE_ARGS``
    describes, as a reference set (``compare -- MEASURE_ARGS``). REMs are not used, for
    the reason :func:`trace_reference` gives; the log (``--log``) is their reference."""
    ref = ReferenceValues(source, hash_algo=_token_algo(hash_algo))
    ref.add("rim", rim)
    ref.add("rpv", rpv)
    return ref


def _token_algo(name: str | None) -> str | None:
    return None if name is None else _TOKEN_NAMES.get(name, name)


# ---------------------------------------------------------------- the log as a source


def _has_rim_events(result: ReplayResult) -> bool:
    return any(e.register == "RIM" for e in result.events)


def replay_reference(result: ReplayResult, source: str = LOG_SOURCE) -> ReferenceValues:
    """The replay's RIM and REMs as a reference set; a register the log should give but
    cannot (RIM events that do not replay, a REM event without the Realm digest) is
    ``unavailable`` (a mismatch), a RIM the log has no events for is not given."""
    algo = result.hash_algo
    ref = ReferenceValues(source, hash_algo=algo.token_name if algo else None)
    if result.rim is not None:
        ref.add("rim", result.rim)
    elif _has_rim_events(result):
        ref.unavailable["rim"] = f"the log's RIM cannot be rebuilt: {result.rim_error}"
    for i, rem in enumerate(result.rems):
        if rem is not None:
            ref.add(f"rem{i}", rem)
        else:
            why = next((e for e in result.errors if f"REM{i}" in e), "not computable")
            ref.unavailable[f"rem{i}"] = f"the log's REM{i} cannot be computed: {why}"
    return ref


def known_digests(reference_index: Mapping[bytes, Any], result: ReplayResult
                  ) -> dict[bytes, str]:
    """Candidate digests for the single-change search: reference images, then the log's."""
    out: dict[bytes, str] = {}
    for digest, match in list(reference_index.items())[:MAX_CANDIDATES]:
        out[digest] = f"reference image {Path(getattr(match, 'path', str(match))).name}"
    for e in result.events:
        if e.digest is not None and len(out) < MAX_CANDIDATES:
            out.setdefault(bytes.fromhex(e.digest), f"the digest of event {e.number}")
    return out


# ---------------------------------------------------------------- REM chains


def extend(algo: str, value: bytes, data: bytes) -> bytes:
    """RSI_MEASUREMENT_EXTEND as TF-RMM computes it (TF-RMM measurement_extend)."""
    return hashlib.new(algo, value + data).digest()


def _chain(algo: str, start: bytes, digests: Sequence[bytes]) -> bytes:
    value = start
    for d in digests:
        value = extend(algo, value, d)
    return value


@dataclass(frozen=True)
class _Step:
    event: int
    digest: bytes
    value_after: bytes
    image: str | None
    description: str


def _rem_steps(result: ReplayResult, reg: int) -> list[_Step]:
    name = f"REM{reg}"
    steps = []
    for e in result.events:
        if e.register == name and e.operation == "RemExtend" and e.digest and e.value_after:
            steps.append(_Step(e.number, bytes.fromhex(e.digest), bytes.fromhex(e.value_after),
                               e.image, e.description or e.type))
    return steps


def _at_size(value: bytes | None, size: int) -> bytes | None:
    """A token value at the log's hash size (zero padding dropped); None if it differs."""
    if value is None:
        return None
    if len(value) == size:
        return value
    if len(value) > size and not any(value[size:]):
        return value[:size]
    return None


def _events(steps: Sequence[_Step]) -> str:
    nums = [s.event for s in steps]
    if len(nums) <= 6:
        return ", ".join(str(n) for n in nums)
    return f"{', '.join(str(n) for n in nums[:5])}, ..., {nums[-1]} ({len(nums)} events)"


def _where_after(steps: Sequence[_Step], k: int, label: str) -> str:
    return f"after event {steps[k - 1].event}" if k else f"before the first {label} event"


@dataclass(frozen=True)
class _Found:
    event: int | None
    message: str


def _search(algo: str, steps: Sequence[_Step], token: bytes,
            candidates: Mapping[bytes, str], label: str) -> _Found | int | None:
    """Single-change hypotheses, position by position from the end of the chain (the
    likeliest place for a change): an extra event, two events swapped, an unlogged
    extension, an altered digest. Returns what explains ``token``, else None when every
    position was tried, else the number of positions (from the end) tried in the budget."""
    n = len(steps)
    size = _ALGOS.get(algo, 0)
    d = [s.digest for s in steps]
    v = [bytes(size)] + [s.value_after for s in steps]
    cands = [(c, what) for c, what in candidates.items() if len(c) == size]
    budget = MAX_HASHES
    for k in range(n, -1, -1):  # position k: after k logged events
        cost = (2 * len(cands) + 2) * (n - k + 2)
        if cost > budget:
            return n - k
        budget -= cost
        if 0 < k < n and _chain(algo, v[k - 1], d[k:]) == token:
            s = steps[k - 1]
            return _Found(s.event, (
                f"event {s.event} ({s.description}) is in the log but the Realm did not "
                f"extend it: without it the log's {label} chain gives the token's value"))
        if 0 < k < n and _chain(algo, v[k - 1], [d[k], d[k - 1], *d[k + 1:]]) == token:
            return _Found(steps[k - 1].event, (
                f"events {steps[k - 1].event} and {steps[k].event} were extended in the "
                "other order than the log records"))
        for c, what in cands:
            if _chain(algo, extend(algo, v[k], c), d[k:]) == token:
                where = _where_after(steps, k, label)
                tail = "" if k in (0, n) else f" and before event {steps[k].event}"
                event = steps[k - 1].event if k else (steps[0].event if n else None)
                return _Found(event, (
                    f"one extension that the log does not record, {where}{tail}, with "
                    f"{c.hex()} ({what}), gives the token's value"))
            if k < n and c != d[k] and _chain(algo, extend(algo, v[k], c), d[k + 1:]) == token:
                s = steps[k]
                return _Found(s.event, (
                    f"event {s.event} ({s.description}) was altered: the Realm extended "
                    f"{c.hex()} ({what}) where the log records {s.digest.hex()}; with that "
                    "digest every other event as logged gives the token's value"))
    return None


def _unknown(steps: Sequence[_Step]) -> list[_Step]:
    return [s for s in steps if s.image in (None, "unknown")]


def explain_rem(algo: str, reg: int, result: ReplayResult, token: bytes,
                candidates: Mapping[bytes, str]) -> Explanation:
    """Why the token's REM ``reg`` is not the log's replay value (explanation 1)."""
    label = f"REM{reg}"
    steps = _rem_steps(result, reg)
    n = len(steps)
    zero = bytes(len(token))
    if n == 0:
        head = (f"{label}: the log records no extension of {label}, but the token's value "
                f"is {token.hex()}: the Realm made extensions the log does not record")
        found = _search(algo, steps, token, candidates, label)
        if isinstance(found, _Found):
            return Explanation(label, found.event, f"{head}; {found.message}")
        return Explanation(label, None, head)
    last = steps[-1]
    values = [zero] + [s.value_after for s in steps]
    for k in range(n - 1, -1, -1):
        if values[k] == token:
            rest = steps[k:]
            state = (f"the log's {label} after event {steps[k - 1].event}" if k else
                     "zero: the Realm never extended it")
            return Explanation(label, rest[0].event, (
                f"{label}: the token's value is {state}; the log records {len(rest)} later "
                f"extension(s) (events {_events(rest)}) that the Realm had not made when the "
                "token was produced (a token taken before them, or events the Realm never "
                "extended)"))
    head = (f"{label}: the token's value {token.hex()} is not the log's {label} after any "
            f"event; the log's {label} chain ends at event {last.event} with "
            f"{last.value_after.hex()}")
    found = _search(algo, steps, token, candidates, label)
    if isinstance(found, _Found):
        return Explanation(label, found.event, f"{head}; {found.message}")
    scope = ""
    if isinstance(found, int):
        scope = (f" at the last {found} positions of the chain (the search is bounded)"
                 if found else " (the log is too long to search)")
    suspects = _unknown(steps)
    hint = ""
    if suspects:
        hint = (f"; events whose digest is not a known reference image, the likeliest to be "
                f"altered: {_events(suspects)}")
    return Explanation(label, last.event, (
        f"{head}. A final value cannot show where the two chains part: the Realm may have "
        f"extended exactly the log's events up to event {last.event} and more after it. "
        f"The log fails to explain {label}: an extension after event {last.event} that the "
        f"log does not record, or an event at or before it altered, added or dropped (no "
        f"single such change with one of the {len(candidates)} known digests gives the "
        f"token's value{scope}){hint}"))


def explain_reference(algo: str, reg: int, result: ReplayResult, source: str,
                      expected: bytes, images_given: bool) -> Explanation:
    """The replay equals the token, a reference differs (explanation 2)."""
    label = f"REM{reg}"
    steps = _rem_steps(result, reg)
    head = f"{label}: the log explains the token's value but {source} expects {expected.hex()}"
    unknown = _unknown(steps)
    if unknown:
        s = unknown[0]
        more = f" (also events {_events(unknown[1:])})" if len(unknown) > 1 else ""
        why = "" if images_given else " (no --images given)"
        return Explanation(label, s.event, (
            f"{head}: event {s.event} ({s.description}) extended {s.digest.hex()}, which is "
            f"not a known reference image{why}: the component that changed{more}"))
    size = _ALGOS.get(algo, 0)
    exp = _at_size(expected, size)
    values = [bytes(size)] + [s.value_after for s in steps]
    for k in range(len(steps)):
        if values[k] == exp:
            rest = steps[k:]
            return Explanation(label, rest[0].event, (
                f"{head}, the log's {label} {_where_after(steps, k, label)}: the Realm "
                f"also extended events {_events(rest)} that the reference does not include"))
    if not steps:
        return Explanation(label, None, f"{head}; the Realm never extended {label}")
    names = sorted({Path(s.image).name for s in steps if s.image})
    return Explanation(label, steps[-1].event, (
        f"{head}; every {label} event's digest is a known reference image "
        f"({', '.join(names[:6])}): the reference was made for another set or order of "
        "components"))


# ---------------------------------------------------------------- RIM


@dataclass(frozen=True)
class _LogOp:
    """One of the log's RIM operations: the replayed record's typed inputs (None for the
    event at which the RIM stopped replaying, when no operation could be built from it)."""

    event: int
    kind: str  # REALM_CREATE, INIT_RIPAS, DATA_CREATE, DATA_CREATE_UNMEASURED, REC_CREATE
    what: str  # KERNEL, DTB, ... (image kind) or the kind
    inputs: Inputs | None
    rim_after: bytes | None  # None: the event did not replay
    row: EventRow

    @property
    def data(self) -> DataInputs | None:
        return self.inputs if isinstance(self.inputs, DataInputs) else None

    @property
    def detail(self) -> str:
        """The operation as the explanations word it."""
        if self.inputs is None:
            return self.row.description
        if isinstance(self.inputs, RipasInputs):
            return f"[{self.inputs.base:#x}, {self.inputs.top:#x})"
        return self.inputs.render()


def _op_from(record: TraceRecord, row: EventRow, assumed: bool) -> _LogOp:
    is_data = isinstance(record.inputs, DataInputs)
    return _LogOp(row.number, record.kind, record.origin.label if is_data else record.kind,
                  record.inputs, None if assumed else record.rim_after, row)


def log_rim_ops(result: ReplayResult) -> list[_LogOp]:
    """The log's RIM operations in order, each with its event (the replay's own mapping:
    each record's origin names its event) and the RIM after it; the event at which the
    RIM stopped replaying (if any) ends the list with no RIM."""
    rows = {e.number: e for e in result.events}
    records = result.records(rim_only=True)
    assumed = any(r.origin.kind == "assumed" for r in records)
    out = [_op_from(r, rows[r.origin.event], assumed) for r in records
           if r.origin.event is not None and r.origin.event in rows]
    failure = result.rim_failure
    if failure is not None and failure.event in rows:
        out.append(_LogOp(failure.event, failure.kind, failure.label, failure.data, None,
                          rows[failure.event]))
    return out


def _rec_key(r: RecInputs) -> tuple[Any, ...]:
    """What of a REC_CREATE the RIM depends on, as the trace shows it."""
    if not r.runnable:
        return (False,)
    return (True, r.pc, tuple((i, v) for i, v in enumerate(r.gprs) if v))


def _same_inputs(a: Inputs, b: Inputs | None) -> bool:
    if isinstance(a, RipasInputs) and isinstance(b, RipasInputs):
        return (a.base, a.top) == (b.base, b.top)
    if isinstance(a, RecInputs) and isinstance(b, RecInputs):
        return _rec_key(a) == _rec_key(b)
    return a == b


def _event_words(log: _LogOp) -> str:
    ev = f"the log's event {log.event} ({log.row.description})"
    if log.rim_after is None:
        ev += f", which does not replay ({log.row.note})"
    return ev


def _describe_data(exp: TraceRecord, log: _LogOp, ev: str) -> str:
    """How an expected DATA_CREATE and the log's differ: address, size or content."""
    what = str(exp.origin) or log.what
    data = log.data
    if not isinstance(exp.inputs, DataInputs) or data is None:
        return f"{what} differs: expected {exp.detail}; {ev}"
    eipa, esize = exp.inputs.ipa, exp.inputs.size
    if (eipa, esize) == (data.ipa, data.size) and exp.kind == log.kind:
        if log.rim_after is None:
            return (f"{what} at {eipa:#x} has the expected address and size ({esize:#x}) "
                    f"but its content cannot be compared: {ev}")
        image = log.row.image or "unknown"
        if os.path.isabs(image):
            image = os.path.basename(image)
        return (f"{what} at {eipa:#x} differs: same address and size ({esize:#x}) but "
                f"different content; {ev} measured {log.row.digest or '-'} "
                f"(image {image})")
    if eipa != data.ipa:
        return (f"{what} at {eipa:#x} differs: the expected configuration loads "
                f"{exp.detail}; {ev} loads {log.what} at {data.ipa:#x} size {data.size:#x}")
    return (f"{what} at {eipa:#x} differs: expected size {esize:#x} "
            f"({exp.kind}), {ev} has size {data.size:#x} ({log.kind})")


def _params_diffs(exp: TraceRecord, log: _LogOp) -> list[str]:
    """REALM_CREATE parameters that differ, by name, expected first."""
    e = exp.inputs.summary() if isinstance(exp.inputs, RealmInputs) else {}
    g = log.inputs.summary(full=False) if isinstance(log.inputs, RealmInputs) else {}
    return [f"{k} {v} expected, {g.get(k, '?')} in the log" for k, v in e.items()
            if v != g.get(k)]


def _describe_diff(exp: TraceRecord, log: _LogOp) -> str:
    """One sentence: how expected operation ``exp`` and the log's ``log`` differ."""
    ev = _event_words(log)
    if exp.kind.startswith("DATA_CREATE") and log.kind.startswith("DATA_CREATE"):
        return _describe_data(exp, log, ev)
    if exp.kind != log.kind:
        return (f"operation differs: the expected configuration has {exp.kind} "
                f"({exp.origin}: {exp.detail}) where {ev} is a {log.kind}")
    if exp.kind == REALM_CREATE:
        diffs = _params_diffs(exp, log)
        if diffs:
            return f"REALM_CREATE differs: {'; '.join(diffs)} ({ev})"
    elif not _same_inputs(exp.inputs, log.inputs):
        return f"{exp.kind} differs: expected {exp.detail}, {ev} has {log.detail}"
    return (f"{exp.kind} differs: same parameters as described ({exp.detail}) but a "
            f"different RIM ({ev}); check --rmm-version")


def diff_rim_ops(trace: MeasureTrace, ops: Sequence[_LogOp], rmm_version: str
                 ) -> Explanation | None:
    """The first operation where the log and the expected configuration differ."""
    note = ""
    if trace.rmm_version and trace.rmm_version != rmm_version:
        note = (f" (the trace was computed for RMM {trace.rmm_version}, the replay used "
                f"{rmm_version})")
    src = trace.source
    for i in range(max(len(trace.steps), len(ops))):
        exp = trace.steps[i] if i < len(trace.steps) else None
        log = ops[i] if i < len(ops) else None
        if exp is not None and log is not None and log.rim_after == exp.rim_after:
            continue
        if exp is not None and log is not None:
            text = _describe_diff(exp, log)
            agree = (f"the log agrees with {src} up to operation {i} (event {ops[i - 1].event})"
                     if i else f"the log and {src} differ from the first operation")
            return Explanation("RIM", log.event, (
                f"RIM: operation {i + 1} is the first that differs between the log and "
                f"{src} ({agree}): {text}{note}"))
        if exp is not None:
            after = f"event {ops[-1].event}" if ops else "its start"
            return Explanation("RIM", ops[-1].event if ops else None, (
                f"RIM: the log's operations end after {after}; {src} continues with "
                f"{exp.kind} ({exp.origin}: {exp.detail}){note}"))
        assert log is not None
        return Explanation("RIM", log.event, (
            f"RIM: the log's event {log.event} ({log.row.description}) is a {log.kind} that "
            f"{src} does not perform{note}"))
    return None


def _rim_prefix(ops: Sequence[_LogOp], value: bytes) -> int | None:
    """Index k such that ``value`` is the RIM after the log's k-th RIM operation."""
    for k, op in enumerate(ops):
        if op.rim_after == value:
            return k
    return None


def _later_events(ops: Sequence[_LogOp]) -> str:
    return ", ".join(str(o.event) for o in ops)


def _rim_not_rebuilt(ops: Sequence[_LogOp], result: ReplayResult,
                     images_given: bool) -> Explanation:
    """The log's RIM stops at an event (or never starts): name it."""
    bad = ops[-1] if ops and ops[-1].rim_after is None else None
    if bad is None:
        return Explanation("RIM", None, (
            f"RIM: the log's RIM cannot be rebuilt at its start: {result.rim_error}"))
    advice = ""
    if bad.row.image == "unknown":
        advice = ("; give the images with --images" if not images_given else
                  "; if the image changed, this is the component that changed")
    return Explanation("RIM", bad.event, (
        f"RIM: the log's RIM cannot be rebuilt at event {bad.event} "
        f"({bad.row.description}): {bad.row.note}{advice}"))


def _token_not_log(ops: Sequence[_LogOp], token: bytes, log_rim: bytes) -> Explanation:
    """The token's RIM is not the log's: an earlier RIM of the log, or none of them."""
    k = _rim_prefix(ops, token)
    if k is not None and k + 1 < len(ops):
        rest = ops[k + 1:]
        return Explanation("RIM", rest[0].event, (
            f"RIM: the token's RIM is the log's RIM after event {ops[k].event}; the log "
            f"records later operations (events {_later_events(rest)}) "
            "that the Realm did not perform"))
    last = ops[-1]
    return Explanation("RIM", last.event, (
        f"RIM: the token's RIM {token.hex()} is not the log's RIM after any event; "
        f"the log's RIM ends at event {last.event} with {log_rim.hex()}: the log "
        "does not describe how this Realm was created (an operation it does not "
        f"record, or an event at or before event {last.event} altered)"))


def _reference_not_log(ops: Sequence[_LogOp], source: str, expected: bytes | None,
                       size: int, have_trace: bool) -> Explanation:
    """The log explains the token's RIM; reference ``source`` expects another."""
    exp = _at_size(expected, size)
    k = _rim_prefix(ops, exp) if exp is not None else None
    if k is not None and k + 1 < len(ops):
        return Explanation("RIM", ops[k + 1].event, (
            f"RIM: the log explains the token's RIM; {source} expects the log's "
            f"RIM after event {ops[k].event}: the Realm also performed events "
            f"{_later_events(ops[k + 1:])}"))
    advice = ("" if have_trace else
              "; give --measure-trace (rmtool measure --format json --trace of "
              "the expected configuration) to name the first operation that differs")
    return Explanation("RIM", None, (
        f"RIM: the log explains the token's RIM; {source} expects "
        f"{(expected or b'').hex()}, which is not the RIM after any log event: "
        f"the Realm was built from another configuration{advice}"))


def _reference_explanations(ops: Sequence[_LogOp], report: CompareReport, size: int,
                            trace: MeasureTrace | None) -> list[Explanation]:
    """Explanation of every other RIM reference that differs (the trace's has its own)."""
    skip = {LOG_SOURCE} | ({trace.source} if trace is not None else set())
    return [_reference_not_log(ops, r.source, r.expected, size, trace is not None)
            for r in report.results
            if r.claim == "rim" and r.status == MISMATCH and r.source not in skip]


def explain_rim(result: ReplayResult, token_rim: bytes | None, report: CompareReport,
                trace: MeasureTrace | None, images_given: bool = True) -> list[Explanation]:
    """Why the RIM differs (explanation 3), from the replay's records and the trace's."""
    if not any(r.claim == "rim" and r.status == MISMATCH for r in report.results):
        return []
    if not _has_rim_events(result):
        return [Explanation("RIM", None, (
            "RIM: the log has no VMM events (REALM_CREATE, INIT_RIPAS, images, REC_CREATE): "
            "it cannot explain the RIM"))]
    ops = log_rim_ops(result)
    size = result.hash_algo.size if result.hash_algo else 0
    token = _at_size(token_rim, size)
    out: list[Explanation] = []
    if result.rim is None:
        out.append(_rim_not_rebuilt(ops, result, images_given))
    elif token is not None and result.rim != token:
        out.append(_token_not_log(ops, token, result.rim))
    elif token is not None:
        out.extend(_reference_explanations(ops, report, size, trace))
    if trace is not None and trace.rim != result.rim:
        diff = diff_rim_ops(trace, ops, result.rmm_version)
        if diff is not None:
            out.append(diff)
    return out


# ---------------------------------------------------------------- entry point


def explain(realm: RealmClaims, report: CompareReport, result: ReplayResult | None,
            trace: MeasureTrace | None = None, candidates: Mapping[bytes, str] | None = None,
            images_given: bool = True) -> list[Explanation]:
    """Every explanation for ``report`` (the compare of ``realm`` against its references,
    the log replay ``result`` among them as ``LOG_SOURCE``)."""
    if result is None or result.hash_algo is None:
        return []
    algo = result.hash_algo
    cands = dict(candidates or {})
    out: list[Explanation] = []
    token_algo = realm.hash_algo
    if token_algo is not None and token_algo != algo.token_name:
        out.append(Explanation("RIM", None, (
            f"the token's hash algorithm is {token_algo}, the log's Realm algorithm is "
            f"{algo.token_name}: the log is not this Realm's")))
        return out
    rems = list(realm.rems or [])
    for reg in range(4):
        actual = _at_size(rems[reg], algo.size) if reg < len(rems) else None
        replayed = result.rems[reg]
        if actual is None or replayed is None:
            continue  # the table's note says why (absent claim, not computable)
        if replayed != actual:
            out.append(explain_rem(algo.name, reg, result, actual, cands))
            continue
        for r in report.results:
            if (r.claim == f"rem{reg}" and r.status == MISMATCH and r.source != LOG_SOURCE
                    and r.expected is not None
                    and not equal_at_token_size(r.expected, actual)[0]):
                out.append(explain_reference(algo.name, reg, result, r.source, r.expected,
                                             images_given))
    out[:0] = explain_rim(result, realm.rim, report, trace, images_given)
    return out


__all__ = ["LABELS", "LOG_SOURCE", "MeasureTrace", "TraceRecord", "diff_rim_ops", "explain",
           "explain_reference", "explain_rem", "explain_rim", "extend", "known_digests",
           "load_measure_trace", "log_rim_ops", "measure_trace_from_json", "replay_reference",
           "trace_reference"]
