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

from rmtool.errors import MeasurementError
from rmtool.measure.images import Image
from rmtool.measure.rmm.algorithms import ALGORITHMS, HashAlgo
from rmtool.measure.rmm.profiles import (
    FLAG_DA,
    FLAG_LPA2,
    FLAG_MEC_POLICY_MASK,
    FLAG_MEC_POLICY_SHIFT,
    FLAG_PMU,
    FLAG_SVE,
    U64_LIMIT,
    RealmRefused,
)


@dataclass(frozen=True)
class RmiRealmFields:
    """The measured RmiRealmParams fields exactly as a host writes them (RMI encodings):
    the whole flags word, ``sve_vl`` as VQ, ``num_bps`` / ``num_wps`` as the field value
    (count minus one from rel0), ``hash_algo`` as the RMI encoding (0, 1, 2). TF-RMM
    measures the low 32 bits of s2sz..pmu_num_ctrs (its struct members are 32-bit)."""

    flags: int
    s2sz: int
    sve_vl: int = 0
    num_bps: int = 1
    num_wps: int = 1
    pmu_num_ctrs: int = 0
    hash_algo: int = 0

    def check_range(self) -> None:
        """Each field must fit the 64-bit slot (the hash_algo byte: 0..255) it is
        written to; anything else cannot be an RmiRealmParams."""
        for name in ("flags", "s2sz", "sve_vl", "num_bps", "num_wps", "pmu_num_ctrs"):
            value = getattr(self, name)
            if not 0 <= value < U64_LIMIT:
                raise MeasurementError(f"RmiRealmParams.{name} {value} does not fit its "
                                       "64-bit field", field=name)
        if not 0 <= self.hash_algo <= 0xFF:
            raise MeasurementError(f"RmiRealmParams.hash_algo {self.hash_algo} does not fit "
                                   "its byte", field="hash_algo")


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
    # SVE flag; None = set when sve_vl is non-zero. False with a non-zero sve_vl: the host
    # wrote a vector length with the flag clear (TF-RMM measures that sve_vl field)
    sve: bool | None = None
    # the host's RmiRealmParams fields exactly as written (RMI encodings): when set, these
    # are measured and validated, and the fields above only describe them (from_rmi)
    rmi: RmiRealmFields | None = None

    @classmethod
    def from_rmi(cls, fields: RmiRealmFields, *, rpv: bytes = b"\0" * 64,
                 bps_wps_minus_one: bool = True) -> RealmParams:
        """Parameters a host wrote into RmiRealmParams, kept raw for measurement (an
        sve_vl or pmu_num_ctrs given with its flag clear, undefined flag bits, 32-bit
        fields) with natural units filled in for traces and logs.
        ``bps_wps_minus_one=False`` reads counts as 1.0-eac5 hosts wrote them."""
        fields.check_range()
        algo = next((a for a in ALGORITHMS.values() if a.rmi == fields.hash_algo), None)
        if algo is None:
            raise RealmRefused(f"RMI_REALM_CREATE: hash_algo encoding {fields.hash_algo} is "
                               "not defined by any RMM version (TF-RMM refuses the realm)",
                               field="hash_algo")
        extra = 1 if bps_wps_minus_one else 0
        flags = fields.flags
        return cls(hash_algo=algo, s2sz=fields.s2sz, num_bps=fields.num_bps + extra,
                   num_wps=fields.num_wps + extra,
                   sve_vl=(fields.sve_vl + 1) * 128 if flags & FLAG_SVE or fields.sve_vl else 0,
                   sve=bool(flags & FLAG_SVE),
                   pmu=bool(flags & FLAG_PMU), pmu_num_ctrs=fields.pmu_num_ctrs,
                   lpa2=bool(flags & FLAG_LPA2), da=bool(flags & FLAG_DA),
                   mec_policy=(flags & FLAG_MEC_POLICY_MASK) >> FLAG_MEC_POLICY_SHIFT,
                   rpv=rpv, rmi=fields)


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
