"""QEMU virt memory map and the reference tool's QEMU DTB (``src/qemu.rs``;
QEMU ``hw/arm/virt.c``; docs/vmm-qemu.md).

* :func:`memory_map` places the floating high regions (redistributors, PCIe ECAM,
  PCIe MMIO) above RAM and hotplug memory and derives the IPA width (QEMU ``virt_set_memmap``).
* :func:`generate_dtb` emits the DTB of the reference generator (vm-fdt: first-use
  strings table, no suffix sharing, tight, no padding) node by node as the reference's
  ``gen_dtb``.
* :func:`apply_template` re-emits a template DTB (e.g. ``-M dumpdtb=`` output) token by
  token with the replacements of the reference's QEMU ``DTBSurgeon``, mirroring the
  reference's DTB surgeon (``src/dtb_surgeon.rs``) on top of its vm-fdt fork (template
  strings block kept, new names appended, fixed totalsize kept and zero filled,
  name/phandle validation).

Both paths use :class:`VmFdtWriter`, a streaming writer with vm-fdt's byte conventions
and error texts, so that a template error reads as the reference prints it
(``while generating DTB: DTB: ...``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rmtool.errors import ParametersError
from rmtool.measure.dtb.fdt import Node, strings, u32, u64, unit_name
from rmtool.measure.dtb.fdt import string as dt_string
from rmtool.measure.vmm.common import add_cpus_and_psci

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
U64 = (1 << 64) - 1

GIC_DIST_BASE, GIC_DIST_SIZE = 0x08000000, 0x00010000
GIC_ITS_BASE, GIC_ITS_SIZE = 0x08080000, 0x00020000
GIC_REDIST_BASE, GIC_REDIST_SIZE = 0x080A0000, 0x00F60000
UART_BASE, UART_SIZE = 0x09000000, 0x1000
RTC_BASE, RTC_SIZE = 0x09010000, 0x1000
FW_CFG_BASE, FW_CFG_SIZE = 0x09020000, 0x18
VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE, VIRTIO_MMIO_COUNT = 0x0A000000, 0x200, 32
PLATFORM_BUS_BASE, PLATFORM_BUS_SIZE = 0x0C000000, 0x02000000
PCI_MMIO_BASE, PCI_MMIO_SIZE = 0x10000000, 0x2EFF0000
PCI_IOPORT_BASE, PCI_IOPORT_SIZE = 0x3EFF0000, 0x10000
RAM_BASE = 0x40000000
HIGH_REDIST_MIN_BASE = 256 * GIB
HIGH_REDIST_SIZE = 64 * MIB
HIGH_PCI_CFG_SIZE = 256 * MIB
HIGH_PCI_MMIO_SIZE = 512 * GIB
BASE_PHANDLE = 0x8000  # apb-pclk; CPUs, GIC, ITS, GPIO follow
REDIST_PER_REGION = GIC_REDIST_SIZE // 0x20000  # 123 redistributors in the low region

SPI_UART, SPI_RTC, SPI_PCIE, SPI_MMIO = 1, 2, 3, 16
PPI_PMU = 7
IRQ_SPI, IRQ_PPI = 0, 1
IRQ_EDGE_LO_HI, IRQ_LEVEL_HI = 1, 4
PCI_RANGE_IOPORT, PCI_RANGE_MMIO, PCI_RANGE_MMIO_64BIT = 0x01000000, 0x02000000, 0x03000000

MAX_TEMPLATE_SIZE = 64 << 20


def _align_up(value: int, align: int) -> int:
    """Rust ``(n + a - 1) & !(a - 1)`` on u64 (wraps like the reference release build)."""
    return ((value + align - 1) & U64) & ~(align - 1) & U64


# --------------------------------------------------------------------------- memory map

@dataclass(frozen=True)
class MemoryMap:
    ram_size: int
    high_redist_base: int
    high_pci_cfg_base: int
    high_pci_mmio_base: int
    ipa_bits: int  # minimum Realm IPA width the map needs (before host restriction)


def memory_map(size: int, max_size: int | None = None, slots: int | None = None) -> MemoryMap:
    """Floating high regions above RAM + hotplug memory (QEMU ``virt_set_memmap``)."""
    hotplug_base = _align_up(RAM_BASE + size, GIB)
    hotplug_size = ((max_size if max_size is not None else size) - size
                    + (slots or 0) * GIB) & U64
    addr = (hotplug_base + _align_up(hotplug_size, GIB)) & U64
    if addr < HIGH_REDIST_MIN_BASE:
        addr = HIGH_REDIST_MIN_BASE
    redist = _align_up(addr, HIGH_REDIST_SIZE)
    addr = (addr + HIGH_REDIST_SIZE) & U64
    cfg = _align_up(addr, HIGH_PCI_CFG_SIZE)
    addr = (addr + HIGH_PCI_CFG_SIZE) & U64
    mmio = _align_up(addr, HIGH_PCI_MMIO_SIZE)
    addr = (addr + HIGH_PCI_MMIO_SIZE) & U64
    if addr == 0:
        raise ParametersError("unexpected failure counting IPA bits")
    # bits of the highest address, x2 for the Realm's upper (shared) half
    return MemoryMap(size, redist, cfg, mmio, addr.bit_length() - 1 + 2)


# --------------------------------------------------------------------------- facts

@dataclass(frozen=True)
class QemuDtbFacts:
    """What the generated (or patched) DTB depends on."""

    cpus: int
    ram_size: int
    high_redist_base: int
    high_pci_cfg_base: int
    high_pci_mmio_base: int
    its: bool = True
    pmu: bool = False
    bootargs: str | None = None
    initrd: tuple[int, int] | None = None  # (start, size)
    log: tuple[int, int] | None = None  # (base, size)
    # -smp topology, only used by template mode (cpu-map)
    sockets: int = 1
    clusters: int = 1
    cores: int = 1
    threads: int = 1

    @property
    def gic_phandle(self) -> int:
        return BASE_PHANDLE + self.cpus + 1

    @property
    def its_phandle(self) -> int:
        return self.gic_phandle + 1

    @property
    def gpio_phandle(self) -> int:
        return self.its_phandle + 1 if self.its else self.gic_phandle + 1

    @property
    def redist_regions(self) -> int:
        return 2 if self.cpus > REDIST_PER_REGION else 1

    def gic_regs(self) -> list[int]:
        regs = [GIC_DIST_BASE, GIC_DIST_SIZE, GIC_REDIST_BASE, GIC_REDIST_SIZE]
        if self.redist_regions == 2:
            regs += [self.high_redist_base, HIGH_REDIST_SIZE]
        return regs


# --------------------------------------------------------------------------- writer

class DtbSurgeryError(ParametersError):
    """A template / writer failure, worded as the reference's anyhow chain."""


def _chain(*parts: str) -> DtbSurgeryError:
    return DtbSurgeryError("while generating DTB: " + ": ".join(parts))


def _fdt_writer_error(msg: str) -> DtbSurgeryError:
    return _chain("DTB: FDT writer", "FDT writer", msg)


def _parse_error(msg: str) -> DtbSurgeryError:
    return _chain(f"DTB: parsing: {msg}", f"parsing: {msg}")


def _unimplemented(msg: str) -> DtbSurgeryError:
    return _chain(f"DTB: unimplemented: {msg}", f"unimplemented: {msg}")


def _out_of_bounds() -> DtbSurgeryError:
    return _chain("DTB: offset is out of bounds", "offset is out of bounds")


def _eof() -> DtbSurgeryError:
    return _chain("DTB: I/O", "I/O", "failed to fill whole buffer")


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-")
_PROP_CHARS = _NAME_CHARS | {"?", "#"}
NAME_MAX_LEN = 31
MAX_NODE_DEPTH = 64


def node_name_valid(name: str) -> bool:
    """vm-fdt ``node_name_valid`` (the empty root name is accepted)."""
    if name == "":
        return True
    parts = name.split("@")
    if len(parts) > 2:
        return False
    base = parts[0]
    if not base or len(base) > NAME_MAX_LEN or not ("a" <= base[0].lower() <= "z"):
        return False
    if any(c not in _NAME_CHARS for c in base):
        return False
    return len(parts) == 1 or all(c in _NAME_CHARS for c in parts[1])


def property_name_valid(name: str) -> bool:
    return 0 < len(name) <= NAME_MAX_LEN and all(c in _PROP_CHARS for c in name)


class VmFdtWriter:
    """Streaming FDT writer with the byte conventions and checks of the vm-fdt fork
    the reference uses (header, reservation map, first-use strings, 4-byte padding)."""

    def __init__(self, reservations: list[tuple[int, int]] | None = None,
                 rsvmap_padding: int = 0) -> None:
        self.data = bytearray(40)
        self.version, self.last_comp_version, self.boot_cpuid_phys = 17, 16, 0
        self.strings = bytearray()
        self.string_offsets: dict[bytes, int] = {}
        self.depth = 0
        self.node_ended = False
        self.phandles: set[int] = set()
        self.total_size: int | None = None
        rsv = reservations or []
        if rsvmap_padding:
            self.data += bytes(rsvmap_padding)
            if len(self.data) % 8:
                raise _fdt_writer_error("Memory reservation must be aligned on 8 bytes")
        self.off_mem_rsvmap = len(self.data)
        ordered = sorted(rsv)
        if any(a[0] + a[1] > b[0] for a, b in zip(ordered, ordered[1:], strict=False)):
            raise _fdt_writer_error("Memory reservations are overlapping")
        for address, size in rsv:
            self.data += struct.pack(">QQ", address, size)
        self.data += bytes(16)
        self.off_dt_struct = len(self.data)

    def add_strings(self, block: bytes, offsets: dict[bytes, int]) -> None:
        self.strings += block
        self.string_offsets.update(offsets)

    def _pad4(self) -> None:
        self.data += bytes(-len(self.data) % 4)

    def begin_node(self, name: str) -> int:
        if self.depth >= MAX_NODE_DEPTH:
            raise _fdt_writer_error("Node depth exceeds FDT_MAX_NODE_DEPTH")
        if not node_name_valid(name):
            raise _fdt_writer_error("Invalid node name")
        self.data += struct.pack(">I", 1) + name.encode() + b"\0"
        self._pad4()
        self.depth += 1
        self.node_ended = False
        return self.depth

    def end_node(self, handle: int) -> None:
        if handle != self.depth:
            raise _fdt_writer_error("Attempted to end a node that was not the most recent")
        self.data += struct.pack(">I", 2)
        self.depth -= 1
        self.node_ended = True

    def _intern(self, name: bytes) -> int:
        off = self.string_offsets.get(name)
        if off is None:
            off = len(self.strings)
            self.strings += name + b"\0"
            self.string_offsets[name] = off
        return off

    def property(self, name: str, value: bytes) -> None:
        if self.node_ended:
            raise _fdt_writer_error("Properties may not be added after a node has been ended")
        if self.depth == 0:
            raise _fdt_writer_error("Properties may not be added before beginning a node")
        if not property_name_valid(name):
            raise _fdt_writer_error("Invalid property name")
        off = self._intern(name.encode())
        self.data += struct.pack(">III", 3, len(value), off) + value
        self._pad4()

    def phandle(self, value: int) -> None:
        if value in self.phandles:
            raise _fdt_writer_error("Duplicate phandle value")
        self.phandles.add(value)
        self.property("phandle", u32(value))

    def emit(self, node: Node) -> None:
        """Write a whole subtree (``phandle`` properties go through the uniqueness check)."""
        handle = self.begin_node(node.name)
        for p in node.properties:
            if p.name == "phandle" and len(p.value) == 4:
                self.phandle(int.from_bytes(p.value, "big"))
            else:
                self.property(p.name, p.value)
        for c in node.children:
            self.emit(c)
        self.end_node(handle)

    def finish(self) -> bytes:
        if self.depth:
            raise _fdt_writer_error("Attempted to call finish without ending all nodes")
        self.data += struct.pack(">I", 9)
        size_struct = len(self.data) - self.off_dt_struct
        off_strings = len(self.data)
        total = off_strings + len(self.strings)
        if self.total_size is not None:
            if self.total_size < total:
                raise _fdt_writer_error("Output size larger than requested total size")
            total = self.total_size
        struct.pack_into(">10I", self.data, 0, 0xD00DFEED, total, self.off_dt_struct,
                         off_strings, self.off_mem_rsvmap, self.version,
                         self.last_comp_version, self.boot_cpuid_phys, len(self.strings),
                         size_struct)
        out = bytes(self.data) + bytes(self.strings)
        return out + bytes(total - len(out))


# --------------------------------------------------------------------------- nodes

def _hi(v: int) -> int:
    return (v >> 32) & 0xFFFFFFFF


def _lo(v: int) -> int:
    return v & 0xFFFFFFFF


def pcie_interrupt_map(f: QemuDtbFacts) -> bytes:
    cells: list[int] = []
    for dev in range(4):
        for pin in range(4):
            cells += [(dev << 3) << 8, 0, 0, pin + 1, f.gic_phandle, 0, 0,
                      IRQ_SPI, SPI_PCIE + (pin + dev) % 4, IRQ_LEVEL_HI]
    return u32(*cells)


def pcie_ranges(f: QemuDtbFacts) -> bytes:
    hm = f.high_pci_mmio_base
    return u32(PCI_RANGE_IOPORT, 0, 0, 0, PCI_IOPORT_BASE, 0, PCI_IOPORT_SIZE,
               PCI_RANGE_MMIO, 0, PCI_MMIO_BASE, 0, PCI_MMIO_BASE, 0, PCI_MMIO_SIZE,
               PCI_RANGE_MMIO_64BIT, _hi(hm), _lo(hm), _hi(hm), _lo(hm),
               _hi(HIGH_PCI_MMIO_SIZE), _lo(HIGH_PCI_MMIO_SIZE))


def pcie_reg(f: QemuDtbFacts) -> bytes:
    return u64(f.high_pci_cfg_base, HIGH_PCI_CFG_SIZE)


def msi_map(f: QemuDtbFacts) -> bytes:
    return u32(0, f.its_phandle, 0, 0x10000)


def reserved_memory_node(log: tuple[int, int]) -> Node:
    node = Node("reserved-memory")
    node.prop("ranges").prop("#size-cells", u32(2)).prop("#address-cells", u32(2))
    base, size = log
    node.child(unit_name("event-log", base)).prop("reg", u64(base, size)).prop(
        "compatible", dt_string("cc-event-log"))
    return node


def generate_tree(f: QemuDtbFacts) -> Node:
    """The reference generator's tree (``gen_dtb``), nodes and properties in order."""
    root = Node("")
    root.prop("compatible", dt_string("linux,dummy-virt"))
    root.prop("model", dt_string("linux,dummy-virt-realm"))
    root.prop("#address-cells", u32(2)).prop("#size-cells", u32(2))
    root.prop("interrupt-parent", u32(f.gic_phandle))
    chosen = root.child("chosen")
    if f.bootargs is not None:
        chosen.prop("bootargs", dt_string(f.bootargs))
    if f.initrd is not None:
        start, size = f.initrd
        chosen.prop("linux,initrd-start", u64(start))
        chosen.prop("linux,initrd-end", u64((start + size) & U64))
    mem = root.child(unit_name("memory", RAM_BASE))
    mem.prop("device_type", dt_string("memory")).prop("reg", u64(RAM_BASE, f.ram_size))
    add_cpus_and_psci(root, f.cpus)
    bus = root.child(unit_name("platform-bus", PLATFORM_BUS_BASE))
    bus.prop("interrupt-parent", u32(f.gic_phandle))
    bus.prop("ranges", u32(0, 0, PLATFORM_BUS_BASE, PLATFORM_BUS_SIZE))
    bus.prop("#address-cells", u32(1)).prop("#size-cells", u32(1))
    bus.prop("compatible", strings("qemu,platform", "simple-bus"))
    if f.log is not None:
        root.children.append(reserved_memory_node(f.log))
    fw = root.child(unit_name("fw-cfg", FW_CFG_BASE))
    fw.prop("dma-coherent").prop("reg", u64(FW_CFG_BASE, FW_CFG_SIZE))
    fw.prop("compatible", dt_string("qemu,fw-cfg-mmio"))
    for i in range(VIRTIO_MMIO_COUNT):
        addr = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE
        v = root.child(unit_name("virtio_mmio", addr))
        v.prop("dma-coherent").prop("interrupts", u32(IRQ_SPI, SPI_MMIO + i, IRQ_EDGE_LO_HI))
        v.prop("reg", u64(addr, VIRTIO_MMIO_SIZE)).prop("compatible", dt_string("virtio,mmio"))
    pcie = root.child(unit_name("pcie", PCI_MMIO_BASE))
    pcie.prop("interrupt-map", pcie_interrupt_map(f))
    pcie.prop("interrupt-map-mask", u32(0x1800, 0, 0, 7)).prop("#interrupt-cells", u32(1))
    pcie.prop("ranges", pcie_ranges(f)).prop("reg", pcie_reg(f))
    if f.its:
        pcie.prop("msi-map", msi_map(f))
    pcie.prop("dma-coherent").prop("bus-range", u32(0, 0xFF))
    pcie.prop("linux,pci-domain", u32(0)).prop("#size-cells", u32(2))
    pcie.prop("#address-cells", u32(3)).prop("device_type", dt_string("pci"))
    pcie.prop("compatible", dt_string("pci-host-ecam-generic"))
    rtc = root.child(unit_name("pl031", RTC_BASE))
    rtc.prop("clock-names", dt_string("apb_pclk")).prop("reg", u64(RTC_BASE, RTC_SIZE))
    rtc.prop("clocks", u32(BASE_PHANDLE)).prop("interrupts", u32(IRQ_SPI, SPI_RTC, IRQ_LEVEL_HI))
    rtc.prop("compatible", strings("arm,pl031", "arm,primecell"))
    uart = root.child(unit_name("pl011", UART_BASE))
    uart.prop("clock-names", strings("uartclk", "apb_pclk"))
    uart.prop("reg", u64(UART_BASE, UART_SIZE))
    uart.prop("clocks", u32(BASE_PHANDLE, BASE_PHANDLE))
    uart.prop("interrupts", u32(IRQ_SPI, SPI_UART, IRQ_LEVEL_HI))
    uart.prop("compatible", strings("arm,pl011", "arm,primecell"))
    if f.pmu:
        pmu = root.child("pmu")
        pmu.prop("interrupts", u32(IRQ_PPI, PPI_PMU, IRQ_LEVEL_HI))
        pmu.prop("compatible", dt_string("arm,armv8-pmuv3"))
    gic = root.child(unit_name("intc", GIC_DIST_BASE))
    gic.prop("phandle", u32(f.gic_phandle)).prop("reg", u64(*f.gic_regs()))
    gic.prop("#redistributor-regions", u32(f.redist_regions))
    gic.prop("compatible", dt_string("arm,gic-v3")).prop("ranges")
    gic.prop("#size-cells", u32(2)).prop("#address-cells", u32(2))
    gic.prop("interrupt-controller").prop("#interrupt-cells", u32(3))
    if f.its:
        its = gic.child(unit_name("its", GIC_ITS_BASE))
        its.prop("phandle", u32(f.its_phandle)).prop("reg", u64(GIC_ITS_BASE, GIC_ITS_SIZE))
        its.prop("#msi-cells", u32(1)).prop("msi-controller")
        its.prop("compatible", dt_string("arm,gic-v3-its"))
    timer = root.child("timer")
    timer.prop("interrupts", u32(*[c for irq in (13, 14, 11)
                                   for c in (IRQ_PPI, irq, IRQ_LEVEL_HI)]))
    timer.prop("always-on").prop("compatible", strings("arm,armv8-timer", "arm,armv7-timer"))
    clk = root.child("apb-pclk")
    clk.prop("phandle", u32(BASE_PHANDLE)).prop("clock-output-names", dt_string("clk24mhz"))
    clk.prop("clock-frequency", u32(24000000)).prop("#clock-cells", u32(0))
    clk.prop("compatible", dt_string("fixed-clock"))
    return root


def generate_dtb(f: QemuDtbFacts) -> bytes:
    """The reference tool's QEMU DTB: tight, unpadded."""
    w = VmFdtWriter()
    w.emit(generate_tree(f))
    return w.finish()


# --------------------------------------------------------------------------- template

def cpus_node(f: QemuDtbFacts) -> Node:
    """Template mode ``cpus``: cpu-map (socket/cluster/core[/thread]) then ``cpu@<i>``
    with phandles 0x8000+n down to 0x8001 (QEMU allocates them in reverse)."""
    node = Node("cpus")
    node.prop("#size-cells", u32(0)).prop("#address-cells", u32(1))
    cmap = node.child("cpu-map")
    phandle = BASE_PHANDLE + f.cpus
    for s in range(f.sockets):
        socket = cmap.child(f"socket{s}")
        for c in range(f.clusters):
            cluster = socket.child(f"cluster{c}")
            for k in range(f.cores):
                core = cluster.child(f"core{k}")
                if f.threads > 1:
                    for t in range(f.threads):
                        core.child(f"thread{t}").prop("cpu", u32(phandle))
                        phandle -= 1
                else:
                    core.prop("cpu", u32(phandle))
                    phandle -= 1
    for i in range(f.cpus):
        cpu = node.child(f"cpu@{i}")
        cpu.prop("phandle", u32(BASE_PHANDLE + f.cpus - i)).prop("reg", u32(i))
        cpu.prop("enable-method", dt_string("psci")).prop("compatible", dt_string("arm,arm-v8"))
        cpu.prop("device_type", dt_string("cpu"))
    return node


def _handle_node(w: VmFdtWriter, name: str, f: QemuDtbFacts) -> bool:
    """Replace or drop a template node; True when the template's node is skipped."""
    if name == "cpus":
        w.emit(cpus_node(f))
        return True
    if name == "reserved-memory":
        if f.log is not None:
            w.emit(reserved_memory_node(f.log))
        return True
    if name == unit_name("its", GIC_ITS_BASE):
        return not f.its
    if name == "pmu":
        return not f.pmu
    return False


def _handle_property(w: VmFdtWriter, node: str, prop: str, f: QemuDtbFacts) -> bool:
    """Rewrite or drop a template property; True when the template's value is skipped."""
    if prop == "interrupt-parent":
        w.property(prop, u32(f.gic_phandle))
        return True
    if node == unit_name("intc", GIC_DIST_BASE):
        if prop == "reg":
            w.property(prop, u64(*f.gic_regs()))
            return True
        if prop == "phandle":
            w.phandle(f.gic_phandle)
            return True
        if prop == "#redistributor-regions":
            w.property(prop, u32(f.redist_regions))
            return True
    elif node == unit_name("its", GIC_ITS_BASE):
        if prop == "phandle":
            w.phandle(f.its_phandle)
            return True
    elif node == unit_name("pcie", PCI_MMIO_BASE):
        if prop == "interrupt-map":
            w.property(prop, pcie_interrupt_map(f))
            return True
        if prop == "msi-map":
            if f.its:
                w.property(prop, msi_map(f))
            return True
        if prop == "ranges":
            w.property(prop, pcie_ranges(f))
            return True
        if prop == "reg":
            w.property(prop, pcie_reg(f))
            return True
    elif node == "pl061@9030000":
        if prop == "phandle":
            w.phandle(f.gpio_phandle)
            return True
    elif node == "poweroff":
        if prop == "gpios":
            w.property(prop, u32(f.gpio_phandle, 3, 0))
            return True
    base = node.split("@", 1)[0]
    if base == "memory" and prop == "reg":
        w.property(prop, u64(RAM_BASE, f.ram_size))
        return True
    if base == "chosen":
        if prop == "linux,initrd-start":
            if f.initrd is not None:
                w.property(prop, u64(f.initrd[0]))
            return True
        if prop == "linux,initrd-end":
            if f.initrd is not None:
                w.property(prop, u64((f.initrd[0] + f.initrd[1]) & U64))
            return True
        if prop == "bootargs":
            if f.bootargs is not None:
                w.property(prop, dt_string(f.bootargs))
            return True
    return False


class _Reader:
    """Big-endian reads from a slice of the template, EOF as the reference's I/O error."""

    def __init__(self, data: bytes, pos: int) -> None:
        if pos > len(data):
            raise _out_of_bounds()
        self.data, self.pos = data, pos

    def u32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise _eof()
        (v,) = struct.unpack_from(">I", self.data, self.pos)
        self.pos += 4
        return int(v)

    def u64(self) -> int:
        if self.pos + 8 > len(self.data):
            raise _eof()
        (v,) = struct.unpack_from(">Q", self.data, self.pos)
        self.pos += 8
        return int(v)

    def until_nul(self) -> bytes:
        """``read_until(0)``: bytes up to and including the NUL (or to the end)."""
        end = self.data.find(b"\0", self.pos)
        end = len(self.data) if end < 0 else end + 1
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def skip_padding(self, consumed: int) -> None:
        rem = consumed % 4
        if rem:
            if self.pos + 4 - rem > len(self.data):
                raise _out_of_bounds()
            self.pos += 4 - rem


def _cstr(raw: bytes) -> str:
    try:
        return raw[:-1].decode("utf-8")
    except UnicodeDecodeError:
        raise _chain("DTB: invalid name encoding", "invalid name encoding") from None


Token = tuple[str, str, bytes]  # (kind, name, value)


def _parse_template(data: bytes) -> tuple[VmFdtWriter, list[Token]]:
    """Header, reservation map and token stream, with the reference's checks in order."""
    if len(data) > MAX_TEMPLATE_SIZE:
        raise _parse_error(f"template larger than {MAX_TEMPLATE_SIZE} bytes")
    hdr = _Reader(data, 0)
    if hdr.u32() != 0xD00DFEED:
        raise _parse_error("invalid magic")
    (totalsize, off_struct, off_strings, off_rsv, version, last_comp, boot_cpuid,
     size_strings, size_struct) = (hdr.u32() for _ in range(9))
    rsv = _Reader(data, off_rsv)
    reservations: list[tuple[int, int]] = []
    while True:
        address, size = rsv.u64(), rsv.u64()
        if address == 0 and size == 0:
            break
        if size == 0 or address + size > U64:
            raise _fdt_writer_error("Memory reservation is invalid")
        reservations.append((address, size))
    if off_rsv < 40:
        raise _unimplemented(f"memory reservation map at {off_rsv:#x} inside the header")
    rsvmap_padding = off_rsv - 40
    w = VmFdtWriter(reservations, rsvmap_padding)
    w.version, w.last_comp_version, w.boot_cpuid_phys = version, last_comp, boot_cpuid
    rsvmap_size = len(reservations) * 16 + 16
    struct_padding = (off_struct - (off_rsv + rsvmap_size)) & U64
    if struct_padding:
        raise _unimplemented(f"struct padding {struct_padding}")
    strings_padding = (off_strings - (off_struct + size_struct)) & U64
    if strings_padding:
        raise _unimplemented(f"strings padding {strings_padding}")
    if off_strings + size_strings < totalsize:
        if totalsize > MAX_TEMPLATE_SIZE:  # the output is padded to it: bound the allocation
            raise DtbSurgeryError(f"while generating DTB: DTB: parsing: totalsize {totalsize} "
                                  f"exceeds the {MAX_TEMPLATE_SIZE}-byte template limit",
                                  field="totalsize", offset=4)
        w.total_size = totalsize

    offsets: dict[bytes, int] = {}
    tokens: list[Token] = []
    rd = _Reader(data, off_struct)
    while True:
        tok = rd.u32()
        if tok == 1:
            raw = rd.until_nul()
            if not raw:
                raise _parse_error("unexpected empty node name")
            tokens.append(("begin", _cstr(raw), b""))
            rd.skip_padding(len(raw))
        elif tok == 2:
            tokens.append(("end", "", b""))
        elif tok == 3:
            length, nameoff = rd.u32(), rd.u32()
            nrd = _Reader(data, off_strings + nameoff)
            raw = nrd.until_nul()
            if not raw:
                raise _out_of_bounds()
            name = _cstr(raw)
            if rd.pos + length > len(data):
                raise _out_of_bounds()
            tokens.append(("prop", name, bytes(data[rd.pos:rd.pos + length])))
            offsets[raw[:-1]] = nameoff
            rd.pos += length
            rd.skip_padding(length)
        elif tok == 4:
            tokens.append(("nop", "", b""))
        elif tok == 9:
            break
        else:
            raise _parse_error(f"unexpected token 0x{tok:x}")

    srd = _Reader(data, off_strings)
    consumed = 0
    while True:
        raw = srd.until_nul()
        if not raw:
            raise _out_of_bounds()
        consumed += len(raw)
        if consumed == size_strings:
            break
        if consumed > size_strings:
            raise _parse_error("strings block does not end with a NUL-terminated name")
    w.add_strings(bytes(data[off_strings:off_strings + size_strings]), offsets)
    return w, tokens


def apply_template(template: bytes, f: QemuDtbFacts) -> bytes:
    """``--dtb-template``: re-emit the template with the Realm-dependent parts
    regenerated (``src/dtb_surgeon.rs``); properties absent from the template are never added."""
    w, tokens = _parse_template(template)
    open_nodes: list[int] = []
    ignore = 0
    current: str | None = None
    for kind, name, value in tokens:
        if kind == "begin":
            if ignore:
                ignore += 1
            elif _handle_node(w, name, f):
                ignore += 1
            else:
                open_nodes.append(w.begin_node(name))
                current = name
        elif kind == "end":
            if ignore:
                ignore -= 1
                continue
            if not open_nodes:
                raise _parse_error("unexpected end node")
            w.end_node(open_nodes.pop())
        elif kind == "prop":
            if ignore:
                continue
            if current is None:
                raise _parse_error("unexpected property")
            if not _handle_property(w, current, name, f):
                w.property(name, value)
        elif not ignore:  # NOP outside a dropped node
            raise _unimplemented("NOP")
    return w.finish()
