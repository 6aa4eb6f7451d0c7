"""``rmtool log show``: print a TCG / CC event log, its digest checks and register replay.

Output contract of ``--format json`` (docs/cli.md, "rmtool log")::

    {"schema": "rmtool/log-show/1", "format": str, "algorithms": [str],
     "events": [{"number", "offset", "index", "type", "type_value",
                 "digests": {bank: hex}, "data": {...decoded...},
                 "digest_matches_data": {bank: bool} | null}],
     "registers": {bank: {"<index>": hex}},
     "errors": [{"offset", "field", "message"}],
     "warnings": [{"message", "field"}],
     "padding": int}

plus ``"table"`` (the fields) for an ACPI CCEL table (docs/json.md: the shared
``schema`` / ``errors`` / ``warnings`` keys of ``rmtool.cli._output``; ``--format yaml``
is the same document). Hex is lower-case without ``0x``.
``digest_matches_data`` is null where the PFP does not define the digest as the hash of
the event data. ``registers`` is the PCR-style extend of each index (TCG PC Client PFP):
on an Arm CCA Realm log, index 0 carries the VMM's RIM events (docs/measurement-log.md
section 2) and its PCR-style value is not the Realm's RIM, which the RMM builds from the
Realm's operations; the table labels that row and ``warnings`` says so (``rmtool replay``
rebuilds the RIM). Exit status 1 when the log has a framing error (events before it are
still printed).
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from rmtool._files import LIMITS, read_bounded
from rmtool._filetype import check_kind
from rmtool.cli._output import message, schema, yaml_text
from rmtool.errors import EventLogError, InputFileError, UsageError
from rmtool.eventlog import Event, EventLog, LogError, parse
from rmtool.eventlog import _constants as c
from rmtool.eventlog._replay import replay_banks

_FORMATS = ("table", "text", "json", "yaml")
_BATCH = 2048  # events per string written
_TABLE_ROWS = 50_000  # event rows of the text table (json lists every event)
_PARALLEL_MIN_BYTES = 1 << 20  # replay large logs in a second process (2+ CPUs)
_MEMO_DATA = 64  # events with at most this many data bytes: outputs memoised by value
_MEMO_ENTRIES = 4096  # distinct values memoised per output


def _read(path: str) -> bytes:
    """The bytes of the event log at ``path``: a regular file of at most
    ``LIMITS["event log"]`` bytes (``InputFileError``, exit 2, otherwise)."""
    data = read_bounded(path, LIMITS["event log"], "event log", InputFileError)
    check_kind(data, "event log", path)
    return data


def _banks(log: EventLog, bank: str | None) -> list[str]:
    if bank is None:
        return log.banks
    if bank not in log.algorithms:
        raise UsageError(f"--bank {bank}: the log has banks {', '.join(log.algorithms) or 'none'}",
                         field="--bank")
    return [bank]


def event_dict(event: Event, banks: list[str] | None = None) -> dict[str, Any]:
    """JSON form of one event (``banks`` restricts the digests shown)."""
    digests = event.digests
    if banks is not None:
        digests = {b: d for b, d in digests.items() if b in banks}
    matches = event.digest_matches_data
    if matches is not None and banks is not None:
        matches = {b: m for b, m in matches.items() if b in banks} or None
    return {
        "number": event.number,
        "offset": event.offset,
        "index": event.index,
        "type": event.type_name,
        "type_value": event.event_type,
        "digests": {b: d.hex() for b, d in digests.items()},
        "data": event.decoded,
        "digest_matches_data": matches,
    }


def _registers(log: EventLog, banks: list[str]) -> dict[str, dict[str, str]]:
    replayed = replay_banks(log, banks)
    return {b: {str(i): v.hex() for i, v in sorted(replayed[b].items())} for b in banks}


def _errors(log: EventLog, errors: list[LogError] | None = None) -> list[dict[str, Any]]:
    found = log.errors if errors is None else errors
    return [{"offset": e.offset, "field": e.field, "message": e.message} for e in found]


#: Event types that may be one of the VMM's RIM events (rmtool.replay._cca.RealmLogCheck).
_RIM_EVENT_TYPES = frozenset({c.EV_EVENT_TAG, c.EV_POST_CODE2, c.EV_EFI_PLATFORM_FIRMWARE_BLOB2})

#: The label of index 0 on a Realm log, in the table and in ``warnings``.
RIM_INDEX_NOTE = ("index 0 holds the VMM's RIM events of an Arm CCA Realm log: its value "
                  "here is a PCR-style extend of their digests, not the Realm's RIM (the "
                  "RMM measures the Realm's operations; rmtool replay LOG --images DIR "
                  "rebuilds the RIM)")


#: The note on index 0's row of the register table of a Realm log.
_INDEX_ZERO_LABEL = "RIM events: not the RIM (see note)"


class _RealmIndexZero:
    """Whether the log's index 0 carries a CCA RIM event (then its PCR-style register
    value means nothing): fed each listed event, cheaply (index and type first)."""

    def __init__(self) -> None:
        self.found = False

    def observe(self, event: Event) -> None:
        if self.found or event.index != 0 or event.event_type not in _RIM_EVENT_TYPES:
            return
        from rmtool.replay._cca import RealmLogCheck  # only for candidate events

        self.found = RealmLogCheck.is_rim_event(event.event_type, event.data)

    def warnings(self, banks: Iterable[str]) -> list[dict[str, Any]]:
        """One warning per bank shown (``field``: the register it is about)."""
        if not self.found:
            return []
        return [message(RIM_INDEX_NOTE, field=f"registers.{b}.0") for b in banks]


def _make_dumps() -> Callable[[Any], str]:
    """Compact JSON encoder, identical to ``json.dumps(value, separators=(",", ":"))``.

    The C encoder is built once instead of once per call (``JSONEncoder.encode`` builds it
    on every call, which dominates for the small per-event ``data`` objects).
    """
    encoder = json.JSONEncoder(check_circular=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - Python built without the _json accelerator
        return encoder.encode
    iterencode = make(None, encoder.default, json.encoder.encode_basestring_ascii, None,
                      ":", ",", False, False, True)

    def dumps(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return dumps


def _events_json(events: Iterable[Event], only: list[str] | None,
                 dumps: Callable[[Any], str],
                 realm: _RealmIndexZero | None = None) -> Iterator[str]:
    """The ``events`` items of the JSON contract, ``_BATCH`` events per string.

    Writes exactly what ``dumps(event_dict(event, only))`` writes, without building the
    per-event dicts: the keys and their order are fixed by the contract.
    """
    types: dict[int, str] = {}  # event type -> its JSON string
    digest_formats: dict[tuple[str, ...], str] = {}  # banks -> '"bank":"%s",...'
    match_texts: dict[tuple[tuple[str, bool], ...], str] = {}  # checks -> JSON object

    hexlify = bytes.hex
    quote = json.encoder.encode_basestring_ascii

    def data_json(decoded: dict[str, Any]) -> str:
        if len(decoded) == 1:  # the most common data: {"string": text}
            text = decoded.get("string")
            if type(text) is str:
                return '{"string":' + quote(text) + "}"
        return dumps(decoded)

    # Small events repeat (minimal REM extends, separators, actions): their data text and
    # digest checks depend only on (type, index, data, digests), so they are computed once
    # per distinct value (bounded memo) and equal what the event's own properties give.
    data_texts: dict[tuple[int, bytes], str] = {}
    checks_memo: dict[tuple[int, int, bytes, tuple[tuple[str, bytes], ...]],
                      dict[str, bool] | None] = {}
    batch: list[str] = []
    append = batch.append
    observe = realm.observe if realm is not None else None
    for event in events:
        digests = event.digests
        etype = event.event_type
        raw = event.data
        if observe is not None and etype in _RIM_EVENT_TYPES:
            observe(event)
        small = len(raw) <= _MEMO_DATA and event.number > 0  # event 0: decoded by parse
        if small:
            key = (etype, event.index, raw, tuple(digests.items()))
            if key in checks_memo:
                matches = checks_memo[key]
            else:
                matches = event.digest_matches_data
                if len(checks_memo) < _MEMO_ENTRIES:
                    checks_memo[key] = matches
            data_key = (etype, raw)
            data_text = data_texts.get(data_key)
            if data_text is None:
                data_text = data_json(event.decoded)
                if len(data_texts) < _MEMO_ENTRIES:
                    data_texts[data_key] = data_text
        else:
            matches = event.digest_matches_data
            data_text = data_json(event.decoded)
        if only is not None:
            digests = {b: d for b, d in digests.items() if b in only}
            if matches is not None:
                matches = {b: m for b, m in matches.items() if b in only} or None
        banks = tuple(digests)
        digest_format = digest_formats.get(banks)
        if digest_format is None:
            digest_format = digest_formats[banks] = ",".join(
                [dumps(b).replace("%", "%%") + ':"%s"' for b in banks])
        if matches is None:
            match_text = "null"
        else:
            checks = tuple(matches.items())
            match_text = match_texts.get(checks, "")
            if not match_text:
                match_text = match_texts[checks] = dumps(matches)
        type_text = types.get(etype)
        if type_text is None:
            type_text = types[etype] = dumps(event.type_name)
        append(f'{{"number":{event.number:d},"offset":{event.offset:d},'
               f'"index":{event.index:d},"type":{type_text},"type_value":{etype:d},'
               f'"digests":{{{digest_format % tuple(map(hexlify, digests.values()))}}},'
               f'"data":{data_text},"digest_matches_data":{match_text}}}')
        if len(batch) == _BATCH:
            yield ",".join(batch)
            batch.clear()
    if batch:
        yield ",".join(batch)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


Registers = dict[str, dict[str, str]]


def _replay_in_child(data: bytes, max_event_size: int,
                     bank: str | None) -> Callable[[], Registers | None] | None:
    """Replay the registers of a large log in a forked process while this one prints events.

    Returns a function giving the registers (None if the child failed, then the caller
    replays in-process), or None when forking is not worth it or not possible: small logs,
    a single usable CPU, platforms without ``fork``. Called before this process parses
    the log: forking a small heap is cheap, a parsed log would be copied page by page.
    """
    if len(data) < _PARALLEL_MIN_BYTES or not hasattr(os, "fork") or _usable_cpus() < 2:
        return None
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # child: never returns, never runs the parent's exit handlers
        status = 1
        try:
            os.close(read_fd)
            log = parse(data, max_event_size=max_event_size)
            registers = _registers(log, _banks(log, bank))
            with open(write_fd, "wb") as pipe:
                pipe.write(json.dumps(registers).encode("ascii"))
            status = 0
        except BaseException:  # noqa: BLE001,S110 - the parent replays in-process instead
            pass
        finally:
            os._exit(status)
    os.close(write_fd)

    def result() -> Registers | None:
        with open(read_fd, "rb") as pipe:
            text = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not text:
            return None
        registers: Registers = json.loads(text)
        return registers

    return result


def _json_chunks(log: EventLog, banks: list[str], bank: str | None,
                 registers: Callable[[], Registers | None] | None = None,
                 errors: list[LogError] | None = None) -> Iterator[str]:
    """The JSON document in pieces; the events are streamed (``EventLog.stream``), not
    kept. ``errors`` (when given) receives the framing errors."""
    found: list[LogError] = [] if errors is None else errors
    padding: list[int] = []
    dumps = _make_dumps()
    realm = _RealmIndexZero()
    yield ('{"schema":' + dumps(schema("log-show")) + ',"format":' + dumps(log.format)
           + ',"algorithms":' + dumps(log.algorithms))
    if log.table is not None:
        yield ',"table":' + dumps(log.table)
    yield ',"events":['
    sep = ""
    for chunk in _events_json(log.stream(found, padding), [bank] if bank else None, dumps,
                              realm):
        yield sep + chunk
        sep = ","
    replayed = registers() if registers is not None else None
    yield '],"registers":' + dumps(replayed if replayed is not None else _registers(log, banks))
    yield (',"errors":' + dumps(_errors(log, found)) + ',"warnings":'
           + dumps(realm.warnings(banks)) + ',"padding":' + str(padding[0]) + "}\n")


def _document(log: EventLog, banks: list[str], bank: str | None) -> dict[str, Any]:
    only = [bank] if bank else None
    doc: dict[str, Any] = {"schema": schema("log-show"), "format": log.format,
                           "algorithms": log.algorithms}
    if log.table is not None:
        doc["table"] = log.table
    realm = _RealmIndexZero()
    events = []
    for e in log:
        realm.observe(e)
        events.append(event_dict(e, only))
    doc.update(events=events, registers=_registers(log, banks), errors=_errors(log),
               warnings=realm.warnings(banks), padding=log.padding)
    return doc


def _summary(decoded: dict[str, Any], width: int = 70) -> str:
    text = json.dumps(decoded, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


def _match_text(event: Event, bank: str) -> str:
    matches = event.digest_matches_data
    if matches is None or bank not in matches:
        return "n/a"
    return "yes" if matches[bank] else "NO"


def _table(log: EventLog, banks: list[str], errors: list[LogError] | None = None) -> str:
    """The text report; at most ``_TABLE_ROWS`` event rows (the events are streamed, the
    registers cover all of them). ``errors`` (when given) receives the framing errors."""
    from tabulate import tabulate

    lines = [f"format: {log.format}", f"algorithms: {', '.join(log.algorithms) or '-'}"]
    if log.table is not None:
        lines.append(tabulate(sorted(log.table.items()), headers=["field", "value"]))
        return "\n".join(lines)
    shown = banks[0] if banks else None
    rows: list[list[Any]] = []
    found: list[LogError] = [] if errors is None else errors
    padding: list[int] = []
    more = 0
    summaries: dict[tuple[int, bytes], str] = {}  # (type, small data) -> data column
    last: Event | None = None
    realm = _RealmIndexZero()
    for last in log.stream(found, padding):
        if last.event_type in _RIM_EVENT_TYPES:
            realm.observe(last)
        digest = last.digests.get(shown, b"") if shown else b""
        raw = last.data
        if len(raw) <= _MEMO_DATA and last.number > 0:  # event 0: decoded by parse
            summary = summaries.get((last.event_type, raw))
            if summary is None:
                summary = _summary(last.decoded)
                if len(summaries) < _MEMO_ENTRIES:
                    summaries[(last.event_type, raw)] = summary
        else:
            summary = _summary(last.decoded)
        rows.append([last.number, last.index, last.type_name,
                     digest.hex()[:16] + ("..." if len(digest) > 8 else ""),
                     _match_text(last, shown) if shown else "n/a", summary])
        if len(rows) == _TABLE_ROWS:
            break
    else:
        last = None
    if last is not None:  # the other events are only counted (framed, not decoded)
        more = sum(1 for _ in log.frames(shown or "", found, padding, after=last))
    lines.append(tabulate(rows, headers=["#", "index", "type", f"{shown or ''} digest",
                                         "matches data", "data"]))
    if more:
        lines.append(f"... {more} more events not listed (the table shows the first "
                     f"{_TABLE_ROWS}; --format json lists every event)")
    replayed = replay_banks(log, banks)
    for bank in banks:
        regs = sorted(replayed[bank].items())
        lines.append("")
        if realm.found:  # a note column: index 0 is not the RIM
            lines.append(tabulate([[i, v.hex(), _INDEX_ZERO_LABEL if i == 0 else ""]
                                   for i, v in regs],
                                  headers=["index", f"{bank} (PCR-style extend)", "note"]))
        else:
            lines.append(tabulate([[i, v.hex()] for i, v in regs],
                                  headers=["index", f"{bank} (PCR-style extend)"]))
    if realm.found:
        lines.append(f"note: {RIM_INDEX_NOTE}")
    if padding[0]:
        lines.append(f"\npadding: {padding[0]} bytes after the last event")
    for err in found:
        lines.append(f"\nerror at offset {err.offset:#x} (field {err.field}): {err.message}")
    return "\n".join(lines)


@click.group("log")
def log() -> None:
    """TCG and confidential-computing event logs."""


@log.command("show")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=False))
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table",
              show_default=True, help="Output format: a table, or the JSON / YAML document "
                                      "(rmtool/log-show/1, docs/json.md).")
@click.option("--bank", default=None, help="Only this digest bank (e.g. sha256).")
@click.option("--max-event-size", type=click.IntRange(min=1), default=16 * 1024 * 1024,
              show_default=True, help="Largest event accepted, in bytes.")
def show(file: str, fmt: str, bank: str | None,
         max_event_size: int) -> None:
    """Print the events of FILE, digest checks and the replayed registers."""
    # The parsed log holds no reference cycles; the cyclic collector only costs time
    # (repeated scans of the ~10 objects per event) on large logs.
    gc.disable()
    try:
        _show(file, fmt, bank, max_event_size)
    finally:
        gc.enable()


def _show(file: str, fmt: str, bank: str | None, max_event_size: int) -> None:
    data = _read(file)
    out = sys.stdout
    registers = None
    if fmt == "json":
        out.flush()  # nothing buffered may be written twice by a forked child
        registers = _replay_in_child(data, max_event_size, bank)
    parsed = parse(data, max_event_size=max_event_size)
    banks = _banks(parsed, bank)
    errors: list[LogError] = []
    if fmt == "json":
        for chunk in _json_chunks(parsed, banks, bank, registers, errors):
            out.write(chunk)
    elif fmt == "yaml":
        out.write(yaml_text(_document(parsed, banks, bank)) + "\n")
        errors = parsed.errors
    else:
        out.write(_table(parsed, banks, errors) + "\n")
    out.flush()
    if errors:
        # Raised rather than ctx.exit(1): the CLI boundary prints it as one ERROR line
        # and exits 1 (parsing stops at the first framing error, so there is one).
        first = errors[0]
        raise EventLogError(f"malformed event log {file}: {first.message}",
                            field=first.field, offset=first.offset)
