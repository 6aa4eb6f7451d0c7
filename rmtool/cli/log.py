"""``rmtool log show``: print a TCG / CC event log, its digest checks and register replay.

Output contract of ``--format json`` (issue 5)::

    {"format": str, "algorithms": [str],
     "events": [{"number", "offset", "index", "type", "type_value",
                 "digests": {bank: hex}, "data": {...decoded...},
                 "digest_matches_data": {bank: bool} | null}],
     "registers": {bank: {"<index>": hex}},
     "errors": [{"offset", "field", "message"}],
     "padding": int}

plus ``"table"`` (the fields) for an ACPI CCEL table. Hex is lower-case without ``0x``.
``digest_matches_data`` is null where the PFP does not define the digest as the hash of
the event data. Exit status 1 when the log has a framing error (events before it are
still printed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from rmtool.errors import EventLogError, InputFileError, UsageError
from rmtool.eventlog import Event, EventLog, parse
from rmtool.eventlog.replay import replay_banks

_FORMATS = ("table", "json", "yaml")
_BATCH = 2048  # events per json.dumps call


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"event log {path} does not exist", field="FILE") from None
    except IsADirectoryError:
        raise InputFileError(f"event log {path} is a directory", field="FILE") from None
    except OSError as exc:
        raise InputFileError(f"cannot read event log {path}: {exc.strerror}",
                             field="FILE") from None


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


def _errors(log: EventLog) -> list[dict[str, Any]]:
    return [{"offset": e.offset, "field": e.field, "message": e.message} for e in log.errors]


def _json_chunks(log: EventLog, banks: list[str], bank: str | None) -> Iterator[str]:
    dumps = json.JSONEncoder(check_circular=False, separators=(",", ":")).encode
    yield '{"format":' + dumps(log.format) + ',"algorithms":' + dumps(log.algorithms)
    if log.table is not None:
        yield ',"table":' + dumps(log.table)
    yield ',"events":['
    only = [bank] if bank else None
    sep = ""
    batch: list[dict[str, Any]] = []
    for event in log:
        batch.append(event_dict(event, only))
        if len(batch) == _BATCH:
            yield sep + dumps(batch)[1:-1]
            sep, batch = ",", []
    if batch:
        yield sep + dumps(batch)[1:-1]
    yield '],"registers":' + dumps(_registers(log, banks))
    yield ',"errors":' + dumps(_errors(log)) + ',"padding":' + str(log.padding) + "}\n"


def _document(log: EventLog, banks: list[str], bank: str | None) -> dict[str, Any]:
    only = [bank] if bank else None
    doc: dict[str, Any] = {"format": log.format, "algorithms": log.algorithms}
    if log.table is not None:
        doc["table"] = log.table
    doc.update(events=[event_dict(e, only) for e in log], registers=_registers(log, banks),
               errors=_errors(log), padding=log.padding)
    return doc


def _summary(decoded: dict[str, Any], width: int = 70) -> str:
    text = json.dumps(decoded, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


def _match_text(event: Event, bank: str) -> str:
    matches = event.digest_matches_data
    if matches is None or bank not in matches:
        return "n/a"
    return "yes" if matches[bank] else "NO"


def _table(log: EventLog, banks: list[str]) -> str:
    from tabulate import tabulate

    lines = [f"format: {log.format}", f"algorithms: {', '.join(log.algorithms) or '-'}"]
    if log.table is not None:
        lines.append(tabulate(sorted(log.table.items()), headers=["field", "value"]))
        return "\n".join(lines)
    shown = banks[0] if banks else None
    rows = []
    for event in log:
        digest = event.digests.get(shown, b"") if shown else b""
        rows.append([event.number, event.index, event.type_name,
                     digest.hex()[:16] + ("..." if len(digest) > 8 else ""),
                     _match_text(event, shown) if shown else "n/a",
                     _summary(event.decoded)])
    lines.append(tabulate(rows, headers=["#", "index", "type", f"{shown or ''} digest",
                                         "matches data", "data"]))
    replayed = replay_banks(log, banks)
    for bank in banks:
        regs = sorted(replayed[bank].items())
        lines.append("")
        lines.append(tabulate([[i, v.hex()] for i, v in regs], headers=["index", bank]))
    if log.padding:
        lines.append(f"\npadding: {log.padding} bytes after the last event")
    for err in log.errors:
        lines.append(f"\nerror at offset {err.offset:#x} (field {err.field}): {err.message}")
    return "\n".join(lines)


@click.group("log")
def log() -> None:
    """TCG and confidential-computing event logs."""


@log.command("show")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=False))
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table",
              show_default=True, help="Output format; json is a stable contract.")
@click.option("--bank", default=None, help="Only this digest bank (e.g. sha256).")
@click.option("--max-event-size", type=click.IntRange(min=1), default=16 * 1024 * 1024,
              show_default=True, help="Largest event accepted, in bytes.")
def show(file: str, fmt: str, bank: str | None,
         max_event_size: int) -> None:
    """Print the events of FILE, digest checks and the replayed registers."""
    parsed = parse(_read(file), max_event_size=max_event_size)
    banks = _banks(parsed, bank)
    out = sys.stdout
    if fmt == "json":
        for chunk in _json_chunks(parsed, banks, bank):
            out.write(chunk)
    elif fmt == "yaml":
        import yaml

        out.write(yaml.safe_dump(_document(parsed, banks, bank), sort_keys=False))
    else:
        out.write(_table(parsed, banks) + "\n")
    out.flush()
    if parsed.errors:
        # Raised rather than ctx.exit(1): the CLI boundary prints it as one ERROR line
        # and exits 1 (parsing stops at the first framing error, so there is one).
        first = parsed.errors[0]
        raise EventLogError(f"malformed event log {file}: {first.message}",
                            field=first.field, offset=first.offset)
