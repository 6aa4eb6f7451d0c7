"""``rmtool measure qemu``: the QEMU virt + rme-guest front-end (docs/vmm-qemu.md;
the reference tool's ``src/qemu.rs``).

Turns a QEMU command line (grammar in :mod:`qemu_args`) and the global inputs into a
:class:`VmmBuild`: Realm parameters (SHA-512 unless ``measurement-algorithm=``), RAM at
0x40000000 with the IPA width implied by the floating high regions, payload
placement with and without ``-bios``, the REC registers, the measurement-log region,
and the DTB (generated, ``--dtb`` as given, or ``--dtb-template`` surgery; in
:mod:`qemu_dtb`). Operation order is the reference's (REALM_CREATE, INIT_RIPAS, DATA in
ascending IPA, REC, unmeasured log).

With ``-bios``, QEMU hands ``-kernel`` / ``-initrd`` to the firmware through fw_cfg: they
are not in the RIM. The reference then extends REM0 with the kernel, then the initrd
(``rem_blobs``, kept in that order here and executed with TF-RMM semantics); where a real
firmware extends them (and with what) depends on the firmware (spec index, open
question 5).

A global ``-k``/``-i``/``-f`` that the command line does not load (no ``-kernel``,
``-initrd`` with ``-kernel``, ``-bios``) is an error here (the reference ignores it and
measures a Realm without that image; docs/vmm-qemu.md "Mistakes rmtool refuses").

``VmmBuild.facts`` (for an event-log writer and for replay regenerating the DTB):

=====================  =====================================================================
key                    value
=====================  =====================================================================
``vmm``                ``"qemu"``
``gic_version``        3 (GICv2 is rejected)
``ram_base``           0x40000000
``ram_size``           ``-m`` size in bytes, as given (the DTB ``memory`` ``reg`` size)
``mem_max_size``       ``maxmem=`` or ``None``;  ``mem_slots``: ``slots=`` or ``None``
``cpus``               number of vCPUs; ``cpu_map``: (sockets, clusters, cores, threads)
``its`` / ``pmu``      ITS node / PMU node present in the generated DTB
``bootargs``           ``-append`` string or ``None`` (``chosen`` ``bootargs``)
``initrd``             (start, end) IPAs written to ``chosen`` or ``None``
``log``                (base, size) of the measurement-log region or ``None``
``high_redist_base``   floating regions: redistributors, PCIe ECAM, PCIe MMIO
``high_pci_ecam_base``
``high_pci_mmio_base``
``ipa_bits_map``       IPA width the memory map needs (``s2sz`` = min(host, this))
``firmware``           ``-bios`` given;  ``kernel_ipa``: kernel load IPA or ``None``
``dtb_ipa``            DTB IPA;  ``dtb_source``: ``generated`` / ``file`` / ``template``
``hash_algo``          Realm hash algorithm name
=====================  =====================================================================

:func:`dtb_facts_from` turns these facts back into :class:`QemuDtbFacts` and
:func:`regenerate_dtb` rebuilds the generated DTB from them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypedDict, cast

from rmtool.errors import ParametersError, RmtoolError
from rmtool.measure.host import finalize
from rmtool.measure.images import Image, open_input, read_input
from rmtool.measure.kernel import load_kernel
from rmtool.measure.rmm._limits import (
    ripas_bound_error,
    ripas_descriptor_count,
    ripas_range_error,
    ripas_top,
)
from rmtool.measure.rmm.algorithms import ALGORITHMS
from rmtool.measure.vmm._qemu_args import QemuConfig, cpu_map, parse_args
from rmtool.measure.vmm._qemu_dtb import (
    RAM_BASE,
    QemuDtbFacts,
    apply_template,
    generate_dtb,
    memory_map,
)
from rmtool.measure.vmm.common import (
    DeferredError,
    ImageUse,
    LoadedBlob,
    MeasureInputs,
    Stage,
    VmmBuild,
    attach_warnings,
    check_blobs_in_ipa,
    check_images_loaded,
    check_ipa_room,
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

KIB = 1 << 10
MIB = 1 << 20
U64 = (1 << 64) - 1
DTB_AREA = 1 * MIB  # QEMU reserves 1 MiB for the DTB; the log follows it
LOG_SIZE = 64 * KIB
MAX_CPUS = 65536  # bound for hostile input (the reference replay uses the same limit)
MAX_DTB_FILE = 64 * MIB

__all__ = ["build", "dtb_facts_from", "regenerate_dtb", "ripas_descriptor_count"]


def _align_up(value: int, align: int) -> int:
    return ((value + align - 1) & U64) & ~(align - 1) & U64


def _file_error(path: str, exc: OSError) -> str:
    """``file F error: <io error>`` (the reference's VmmError::File, no ``VMM:`` prefix)."""
    reason = exc.strerror or str(exc)
    if exc.errno is not None:
        reason = f"{reason} (os error {exc.errno})"
    return f"file {path} error: {reason}"


def _file_size(path: str) -> int:
    try:
        fd = open_input(path, "initrd")
    except OSError as exc:
        raise ParametersError(_file_error(path, exc)) from exc
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _read_bounded(path: str, context: str | None) -> bytes:
    """Read a DTB file; ``context`` prefixes the reference's error chain."""
    try:
        return read_input(path, MAX_DTB_FILE, "DTB" if context else "DTB template")
    except OSError as exc:
        if context is None:  # the reference reads the template with std::fs::read
            reason = exc.strerror or str(exc)
            if exc.errno is not None:
                reason = f"{reason} (os error {exc.errno})"
            raise ParametersError(reason) from exc
        raise ParametersError(f"{context}: {_file_error(path, exc)}") from exc


def _kernel(path: str) -> tuple[Image, int, int]:
    try:
        k = load_kernel(path)
    except ParametersError as exc:
        msg = exc.message
        raise ParametersError(msg[5:] if msg.startswith("VMM: ") else msg) from exc
    return k.image, k.text_offset, k.image_size


class QemuFacts(TypedDict):
    """``VmmBuild.facts`` of a QEMU build (the table in the module docstring)."""

    vmm: str
    gic_version: int
    ram_base: int
    ram_size: int
    mem_max_size: int | None
    mem_slots: int | None
    cpus: int
    cpu_map: tuple[int, int, int, int]
    its: bool
    pmu: bool
    bootargs: str | None
    initrd: tuple[int, int] | None
    log: tuple[int, int] | None
    high_redist_base: int
    high_pci_ecam_base: int
    high_pci_mmio_base: int
    ipa_bits_map: int
    firmware: bool
    kernel_ipa: int | None
    dtb_ipa: int
    dtb_source: str
    hash_algo: str


def ram_top(size: int, max_size: int | None, slots: int | None) -> int:
    """The end of RAM and of its hotplug region (QEMU ``virt_set_memmap``: the device
    memory starts at the GiB after RAM, ``maxmem - size + slots GiB`` long), unwrapped."""
    if max_size is None and not slots:
        return RAM_BASE + size
    gib = 1 << 30
    base = -(-(RAM_BASE + size) // gib) * gib
    extra = max((max_size if max_size is not None else size) - size, 0) + (slots or 0) * gib
    return base + -(-extra // gib) * gib


ZERO_CPUS = ("qemu -smp 0: QEMU refuses cpus=0 (hw/core/machine-smp.c: CPU topology "
             "parameters must be greater than zero); give the count")
NOT_A_REALM = ("qemu without -M confidential-guest-support=ID and -object rme-guest,id=ID: "
               "this is not a Realm; the measurements describe nothing a Realm will report")


def build(argv: list[str], inputs: MeasureInputs) -> VmmBuild:
    cfg: QemuConfig = parse_args(argv, inputs.caps, inputs.profile)
    try:
        if cfg.smp.cpus == 0 and not inputs.reference_mode:
            raise ParametersError(ZERO_CPUS)
        result = _build(cfg, inputs)
        check_blobs_in_ipa(result, inputs)
        if not result.deferred:  # the reference's own error comes first
            result.result_warnings.extend(
                check_images_loaded("qemu", images_used(cfg, inputs), inputs))
        if not inputs.reference_mode and (cfg.cgs is None or cfg.cgs not in cfg.rme_guests):
            result.result_warnings.append(NOT_A_REALM)
        return result
    except RmtoolError as exc:
        attach_warnings(exc, cfg.warnings)
        raise


def images_used(cfg: QemuConfig, inputs: MeasureInputs) -> list[ImageUse]:
    """The global images and the QEMU options that load them (``-initrd`` only counts
    with ``-kernel``: the reference ignores it otherwise, and QEMU refuses it)."""
    return [
        ImageUse("-k", inputs.kernel, "kernel", cfg.kernel, "-kernel"),
        ImageUse("-i", inputs.initrd, "initrd", cfg.initrd and cfg.kernel,
                 "-initrd with -kernel"),
        ImageUse("-f", inputs.firmware, "firmware", cfg.bios, "-bios"),
    ]


def _build(cfg: QemuConfig, inputs: MeasureInputs) -> VmmBuild:
    topo = cpu_map(cfg.smp)
    if topo.num_cpus > MAX_CPUS:
        raise ParametersError(f"-smp: {topo.num_cpus} vCPUs is more than rmtool supports "
                              f"({MAX_CPUS})")
    pmu = bool(cfg.caps.pmu)
    mmap = memory_map(cfg.mem.size, cfg.mem.max_size, cfg.mem.slots)
    # hw/arm/virt.c virt_kvm_type: the highest guest address of RAM and its hotplug
    # region (-m maxmem/slots) against the host's IPA limit; high IO regions that do not
    # fit are left out by virt_set_high_memmap, not refused
    ram_end = ram_top(cfg.mem.size, cfg.mem.max_size, cfg.mem.slots)
    need = (ram_end - 1).bit_length()
    check_ipa_room("qemu", ram_end, inputs,
                   f"-m and ,maxmem option values require an IPA range ({need} bits) "
                   f"larger than the one supported by the host")
    caps = cfg.caps.restrict(ipa_bits=mmap.ipa_bits)
    size = cfg.mem.size

    blobs: list[LoadedBlob] = []
    rem_blobs: list[tuple[int, LoadedBlob]] = []
    seen: dict[int, str] = {}

    def add_blob(blob: LoadedBlob, context: str | None = None) -> None:
        if blob.ipa in seen:
            msg = f"invalid VM configuration: duplicate blob at {blob.ipa}"
            raise ParametersError(f"{context}: realm: {msg}" if context else msg)
        seen[blob.ipa] = blob.kind
        blobs.append(blob)

    dtb_ipa = RAM_BASE
    kernel_ipa: int | None = None
    initrd: tuple[int, int] | None = None
    if cfg.kernel:
        if inputs.kernel is None:
            raise ParametersError("need kernel image")
        image, text_offset, load_size = _kernel(inputs.kernel)
        kernel_ipa = (RAM_BASE + text_offset) & U64
        start = RAM_BASE + min(size // 2, 128 * MIB)
        start = _align_up(max(start, (kernel_ipa + load_size) & U64), 4 * KIB)
        kblob = LoadedBlob("KERNEL", kernel_ipa, image)
        if cfg.bios:
            rem_blobs.append((0, kblob))
        else:
            add_blob(kblob)
        initrd_size = 0
        if cfg.initrd:
            if inputs.initrd is None:
                raise ParametersError("need initrd image")
            initrd_size = _file_size(inputs.initrd)
            initrd = (start, initrd_size)
            iblob = LoadedBlob("INITRD", start, Image.from_file("initrd", inputs.initrd))
            if cfg.bios:
                rem_blobs.append((0, iblob))
            else:
                add_blob(iblob)
        dtb_ipa = _align_up(start + initrd_size, 2 * MIB)
    if cfg.bios:
        if inputs.firmware is None:
            raise ParametersError("need firmware image")
        add_blob(LoadedBlob("FIRMWARE", 0, Image.from_file("firmware", inputs.firmware)))
        dtb_ipa = RAM_BASE
    log = ((dtb_ipa + DTB_AREA) & U64, LOG_SIZE) if cfg.measurement_log else None
    pc = 0 if cfg.bios else RAM_BASE
    x0 = 0 if cfg.bios else dtb_ipa

    facts = QemuDtbFacts(
        cpus=topo.num_cpus, ram_size=size, high_redist_base=mmap.high_redist_base,
        high_pci_cfg_base=mmap.high_pci_cfg_base, high_pci_mmio_base=mmap.high_pci_mmio_base,
        its=cfg.its, pmu=pmu, bootargs=cfg.bootargs, initrd=initrd, log=log,
        sockets=topo.sockets, clusters=topo.clusters, cores=topo.cores, threads=topo.threads)
    template = _read_bounded(inputs.dtb_template, None) if inputs.dtb_template else None
    if inputs.dtb is not None:
        dtb, source = _read_bounded(inputs.dtb, "while generating DTB"), "file"
    elif template is not None:
        dtb, source = apply_template(template, facts), "template"
    else:
        dtb, source = generate_dtb(facts), "generated"
    add_blob(LoadedBlob("DTB", dtb_ipa, Image.from_bytes("dtb", dtb)), "while generating DTB")

    algo = ALGORITHMS[cfg.hash_algo]
    inputs.profile.check_algo(algo)
    params = finalize(caps, hash_algo=algo, rpv=cfg.rpv)
    # the reference meets an empty range, and rmtool its bound, only when measuring
    measure_error: RmtoolError | None = ripas_range_error(RAM_BASE, size)
    ripas = max(ripas_top(RAM_BASE, size) - RAM_BASE, 0)
    if inputs.profile.measures_init_ripas and measure_error is None:
        measure_error = ripas_bound_error("-m", RAM_BASE, size, params.s2sz)
    return VmmBuild(
        deferred=[] if measure_error is None else [DeferredError(Stage.AT_MEASURE,
                                                                 measure_error)],
        vmm="qemu", params=params, ram=[(RAM_BASE, ripas)], blobs=blobs,
        rec_pc=pc, rec_gprs=(x0, 0, 0, 0, 0, 0, 0, 0), dtb=dtb, dtb_ipa=dtb_ipa,
        log_region=log, rem_blobs=rem_blobs, warnings=cfg.warnings,
        facts=QemuFacts(**{
            "vmm": "qemu", "gic_version": 3, "ram_base": RAM_BASE, "ram_size": size,
            "mem_max_size": cfg.mem.max_size, "mem_slots": cfg.mem.slots,
            "cpus": topo.num_cpus,
            "cpu_map": (topo.sockets, topo.clusters, topo.cores, topo.threads),
            "its": cfg.its, "pmu": pmu, "bootargs": cfg.bootargs,
            "initrd": (initrd[0], (initrd[0] + initrd[1]) & U64) if initrd else None,
            "log": log, "high_redist_base": mmap.high_redist_base,
            "high_pci_ecam_base": mmap.high_pci_cfg_base,
            "high_pci_mmio_base": mmap.high_pci_mmio_base, "ipa_bits_map": mmap.ipa_bits,
            "firmware": cfg.bios, "kernel_ipa": kernel_ipa, "dtb_ipa": dtb_ipa,
            "dtb_source": source, "hash_algo": algo.name,
        }))


def dtb_facts_from(facts: Mapping[str, Any]) -> QemuDtbFacts:
    """Rebuild the DTB inputs from ``VmmBuild.facts`` (or from an event log: ``ram_size``
    and ``cpus`` are enough, the high regions are recomputed from the RAM size)."""
    size = int(facts["ram_size"])
    mmap = memory_map(size, facts.get("mem_max_size"), facts.get("mem_slots"))
    sockets, clusters, cores, threads = facts.get("cpu_map") or (1, 1, int(facts["cpus"]), 1)
    initrd = facts.get("initrd")
    return QemuDtbFacts(
        cpus=int(facts["cpus"]), ram_size=size, high_redist_base=mmap.high_redist_base,
        high_pci_cfg_base=mmap.high_pci_cfg_base, high_pci_mmio_base=mmap.high_pci_mmio_base,
        its=bool(facts.get("its", True)), pmu=bool(facts.get("pmu", False)),
        bootargs=facts.get("bootargs"),
        initrd=(initrd[0], initrd[1] - initrd[0]) if initrd else None, log=facts.get("log"),
        sockets=sockets, clusters=clusters, cores=cores, threads=threads)


def regenerate_dtb(facts: Mapping[str, Any]) -> bytes:
    """The generated DTB for these facts (the reference replay's QEMU generator)."""
    return generate_dtb(dtb_facts_from(facts))


# --------------------------------------------------------------------------- front-end

REFERENCE_BOOTARGS = "console=hvc0"  # what the reference replay passes to its generators


class QemuFrontend:
    """QEMU as a :class:`rmtool.measure.vmm.registry.VmmFrontend`."""

    name = "qemu"
    aliases: tuple[str, ...] = ("QEMU virt",)
    log_name = "QEMU"
    launch = LaunchTraits(
        dtb_name="qemu-gen.dtb", serial=("pl011", 0x09000000, "ttyAMA0"),
        binary_setting="qemu_bin", default_binary="qemu-system-aarch64",
        pmu_in_host_caps=False,
        edk2_build="Build/ArmVirtQemu-AARCH64/DEBUG_GCC5/FV/QEMU_EFI.fd",
        edk2_run="QEMU_EFI.fd")

    def scan_args(self, argv: Sequence[str]) -> None:
        """QEMU's arguments are raw words for clap: nothing to check here."""

    def help_text(self) -> str:
        return ""

    def build(self, argv: list[str], inputs: MeasureInputs) -> VmmBuild:
        return build(argv, inputs)

    def vm_version(self, b: VmmBuild) -> VmVersionFacts:
        facts = cast(QemuFacts, b.facts)
        return VmVersionFacts(self.log_name, "", facts["ram_size"], facts["cpus"])

    def dtb_from_facts(self, d: LoggedDtbFacts, templates: Templates
                       ) -> Iterator[Regenerated]:
        """:func:`regenerate_dtb` (high regions recomputed from the RAM size) and
        ``qemu_dtb.apply_template`` for templates, over ITS and bootargs."""
        initrd = (d.initrd[0], d.initrd[0] + d.initrd[1]) if d.initrd else None
        for its in (True, False):
            for bootargs in (None, REFERENCE_BOOTARGS):
                facts = {"ram_size": d.ram_size, "cpus": d.cpus, "its": its, "pmu": d.pmu,
                         "bootargs": bootargs, "initrd": initrd, "log": d.log}
                how = f"bootargs {bootargs!r}, its {'on' if its else 'off'}"
                for tpl, path in templates:
                    yield Regenerated(apply_template(tpl, dtb_facts_from(facts)),
                                      f"QEMU template {path} ({how})")
                yield Regenerated(regenerate_dtb(facts), f"QEMU generator ({how})")

    def check_launch(self, o: LaunchSpec) -> list[str]:
        return []

    def launch_argv(self, r: LaunchRequest) -> list[str]:
        o, p = r.options, r.paths
        log = "on" if o.eventlog else "off"
        args = ["-M", "confidential-guest-support=rme0", "-object",
                f"rme-guest,id=rme0,measurement-algorithm=sha512,"
                f"personalization-value={r.rpv_b64},measurement-log={log}"]
        if not o.serial:
            args += ["-nodefaults", "-chardev", "stdio,mux=on,id=chr0,signal=off",
                     "-serial", "chardev:chr0", "-device", "virtio-serial-pci",
                     "-device", "virtconsole,chardev=chr0", "-mon",
                     "chardev=chr0,mode=readline"]
        if o.edk2:
            args += ["-bios", need(p.firmware, "firmware")]
        if o.net == "user":
            args += ["-device", "virtio-net-pci,netdev=net0,romfile=", "-netdev",
                     "user,id=net0"]
        elif o.net == "tap":
            args += ["-device", "virtio-net-pci,netdev=net0,romfile=,mac=${TAP_MAC}",
                     "-netdev", "tap,fd=3,id=net0"]
        args += ["-cpu", "host" if o.pmu else "host,pmu=off", "-M", "virt", "-enable-kvm",
                 "-M", "gic-version=3,its=on", "-smp", str(o.cpus), "-m", o.memory,
                 "-nographic", "-dtb", p.dtb]
        disk = ["-device", "virtio-blk-pci,drive=rootfs0",
                "-drive", f"format=raw,if=none,file={p.disk},id=rootfs0"]
        if o.direct_kernel:
            args += ["-kernel", need(p.kernel, "kernel")]
            args += ["-initrd", need(p.initrd, "initrd")] if o.use_initrd else disk
            args += ["-append", r.kernel_params]
        else:
            args += disk
        if o.share is not None:
            args += ["-device", f"virtio-9p-pci,fsdev={SHARE_TAG},mount_tag={SHARE_TAG}",
                     "-fsdev", f"local,security_model=none,path={o.share},id={SHARE_TAG}"]
        if o.vsock is not None:
            args += ["-device", f"vhost-vsock-pci,guest-cid={o.vsock}"]
        return args


register(QemuFrontend())
