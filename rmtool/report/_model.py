"""The data an HTML report is drawn from: small typed objects each command fills in.

Issue 17 (the report's contents) and the house plan in docs/architecture.md ("the trace is
data, not text"): the memory map and the timeline are built from the same structured
trace records (:class:`rmtool.measure.rmm.trace.TraceRecord`) and layout
(:class:`rmtool.measure.vmm.common.VmmBuild`) that ``--format json`` serialises, never from
rendered text. Every string here may come from a hostile input (token, event log, file
name): the template escapes all of them (Jinja2 autoescape), nothing is pre-rendered HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rmtool.measure.rmm.trace import (
    DATA_CREATE,
    DATA_CREATE_UNMEASURED,
    INIT_RIPAS,
    REALM_CREATE,
    RIM_KINDS,
    DataInputs,
    RealmInputs,
    RipasInputs,
    TraceRecord,
)

#: The lanes of the memory map, left to right.
Lane = Literal["ram", "ripas", "data", "unmeasured"]
LANES: tuple[Lane, ...] = ("ram", "ripas", "data", "unmeasured")
LANE_TITLES: dict[str, str] = {"ram": "RAM", "ripas": "RIPAS RAM", "data": "measured data",
                               "unmeasured": "unmeasured"}

#: Verdict states (CSS classes): pass (exit 0, every check ran and passed), warn (exit 0
#: with a check waived: ``MATCH (UNVERIFIED: ...)``), fail (a check ran and failed, exit 1),
#: info (no check: e.g. ``measure`` computed values).
Status = Literal["pass", "warn", "fail", "info"]


@dataclass(frozen=True)
class Verdict:
    """The verdict line at the top: ``text`` as the terminal prints it (``MATCH``,
    ``MISMATCH``, ``FAIL (...)``), its ``status`` and the causes behind it (mismatch
    messages, explanations, failed checks, errors), in the order the JSON lists them.
    ``summary``: the JSON document's top-level scalar fields (result, hash_algo, rim...)."""

    text: str
    status: Status
    causes: tuple[str, ...] = ()
    summary: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Region:
    """One range of the Realm's IPA space: ``[base, base + size)`` in ``lane``.

    ``name``: KERNEL, INITRD, DTB, LOG, ``RAM`` ...; ``op``: the index of the operation
    that created it in the layout's operation list (None for RAM from the VMM layout);
    ``note``: e.g. "not measured by RMM 1.0-eac5" or "does not replay"."""

    lane: Lane
    name: str
    base: int
    size: int
    op: int | None = None
    note: str = ""

    @property
    def end(self) -> int:
        return self.base + self.size

    def key(self) -> tuple[str, str, int, int]:
        return (self.lane, self.name, self.base, self.size)


@dataclass(frozen=True)
class RealmLayout:
    """A Realm's memory map: its regions and the IPA space size (``ipa_bits``, the
    REALM_CREATE s2sz; None when unknown). ``title`` names the column ("expected: measure-
    trace ref.json", "actual: log replay")."""

    title: str
    regions: tuple[Region, ...]
    ipa_bits: int | None = None


@dataclass(frozen=True)
class Operation:
    """One RMM operation of a timeline: ``number`` (1-based, the trace's), ``kind``
    (REALM_CREATE, ...), ``origin`` ("KERNEL", "event 5 (INITRD ...)"), ``detail`` (the
    record's rendered inputs), ``rim_after`` (None: it did not replay), ``event`` (the log
    event it came from)."""

    number: int
    kind: str
    origin: str
    detail: str
    rim_after: bytes | None
    event: int | None = None


@dataclass(frozen=True)
class Timeline:
    """Expected and actual operation streams, aligned by position (as
    :func:`rmtool.verify.compare._explain.diff_rim_ops` aligns them). A single stream (measure,
    replay) has ``expected`` empty. ``first_divergence``: index of the first position
    whose RIM after differs (None: none, or a single stream)."""

    actual: tuple[Operation, ...]
    expected: tuple[Operation, ...] = ()
    actual_title: str = "operations"
    expected_title: str = ""
    first_divergence: int | None = None


@dataclass(frozen=True)
class Event:
    """One row of the event table (``rmtool replay``'s columns)."""

    number: int
    type: str
    register: str
    description: str
    digest: str | None
    image: str | None
    value_after: str | None
    note: str | None = None


@dataclass(frozen=True)
class Claim:
    """One row of the claims table: ``claim`` (RIM, REM0..), the reference's ``source``,
    expected and actual values (bytes, compared byte by byte), ``status`` and ``note``."""

    claim: str
    source: str
    expected: bytes | None
    actual: bytes | None
    status: str
    note: str = ""


@dataclass(frozen=True)
class Component:
    """A platform software component (appraise): type, version, signer id,
    measurement (expected and actual where a reference exists) and status."""

    name: str
    version: str
    signer_id: bytes | None
    measurement: bytes | None
    expected: bytes | None
    status: str


@dataclass(frozen=True)
class TrustClaim:
    """One claim of an AR4SI trust vector (appraise): the submod and its status, the
    claim name, its value and tier, and the reason that set it."""

    submod: str
    submod_status: str
    claim: str
    value: int
    tier: str
    reason: str


@dataclass(frozen=True)
class DtbChange:
    """One line of a DTB diff (diagnose): node path, property, expected and actual value
    as text (``None``: absent on that side)."""

    path: str
    prop: str
    expected: str | None
    actual: str | None


@dataclass(frozen=True)
class InputFile:
    """A file the command read: its role (``token``, ``event log``, ``kernel``...), path as
    given on the command line, size and SHA-256 (None when not a regular file, e.g. a
    directory of images; ``error`` says why)."""

    role: str
    path: str
    size: int | None
    sha256: str | None
    error: str = ""


@dataclass(frozen=True)
class Check:
    """A check behind the verdict (token verification): name, status, reason."""

    name: str
    status: str
    reason: str


@dataclass
class Report:
    """Everything one report shows; each section is drawn only when it has data.

    ``command``: measure, replay, compare, diagnose, appraise; ``argv``: the exact command
    line; ``layouts``: one Realm (measure, replay) or expected and actual (compare,
    diagnose), drawn on one shared scale; ``measurements``: name and value pairs (RIM,
    REM0..) of the result."""

    command: str
    verdict: Verdict
    argv: tuple[str, ...] = ()
    version: str = ""
    inputs: list[InputFile] = field(default_factory=list)
    layouts: list[RealmLayout] = field(default_factory=list)
    timeline: Timeline | None = None
    events: list[Event] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    trust: list[TrustClaim] = field(default_factory=list)
    dtb_diff: list[DtbChange] = field(default_factory=list)
    measurements: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- from trace records


def operations(records: Iterable[TraceRecord], *, rim_only: bool = True) -> list[Operation]:
    """Trace records as timeline operations (``rim_only``: without MEASUREMENT_EXTEND,
    whose values the event table shows)."""
    return [Operation(r.number, r.kind, str(r.origin), r.detail, r.rim_after, r.origin.event)
            for r in records if not rim_only or r.kind in RIM_KINDS]


def regions_of(records: Sequence[TraceRecord]) -> tuple[list[Region], int | None]:
    """The regions the operations create (INIT_RIPAS ranges, measured and unmeasured
    DATA_CREATE) and the IPA bits of REALM_CREATE; ``Region.op`` is the record's index in
    the RIM-operation list (:func:`operations` order)."""
    out: list[Region] = []
    bits: int | None = None
    index = -1
    for r in records:
        if r.kind not in RIM_KINDS:
            continue
        index += 1
        inp = r.inputs
        if r.kind == REALM_CREATE and isinstance(inp, RealmInputs):
            bits = inp.s2sz
        elif r.kind == INIT_RIPAS and isinstance(inp, RipasInputs) and inp.top > inp.base:
            out.append(Region("ripas", "RIPAS", inp.base, inp.top - inp.base, index,
                              "" if inp.measured else f"not measured by RMM {inp.rmm_version}"))
        elif r.kind in (DATA_CREATE, DATA_CREATE_UNMEASURED) and isinstance(inp, DataInputs):
            lane: Lane = "data" if r.kind == DATA_CREATE else "unmeasured"
            out.append(Region(lane, r.origin.label, inp.ipa, inp.size, index))
    return out, bits


def layout_of(title: str, records: Sequence[TraceRecord],
              ram: Sequence[tuple[int, int]] = ()) -> RealmLayout:
    """A layout from trace records, plus the VMM's RAM ranges (``VmmBuild.ram``) when
    known."""
    regions, bits = regions_of(records)
    ram_regions = [Region("ram", "RAM", base, size) for base, size in ram if size > 0]
    return RealmLayout(title, tuple(ram_regions + regions), bits)


def first_divergence(expected: Sequence[Operation], actual: Sequence[Operation]) -> int | None:
    """The first position where the two streams' RIM after differs (or one ends)."""
    for i in range(max(len(expected), len(actual))):
        if i >= len(expected) or i >= len(actual):
            return i
        e, a = expected[i], actual[i]
        if e.rim_after is None or a.rim_after is None or e.rim_after != a.rim_after:
            return i
    return None


def summary_of(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The JSON document's top-level scalar fields, in its order, as text."""
    out = []
    for key, value in doc.items():
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, str | int):
            out.append((key, str(value)))
        elif value is None:
            out.append((key, "null"))
        elif isinstance(value, list) and len(value) <= 8 and all(
                v is None or (isinstance(v, str) and len(v) <= 128) for v in value):
            out.append((key, ", ".join("null" if v is None else v for v in value) or "-"))
    return tuple(out)
