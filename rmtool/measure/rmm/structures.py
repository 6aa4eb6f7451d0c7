"""Measured RMM structures, declared once with construct.

Spec: DEN0137 1.0-rel0 B3.x / B4.3.9 (RmiRealmParams), B4.3.12 (RmiRecParams),
A7.1.1 measurement descriptors; summarised in spec/rmm-measurement.md §3-§6.

The construct declarations are the single description of each layout (used to
build, parse and document). The hot per-granule path uses a ``struct.Struct`` with
the same layout; ``tests/test_rmm_layouts.py`` proves the two are identical.
"""

from __future__ import annotations

import struct

from construct import Bytes, Const, Int8ul, Int64ul, Padding, Struct

GRANULE_SIZE = 0x1000
SLOT_SIZE = 64  # RmmRealmMeasurement: hash + zero padding
DESC_SIZE = 0x100
PARAMS_SIZE = 0x1000

DESC_TYPE_DATA = 0x00
DESC_TYPE_REC = 0x01
DESC_TYPE_RIPAS = 0x02

# RmiRealmParams as the RMM copies it into its zero-filled measured image (§3.1).
# Only these fields are measured; everything from 0x31 to 0xFFF is zero.
RmiRealmParamsMeasured = Struct(
    "flags" / Int64ul,          # 0x000 bit0 LPA2, bit1 SVE, bit2 PMU, bit3 DA, bits7-8 MEC
    "s2sz" / Int64ul,           # 0x008 IPA width in bits
    "sve_vl" / Int64ul,         # 0x010 VQ = VL/128 - 1
    "num_bps" / Int64ul,        # 0x018 breakpoints - 1
    "num_wps" / Int64ul,        # 0x020 watchpoints - 1
    "pmu_num_ctrs" / Int64ul,   # 0x028
    "hash_algo" / Int8ul,       # 0x030 0 SHA-256, 1 SHA-512, 2 SHA-384
    Padding(PARAMS_SIZE - 0x31),
)

# RmiRecParams measured image (§6): flags, pc, gprs[8].
RmiRecParamsMeasured = Struct(
    "flags" / Int64ul,          # 0x000
    Padding(0x200 - 0x8),
    "pc" / Int64ul,             # 0x200
    Padding(0x300 - 0x208),
    "gprs" / Int64ul[8],        # 0x300
    Padding(PARAMS_SIZE - 0x340),
)

# RmmMeasurementDescriptorData (A7.1.1, §4)
RmmMeasurementDescriptorData = Struct(
    "desc_type" / Const(DESC_TYPE_DATA, Int8ul),
    Padding(7),
    "len" / Const(DESC_SIZE, Int64ul),
    "rim" / Bytes(SLOT_SIZE),   # 0x10
    "ipa" / Int64ul,            # 0x50
    "flags" / Int64ul,          # 0x58
    "content" / Bytes(SLOT_SIZE),  # 0x60
    Padding(DESC_SIZE - 0xA0),
)

# RmmMeasurementDescriptorRec (§6)
RmmMeasurementDescriptorRec = Struct(
    "desc_type" / Const(DESC_TYPE_REC, Int8ul),
    Padding(7),
    "len" / Const(DESC_SIZE, Int64ul),
    "rim" / Bytes(SLOT_SIZE),   # 0x10
    "content" / Bytes(SLOT_SIZE),  # 0x50
    Padding(DESC_SIZE - 0x90),
)

# RmmMeasurementDescriptorRipas (§5.2)
RmmMeasurementDescriptorRipas = Struct(
    "desc_type" / Const(DESC_TYPE_RIPAS, Int8ul),
    Padding(7),
    "len" / Const(DESC_SIZE, Int64ul),
    "rim" / Bytes(SLOT_SIZE),   # 0x10
    "base" / Int64ul,           # 0x50
    "top" / Int64ul,            # 0x58
    Padding(DESC_SIZE - 0x60),
)

# Fast path for the per-granule DATA descriptor; same bytes as RmmMeasurementDescriptorData.
DATA_DESC_FAST = struct.Struct("<B7xQ64sQQ64s96x")
assert DATA_DESC_FAST.size == DESC_SIZE


def data_descriptor_packer(hash_size: int) -> struct.Struct:
    """DATA descriptor packer taking hash-size ``rim`` and ``content`` (zero padding implied);
    same bytes as ``DATA_DESC_FAST`` with 64-byte zero-padded slots."""
    pad = SLOT_SIZE - hash_size
    return struct.Struct(f"<B7xQ{hash_size}s{pad}xQQ{hash_size}s{pad}x96x")


def slot(value: bytes) -> bytes:
    """Zero-extend a hash to the 64-byte measurement slot."""
    return value + b"\0" * (SLOT_SIZE - len(value))


def data_descriptor(rim_slot: bytes, ipa: int, flags: int, content_slot: bytes) -> bytes:
    return DATA_DESC_FAST.pack(DESC_TYPE_DATA, DESC_SIZE, rim_slot, ipa, flags, content_slot)


def rec_descriptor(rim_slot: bytes, content_slot: bytes) -> bytes:
    return bytes(RmmMeasurementDescriptorRec.build({"rim": rim_slot, "content": content_slot}))


# Fast path for RIPAS descriptors (one per RTT entry); same bytes as the construct layout.
RIPAS_DESC_FAST = struct.Struct("<B7xQ64sQQ160x")
assert RIPAS_DESC_FAST.size == DESC_SIZE


def ripas_descriptor(rim_slot: bytes, base: int, top: int) -> bytes:
    return RIPAS_DESC_FAST.pack(DESC_TYPE_RIPAS, DESC_SIZE, rim_slot, base, top)
