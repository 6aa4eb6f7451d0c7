"""Host capabilities and their "restrict" semantics (the reference tool's
``RealmParams::restrict``, cca-realm-measurements ``src/realm_params.rs``).

Capabilities come, in order, from ``-c FILE`` TOML overlays (each may only lower a
value already known), from global options (which set and validate), and from the VMM
arguments (which restrict again). Missing values are reported when the Realm
parameters are finalised, in the reference tool's order and wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from rmtool.errors import ComputeError, ConfigError, os_error_text
from rmtool.measure.rmm.algorithms import HashAlgo
from rmtool.measure.rmm.ops import RealmParams

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


_FIELD_TYPES = {"ipa_bits": "u8", "num_bps": "u8", "num_wps": "u8", "sve_vl": "u16",
                "pmu_num_ctrs": "u8", "pmu": "a boolean", "lpa2": "a boolean",
                "hash_algo": "enum RmiHashAlgorithm"}
_CHECKS = (("ipa_bits", None), ("num_bps", check_bps), ("num_wps", check_wps),
           ("pmu_num_ctrs", check_pmu_ctrs), ("sve_vl", check_sve_vl), ("pmu", None),
           ("lpa2", None))


def _position(text: str, key: str, value: bool) -> tuple[int, int]:
    """1-based line and column of ``key`` (or of its value) in a flat TOML file."""
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(key) and stripped[len(key):].lstrip().startswith("="):
            col = len(line) - len(stripped)
            if value:
                rest = stripped[len(key):].lstrip()[1:]
                col = len(line) - len(rest.lstrip())
            return n, col + 1
    return 1, 1


def _serde_unexpected(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "sequence"
    return "value"


def _field_error(key: str, value: Any) -> str | None:
    """serde's message for a value of the wrong type or range, None if it fits."""
    kind = _FIELD_TYPES[key]
    if kind in ("u8", "u16"):
        top = 0xFF if kind == "u8" else 0xFFFF
        if isinstance(value, int) and not isinstance(value, bool):
            return None if 0 <= value <= top else \
                f"invalid value: integer `{value}`, expected {kind}"
        return f"invalid type: {_serde_unexpected(value)}, expected {kind}"
    if kind == "a boolean":
        return None if isinstance(value, bool) else \
            f"invalid type: {_serde_unexpected(value)}, expected a boolean"
    if isinstance(value, str):
        return None if value in _HASH_VALUES else \
            f"unknown variant `{value}`, expected `RmiHashSha256` or `RmiHashSha512`"
    return f"invalid type: {_serde_unexpected(value)}, expected {kind}"


def load_config(path: str, caps: HostCaps) -> HostCaps:
    """Apply one TOML overlay file (reference ``RealmConfig::load_config``): serde
    decoding with unknown keys rejected, then ``RealmParams::restrict`` which checks
    each value in field order (ipa_bits, num_bps, num_wps, pmu_num_ctrs, sve_vl, pmu,
    lpa2). ``hash_algo`` is decoded but ignored. Messages as the reference's."""
    from rmtool._files import LIMITS
    from rmtool.measure.images import read_input

    try:  # a regular file of at most 1 MiB: never a device, a FIFO or a huge file
        raw = read_input(path, LIMITS["config"], "config")
    except OSError as exc:
        raise ConfigError(f"file {path} error: {os_error_text(path, exc).split(': ', 2)[-1]}"
                          ) from exc
    import tomllib  # only when a -c file is given: keeps it off plain runs' start-up

    prefix = f"invalid VM configuration: cannot parse {path}: TOML parse error at"
    try:
        text = raw.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"file {path} error: stream did not contain valid UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        raise ConfigError(f"{prefix} line {line}, column {col}\n{exc}") from exc
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in _FIELD_TYPES:
            line, col = _position(text, key, value=False)
            raise ConfigError(
                f"{prefix} line {line}, column {col}\nunknown field `{key}`, expected one "
                f"of {', '.join(f'`{k}`' for k in _FIELD_TYPES)}")
        problem = _field_error(key, value)
        if problem is not None:
            line, col = _position(text, key, value=True)
            raise ConfigError(f"{prefix} line {line}, column {col}\n{problem}")
        values[key] = value
    for key, check in _CHECKS:
        if key in values and check is not None:
            check(values[key])
    values.pop("hash_algo", None)
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
