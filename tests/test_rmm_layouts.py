"""The RMM layouts are declared once (rmtool.measure.rmm._layouts) and both the run-time
struct packers and the construct view are generated from that declaration.

These tests stop the two views drifting apart: for random field values the fast packer
and the construct view build the same bytes and read back the same values, the
hash-size packers of the per-granule chain equal the 64-byte-slot layout, and the
measure path still does not import construct. Offsets are checked against DEN0137
A7.1.1 / B4.3.9 / B4.3.12 (Arm DEN0137), as TF-RMM lib/measurement/src/rim.c uses them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmtool.measure.rmm._layouts import (
    DATA_DESC,
    LAYOUTS,
    RIPAS_DESC,
    Field,
    Layout,
    data_descriptor_packer,
    ripas_descriptor_packer,
)
from rmtool.measure.rmm._structures import FAST_REFERENCE, field_offset

_MAX = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFF_FFFF, "Q": (1 << 64) - 1}


def _field_values(f: Field) -> st.SearchStrategy[object]:
    if f.code.endswith("s"):
        return st.binary(min_size=f.repeat, max_size=f.repeat)
    item = st.integers(0, _MAX[f.code[-1]])
    if f.code[:-1]:
        return st.lists(item, min_size=f.repeat, max_size=f.repeat)
    return item


@st.composite
def _layout_and_values(draw: st.DrawFn) -> tuple[Layout, dict[str, object]]:
    layout = draw(st.sampled_from(sorted(LAYOUTS.values(), key=lambda lay: lay.name)))
    values = {f.name: draw(_field_values(f)) for f in layout.spec if f.const is None}
    return layout, values


@settings(max_examples=300, deadline=None)
@given(_layout_and_values())
def test_fast_packer_equals_construct_view_for_random_values(
        case: tuple[Layout, dict[str, object]]) -> None:
    layout, values = case
    view = layout.construct()
    fast = layout.build(**values)
    assert fast == view.build(values)
    assert len(fast) == layout.size == view.sizeof()
    parsed = view.parse(fast)
    for f in layout.spec:
        expected = f.const if f.const is not None else values[f.name]
        assert parsed[f.name] == expected, f.name
        if f.code[-1] != "s" and not f.code[:-1]:
            assert layout.value(fast, f.name) == expected, f.name


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_generated_construct_view_has_the_declared_offsets(name: str) -> None:
    decl, fast = FAST_REFERENCE[name]
    assert fast is LAYOUTS[name]
    for f in fast.spec:
        assert field_offset(decl, f.name) == f.offset, f.name


def test_spec_offsets_of_the_descriptors() -> None:
    """A7.1.1: rim at 0x10, DATA ipa 0x50 / flags 0x58 / content 0x60, RIPAS base 0x50
    / top 0x58; 256 bytes each."""
    assert DATA_DESC.offsets == {"desc_type": 0, "len": 8, "rim": 0x10, "ipa": 0x50,
                                 "flags": 0x58, "content": 0x60}
    assert RIPAS_DESC.offsets == {"desc_type": 0, "len": 8, "rim": 0x10, "base": 0x50,
                                  "top": 0x58}
    assert LAYOUTS["RmiRecParamsMeasured"].offsets == {"flags": 0, "pc": 0x200, "gprs": 0x300}


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([32, 48, 64]), st.data())
def test_hash_size_packers_equal_the_slot_view(size: int, data: st.DataObject) -> None:
    rim = data.draw(st.binary(min_size=size, max_size=size))
    content = data.draw(st.binary(min_size=size, max_size=size))
    ipa, flags, top = (data.draw(st.integers(0, (1 << 64) - 1)) for _ in range(3))
    pad = bytes(64 - size)
    assert data_descriptor_packer(size).pack(0, 256, rim, ipa, flags, content) == \
        DATA_DESC.construct().build({"rim": rim + pad, "ipa": ipa, "flags": flags,
                                     "content": content + pad})
    assert ripas_descriptor_packer(size).pack(2, 256, rim, ipa, top) == \
        RIPAS_DESC.construct().build({"rim": rim + pad, "base": ipa, "top": top})


def test_overlapping_declaration_is_refused() -> None:
    """A typo in an offset (a field written over its neighbour) fails at import time
    instead of measuring a shifted structure."""
    with pytest.raises(ValueError, match=r"Bad\.b at 0x4 overlaps"):
        Layout("Bad", 16, (Field("a", "Q", 0), Field("b", "Q", 4)))
    with pytest.raises(ValueError, match="past its size"):
        Layout("Bad", 8, (Field("a", "Q", 4),))


def test_measure_path_does_not_import_construct() -> None:
    code = "import sys, rmtool.measure.rmm.realm; print('construct' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
