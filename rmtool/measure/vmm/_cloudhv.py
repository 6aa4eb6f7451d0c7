"""cloud-hypervisor Realm front-end (``rmtool measure cloud-hv``).

Follows the reference tool's cloud-hypervisor model (cca-realm-measurements
``src/cloud_hypervisor.rs``: the options it accepts, the memory map, image placement, RMM
operation order and REC registers, the generated DTB) with ``load_kernel``
(``src/vmm.rs``), vm-fdt's byte format and the error contexts of ``src/main.rs``;
docs/vmm-cloud-hypervisor.md lists where rmtool differs.

The reference tool generates the DTB itself (``--dtb`` / ``--dtb-template`` are ignored
for this VMM) and the user starts cloud-hypervisor with that DTB. Every constant below
is the reference's; docs/vmm-cloud-hypervisor.md lists where upstream cloud-hypervisor
differs, and the ``--rmtool-*`` options (not in the reference) select upstream
behaviour where it changes the measurement.

Unknown options are already clap errors (as in the reference). Deliberate differences:
a global ``-k``/``-i`` without ``--kernel``/``--initramfs``, and any global ``-f`` (no
cloud-hv option loads a measured firmware), are errors instead of being ignored, and
``--firmware`` (accepted, not measured) is warned about after the results.

Arithmetic that the reference does on u64 in a release build wraps modulo 2^64 here too
(initrd below the RAM base, huge sizes), so odd configurations still match.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from rmtool._files import _kind_of
from rmtool.errors import ComputeError, ParametersError, RmtoolError, UsageError
from rmtool.measure.dtb.fdt import NULL, Node, string, strings, to_dtb, u32, u64
from rmtool.measure.host import finalize
from rmtool.measure.images import Image, NotRegularFile
from rmtool.measure.kernel import load_kernel
from rmtool.measure.rmm._limits import ripas_bound_error, ripas_range_error
from rmtool.measure.rmm.algorithms import ALGORITHMS, HashAlgo
from rmtool.measure.rmm.profiles import algorithm_names
from rmtool.measure.vmm._rustcompat import (
    HelpRequested,
    Opt,
    Parser,
    ValueRejected,
    in_context,
    parse_memory_size,
    scan,
)
from rmtool.measure.vmm._rustcompat import parse_uint as rust_parse_uint
from rmtool.measure.vmm.common import (
    KIB,
    MIB,
    DeferredError,
    ImageUse,
    LoadedBlob,
    MeasureInputs,
    Stage,
    VmmBuild,
    add_cpus_and_psci,
    align_up,
    attach_warnings,
    check_blobs_in_ipa,
    check_images_loaded,
    check_ipa_room,
    dummy_virt_root,
    parse_size,
    rpv_from_base64,
)
from rmtool.measure.vmm.registry import (
    LaunchRequest,
    LaunchSpec,
    LaunchTraits,
    LoggedDtbFacts,
    Regenerated,
    Templates,
    VmVersionFacts,
    need,
    register,
)

VMM = "cloud-hv"
U64_MASK = (1 << 64) - 1

# the memory map (the reference tool's constants)
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


# --------------------------------------------------------------------------- argv (clap)

def _rmtool_choice(long: str, choices: tuple[str, ...]) -> Parser:
    """The value parser of an ``--rmtool-*`` option (not in the reference): one of
    ``choices``, refused in rmtool's one-line wording."""

    def parse(text: str) -> str:
        if text not in choices:
            raise ValueRejected(None, choices, message=(
                f"error: invalid value '{text}' for '--{long} <VALUE>' "
                f"[possible values: {', '.join(choices)}]"))
        return text

    return parse


def _value(long: str, repeat: bool = False) -> Opt:
    """``--long <LONG>`` (``repeat``: a ``Vec`` field, clap ``ArgAction::Append``)."""
    return Opt(long, (long,), repeat=repeat)


def _flag(long: str) -> Opt:
    """A ``bool`` field: clap ``ArgAction::SetTrue`` (twice is an error)."""
    return Opt(long, (long,), takes_value=False)


def _rmtool(long: str, *choices: str) -> Opt:
    return Opt(long, (long,), parser=_rmtool_choice(long, choices))


# the reference's options, in declaration order; dest = the long name (the key scan_args returns)
VERBOSE = Opt("v", shorts=("v",), takes_value=False, repeat=True)  # -v, ArgAction::Count
ARGS: tuple[Opt, ...] = (
    _value("cpus"), _value("platform"), _value("memory"), _value("memory-zone", True),
    _value("firmware"), _value("kernel"), _value("initramfs"), _value("cmdline"),
    _value("rate-limit-group", True), _value("disk", True),
    _value("net", True), _value("rng"), _value("balloon"), _value("fs", True),
    _value("pmem", True), _value("serial"), _value("console"),
    _value("device", True), _value("user-device", True),
    _value("vdpa", True), _value("vsock"), _flag("pvpanic"),
    _value("numa", True), _value("pci-segment", True), _flag("watchdog"),
    _value("log-file"), _value("api-socket"), _value("event-monitor"), _value("restore"),
    _value("seccomp"), _value("tpm"), VERBOSE, _value("dtb"),
    # rmtool extensions (not accepted by the reference): upstream cloud-hypervisor behaviour
    _rmtool("rmtool-pmu-node", "always", "auto"),
    _rmtool("rmtool-kernel-entry", "reference", "upstream"),
    _rmtool("rmtool-ram-layout", "reference", "upstream"),
    # clap's generated help flag
    Opt("help", ("help",), ("h",), takes_value=False),
)

HELP_TEXT = """Use the cloud-hypervisor VMM

Usage: realm-measurements cloud-hv [OPTIONS]

Options:
{options}
"""


def help_text() -> str:
    """The cloud-hv help, laid out as clap does (options in declaration order)."""
    rows: list[tuple[str, str]] = []
    for opt in ARGS:
        if opt.dest == "help":
            continue
        if opt is VERBOSE:
            rows.append(("  -v...", ""))
            continue
        extra = "(rmtool only)" if opt.dest.startswith("rmtool-") else ""
        rows.append((f"      {opt.display()}", extra))
    rows.append(("  -h, --help", "Print help"))
    width = max(len(left) for left, _ in rows) + 2
    return HELP_TEXT.format(options="\n".join(
        f"{left:<{width}}{right}".rstrip() for left, right in rows))


def scan_args(argv: Sequence[str]) -> dict[str, list[str]]:
    """clap ``Parser::parse`` of the cloud-hv arguments (:func:`rustcompat.scan`, no
    ``Usage:`` line after an error): ``--long value``, ``--long=value``, flags,
    ``-v``/``-vv``. Returns long name -> values (flags and ``-v`` get one ``""`` per
    occurrence). Errors use clap's first line (exit 2); ``-h``/``--help`` raise
    :class:`HelpRequested`.
    """
    return scan(argv, ARGS)


def clap_check(argv: Sequence[str]) -> None:
    """The clap pass alone (for the CLI's whole-argv check, which must report clap
    errors before any tool error such as the --dtb/--dtb-template conflict)."""
    try:
        scan_args(argv)
    except HelpRequested:
        return


# --------------------------------------------------------------------------- values

def split_params(arg: str, option: str) -> Iterator[tuple[str, str]]:
    """``k=v,k=v`` items, lazily: the reference handles each item before it looks at
    the next, so an item without ``=`` (``malformed <option> param <item>``) is only
    reported once the items before it were applied (warnings, value errors)."""
    for item in arg.split(","):
        name, eq, value = item.partition("=")
        if not eq:
            raise ParametersError(f"malformed {option} param {item}")
        yield name, value


# --------------------------------------------------------------------------- config

@dataclass
class ChvConfig:
    """What the parsed cloud-hypervisor arguments mean for the Realm."""

    num_cpus: int = DEFAULT_CPUS
    mem_size: int = DEFAULT_MEM
    serial: bool = True
    cmdline: str | None = None
    kernel: bool = False
    initramfs: bool = False
    firmware: bool = False  # --firmware: accepted, not measured
    hash_algo_name: str = DEFAULT_ALGO
    rpv: bytes = bytes(64)
    arm_rme: bool = False  # --platform arm_rme=on: a Realm (off by default)
    pmu_node: str = "always"  # --rmtool-pmu-node always|auto
    kernel_entry: str = "reference"  # --rmtool-kernel-entry reference|upstream
    ram_layout: str = "reference"  # --rmtool-ram-layout reference|upstream
    warnings: list[str] = field(default_factory=list)


def parse_platform(arg: str, cfg: ChvConfig,
                   algos: Collection[str] = algorithm_names()) -> None:
    """Reference ``parse_platform``: items in order, unknown keys ignored; the algorithm
    is checked where it appears (``algos``: the RMM version's algorithms)."""
    for name, value in split_params(arg, "--platform"):
        if name == "personalization_value":
            cfg.rpv = rpv_from_base64(value)
        elif name == "measurement_algo":
            if value not in algos:
                raise ParametersError(f"RMM: unknown hash algorithm `{value}`")
            cfg.hash_algo_name = value
        elif name == "arm_rme":
            cfg.arm_rme = value in ("on", "true")


def parse_cpus(arg: str, cfg: ChvConfig) -> None:
    """Reference ``parse_cpus``: ``boot=`` is the vCPU count, other keys warn."""
    for name, value in split_params(arg, "--cpu"):
        if name == "boot":
            cfg.num_cpus = in_context("--cpus", rust_parse_uint, value)
        else:
            cfg.warnings.append(f"ignored --cpus parameter {name}")


def parse_memory(arg: str, cfg: ChvConfig) -> None:
    """Reference ``parse_memory``: ``size=`` is the RAM size, other keys warn."""
    for name, value in split_params(arg, "--memory"):
        if name == "size":
            cfg.mem_size = parse_size(value, "--memory")
        else:
            cfg.warnings.append(f"ignored --memory parameter {name}")


def parse_args(argv: Sequence[str], algos: Collection[str] = algorithm_names(),
               cfg: ChvConfig | None = None) -> ChvConfig:
    """clap first (every usage error before any value is looked at), then the
    reference's ``parse_cmdline`` order: --platform, --cpus, --memory, --serial.
    ``cfg`` (optional) receives the result, so its warnings survive an error."""
    opts = scan_args(argv)
    cfg = ChvConfig() if cfg is None else cfg

    def last(name: str) -> str | None:
        values = opts.get(name)
        return values[-1] if values else None

    platform = last("platform")
    if platform is not None:
        parse_platform(platform, cfg, algos)
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
    cfg.firmware = "firmware" in opts
    cfg.pmu_node = last("rmtool-pmu-node") or cfg.pmu_node
    cfg.kernel_entry = last("rmtool-kernel-entry") or cfg.kernel_entry
    cfg.ram_layout = last("rmtool-ram-layout") or cfg.ram_layout
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


def check_ram(ram: list[tuple[int, int]], s2sz: int, measured: bool) -> RmtoolError | None:
    """The reference's INIT_RIPAS range check and rmtool's bound (:mod:`rmm.limits`).
    Returned, not raised: the reference only meets it when computing
    (``RealmConfig::compute_rim``), after the DTB was written, and never with
    ``--no-measurements``."""
    for base, size in ram:
        error: RmtoolError | None = ripas_range_error(base, size)
        if error is None and measured:
            error = ripas_bound_error("--memory", base, size, s2sz)
        if error is not None:
            return error
    return None


class ChvFacts(TypedDict):
    """``VmmBuild.facts`` of a cloud-hv build: JSON-friendly (lists, dicts) and enough
    for :func:`dtb_from_facts` to rebuild the DTB."""

    vmm: str
    layout: dict[str, str]
    num_cpus: int
    ram: list[list[int]]
    mem_size: int
    bootargs: str | None
    initrd: dict[str, int] | None
    serial: bool
    pmu_node: bool
    gic: dict[str, list[int]]
    dtb_ipa: int
    kernel_ipa: int | None
    kernel_text_offset: int | None
    rec_pc: int
    rec_x0: int
    hash_algo: str
    s2sz: int
    rpv: str


# --------------------------------------------------------------------------- DTB

def _hi(v: int) -> int:
    return (v >> 32) & 0xFFFFFFFF


def _lo(v: int) -> int:
    return v & 0xFFFFFFFF


def dtb_tree(facts: Mapping[str, Any]) -> Node:
    """The reference generator's tree, in node and property order (reference ``add_dtb``)."""
    n = int(facts["num_cpus"])
    root = dummy_virt_root(PHANDLE_GIC)

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

    add_cpus_and_psci(root, n)

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


def dtb_from_facts(facts: Mapping[str, Any]) -> bytes:
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
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # /dev/zero has size 0, a FIFO would block
            raise NotRegularFile(f"initrd is {_kind_of(st.st_mode)}, not a regular file")
        return st.st_size
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
    """cloud-hypervisor arguments + global inputs -> Realm build (reference ``build_params``).

    As the reference (clap, then ``log::warn!`` while parsing): ``-h``/``--help`` raises
    :class:`HelpRequested` (the CLI prints :func:`help_text` and exits 0); warnings met
    before an error travel on it as ``exc.warnings`` (the CLI writes them before its
    ``ERROR`` line; on success they are in ``VmmBuild.warnings``)."""
    cfg = ChvConfig()
    try:
        parse_args(argv, [a.name for a in inputs.profile.hash_algos], cfg)
        if cfg.num_cpus == 0 and not inputs.reference_mode:
            raise ParametersError(ZERO_CPUS)
        end = max(base + size for base, size in ram_ranges(cfg.mem_size, cfg.ram_layout))
        check_ipa_room(VMM, end, inputs, f"--memory size={cfg.mem_size:#x}: RAM ends at "
                       f"{end:#x}, beyond the guest physical address space")
        result = _build(cfg, inputs)
        check_blobs_in_ipa(result, inputs)
        if not result.deferred:  # the reference's own error comes first
            result.result_warnings.extend(
                check_images_loaded(VMM, images_used(cfg, inputs), inputs))
        if cfg.firmware:
            result.result_warnings.append(FIRMWARE_NOT_MEASURED)
        if not cfg.arm_rme and not inputs.reference_mode:
            result.result_warnings.append(NOT_A_REALM)
        return result
    except RmtoolError as exc:
        attach_warnings(exc, cfg.warnings)
        raise


ZERO_CPUS = ("cloud-hypervisor --cpus boot=0 boots no vCPU (a Realm needs at least one); "
             "give the count")
NOT_A_REALM = ("cloud-hypervisor without --platform arm_rme=on: this is not a Realm; the "
               "measurements describe nothing a Realm will report")

FIRMWARE_NOT_MEASURED = ("--firmware is not measured (as by the reference tool): if "
                         "cloud-hypervisor loads it into the Realm, the Realm's RIM differs "
                         "from this one")


def images_used(cfg: ChvConfig, inputs: MeasureInputs) -> list[ImageUse]:
    """The global images and the cloud-hypervisor options that load them. No option
    loads a measured firmware: the reference accepts ``--firmware`` and ignores it."""
    return [
        ImageUse("-k", inputs.kernel, "kernel", cfg.kernel, "--kernel"),
        ImageUse("-i", inputs.initrd, "initrd", cfg.initramfs, "--initramfs"),
        ImageUse("-f", inputs.firmware, "measured firmware", False,
                 "--firmware is accepted and not measured"),
    ]


def _build(cfg: ChvConfig, inputs: MeasureInputs) -> VmmBuild:
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
    facts: ChvFacts = {
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

    deferred: RmtoolError | None
    try:
        params = finalize(inputs.caps, hash_algo=algo, s2sz=s2sz, rpv=cfg.rpv)
        deferred = check_ram(ram, s2sz, inputs.profile.measures_init_ripas)
    except ComputeError as exc:
        # Realm::rim_realm_create fails in compute_measurements, after add_dtb wrote
        # the DTB: keep the build (placeholder counts) and fail when measuring
        caps = inputs.caps
        params = finalize(caps.set(num_wps=caps.num_wps or 2, num_bps=caps.num_bps or 2,
                                   pmu_num_ctrs=caps.pmu_num_ctrs or 0),
                          hash_algo=algo, s2sz=s2sz, rpv=cfg.rpv)
        deferred = exc
    return VmmBuild(
        vmm=VMM, params=params, ram=ram, blobs=list(blobs.values()), rec_pc=rec_pc,
        rec_gprs=(DTB_BASE, 0, 0, 0, 0, 0, 0, 0), dtb=dtb, dtb_ipa=DTB_BASE,
        warnings=cfg.warnings, facts=facts,
        deferred=[] if deferred is None else [DeferredError(Stage.AT_MEASURE, deferred)])


__all__ = ["build", "clap_check", "dtb_from_facts", "help_text", "parse_args", "scan_args",
           "parse_memory_size", "rust_parse_uint", "ChvConfig", "HelpRequested"]


# --------------------------------------------------------------------------- front-end

REFERENCE_BOOTARGS = "console=hvc0"  # what the reference replay passes to its generators


class CloudHvFrontend:
    """cloud-hypervisor as a :class:`rmtool.measure.vmm.registry.VmmFrontend`."""

    name = VMM
    aliases: tuple[str, ...] = ("cloud-hypervisor",)
    log_name = "cloudhv"
    launch = LaunchTraits(
        dtb_name="cloudhv-gen.dtb", serial=("pl011", 0x09000000, "ttyAMA0"),
        binary_setting="cloudhv_bin", default_binary="cloud-hypervisor",
        default_network="tap",
        edk2_build="Build/ArmVirtCloudHv-AARCH64/DEBUG_GCC5/FV/QEMU_EFI.fd",
        edk2_run="QEMU_EFI.fd")

    def scan_args(self, argv: Sequence[str]) -> None:
        scan_args(argv)

    def help_text(self) -> str:
        return help_text()

    def build(self, argv: list[str], inputs: MeasureInputs) -> VmmBuild:
        return build(argv, inputs)

    def vm_version(self, b: VmmBuild) -> VmVersionFacts:
        facts = cast(ChvFacts, b.facts)
        return VmVersionFacts(self.log_name, "", sum(size for _, size in b.ram),
                              facts["num_cpus"])

    def dtb_from_facts(self, d: LoggedDtbFacts, templates: Templates
                       ) -> Iterator[Regenerated]:
        """:func:`dtb_from_facts` over the RAM layout, serial, PMU node and bootargs
        (no template mode: the reference generates this VMM's DTB itself)."""
        del templates
        initrd = {"start": d.initrd[0], "size": d.initrd[1]} if d.initrd else None
        for layout in ("reference", "upstream"):
            for serial in (True, False):
                for pmu_node in sorted({d.pmu, True}, reverse=True):
                    for bootargs in (None, REFERENCE_BOOTARGS):
                        facts = {"num_cpus": d.cpus, "ram": ram_ranges(d.ram_size, layout),
                                 "bootargs": bootargs, "initrd": initrd, "serial": serial,
                                 "pmu_node": pmu_node, "gic": gic_layout(d.cpus)}
                        yield Regenerated(dtb_from_facts(facts), (
                            f"cloud-hypervisor generator ({layout} RAM layout, serial "
                            f"{'on' if serial else 'off'}, bootargs {bootargs!r})"))

    def check_launch(self, o: LaunchSpec) -> list[str]:
        if o.edk2:
            raise UsageError("cloud-hv with --edk2 is not supported: the reference script "
                             "passes -bios, which cloud-hypervisor rejects, and the "
                             "cloud-hypervisor model ignores --firmware, so a firmware boot "
                             "cannot be measured; boot the kernel directly (drop --edk2)")
        if o.eventlog:
            raise UsageError("--eventlog is not available with cloud-hv (no Realm "
                             "measurement log option); use qemu or kvmtool")
        if o.share is not None:
            raise UsageError("--share is not available with cloud-hv (it needs a virtiofsd "
                             "daemon); use qemu or kvmtool")
        if o.net == "user":
            raise UsageError("cloud-hypervisor has no user-mode network; use --network tap "
                             "or none")
        return []

    def launch_argv(self, r: LaunchRequest) -> list[str]:
        o, p = r.options, r.paths
        args = ["--platform",
                f"arm_rme=on,measurement_algo=sha512,personalization_value={r.rpv_b64}"]
        args += ["--console", "off", "--serial", "tty"] if o.serial else \
            ["--console", "tty", "--serial", "off"]
        args += ["--kernel", need(p.kernel, "kernel")]
        if o.use_initrd:
            args += ["--initramfs", need(p.initrd, "initrd")]
        else:
            args += ["--disk", f"path={p.disk}"]
        args += ["--cpus", f"boot={o.cpus}", "--memory", f"size={o.memory}"]
        if o.net == "tap":
            args += ["--net", "fd=3,mac=${TAP_MAC}"]
        if o.vsock is not None:
            args += ["--vsock", f"cid={o.vsock},socket=/tmp/rmtool-vsock-{o.vsock}.sock"]
        args += ["-v", "--dtb", p.dtb, "--cmdline", r.kernel_params]
        return args


register(CloudHvFrontend())
