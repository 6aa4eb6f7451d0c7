"""kvmtool (``lkvm run``) Realm front-end.

Follows the reference tool's kvmtool model (cca-realm-measurements ``src/kvmtool.rs``:
``KvmtoolArgs`` options, ``parse_cmdline``, ``build_params`` placement and REC registers;
the DTB in :mod:`rmtool.measure.vmm._kvmtool_dtb`, ``--dtb-template`` in
:mod:`rmtool.measure.vmm._kvmtool_template`); docs/vmm-kvmtool.md lists the supported
options and where rmtool differs.

Files are never taken from kvmtool's own ``-k/-i/-f``: they only say "present"; the
contents come from the global ``-k/-i/-f`` options. A global image that kvmtool's options
do not load is an error (the reference ignores it; docs/vmm-kvmtool.md), and a command
line without ``--realm`` is measured as the reference does but warned about: kvmtool then
starts a normal VM, which reports no Realm measurements at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypedDict, cast

from rmtool._files import LIMITS
from rmtool.errors import (
    ComputeError,
    ConfigError,
    DtbError,
    ParametersError,
    RmtoolError,
    UsageError,
    os_error_text,
)
from rmtool.measure.host import HostCaps, check_pmu_ctrs, check_sve_vl, finalize
from rmtool.measure.images import Image, read_input
from rmtool.measure.kernel import load_kernel
from rmtool.measure.rmm import _limits as limits
from rmtool.measure.rmm._layouts import U64_MASK
from rmtool.measure.rmm.algorithms import by_name
from rmtool.measure.rmm.ops import RealmParams
from rmtool.measure.rmm.profiles import RmmProfile, algorithm_names
from rmtool.measure.vmm._kvmtool_dtb import DTB_SIZE

# the DTB pieces live in kvmtool_dtb (shared with kvmtool_template); re-exported here
from rmtool.measure.vmm._kvmtool_dtb import RAM_BASE as RAM_BASE
from rmtool.measure.vmm._kvmtool_dtb import DtbFacts as DtbFacts
from rmtool.measure.vmm._kvmtool_dtb import bootargs as bootargs
from rmtool.measure.vmm._kvmtool_dtb import generate_dtb as generate_dtb
from rmtool.measure.vmm._kvmtool_dtb import generate_tree as generate_tree
from rmtool.measure.vmm._kvmtool_dtb import pad_dtb as pad_dtb
from rmtool.measure.vmm._kvmtool_template import apply_template
from rmtool.measure.vmm._rustcompat import (
    Opt,
    parse_u8,
    parse_u16,
    parse_u64,
    scan,
)
from rmtool.measure.vmm.common import (
    LOG_SIZE,
    MIB,
    DeferredError,
    ImageUse,
    LoadedBlob,
    MeasureInputs,
    ReferencePanic,
    Stage,
    VmmBuild,
    check_blobs_in_ipa,
    check_images_loaded,
    check_ipa_room,
    parse_size,
    rpv_pad,
)
from rmtool.measure.vmm.registry import (
    SHARE_TAG,
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

# clap (derive) definitions of ``KvmtoolArgs`` (reference src/kvmtool.rs): long name,
# short, value type. Flags are ``SetTrue`` (twice = error), ``Vec`` fields repeat.
OPTIONS = (
    Opt("name", ("name",)),
    Opt("cpus", ("cpus",), ("c",), parser=parse_u64),  # usize
    Opt("mem", ("mem",), ("m",)),
    Opt("disk", ("disk",), ("d",), repeat=True),
    Opt("balloon", ("balloon",), takes_value=False),
    Opt("rng", ("rng",), takes_value=False),
    Opt("nodefaults", ("nodefaults",), takes_value=False),
    Opt("p9", ("9p",), repeat=True),
    Opt("console", ("console",)),
    Opt("vsock", ("vsock",), parser=parse_u64),  # u64
    Opt("dev", ("dev",)),
    Opt("tty", ("tty",)),
    Opt("hugetlbfs", ("hugetlbfs",)),
    Opt("virtio_transport", ("virtio-transport",)),
    Opt("loglevel", ("loglevel",)),
    Opt("kernel", ("kernel",), ("k",)),
    Opt("initrd", ("initrd",), ("i",)),
    Opt("params", ("params",), ("p",)),
    Opt("firmware", ("firmware",), ("f",)),
    Opt("flash", ("flash",), ("F",)),
    Opt("network", ("network",), ("n",), repeat=True),
    Opt("no_dhcp", ("no-dhcp",), takes_value=False),
    Opt("vfio_pci", ("vfio-pci",), repeat=True),
    Opt("debug", ("debug",), takes_value=False),
    Opt("debug_single_step", ("debug-single-step",), takes_value=False),
    Opt("debug_ioport", ("debug-ioport",), takes_value=False),
    Opt("debug_mmio", ("debug-mmio",), takes_value=False),
    Opt("debug_iodelay", ("debug-iodelay",), parser=parse_u64),  # usize
    Opt("pmu", ("pmu",), takes_value=False),
    Opt("disable_sve", ("disable-sve",), takes_value=False),
    Opt("realm", ("realm",), takes_value=False),
    Opt("measurement_algo", ("measurement-algo",)),
    Opt("measurement_log", ("measurement-log",), takes_value=False),
    Opt("realm_pv", ("realm-pv",)),
    Opt("no_pvtime", ("no-pvtime",), takes_value=False),
    Opt("sve_max_vl", ("sve-max-vl",), parser=parse_u16),  # u16
    Opt("pmu_counters", ("pmu-counters",), parser=parse_u8),  # u8
    Opt("vcpu_affinity", ("vcpu-affinity",)),
    Opt("disable_mte", ("disable-mte",), takes_value=False),
    Opt("force_pci", ("force-pci",), takes_value=False),
    Opt("irqchip", ("irqchip",)),
    Opt("firmware_address", ("firmware-address",), parser=parse_u64),  # u64, decimal
    Opt("dtb", ("dtb",)),
    # note the underscore: ``--restricted-mem`` is an unexpected argument
    Opt("restricted_mem", ("restricted_mem",), takes_value=False),
    # clap's generated help flag
    Opt("help", ("help",), ("h",), takes_value=False),
)

HELP_TEXT = """Use the kvmtool VMM

Usage: realm-measurements kvmtool [OPTIONS]

Options:
{options}
"""


def help_text() -> str:
    """``kvmtool -h``: clap's help for ``KvmtoolArgs`` (no per-option help texts; the
    about line is the ``VmmType::Kvmtool`` doc comment), options in declaration order.
    clap pads every option to the help column (``align_to_about``) even without a help
    text and only trims the end of the whole text."""
    rows = [(f"  {f'-{o.shorts[0]}, ' if o.shorts else '    '}{o.display()}", "")
            for o in OPTIONS if o.dest != "help"]
    rows.append(("  -h, --help", "Print help"))
    width = max(len(left) for left, _ in rows) + 2
    return HELP_TEXT.format(options="\n".join(f"{left:<{width}}{right}"
                                               for left, right in rows))


def scan_args(argv: Sequence[str]) -> dict[str, list[str]]:
    """The clap pass over ``lkvm run`` arguments (:func:`rustcompat.scan`; exit-2 errors
    in argv order, followed by the kvmtool ``Usage:`` line; :class:`HelpRequested` for
    ``-h``/``--help``)."""
    return scan(argv, OPTIONS, "kvmtool")


@dataclass
class KvmtoolConfig:
    """What the parsed ``lkvm run`` arguments mean for the Realm."""

    cpus: int
    ram_size: int
    params: str | None = None
    kernel: bool = False
    initrd: bool = False
    firmware: bool = False
    flash: bool = False
    firmware_address: int = RAM_BASE
    hash_algo_name: str = "sha256"
    rpv: bytes = bytes(64)
    its: bool = True
    mmio: bool = False
    virtio_devices: int = 0
    measurement_log: bool = False
    realm: bool = False
    caps_restrict: dict[str, object] = field(default_factory=dict)


def parse_mem(text: str | None) -> int:
    """``-m sz[@addr]`` (reference ``parse_mem``): size first, then alignment, then ``@``."""
    if text is None:
        # kvmtool picks a default size based on host memory, but we can't
        raise ParametersError("default guest RAM size is not known")
    size_text, at, _ = text.partition("@")
    ram = parse_size(size_text, "-m")
    if ram % (2 * MIB):
        raise ParametersError("RAM size must be aligned on 2MB")
    if at:
        raise ParametersError("unsupported RAM base change")
    return ram


def parse_args(argv: list[str], profile: RmmProfile | None = None) -> KvmtoolConfig:
    """The ``lkvm run`` arguments, checked in the reference's order
    (src/kvmtool.rs ``parse_cmdline`` then ``parse_device_cmdline``)."""
    try:
        return _parse_args(argv, profile)
    except ConfigError as exc:
        raise ParametersError(exc.message) from exc


def _parse_args(argv: list[str], profile: RmmProfile | None) -> KvmtoolConfig:
    opts = scan_args(argv)

    def last(name: str) -> str | None:
        values = opts.get(name)
        return values[-1] if values else None

    cpus_text = last("cpus")
    if cpus_text is None:
        raise ParametersError("number of vCPUs is not known")
    cfg = KvmtoolConfig(cpus=parse_u64(cpus_text), ram_size=parse_mem(last("mem")))
    cfg.params = last("params")
    algo = last("measurement_algo")
    if algo is not None:
        # the reference's sha256 / sha512; rmtool: SHA-384 where --rmm-version accepts it
        if algo not in algorithm_names(profile):
            raise ParametersError(f"RMM: unknown hash algorithm `{algo}`")
        cfg.hash_algo_name = algo
    restrict: dict[str, object] = {}
    if "pmu" in opts:
        restrict["pmu"] = True
    ctrs = last("pmu_counters")
    if ctrs is not None:
        restrict["pmu_num_ctrs"] = check_pmu_ctrs(parse_u8(ctrs))
    if "disable_sve" in opts:
        restrict["sve_vl"] = 0
    else:
        vl = last("sve_max_vl")
        if vl is not None:
            restrict["sve_vl"] = check_sve_vl(parse_u16(vl))
    cfg.caps_restrict = restrict
    pv = last("realm_pv")
    if pv is not None:
        cfg.rpv = rpv_pad(pv.encode("utf-8", "surrogateescape"))
    # parse_device_cmdline: irqchip, transport, then the virtio devices (netdevs last)
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
    cfg.virtio_devices = _count_virtio(opts, transport)
    fw_addr = last("firmware_address")
    if fw_addr is not None:
        cfg.firmware_address = parse_u64(fw_addr)
    cfg.measurement_log = "measurement_log" in opts
    cfg.kernel = "kernel" in opts
    cfg.initrd = "initrd" in opts
    cfg.firmware = "firmware" in opts
    cfg.flash = "flash" in opts
    cfg.realm = "realm" in opts
    return cfg


def _count_virtio(opts: dict[str, list[str]], transport: str) -> int:
    """Virtio devices that become virtio-mmio nodes (``parse_device_cmdline``, ``parse_netdev``)."""
    count = len(opts.get("balloon", [])) + len(opts.get("rng", []))
    count += len(opts.get("p9", []))
    if "vsock" in opts:
        count += 1
    if (opts.get("console") or [""])[-1] == "virtio":
        count += 1
    count += len(opts.get("disk", []))
    netdevs = 1  # one default netdev, unless the user passes mode=none
    for item in opts.get("network", []):
        for kv in item.split(","):
            key, eq, value = kv.partition("=")
            if not eq:
                raise ParametersError(f"malformed -n param {kv}")
            if key == "mode":
                netdevs = 0 if value == "none" else netdevs + 1
            elif key == "trans":
                if value not in ("pci", "mmio"):
                    raise ParametersError(f"invalid transport {value}")
                if value != transport:
                    raise ParametersError("unsupported virtio transport mismatch")
    return count + netdevs


# --------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class Layout:
    """``build_params``: where the images go."""

    dtb: int
    log: tuple[int, int] | None
    initrd: int | None


def _align_up_u64(value: int, align: int) -> int:
    """Reference ``utils::align_up`` on u64: ``(n + align - 1) & !(align - 1)``, wrapping."""
    return ((value + align - 1) & U64_MASK) & ~(align - 1)


def layout(ram_size: int, log: bool, initrd_len: int | None) -> Layout:
    """``build_params`` placement in wrapping u64 arithmetic (release build): a RAM size
    near 2**64 wraps ``M + S`` below the 256 MiB limit, and an initrd larger than the
    space below the DTB wraps to the top of the address space instead of failing."""
    top = min((RAM_BASE + ram_size) & U64_MASK, RAM_BASE + 256 * MIB)
    log_region = None
    if log:
        log_region = ((top - LOG_SIZE) & U64_MASK, LOG_SIZE)
        top = (top - LOG_SIZE) & U64_MASK
    dtb = _align_up_u64((top - (2 * MIB + DTB_SIZE)) & U64_MASK, 2 * MIB)
    initrd = None
    if initrd_len is not None:
        initrd = _align_up_u64((dtb - (initrd_len + 4)) & U64_MASK, 4)
    return Layout(dtb=dtb, log=log_region, initrd=initrd)


def ipa_bits(ram_size: int) -> int:
    """``max(ilog2(M + S - 1), 32) + 1`` (reference ``parse_cmdline``; exact integer
    log, no float rounding; ``M + S - 1`` wraps at 64 bits)."""
    return max(((RAM_BASE + ram_size - 1) & U64_MASK).bit_length() - 1, 32) + 1


def ripas_top(ram_size: int) -> int:
    """``RealmConfig::compute_rim`` for kvmtool's RAM (:func:`rmm.limits.ripas_top`)."""
    return limits.ripas_top(RAM_BASE, ram_size)


def reference_realm_error(s2sz: int, ram_size: int, rtt_walk: bool = True
                          ) -> RmtoolError | None:
    """What the reference's Realm model (src/realm.rs, release build) meets for this IPA
    width and RAM before any DATA_CREATE, in its order:

    * ``rim_realm_create`` -> ``translation_block_sizes``: u8 arithmetic leaves more than
      four levels for s2sz < 12 or > 52 and ``assert!(num_levels <= 4)`` panics;
    * ``rim_init_ripas``: an empty wrapped range is ``invalid parameter RIPAS(b, t)``;
      s2sz 12..16 leaves no block size (``block sizes is not known``);
    * ``find_block_size`` asserts ``start < 1 << 63`` once the walk reaches 2**63.

    ``rtt_walk`` False (an RMM version that does not measure INIT_RIPAS): only the empty
    range check applies.
    """
    if rtt_walk and not limits.REFERENCE_S2SZ_MIN <= s2sz <= limits.REFERENCE_S2SZ_MAX:
        return ReferencePanic("assertion failed: num_levels <= 4", "src/realm.rs:192:5")
    empty = limits.ripas_range_error(RAM_BASE, ram_size)
    if empty is not None or not rtt_walk:
        return empty
    if s2sz <= limits.REFERENCE_NO_BLOCK_S2SZ:
        return ComputeError("block sizes is not known")
    if ripas_top(ram_size) > limits.REFERENCE_MAX_RIPAS_ADDRESS:
        return ReferencePanic("assertion failed: start < 1u64 << 63", "src/realm.rs:155:9")
    return limits.ripas_bound_error("-m", RAM_BASE, ram_size, s2sz)


# --------------------------------------------------------------------------- DTB

class KvmtoolFacts(TypedDict):
    """``VmmBuild.facts`` of a kvmtool build (the DTB inputs and the RAM)."""

    vmm: str
    ram_base: int
    ram_size: int
    cpus: int
    bootargs: str
    initrd: tuple[int, int] | None
    its: bool
    pmu: bool
    log: tuple[int, int] | None
    virtio_mmio: int
    dtb_ipa: int


def _read_dtb(path: str) -> bytes:
    """``--dtb``: read in ``add_dtb`` (context "while generating DTB")."""
    try:
        return read_input(path, LIMITS["dtb"], "DTB")
    except OSError as exc:
        raise ParametersError("while generating DTB: "
                              + os_error_text(path, exc).removeprefix("VMM: ")) from exc


def _read_template(path: str) -> bytes:
    """``--dtb-template``: ``std::fs::read(...)?`` without context: the bare io::Error."""
    try:
        return read_input(path, LIMITS["dtb"], "DTB template")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno is not None:
            reason = f"{reason} (os error {exc.errno})"
        raise ParametersError(reason) from exc


def _duplicate(ipa: int) -> ParametersError:
    """``RealmConfig::add_rim_blob``: the address is printed in decimal."""
    return ParametersError(f"invalid VM configuration: duplicate blob at {ipa}")


# --------------------------------------------------------------------------- build

ZERO_CPUS = "kvmtool -c 0 means the host's CPU count; give the count"
NOT_A_REALM = ("kvmtool without --realm: this is not a Realm; the measurements describe "
               "nothing a Realm will report")


def build(argv: list[str], inputs: MeasureInputs) -> VmmBuild:
    """src/kvmtool.rs ``build_params``: every step and error in the reference's order
    (``-h``/``--help`` raises :class:`HelpRequested`; the CLI prints :func:`help_text`)."""
    cfg = parse_args(argv, inputs.profile)
    if cfg.cpus == 0 and not inputs.reference_mode:
        # kvmtool builtin-run.c: nrcpus 0 becomes the host's online CPU count
        raise ParametersError(ZERO_CPUS)
    # kvmtool arm/aarch64 kvm__arch_validate_cfg: ARM_MAX_MEMORY is 2^ipa - the RAM base
    room = (1 << (inputs.caps.ipa_bits or 0)) - RAM_BASE
    check_ipa_room("kvmtool", RAM_BASE + cfg.ram_size, inputs,
                   f"RAM size {cfg.ram_size:#x} exceeds maximum allowed {room:#x}")
    caps: HostCaps = inputs.caps.restrict(ipa_bits=ipa_bits(cfg.ram_size),
                                          **cfg.caps_restrict)
    algo = by_name(cfg.hash_algo_name)
    lay = layout(cfg.ram_size, cfg.measurement_log, None)
    pmu = bool(caps.pmu)

    blobs: dict[int, LoadedBlob] = {}

    def add(blob: LoadedBlob) -> None:
        if blob.ipa in blobs:
            raise _duplicate(blob.ipa)
        blobs[blob.ipa] = blob

    if cfg.kernel:
        if inputs.kernel is None:
            raise ParametersError("need kernel image")
        kernel = load_kernel(inputs.kernel)
        add(LoadedBlob("KERNEL", (RAM_BASE + kernel.text_offset) & U64_MASK, kernel.image))
    initrd: tuple[int, int] | None = None
    template_initrd = (0, 0)
    if cfg.initrd:
        if inputs.initrd is None:
            raise ParametersError("need initrd image")
        image = Image.from_file("initrd", inputs.initrd)
        try:
            size = image.size
        except ComputeError as exc:  # VmmError, not wrapped in RealmError: no "VMM: "
            raise ParametersError(exc.message.removeprefix("VMM: ")) from exc
        start = layout(cfg.ram_size, cfg.measurement_log, size).initrd
        assert start is not None
        template_initrd = (start, (start + size) & U64_MASK)
        if size:
            initrd = template_initrd
        add(LoadedBlob("INITRD", start, image))
    if cfg.firmware:
        if inputs.firmware is None:
            raise ParametersError("need firmware image")
        # opened lazily by the reference: a missing file fails only when measuring
        add(LoadedBlob("FIRMWARE", cfg.firmware_address,
                       Image.from_file("firmware", inputs.firmware)))
    if cfg.flash:
        raise ReferencePanic("not yet implemented: cfi-flash not supported",
                             "src/kvmtool.rs:763:9")

    # build_params sets pc for -k, then again for -f: the firmware address wins
    if cfg.firmware:
        pc = cfg.firmware_address
    elif cfg.kernel:
        pc = RAM_BASE
    else:
        pc = 0

    compute_error: RmtoolError | None = None
    try:
        params = finalize(caps, hash_algo=algo, rpv=cfg.rpv)
        inputs.profile.check_algo(algo)
    except ComputeError as exc:
        # rim_realm_create runs after the DTB is written; keep the error for then
        compute_error = exc
        params = RealmParams(hash_algo=algo, s2sz=caps.ipa_bits or 33, num_bps=2, num_wps=2,
                             sve_vl=0, pmu=False, pmu_num_ctrs=0, lpa2=False, rpv=cfg.rpv)
    if compute_error is None:
        compute_error = reference_realm_error(params.s2sz, cfg.ram_size,
                                              inputs.profile.measures_init_ripas)

    facts = DtbFacts(
        cpus=cfg.cpus, ram_size=cfg.ram_size, bootargs=bootargs(cfg.params), initrd=initrd,
        its=cfg.its, pmu=pmu, log=lay.log,
        virtio_mmio=cfg.virtio_devices if cfg.mmio else 0, template_initrd=template_initrd)
    if inputs.dtb_template is not None:
        template = _read_template(inputs.dtb_template)
        try:
            dtb = pad_dtb(apply_template(template, facts))
        except DtbError as exc:
            raise ParametersError(f"while generating DTB: DTB: {_surgeon_error(exc)}"
                                  ) from exc
    elif inputs.dtb is not None:
        dtb = _read_dtb(inputs.dtb)
    else:
        dtb = generate_dtb(facts)
    after_dtb_error = None
    if lay.dtb in blobs:  # detected by add_rim_blob after --output-dtb is written
        after_dtb_error = ParametersError(f"while generating DTB: realm: invalid VM "
                                          f"configuration: duplicate blob at {lay.dtb}")
    else:
        add(LoadedBlob("DTB", lay.dtb, Image.from_bytes("dtb", dtb)))

    result_warnings = [] if cfg.realm else [NOT_A_REALM]
    if compute_error is None and after_dtb_error is None:  # the reference's errors first
        result_warnings += check_images_loaded("kvmtool", [
            ImageUse("-k", inputs.kernel, "kernel", cfg.kernel, "-k/--kernel"),
            ImageUse("-i", inputs.initrd, "initrd", cfg.initrd, "-i/--initrd"),
            ImageUse("-f", inputs.firmware, "firmware", cfg.firmware, "-f/--firmware")],
            inputs)
    result = VmmBuild(
        vmm="kvmtool", params=params, ram=[(RAM_BASE, cfg.ram_size)],
        result_warnings=result_warnings,
        blobs=sorted(blobs.values(), key=lambda b: b.ipa),
        rec_pc=pc, rec_gprs=(lay.dtb, 0, 0, 0, 0, 0, 0, 0), dtb=dtb, dtb_ipa=lay.dtb,
        log_region=lay.log, deferred=[DeferredError(stage, error) for stage, error in (
            (Stage.AFTER_DTB, after_dtb_error), (Stage.AT_MEASURE, compute_error))
            if error is not None],
        facts=KvmtoolFacts(vmm="kvmtool", ram_base=RAM_BASE, ram_size=cfg.ram_size,
                           cpus=cfg.cpus, bootargs=facts.bootargs, initrd=facts.initrd,
                           its=cfg.its, pmu=pmu, log=lay.log,
                           virtio_mmio=facts.virtio_mmio, dtb_ipa=lay.dtb))
    check_blobs_in_ipa(result, inputs)
    return result


def _surgeon_error(exc: DtbError) -> str:
    """The reference surgeon's wording (src/dtb_surgeon.rs ``DTBError``): the template
    checks already use it; anything else our reader rejects is mostly a short read
    there (``I/O``)."""
    if exc.message.startswith(("parsing: ", "unimplemented: ", "I/O", "FDT writer",
                               "offset is out of bounds")):
        return exc.message
    return "I/O"


# --------------------------------------------------------------------------- front-end

REFERENCE_BOOTARGS = "console=hvc0"  # what the reference replay passes to its generators
MAX_VIRTIO_MMIO = 32  # virtio-mmio devices tried when regenerating a logged DTB


class KvmtoolFrontend:
    """kvmtool as a :class:`rmtool.measure.vmm.registry.VmmFrontend`."""

    name = "kvmtool"
    aliases: tuple[str, ...] = ("lkvm",)
    log_name = "kvmtool"
    launch = LaunchTraits(
        dtb_name="kvmtool-gen.dtb", serial=("uart,mmio", 0x01000000, "ttyS0"),
        binary_setting="kvmtool_bin", default_binary="lkvm", binary_args=("run",),
        tap_by_fd=False, restricted_mem=True,
        edk2_build="Build/ArmVirtKvmtool-AARCH64/DEBUG_GCC5/FV/KVMTOOL_EFI.fd",
        edk2_run="KVMTOOL_EFI.fd")

    def scan_args(self, argv: Sequence[str]) -> None:
        scan_args(argv)

    def help_text(self) -> str:
        return help_text()

    def build(self, argv: list[str], inputs: MeasureInputs) -> VmmBuild:
        return build(argv, inputs)

    def vm_version(self, b: VmmBuild) -> VmVersionFacts:
        facts = cast(KvmtoolFacts, b.facts)
        return VmVersionFacts(self.log_name, "", facts["ram_size"], facts["cpus"])

    def dtb_from_facts(self, d: LoggedDtbFacts, templates: Templates
                       ) -> Iterator[Regenerated]:
        """The generator (and ``--dtb-templates`` surgery) over what the log does not
        say: ITS, ``-p`` (the reference's bootargs or none), virtio-mmio devices."""
        initrd = (d.initrd[0], d.initrd[0] + d.initrd[1]) if d.initrd else None
        choices = [(bootargs(REFERENCE_BOOTARGS), "reference bootargs"),
                   (bootargs(None), "no -p")]
        for virtio in range(MAX_VIRTIO_MMIO + 1):
            for its in (True, False):
                for text, label in choices:
                    facts = DtbFacts(cpus=d.cpus, ram_size=d.ram_size, bootargs=text,
                                     initrd=initrd, its=its, pmu=d.pmu, log=d.log,
                                     virtio_mmio=virtio)
                    how = (f"{label}, its {'on' if its else 'off'}, "
                           f"{virtio} virtio-mmio devices")
                    for data, path in templates:
                        yield Regenerated(pad_dtb(apply_template(data, facts)),
                                          f"kvmtool template {path} ({how})")
                    yield Regenerated(generate_dtb(facts), f"kvmtool generator ({how})")

    def check_launch(self, o: LaunchSpec) -> list[str]:
        if o.edk2 and not o.disk_boot:
            raise UsageError("kvmtool with --edk2 needs --disk-boot: kvmtool would load the "
                             "firmware (-f) and the kernel (-k) at the same address (the "
                             "reference script's 'duplicate blob' error); EDK2 boots the "
                             "kernel from the disk instead")
        notes = []
        if o.restricted_mem:
            notes.append("kvmtool: emitting --restricted_mem (the reference script's "
                         "--restricted-mem is rejected by the measurement parser)")
        if o.edk2:
            notes.append("kvmtool firmware boot: upstream kvmtool places the DTB after the "
                         "firmware while the reference model keeps it below the top of RAM; "
                         "check this RIM against a real launch")
        return notes

    def launch_argv(self, r: LaunchRequest) -> list[str]:
        o, p = r.options, r.paths
        args = ["--console", "serial" if o.serial else "virtio"]
        args += ["--realm"]
        if o.restricted_mem:
            args += ["--restricted_mem"]
        args += ["--sve-max-vl=512"]
        if o.edk2:
            args += ["-f", need(p.firmware, "firmware")]
        if o.direct_kernel:
            args += ["-k", need(p.kernel, "kernel")]
        args += ["-c", str(o.cpus), "-m", o.memory, "--virtio-transport", "pci",
                 "--irqchip=gicv3-its"]
        if o.pmu:
            args += ["--pmu"]
        if o.net == "user":
            args += ["--network", "mode=user"]
        elif o.net == "tap":
            args += ["--network", "mode=tap,tapif=/dev/tap${TAP_INDEX},guest_mac=${TAP_MAC}"]
        else:
            args += ["--network", "mode=none"]
        args += ["--debug", "--dtb", p.dtb]
        if o.use_initrd:
            args += ["-i", need(p.initrd, "initrd")]
        else:
            args += ["-d", p.disk]
        if o.eventlog:
            args += ["--measurement-log"]
        if o.share is not None:
            args += ["--9p", f"{o.share},{SHARE_TAG}"]
        if o.vsock is not None:
            args += ["--vsock", str(o.vsock)]
        if r.kernel_params:
            args += ["-p", r.kernel_params]
        return args


register(KvmtoolFrontend())
