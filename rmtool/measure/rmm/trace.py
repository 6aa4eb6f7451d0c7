"""The Realm model's trace as data: one structured record per executed RMM operation.

House plan (docs/architecture.md, "the trace is data, not text"): each record holds the
operation kind, its typed inputs (the RmiRealmParams fields, the INIT_RIPAS range, the
DATA_CREATE IPA/size/image, the REC entry point and registers, the REM index and data),
its origin (a VMM decision, an image kind, or the log event it came from), the number of
descriptors hashed (TF-RMM lib/measurement/src/rim.c) and the RIM / REMs after it. Tables,
``measure --format json --trace``, replay and ``compare`` render or diff these records;
the ``detail`` text is rendered from the inputs and never parsed back.

One JSON codec: :meth:`TraceRecord.to_json` / :meth:`TraceRecord.from_json`. Reading is
strict (a hostile or stale file): an unknown key, a missing key or a value of the wrong
type is a :class:`TraceFormatError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rmtool.errors import ParseError

#: Operation kinds as the trace (and ``measure --format json --trace``) names them.
REALM_CREATE = "REALM_CREATE"
INIT_RIPAS = "INIT_RIPAS"
DATA_CREATE = "DATA_CREATE"
DATA_CREATE_UNMEASURED = "DATA_CREATE_UNMEASURED"
REC_CREATE = "REC_CREATE"
MEASUREMENT_EXTEND = "MEASUREMENT_EXTEND"
KINDS = (REALM_CREATE, INIT_RIPAS, DATA_CREATE, DATA_CREATE_UNMEASURED, REC_CREATE,
         MEASUREMENT_EXTEND)
RIM_KINDS = frozenset(KINDS[:-1])

OriginKind = Literal["vmm", "image", "event", "assumed"]
_ORIGIN_KINDS: tuple[str, ...] = ("vmm", "image", "event", "assumed")
_MAX_TEXT = 4096  # image names are paths
_MAX_HEX = 256


class TraceFormatError(ParseError):
    """A trace record in JSON that this codec does not accept (exit 2)."""


# ---------------------------------------------------------------- origin


@dataclass(frozen=True, slots=True)
class Origin:
    """What produced an operation: a VMM decision (``"qemu parameters"``, ``"boot
    vCPU"``), an image kind (``"KERNEL"``), a log event (number and what it loads), or
    an operation replay assumed (a log without REALM_CREATE)."""

    kind: OriginKind
    label: str
    event: int | None = None  # the log event number (kind "event")

    def __str__(self) -> str:
        if self.kind == "event":
            return f"event {self.event} ({self.label})"
        return self.label

    @classmethod
    def from_event(cls, number: int, label: str) -> Origin:
        return cls("event", label, number)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "event": self.event}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Origin:
        d = _object(doc, where, ("kind", "label", "event"))
        kind = _text(d, "kind", where)
        if kind not in _ORIGIN_KINDS:
            raise TraceFormatError(f"{where}.kind: {kind[:40]!r} is not one of "
                                   f"{', '.join(_ORIGIN_KINDS)}", field=f"{where}.kind")
        event = _opt_int(d, "event", where)
        if (event is None) != (kind != "event"):
            raise TraceFormatError(f"{where}.event: an event number goes with kind 'event' "
                                   "only", field=f"{where}.event")
        return cls(kind, _text(d, "label", where), event)  # type: ignore[arg-type]


# ---------------------------------------------------------------- typed inputs


@dataclass(frozen=True, slots=True)
class RealmInputs:
    """REALM_CREATE: the parameters in natural units, the measured flags word, and the
    raw RMI fields where the host wrote them itself (replay of a log)."""

    s2sz: int
    num_bps: int
    num_wps: int
    sve_vl: int
    pmu: bool
    pmu_num_ctrs: int
    lpa2: bool
    hash_algo: str
    flags: int
    undefined_flags: int  # flag bits the RMM version does not define (measured anyway)
    rmm_version: str
    raw_sve_vl: int | None = None  # RmiRealmParams.sve_vl (VQ) as the host wrote it
    raw_pmu_num_ctrs: int | None = None

    def summary(self, *, full: bool = True) -> dict[str, str]:
        """The parameters as ``detail`` words them, by name (``full``: with the flags
        word and the raw fields where the detail names them)."""
        out = {"s2sz": str(self.s2sz), "bps": str(self.num_bps), "wps": str(self.num_wps),
               "sve_vl": str(self.sve_vl),
               "pmu": f"{'on' if self.pmu else 'off'}/{self.pmu_num_ctrs}",
               "lpa2": "on" if self.lpa2 else "off", "algo": self.hash_algo}
        if full and self.undefined_flags:
            out["flags"] = f"{self.flags:#x}"
        if full and self.raw_sve_vl is not None:
            out["sve_vl"] = str(self.raw_sve_vl)
            out["pmu_num_ctrs"] = str(self.raw_pmu_num_ctrs)
        return out

    def render(self) -> str:
        text = (f"s2sz={self.s2sz} bps={self.num_bps} wps={self.num_wps} sve_vl={self.sve_vl} "
                f"pmu={'on' if self.pmu else 'off'}/{self.pmu_num_ctrs} "
                f"lpa2={'on' if self.lpa2 else 'off'} algo={self.hash_algo}")
        if self.undefined_flags:
            text += (f" flags={self.flags:#x} (bits {self.undefined_flags:#x} not defined by "
                     f"RMM {self.rmm_version}, measured as TF-RMM does)")
        if self.raw_sve_vl is not None:
            text += f" raw: sve_vl={self.raw_sve_vl} pmu_num_ctrs={self.raw_pmu_num_ctrs}"
        return text


@dataclass(frozen=True, slots=True)
class RipasInputs:
    """INIT_RIPAS of [base, top); ``measured`` False where the RMM version does not
    measure it (``rmm_version`` names it)."""

    base: int
    top: int
    measured: bool
    rmm_version: str

    def render(self) -> str:
        text = f"[{self.base:#x}, {self.top:#x})"
        return text if self.measured else f"{text} not measured by RMM {self.rmm_version}"


@dataclass(frozen=True, slots=True)
class DataInputs:
    """DATA_CREATE of ``size`` bytes at ``ipa``: the image's name, or None (unmeasured)."""

    ipa: int
    size: int
    image: str | None

    def render(self) -> str:
        what = self.image if self.image is not None else "unmeasured"
        return f"{what} at {self.ipa:#x} size {self.size:#x}"


@dataclass(frozen=True, slots=True)
class RecInputs:
    """REC_CREATE: entry point, x0..x7 and the RmiRecParams flags (bit 0: runnable)."""

    pc: int
    gprs: tuple[int, ...]
    flags: int

    @property
    def runnable(self) -> bool:
        return bool(self.flags & 1)

    def render(self) -> str:
        if not self.runnable:
            return "not runnable: not measured"
        return f"pc={self.pc:#x} " + " ".join(f"x{i}={v:#x}" for i, v in enumerate(self.gprs)
                                             if v)


@dataclass(frozen=True, slots=True)
class RemInputs:
    """RSI_MEASUREMENT_EXTEND of REM ``rem`` with ``data``."""

    rem: int
    data: bytes

    def render(self) -> str:
        return f"REM{self.rem} += {self.data.hex()}"


Inputs = RealmInputs | RipasInputs | DataInputs | RecInputs | RemInputs
_INPUT_TYPES: dict[str, type[Any]] = {
    REALM_CREATE: RealmInputs, INIT_RIPAS: RipasInputs, DATA_CREATE: DataInputs,
    DATA_CREATE_UNMEASURED: DataInputs, REC_CREATE: RecInputs, MEASUREMENT_EXTEND: RemInputs}


# ---------------------------------------------------------------- the record


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One executed operation (see the module docstring)."""

    number: int
    kind: str
    inputs: Inputs
    origin: Origin
    descriptors: int
    rim_after: bytes
    rems_after: tuple[bytes, ...]

    @property
    def detail(self) -> str:
        """The inputs as one line of text (rendered, never parsed)."""
        return self.inputs.render()

    def to_json(self) -> dict[str, Any]:
        """The record as ``measure --format json --trace`` writes it: the keys of earlier
        releases (number, operation, origin, detail, descriptors, rim_after) plus
        ``inputs``, ``source`` (the typed origin) and ``rems_after``."""
        return {"number": self.number, "operation": self.kind, "origin": str(self.origin),
                "detail": self.detail, "descriptors": self.descriptors,
                "rim_after": self.rim_after.hex(), "inputs": _inputs_json(self.inputs),
                "source": self.origin.to_json(),
                "rems_after": [r.hex() for r in self.rems_after]}

    @classmethod
    def from_json(cls, doc: Any, where: str = "trace record") -> TraceRecord:
        """Strict reading of :meth:`to_json`'s output."""
        d = _object(doc, where, _RECORD_KEYS)
        kind = _text(d, "operation", where)
        if kind not in _INPUT_TYPES:
            raise TraceFormatError(f"{where}.operation: {kind[:40]!r} is not an operation "
                                   f"kind ({', '.join(KINDS)})", field=f"{where}.operation")
        origin = Origin.from_json(d["source"], f"{where}.source")
        if _text(d, "origin", where) != str(origin):
            raise TraceFormatError(f"{where}.origin: does not match its 'source'",
                                   field=f"{where}.origin")
        rems = d["rems_after"]
        if not isinstance(rems, list) or len(rems) != 4:
            raise TraceFormatError(f"{where}.rems_after: expected a list of 4 hex strings",
                                   field=f"{where}.rems_after")
        record = cls(_int(d, "number", where), kind,
                     _inputs_from_json(kind, d["inputs"], f"{where}.inputs"), origin,
                     _int(d, "descriptors", where), _hex(d, "rim_after", where),
                     tuple(_hex({"rems_after": r}, "rems_after", where) for r in rems))
        if _text(d, "detail", where) != record.detail:
            raise TraceFormatError(f"{where}.detail: does not match its 'inputs'",
                                   field=f"{where}.detail")
        return record


_RECORD_KEYS = ("number", "operation", "origin", "detail", "descriptors", "rim_after",
                "inputs", "source", "rems_after")


def _inputs_json(inputs: Inputs) -> dict[str, Any]:
    if isinstance(inputs, RemInputs):
        return {"rem": inputs.rem, "data": inputs.data.hex()}
    if isinstance(inputs, RecInputs):
        return {"pc": inputs.pc, "gprs": list(inputs.gprs), "flags": inputs.flags}
    return {name: getattr(inputs, name) for name in inputs.__slots__}


def _inputs_from_json(kind: str, doc: Any, where: str) -> Inputs:
    cls = _INPUT_TYPES[kind]
    names: tuple[str, ...] = cls.__slots__
    d = _object(doc, where, names)
    if cls is RemInputs:
        return RemInputs(_int(d, "rem", where), _hex(d, "data", where))
    if cls is RecInputs:
        gprs = d["gprs"]
        if not isinstance(gprs, list) or len(gprs) > 8:
            raise TraceFormatError(f"{where}.gprs: expected a list of up to 8 integers",
                                   field=f"{where}.gprs")
        return RecInputs(_int(d, "pc", where),
                         tuple(_int({"gprs": g}, "gprs", where) for g in gprs),
                         _int(d, "flags", where))
    values: dict[str, Any] = {}
    for name, annotation in cls.__annotations__.items():
        values[name] = _typed(d, name, annotation, where)
    return cls(**values)  # type: ignore[no-any-return]


def _typed(d: Mapping[str, Any], name: str, annotation: str, where: str) -> Any:
    if annotation == "int":
        return _int(d, name, where)
    if annotation == "int | None":
        return _opt_int(d, name, where)
    if annotation == "bool":
        value = d[name]
        if not isinstance(value, bool):
            raise TraceFormatError(f"{where}.{name}: expected true or false",
                                   field=f"{where}.{name}")
        return value
    if annotation == "str | None" and d[name] is None:
        return None
    return _text(d, name, where)


# ---------------------------------------------------------------- strict readers


def _object(doc: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise TraceFormatError(f"{where}: expected an object", field=where)
    unknown = sorted(str(k)[:40] for k in doc if k not in keys)
    if unknown:
        raise TraceFormatError(f"{where}.{unknown[0]}: unknown key", field=f"{where}.{unknown[0]}")
    missing = [k for k in keys if k not in doc]
    if missing:
        raise TraceFormatError(f"{where}.{missing[0]}: missing (write the trace again with "
                               "`rmtool measure --format json --trace`)",
                               field=f"{where}.{missing[0]}")
    return doc


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    value = d[key]
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise TraceFormatError(f"{where}.{key}: expected an integer in 0..2^64-1",
                               field=f"{where}.{key}")
    return value


def _opt_int(d: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if d[key] is None else _int(d, key, where)


def _text(d: Mapping[str, Any], key: str, where: str) -> str:
    value = d[key]
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise TraceFormatError(f"{where}.{key}: expected a string of up to {_MAX_TEXT} "
                               "characters", field=f"{where}.{key}")
    return value


def _hex(d: Mapping[str, Any], key: str, where: str) -> bytes:
    value = d[key]
    if not isinstance(value, str) or len(value) > _MAX_HEX:
        raise TraceFormatError(f"{where}.{key}: expected a hex string",
                               field=f"{where}.{key}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise TraceFormatError(f"{where}.{key}: not hex: {value[:40]!r}",
                               field=f"{where}.{key}") from None


__all__ = ["DATA_CREATE", "DATA_CREATE_UNMEASURED", "INIT_RIPAS", "KINDS",
           "MEASUREMENT_EXTEND", "REALM_CREATE", "REC_CREATE", "RIM_KINDS", "DataInputs",
           "Inputs", "Origin", "OriginKind", "RealmInputs", "RecInputs", "RemInputs",
           "RipasInputs", "TraceFormatError", "TraceRecord"]
