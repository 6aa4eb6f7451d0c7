"""struct mirrors of the measured RMM structures (the run-time fast path).

Each :class:`NamedStruct` has exactly the layout of a construct declaration in
:mod:`rmtool.measure.rmm.structures` (DEN0137 1.0-rel0 B4.3.9 RmiRealmParams, B4.3.12
RmiRecParams, A7.1.1 measurement descriptors; spec/rmm-measurement.md §3-§6);
``structures.FAST_REFERENCE`` pairs them and ``tests/test_rmm.py`` proves that both
produce the same bytes and the same field offsets. Kept apart from ``structures`` so that
``rmtool measure`` does not import construct (about 30 ms of a 0.2 s run); the event log
does the same (:mod:`rmtool.eventlog.layouts`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

GRANULE_SIZE = 0x1000
SLOT_SIZE = 64  # RmmRealmMeasurement: hash + zero padding
DESC_SIZE = 0x100
PARAMS_SIZE = 0x1000

DESC_TYPE_DATA = 0x00
DESC_TYPE_REC = 0x01
DESC_TYPE_RIPAS = 0x02
U64_MASK = (1 << 64) - 1  # addresses are u64 fields and wrap (the reference's release build)


class NamedStruct:
    """A little-endian ``struct.Struct`` whose fields have names: a list of
    ``(name, format)`` pairs, padding written as ``("", "<n>x")``."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        self.struct = struct.Struct("<" + "".join(fmt for _, fmt in fields))
        self.size = self.struct.size
        self.offsets: dict[str, int] = {}
        for i, (name, _) in enumerate(fields):
            if name:
                self.offsets[name] = struct.calcsize("<" + "".join(f for _, f in fields[:i]))

    def pack(self, *values: object) -> bytes:
        return self.struct.pack(*values)

    def value(self, data: bytes, name: str) -> int:
        """The integer field ``name`` read from ``data`` (at least ``size`` bytes)."""
        fmt = dict(self.fields)[name]
        got: int = struct.unpack_from("<" + fmt, data, self.offsets[name])[0]
        return got


def _pad(n: int) -> tuple[str, str]:
    return ("", f"{n}x")


# RmiRealmParams as the RMM copies it into its zero-filled measured image (§3.1)
REALM_PARAMS = NamedStruct([
    ("flags", "Q"), ("s2sz", "Q"), ("sve_vl", "Q"), ("num_bps", "Q"), ("num_wps", "Q"),
    ("pmu_num_ctrs", "Q"), ("hash_algo", "B"), _pad(PARAMS_SIZE - 0x31),
])
# RmiRecParams measured image (§6): flags, pc, gprs[8]
REC_PARAMS = NamedStruct([
    ("flags", "Q"), _pad(0x200 - 0x8), ("pc", "Q"), _pad(0x300 - 0x208), ("gprs", "8Q"),
    _pad(PARAMS_SIZE - 0x340),
])
# RmmMeasurementDescriptorData (A7.1.1, §4)
DATA_DESC = NamedStruct([
    ("desc_type", "B"), _pad(7), ("len", "Q"), ("rim", "64s"), ("ipa", "Q"), ("flags", "Q"),
    ("content", "64s"), _pad(DESC_SIZE - 0xA0),
])
# RmmMeasurementDescriptorRec (§6)
REC_DESC = NamedStruct([
    ("desc_type", "B"), _pad(7), ("len", "Q"), ("rim", "64s"), ("content", "64s"),
    _pad(DESC_SIZE - 0x90),
])
# RmmMeasurementDescriptorRipas (§5.2)
RIPAS_DESC = NamedStruct([
    ("desc_type", "B"), _pad(7), ("len", "Q"), ("rim", "64s"), ("base", "Q"), ("top", "Q"),
    _pad(DESC_SIZE - 0x60),
])


def slot(value: bytes) -> bytes:
    """Zero-extend a hash to the 64-byte measurement slot."""
    return value + b"\0" * (SLOT_SIZE - len(value))


def realm_params_bytes(flags: int, s2sz: int, sve_vl: int, num_bps: int, num_wps: int,
                       pmu_num_ctrs: int, hash_algo: int) -> bytes:
    return REALM_PARAMS.pack(flags, s2sz, sve_vl, num_bps, num_wps, pmu_num_ctrs, hash_algo)


def rec_params_bytes(flags: int, pc: int, gprs: tuple[int, ...] | list[int]) -> bytes:
    return REC_PARAMS.pack(flags, pc, *gprs)


def data_descriptor(rim_slot: bytes, ipa: int, flags: int, content_slot: bytes) -> bytes:
    return DATA_DESC.pack(DESC_TYPE_DATA, DESC_SIZE, rim_slot, ipa, flags, content_slot)


def rec_descriptor(rim_slot: bytes, content_slot: bytes) -> bytes:
    return REC_DESC.pack(DESC_TYPE_REC, DESC_SIZE, rim_slot, content_slot)


def ripas_descriptor(rim_slot: bytes, base: int, top: int) -> bytes:
    return RIPAS_DESC.pack(DESC_TYPE_RIPAS, DESC_SIZE, rim_slot, base, top)


def ripas_descriptor_packer(hash_size: int) -> struct.Struct:
    """RIPAS descriptor packer taking a hash-size ``rim``; the same bytes as
    ``RIPAS_DESC`` with a 64-byte zero-padded slot."""
    return struct.Struct(f"<B7xQ{hash_size}s{SLOT_SIZE - hash_size}xQQ160x")


def data_descriptor_packer(hash_size: int) -> struct.Struct:
    """DATA descriptor packer taking hash-size ``rim`` and ``content`` (zero padding
    implied); the same bytes as ``DATA_DESC`` with 64-byte zero-padded slots."""
    pad = SLOT_SIZE - hash_size
    return struct.Struct(f"<B7xQ{hash_size}s{pad}xQQ{hash_size}s{pad}x96x")


class DataDescriptorLayout(NamedTuple):
    """RmmMeasurementDescriptorData for one hash size and flags value, as the per-granule
    chain needs it: the descriptor with rim/ipa/content zero, the offsets of those three
    fields, and a packer ``pack(rim, ipa, content)`` taking hash-size rim and content."""

    hash_size: int
    flags: int
    template: bytes
    rim_off: int
    ipa_off: int
    content_off: int
    pack: Callable[[bytes, int, bytes], bytes]


@cache
def data_descriptor_layout(hash_size: int, flags: int) -> DataDescriptorLayout:
    packer = data_descriptor_packer(hash_size)

    def pack(rim: bytes, ipa: int, content: bytes) -> bytes:
        return packer.pack(DESC_TYPE_DATA, DESC_SIZE, rim, ipa, flags, content)

    o = DATA_DESC.offsets
    return DataDescriptorLayout(hash_size, flags,
                                data_descriptor(bytes(SLOT_SIZE), 0, flags, bytes(SLOT_SIZE)),
                                o["rim"], o["ipa"], o["content"], pack)
