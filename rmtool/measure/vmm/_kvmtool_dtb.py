"""kvmtool's generated DTB: the memory-map constants, the facts it depends on and the
node builders that both the generator and the ``--dtb-template`` surgery
(:mod:`rmtool.measure.vmm._kvmtool_template`) use.

Follows the reference tool's kvmtool generator (cca-realm-measurements
``src/kvmtool.rs``: the ``KVMTOOL_*`` constants, ``gen_dtb`` and ``resize_dtb``), itself
modelled on kvmtool's ``arm/fdt.c``; docs/vmm-kvmtool.md lists where rmtool differs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rmtool.errors import ParametersError
from rmtool.measure.dtb import fdt
from rmtool.measure.dtb.fdt import NULL, Node, string, strings, u32, u64
from rmtool.measure.vmm.common import add_cpus_and_psci, align_up, dummy_virt_root

# the guest memory map (reference ``KVMTOOL_*`` constants)
RAM_BASE = 0x80000000
UART_BASE = 0x01000000
RTC_BASE = 0x01010000
VIRTIO_MMIO_BASE = 0x03000000
VIRTIO_MMIO_SIZE = 0x200
GIC_DIST_BASE = 0x3FFF0000
GIC_DIST_SIZE = 0x10000
GIC_REDIST_SIZE = 0x20000
GIC_ITS_SIZE = 0x20000
PCI_ECAM_BASE = 0x40000000
PCI_ECAM_SIZE = 0x10000000
PCI_MMIO_BASE = 0x50000000
PCI_MMIO_SIZE = 0x30000000
DTB_SIZE = 0x10000  # kvmtool pads its DTB to 64 KiB
BOOTARGS_PREFIX = " console=hvc0 root=/dev/vda rw "
PHANDLE_GIC = 1
PHANDLE_ITS = 2


@dataclass(frozen=True)
class DtbFacts:
    """Everything the generated DTB depends on."""

    cpus: int
    ram_size: int
    bootargs: str
    initrd: tuple[int, int] | None  # (start, end)
    its: bool
    pmu: bool
    log: tuple[int, int] | None
    virtio_mmio: int
    # --dtb-template only: (start, end) written into existing initrd properties. The
    # reference surgeon always reports an initrd: (0, 0) without -i, (base, base) for an
    # empty file (src/kvmtool.rs ``initrd()``); None = use ``initrd`` or (0, 0).
    template_initrd: tuple[int, int] | None = None


def bootargs(params: str | None) -> str:
    """Reference ``set_bootargs``: the prefix is always there; ``-p`` is appended after
    one more space."""
    return BOOTARGS_PREFIX + (" " + params if params else "")


def add_intc(root: Node, f: DtbFacts) -> None:
    """The ``intc`` node (GICv3, and its ITS ``msic`` child when ``f.its``)."""
    redist = GIC_DIST_BASE - f.cpus * GIC_REDIST_SIZE
    intc = root.child("intc")
    intc.prop("compatible", string("arm,gic-v3")).prop("#interrupt-cells", u32(3))
    intc.prop("interrupt-controller", NULL)
    intc.prop("reg", u64(GIC_DIST_BASE, GIC_DIST_SIZE, redist, f.cpus * GIC_REDIST_SIZE))
    intc.prop("phandle", u32(PHANDLE_GIC)).prop("#address-cells", u32(2))
    intc.prop("#size-cells", u32(2)).prop("ranges", NULL)
    if f.its:
        its = intc.child("msic")
        its.prop("compatible", string("arm,gic-v3-its")).prop("msi-controller", NULL)
        its.prop("phandle", u32(PHANDLE_ITS))
        its.prop("reg", u64(redist - GIC_ITS_SIZE, GIC_ITS_SIZE))


def add_reserved_memory(root: Node, log: tuple[int, int]) -> None:
    """The ``reserved-memory`` node holding the measurement log's ``event-log`` region."""
    rm = root.child("reserved-memory")
    rm.prop("#address-cells", u32(2)).prop("#size-cells", u32(2)).prop("ranges", NULL)
    ev = rm.child(fdt.unit_name("event-log", log[0]))
    ev.prop("compatible", string("cc-event-log")).prop("reg", u64(log[0], log[1]))


def generate_tree(f: DtbFacts) -> Node:
    """The reference ``gen_dtb`` node and property order."""
    root = dummy_virt_root(PHANDLE_GIC)
    chosen = root.child("chosen")
    chosen.prop("bootargs", string(f.bootargs))
    if f.initrd is not None:
        chosen.prop("linux,initrd-start", u64(f.initrd[0]))
        chosen.prop("linux,initrd-end", u64(f.initrd[1]))
    mem = root.child(fdt.unit_name("memory", RAM_BASE))
    mem.prop("device_type", string("memory")).prop("reg", u64(RAM_BASE, f.ram_size))
    add_cpus_and_psci(root, f.cpus)
    add_intc(root, f)
    if f.log is not None:
        add_reserved_memory(root, f.log)
    timer = root.child("timer")
    timer.prop("interrupts", u32(1, 13, 8, 1, 14, 8, 1, 11, 8)).prop("always-on", NULL)
    timer.prop("compatible", strings("arm,armv8-timer", "arm,armv7-timer"))
    if f.pmu:
        pmu = root.child("pmu")
        pmu.prop("interrupts", u32(1, 7, 4)).prop("compatible", string("arm,armv8-pmuv3"))
    for i in range(4):
        addr = UART_BASE + i * 0x1000
        uart = root.child(fdt.unit_name("U6_16550A", addr))
        uart.prop("compatible", string("ns16550a")).prop("reg", u64(addr, 8))
        uart.prop("interrupts", u32(0, i, 4)).prop("clock-frequency", u32(1843200))
    for i in range(f.virtio_mmio):
        addr = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE
        dev = root.child(fdt.unit_name("virtio", addr))
        dev.prop("compatible", string("virtio,mmio")).prop("reg", u64(addr, VIRTIO_MMIO_SIZE))
        dev.prop("dma-coherent", NULL).prop("interrupts", u32(0, 4 + i, 1))
    rtc = root.child(fdt.unit_name("rtc", RTC_BASE))
    rtc.prop("compatible", string("motorola,mc146818")).prop("reg", u64(RTC_BASE, 2))
    pci = root.child(fdt.unit_name("pci", PCI_ECAM_BASE))
    pci.prop("device_type", string("pci")).prop("#address-cells", u32(3))
    pci.prop("#size-cells", u32(2)).prop("dma-coherent", NULL).prop("bus-range", u32(0, 0))
    pci.prop("compatible", string("pci-host-ecam-generic"))
    pci.prop("reg", u64(PCI_ECAM_BASE, PCI_ECAM_SIZE))
    pci.prop("ranges", u32(0x01000000, 0, 0, 0, 0, 0, 0x10000,
                           0x02000000, 0, PCI_MMIO_BASE, 0, PCI_MMIO_BASE, 0, PCI_MMIO_SIZE))
    imap = b"".join(u32(s << 11, 0, 0, 1, PHANDLE_GIC, 0, 0, 0, 64 + s, 4) for s in range(32))
    pci.prop("interrupt-map", imap).prop("interrupt-map-mask", u32(0xF800, 0, 0, 7))
    pci.prop("#interrupt-cells", u32(1))
    if f.its:
        pci.prop("msi-map", u32(0, PHANDLE_ITS, 0, 0x10000))
    return root


def pad_dtb(tight: bytes) -> bytes:
    """``resize_dtb``: zero padding to 64 KiB, or the reference's error."""
    if len(tight) > DTB_SIZE:
        raise ParametersError(f"while generating DTB: generated DTB is too large "
                              f"({len(tight)} > {DTB_SIZE})")
    return tight + bytes(DTB_SIZE - len(tight))


CPU_NODE_FIXED = 84  # BEGIN/END tokens + reg, enable-method, compatible, device_type
MAX_GENERATED_CPUS = 4096  # above this the DTB size is computed, not generated


def generate_dtb(f: DtbFacts) -> bytes:
    """The reference generator's DTB, tight header, zero padded to 64 KiB."""
    if f.cpus > MAX_GENERATED_CPUS:
        # Far too large for 64 KiB: compute the size the reference reports without
        # building millions of nodes (each cpu@<i> node is 84 bytes + its padded name).
        base = len(fdt.to_dtb(generate_tree(replace(f, cpus=1))))
        extra = 0
        for digits in range(1, len(str(f.cpus - 1)) + 1):  # cpu@<i>, i in [1, cpus)
            lo, hi = max(1, 10 ** (digits - 1)), min(f.cpus, 10 ** digits)
            if hi > lo:
                extra += (hi - lo) * (CPU_NODE_FIXED + align_up(4 + digits + 1, 4))
        raise ParametersError(f"while generating DTB: generated DTB is too large "
                              f"({base + extra} > {DTB_SIZE})")
    return pad_dtb(fdt.to_dtb(generate_tree(f)))
