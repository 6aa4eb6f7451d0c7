"""``--dtb-template`` surgery for kvmtool (spec/vmm-kvmtool.md §7).

The template (e.g. ``lkvm --dump-dtb`` output) is re-emitted node by node while the
Realm-dependent parts are regenerated: ``cpus``, ``intc`` (+ ITS), ``reserved-memory``
(event log), ``pmu``; ``memory`` ``reg``; ``chosen`` ``bootargs`` and initrd range.
Properties absent from the template are never added. The template's strings block is
kept byte for byte; new names are appended in first-use order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rmtool.measure.dtb import fdt
from rmtool.measure.dtb.fdt import Node, Property, StringTable, string, u32, u64

if TYPE_CHECKING:
    from rmtool.measure.vmm.kvmtool import DtbFacts


def _base(name: str) -> str:
    return name.split("@", 1)[0]


def _cpus(f: DtbFacts) -> Node:
    cpus = Node("cpus")
    cpus.prop("#address-cells", u32(1)).prop("#size-cells", u32(0))
    for i in range(f.cpus):
        cpu = cpus.child(f"cpu@{i}")
        cpu.prop("device_type", string("cpu")).prop("compatible", string("arm,arm-v8"))
        cpu.prop("enable-method", string("psci")).prop("reg", u32(i))
    return cpus


def _regenerated(name: str, f: DtbFacts) -> Node | None:
    from rmtool.measure.vmm.kvmtool import RAM_BASE, _intc, _reserved_memory

    scratch = Node("")
    if name == "intc":
        _intc(scratch, f)
    elif name == "reserved-memory" and f.log is not None:
        _reserved_memory(scratch, f.log)
    del RAM_BASE
    return scratch.children[0] if scratch.children else None


def _rewrite(node: Node, f: DtbFacts) -> Node | None:
    from rmtool.measure.vmm.kvmtool import RAM_BASE

    base = _base(node.name)
    if base == "cpus":
        return _cpus(f)
    if base in ("intc", "reserved-memory"):
        return _regenerated(base, f)
    if base == "pmu" and not f.pmu:
        return None
    out = Node(node.name)
    for p in node.properties:
        value = p.value
        if base.startswith("memory") and p.name == "reg":
            value = u64(RAM_BASE, f.ram_size)
        elif base == "chosen" and p.name == "bootargs":
            value = string(f.bootargs)
        elif base == "chosen" and p.name == "linux,initrd-start":
            value = u64(f.initrd[0] if f.initrd else 0)
        elif base == "chosen" and p.name == "linux,initrd-end":
            value = u64(f.initrd[1] if f.initrd else 0)
        out.properties.append(Property(p.name, value))
    for c in node.children:
        new = _rewrite(c, f)
        if new is not None:
            out.children.append(new)
    return out


def apply_template(template: bytes, f: DtbFacts) -> bytes:
    """Tight DTB: the template with the Realm-dependent parts regenerated."""
    parsed = fdt.parse_dtb(template)
    root = _rewrite(parsed.root, f)
    assert root is not None
    table = StringTable("first-use", initial=parsed.strings_block,
                        initial_offsets=parsed.name_offsets)
    return fdt.to_dtb(root, table=table, header=parsed.header)
