"""The construct view of the measured RMM structures, generated from their one declaration.

Spec: DEN0137 1.0-rel0 B4.3.9 (RmiRealmParams), B4.3.12 (RmiRecParams), A7.1.1
measurement descriptors; TF-RMM lib/measurement/src/rim.c.

The layouts are declared once, as data, in :mod:`rmtool.measure.rmm._layouts` (name,
struct code and offset of every field). This module builds the construct ``Struct`` of
each from that declaration, for parsing, tests and documentation; importing it imports
construct, which the measure path never does. ``FAST_REFERENCE`` pairs each construct
view with the run-time packer generated from the same declaration; ``tests/test_rmm.py``
and ``tests/test_rmm_layouts.py`` prove each pair identical (bytes and field offsets).
"""

from __future__ import annotations

from construct import Struct

from rmtool.measure.rmm import _layouts as layouts

RmiRealmParamsMeasured: Struct = layouts.REALM_PARAMS.construct()
RmiRecParamsMeasured: Struct = layouts.REC_PARAMS.construct()
RmmMeasurementDescriptorData: Struct = layouts.DATA_DESC.construct()
RmmMeasurementDescriptorRec: Struct = layouts.REC_DESC.construct()
RmmMeasurementDescriptorRipas: Struct = layouts.RIPAS_DESC.construct()

# construct view -> the run-time packer generated from the same declaration
FAST_REFERENCE: dict[str, tuple[Struct, layouts.Layout]] = {
    name: (layout.construct(), layout) for name, layout in layouts.LAYOUTS.items()
}


def field_offset(layout: Struct, name: str) -> int:
    """Byte offset of field ``name`` in a fixed-size construct ``Struct``."""
    offset = 0
    for sub in layout.subcons:
        if sub.name == name:
            return offset
        offset += sub.sizeof()
    raise KeyError(name)
