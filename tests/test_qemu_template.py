"""``--dtb-template`` surgery for QEMU (reference ``src/qemu.rs`` ``DTBSurgeon``) on synthetic
templates.

The exact-bytes vector (Q11c) is in test_qemu.py; here each replacement rule of the
reference surgeon and each rejected template is checked on small templates built with the
shared FDT writer (QEMU dumps use libfdt read-write order, so the templates do too).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from rmtool.errors import ParametersError
from rmtool.measure.dtb.fdt import Node, parse_dtb, string, to_dtb, u32, u64
from rmtool.measure.host import HostCaps
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.vmm._qemu import build as qemu_build
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild

QHOST = HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu_num_ctrs=6)


def template_tree() -> Node:
    """A QEMU-dump-like tree (root props first, then nodes; values deliberately stale)."""
    root = Node("")
    root.prop("interrupt-parent", u32(0x8003)).prop("compatible", string("linux,dummy-virt"))
    root.prop("#size-cells", u32(2)).prop("#address-cells", u32(2))
    chosen = root.child("chosen")
    chosen.prop("linux,initrd-end", u64(1)).prop("linux,initrd-start", u64(0))
    chosen.prop("bootargs", string("old"))
    root.child("reserved-memory").prop("ranges").child("old@0").prop("reg", u64(0, 1))
    root.child("memory@40000000").prop("reg", u64(0x40000000, 0x1000)).prop(
        "device_type", string("memory"))
    cpus = root.child("cpus")
    cpus.prop("#size-cells", u32(0)).prop("#address-cells", u32(1))
    cpus.child("cpu@0").prop("reg", u32(0))
    pl061 = root.child("pl061@9030000")
    pl061.prop("phandle", u32(0x1234)).prop("interrupt-parent", u32(7))
    keys = root.child("gpio-keys")
    keys.child("poweroff").prop("gpios", u32(0x1234, 3, 0)).prop("label", string("off"))
    pcie = root.child("pcie@10000000")
    pcie.prop("interrupt-map", u32(0)).prop("ranges", u32(0)).prop("reg", u64(0, 0))
    pcie.prop("msi-map", u32(0)).prop("device_type", string("pci"))
    root.child("pmu").prop("interrupts", u32(1, 7, 4))
    intc = root.child("intc@8000000")
    intc.prop("phandle", u32(0x8003)).prop("reg", u64(0)).prop("#redistributor-regions", u32(9))
    intc.child("its@8080000").prop("phandle", u32(0x8004)).prop("msi-controller")
    return root


def write(tmp_path: Path, data: bytes) -> str:
    p = tmp_path / "template.dtb"
    p.write_bytes(data)
    return str(p)


def build(argv: list[str], template: str, **paths: Any) -> VmmBuild:
    return qemu_build(argv, MeasureInputs(caps=QHOST, profile=get_profile("1.0-rel0"),
                                          dtb_template=template, **paths))


def out_tree(b: VmmBuild) -> Node:
    assert b.dtb is not None
    return parse_dtb(b.dtb).root


def prop(node: Node | None, name: str) -> bytes | None:
    assert node is not None
    p = node.find_property(name)
    return None if p is None else p.value


def test_replacements_default_vm(tmp_path: Path) -> None:
    tpl = to_dtb(template_tree(), policy="libfdt-rw")
    root = out_tree(build(["-smp", "2"], write(tmp_path, tpl)))
    g = 0x8003  # 0x8000 + 2 + 1
    assert prop(root, "interrupt-parent") == u32(g)
    assert root.find_child("chosen") == Node("chosen")  # initrd / bootargs dropped
    assert root.find_child("reserved-memory") is None  # no log
    assert prop(root.find_child("memory@40000000"), "reg") == u64(0x40000000, 128 << 20)
    pl061 = root.find_child("pl061@9030000")
    assert prop(pl061, "phandle") == u32(g + 2) and prop(pl061, "interrupt-parent") == u32(g)
    keys = root.find_child("gpio-keys")
    assert keys is not None
    assert prop(keys.find_child("poweroff"), "gpios") == u32(g + 2, 3, 0)
    assert prop(keys.find_child("poweroff"), "label") == string("off")  # copied verbatim
    pcie = root.find_child("pcie@10000000")
    assert prop(pcie, "msi-map") == u32(0, g + 1, 0, 0x10000)
    assert prop(pcie, "reg") == u64(0x40_1000_0000, 0x10000000)
    assert root.find_child("pmu") is None  # PMU off
    intc = root.find_child("intc@8000000")
    assert prop(intc, "phandle") == u32(g) and prop(intc, "#redistributor-regions") == u32(1)
    assert prop(intc, "reg") == u64(0x08000000, 0x10000, 0x080A0000, 0xF60000)
    assert intc is not None
    assert prop(intc.find_child("its@8080000"), "phandle") == u32(g + 1)
    cpus = root.find_child("cpus")
    assert cpus is not None
    assert [c.name for c in cpus.children] == ["cpu-map", "cpu@0", "cpu@1"]
    assert prop(cpus.children[1], "phandle") == u32(0x8002)
    assert prop(cpus.children[1], "compatible") == string("arm,arm-v8")


def test_replacements_with_options(tmp_path: Path) -> None:
    tpl = write(tmp_path, to_dtb(template_tree(), policy="libfdt-rw"))
    kernel = tmp_path / "k"
    kernel.write_bytes(bytes(56) + struct.pack("<I", 0x644D5241) + bytes(8))
    initrd = tmp_path / "i"
    initrd.write_bytes(b"INITRD CONTENT")
    b = build(["-smp", "sockets=2,cores=1,threads=2", "-M", "its=off", "-cpu", "pmu=on",
               "-kernel", "k", "-initrd", "i", "-append", "quiet",
               "-object", "rme-guest,measurement-log=on"],
              str(tpl), kernel=str(kernel), initrd=str(initrd))
    root = out_tree(b)
    g = 0x8000 + 4 + 1
    chosen = root.find_child("chosen")
    assert prop(chosen, "linux,initrd-start") == u64(0x44000000)
    assert prop(chosen, "linux,initrd-end") == u64(0x4400000E)
    assert prop(chosen, "bootargs") == string("quiet")
    rm = root.find_child("reserved-memory")
    assert rm is not None and [c.name for c in rm.children] == ["event-log@44300000"]
    assert root.find_child("pmu") is not None
    intc = root.find_child("intc@8000000")
    assert intc is not None and intc.children == []
    assert prop(root.find_child("pcie@10000000"), "msi-map") is None
    assert prop(root.find_child("pl061@9030000"), "phandle") == u32(g + 1)
    cpus = root.find_child("cpus")
    assert cpus is not None
    cmap = cpus.children[0]
    threads = [(s.name, t.name, prop(t, "cpu"))
               for s in cmap.children for c in s.children for k in c.children
               for t in k.children]
    assert threads == [("socket0", "thread0", u32(0x8004)), ("socket0", "thread1", u32(0x8003)),
                       ("socket1", "thread0", u32(0x8002)), ("socket1", "thread1", u32(0x8001))]


def test_absent_properties_are_not_added(tmp_path: Path) -> None:
    tree = template_tree()
    chosen = tree.find_child("chosen")
    assert chosen is not None
    chosen.properties = []
    b = build(["-append", "console=hvc0"], write(tmp_path, to_dtb(tree)))
    assert out_tree(b).find_child("chosen") == Node("chosen")


def test_fixed_totalsize_and_strings_kept(tmp_path: Path) -> None:
    tight = to_dtb(template_tree(), policy="libfdt-rw")
    padded = bytearray(tight + bytes(0x100000 - len(tight)))
    struct.pack_into(">I", padded, 4, 0x100000)
    b = build(["-smp", "3"], write(tmp_path, bytes(padded)))
    assert b.dtb is not None and len(b.dtb) == 0x100000
    assert struct.unpack_from(">I", b.dtb, 4)[0] == 0x100000
    strings = parse_dtb(b.dtb).strings_block
    old = parse_dtb(tight).strings_block
    assert strings.startswith(old) and strings[len(old):] == b"cpu\0enable-method\0"


def corrupt(tmp_path: Path, data: bytes) -> str:
    with pytest.raises(ParametersError) as exc:
        build([], write(tmp_path, data))
    return str(exc.value).removeprefix("Cannot build parameters: while generating DTB: ")


def test_rejected_templates(tmp_path: Path) -> None:
    good = to_dtb(template_tree())
    assert corrupt(tmp_path, b"\0" * 64) == "DTB: parsing: invalid magic: parsing: invalid magic"
    assert corrupt(tmp_path, good[:20]) == "DTB: I/O: I/O: failed to fill whole buffer"
    off = int.from_bytes(good[8:12], "big")
    # BEGIN_NODE "" takes 8 bytes; the root's first property (interrupt-parent, 16 bytes
    # with its u32 value) becomes four NOP tokens
    nop = bytearray(good)
    struct.pack_into(">4I", nop, off + 8, 4, 4, 4, 4)
    assert corrupt(tmp_path, bytes(nop)).startswith("DTB: unimplemented: NOP")
    shifted = bytearray(good)
    struct.pack_into(">I", shifted, 8, off + 8)  # off_dt_struct beyond the reservation map
    assert corrupt(tmp_path, bytes(shifted)) == (
        "DTB: unimplemented: struct padding 8: unimplemented: struct padding 8")
    small = bytearray(good + bytes(8))
    struct.pack_into(">I", small, 4, len(good) + 8)  # fixed size too small for 40 vCPUs
    with pytest.raises(ParametersError) as exc:
        build(["-smp", "40"], write(tmp_path, bytes(small)))
    assert str(exc.value).endswith("FDT writer: Output size larger than requested total size")
    bad = bytearray(good)
    struct.pack_into(">I", bad, off, 7)
    assert corrupt(tmp_path, bytes(bad)) == (
        "DTB: parsing: unexpected token 0x7: parsing: unexpected token 0x7")


def test_missing_template_file(tmp_path: Path) -> None:
    with pytest.raises(ParametersError) as exc:
        build([], str(tmp_path / "nope"))
    assert str(exc.value) == "Cannot build parameters: No such file or directory (os error 2)"
