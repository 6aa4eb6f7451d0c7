"""What every VMM front-end shares: inputs, the build result, and the op ordering.

A front-end turns ``[VMM args]`` plus the global inputs into a :class:`VmmBuild`:
Realm parameters, the RMM operation stream (in the reference tool's order, see
docs/architecture.md "Operations"), the DTB bytes it generated, and the facts a log
writer or replay needs. It never hashes anything itself.

Two checks every front-end shares, deliberate differences from the reference tool
(docs/vmm-qemu.md "Mistakes rmtool refuses"): :func:`near_miss` finds the option an
unknown word was probably meant to be (so that ``-kernal`` is an error, not an ignored
parameter and a Realm without a kernel), and :func:`check_images_loaded` refuses a global
``-k``/``-i``/``-f`` image that the VMM command line never loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rmtool.errors import ParametersError, RmtoolError
from rmtool.measure.dtb.fdt import Node, string, strings, u32
from rmtool.measure.host import HostCaps
from rmtool.measure.images import Image
from rmtool.measure.rmm._limits import ripas_top
from rmtool.measure.rmm.ops import (
    DataCreate,
    InitRipas,
    Operation,
    RealmCreate,
    RealmParams,
    RecCreate,
    RemExtend,
)
from rmtool.measure.rmm.profiles import RmmProfile
from rmtool.measure.vmm._rustcompat import (
    Base64Error,
    b64decode_standard,
    in_context,
    parse_memory_size,
)

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
LOG_SIZE = 64 * KIB


@dataclass
class MeasureInputs:
    """Global options that front-ends consume (the reference tool's global flags)."""

    caps: HostCaps
    profile: RmmProfile
    kernel: str | None = None
    initrd: str | None = None
    firmware: str | None = None
    dtb: str | None = None
    dtb_template: str | None = None
    #: ``realm-measurements``: the reference tool's leniency where rmtool refuses
    #: (a global image that no VMM option loads is a warning, not an error).
    reference_mode: bool = False


@dataclass(frozen=True)
class LoadedBlob:
    """An image placed in guest memory. ``kind`` uses the event-log names
    (KERNEL, INITRD, DTB, FIRMWARE, ACPI DATA)."""

    kind: str
    ipa: int
    image: Image


class Stage(Enum):
    """When the reference tool reports an error that rmtool already knows at build time."""

    #: right after ``--output-dtb`` is written (always, even with --no-measurements),
    #: e.g. kvmtool's DTB at the IPA of another blob
    AFTER_DTB = "after the DTB is written"
    #: only when the measurements are computed (never with --no-measurements), e.g.
    #: "num_wps is not known", an empty INIT_RIPAS range
    AT_MEASURE = "when measuring"


@dataclass(frozen=True)
class DeferredError:
    stage: Stage
    error: RmtoolError


@dataclass
class VmmBuild:
    vmm: str
    params: RealmParams
    ram: list[tuple[int, int]]  # (base, size) ranges given to INIT_RIPAS
    blobs: list[LoadedBlob]  # measured into the RIM
    rec_pc: int
    rec_gprs: tuple[int, ...]
    dtb: bytes | None = None  # exact bytes measured / to load with the VMM
    dtb_ipa: int | None = None
    log_region: tuple[int, int] | None = None  # (base, size), unmeasured DATA_CREATE
    rem_blobs: list[tuple[int, LoadedBlob]] = field(default_factory=list)  # (REM, blob)
    warnings: list[str] = field(default_factory=list)
    # Warnings about what the measurements mean, printed once they are computed (after
    # the results), so that an error keeps the reference's first stderr line.
    result_warnings: list[str] = field(default_factory=list)
    # the front-end's facts (a TypedDict per VMM: KvmtoolFacts, QemuFacts, ChvFacts)
    facts: Mapping[str, Any] = field(default_factory=dict)
    # Errors the reference meets later than the build: see :class:`Stage`.
    deferred: list[DeferredError] = field(default_factory=list)

    def deferred_error(self, stage: Stage | None = None) -> RmtoolError | None:
        """The first deferred error of ``stage`` (any stage: the first that would be
        raised, AFTER_DTB before AT_MEASURE), or None."""
        for want in (Stage.AFTER_DTB, Stage.AT_MEASURE) if stage is None else (stage,):
            for d in self.deferred:
                if d.stage is want:
                    return d.error
        return None

    def raise_deferred(self, stage: Stage | None = None) -> None:
        """Raise :meth:`deferred_error` if there is one."""
        error = self.deferred_error(stage)
        if error is not None:
            raise error

    def operations(self) -> list[Operation]:
        """REALM_CREATE, INIT_RIPAS (ascending), DATA_CREATE measured (ascending IPA),
        REC_CREATE, DATA_CREATE unmeasured (log), then REM extensions. A deferred error
        (:class:`Stage`) is raised first."""
        self.raise_deferred()
        ops: list[Operation] = [RealmCreate(self.params, origin=f"{self.vmm} parameters")]
        for base, size in sorted(self.ram):
            top = ripas_top(base, size)  # the reference's formula (rmm.limits)
            ops.append(InitRipas(base, top, origin=f"RAM [{base:#x}, {base + size:#x})"))
        seen: dict[int, str] = {}
        for blob in sorted(self.blobs, key=lambda b: b.ipa):
            if blob.ipa in seen:
                raise ParametersError(f"invalid VM configuration: duplicate blob at "
                                      f"{blob.ipa}")
            seen[blob.ipa] = blob.kind
            ops.append(DataCreate(blob.ipa, blob.image, origin=blob.kind))
        ops.append(RecCreate(self.rec_pc, self.rec_gprs, origin="boot vCPU"))
        if self.log_region is not None:
            base, size = self.log_region
            ops.append(DataCreate(base, None, measured=False, size=size, origin="LOG"))
        for rem, blob in self.rem_blobs:
            ops.append(RemExtend(rem, blob.image.digest(self.params.hash_algo.name),
                                 origin=f"{blob.kind} (loaded by firmware)"))
        return ops


def parse_size(text: str, option: str = "-m") -> int:
    """A memory size option: the reference's ``parse_memory_size(text).context(option)``
    (:func:`rmtool.measure.vmm._rustcompat.parse_memory_size`), e.g. ``-m: invalid digit
    found in string`` for ``512m``."""
    return in_context(option, parse_memory_size, text)


class ReferencePanic(RmtoolError):
    """Where the reference tool aborts with a Rust panic (exit status 101), e.g.
    ``todo!("cfi-flash not supported")`` for kvmtool ``-F``."""

    exit_code = 101

    def __init__(self, message: str, location: str = "") -> None:
        super().__init__(message)
        self.location = location

    def panic_text(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"thread 'main' panicked{where}:\n{self.message}"


def align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


def rpv_from_base64(text: str) -> bytes:
    """``PersonalizationValue::from_base64`` (QEMU ``personalization-value=``, cloud-hv
    ``personalization_value=``): base64 0.22.1 STANDARD, <= 64 bytes, zero padded on the
    right; a decode error is ``invalid Realm Personalization Value: <DecodeError>``."""
    try:
        raw = b64decode_standard(text)
    except Base64Error as exc:
        raise ParametersError(f"invalid Realm Personalization Value: {exc}") from None
    return rpv_pad(raw)


def rpv_pad(raw: bytes) -> bytes:
    if len(raw) > 64:
        raise ParametersError("Realm Personalization Value is too large")
    return raw + bytes(64 - len(raw))


def dummy_virt_root(phandle_gic: int) -> Node:
    """The root node the reference's generator writes for kvmtool and cloud-hypervisor
    (``linux,dummy-virt`` / ``linux,dummy-virt-realm``, 2-cell addresses and sizes, the GIC
    as interrupt parent), in its property order."""
    root = Node("")
    root.prop("compatible", string("linux,dummy-virt"))
    root.prop("model", string("linux,dummy-virt-realm"))
    root.prop("#address-cells", u32(2)).prop("#size-cells", u32(2))
    root.prop("interrupt-parent", u32(phandle_gic))
    return root


def add_cpus_and_psci(root: Node, cpus: int) -> None:
    """The reference generator's ``cpus`` and ``psci`` nodes, identical for all three VMMs
    (reference ``fdt_add_cpu`` and
    ``fdt_add_psci``, cca-realm-measurements ``src/fdt.rs``): decimal ``cpu@<i>``
    units and the SMC conduit a Realm needs."""
    node = root.child("cpus")
    node.prop("#size-cells", u32(0)).prop("#address-cells", u32(1))
    for i in range(cpus):
        cpu = node.child(f"cpu@{i}")
        cpu.prop("reg", u32(i)).prop("enable-method", string("psci"))
        cpu.prop("compatible", string("arm,armv8")).prop("device_type", string("cpu"))
    psci = root.child("psci")
    psci.prop("cpu_on", u32(0xC4000003)).prop("cpu_off", u32(0x84000002))
    psci.prop("method", string("smc"))
    psci.prop("compatible", strings("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))



# --------------------------------------------------------------------------- mistakes

def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance, optimal string alignment variant: insertions,
    deletions, substitutions and transpositions of adjacent characters cost 1."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def _body(option: str) -> str:
    """An option word without its leading dashes, ``_`` read as ``-``."""
    return option.lstrip("-").replace("_", "-")


def near_miss(word: str, targets: Iterable[str], exempt: Iterable[str] = ()) -> str | None:
    """The option of ``targets`` that the unknown option ``word`` probably misspells.

    ``word`` and each target are compared without their leading dashes, ``_`` read as
    ``-``. ``word`` is a near miss of target ``t`` (body ``b``, ``w`` the word's body):

    * ``w == b`` ignoring case (``--kernel``, ``-Kernel``, ``--m``): for any target;
    * otherwise only when ``b`` has 3 or more characters and ``w`` is not an ``exempt``
      option (real options of the VMM that do not change the measurement, compared
      without dashes and with case: ``-qmp`` is one edit from ``-smp``):

      - ``len(b)`` 3-4 (``-smp``, ``-cpu``, ``-dtb``, ``-bios``): edit distance 1
        (``-s``, ``-d``, ``-rtc``, ``-usb``, ``-boot``, ``-smbios`` are 2 away);
      - ``len(b)`` >= 5 (``-kernel``, ``-initrd``, ...): edit distance <= 2, or ``w``
        (3 characters or more) is a prefix of ``b`` (``-mach``);

      the distance is :func:`edit_distance` on the lower-cased bodies.

    One- and two-character options (``-m``, ``-M``) are only matched by the first rule:
    any edit of them is another real option (``-S``, ``-d``, ``-mon``). The first
    target wins ties, so list targets by preference (exact case before its variants).
    Words that do not start with ``-`` are never near misses (they may be values).
    """
    if not word.startswith("-") or word.lstrip("-") == "":
        return None
    w = _body(word)
    wl = w.lower()
    targets = list(targets)
    for t in targets:  # a dash, case or underscore variant of a target
        if w == _body(t) and word != t:
            return t
    for t in targets:
        if wl == _body(t).lower() and word != t:
            return t
    if w in {_body(e) for e in exempt}:
        return None
    best: tuple[int, str] | None = None
    for t in targets:
        b = _body(t).lower()
        if len(b) <= 2:
            continue
        limit = 1 if len(b) <= 4 else 2
        if len(b) >= 5 and len(wl) >= 3 and b.startswith(wl):
            d = limit
        elif abs(len(wl) - len(b)) > limit:  # farther anyway; bounds hostile long words
            continue
        else:
            d = edit_distance(wl, b)
        if d <= limit and (best is None or d < best[0]):
            best = (d, t)
    return None if best is None else best[1]


@dataclass(frozen=True)
class ImageUse:
    """A global image option and whether the VMM command line loads that image."""

    option: str  # the global option: -k, -i, -f
    path: str | None  # its value (None: not given)
    what: str  # kernel, initrd, firmware
    loaded: bool  # the VMM command line loads it
    vmm_option: str  # how the VMM command line loads it (for the message)


def check_images_loaded(vmm: str, uses: Iterable[ImageUse], inputs: MeasureInputs
                        ) -> list[str]:
    """Refuse a global image that the VMM command line never loads.

    The reference tool takes the *content* of a kernel, initrd or firmware from the
    global ``-k``/``-i``/``-f`` and whether the Realm loads it from the VMM's own
    option, and silently ignores a global image that no VMM option loads: it then
    measures a Realm without that image. ``rmtool measure`` refuses instead (a
    deliberate difference, docs/vmm-qemu.md); ``realm-measurements``
    (``inputs.reference_mode``) keeps the reference's behaviour for scripts such as
    its gen-run-vmm.sh, which always pass all three, and gets the returned warnings."""
    warnings = []
    for use in uses:
        if use.path is not None and not use.loaded:
            text = (f"{use.option} {use.path} was given but the {vmm} command line loads "
                    f"no {use.what} ({use.vmm_option})")
            if not inputs.reference_mode:
                raise ParametersError(text)
            warnings.append(f"{text}: it is not measured")
    return warnings


def attach_warnings(exc: Exception, warnings: list[str]) -> None:
    """Keep the warnings issued before ``exc`` on it (``exc.warnings``): the reference
    logs each warning as it parses, so they precede its ``ERROR`` line on stderr."""
    if not hasattr(exc, "warnings"):
        setattr(exc, "warnings", list(warnings))  # noqa: B010 (RmtoolError has no field)


def check_ipa_room(vmm: str, end: int, inputs: MeasureInputs, reason: str) -> None:
    """Refuse (``rmtool measure`` only) a Realm whose RAM or a blob ends at ``end``
    (exclusive, not wrapped), beyond the host's IPA space: the VMM refuses to start it
    (``reason``: the VMM's own check), while the reference tool clamps ``s2sz`` to the
    host's width and measures a Realm that never runs. ``realm-measurements`` keeps the
    reference's output."""
    host = inputs.caps.ipa_bits
    if inputs.reference_mode or host is None or end <= 1 << host:
        return
    raise ParametersError(f"{vmm} refuses this Realm: {reason} (the host's IPA width is "
                          f"{host} bits, --ipa-bits)")


def check_blobs_in_ipa(build: VmmBuild, inputs: MeasureInputs) -> None:
    """:func:`check_ipa_room` for each measured blob (e.g. kvmtool ``--firmware-address``
    beyond the IPA space): the VMM cannot load it there. A blob whose size is not known
    yet (a file the reference opens only when measuring) is left to that error."""
    for blob in build.blobs:
        try:
            size = blob.image.size
        except RmtoolError:
            continue
        check_ipa_room(build.vmm, blob.ipa + size, inputs,
                       f"the {blob.kind} at {blob.ipa:#x} ({size} bytes) ends beyond the "
                       f"guest physical address space")
