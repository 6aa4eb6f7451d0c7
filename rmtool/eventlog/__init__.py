"""TCG event logs: parse, decode, check digests, replay registers, build.

Formats (auto-detected): TCG PC Client crypto-agile logs (PFP 1.06 section 10.2),
legacy SHA-1 logs, confidential-computing event logs (CCEL, UEFI 2.10 section 38.4) and
the 56-byte ACPI CCEL table (ACPI 6.5 section 5.2.34); the CCA RIM log proposal is a
crypto-agile log with CCA-specific event data (docs/measurement-log.md).

Library API::

    log = rmtool.eventlog.parse(data)            # never raises on malformed input
    log.format, log.algorithms, log.errors       # errors: [(offset, field, message)]
    for event in log:                            # lazy
        event.number, event.offset, event.index, event.event_type, event.type_name
        event.digests, event.data, event.decoded, event.digest_matches_data
    log.registers("sha256")                      # {index: bytes}

Writers are in :mod:`rmtool.eventlog.build` (imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rmtool.eventlog._constants import DEFAULT_MAX_EVENT_SIZE, event_type_name
from rmtool.eventlog._parser import (
    FORMAT_ACPI_CCEL,
    FORMAT_CCEL,
    FORMAT_SHA1,
    FORMAT_TCG2,
    FORMAT_UNKNOWN,
    Event,
    EventLog,
    LogError,
    parse,
)
from rmtool.eventlog._replay import replay, replay_all

if TYPE_CHECKING:
    from rmtool.eventlog import build


def __getattr__(name: str) -> Any:
    # ``build`` (construct) is imported on first use: parsing a log does not need it.
    if name == "build":
        import importlib

        return importlib.import_module("rmtool.eventlog.build")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "FORMAT_ACPI_CCEL",
    "FORMAT_CCEL",
    "FORMAT_SHA1",
    "FORMAT_TCG2",
    "FORMAT_UNKNOWN",
    "Event",
    "EventLog",
    "LogError",
    "build",
    "event_type_name",
    "parse",
    "replay",
    "replay_all",
]
