"""RMM operations: the contract between VMM front-ends, log replay and the Realm model.

A front-end (or a log replay) describes how a Realm is built as a list of these
operations; :class:`rmtool.measure.rmm.realm.Realm` executes them. Names follow the
RMI/RSI commands of the RMM specification (DEN0137): RMI_REALM_CREATE,
RMI_RTT_INIT_RIPAS, RMI_DATA_CREATE (measured / unmeasured), RMI_REC_CREATE,
RSI_MEASUREMENT_EXTEND. ``origin`` says which VMM decision or log event produced the
operation, so a trace can explain a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmtool.measure.images import Image
from rmtool.measure.rmm.algorithms import HashAlgo


@dataclass(frozen=True)
class RealmParams:
    """Host-chosen Realm parameters (RmiRealmParams), counts in natural units."""

    hash_algo: HashAlgo
    s2sz: int
    num_bps: int = 2  # breakpoints (count; stored minus one from rel0)
    num_wps: int = 2  # watchpoints
    sve_vl: int = 0  # SVE vector length in bits; 0 = SVE off
    pmu: bool = False
    pmu_num_ctrs: int = 0
    lpa2: bool = False
    da: bool = False  # RMM 1.1+
    mec_policy: int = 0  # RMM 2.0
    rpv: bytes = b"\0" * 64  # personalization value: token only, never measured


@dataclass(frozen=True)
class RealmCreate:
    params: RealmParams
    origin: str = "REALM_CREATE"


@dataclass(frozen=True)
class InitRipas:
    base: int
    top: int
    origin: str = "INIT_RIPAS"


@dataclass(frozen=True)
class DataCreate:
    """Load ``image`` at ``ipa`` (may be unaligned: the first granule is zero filled).

    ``measured=False`` is RMI_DATA_CREATE with RMI_NO_MEASURE_CONTENT over ``size``
    bytes (content not hashed, but IPA and flags still extend the RIM).
    """

    ipa: int
    image: Image | None = None
    measured: bool = True
    size: int = 0
    origin: str = "DATA_CREATE"

    @property
    def length(self) -> int:
        return self.image.size if self.image is not None else self.size


@dataclass(frozen=True)
class RecCreate:
    pc: int
    gprs: tuple[int, ...] = field(default=(0,) * 8)
    flags: int = 1  # RMI_RUNNABLE
    origin: str = "REC_CREATE"


@dataclass(frozen=True)
class RemExtend:
    """RSI_MEASUREMENT_EXTEND of REM ``rem`` (0..3, RSI index rem+1) with ``data``."""

    rem: int
    data: bytes
    origin: str = "MEASUREMENT_EXTEND"


Operation = RealmCreate | InitRipas | DataCreate | RecCreate | RemExtend
