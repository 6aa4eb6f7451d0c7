"""Event index → Realm measurement register (RIM, REM0-3).

Spec: docs/measurement-log.md section 3 (the PCR map of the reference tool,
cca-realm-measurements ``src/event_log.rs``, reused from TDX, and EDK2's Arm CCA CC
measurement-register indices). EDK2 defines the CCA mapping in
``MdePkg/Include/Protocol/CcMeasurement.h`` (``ARMCCA_MR_INDEX_0_RIM`` = 0,
``ARMCCA_MR_INDEX_1_REM0`` = 1, ``ARMCCA_MR_INDEX_2_REM1`` = 2, ``ARMCCA_MR_INDEX_3_REM2``
= 3; TPM PCR 0 → MR 0, PCR 1 and 7 → MR 1, PCR 2-6 → MR 2, PCR 8-15 → MR 3): a CC event
log (CCEL) written by EDK2 carries the *MR index* in its event headers, which is also
the RSI_MEASUREMENT_EXTEND index (1..4 = REM0..3). The reference tool reads every log with
the PCR map, which reads MR 3 and MR 4 as REM1.

Maps:

* ``pcr``: 0 → RIM; 1, 7 → REM0; 2-6 → REM1; 8-15 → REM2; 16 and above → REM3.
* ``mr``: 0 → RIM; 1-4 → REM0-3; anything above is not a register.
* ``auto``: ``pcr`` when the log can only be PCR-numbered — an extending event with an
  index above 4 (MR indices stop at 4), or a firmware event (not one of the VMM's RIM
  events) on index 0 (EDK2 never extends MR 0 / the RIM); otherwise ``mr``, the
  convention of EDK2's CCEL for Arm CCA and of the VMM log (index 0 only; rmtool's
  emitter writes REM events with their RSI index).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAPS = ("pcr", "mr")
RIM = -1  # register number of the RIM; 0..3 are REM0..3
MAX_MR_INDEX = 4


def register_pcr(index: int) -> int:
    if index == 0:
        return RIM
    if index in (1, 7):
        return 0
    if 2 <= index <= 6:
        return 1
    if 8 <= index <= 15:
        return 2
    return 3


def register_mr(index: int) -> int | None:
    if index == 0:
        return RIM
    if 1 <= index <= MAX_MR_INDEX:
        return index - 1
    return None


def register_for(index_map: str, index: int) -> int | None:
    """RIM (-1), REM 0..3, or None when the index names no register under this map."""
    return register_pcr(index) if index_map == "pcr" else register_mr(index)


def register_name(register: int | None) -> str:
    if register is None:
        return "none"
    return "RIM" if register == RIM else f"REM{register}"


@dataclass(frozen=True)
class IndexMapChoice:
    name: str  # "pcr" or "mr"
    reason: str


def choose(requested: str, extending: Iterable[tuple[int, bool]], log_format: str
           ) -> IndexMapChoice:
    """Pick the map. ``extending``: (index, is_vmm_rim_event) of every non-EV_NO_ACTION
    event; ``log_format`` is the parser's format name (tcg2 / ccel)."""
    if requested in MAPS:
        return IndexMapChoice(requested, "requested")
    high = zero_fw = None
    for index, vmm_event in extending:
        if index > MAX_MR_INDEX and high is None:
            high = index
        if index == 0 and not vmm_event and zero_fw is None:
            zero_fw = index
    if high is not None:
        return IndexMapChoice("pcr", f"auto: index {high} > {MAX_MR_INDEX} can only be a "
                                     "TPM PCR number")
    if zero_fw is not None:
        return IndexMapChoice("pcr", "auto: a firmware event extends index 0, which EDK2 "
                                     "never does with MR indices")
    kind = "CC event log" if log_format == "ccel" else "log"
    return IndexMapChoice("mr", f"auto: {kind} uses indices 0-{MAX_MR_INDEX} only "
                                "(EDK2 ArmCca MR index convention, CcMeasurement.h)")
