"""Host capabilities and their "restrict" semantics (spec/anchor-cli.md §2).

Capabilities come, in order, from ``-c FILE`` TOML overlays (each may only lower a
value already known), from global options (which set and validate), and from the VMM
arguments (which restrict again). Missing values are reported when the Realm
parameters are finalised, in the reference tool's order and wording.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from typing import Any

from rmtool.errors import ComputeError, ConfigError, os_error_text
from rmtool.measure.rmm.algorithms import HashAlgo
from rmtool.measure.rmm.ops import RealmParams

_INT_FIELDS = ("ipa_bits", "num_bps", "num_wps", "sve_vl", "pmu_num_ctrs")
_BOOL_FIELDS = ("pmu", "lpa2")
_HASH_VALUES = ("RmiHashSha256", "RmiHashSha512")


def check_bps(v: int) -> int:
    if not 2 <= v <= 64:
        raise ConfigError(f"invalid parameter breakpoints '{v}'")
    return v


def check_wps(v: int) -> int:
    if not 2 <= v <= 64:
        raise ConfigError(f"invalid parameter watchpoints '{v}'")
    return v


def check_pmu_ctrs(v: int) -> int:
    if not 0 <= v <= 31:
        raise ConfigError(f"invalid parameter PMU counters '{v}'")
    return v


def check_sve_vl(v: int) -> int:
    if v != 0 and not (128 <= v <= 2048 and v % 128 == 0):
        raise ConfigError(f"invalid parameter SVE vector length '{v}'")
    return v


@dataclass(frozen=True)
class HostCaps:
    """Known host / RMM capabilities; ``None`` = unknown."""

    ipa_bits: int | None = None
    num_bps: int | None = None
    num_wps: int | None = None
    sve_vl: int | None = None
    pmu_num_ctrs: int | None = None
    pmu: bool | None = None
    lpa2: bool | None = None

    def restrict(self, **values: Any) -> HostCaps:
        """Take each value if the field is unknown or the value is lower (false < true)."""
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            cur = getattr(self, name)
            if cur is None or value <= cur:
                changes[name] = value
        return replace(self, **changes) if changes else self

    def set(self, **values: Any) -> HostCaps:
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def load_config(path: str, caps: HostCaps) -> HostCaps:
    """Apply one TOML overlay file with restrict semantics (unknown keys rejected)."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"file {path} error: {os_error_text(path, exc).split(': ', 2)[-1]}"
                          ) from exc
    try:
        doc = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid VM configuration: cannot parse {path}: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 32:
                raise ConfigError(f"invalid VM configuration: cannot parse {path}: "
                                  f"invalid value for {key}: {value!r}")
            values[key] = value
        elif key in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise ConfigError(f"invalid VM configuration: cannot parse {path}: "
                                  f"{key} must be true or false")
            values[key] = value
        elif key == "hash_algo":
            if value not in _HASH_VALUES:
                raise ConfigError(f"invalid VM configuration: cannot parse {path}: "
                                  f"unknown variant `{value}`")
        else:
            raise ConfigError(f"invalid VM configuration: cannot parse {path}: "
                              f"unknown field `{key}`")
    return caps.restrict(**values)


def finalize(caps: HostCaps, *, hash_algo: HashAlgo | None, s2sz: int | None = None,
             rpv: bytes = b"\0" * 64) -> RealmParams:
    """Realm parameters from capabilities; missing ones fail in the reference order."""
    if hash_algo is None:
        raise ComputeError("hash algorithm is not known")
    ipa = caps.ipa_bits if s2sz is None else s2sz
    if ipa is None:
        raise ComputeError("ipa_bits is not known")
    if caps.num_wps is None:
        raise ComputeError("num_wps is not known")
    if caps.num_bps is None:
        raise ComputeError("num_bps is not known")
    pmu = bool(caps.pmu)
    if pmu and caps.pmu_num_ctrs is None:
        raise ComputeError("pmu_num_ctrs is not known")
    return RealmParams(
        hash_algo=hash_algo, s2sz=ipa, num_bps=caps.num_bps, num_wps=caps.num_wps,
        sve_vl=caps.sve_vl or 0, pmu=pmu, pmu_num_ctrs=(caps.pmu_num_ctrs or 0) if pmu else 0,
        lpa2=bool(caps.lpa2), rpv=rpv)
