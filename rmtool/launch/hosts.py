"""Host capability profiles that ``rmtool launch`` and the examples use.

The values are those of the reference tool's shipped ``configs/*.conf`` files:
a QEMU ``max`` CPU (QEMU 8.2), the Arm FVP, the limits KVM adds
(no LPA2) and the limits of RMM 1.0-EAC5. Each profile is a mapping of the TOML keys
``rmtool measure -c FILE`` accepts; ``toml_text`` writes it as such a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from rmtool.measure.host import HostCaps

_Profile = Mapping[str, int | bool]

HOST_PROFILES: Mapping[str, _Profile] = MappingProxyType({
    "qemu-max-8.2": MappingProxyType({"ipa_bits": 52, "num_bps": 6, "num_wps": 4,
                                      "pmu_num_ctrs": 6, "sve_vl": 2048, "pmu": True,
                                      "lpa2": True}),
    "fvp": MappingProxyType({"ipa_bits": 52, "num_bps": 16, "num_wps": 16, "pmu_num_ctrs": 8,
                             "sve_vl": 512, "pmu": True, "lpa2": True}),
    "kvm": MappingProxyType({"lpa2": False}),
    "rmm-1.0-eac5": MappingProxyType({"num_bps": 2, "num_wps": 2, "lpa2": False}),
})

_TITLES = {
    "qemu-max-8.2": "QEMU 8.2 'max' CPU as the host of the Realm's VMM",
    "fvp": "Arm FVP (Base RevC AEM) as the host",
    "kvm": "limits added by KVM (no LPA2 for Realms)",
    "rmm-1.0-eac5": "limits of TF-RMM 1.0-EAC5",
}


def toml_text(name: str) -> str:
    """The profile as a host-capability TOML file (``rmtool measure -c``)."""
    lines = [f"# {_TITLES[name]}", "# host capabilities: a later -c file can only lower them"]
    for key, value in HOST_PROFILES[name].items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def caps_from_profiles(names: Iterable[str], caps: HostCaps | None = None) -> HostCaps:
    """Apply the named profiles in order with restrict semantics (as ``-c`` files)."""
    out = caps if caps is not None else HostCaps()
    for name in names:
        out = out.restrict(**dict(HOST_PROFILES[name]))
    return out
