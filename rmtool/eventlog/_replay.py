"""Register replay of a parsed event log (TPM PCR / CC measurement-register semantics).

Follows TPM 2.0 Part 1 section 17 (PCR extend: new = H(old || digest)) with the PC Client
PFP 1.06 rules: EV_NO_ACTION events are not extended (section 10.4.1); PCR 0 starts at
the StartupLocality value when the log carries a "StartupLocality" EV_NO_ACTION event
(section 10.4.5.3) and at 4 when the log starts with an EV_EFI_HCRTM_EVENT (TPM 2.0
Part 1, H-CRTM event sequence); PCRs 17-22 start all-ones (PC Client PTP, DRTM PCRs). CC event logs
(CCEL) use the same extend on registers keyed by the MR index written in the log, all
starting at zero (no locality rules). Registers are keyed by the index as written in the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import rmtool.eventlog._constants as c
from rmtool.errors import EventLogError
from rmtool.eventlog._constants import HashObject


class _Event(Protocol):
    @property
    def data(self) -> bytes: ...


class EventLog(Protocol):
    """What register replay reads of a parsed log (``rmtool.eventlog._parser.EventLog``;
    a protocol here so that the parser can offer ``EventLog.registers`` without an import
    cycle)."""

    @property
    def algorithms(self) -> list[str]: ...
    @property
    def format(self) -> str: ...
    @property
    def banks(self) -> list[str]: ...
    def frames(self, bank: str) -> Iterator[tuple[int, int, int, bytes | None]]: ...
    def event_at(self, number: int, offset: int) -> _Event: ...

_DRTM_PCRS = range(17, 23)


def replay(log: EventLog, bank: str) -> dict[int, bytes]:
    """Final register values of ``bank`` (only registers the log extends or initialises)."""
    return replay_banks(log, [bank])[bank]


def replay_banks(log: EventLog, banks: list[str]) -> dict[str, dict[int, bytes]]:
    """Replay several banks in one pass over the events."""
    plan: list[tuple[str, Callable[[bytes], HashObject], int, dict[int, bytes]]] = []
    for bank in banks:
        hasher = c.HASH_CONSTRUCTORS.get(bank)
        size = c.DIGEST_SIZES.get(bank)
        if hasher is None or size is None:
            raise EventLogError(f"cannot replay bank {bank!r}: unknown hash algorithm",
                                field="bank")
        if bank not in log.algorithms:
            raise EventLogError(
                f"the log has no {bank} bank (banks: {', '.join(log.algorithms)})", field="bank")
        plan.append((bank, hasher, size, {}))
    out: dict[str, dict[int, bytes]] = {bank: regs for bank, _, _, regs in plan}
    tpm = log.format in ("tcg2", "sha1")
    for bank, hasher, size, regs in plan:  # one framing pass per bank (no Event objects)
        _replay_bank(log, bank, hasher, size, regs, tpm)
    return out


def _replay_bank(log: EventLog, bank: str, hasher: Callable[[bytes], HashObject], size: int,
                 regs: dict[int, bytes], tpm: bool) -> None:
    """Replay one bank into ``regs``. Extends are queued per register and run as one
    chain per register (the same values in the same order per register); the queues are
    emptied before any event that may initialise a register and every 64 Ki events."""
    no_action = c.EV_NO_ACTION
    hcrtm = c.EV_EFI_HCRTM_EVENT
    locality_signature = c.STARTUP_LOCALITY_SIGNATURE
    zero, ones = b"\x00" * size, (b"\xff" if tpm else b"\x00") * size
    drtm = _DRTM_PCRS
    queues: dict[int, list[bytes]] = {}

    def flush() -> None:
        for index, queue in queues.items():
            value = regs.get(index)
            if value is None:
                value = ones if index in drtm else zero
            for digest in queue:
                value = hasher(value + digest).digest()
            regs[index] = value
        queues.clear()

    for number, (offset, index, etype, digest) in enumerate(log.frames(bank)):
        if etype == no_action:
            if tpm and index == 0:
                data = log.event_at(number, offset).data
                if data[:16] == locality_signature and len(data) >= 17:
                    flush()
                    if 0 not in regs:
                        regs[0] = b"\x00" * (size - 1) + data[16:17]
            continue
        if tpm and etype == hcrtm and index == 0:
            # TPM 2.0 Part 1 "H-CRTM event sequence": PCR 0 restarts at locality 4.
            flush()
            if 0 not in regs:
                regs[0] = b"\x00" * (size - 1) + b"\x04"
        if digest is None:
            continue
        queue = queues.get(index)
        if queue is None:
            queue = queues[index] = []
        queue.append(digest)
        if not number & 0xFFFF:
            flush()
    flush()


def replay_all(log: EventLog) -> dict[str, dict[int, bytes]]:
    """Replay every bank the log declares and this module can hash."""
    return replay_banks(log, log.banks)
