"""``--dtb-template`` surgery for kvmtool (docs/vmm-kvmtool.md).

Follows the reference surgeon (src/dtb_surgeon.rs ``update_dtb`` and the kvmtool
``DTBSurgeon`` in src/kvmtool.rs): the template (e.g. ``lkvm --dump-dtb`` output) is
re-emitted node by node while the Realm-dependent parts are regenerated. Nodes are
matched by their *full* name (``cpus``, ``intc``, ``reserved-memory``, ``pmu``);
properties by the node's base name (``memory`` ``reg``; ``chosen`` ``bootargs`` and
initrd range). Properties absent from the template are never added. The template's
strings block is kept byte for byte; new names are appended in first-use order.
Header version fields and the reservation map are kept; a template whose
``totalsize`` exceeds its content keeps that size. What the reference refuses
(padding between blocks, NOP tokens outside replaced nodes) raises :class:`DtbError`
with the reference's wording.
"""

from __future__ import annotations

import struct

from rmtool.errors import DtbError
from rmtool.measure.dtb import fdt
from rmtool.measure.dtb.fdt import Node, Property, StringTable, string, u32, u64
from rmtool.measure.vmm._kvmtool_dtb import RAM_BASE, DtbFacts, add_intc, add_reserved_memory

HANDLED_NODES = ("cpus", "intc", "reserved-memory", "pmu")


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
    scratch = Node("")
    if name == "intc":
        add_intc(scratch, f)
    elif name == "reserved-memory" and f.log is not None:
        add_reserved_memory(scratch, f.log)
    return scratch.children[0] if scratch.children else None


def _initrd(f: DtbFacts) -> tuple[int, int]:
    if f.template_initrd is not None:
        return f.template_initrd
    return f.initrd if f.initrd is not None else (0, 0)


def _rewrite(node: Node, f: DtbFacts) -> Node | None:
    if node.name == "cpus":
        return _cpus(f)
    if node.name in ("intc", "reserved-memory"):
        return _regenerated(node.name, f)
    if node.name == "pmu" and not f.pmu:
        return None
    base = _base(node.name)
    out = Node(node.name)
    for p in node.properties:
        value = p.value
        if base == "memory" and p.name == "reg":
            value = u64(RAM_BASE, f.ram_size)
        elif base == "chosen" and p.name == "bootargs":
            value = string(f.bootargs)
        elif base == "chosen" and p.name == "linux,initrd-start":
            value = u64(_initrd(f)[0])
        elif base == "chosen" and p.name == "linux,initrd-end":
            value = u64(_initrd(f)[1])
        out.properties.append(Property(p.name, value))
    for c in node.children:
        new = _rewrite(c, f)
        if new is not None:
            out.children.append(new)
    return out


def _check_layout(template: bytes) -> tuple[int, int]:
    """The header checks of ``update_dtb``; returns (off_mem_rsvmap, totalsize to keep or
    0). Raises DtbError with the reference's message."""
    if len(template) < 4:
        raise DtbError("I/O", field="header", offset=0)
    if struct.unpack_from(">I", template, 0)[0] != fdt.FDT_MAGIC:  # read first
        raise DtbError("parsing: invalid magic", field="magic", offset=0)
    if len(template) < fdt.HEADER_SIZE:
        raise DtbError("I/O", field="header", offset=0)
    (_magic, total, off_struct, off_strings, off_rsv, _v, _lc, _b, size_strings,
     size_struct) = struct.unpack_from(">10I", template, 0)
    if off_rsv > len(template):  # input.get(off_mem_rsvmap..) is None
        raise DtbError("offset is out of bounds", field="off_mem_rsvmap", offset=16)
    entries: list[tuple[int, int]] = []
    pos = off_rsv
    while True:
        if pos + 16 > len(template):
            raise DtbError("I/O", field="mem_rsvmap", offset=pos)
        address, size = struct.unpack_from(">QQ", template, pos)
        pos += 16
        if address == 0 and size == 0:
            break
        if size == 0 or address + size >= 1 << 64:  # vm-fdt FdtReserveEntry::new
            raise DtbError("FDT writer", field="mem_rsvmap", offset=pos - 16)
        entries.append((address, size))
    # FdtWriter::new_with_mem_reserv_padding: 8-byte alignment, then no overlap
    if off_rsv < fdt.HEADER_SIZE or off_rsv % 8:
        raise DtbError("FDT writer", field="off_mem_rsvmap", offset=16)
    entries.sort()
    if any(a + n > b for (a, n), (b, _) in zip(entries, entries[1:], strict=False)):
        raise DtbError("FDT writer", field="mem_rsvmap", offset=off_rsv)
    # usize differences: a block placed too early wraps (release build)
    struct_padding = (off_struct - pos) % (1 << 64)
    if struct_padding:
        raise DtbError(f"unimplemented: struct padding {struct_padding}",
                       field="off_dt_struct", offset=8)
    strings_padding = (off_strings - (off_struct + size_struct)) % (1 << 64)
    if strings_padding:
        raise DtbError(f"unimplemented: strings padding {strings_padding}",
                       field="off_dt_strings", offset=12)
    content = off_strings + size_strings
    return off_rsv, total if content < total else 0


def _check_nops(template: bytes, off_struct: int, size_struct: int) -> None:
    """The reference copies no NOP token: one outside a replaced node is an error."""
    pos, end = off_struct, off_struct + size_struct
    depth_ignored = 0
    while pos + 4 <= end:
        tok = struct.unpack_from(">I", template, pos)[0]
        pos += 4
        if tok == fdt.FDT_BEGIN_NODE:
            nul = template.find(b"\0", pos, end)
            if nul < 0:
                return
            name = template[pos:nul].decode("utf-8", "replace")
            pos = nul + 1 + (-(nul + 1 - pos) % 4)
            if depth_ignored or name in HANDLED_NODES:
                depth_ignored += 1
        elif tok == fdt.FDT_END_NODE:
            depth_ignored = max(0, depth_ignored - 1)
        elif tok == fdt.FDT_PROP:
            if pos + 8 > end:
                return
            length = struct.unpack_from(">I", template, pos)[0]
            pos += 8 + length + (-length % 4)
        elif tok == fdt.FDT_NOP:
            if not depth_ignored:
                raise DtbError("unimplemented: NOP", field="token", offset=pos - 4)
        else:
            return


def apply_template(template: bytes, f: DtbFacts) -> bytes:
    """The template with the Realm-dependent parts regenerated (before 64 KiB padding)."""
    off_rsv, keep_total = _check_layout(template)
    parsed = fdt.parse_dtb(template)
    off_struct, size_struct = struct.unpack_from(">I", template, 8)[0], \
        struct.unpack_from(">I", template, 36)[0]
    _check_nops(template, off_struct, size_struct)
    root = _rewrite(parsed.root, f)
    assert root is not None
    table = StringTable("first-use", initial=parsed.strings_block,
                        initial_offsets=parsed.name_offsets)
    header = parsed.header
    # vm-fdt writes zero padding before the reservation map and re-encodes the map
    rsv = bytes(off_rsv - fdt.HEADER_SIZE) + header.mem_rsvmap[off_rsv - fdt.HEADER_SIZE:]
    header = fdt.Header(version=header.version, last_comp_version=header.last_comp_version,
                        boot_cpuid_phys=header.boot_cpuid_phys, mem_rsvmap=rsv)
    out = bytearray(fdt.to_dtb(root, table=table, header=header))
    struct.pack_into(">I", out, 16, off_rsv)
    if keep_total:
        if len(out) > keep_total:
            raise DtbError("FDT writer", field="totalsize", offset=4)
        struct.pack_into(">I", out, 4, keep_total)
        out += bytes(keep_total - len(out))
    return bytes(out)
