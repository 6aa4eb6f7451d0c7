"""RMM version profiles: what each RMM version measures.

Spec: spec/rmm-measurement.md §3.3 (flag bits), §5.1 (INIT_RIPAS measured or not),
§9 (per-version table). TF-RMM is the authority: rel0 = TF-RMM <= v0.7.0,
1.1 = TF-RMM v0.8.0 / rmm-spec-v1.x-aligned, 2.0 = TF-RMM v0.9.0 and later.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmtool.errors import UsageError
from rmtool.measure.rmm.algorithms import SHA256, SHA384, SHA512, HashAlgo

FLAG_LPA2 = 1 << 0
FLAG_SVE = 1 << 1
FLAG_PMU = 1 << 2
FLAG_DA = 1 << 3
FLAG_MEC_POLICY_SHIFT = 7
FLAG_MEC_POLICY_MASK = 0b11 << FLAG_MEC_POLICY_SHIFT


@dataclass(frozen=True)
class RmmProfile:
    name: str
    description: str
    measures_init_ripas: bool
    flag_mask: int  # RmiRealmParams flag bits this version copies into the measured image
    hash_algos: tuple[HashAlgo, ...]
    bps_wps_minus_one: bool  # eac5 stored the raw count
    token_profile: str

    def check_algo(self, algo: HashAlgo) -> None:
        if algo not in self.hash_algos:
            allowed = ", ".join(a.name for a in self.hash_algos)
            raise UsageError(
                f"RMM {self.name} does not accept {algo.name} as Realm hash algorithm "
                f"(accepted: {allowed}); choose --rmm-version 2.0 for sha384")


PROFILES: dict[str, RmmProfile] = {
    p.name: p
    for p in (
        RmmProfile("1.0-eac5", "RMM 1.0-eac5 (raw breakpoint/watchpoint counts)", True,
                   FLAG_LPA2 | FLAG_SVE | FLAG_PMU, (SHA256, SHA512), False, ""),
        RmmProfile("1.0-rel0", "RMM 1.0-rel0 (TF-RMM <= v0.7.0; the reference tool)", True,
                   FLAG_LPA2 | FLAG_SVE | FLAG_PMU, (SHA256, SHA512), True,
                   "tag:arm.com,2023:realm#1.0.0"),
        RmmProfile("1.1", "RMM 1.1 (TF-RMM v0.8.0): DA flag measured", True,
                   FLAG_LPA2 | FLAG_SVE | FLAG_PMU | FLAG_DA, (SHA256, SHA512), True,
                   "tag:arm.com,2023:realm#1.0.0"),
        RmmProfile("2.0", "RMM 2.0 (TF-RMM >= v0.9.0): INIT_RIPAS not measured, DA and "
                   "MEC_POLICY measured, SHA-384", False,
                   FLAG_LPA2 | FLAG_SVE | FLAG_PMU | FLAG_DA | FLAG_MEC_POLICY_MASK,
                   (SHA256, SHA512, SHA384), True, "tag:arm.com,2024:realm#2.0.0"),
    )
}
DEFAULT_PROFILE = "1.0-rel0"


def get_profile(name: str) -> RmmProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown RMM version {name!r} (known: {', '.join(PROFILES)})") from None
