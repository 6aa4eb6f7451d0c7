"""RMM version profiles: what each RMM version (and the TF-RMM releases that implement it)
accepts and measures, as data.

Spec: docs/rmm-profiles.md (hash algorithms, flag bits, validation, INIT_RIPAS measured or
not, token profile, the per-version table). TF-RMM is the authority (public repository
TF-RMM/tf-rmm): ``runtime/rmi/realm.c`` (``validate_realm_params``),
``lib/measurement/src/rim.c`` up to v0.6.0 and ``app/attestation/rmm_stub/src/rim.c`` from
v0.7.0 (``measurement_realm_params_measure``), ``runtime/rmi/rtt.c``
(``smc_rtt_init_ripas``), ``lib/smc/include/smc-rmi.h`` (flag bits, ``struct
rmi_realm_params``). docs/rmm-profiles.md maps every TF-RMM tag to a profile.

What TF-RMM does with RmiRealmParams, in every version examined:

* the whole 64-bit flags word is copied into the measured image: bits the version does
  not define are neither refused nor dropped (no reserved-bit check exists);
* ``s2sz``, ``sve_vl``, ``num_bps``, ``num_wps``, ``pmu_num_ctrs`` are 32-bit members of
  8-byte slots, copied whatever the SVE / PMU flags say; ``hash_algo`` is one byte;
* the realm is refused (RMI_ERROR_INPUT) for a hash algorithm the version does not
  list, and from v0.9.0 for a MEC_POLICY value other than 0 (shared) or 1 (private);
* RMI_RTT_INIT_RIPAS (``smc_rtt_init_ripas``, identical in every tag from
  rmm-spec-v1.0-eac5 to main) answers RMI_ERROR_INPUT for ``top <= base``, for a ``base``
  or ``top`` that is not granule aligned or not below the IPA size ``2^s2sz``
  (``validate_map_addr``), and for a range outside the protected half of the IPA space
  (``addr_in_par(base)``, ``addr_in_par(top - GRANULE_SIZE)``: ``< 2^(s2sz - 1)``, with
  ``realm_par_size`` = ``realm_ipa_size / 2``): :meth:`RmmProfile.refuse_init_ripas`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rmtool.errors import MeasurementError, UsageError
from rmtool.measure.rmm._layouts import GRANULE_SIZE
from rmtool.measure.rmm.algorithms import ALGORITHMS, SHA256, SHA384, SHA512, HashAlgo


class RealmCreateFields(Protocol):
    """The RmiRealmParams fields a refusal depends on (``rmtool.measure.rmm.ops.
    RmiRealmFields``; a protocol here, as profiles sit below ops)."""

    @property
    def flags(self) -> int: ...
    @property
    def hash_algo(self) -> int: ...

FLAG_LPA2 = 1 << 0
FLAG_SVE = 1 << 1
FLAG_PMU = 1 << 2
FLAG_DA = 1 << 3
FLAG_MEC_POLICY_SHIFT = 7
FLAG_MEC_POLICY_MASK = 0b11 << FLAG_MEC_POLICY_SHIFT

U32_MASK = (1 << 32) - 1  # TF-RMM's struct rmi_realm_params holds these fields as unsigned int
U64_LIMIT = 1 << 64

TOKEN_PROFILE_1 = "tag:arm.com,2023:realm#1.0.0"
TOKEN_PROFILE_2 = "tag:arm.com,2024:realm#2.0.0"


class RmiRefused(MeasurementError):
    """An RMI command would fail on the RMM version of the profile (the message names the
    command and TF-RMM's reason): the operation has no measurement, so neither has the
    Realm. A MeasurementError of the Realm model (exit 2)."""


class RealmRefused(RmiRefused, UsageError):
    """RMI_REALM_CREATE would fail (RMI_ERROR_INPUT) on the RMM version of the profile:
    there is no Realm and no RIM. A MeasurementError of the Realm model; also a
    UsageError, since on the command line it means an option the chosen
    ``--rmm-version`` does not accept (exit 2 either way)."""


@dataclass(frozen=True)
class RmmProfile:
    """One RMM version as TF-RMM implements it.

    ``flag_bits`` names the RmiRealmParams flag bits the version defines (documentation
    and traces: TF-RMM measures the whole flags word, defined or not). ``flag_mask`` is
    their union. ``mec_policies`` is the MEC_POLICY values RMI_REALM_CREATE accepts, or
    ``None`` where the version does not validate bits 7..8 (copied into the image
    like any other undefined bit). ``bps_wps_minus_one``: the host stores breakpoint /
    watchpoint counts minus one (rel0 and later; eac5 stored the count). ``tf_rmm``
    lists the TF-RMM tags (or ``main``) the profile was checked against.
    """

    name: str
    description: str
    measures_init_ripas: bool
    flag_mask: int
    hash_algos: tuple[HashAlgo, ...]
    bps_wps_minus_one: bool
    token_profile: str
    flag_bits: tuple[tuple[str, int], ...] = ()
    mec_policies: tuple[int, ...] | None = None
    tf_rmm: tuple[str, ...] = ()

    @property
    def token_profiles(self) -> tuple[str, ...]:
        """Realm token profile claim (265) values this version emits; eac5 had none."""
        return (self.token_profile,) if self.token_profile else ()

    def check_algo(self, algo: HashAlgo) -> None:
        """VMM front-ends: the hash algorithm chosen on the command line (UsageError)."""
        if algo not in self.hash_algos:
            allowed = ", ".join(a.name for a in self.hash_algos)
            where = [p.name for p in PROFILES.values() if algo in p.hash_algos]
            hint = f"; choose --rmm-version {where[-1]} for {algo.name}" if where else ""
            raise UsageError(
                f"RMM {self.name} does not accept {algo.name} as Realm hash algorithm "
                f"(accepted: {allowed}){hint}")

    def _tags(self) -> str:
        return "/".join(self.tf_rmm) if self.tf_rmm else self.name

    def refuse_realm(self, fields: RealmCreateFields) -> str | None:
        """The reason TF-RMM's RMI_REALM_CREATE of this version refuses ``fields`` on
        every platform, or None. Not modelled: the limits a platform's feature registers
        set (IPA width, breakpoints, SVE VL, PMU counters, LPA2 / DA support), which VMM
        front-ends must pass through to reproduce the reference tool."""
        where = "RMI_REALM_CREATE"
        algos = {a.rmi: a for a in self.hash_algos}
        if fields.hash_algo not in algos:
            allowed = ", ".join(f"{a.rmi} ({a.name})" for a in self.hash_algos)
            known = {a.rmi: a.name for a in ALGORITHMS.values()}.get(fields.hash_algo)
            what = f"{fields.hash_algo} ({known})" if known else f"{fields.hash_algo}"
            return (f"{where}: hash_algo encoding {what} is not accepted by RMM "
                    f"{self.name} (accepted: {allowed}; TF-RMM {self._tags()} refuses the "
                    "realm)")
        if self.mec_policies is not None:
            mec = (fields.flags & FLAG_MEC_POLICY_MASK) >> FLAG_MEC_POLICY_SHIFT
            if mec not in self.mec_policies:
                return (f"{where}: flags MEC_POLICY (bits 7-8) value {mec} is not defined by "
                        f"RMM {self.name} (accepted: {', '.join(map(str, self.mec_policies))}; "
                        f"TF-RMM {self._tags()} refuses the realm)")
        return None


    def refuse_init_ripas(self, base: int, top: int, s2sz: int) -> str | None:
        """The reason TF-RMM's RMI_RTT_INIT_RIPAS of this version refuses ``[base, top)``
        in a Realm of ``s2sz`` IPA bits (RMI_ERROR_INPUT), or None; checked in TF-RMM's
        order (``smc_rtt_init_ripas``: ``top <= base``, ``validate_map_addr`` of base and
        top, ``addr_in_par`` of base and ``top - GRANULE_SIZE``). The same for every
        profile; a profile that does not measure INIT_RIPAS still refuses the call."""
        ipa_size = 1 << s2sz
        par_size = ipa_size >> 1
        why = None
        if top <= base:
            why = "top <= base"
        else:
            for name, addr in (("base", base), ("top", top)):
                if addr % GRANULE_SIZE:
                    why = f"{name} is not aligned to a {GRANULE_SIZE}-byte granule"
                elif addr >= ipa_size:
                    why = f"{name} is not below the {s2sz}-bit IPA size {ipa_size:#x}"
                if why:
                    break
        if why is None and (base >= par_size or top - GRANULE_SIZE >= par_size):
            why = (f"the range leaves the protected IPA space [0, {par_size:#x}) of a "
                   f"{s2sz}-bit Realm (addr_in_par)")
        if why is None:
            return None
        return (f"RMI_RTT_INIT_RIPAS [{base:#x}, {top:#x}): {why}; TF-RMM {self._tags()} "
                "answers RMI_ERROR_INPUT")


_REL0_BITS = (("LPA2", FLAG_LPA2), ("SVE", FLAG_SVE), ("PMU", FLAG_PMU))
_V11_BITS = _REL0_BITS + (("DA", FLAG_DA),)
_V20_BITS = _V11_BITS + (("MEC_POLICY", FLAG_MEC_POLICY_MASK),)


def _mask(bits: tuple[tuple[str, int], ...]) -> int:
    out = 0
    for _, m in bits:
        out |= m
    return out


PROFILES: dict[str, RmmProfile] = {
    p.name: p
    for p in (
        RmmProfile("1.0-eac5", "RMM 1.0-eac5 (TF-RMM rmm-spec-v1.0-eac5, v0.4.0, v0.5.0): "
                   "raw breakpoint/watchpoint counts", True, _mask(_REL0_BITS),
                   (SHA256, SHA512), False, "", _REL0_BITS, None,
                   ("rmm-spec-v1.0-eac5", "tf-rmm-v0.4.0", "tf-rmm-v0.5.0")),
        RmmProfile("1.0-rel0", "RMM 1.0-rel0 (TF-RMM rmm-spec-v1.0-rel0, v0.6.0, v0.7.0; "
                   "the reference tool)", True, _mask(_REL0_BITS), (SHA256, SHA512), True,
                   TOKEN_PROFILE_1, _REL0_BITS, None,
                   ("rmm-spec-v1.0-rel0", "tf-rmm-v0.6.0", "tf-rmm-v0.7.0")),
        RmmProfile("1.1", "RMM 1.1 (TF-RMM v0.8.0, rmm-spec-v1.x-aligned): DA flag defined",
                   True, _mask(_V11_BITS), (SHA256, SHA512), True, TOKEN_PROFILE_1,
                   _V11_BITS, None, ("tf-rmm-v0.8.0", "rmm-spec-v1.x-aligned")),
        RmmProfile("2.0", "RMM 2.0 (TF-RMM main from commit 787b3558): INIT_RIPAS not "
                   "measured, MEC_POLICY 0/1, SHA-384, token profile realm#2.0.0", False,
                   _mask(_V20_BITS), (SHA256, SHA512, SHA384), True, TOKEN_PROFILE_2,
                   _V20_BITS, (0, 1), ("main",)),
        RmmProfile("2.0-v0.9.0", "RMM 2.0 as released in TF-RMM v0.9.0: INIT_RIPAS not "
                   "measured, MEC_POLICY 0/1, no SHA-384, token profile realm#1.0.0",
                   False, _mask(_V20_BITS), (SHA256, SHA512), True, TOKEN_PROFILE_1,
                   _V20_BITS, (0, 1), ("tf-rmm-v0.9.0",)),
    )
}
DEFAULT_PROFILE = "1.0-rel0"

# TF-RMM tag (or "main") -> profile; docs/rmm-profiles.md explains each row
TF_RMM_PROFILES: dict[str, str] = {tag: p.name for p in PROFILES.values() for tag in p.tf_rmm}


def algorithm_names(profile: RmmProfile | None = None) -> tuple[str, ...]:
    """Names of the Realm hash algorithms a VMM command line may select under ``profile``
    (the profile's ``hash_algos``, views of ``rmtool._hashalgo``); None: the default
    profile's, those the reference tool accepts (sha256, sha512)."""
    return tuple(a.name for a in (profile or PROFILES[DEFAULT_PROFILE]).hash_algos)


def get_profile(name: str) -> RmmProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown RMM version {name!r} (known: {', '.join(PROFILES)})") from None


def profile_for_tf_rmm(version: str) -> RmmProfile:
    """The profile of a TF-RMM tag (``tf-rmm-v0.7.0``, ``v0.7.0``, ``rmm-spec-v1.0-rel0``)
    or ``main`` (current main, after 787b3558)."""
    key = version.strip()
    if key.startswith("v") and f"tf-rmm-{key}" in TF_RMM_PROFILES:
        key = f"tf-rmm-{key}"
    try:
        return PROFILES[TF_RMM_PROFILES[key]]
    except KeyError:
        raise UsageError(f"unknown TF-RMM version {version!r} (known: "
                         f"{', '.join(TF_RMM_PROFILES)})") from None
