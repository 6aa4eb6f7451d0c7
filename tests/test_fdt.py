"""FDT writer/reader: round trips, strings-table policies, hostile DTBs (fuzzed)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmtool.errors import DtbError
from rmtool.measure.dtb.fdt import Node, StringTable, parse_dtb, string, to_dtb, u32
from rmtool.measure.vmm._kvmtool import DtbFacts, generate_tree

FACTS = DtbFacts(cpus=2, ram_size=512 << 20, bootargs=" console=hvc0 root=/dev/vda rw ",
                 initrd=(0x8F000000, 0x8F001000), its=True, pmu=True, log=(0x8FFF0000, 0x10000),
                 virtio_mmio=2)
VALID = to_dtb(generate_tree(FACTS))


def test_round_trip_is_byte_identical() -> None:
    parsed = parse_dtb(VALID)
    table = StringTable(initial=parsed.strings_block, initial_offsets=parsed.name_offsets)
    assert to_dtb(parsed.root, table=table, header=parsed.header) == VALID
    assert parsed.totalsize == len(VALID)


def test_first_use_strings_have_no_suffix_sharing() -> None:
    root = Node("").prop("#size-cells", u32(2)).prop("size-cells", u32(1))
    blob = to_dtb(root)
    size_strings = struct.unpack_from(">I", blob, 32)[0]
    assert blob[-size_strings:] == b"#size-cells\0size-cells\0"


def test_libfdt_rw_strings_share_suffixes() -> None:
    root = Node("").prop("#size-cells", u32(2)).prop("size-cells", u32(1))
    blob = to_dtb(root, policy="libfdt-rw")
    size_strings = struct.unpack_from(">I", blob, 32)[0]
    assert blob[-size_strings:] == b"#size-cells\0"


def test_node_names_and_values() -> None:
    root = Node("")
    root.child("chosen").prop("bootargs", string("x"))
    parsed = parse_dtb(to_dtb(root))
    chosen = parsed.root.find_child("chosen")
    assert chosen is not None
    prop = chosen.find_property("bootargs")
    assert prop is not None and prop.value == b"x\0"


@pytest.mark.parametrize("blob, field", [
    (b"", "header"),
    (b"\0" * 40, "magic"),
    (VALID[:4] + struct.pack(">I", len(VALID) + 1) + VALID[8:], "totalsize"),
    (VALID[:8] + struct.pack(">I", 0x10000000) + VALID[12:], "off_dt_struct"),
])
def test_malformed_headers(blob: bytes, field: str) -> None:
    with pytest.raises(DtbError) as info:
        parse_dtb(blob)
    assert info.value.field == field


def test_huge_property_length_is_rejected() -> None:
    off = VALID.index(b"\0\0\0\x03")  # first FDT_PROP token
    bad = VALID[:off + 4] + struct.pack(">I", 0x7FFFFFFF) + VALID[off + 8:]
    with pytest.raises(DtbError) as info:
        parse_dtb(bad)
    assert info.value.field == "len" and info.value.offset == off + 4


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_dtbs_never_crash(data: st.DataObject) -> None:
    blob = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    try:
        parsed = parse_dtb(bytes(blob[:cut]))
    except DtbError as exc:
        assert exc.field is not None
    else:
        assert parsed.root.name is not None


def test_dtb_show_and_diff_cli(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib
    import pathlib

    from rmtool.cli.main import run

    assert isinstance(tmp_path, pathlib.Path)
    a = tmp_path / "a.dtb"
    b = tmp_path / "b.dtb"
    a.write_bytes(VALID)
    other = DtbFacts(**{**FACTS.__dict__, "cpus": 3})
    b.write_bytes(to_dtb(generate_tree(other)))
    assert run(["dtb", "show", str(a)]) == 0
    out = capsys.readouterr().out
    assert hashlib.sha256(VALID).hexdigest() in out
    assert 'bootargs = " console=hvc0 root=/dev/vda rw ";' in out
    assert run(["dtb", "diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "+        cpu@2 {" in out
    assert run(["dtb", "diff", str(a), str(a)]) == 0
    bad = tmp_path / "bad.dtb"
    bad.write_bytes(b"\xd0\x0d\xfe\xed" + b"\xff" * 40)
    assert run(["dtb", "show", str(bad)]) == 2  # malformed DTB: unusable input
    assert capsys.readouterr().err.startswith("ERROR totalsize")
