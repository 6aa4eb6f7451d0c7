"""Measured RMM structures, declared once with construct.

Spec: DEN0137 1.0-rel0 B3.x / B4.3.9 (RmiRealmParams), B4.3.12 (RmiRecParams),
A7.1.1 measurement descriptors; summarised in spec/rmm-measurement.md §3-§6.

The construct declarations are the single description of each layout (used to
build, parse and document). The run-time path uses the construct-free mirrors in
:mod:`rmtool.measure.rmm.layouts` (``FAST_REFERENCE`` below pairs them);
``tests/test_rmm.py`` proves each pair identical, bytes and field offsets.
"""

from __future__ import annotations

from construct import Bytes, Const, Int8ul, Int64ul, Padding, Struct

from rmtool.measure.rmm import layouts
from rmtool.measure.rmm.layouts import (
    DESC_SIZE,
    DESC_TYPE_DATA,
    DESC_TYPE_REC,
    DESC_TYPE_RIPAS,
    PARAMS_SIZE,
    SLOT_SIZE,
)

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

# declaration -> its construct-free mirror in layouts.py
FAST_REFERENCE: dict[str, tuple[Struct, layouts.NamedStruct]] = {
    "RmiRealmParamsMeasured": (RmiRealmParamsMeasured, layouts.REALM_PARAMS),
    "RmiRecParamsMeasured": (RmiRecParamsMeasured, layouts.REC_PARAMS),
    "RmmMeasurementDescriptorData": (RmmMeasurementDescriptorData, layouts.DATA_DESC),
    "RmmMeasurementDescriptorRec": (RmmMeasurementDescriptorRec, layouts.REC_DESC),
    "RmmMeasurementDescriptorRipas": (RmmMeasurementDescriptorRipas, layouts.RIPAS_DESC),
}


def field_offset(layout: Struct, name: str) -> int:
    """Byte offset of field ``name`` in a fixed-size construct ``Struct``."""
    offset = 0
    for sub in layout.subcons:
        if sub.name == name:
            return offset
        offset += sub.sizeof()
    raise KeyError(name)
