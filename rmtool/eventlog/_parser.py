"""TCG event-log parser: format detection, framing of events, lazy decoding.

Follows TCG PC Client PFP 1.06 section 10.2 (TCG_PCClientPCREvent, TCG_PCR_EVENT2,
TCG_EfiSpecIDEvent), the TCG "Canonical Event Log" rules for crypto-agile logs, the
UEFI 2.10 section 38.4 confidential-computing event log (CCEL: MR index in place of the
PCR index, the log area padded with 0x00 or 0xFF), ACPI 6.5 section 5.2.34 (the CCEL
table), and the CCA RIM-log quirks of docs/measurement-log.md (section 1: EV_NO_ACTION
digest list with algorithm 0, zero padding).

The log is untrusted. Framing (headers, digest lists, sizes) is done with :mod:`struct`
formats that mirror the construct declarations in :mod:`rmtool.eventlog._structs`; every
length and count is checked against the bytes that remain before use, the digest count is
bounded by the Spec ID algorithms, and an event larger than ``max_event_size`` is an error.
On the first framing error parsing stops: the events before it stay available and
``EventLog.errors`` names the byte offset and field. Event data is decoded only when
``Event.decoded`` is read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import rmtool.eventlog._constants as c
from rmtool.eventlog._decode import (
    DIGEST_OF_DATA,
    Decoded,
    decode_event,
    decode_spec_id,
    digest_candidates,
)
from rmtool.eventlog._layouts import FAST

_HDR2 = FAST["PCREvent2Header"]
_HDR1 = FAST["PCClientPCREventHeader"]
_CCEL = FAST["AcpiCcelTable"]
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TYPE_NAMES = c.EVENT_TYPE_NAMES

FORMAT_TCG2 = "tcg2"  # crypto-agile, TCG_PCR_EVENT2 after "Spec ID Event03"
FORMAT_CCEL = "ccel"  # crypto-agile CC event log: header event carries an MR index
FORMAT_SHA1 = "sha1"  # legacy TCG_PCClientPCREvent log
FORMAT_ACPI_CCEL = "acpi-ccel-table"  # the 56-byte ACPI CCEL table, not a log
FORMAT_UNKNOWN = "unknown"


class LogError(NamedTuple):
    """A framing error: byte offset in the log, field name, sentence."""

    offset: int
    field: str
    message: str


#: An ``EventLog.frames`` item: offset, index, event type, one bank's digest (or None).
Frame = tuple[int, int, int, bytes | None]


class _Stop(Exception):
    def __init__(self, offset: int, field: str, message: str) -> None:
        super().__init__(message)
        self.error = LogError(offset, field, message)


class Event:
    """One event of the log. ``digests`` maps bank name -> digest bytes."""

    __slots__ = ("number", "offset", "index", "event_type", "digests", "data", "size",
                 "_decoded")

    def __init__(self, number: int, offset: int, index: int, event_type: int,
                 digests: dict[str, bytes], data: bytes, size: int) -> None:
        self.number = number
        self.offset = offset
        self.index = index
        self.event_type = event_type
        self.digests = digests
        self.data = data
        self.size = size  # bytes of the whole event record in the log
        self._decoded: Decoded | None = None

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.event_type) or c.event_type_name(self.event_type)

    @property
    def decoded(self) -> Decoded:
        """Named fields of the event data (decoded on first access)."""
        if self._decoded is None:
            self._decoded = decode_event(self.event_type, self.data)
        return self._decoded

    @property
    def digest_matches_data(self) -> dict[str, bool] | None:
        """Per bank: does the digest equal the hash of the event data? None: not applicable.

        Applicable where the PFP defines the digest as the hash of the event data
        (separators, actions, EFI variables, GPT, S-CRTM version) and for the boot-loader
        EV_IPL strings of PCR 8 and 12. Each candidate is hashed at most once per bank.
        """
        if self.event_type not in DIGEST_OF_DATA:
            return None
        candidates = digest_candidates(self.event_type, self.data, self.index)
        if not candidates:
            return None
        out: dict[str, bool] = {}
        ctors = c.HASH_CONSTRUCTORS
        for bank, digest in self.digests.items():
            ctor = ctors.get(bank)
            if ctor is None:
                continue
            for blob in candidates:
                if ctor(blob).digest() == digest:
                    out[bank] = True
                    break
            else:
                out[bank] = False
        return out or None

    def __repr__(self) -> str:
        return (f"Event(number={self.number}, offset={self.offset}, index={self.index}, "
                f"type={self.type_name})")


class EventLog:
    """A parsed log. Iterating yields events lazily; ``events``/``errors`` parse to the end."""

    def __init__(self, data: bytes, fmt: str, algorithms: list[str],
                 events: Iterator[Event], errors: list[LogError],
                 table: dict[str, Any] | None = None,
                 restart: Callable[[list[LogError], list[EventLog]], Iterator[Event]]
                 | None = None, framer: _AgileFramer | None = None) -> None:
        self.raw = data
        self._restart = restart  # frames the events again (``stream``)
        self._framer = framer  # framing without Event objects (``frames``, ``event_at``)
        self.format = fmt
        self.algorithms = algorithms
        self.table = table  # fields of the ACPI CCEL table (format acpi-ccel-table)
        self._padding = 0
        self._source: Iterator[Event] | None = events
        self._events: list[Event] = []
        self._errors = errors

    def __iter__(self) -> Iterator[Event]:
        events = self._events
        i = 0
        while True:
            while i < len(events):
                yield events[i]
                i += 1
            source = self._source
            if source is None:
                return
            for event in source:
                events.append(event)
                if len(events) != i + 1:  # another iterator read ahead meanwhile
                    break
                i += 1
                yield event
            else:
                self._source = None

    def stream(self, errors: list[LogError] | None = None,
               padding: list[int] | None = None) -> Iterator[Event]:
        """The events framed afresh and not kept: memory bounded by what the caller keeps.

        Yields exactly the events of ``events`` (equal fields, same order); at the end the
        framing errors are in ``errors`` and the padding byte count is appended to
        ``padding`` (when given). A log already parsed to its end is served from memory.
        """
        if self._source is None or self._restart is None:
            events = self.events  # parsed to the end already (or nothing to frame)
            if errors is not None:
                errors.extend(self._errors)
            if padding is not None:
                padding.append(self._padding)
            return iter(events)
        return self._stream(self._restart, [] if errors is None else errors, padding)

    def _stream(self, restart: Callable[[list[LogError], list[EventLog]], Iterator[Event]],
                errors: list[LogError], padding: list[int] | None) -> Iterator[Event]:
        sink = EventLog(self.raw, self.format, self.algorithms, iter(()), [])
        yield from restart(errors, [sink])
        if padding is not None:
            padding.append(sink._padding)

    def frames(self, bank: str, errors: list[LogError] | None = None,
               padding: list[int] | None = None, after: Event | None = None
               ) -> Iterator[Frame]:
        """Framing only: one ``(offset, index, event type, the bank digest or None)`` tuple
        per event, in order (the Nth tuple is event N, or event ``after.number + 1 + N``
        when ``after`` is given), without building :class:`Event` objects; nothing is kept.

        The framing is the one of ``stream`` (same checks, same events, same stop at the
        first framing error, reported in ``errors``; padding appended to ``padding``).
        :meth:`event_at` gives the whole event of a frame.
        """
        framer = self._framer
        if framer is None:  # legacy SHA-1 logs, tables, logs without events
            return self._frames_of_events(bank, errors, padding, after)
        start = 0 if after is None else after.offset + after.size
        return framer.frames(bank, start, [] if errors is None else errors, padding)

    def _frames_of_events(self, bank: str, errors: list[LogError] | None,
                          padding: list[int] | None, after: Event | None) -> Iterator[Frame]:
        first = 0 if after is None else after.number + 1
        for event in self.stream(errors, padding):
            if event.number >= first:
                yield event.offset, event.index, event.event_type, event.digests.get(bank)

    def event_at(self, number: int, offset: int) -> Event:
        """Event ``number`` of a frame that ``frames`` yielded at ``offset``."""
        framer = self._framer
        if framer is not None:
            return framer.event_at(number, offset)
        if self.format == FORMAT_SHA1:  # framed once already: frames again without a cap
            pcr, etype, digest, body, end = _legacy_event(self.raw, offset, len(self.raw))
            return Event(number, offset, pcr, etype, {"sha1": digest}, body, end - offset)
        return self.events[number]

    def _drain(self) -> None:
        if self._source is not None:
            self._events.extend(self._source)
            self._source = None

    @property
    def events(self) -> list[Event]:
        self._drain()
        return self._events

    @property
    def padding(self) -> int:
        """Bytes of 0x00 / 0xFF padding after the last event (CCEL areas, RIM buffers)."""
        self._drain()
        return self._padding

    @property
    def errors(self) -> list[LogError]:
        self._drain()
        return self._errors

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, number: int) -> Event:
        return self.events[number]

    @property
    def banks(self) -> list[str]:
        """Banks that can be replayed (declared and with a known hash function)."""
        return [bank for bank in self.algorithms if bank in c.HASHES]

    def registers(self, bank: str) -> dict[int, bytes]:
        """Replay ``bank``: final register values keyed by the index written in the log."""
        from rmtool.eventlog._replay import replay

        return replay(self, bank)

    def spec_id(self) -> Decoded | None:
        first = self.events[0] if self.events else None
        if first is None or first.event_type != c.EV_NO_ACTION:
            return None
        return first.decoded if self.format in (FORMAT_TCG2, FORMAT_CCEL) else None


# --- parsing -----------------------------------------------------------------------------

def _is_padding(data: bytes, pos: int) -> bool:
    """True if everything from ``pos`` on is 0x00 or everything is 0xFF."""
    head = data[pos: pos + 8]
    if head != b"\x00" * len(head) and head != b"\xff" * len(head):
        return False
    rest = data[pos:]
    return not rest.strip(b"\x00") or not rest.strip(b"\xff")


def _legacy_event(data: bytes, pos: int, max_size: int) -> tuple[int, int, bytes, bytes, int]:
    """Frame one TCG_PCClientPCREvent at ``pos``: (pcr, type, digest, event data, next pos)."""
    n = len(data)
    if n - pos < _HDR1.size:
        raise _Stop(pos, "TCG_PCClientPCREvent",
                    f"event header needs {_HDR1.size} bytes, {n - pos} left")
    pcr, etype, digest, size = _HDR1.unpack_from(data, pos)
    start = pos + _HDR1.size
    if size > max_size:
        raise _Stop(pos + 28, "eventDataSize", f"event size {size} exceeds the cap {max_size}")
    if size > n - start:
        raise _Stop(pos + 28, "eventDataSize",
                    f"event size {size} exceeds the {n - start} bytes left")
    return pcr, etype, digest, data[start: start + size], start + size


def _sha1_events(data: bytes, max_size: int, errors: list[LogError],
                 log: list[EventLog]) -> Iterator[Event]:
    pos, number, n = 0, 0, len(data)
    while pos < n:
        if number and _is_padding(data, pos):
            log[0]._padding = n - pos
            return
        try:
            pcr, etype, digest, body, end = _legacy_event(data, pos, max_size)
        except _Stop as stop:
            errors.append(stop.error)
            return
        yield Event(number, pos, pcr, etype, {"sha1": digest}, body, end - pos)
        number += 1
        pos = end


class _AgileFramer:
    """Frames TCG_PCR_EVENT2 records after the Spec ID event ``first``.

    Fast path: header, the common digest list (all banks, in Spec ID order) and the event
    size are one struct; anything else takes the checked general path (``_checked``).
    """

    def __init__(self, data: bytes, start: int, first: Event,
                 sizes: dict[int, tuple[str, int]], order: list[int], max_size: int) -> None:
        self.data = data
        self.start = start  # offset of event 1
        self.first = first
        self.sizes = sizes
        self.order = order
        self.max_size = max_size
        self.full = struct.Struct("<III" + "".join(f"H{sizes[a][1]}s" for a in order) + "I")
        self.names = [sizes[a][0] for a in order]

    def _checked(self, pos: int) -> tuple[int, int, dict[str, bytes], int, int] | None:
        """The event at ``pos``: (index, type, digests, data offset, data size); None if
        the rest of the log is padding. Raises ``_Stop`` at a framing error."""
        data, sizes, order, max_size = self.data, self.sizes, self.order, self.max_size
        n = len(data)
        num_algs = len(order)
        if n - pos < 12:
            if _is_padding(data, pos):
                return None
            raise _Stop(pos, "TCG_PCR_EVENT2", f"event header needs 12 bytes, {n - pos} left")
        pcr, etype, count = _HDR2.unpack_from(data, pos)
        if (pcr == etype == 0 or pcr == etype == 0xFFFFFFFF) and _is_padding(data, pos):
            return None
        p = pos + 12
        if count > num_algs:
            raise _Stop(pos + 8, "digests.count",
                        f"digest count {count} exceeds the {num_algs} Spec ID algorithms")
        digests: dict[str, bytes] = {}
        for i in range(count):
            if n - p < 2:
                raise _Stop(p, f"digests[{i}].hashAlg", "truncated digest list")
            alg = _U16.unpack_from(data, p)[0]
            known = sizes.get(alg)
            if known is None:
                if etype == c.EV_NO_ACTION and count == num_algs:
                    # CCA RIM log (docs/measurement-log.md section 1): skip by the Spec ID
                    # size, whatever the id (QEMU writes 0), and name the digest after
                    # the Spec ID algorithm of its slot (alg_<hex> if that name is taken).
                    name, size = sizes[order[i]]
                    if name in digests:
                        name = f"alg_{alg:04x}"
                else:
                    raise _Stop(p, f"digests[{i}].hashAlg",
                                f"algorithm {alg:#06x} is not declared in the Spec ID event")
            else:
                name, size = known
            if n - p - 2 < size:
                raise _Stop(p + 2, f"digests[{i}].digest",
                            f"digest needs {size} bytes, {n - p - 2} left")
            if name in digests:
                raise _Stop(p, f"digests[{i}].hashAlg", f"second {name} digest in one event")
            digests[name] = data[p + 2: p + 2 + size]
            p += 2 + size
        if n - p < 4:
            raise _Stop(p, "eventSize", f"event size needs 4 bytes, {n - p} left")
        size = _U32.unpack_from(data, p)[0]
        if size > max_size:
            raise _Stop(p, "eventSize", f"event size {size} exceeds the cap {max_size}")
        p += 4
        if size > n - p:
            raise _Stop(p - 4, "eventSize", f"event size {size} exceeds the {n - p} bytes left")
        return pcr, etype, digests, p, size

    def event_at(self, number: int, offset: int) -> Event:
        """Frame the event ``number`` at ``offset`` again (a frame ``frames`` yielded)."""
        if number == 0:
            return self.first
        framed = self._checked(offset)
        if framed is None:  # pragma: no cover - frames never yields padding
            raise ValueError(f"no event at offset {offset:#x}")
        pcr, etype, digests, p, size = framed
        return Event(number, offset, pcr, etype, digests, self.data[p: p + size],
                     p + size - offset)

    def events(self, errors: list[LogError], log: list[EventLog]) -> Iterator[Event]:
        yield self.first
        data, max_size, checked = self.data, self.max_size, self._checked
        n = len(data)
        num_algs = len(self.order)
        full_unpack, full_size = self.full.unpack_from, self.full.size
        full_ids = tuple(self.order)
        full_names = self.names
        single = full_names[0] if num_algs == 1 else None
        pos, number = self.start, 1
        new_event = Event
        no_action = c.EV_NO_ACTION
        while pos < n:
            if n - pos >= full_size:
                values = full_unpack(data, pos)
                if (values[2] == num_algs and values[3:-1:2] == full_ids
                        and values[1] != no_action):
                    size = values[-1]
                    p = pos + full_size
                    if size <= max_size and size <= n - p:
                        yield new_event(number, pos, values[0], values[1],
                                        {single: values[4]} if single is not None else
                                        dict(zip(full_names, values[4:-1:2], strict=True)),
                                        data[p: p + size], full_size + size)
                        number += 1
                        pos = p + size
                        continue
            try:
                framed = checked(pos)
            except _Stop as stop:
                errors.append(stop.error)
                return
            if framed is None:
                log[0]._padding = n - pos
                return
            pcr, etype, digests, p, size = framed
            yield Event(number, pos, pcr, etype, digests, data[p: p + size], p + size - pos)
            number += 1
            pos = p + size

    def frames(self, bank: str, start: int, errors: list[LogError],
               padding: list[int] | None) -> Iterator[Frame]:
        """``EventLog.frames`` from offset ``start`` (0: from the Spec ID event)."""
        if start == 0:
            first = self.first
            yield 0, first.index, first.event_type, first.digests.get(bank)
            start = self.start
        data, max_size, checked = self.data, self.max_size, self._checked
        n = len(data)
        order = self.order
        full_unpack, full_size = self.full.unpack_from, self.full.size
        no_action = c.EV_NO_ACTION
        single = len(order) == 1
        alg0 = order[0]
        mine = self.names[0] == bank
        num_algs = len(order)
        full_ids = tuple(order)
        at = 4 + 2 * self.names.index(bank) if bank in self.names else -1
        pos, pad = start, 0
        while pos < n:
            if n - pos >= full_size:
                if single:  # one bank: the common digest list is one (alg, digest) pair
                    pcr, etype, count, alg, digest, size = full_unpack(data, pos)
                    if count == 1 and alg == alg0 and etype != no_action and size <= max_size:
                        end = pos + full_size + size
                        if end <= n:
                            yield pos, pcr, etype, digest if mine else None
                            pos = end
                            continue
                else:
                    values = full_unpack(data, pos)
                    if (values[2] == num_algs and values[3:-1:2] == full_ids
                            and values[1] != no_action and values[-1] <= max_size):
                        end = pos + full_size + values[-1]
                        if end <= n:
                            yield pos, values[0], values[1], values[at] if at >= 0 else None
                            pos = end
                            continue
            try:
                framed = checked(pos)
            except _Stop as stop:
                errors.append(stop.error)
                break
            if framed is None:
                pad = n - pos
                break
            yield pos, framed[0], framed[1], framed[2].get(bank)
            pos = framed[3] + framed[4]
        if padding is not None:
            padding.append(pad)


def _parse_spec_id(first: Event) -> tuple[dict[int, tuple[str, int]], list[int]]:
    """Digest sizes declared by the Spec ID event (alg -> (bank, size)), in order."""
    data = first.data
    base = first.offset + 32
    fixed = FAST["SpecIdFixed"]
    if len(data) < fixed.size:
        raise _Stop(base, "specIdEvent", f"Spec ID event has {len(data)} bytes, needs >= 29")
    count = _U32.unpack_from(data, 24)[0]
    if count == 0:
        raise _Stop(base + 24, "numberOfAlgorithms", "Spec ID event declares no algorithm")
    if count > (len(data) - fixed.size - 1) // 4:
        raise _Stop(base + 24, "numberOfAlgorithms",
                    f"{count} algorithms do not fit in a {len(data)}-byte Spec ID event")
    vendor_pos = fixed.size + 4 * count
    expected = vendor_pos + 1 + data[vendor_pos]
    if expected != len(data):
        raise _Stop(first.offset + 28, "eventDataSize",
                    f"Spec ID event size {len(data)} != {expected} from its contents")
    sizes: dict[int, tuple[str, int]] = {}
    order: list[int] = []
    for i in range(count):
        alg, size = struct.unpack_from("<HH", data, fixed.size + 4 * i)
        field = f"digestSizes[{i}]"
        if alg in sizes:
            raise _Stop(base + fixed.size + 4 * i, field, f"algorithm {alg:#06x} declared twice")
        known = c.ALGORITHMS.get(alg)
        if known is not None and known[1] != size:
            raise _Stop(base + fixed.size + 4 * i + 2, field,
                        f"{known[0]} digest size {size}, the registry says {known[1]}")
        if size == 0 or size > 512:
            raise _Stop(base + fixed.size + 4 * i + 2, field, f"digest size {size} out of range")
        sizes[alg] = (c.algorithm_name(alg), size)
        order.append(alg)
    return sizes, order


def _parse_acpi_table(data: bytes) -> EventLog:
    fields = _CCEL.unpack_from(data)
    names = ("signature", "length", "revision", "checksum", "oem_id", "oem_table_id",
             "oem_revision", "creator_id", "creator_revision", "cc_type", "cc_subtype",
             "reserved", "laml", "lasa")
    table: dict[str, Any] = {}
    for name, value in zip(names, fields, strict=True):
        table[name] = (bytes(value).decode("ascii", "replace").rstrip()
                       if isinstance(value, bytes) else value)
    table["checksum_ok"] = sum(data[:56]) % 256 == 0
    table["cc_type_name"] = {1: "sev", 2: "tdx", 3: "cca"}.get(table["cc_type"], "unknown")
    errors: list[LogError] = []
    if table["length"] != 56:
        errors.append(LogError(4, "length", f"CCEL table length {table['length']} != 56"))
    return EventLog(data, FORMAT_ACPI_CCEL, [], iter(()), errors, table=table)


def parse(data: bytes, *, max_event_size: int = c.DEFAULT_MAX_EVENT_SIZE) -> EventLog:
    """Parse a TCG event log (format auto-detected). Never raises on malformed input."""
    data = bytes(data)
    errors: list[LogError] = []
    if len(data) == 56 and data[:4] == b"CCEL":
        return _parse_acpi_table(data)
    if not data:
        errors.append(LogError(0, "log", "the log is empty"))
        return EventLog(data, FORMAT_UNKNOWN, [], iter(()), errors)
    holder: list[EventLog] = []
    try:
        pcr, etype, _digest, body, end = _legacy_event(data, 0, max_event_size)
    except _Stop as stop:
        errors.append(stop.error)
        return EventLog(data, FORMAT_UNKNOWN, [], iter(()), errors)
    if etype == c.EV_NO_ACTION and not body.startswith(b"Spec ID Event"):
        errors.append(LogError(32, "specIdEvent", "the first event is EV_NO_ACTION but not a "
                               "Spec ID event (a StartupLocality or other EV_NO_ACTION event "
                               "cannot open a log)"))
        return EventLog(data, FORMAT_UNKNOWN, [], iter(()), errors)
    if etype != c.EV_NO_ACTION or not body.startswith(c.SPEC_ID_EVENT03):
        def sha1_restart(errs: list[LogError], sink: list[EventLog]) -> Iterator[Event]:
            return _sha1_events(data, max_event_size, errs, sink)

        log = EventLog(data, FORMAT_SHA1, ["sha1"], sha1_restart(errors, holder), errors,
                       restart=sha1_restart)
        holder.append(log)
        return log
    first = Event(0, 0, pcr, etype, {"sha1": _digest}, body, end)
    fmt = FORMAT_TCG2 if pcr == 0 else FORMAT_CCEL
    try:
        sizes, order = _parse_spec_id(first)
    except _Stop as stop:
        errors.append(stop.error)
        return EventLog(data, fmt, [], iter(()), errors)
    framer = _AgileFramer(data, end, first, sizes, order, max_event_size)

    def agile_restart(errs: list[LogError], sink: list[EventLog]) -> Iterator[Event]:
        return framer.events(errs, sink)

    log = EventLog(data, fmt, [sizes[a][0] for a in order], agile_restart(errors, holder),
                   errors, restart=agile_restart, framer=framer)
    holder.append(log)
    first._decoded = decode_spec_id(body)
    return log
