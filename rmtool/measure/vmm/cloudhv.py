"""cloud-hypervisor Realm front-end (``rmtool measure cloud-hv``).

Spec: spec/vmm-cloud-hypervisor.md — §1 the options the reference tool accepts, §2 the
memory map, image placement, RMM operation order and REC registers, §3 the generated
DTB; spec/vmm-kvmtool.md §4 (arm64 Image loading) and §6.1 (vm-fdt byte format);
spec/anchor-cli.md §3 (error contexts).

The reference tool generates the DTB itself (``--dtb`` / ``--dtb-template`` are ignored
for this VMM) and the user starts cloud-hypervisor with that DTB. Every constant below
is the reference's; docs/vmm-cloud-hypervisor.md lists where upstream cloud-hypervisor
differs, and the ``--rmtool-*`` options (not in the reference) select upstream
behaviour where it changes the measurement.

Arithmetic that the reference does on u64 in a release build wraps modulo 2^64 here too
(initrd below the RAM base, huge sizes), so odd configurations still match.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rmtool.errors import ComputeError, ParametersError, UsageError
from rmtool.measure.dtb.fdt import NULL, Node, string, strings, to_dtb, u32, u64
from rmtool.measure.host import finalize
from rmtool.measure.images import Image
from rmtool.measure.kernel import load_kernel
from rmtool.measure.rmm.algorithms import ALGORITHMS, HashAlgo
from rmtool.measure.rmm.realm import rtt_block_sizes
from rmtool.measure.rmm.structures import GRANULE_SIZE
from rmtool.measure.vmm.common import (
    KIB,
    MIB,
    LoadedBlob,
    MeasureInputs,
    VmmBuild,
    align_up,
    rpv_from_base64,
)

VMM = "cloud-hv"
U64_MASK = (1 << 64) - 1

# §2 memory map (the reference tool's constants)
GIC_DIST_BASE = 0x08FF0000
GIC_DIST_SIZE = 0x10000
GIC_REDIST_SIZE = 0x20000  # per vCPU
GIC_ITS_SIZE = 0x20000
UART_BASE = 0x09000000
UART_SIZE = 0x1000
RTC_BASE = 0x09010000
RTC_SIZE = 0x1000
PCI_IO_BASE = 0x09050000
PCI_IO_SIZE = 0x10000
PCI_MMIO_BASE = 0x10000000
PCI_MMIO_SIZE = 0x20000000
PCI_ECAM_BASE = 0x30000000
PCI_ECAM_SIZE = 0x100000
PCI_HIGH_BASE = 0x2_0000_0000
PCI_HIGH_SIZE = 0x3FFF_0000_0000 - PCI_HIGH_BASE
RAM_BASE = 0x40000000
DTB_BASE = RAM_BASE
KERNEL_BASE = RAM_BASE + 0x400000
SPI_RTC = 8
SPI_UART = 0xB
PPI_TIMER = (13, 14, 11)
PPI_PMU = 7
IPA_LIMIT = 48
DEFAULT_CPUS = 1
DEFAULT_MEM = 512 * MIB
DEFAULT_ALGO = "sha512"
PHANDLE_GIC = 1
PHANDLE_ITS = 2
PHANDLE_CLOCK = 3

# interrupt specifier cells
IRQ_SPI = 0
IRQ_PPI = 1
IRQ_EDGE_RISING = 1
IRQ_LEVEL_HI = 4
PCI_RANGE_IOPORT = 0x01000000
PCI_RANGE_MMIO = 0x02000000
PCI_RANGE_MMIO_64BIT = 0x03000000

# upstream cloud-hypervisor (arch/src/aarch64/layout.rs), for --rmtool-* options only
UPSTREAM_RAM_32BIT_END = 0xFC000000  # MEM_32BIT_RESERVED_START
UPSTREAM_RAM_64BIT_START = 0x1_0000_0000
UPSTREAM_DEFAULT_TEXT_OFFSET = 0x80000  # linux-loader, when image_size == 0

# rmtool bound (the reference would try to build a DTB of any size)
MAX_CPUS = 65536
MAX_CMDLINE = 1 << 20
MAX_RIPAS_BLOCKS = 1 << 20


# --------------------------------------------------------------------------- argv (clap)

@dataclass(frozen=True)
class ArgSpec:
    """One cloud-hypervisor option as the reference declares it with clap."""

    long: str
    kind: str = "value"  # "value" | "append" | "flag" | "count"

    @property
    def display(self) -> str:
        """clap's rendering in error messages: ``--cpus <CPUS>``."""
        if self.kind in ("value", "append"):
            return f"--{self.long} <{self.long.replace('-', '_').upper()}>"
        return f"--{self.long}"


# §1, in declaration order (* = repeatable)
ARGS: tuple[ArgSpec, ...] = (
    ArgSpec("cpus"), ArgSpec("platform"), ArgSpec("memory"), ArgSpec("memory-zone", "append"),
    ArgSpec("firmware"), ArgSpec("kernel"), ArgSpec("initramfs"), ArgSpec("cmdline"),
    ArgSpec("rate-limit-group", "append"), ArgSpec("disk", "append"),
    ArgSpec("net", "append"), ArgSpec("rng"), ArgSpec("balloon"), ArgSpec("fs", "append"),
    ArgSpec("pmem", "append"), ArgSpec("serial"), ArgSpec("console"),
    ArgSpec("device", "append"), ArgSpec("user-device", "append"),
    ArgSpec("vdpa", "append"), ArgSpec("vsock"), ArgSpec("pvpanic", "flag"),
    ArgSpec("numa", "append"), ArgSpec("pci-segment", "append"), ArgSpec("watchdog", "flag"),
    ArgSpec("log-file"), ArgSpec("api-socket"), ArgSpec("event-monitor"), ArgSpec("restore"),
    ArgSpec("seccomp"), ArgSpec("tpm"), ArgSpec("dtb"),
    # rmtool extensions (not accepted by the reference): upstream cloud-hypervisor behaviour
    ArgSpec("rmtool-pmu-node"), ArgSpec("rmtool-kernel-entry"), ArgSpec("rmtool-ram-layout"),
)
_BY_LONG = {a.long: a for a in ARGS}
VERBOSE = "v"  # -v, counted


def _unexpected(word: str) -> UsageError:
    return UsageError(f"error: unexpected argument '{word}' found")


def _looks_like_option(word: str) -> bool:
    return word.startswith("-") and word != "-"


def scan_args(argv: Sequence[str]) -> dict[str, list[str]]:
    """clap-compatible scan: ``--long value``, ``--long=value``, flags, ``-v``/``-vv``.

    Returns long name -> values (flags and ``-v`` get one ``""`` per occurrence).
    Errors use clap's first line (exit 2).
    """
    out: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word.startswith("--") and len(word) > 2:
            name, eq, inline = word[2:].partition("=")
            spec = _BY_LONG.get(name)
            if spec is None:
                raise _unexpected(f"--{name}")
            if spec.kind in ("flag", "count"):
                if eq:
                    raise UsageError(f"error: unexpected value '{inline}' for "
                                     f"'{spec.display}' found; no more were expected")
                if spec.long in out:
                    raise UsageError(f"error: the argument '{spec.display}' cannot be used "
                                     f"multiple times")
                out[spec.long] = [""]
                continue
            if not eq:
                if i >= len(argv) or _looks_like_option(argv[i]):
                    raise UsageError(f"error: a value is required for '{spec.display}' but "
                                     f"none was supplied")
                inline = argv[i]
                i += 1
            if spec.kind == "value" and spec.long in out:
                raise UsageError(f"error: the argument '{spec.display}' cannot be used "
                                 f"multiple times")
            out.setdefault(spec.long, []).append(inline)
        elif word.startswith("-") and len(word) > 1 and word != "--":
            for ch in word[1:]:
                if ch != VERBOSE:
                    raise _unexpected(f"-{ch}")
                out.setdefault(VERBOSE, []).append("")
        else:
            raise _unexpected(word)
    return out


# --------------------------------------------------------------------------- values

def rust_parse_uint(text: str, bits: int = 64) -> int:
    """Rust ``str::parse::<u64|usize>()`` with its error texts."""
    if text == "":
        raise ValueError("cannot parse integer from empty string")
    digits = text[1:] if text[0] == "+" else text
    if digits == "" or not all("0" <= c <= "9" for c in digits):
        raise ValueError("invalid digit found in string")
    stripped = digits.lstrip("0")
    if len(stripped) > 20 or int(digits) >= 1 << bits:
        raise ValueError("number too large to fit in target type")
    return int(digits)


_SUFFIX_SHIFT = {"B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50}


def parse_memory_size(text: str) -> int:
    """Reference ``parse_memory_size``: ``<n>[B|K|M|G|T|P]``, no suffix = MiB; the
    multiplication wraps modulo 2^64 as in a release build."""
    shift = 20
    if text[-1:] in _SUFFIX_SHIFT:
        shift = _SUFFIX_SHIFT[text[-1]]
        text = text[:-1]
    return (rust_parse_uint(text) << shift) & U64_MASK


def split_params(arg: str, option: str) -> list[tuple[str, str]]:
    """``k=v,k=v`` items; an item without ``=`` is ``malformed <option> param <item>``."""
    items = []
    for item in arg.split(","):
        name, eq, value = item.partition("=")
        if not eq:
            raise ParametersError(f"malformed {option} param {item}")
        items.append((name, value))
    return items


# --------------------------------------------------------------------------- config

@dataclass
class ChvConfig:
    """What the parsed cloud-hypervisor arguments mean for the Realm (§1)."""

    num_cpus: int = DEFAULT_CPUS
    mem_size: int = DEFAULT_MEM
    serial: bool = True
    cmdline: str | None = None
    kernel: bool = False
    initramfs: bool = False
    hash_algo_name: str = DEFAULT_ALGO
    rpv: bytes = bytes(64)
    pmu_node: str = "always"  # --rmtool-pmu-node always|auto
    kernel_entry: str = "reference"  # --rmtool-kernel-entry reference|upstream
    ram_layout: str = "reference"  # --rmtool-ram-layout reference|upstream
    warnings: list[str] = field(default_factory=list)


def parse_platform(arg: str, cfg: ChvConfig) -> None:
    for name, value in split_params(arg, "--platform"):
        if name == "personalization_value":
            cfg.rpv = rpv_from_base64(value)
        elif name == "measurement_algo":
            if value not in ("sha256", "sha512", "sha384"):
                raise ParametersError(f"RMM: unknown hash algorithm `{value}`")
            cfg.hash_algo_name = value


def parse_cpus(arg: str, cfg: ChvConfig) -> None:
    for name, value in split_params(arg, "--cpu"):
        if name == "boot":
            try:
                cfg.num_cpus = rust_parse_uint(value)
            except ValueError as exc:
                raise ParametersError(f"--cpus: {exc}") from None
        else:
            cfg.warnings.append(f"ignored --cpus parameter {name}")


def parse_memory(arg: str, cfg: ChvConfig) -> None:
    for name, value in split_params(arg, "--memory"):
        if name == "size":
            try:
                cfg.mem_size = parse_memory_size(value)
            except ValueError as exc:
                raise ParametersError(f"--memory: {exc}") from None
        else:
            cfg.warnings.append(f"ignored --memory parameter {name}")


def _choice(value: str, option: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UsageError(f"error: invalid value '{value}' for '--{option} <VALUE>' "
                         f"[possible values: {', '.join(choices)}]")
    return value


def parse_args(argv: Sequence[str]) -> ChvConfig:
    """§1: order of the reference's checks: --platform, --cpus, --memory, --serial."""
    opts = scan_args(argv)
    cfg = ChvConfig()

    def last(name: str) -> str | None:
        values = opts.get(name)
        return values[-1] if values else None

    platform = last("platform")
    if platform is not None:
        parse_platform(platform, cfg)
    cpus = last("cpus")
    if cpus is not None:
        parse_cpus(cpus, cfg)
    memory = last("memory")
    if memory is not None:
        parse_memory(memory, cfg)
    if last("serial") == "off":
        cfg.serial = False
    cfg.cmdline = last("cmdline")
    cfg.kernel = "kernel" in opts
    cfg.initramfs = "initramfs" in opts
    pmu = last("rmtool-pmu-node")
    if pmu is not None:
        cfg.pmu_node = _choice(pmu, "rmtool-pmu-node", ("always", "auto"))
    entry = last("rmtool-kernel-entry")
    if entry is not None:
        cfg.kernel_entry = _choice(entry, "rmtool-kernel-entry", ("reference", "upstream"))
    layout = last("rmtool-ram-layout")
    if layout is not None:
        cfg.ram_layout = _choice(layout, "rmtool-ram-layout", ("reference", "upstream"))
    if cfg.num_cpus > MAX_CPUS:
        raise ParametersError(f"--cpus: boot={cfg.num_cpus} is more vCPUs than rmtool models "
                              f"({MAX_CPUS})")
    if cfg.cmdline is not None and len(cfg.cmdline) > MAX_CMDLINE:
        raise ParametersError(f"--cmdline longer than {MAX_CMDLINE} bytes")
    return cfg


# --------------------------------------------------------------------------- layout

def ram_ranges(mem_size: int, layout: str) -> list[tuple[int, int]]:
    """RAM (base, size) ranges. Reference: one range from 0x40000000. Upstream: split
    around the 64 MiB hole below 4 GiB (``arch_memory_regions``)."""
    first = UPSTREAM_RAM_32BIT_END - RAM_BASE
    if layout == "upstream" and mem_size > first:
        return [(RAM_BASE, first), (UPSTREAM_RAM_64BIT_START, mem_size - first)]
    return [(RAM_BASE, mem_size)]


def gic_layout(num_cpus: int) -> dict[str, list[int]]:
    """GIC distributor, redistributors (n x 128 KiB below it) and ITS (below those)."""
    redist_size = (num_cpus * GIC_REDIST_SIZE) & U64_MASK
    redist_base = (GIC_DIST_BASE - redist_size) & U64_MASK
    its_base = (redist_base - GIC_ITS_SIZE) & U64_MASK
    return {"dist": [GIC_DIST_BASE, GIC_DIST_SIZE], "redist": [redist_base, redist_size],
            "its": [its_base, GIC_ITS_SIZE]}


def initrd_start(ram: list[tuple[int, int]], length: int) -> int:
    """The 4 KiB-rounded initrd ends at the end of (the last range of) RAM."""
    base, size = ram[-1]
    return (base + size - align_up(length, 4 * KIB)) & U64_MASK


def check_ram(ram: list[tuple[int, int]], s2sz: int, measured: bool) -> None:
    """The reference's INIT_RIPAS range check (``[base, align_up(base + size - 1))`` in
    wrapping u64, empty -> ``invalid parameter RIPAS(b, t)`` when computing), plus an
    rmtool bound on the number of RIPAS descriptors a huge RAM would need."""
    for base, size in ram:
        top = align_up((base + size - 1) & U64_MASK, GRANULE_SIZE) & U64_MASK
        if top <= base:
            raise ComputeError(f"invalid parameter RIPAS({base:x}, {top:x})")
        if measured and size // rtt_block_sizes(s2sz)[0] > MAX_RIPAS_BLOCKS:
            raise ParametersError(f"--memory: {size} bytes of RAM need more than "
                                  f"{MAX_RIPAS_BLOCKS} INIT_RIPAS descriptors with a "
                                  f"{s2sz}-bit IPA space")


# --------------------------------------------------------------------------- DTB (§3)

def _hi(v: int) -> int:
    return (v >> 32) & 0xFFFFFFFF


def _lo(v: int) -> int:
    return v & 0xFFFFFFFF


def dtb_tree(facts: dict[str, Any]) -> Node:
    """The reference generator's tree, in node and property order (spec §3)."""
    n = int(facts["num_cpus"])
    root = Node("")
    root.prop("compatible", string("linux,dummy-virt"))
    root.prop("model", string("linux,dummy-virt-realm"))
    root.prop("#address-cells", u32(2)).prop("#size-cells", u32(2))
    root.prop("interrupt-parent", u32(PHANDLE_GIC))

    chosen = root.child("chosen")
    if facts.get("bootargs") is not None:
        chosen.prop("bootargs", string(str(facts["bootargs"])))
    initrd = facts.get("initrd")
    if initrd is not None and int(initrd["size"]) != 0:
        start = int(initrd["start"])
        chosen.prop("linux,initrd-start", u64(start))
        chosen.prop("linux,initrd-end", u64((start + int(initrd["size"])) & U64_MASK))

    for base, size in facts["ram"]:
        mem = root.child(f"memory@{int(base):x}")
        mem.prop("device_type", string("memory")).prop("reg", u64(int(base), int(size)))

    cpus = root.child("cpus")
    cpus.prop("#size-cells", u32(0)).prop("#address-cells", u32(1))
    for i in range(n):
        cpu = cpus.child(f"cpu@{i}")
        cpu.prop("reg", u32(i)).prop("enable-method", string("psci"))
        cpu.prop("compatible", string("arm,armv8")).prop("device_type", string("cpu"))

    psci = root.child("psci")
    psci.prop("cpu_on", u32(0xC4000003)).prop("cpu_off", u32(0x84000002))
    psci.prop("method", string("smc"))
    psci.prop("compatible", strings("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))

    gic = facts["gic"]
    dist, redist, its = gic["dist"], gic["redist"], gic["its"]
    intc = root.child(f"intc@{int(dist[0]):x}")
    intc.prop("phandle", u32(PHANDLE_GIC))
    intc.prop("reg", u64(*(int(v) for v in (*dist, *redist))))
    intc.prop("#redistributor-regions", u32(1))
    intc.prop("compatible", string("arm,gic-v3")).prop("ranges", NULL)
    intc.prop("#size-cells", u32(2)).prop("#address-cells", u32(2))
    intc.prop("interrupt-controller", NULL).prop("#interrupt-cells", u32(3))
    msi = intc.child(f"its@{int(its[0]):x}")
    msi.prop("phandle", u32(PHANDLE_ITS)).prop("reg", u64(int(its[0]), int(its[1])))
    msi.prop("#msi-cells", u32(1)).prop("msi-controller", NULL)
    msi.prop("compatible", string("arm,gic-v3-its"))

    timer = root.child("timer")
    cells: list[int] = []
    for irq in PPI_TIMER:
        cells += [IRQ_PPI, irq, IRQ_LEVEL_HI]
    timer.prop("interrupts", u32(*cells)).prop("always-on", NULL)
    timer.prop("compatible", strings("arm,armv8-timer", "arm,armv7-timer"))

    if facts.get("pmu_node", True):
        pmu = root.child("pmu")
        pmu.prop("interrupts", u32(IRQ_PPI, PPI_PMU, IRQ_LEVEL_HI))
        pmu.prop("compatible", string("arm,armv8-pmuv3"))

    clk = root.child("apb-pclk")
    clk.prop("phandle", u32(PHANDLE_CLOCK))
    clk.prop("clock-output-names", string("clk24mhz"))
    clk.prop("clock-frequency", u32(24000000)).prop("#clock-cells", u32(0))
    clk.prop("compatible", string("fixed-clock"))

    rtc = root.child(f"pl031@{RTC_BASE:x}")
    rtc.prop("clock-names", string("apb_pclk")).prop("reg", u64(RTC_BASE, RTC_SIZE))
    rtc.prop("clocks", u32(PHANDLE_CLOCK))
    rtc.prop("interrupts", u32(IRQ_SPI, SPI_RTC, IRQ_LEVEL_HI))
    rtc.prop("compatible", strings("arm,pl031", "arm,primecell"))

    if facts.get("serial", True):
        uart = root.child(f"pl011@{UART_BASE:x}")
        uart.prop("clock-names", string("apb_pclk")).prop("reg", u64(UART_BASE, UART_SIZE))
        uart.prop("clocks", u32(PHANDLE_CLOCK))
        uart.prop("interrupts", u32(IRQ_SPI, SPI_UART, IRQ_EDGE_RISING))
        uart.prop("compatible", strings("arm,pl011", "arm,primecell"))

    pcie = root.child(f"pcie@{PCI_ECAM_BASE:x}")
    pcie.prop("ranges", u32(
        PCI_RANGE_IOPORT, 0, 0, 0, _lo(PCI_IO_BASE), 0, _lo(PCI_IO_SIZE),
        PCI_RANGE_MMIO, 0, _lo(PCI_MMIO_BASE), 0, _lo(PCI_MMIO_BASE), 0, _lo(PCI_MMIO_SIZE),
        PCI_RANGE_MMIO_64BIT, _hi(PCI_HIGH_BASE), _lo(PCI_HIGH_BASE), _hi(PCI_HIGH_BASE),
        _lo(PCI_HIGH_BASE), _hi(PCI_HIGH_SIZE), _lo(PCI_HIGH_SIZE)))
    pcie.prop("reg", u64(PCI_ECAM_BASE, PCI_ECAM_SIZE))
    pcie.prop("msi-map", u32(0, PHANDLE_ITS, 0, 0x100))
    pcie.prop("dma-coherent", NULL).prop("bus-range", u32(0, 0))
    pcie.prop("linux,pci-domain", u32(0))
    pcie.prop("#size-cells", u32(2)).prop("#address-cells", u32(3))
    pcie.prop("device_type", string("pci"))
    pcie.prop("compatible", string("pci-host-ecam-generic"))
    return root


def dtb_from_facts(facts: dict[str, Any]) -> bytes:
    """Regenerate the exact DTB bytes from :attr:`VmmBuild.facts` (vm-fdt, tight, no
    padding). Used by the front-end and by event-log writers / replay."""
    return to_dtb(dtb_tree(facts), policy="first-use")


# --------------------------------------------------------------------------- build

def _kernel(path: str) -> tuple[Image, int, int]:
    try:
        k = load_kernel(path)
    except ParametersError as exc:
        # the reference reports VmmError::File without the "VMM: " prefix at build time
        msg = exc.message[5:] if exc.message.startswith("VMM: file ") else exc.message
        raise ParametersError(msg) from None
    return k.image, k.text_offset, k.image_size


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno is not None:
            reason = f"{reason} (os error {exc.errno})"
        raise ParametersError(f"file {path} error: {reason}") from None


def _algo(name: str, inputs: MeasureInputs) -> HashAlgo:
    algo = ALGORITHMS[name]
    if algo not in inputs.profile.hash_algos:
        raise ParametersError(f"RMM: unknown hash algorithm `{name}`")
    return algo


def build(argv: list[str], inputs: MeasureInputs) -> VmmBuild:
    """cloud-hypervisor arguments + global inputs -> Realm build (spec §1-§3)."""
    cfg = parse_args(argv)
    algo = _algo(cfg.hash_algo_name, inputs)
    ram = ram_ranges(cfg.mem_size, cfg.ram_layout)
    blobs: dict[int, LoadedBlob] = {}

    def add(blob: LoadedBlob, context: str = "") -> None:
        if blob.ipa in blobs:
            raise ParametersError(f"{context}invalid VM configuration: duplicate blob at "
                                  f"{blob.ipa}")
        blobs[blob.ipa] = blob

    kernel_ipa: int | None = None
    text_offset = 0
    rec_pc = KERNEL_BASE
    if cfg.kernel:
        if inputs.kernel is None:
            raise ParametersError("need kernel image")
        image, text_offset, image_size = _kernel(inputs.kernel)
        offset = text_offset
        if cfg.kernel_entry == "upstream" and image_size == 0:
            offset = UPSTREAM_DEFAULT_TEXT_OFFSET
        kernel_ipa = (KERNEL_BASE + offset) & U64_MASK
        if cfg.kernel_entry == "upstream":
            rec_pc = kernel_ipa
        add(LoadedBlob("KERNEL", kernel_ipa, image))

    initrd: dict[str, int] | None = None
    if cfg.initramfs:
        if inputs.initrd is None:
            raise ParametersError("need initrd image")
        length = _file_size(inputs.initrd)
        start = initrd_start(ram, length)
        initrd = {"start": start, "size": length}
        add(LoadedBlob("INITRD", start, Image.from_file("initrd", inputs.initrd)))

    s2sz = min(inputs.caps.ipa_bits, IPA_LIMIT) if inputs.caps.ipa_bits is not None \
        else IPA_LIMIT
    pmu_enabled = bool(inputs.caps.pmu)
    facts: dict[str, Any] = {
        "vmm": VMM,
        "layout": {"pmu_node": cfg.pmu_node, "kernel_entry": cfg.kernel_entry,
                   "ram": cfg.ram_layout},
        "num_cpus": cfg.num_cpus,
        "ram": [[b, s] for b, s in ram],
        "mem_size": cfg.mem_size,
        "bootargs": cfg.cmdline,
        "initrd": initrd,
        "serial": cfg.serial,
        "pmu_node": cfg.pmu_node == "always" or pmu_enabled,
        "gic": gic_layout(cfg.num_cpus),
        "dtb_ipa": DTB_BASE,
        "kernel_ipa": kernel_ipa,
        "kernel_text_offset": text_offset if cfg.kernel else None,
        "rec_pc": rec_pc,
        "rec_x0": DTB_BASE,
        "hash_algo": algo.name,
        "s2sz": s2sz,
        "rpv": cfg.rpv.hex(),
    }
    dtb = dtb_from_facts(facts)
    add(LoadedBlob("DTB", DTB_BASE, Image.from_bytes("dtb", dtb)), "while generating DTB: ")

    params = finalize(inputs.caps, hash_algo=algo, s2sz=s2sz, rpv=cfg.rpv)
    check_ram(ram, s2sz, inputs.profile.measures_init_ripas)
    return VmmBuild(
        vmm=VMM, params=params, ram=ram, blobs=list(blobs.values()), rec_pc=rec_pc,
        rec_gprs=(DTB_BASE, 0, 0, 0, 0, 0, 0, 0), dtb=dtb, dtb_ipa=DTB_BASE,
        warnings=cfg.warnings, facts=facts)


__all__ = ["build", "dtb_from_facts", "parse_args", "scan_args", "ChvConfig"]
