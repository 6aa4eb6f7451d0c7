"""Replay of a CCA event log: events → RMM operations → RIM and REMs, event by event.

Spec: docs/measurement-log.md section 2 (RIM events), 3 (index maps), 4 (how the
reference's src/event_log.rs replays: two passes) and 5 (its limitations, which rmtool
fixes: both
VM VERSION layouts, NUL-terminated descriptions, LPA2, TF-RMM REM extension with the
Realm-algorithm digest, logged image length checked, unaligned INIT_RIPAS size, DTB
regeneration checked by digest, errors collected per event instead of dropped).

Pass 1 collects the facts a regenerated DTB needs (VM VERSION, REALM_CREATE, INITRD,
LOG) over the framed events (``EventLog.frames``: only the few event types it reads are
built as Event objects). Pass 2 turns every event into an operation for
:class:`rmtool.measure.rmm.realm.Realm` (``origin`` = ``"event N (WHAT)"``) and records the
register value after it; past ``MAX_ROWS`` events, plain REM extends are queued per REM and
the model extends each queue in one call (``Realm.rem_extend_chain``). A RIM event
that cannot be replayed (image missing or different, malformed payload, wrong order)
stops the RIM at that event; REM events keep being replayed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import rmtool.replay._cca as cca
import rmtool.replay._dtbgen as dtbgen
import rmtool.replay._indexmap as indexmap
from rmtool.errors import EventLogError, RmtoolError
from rmtool.eventlog import Event, EventLog, LogError, parse
from rmtool.eventlog import _constants as c
from rmtool.measure.images import Image
from rmtool.measure.rmm._layouts import GRANULE_SIZE
from rmtool.measure.rmm._limits import ripas_top
from rmtool.measure.rmm.algorithms import ALGORITHMS, HashAlgo
from rmtool.measure.rmm.ops import (
    DataCreate,
    InitRipas,
    Operation,
    RealmCreate,
    RealmParams,
    RecCreate,
    RemExtend,
)
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.rmm.realm import Realm, TraceEntry
from rmtool.measure.rmm.trace import (
    DATA_CREATE,
    MEASUREMENT_EXTEND,
    DataInputs,
    Inputs,
    Origin,
    TraceRecord,
)
from rmtool.replay._store import ImageStore, ReferenceImages

U64_LIMIT = 1 << 64
IMAGE_EVENT_TYPES = (c.EV_POST_CODE2, c.EV_EFI_PLATFORM_FIRMWARE_BLOB2)
#: Events listed in ``ReplayResult.events`` / ``operations`` (and traced by the Realm
#: model): a real Realm log has tens to thousands; the registers always cover every event.
MAX_ROWS = 50_000
#: Distinct unknown digests listed, and warnings / errors kept (each list says how many
#: more there were).
MAX_UNKNOWN = 10_000
MAX_MESSAGES = 1_000
_REGISTER_MEMO = 4096  # event index -> register pairs remembered by the lean path
_NO_REGISTER = -2  # (memo value) the index names no register under the map
_FLUSH_MASK = (1 << 16) - 1  # the lean path runs its queued REM extends every 64 Ki events


class ReplayInputError(EventLogError):
    """The log (or an option) cannot be replayed at all: exit 2."""

    exit_code = 2


#: What a log without REALM_CREATE means and what to pass (appended to that message).
NO_REALM_CREATE_MEANS = (
    ": the VMM did not log the Realm's creation parameters (hash algorithm, IPA width, "
    "SVE, PMU, breakpoints), which the RIM starts from, so no RIM can be rebuilt from this "
    "log alone (the REMs still replay); measure the VMM command line instead (rmtool "
    "measure VMM ARGS, or compare --measure-trace with its --format json --trace output)")

#: An image event's digest with no --images at all: say so (``IMAGES_HINT`` says what to pass).
NO_IMAGES_GIVEN = "cannot be matched: no reference images were given (--images)"
IMAGES_HINT = ("pass the kernel, initrd and DTB with --images DIR (a directory holding them, "
               "or a sha256sum file)")


class NotARealmLog(ReplayInputError):
    """The log is a TCG event log, but not an Arm CCA Realm's: ``hint`` says what to use."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class _Capped(list[str]):
    """A list of messages that keeps the first ``limit`` and counts the others."""

    def __init__(self, limit: int = MAX_MESSAGES) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0

    def add(self, message: str) -> None:
        if len(self) < self.limit:
            self.append(message)
        else:
            self.dropped += 1

    def closed(self, what: str) -> list[str]:
        extra = [f"... and {self.dropped} more {what} not listed"] if self.dropped else []
        return [*self, *extra]


@dataclass(slots=True)
class EventRow:
    """One event of the log and what replay made of it."""

    number: int
    offset: int
    index: int
    register: str  # "RIM", "REM0".."REM3", "-" (not extended), "none" (no register)
    type: str
    description: str
    digest: str | None  # hex, the Realm-algorithm digest (or the first one)
    image: str | None  # matching reference file, "unknown", "unmeasured", "regenerated ..."
    value_after: str | None  # hex of that register after the event (None: not computable)
    rim_after: str | None = None
    rems_after: list[str | None] = field(default_factory=list)
    operation: str | None = None  # the RMM operation it became
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "register": self.register, "type": self.type,
                "description": self.description, "digest": self.digest,
                "image": self.image, "value_after": self.value_after}


@dataclass(frozen=True, slots=True)
class RimFailure:
    """The event at which the RIM stopped replaying, with what is known of the operation
    it should have become: ``kind`` (DATA_CREATE for an image event whose payload was
    read, else the tag name or the event type), ``label`` (the image kind or tag name)
    and, for an image event, its IPA and size (``data``)."""

    event: int
    kind: str
    label: str
    data: DataInputs | None
    note: str


@dataclass
class ReplayResult:
    rim: bytes | None  # None: the RIM could not be rebuilt (see ``rim_error``)
    rems: list[bytes | None]
    hash_algo: HashAlgo | None
    index_map: str
    index_map_reason: str
    events: list[EventRow]
    unknown_digests: list[str]
    rim_error: str | None = None
    errors: list[str] = field(default_factory=list)  # REM registers not computable, ...
    warnings: list[str] = field(default_factory=list)
    vm_version: cca.VmVersion | None = None
    log_format: str = ""
    operations: list[Operation] = field(default_factory=list)
    rmm_version: str = "1.0-rel0"
    #: the Realm model's trace of the listed operations (light entries; ``records()``
    #: builds the structured records): each entry's origin names its log event
    trace: list[TraceEntry] = field(default_factory=list)
    rim_failure: RimFailure | None = None  # the first RIM event that did not replay

    def records(self, *, rim_only: bool = False) -> list[TraceRecord]:
        """The replayed operations as trace records, in order (``rim_only``: without the
        REM extensions); ``record.origin.event`` is the event each came from."""
        return [t.record() for t in self.trace
                if not (rim_only and t.kind == MEASUREMENT_EXTEND)]

    def record_of_event(self, number: int) -> TraceRecord | None:
        """The operation event ``number`` became (None: it became none, or is not listed)."""
        for t in self.trace:
            if t.origin is not None and t.origin.event == number:
                return t.record()
        return None

    @property
    def ok(self) -> bool:
        return self.rim is not None and not self.errors

    def as_json(self) -> dict[str, Any]:
        """The ``--format json`` contract of ``rmtool replay``."""
        return {
            "rim": self.rim.hex() if self.rim is not None else None,
            "rems": [r.hex() if r is not None else None for r in self.rems],
            "hash_algo": self.hash_algo.name if self.hash_algo else None,
            "index_map": self.index_map,
            "events": [e.as_json() for e in self.events],
            "unknown_digests": list(self.unknown_digests),
        }


@dataclass
class _Facts:
    """Pass 1."""

    vm: cca.VmVersion | None = None
    params: RealmParams | None = None
    initrd: tuple[int, int] | None = None
    log: tuple[int, int] | None = None
    image_leads: dict[int, int] = field(default_factory=dict)  # measured length -> IPA % 4 KiB
    count: int = 0  # events in the log
    errors: list[LogError] = field(default_factory=list)  # framing errors


#: Event types pass 1 reads whole (the others need only their index and type).
_PASS1_WHOLE = frozenset({c.EV_NO_ACTION, c.EV_EVENT_TAG, *IMAGE_EVENT_TYPES})
_PASS1_MEMO = 4096  # distinct (index, type) pairs of other events remembered in pass 1


def _decisive(extending: Iterable[tuple[int, bool]], high: int) -> list[tuple[int, bool]]:
    """(index, is a VMM RIM event) of the first extending event above the MR indices
    (``> high``) and of the first extending firmware event on index 0, in log order: all
    the index-map choice reads. ``extending`` is every extending event in log order; it is
    consumed to the end (pass 1 fills its facts as it goes)."""
    found: list[tuple[int, bool]] = []
    have_high = have_zero = False
    for index, rim_event in extending:
        if index > high:
            if not have_high:
                have_high = True
                found.append((index, rim_event))
        elif index == 0 and not rim_event and not have_zero:
            have_zero = True
            found.append((index, rim_event))
    return found


def _platform_class(ev: Event) -> int | None:
    """The Spec ID event's platform class (decoded by parse), None when absent."""
    platform = ev.decoded.get("platform_class")
    return platform if isinstance(platform, int) else None


def _tag_fact(f: _Facts, index: int, data: bytes) -> None:
    """The first REALM_CREATE tagged event on index 0 gives the Realm parameters."""
    if index == 0:
        tag, payload = cca.read_tag(data)
        if tag == cca.TAG_REALM_CREATE and f.params is None:
            f.params = cca.read_realm_create(payload)


def _image_fact(f: _Facts, index: int, data: bytes, has_digests: bool) -> None:
    """An image event: the IPA lead of a measured length, and the INITRD / LOG ranges the
    VMM's DTB describes (an INITRD loaded by firmware, a REM event, is still in it)."""
    blob = cca.read_blob2(data)
    if index == 0 and has_digests and blob.length:
        f.image_leads.setdefault(blob.length, blob.base % GRANULE_SIZE)
    if blob.description == "INITRD" and (index == 0 or f.initrd is None):
        f.initrd = (blob.base, blob.length)
    elif blob.description == "LOG" and index == 0:
        f.log = (blob.base, blob.length)


def _read_fact(f: _Facts, index: int, etype: int, ev: Event) -> None:
    """The facts one whole-read event gives; a malformed payload gives none (pass 2
    reports it)."""
    try:
        if etype == c.EV_NO_ACTION:
            if ev.data[:16] == cca.VM_VERSION_SIGNATURE:
                f.vm = cca.read_vm_version(ev.data)
        elif etype == c.EV_EVENT_TAG:
            _tag_fact(f, index, ev.data)
        elif etype in IMAGE_EVENT_TYPES:
            _image_fact(f, index, ev.data, bool(ev.digests))
    except RmtoolError:
        pass


def _extending_events(log: EventLog, f: _Facts,
                      check: cca.RealmLogCheck) -> Iterator[tuple[int, bool]]:
    """Pass 1 over the framed events (``EventLog.frames``: no Event objects but for the
    few event types it reads whole): fills ``f`` and ``check``, and yields (index, is a
    VMM RIM event) of every extending event, in log order."""
    observe = check.observe
    whole = _PASS1_WHOLE
    seen: set[tuple[int, int]] = set()
    count = 0
    for offset, index, etype, _digest in log.frames(log.algorithms[0], f.errors):
        count += 1
        if etype not in whole:
            # observe() of an event of another type reads only (index, type), and a
            # second observe() of the same pair changes nothing
            key = (index, etype)
            if key not in seen:
                if len(seen) < _PASS1_MEMO:
                    seen.add(key)
                observe(index, etype, b"")
            yield index, False
            continue
        ev = log.event_at(count - 1, offset)
        if ev.number == 0 and etype == c.EV_NO_ACTION:  # the Spec ID event
            check.platform_class = _platform_class(ev)
        rim_event = observe(index, etype, ev.data)
        if etype != c.EV_NO_ACTION:
            yield index, rim_event
        _read_fact(f, index, etype, ev)
    f.count = count


def _pass1(log: EventLog, f: _Facts, check: cca.RealmLogCheck) -> list[tuple[int, bool]]:
    """Pass 1: fills ``f`` and ``check``; returns what the index-map choice reads
    (:func:`_decisive`)."""
    return _decisive(_extending_events(log, f, check), indexmap.MAX_MR_INDEX)


def _survey(log: EventLog, index_map: str) -> tuple[_Facts, indexmap.IndexMapChoice]:
    """Pass 1 (one framing pass): facts, framing errors, Realm-log evidence, index map.
    Raises :class:`NotARealmLog` for a log that is not an Arm CCA Realm's."""
    facts = _Facts()
    check = cca.RealmLogCheck(log.format, log.algorithms, None)
    choice = indexmap.choose(index_map, _pass1(log, facts, check), log.format)
    if facts.count == 0:
        raise ReplayInputError("the log has no events", offset=0)
    problem = check.problem()
    if problem is not None:
        raise NotARealmLog(f"not an Arm CCA Realm event log: {problem[0]}", problem[1])
    return facts, choice


def _realm_algo(facts: _Facts, log: EventLog, override: str | None) -> HashAlgo:
    if facts.params is not None:
        return facts.params.hash_algo
    if override is not None:
        return ALGORITHMS[override]
    usable = [ALGORITHMS[a] for a in log.algorithms if a in ALGORITHMS]
    if len(usable) == 1:
        return usable[0]
    raise ReplayInputError("the log has no REALM_CREATE event and its Spec ID declares "
                           f"{', '.join(log.algorithms) or 'no algorithm'}: give --hash-algo",
                           field="REALM_CREATE")


def _digest_for(ev: Event, algo: HashAlgo) -> bytes | None:
    return ev.digests.get(algo.name)


def _short_desc(ev: Event) -> str:
    """A one-line description of any event (for rows of events replay does not use)."""
    d = ev.decoded
    for key in ("tag", "description", "signature", "string", "variable_name", "text"):
        value = d.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


class _ReplayRealm(Realm):
    """The Realm model whose trace stops growing once ``recording`` is off (events past
    ``MAX_ROWS``): the registers are still computed by the model for every operation."""

    recording = True

    def _record(self, op: Operation, kind: str, descriptors: int,
                inputs: Inputs | None = None) -> None:
        if self.recording:
            super()._record(op, kind, descriptors, inputs)


class _Replayer:
    def __init__(self, log: EventLog, survey: tuple[_Facts, indexmap.IndexMapChoice],
                 refs: ReferenceImages, store: ImageStore,
                 templates: list[tuple[str | None, bytes, str]],
                 rmm_version: str, hash_algo: str | None) -> None:
        self.log = log
        self.refs = refs
        self.templates = templates
        self.facts, self.map = survey
        self.warnings = _Capped()
        if self.facts.errors:  # a RIM from part of a log is no RIM: unusable input
            e = self.facts.errors[0]
            more = len(self.facts.errors) - 1
            raise ReplayInputError(f"the log is malformed: {e.message}"
                                   + (f" (and {more} more problems)" if more else ""),
                                   field=e.field, offset=e.offset)
        refs.granule_hints = self.facts.image_leads
        self.algo = _realm_algo(self.facts, log, hash_algo)
        if self.algo.name not in log.algorithms:
            raise ReplayInputError(f"the log's Spec ID does not declare the Realm algorithm "
                                   f"{self.algo.name} (it declares "
                                   f"{', '.join(log.algorithms)})", field="digestSizes")
        self.realm = _ReplayRealm(get_profile(rmm_version), hasher=store,
                                  enforce_ipa_space=True)
        self.rim_error: str | None = None
        self.rem_errors: dict[int, str] = {}
        self.errors = _Capped()
        self.unknown: list[str] = []
        self.unknown_seen: set[bytes] = set()
        self.unknown_dropped = False
        self.keep = True  # rows, operations and the trace are kept (first MAX_ROWS events)
        self.ops: list[Operation] = []
        self.rows: list[EventRow] = []
        self.created = False
        self.assumed = False
        self.rim_failure: RimFailure | None = None
        self._attempt: tuple[str, DataInputs | None] | None = None  # label, image range

    # ----------------------------------------------------------------- helpers
    def _values(self) -> tuple[str | None, list[str | None]]:
        if not self.realm.trace:
            return None, [None] * 4
        t = self.realm.trace[-1]
        rim = None if self.rim_error or self.assumed else t.rim_after.hex()
        rems = [None if i in self.rem_errors else r.hex() for i, r in enumerate(t.rems_after)]
        return rim, rems

    def _apply(self, op: Operation, origin: Origin) -> None:
        self.realm.apply(op, origin)
        if self.keep:
            self.ops.append(op)

    def _fail_rim(self, row: EventRow, message: str) -> None:
        text = f"event {row.number} ({row.description or row.type}): {message}"
        if self.rim_error is None:
            self.rim_error = text
        else:
            self.warnings.add(text)
        row.note = message
        if self.keep and self.rim_failure is None:
            label, data = self._attempt or (row.type, None)
            kind = DATA_CREATE if data is not None else label
            self.rim_failure = RimFailure(row.number, kind, label, data, message)

    def _ensure_realm(self) -> None:
        """A log without REALM_CREATE still has REMs: create the Realm with the log's
        algorithm (RIM marked not rebuilt) so the model can extend them."""
        if self.created:
            return
        self.assumed = True
        self.created = True
        if self.rim_error is None:
            self.rim_error = ("the log has no REALM_CREATE event before its first extension"
                              + NO_REALM_CREATE_MEANS)
        params = RealmParams(hash_algo=self.algo, s2sz=48)
        origin = Origin("assumed", "assumed (no REALM_CREATE in the log)")
        self._apply(RealmCreate(params, origin=str(origin)), origin)

    # ----------------------------------------------------------------- events
    def run(self) -> None:
        rows = self.rows
        event = self._event
        last: Event | None = None
        for last in self.log.stream():
            rows.append(event(last))
            if len(rows) == MAX_ROWS:
                break
        else:
            return
        # Past MAX_ROWS: nothing per event is kept (rows, operations, trace), and the events
        # are framed without Event objects (``EventLog.frames``). A REM extend of a created
        # Realm with its Realm-algorithm digest takes the lean path: its digest is queued
        # for its REM and the Realm model extends each REM with its queue in one call
        # (``rem_extend_chain``: the same registers, in the same order per REM). Every
        # other event takes the full path, after the queues are emptied.
        self.keep = False
        self.realm.recording = False
        self._lean(last)
        self.warnings.add(f"the log has {self.facts.count} events: only the first {MAX_ROWS} "
                          "are listed (rows, operations); the RIM and REMs cover all of them")

    def _lean(self, last: Event) -> None:
        log, realm, event = self.log, self.realm, self._event
        map_name, no_action = self.map.name, c.EV_NO_ACTION
        register_for = indexmap.register_for
        registers: dict[int, int] = {}  # index -> register or _NO_REGISTER (memo, bounded)
        algo = self.algo.name
        known = self.refs.index(algo)
        unknown = self.unknown_seen
        add_unknown = self._add_unknown
        queues: list[list[bytes]] = [[], [], [], []]
        lean: tuple[int, ...] = ()  # registers the lean path may extend now

        def flush() -> None:
            for reg, queue in enumerate(queues):
                if queue:
                    realm.rem_extend_chain(reg, queue)
                    queue.clear()

        def lean_registers() -> tuple[int, ...]:
            if not self.created:
                return ()
            return tuple(r for r in range(4) if r not in self.rem_errors)

        lean = lean_registers()
        appends = [queue.append for queue in queues]
        frames = enumerate(log.frames(algo, after=last), last.number + 1)
        for number, (offset, index, etype, digest) in frames:
            if etype != no_action and digest is not None and len(digest) <= 64:
                reg = registers.get(index)
                if reg is None:
                    found = register_for(map_name, index)
                    reg = _NO_REGISTER if found is None else found
                    if len(registers) < _REGISTER_MEMO:
                        registers[index] = reg
                if reg in lean:
                    if digest not in known and digest not in unknown:
                        add_unknown(digest)
                    appends[reg](digest)
                    if not number & _FLUSH_MASK:  # bounds the queues
                        flush()
                    continue
            flush()
            event(log.event_at(number, offset))
            lean = lean_registers()
        flush()

    def _event(self, ev: Event) -> EventRow:
        digest = _digest_for(ev, self.algo)
        any_digest = digest if digest is not None else next(iter(ev.digests.values()), None)
        row = EventRow(ev.number, ev.offset, ev.index, "-", ev.type_name, "",
                       any_digest.hex() if any_digest is not None else None, None, None)
        if ev.event_type == c.EV_NO_ACTION:
            row.digest = None  # EV_NO_ACTION is never extended
            self._no_action(ev, row)
        else:
            reg = indexmap.register_for(self.map.name, ev.index)
            row.register = indexmap.register_name(reg)
            if reg is None:
                row.description = _short_desc(ev)
                msg = f"index {ev.index} names no register under the {self.map.name} map"
                self.errors.add(f"event {ev.number}: {msg}")
                row.note = msg
            elif reg == indexmap.RIM:
                self._rim_event(ev, row, digest)
            else:
                self._rem_event(ev, row, reg, digest)
        if not self.keep:
            return row
        rim, rems = self._values()
        row.rim_after, row.rems_after = rim, rems
        if row.register == "RIM":
            row.value_after = rim
        elif row.register.startswith("REM"):
            row.value_after = rems[int(row.register[3])]
        return row

    def _no_action(self, ev: Event, row: EventRow) -> None:
        if ev.number == 0:
            row.description = "Spec ID: " + ", ".join(self.log.algorithms)
        elif ev.data[:16] == cca.VM_VERSION_SIGNATURE:
            try:
                vm = cca.read_vm_version(ev.data)
                row.description = (f"VM VERSION {vm.name} {vm.version}".rstrip() +
                                   f" ram {vm.ram_size:#x} cpus {vm.num_cpus} "
                                   f"(layout {vm.layout})")
            except RmtoolError as exc:
                row.description = "VM VERSION"
                row.note = str(exc)
                self.warnings.add(f"event {ev.number}: {exc}")
        else:
            row.description = _short_desc(ev)

    # -- RIM
    def _rim_event(self, ev: Event, row: EventRow, digest: bytes | None) -> None:
        self._attempt = None
        try:
            if ev.event_type == c.EV_EVENT_TAG:
                self._tag(ev, row)
            elif ev.event_type in IMAGE_EVENT_TYPES:
                self._image(ev, row, digest)
            else:
                row.description = _short_desc(ev)
                self._fail_rim(row, f"{ev.type_name} cannot be replayed into the RIM")
        except RmtoolError as exc:
            self._fail_rim(row, str(exc))

    def _rim_op(self, row: EventRow, op: Operation, origin: Origin) -> None:
        if self.rim_error is not None and not self.assumed:
            row.note = row.note or "not replayed: the RIM is already broken"
            return
        if not self.created and not isinstance(op, RealmCreate):
            self._fail_rim(row, "REALM_CREATE must come first")
            return
        self._apply(op, origin)
        row.operation = type(op).__name__

    def _tag(self, ev: Event, row: EventRow) -> None:
        tag, payload = cca.read_tag(ev.data)
        row.description = cca.TAG_NAMES[tag]
        self._attempt = (row.description, None)
        origin = Origin.from_event(ev.number, row.description)
        if tag == cca.TAG_REALM_CREATE:
            params = cca.read_realm_create(payload)
            row.description += (f" s2sz {params.s2sz} {params.hash_algo.name}"
                                + (" lpa2" if params.lpa2 else ""))
            if self.created:
                self._fail_rim(row, "second REALM_CREATE")
                return
            self.created = True
            self._rim_op(row, RealmCreate(params, origin=str(origin)), origin)
        elif tag == cca.TAG_INIT_RIPAS:
            base, size = cca.read_init_ripas(payload)
            # as the VMM front-ends compute it (emit-log), without their u64 wrap: a
            # logged range past 2^64 is refused by the IPA-space check below
            top = ripas_top(base, size) if base + size <= U64_LIMIT \
                else (base + size - 1 + GRANULE_SIZE - 1) // GRANULE_SIZE * GRANULE_SIZE
            row.description += f" [{base:#x}, {base + size:#x})"
            if base % GRANULE_SIZE:
                self._fail_rim(row, f"INIT_RIPAS base {base:#x} is not 4 KiB aligned")
                return
            self._rim_op(row, InitRipas(base, top, origin=str(origin)), origin)
        else:
            flags, pc, gprs = cca.read_rec_create(payload)
            row.description += f" pc {pc:#x} x0 {gprs[0]:#x}"
            self._rim_op(row, RecCreate(pc, gprs, flags=flags, origin=str(origin)), origin)

    def _image(self, ev: Event, row: EventRow, digest: bytes | None) -> None:
        blob = cca.read_blob2(ev.data)
        row.description = f"{blob.description} {blob.base:#x} +{blob.length:#x}"
        origin = Origin.from_event(ev.number, blob.description)
        self._attempt = (blob.description, DataInputs(blob.base, blob.length, None))
        if not ev.digests:
            row.image = "unmeasured"
            self._rim_op(row, DataCreate(blob.base, None, measured=False, size=blob.length,
                                         origin=str(origin)), origin)
            return
        if digest is None:
            self._fail_rim(row, f"no {self.algo.name} digest (the Realm algorithm)")
            return
        image, label = self._lookup(blob, digest)
        if image is None:
            row.image = "unknown"
            self._add_unknown(digest)
            self._fail_rim(row, label)
            return
        row.image = label
        if image.size != blob.length:
            self._fail_rim(row, f"{label} is {image.size:#x} bytes, the log says "
                                f"{blob.length:#x}")
            return
        self._rim_op(row, DataCreate(blob.base, image, origin=str(origin)), origin)

    def _lookup(self, blob: cca.Blob, digest: bytes) -> tuple[Image | None, str]:
        match = self.refs.find(self.algo.name, digest)
        if match is not None:
            img = match.image()
            return img, match.path + (" (decompressed)" if match.variant == "gunzip" else "")
        where = (f"{self.algo.name} {digest.hex()} "
                 + ("is not in the reference images" if self.refs.refs else NO_IMAGES_GIVEN))
        if blob.description != "DTB":
            return None, where
        if self.facts.vm is None:
            return None, where + "; no VM VERSION event to regenerate it from"
        inputs = dtbgen.DtbInputs(
            vm=self.facts.vm, pmu=bool(self.facts.params and self.facts.params.pmu),
            initrd=self.facts.initrd, log=self.facts.log, dtb_base=blob.base,
            dtb_length=blob.length)
        found, how = dtbgen.regenerate(inputs, self.algo, digest, self.templates)
        if found is None:
            return None, f"{where}; {how}"
        return Image.from_bytes("regenerated DTB", found.data), how

    def _add_unknown(self, digest: bytes) -> None:
        if digest in self.unknown_seen:
            return
        if len(self.unknown) < MAX_UNKNOWN:
            self.unknown_seen.add(digest)
            self.unknown.append(digest.hex())
        elif not self.unknown_dropped:
            self.unknown_dropped = True
            self.warnings.add(f"more than {MAX_UNKNOWN} distinct unknown digests: only the "
                              f"first {MAX_UNKNOWN} are listed")

    # -- REM
    def _rem_event(self, ev: Event, row: EventRow, reg: int, digest: bytes | None) -> None:
        row.description = _short_desc(ev)
        if reg in self.rem_errors:
            row.note = "not replayed: this REM is already not computable"
            return
        if digest is None:
            msg = (f"event {ev.number} extends REM{reg} without a {self.algo.name} digest "
                   "(the Realm algorithm)")
            self.rem_errors[reg] = msg
            self.errors.add(msg)
            row.note = msg
            return
        match = self.refs.find(self.algo.name, digest)
        if match is not None:
            row.image = match.path
        else:
            row.image = "unknown"
            self._add_unknown(digest)
        self._ensure_realm()
        origin = Origin.from_event(ev.number, row.description or ev.type_name)
        self._apply(RemExtend(reg, digest, origin=str(origin)), origin)
        row.operation = "RemExtend"

    def result(self) -> ReplayResult:
        if not self.created:
            if self.rim_error is None:
                self.rim_error = "the log has no REALM_CREATE event" + NO_REALM_CREATE_MEANS
            else:
                self.warnings.add("the log has no REALM_CREATE event" + NO_REALM_CREATE_MEANS)
        rim: bytes | None = None
        rems: list[bytes | None] = [None] * 4
        if self.created:
            m = self.realm.measurements()
            if self.rim_error is None:
                rim = m.rim
            rems = [None if i in self.rem_errors else r for i, r in enumerate(m.rems)]
        else:
            rems = [None if i in self.rem_errors else bytes(self.algo.size) for i in range(4)]
        return ReplayResult(
            rim=rim, rems=rems, hash_algo=self.algo, index_map=self.map.name,
            index_map_reason=self.map.reason, events=self.rows, unknown_digests=self.unknown,
            rim_error=self.rim_error,
            errors=self.errors.closed("errors") + self.refs.problems,
            warnings=self.warnings.closed("warnings"), vm_version=self.facts.vm,
            log_format=self.log.format,
            operations=self.ops, rmm_version=self.realm.profile.name,
            trace=list(self.realm.trace), rim_failure=self.rim_failure)


def replay_log(data: bytes, images: Sequence[str], *, index_map: str = "auto",
               store: ImageStore | str | None = None, dtb_templates: Sequence[str] = (),
               rmm_version: str = "1.0-rel0", hash_algo: str | None = None) -> ReplayResult:
    """Replay ``data`` (a TCG crypto-agile log) against reference ``images`` (checksum
    files or directories). See the package docstring for the result."""
    if index_map not in ("auto", *indexmap.MAPS):
        raise ReplayInputError(f"unknown index map {index_map!r} (auto, pcr, mr)",
                               field="index_map")
    log = parse(data)
    if log.format == "sha1":
        raise NotARealmLog("not an Arm CCA Realm event log: a legacy SHA-1 format "
                           "(TCG_PCClientPCREvent) log, as TPM 1.2 firmware writes",
                           "this looks like a TPM event log; use rmtool log show")
    if log.format not in ("tcg2", "ccel"):
        first = log.errors[0].message if log.errors else f"format {log.format}"
        raise ReplayInputError(f"not a crypto-agile TCG event log ({first})", offset=0)
    survey = _survey(log, index_map)
    own_store = not isinstance(store, ImageStore)
    st = store if isinstance(store, ImageStore) else ImageStore(store)
    try:
        refs = ReferenceImages(list(images), st)
        templates = dtbgen.load_templates(list(dtb_templates))
        rp = _Replayer(log, survey, refs, st, templates, rmm_version, hash_algo)
        # the per-event records hold no reference cycles: the cyclic collector would only
        # rescan them, again and again, on large logs
        collecting = gc.isenabled()
        gc.disable()
        try:
            rp.run()
        finally:
            if collecting:
                gc.enable()
        result = rp.result()
        if st.warning:
            result.warnings.append(st.warning)
        return result
    finally:
        if own_store:
            st.close()
