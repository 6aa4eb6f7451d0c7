"""The measured RMM structures, each declared once as data.

Spec: DEN0137 1.0-rel0 B4.3.9 (RmiRealmParams), B4.3.12 (RmiRecParams), A7.1.1
(RmmMeasurementDescriptor{Data,Rec,Ripas}); TF-RMM lib/measurement/src/rim.c.

Each structure is a :class:`~rmtool._binlayout.Layout`: its total size and a tuple of
``Field`` specs (name, :mod:`struct` code, byte offset, optional constant). Everything
else is generated from that one declaration:

* the run-time packer (``Layout.struct``: a little-endian ``struct.Struct`` whose gaps
  are zero padding), and hash-size variants of it (``Layout.packer(rim=32)``: a byte field
  packed narrower, the rest of its slot zero) for the per-granule chain;
* the construct ``Struct`` for tests, parsing and documentation (``Layout.construct()``,
  which imports construct only when called: ``rmtool measure`` never imports it, about
  30 ms of a 0.2 s run). :mod:`rmtool.measure.rmm._structures` is that generated view.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

from rmtool._binlayout import Field as Field
from rmtool._binlayout import Layout as Layout
from rmtool._binlayout import NamedStruct as NamedStruct

GRANULE_SIZE = 0x1000
SLOT_SIZE = 64  # RmmRealmMeasurement: hash + zero padding
DESC_SIZE = 0x100
PARAMS_SIZE = 0x1000

DESC_TYPE_DATA = 0x00
DESC_TYPE_REC = 0x01
DESC_TYPE_RIPAS = 0x02
U64_MASK = (1 << 64) - 1  # addresses are u64 fields and wrap (the reference's release build)

# --- the declarations ------------------------------------------------------------------

# RmiRealmParams as the RMM copies it into its zero-filled measured image (B4.3.9).
# Only these fields are measured; everything from 0x31 to 0xFFF is zero.
REALM_PARAMS = Layout("RmiRealmParamsMeasured", PARAMS_SIZE, (
    Field("flags", "Q", 0x000),  # bit0 LPA2, bit1 SVE, bit2 PMU, bit3 DA, bits7-8 MEC
    Field("s2sz", "Q", 0x008),  # IPA width in bits
    Field("sve_vl", "Q", 0x010),  # VQ = VL/128 - 1
    Field("num_bps", "Q", 0x018),  # breakpoints - 1
    Field("num_wps", "Q", 0x020),  # watchpoints - 1
    Field("pmu_num_ctrs", "Q", 0x028),
    Field("hash_algo", "B", 0x030),  # 0 SHA-256, 1 SHA-512, 2 SHA-384
))

# RmiRecParams measured image (B4.3.12): flags, pc, gprs[8].
REC_PARAMS = Layout("RmiRecParamsMeasured", PARAMS_SIZE, (
    Field("flags", "Q", 0x000),
    Field("pc", "Q", 0x200),
    Field("gprs", "8Q", 0x300),
))

# RmmMeasurementDescriptorData (A7.1.1)
DATA_DESC = Layout("RmmMeasurementDescriptorData", DESC_SIZE, (
    Field("desc_type", "B", 0x00, DESC_TYPE_DATA),
    Field("len", "Q", 0x08, DESC_SIZE),
    Field("rim", f"{SLOT_SIZE}s", 0x10),
    Field("ipa", "Q", 0x50),
    Field("flags", "Q", 0x58),
    Field("content", f"{SLOT_SIZE}s", 0x60),
))

# RmmMeasurementDescriptorRec (A7.1.1)
REC_DESC = Layout("RmmMeasurementDescriptorRec", DESC_SIZE, (
    Field("desc_type", "B", 0x00, DESC_TYPE_REC),
    Field("len", "Q", 0x08, DESC_SIZE),
    Field("rim", f"{SLOT_SIZE}s", 0x10),
    Field("content", f"{SLOT_SIZE}s", 0x50),
))

# RmmMeasurementDescriptorRipas (A7.1.1)
RIPAS_DESC = Layout("RmmMeasurementDescriptorRipas", DESC_SIZE, (
    Field("desc_type", "B", 0x00, DESC_TYPE_RIPAS),
    Field("len", "Q", 0x08, DESC_SIZE),
    Field("rim", f"{SLOT_SIZE}s", 0x10),
    Field("base", "Q", 0x50),
    Field("top", "Q", 0x58),
))

#: every measured RMM layout, by its spec name
LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (REALM_PARAMS, REC_PARAMS, DATA_DESC, REC_DESC,
                                       RIPAS_DESC)
}


# --- packers the Realm model calls ------------------------------------------------------

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


@cache
def ripas_descriptor_packer(hash_size: int) -> struct.Struct:
    """RIPAS descriptor packer taking a hash-size ``rim``; the same bytes as
    ``RIPAS_DESC`` with a 64-byte zero-padded slot."""
    return RIPAS_DESC.packer(rim=hash_size)


@cache
def data_descriptor_packer(hash_size: int) -> struct.Struct:
    """DATA descriptor packer taking hash-size ``rim`` and ``content`` (zero padding
    implied); the same bytes as ``DATA_DESC`` with 64-byte zero-padded slots."""
    return DATA_DESC.packer(rim=hash_size, content=hash_size)


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
