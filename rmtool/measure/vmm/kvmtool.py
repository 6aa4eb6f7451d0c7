"""kvmtool (``lkvm run``) Realm front-end.

Spec: spec/vmm-kvmtool.md — §1 options as the reference tool accepts them, §2 memory
map, §3 image placement, §4 kernel Image, §5 RMM operations and REC registers, §6 the
generated DTB (vm-fdt byte conventions), §7 ``--dtb`` / ``--dtb-template``.

Files are never taken from kvmtool's own ``-k/-i/-f``: they only say "present"; the
contents come from the global ``-k/-i/-f`` options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rmtool.errors import (
    ComputeError,
    ConfigError,
    InputFileError,
    ParametersError,
    os_error_text,
)
from rmtool.measure.dtb import fdt
from rmtool.measure.dtb.fdt import NULL, Node, string, strings, u32, u64
from rmtool.measure.host import HostCaps, check_pmu_ctrs, check_sve_vl, finalize
from rmtool.measure.images import Image
from rmtool.measure.kernel import load_kernel
from rmtool.measure.rmm.algorithms import SHA256, by_name
from rmtool.measure.vmm.argparse_clap import Opt, scan
from rmtool.measure.vmm.common import (
    LOG_SIZE,
    MIB,
    LoadedBlob,
    MeasureInputs,
    VmmBuild,
    align_up,
    parse_size,
    rpv_pad,
)

# §2 memory map
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

OPTIONS = (
    Opt("cpus", ("cpus",), ("c",)),
    Opt("mem", ("mem",), ("m",)),
    Opt("params", ("params",), ("p",)),
    Opt("kernel", ("kernel",), ("k",)),
    Opt("initrd", ("initrd",), ("i",)),
    Opt("firmware", ("firmware",), ("f",)),
    Opt("firmware_address", ("firmware-address",)),
    Opt("flash", ("flash",), ("F",)),
    Opt("measurement_algo", ("measurement-algo",)),
    Opt("realm_pv", ("realm-pv",)),
    Opt("pmu", ("pmu",), takes_value=False),
    Opt("pmu_counters", ("pmu-counters",)),
    Opt("disable_sve", ("disable-sve",), takes_value=False),
    Opt("sve_max_vl", ("sve-max-vl",)),
    Opt("irqchip", ("irqchip",)),
    Opt("virtio_transport", ("virtio-transport",)),
    Opt("measurement_log", ("measurement-log",), takes_value=False),
    Opt("balloon", ("balloon",), takes_value=False),
    Opt("rng", ("rng",), takes_value=False),
    Opt("p9", ("9p",), repeat=True),
    Opt("vsock", ("vsock",)),
    Opt("console", ("console",)),
    Opt("disk", ("disk",), ("d",), repeat=True),
    Opt("network", ("network",), ("n",), repeat=True),
    Opt("dtb", ("dtb",)),
    Opt("realm", ("realm",), takes_value=False),
    Opt("restricted_mem", ("restricted_mem",), takes_value=False),
    # accepted and ignored
    Opt("name", ("name",)),
    Opt("nodefaults", ("nodefaults",), takes_value=False),
    Opt("dev", ("dev",)),
    Opt("tty", ("tty",)),
    Opt("hugetlbfs", ("hugetlbfs",)),
    Opt("loglevel", ("loglevel",)),
    Opt("no_dhcp", ("no-dhcp",), takes_value=False),
    Opt("vfio_pci", ("vfio-pci",), repeat=True),
    Opt("debug", ("debug",), takes_value=False),
    Opt("debug_single_step", ("debug-single-step",), takes_value=False),
    Opt("debug_ioport", ("debug-ioport",), takes_value=False),
    Opt("debug_mmio", ("debug-mmio",), takes_value=False),
    Opt("debug_iodelay", ("debug-iodelay",)),
    Opt("no_pvtime", ("no-pvtime",), takes_value=False),
    Opt("vcpu_affinity", ("vcpu-affinity",)),
    Opt("disable_mte", ("disable-mte",), takes_value=False),
    Opt("force_pci", ("force-pci",), takes_value=False),
)


@dataclass
class KvmtoolConfig:
    """What the parsed ``lkvm run`` arguments mean for the Realm."""

    cpus: int
    ram_size: int
    params: str | None = None
    kernel: bool = False
    initrd: bool = False
    firmware: bool = False
    firmware_address: int = RAM_BASE
    hash_algo_name: str = "sha256"
    rpv: bytes = bytes(64)
    its: bool = True
    mmio: bool = False
    virtio_devices: int = 0
    measurement_log: bool = False
    caps_restrict: dict[str, object] = field(default_factory=dict)


def _int(value: str, what: str) -> int:
    try:
        v = int(value, 10)
    except ValueError:
        raise ParametersError(f"{what}: invalid digit found in string") from None
    if v < 0:
        raise ParametersError(f"{what}: invalid digit found in string")
    return v


def parse_args(argv: list[str]) -> KvmtoolConfig:
    """§1: the ``lkvm run`` arguments the reference tool accepts."""
    try:
        return _parse_args(argv)
    except ConfigError as exc:
        raise ParametersError(exc.message) from exc


def _parse_args(argv: list[str]) -> KvmtoolConfig:
    opts = scan(argv, OPTIONS, "kvmtool")

    def last(name: str) -> str | None:
        values = opts.get(name)
        return values[-1] if values else None

    if "flash" in opts:
        raise ParametersError("cfi-flash not supported")
    cpus_text = last("cpus")
    if cpus_text is None:
        raise ParametersError("number of vCPUs is not known")
    cpus = _int(cpus_text, "-c")
    if cpus == 0:
        raise ParametersError("number of vCPUs must be at least 1")
    mem_text = last("mem")
    if mem_text is None:
        raise ParametersError("default guest RAM size is not known")
    if "@" in mem_text:
        raise ParametersError("unsupported RAM base change")
    ram = parse_size(mem_text, "-m")
    if ram % (2 * MIB) or ram == 0:
        raise ParametersError("RAM size must be aligned on 2MB")
    cfg = KvmtoolConfig(cpus=cpus, ram_size=ram)
    cfg.params = last("params")
    cfg.kernel = "kernel" in opts
    cfg.initrd = "initrd" in opts
    cfg.firmware = "firmware" in opts
    fw_addr = last("firmware_address")
    if fw_addr is not None:
        cfg.firmware_address = _int(fw_addr, "--firmware-address")
    algo = last("measurement_algo")
    if algo is not None:
        if algo not in ("sha256", "sha512", "sha384"):
            raise ParametersError(f"RMM: unknown hash algorithm `{algo}`")
        cfg.hash_algo_name = algo
    pv = last("realm_pv")
    if pv is not None:
        cfg.rpv = rpv_pad(pv.encode())
    restrict: dict[str, object] = {}
    if "pmu" in opts:
        restrict["pmu"] = True
    ctrs = last("pmu_counters")
    if ctrs is not None:
        n = _int(ctrs, "--pmu-counters")
        if n > 255:
            raise ParametersError("--pmu-counters: number too large to fit in target type")
        restrict["pmu_num_ctrs"] = check_pmu_ctrs(n)
    if "disable_sve" in opts:
        restrict["sve_vl"] = 0
    else:
        vl = last("sve_max_vl")
        if vl is not None:
            restrict["sve_vl"] = check_sve_vl(_int(vl, "--sve-max-vl"))
    cfg.caps_restrict = restrict
    irqchip = last("irqchip")
    if irqchip is not None:
        if irqchip == "gicv3":
            cfg.its = False
        elif irqchip != "gicv3-its":
            raise ParametersError(f"unsupported irqchip {irqchip}")
    transport = last("virtio_transport") or "pci"
    if transport not in ("pci", "mmio"):
        raise ParametersError(f"unsupported virtio transport {transport}")
    cfg.mmio = transport == "mmio"
    cfg.measurement_log = "measurement_log" in opts
    cfg.virtio_devices = _count_virtio(opts, transport)
    return cfg


def _count_virtio(opts: dict[str, list[str]], transport: str) -> int:
    """Virtio devices that become virtio-mmio nodes (§1 table)."""
    count = len(opts.get("balloon", [])) + len(opts.get("rng", []))
    count += len(opts.get("p9", [])) + len(opts.get("disk", []))
    if "vsock" in opts:
        count += 1
    if (opts.get("console") or [""])[-1] == "virtio":
        count += 1
    netdevs = 1
    for item in opts.get("network", []):
        for kv in item.split(","):
            key, eq, value = kv.partition("=")
            if not eq:
                raise ParametersError(f"malformed -n param {kv}")
            if key == "mode":
                netdevs = 0 if value == "none" else netdevs + 1
            elif key == "trans" and value != transport:
                raise ParametersError("unsupported virtio transport mismatch")
    return count + netdevs


# --------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class Layout:
    """§3: where the images go."""

    dtb: int
    log: tuple[int, int] | None
    initrd: int | None


def layout(ram_size: int, log: bool, initrd_len: int | None) -> Layout:
    top = min(RAM_BASE + ram_size, RAM_BASE + 256 * MIB)
    log_region = None
    if log:
        log_region = (top - LOG_SIZE, LOG_SIZE)
        top -= LOG_SIZE
    dtb = align_up(top - (2 * MIB + LOG_SIZE), 2 * MIB)
    initrd = None
    if initrd_len is not None:
        initrd = align_up(dtb - (initrd_len + 4), 4) if dtb >= initrd_len + 4 else None
        if initrd is None:
            raise ParametersError("initrd does not fit below the DTB")
    return Layout(dtb=dtb, log=log_region, initrd=initrd)


def ipa_bits(ram_size: int) -> int:
    """§5: max(floor(log2(M + S - 1)), 32) + 1 (the reference's formula)."""
    return max(int(math.log2(RAM_BASE + ram_size - 1)) if ram_size else 32, 32) + 1


# --------------------------------------------------------------------------- DTB

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


def bootargs(params: str | None) -> str:
    """§6.4: the prefix is always there; ``-p`` is appended after one more space."""
    return BOOTARGS_PREFIX + (" " + params if params else "")


def _intc(root: Node, f: DtbFacts) -> None:
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


def _reserved_memory(root: Node, log: tuple[int, int]) -> None:
    rm = root.child("reserved-memory")
    rm.prop("#address-cells", u32(2)).prop("#size-cells", u32(2)).prop("ranges", NULL)
    ev = rm.child(fdt.unit_name("event-log", log[0]))
    ev.prop("compatible", string("cc-event-log")).prop("reg", u64(log[0], log[1]))


def generate_tree(f: DtbFacts) -> Node:
    """§6.2 node and property order."""
    root = Node("")
    root.prop("compatible", string("linux,dummy-virt"))
    root.prop("model", string("linux,dummy-virt-realm"))
    root.prop("#address-cells", u32(2)).prop("#size-cells", u32(2))
    root.prop("interrupt-parent", u32(PHANDLE_GIC))
    chosen = root.child("chosen")
    chosen.prop("bootargs", string(f.bootargs))
    if f.initrd is not None:
        chosen.prop("linux,initrd-start", u64(f.initrd[0]))
        chosen.prop("linux,initrd-end", u64(f.initrd[1]))
    mem = root.child(fdt.unit_name("memory", RAM_BASE))
    mem.prop("device_type", string("memory")).prop("reg", u64(RAM_BASE, f.ram_size))
    cpus = root.child("cpus")
    cpus.prop("#size-cells", u32(0)).prop("#address-cells", u32(1))
    for i in range(f.cpus):
        cpu = cpus.child(f"cpu@{i}")
        cpu.prop("reg", u32(i)).prop("enable-method", string("psci"))
        cpu.prop("compatible", string("arm,armv8")).prop("device_type", string("cpu"))
    psci = root.child("psci")
    psci.prop("cpu_on", u32(0xC4000003)).prop("cpu_off", u32(0x84000002))
    psci.prop("method", string("smc"))
    psci.prop("compatible", strings("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))
    _intc(root, f)
    if f.log is not None:
        _reserved_memory(root, f.log)
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
    if len(tight) > DTB_SIZE:
        raise ParametersError(f"generated DTB is too large ({len(tight)} > {DTB_SIZE})")
    return tight + bytes(DTB_SIZE - len(tight))


def generate_dtb(f: DtbFacts) -> bytes:
    """The reference generator's DTB, tight header, zero padded to 64 KiB."""
    return pad_dtb(fdt.to_dtb(generate_tree(f)))


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputFileError(os_error_text(path, exc)) from exc


# --------------------------------------------------------------------------- build

def build(argv: list[str], inputs: MeasureInputs) -> VmmBuild:
    from rmtool.measure.vmm.kvmtool_template import apply_template

    cfg = parse_args(argv)
    caps: HostCaps = inputs.caps.restrict(ipa_bits=ipa_bits(cfg.ram_size),
                                          **cfg.caps_restrict)
    algo = by_name(cfg.hash_algo_name) if cfg.hash_algo_name else SHA256

    blobs: list[LoadedBlob] = []
    kernel_ipa = None
    if cfg.kernel:
        if inputs.kernel is None:
            raise ParametersError("need kernel image")
        kernel = load_kernel(inputs.kernel)
        kernel_ipa = RAM_BASE + kernel.text_offset
        blobs.append(LoadedBlob("KERNEL", kernel_ipa, kernel.image))
    initrd_image = None
    if cfg.initrd:
        if inputs.initrd is None:
            raise ParametersError("need initrd image")
        initrd_image = Image.from_file("initrd", inputs.initrd)
    fw_image = None
    if cfg.firmware:
        if inputs.firmware is None:
            raise ParametersError("need firmware image")
        fw_image = Image.from_file("firmware", inputs.firmware)

    initrd_len = None
    if initrd_image is not None:
        try:
            initrd_len = initrd_image.size
        except ComputeError as exc:
            raise ParametersError(exc.message) from exc
    lay = layout(cfg.ram_size, cfg.measurement_log, initrd_len)
    if initrd_image is not None and lay.initrd is not None:
        blobs.append(LoadedBlob("INITRD", lay.initrd, initrd_image))
    if fw_image is not None:
        blobs.append(LoadedBlob("FIRMWARE", cfg.firmware_address, fw_image))

    params = finalize(caps, hash_algo=algo, rpv=cfg.rpv)
    inputs.profile.check_algo(algo)
    facts = DtbFacts(
        cpus=cfg.cpus, ram_size=cfg.ram_size, bootargs=bootargs(cfg.params),
        initrd=(lay.initrd, lay.initrd + initrd_len)
        if lay.initrd is not None and initrd_len is not None else None,
        its=cfg.its, pmu=params.pmu, log=lay.log,
        virtio_mmio=cfg.virtio_devices if cfg.mmio else 0)
    if inputs.dtb is not None:
        dtb = _read(inputs.dtb)
    elif inputs.dtb_template is not None:
        dtb = pad_dtb(apply_template(_read(inputs.dtb_template), facts))
    else:
        dtb = generate_dtb(facts)
    blobs.append(LoadedBlob("DTB", lay.dtb, Image.from_bytes("dtb", dtb)))

    if cfg.kernel:
        pc = RAM_BASE
    elif cfg.firmware:
        pc = cfg.firmware_address
    else:
        pc = 0
    return VmmBuild(
        vmm="kvmtool", params=params, ram=[(RAM_BASE, cfg.ram_size)], blobs=blobs,
        rec_pc=pc, rec_gprs=(lay.dtb, 0, 0, 0, 0, 0, 0, 0), dtb=dtb, dtb_ipa=lay.dtb,
        log_region=lay.log,
        facts={"vmm": "kvmtool", "ram_base": RAM_BASE, "ram_size": cfg.ram_size,
               "cpus": cfg.cpus, "bootargs": facts.bootargs, "initrd": facts.initrd,
               "its": cfg.its, "pmu": params.pmu, "log": lay.log,
               "virtio_mmio": facts.virtio_mmio, "dtb_ipa": lay.dtb})
