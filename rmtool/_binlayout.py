"""Fixed-size little-endian binary layouts declared once, as data.

A :class:`Layout` is a structure's total size and a tuple of :class:`Field` specs (name,
:mod:`struct` code, byte offset, optional constant), written next to the spec section it
implements. Generated from it: the run-time ``struct.Struct`` packer (gaps are zero
padding; ``packer(field=n)`` packs a byte field narrower inside its slot), named packing
and reading, and the construct ``Struct`` view (``construct()``, which imports construct
only when called, so the measure and parse paths never import it). Used by the measured
RMM structures (:mod:`rmtool.measure.rmm._layouts`) and the CCA event-log payloads
(:mod:`rmtool.eventlog._cca_payloads`); it imports nothing of rmtool.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from construct import Construct

_INT_CODES = {"B": "Int8ul", "H": "Int16ul", "I": "Int32ul", "Q": "Int64ul"}


class Field(NamedTuple):
    """One field: ``code`` is a little-endian :mod:`struct` code ("Q", "B", "64s" bytes,
    "8Q" an array of eight u64); ``const`` a value the field always holds."""

    name: str
    code: str
    offset: int
    const: int | None = None

    @property
    def repeat(self) -> int:
        """Array length ("8Q" -> 8), byte length ("64s" -> 64), else 1."""
        return int(self.code[:-1]) if self.code[:-1] else 1

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.code)

    @property
    def values(self) -> int:
        """How many positional values ``struct`` takes for this field."""
        return 1 if self.code.endswith("s") else self.repeat


class Layout:
    """A fixed-size little-endian structure: fields at declared offsets, zero elsewhere."""

    def __init__(self, name: str, size: int, fields: Sequence[Field]) -> None:
        self.name = name
        self.size = size
        self.spec: tuple[Field, ...] = tuple(sorted(fields, key=lambda f: f.offset))
        end = 0
        for f in self.spec:
            if f.code[-1] not in _INT_CODES and f.code[-1] != "s":
                raise ValueError(f"{name}.{f.name}: unsupported struct code {f.code!r}")
            if f.offset < end:
                raise ValueError(f"{name}.{f.name} at {f.offset:#x} overlaps the field "
                                 f"before it (ends at {end:#x})")
            end = f.offset + f.size
        if end > size:
            raise ValueError(f"{name}: fields end at {end:#x}, past its size {size:#x}")
        self.offsets: dict[str, int] = {f.name: f.offset for f in self.spec}
        self._by_name: dict[str, Field] = {f.name: f for f in self.spec}
        self.struct = self.packer()
        #: the sequential view: (name, code) pairs with gaps as ("", "<n>x")
        self.fields: list[tuple[str, str]] = []
        pos = 0
        for f in self.spec:
            if f.offset > pos:
                self.fields.append(("", f"{f.offset - pos}x"))
            self.fields.append((f.name, f.code))
            pos = f.offset + f.size
        if size > pos:
            self.fields.append(("", f"{size - pos}x"))

    def packer(self, **narrow: int) -> struct.Struct:
        """The ``struct.Struct`` of this layout; ``narrow`` gives byte fields (code "Ns")
        a shorter packed length, the rest of their N bytes being zero padding. The field
        offsets do not move."""
        fmt = ["<"]
        pos = 0
        for f in self.spec:
            if f.offset > pos:
                fmt.append(f"{f.offset - pos}x")
            code = f.code
            if f.name in narrow:
                width = narrow[f.name]
                if not code.endswith("s") or not 0 < width <= f.repeat:
                    raise ValueError(f"{self.name}.{f.name}: cannot narrow {code} to {width}")
                code = f"{width}s" + (f"{f.repeat - width}x" if width < f.repeat else "")
            fmt.append(code)
            pos = f.offset + f.size
        if self.size > pos:
            fmt.append(f"{self.size - pos}x")
        return struct.Struct("".join(fmt))

    def pack(self, *values: object) -> bytes:
        """Pack every field in offset order (constants included), as ``struct`` does."""
        return self.struct.pack(*values)

    def build(self, **values: object) -> bytes:
        """Pack by field name; constant fields take their constant, arrays a sequence."""
        args: list[object] = []
        for f in self.spec:
            value = f.const if f.const is not None else values[f.name]
            if f.values > 1 and isinstance(value, (list, tuple)):
                args.extend(value)
            else:
                args.append(value)
        return self.struct.pack(*args)

    def field(self, name: str) -> Field:
        """The declaration of field ``name``."""
        return self._by_name[name]

    def value(self, data: bytes, name: str) -> int:
        """The integer field ``name`` read from ``data`` (at least ``size`` bytes)."""
        f = self._by_name[name]
        got: int = struct.unpack_from("<" + f.code, data, f.offset)[0]
        return got

    def construct(self) -> Construct:
        """The construct ``Struct`` generated from the declaration (imports construct)."""
        return _construct_view(self)


class NamedStruct(Layout):
    """A layout declared sequentially, as (name, code) pairs with padding written as
    ``("", "<n>x")``; the offsets follow from the codes."""

    def __init__(self, fields: list[tuple[str, str]], name: str = "") -> None:
        spec: list[Field] = []
        pos = 0
        for field_name, code in fields:
            if field_name:
                spec.append(Field(field_name, code, pos))
            pos += struct.calcsize("<" + code)
        super().__init__(name, pos, spec)


@cache
def _construct_view(layout: Layout) -> Construct:
    import construct as cs

    subcons: list[Construct] = []
    pos = 0
    for f in layout.spec:
        if f.offset > pos:
            subcons.append(cs.Padding(f.offset - pos))
        if f.code.endswith("s"):
            sub: Construct = cs.Bytes(f.repeat)
        else:
            sub = getattr(cs, _INT_CODES[f.code[-1]])
            if f.code[:-1]:
                sub = cs.Array(f.repeat, sub)
        if f.const is not None:
            sub = cs.Const(f.const, sub)
        subcons.append(f.name / sub)
        pos = f.offset + f.size
    if layout.size > pos:
        subcons.append(cs.Padding(layout.size - pos))
    return cs.Struct(*subcons)
