"""The VMM front-end protocol and its one registry (docs/architecture.md "VMM front-ends").

A VMM front-end is registered once, under its name and aliases, and everything that
depends on the VMM goes through it: ``rmtool measure`` (the clap pre-check and the
build), ``--emit-log`` (the VM VERSION facts), replay (regenerating a logged DTB from the
log's facts) and ``rmtool launch`` (the VMM command line). Nothing outside a front-end's
own module tests a VMM name.

A front-end module ends with ``register(TheFrontend())``; the built-in ones are listed
in :data:`BUILTIN` (the one line a new VMM adds) and imported on the first look-up. Test
suites or plug-ins may :func:`register` more at run time.

The protocol follows the house plan (design.md, "A VMM front-end is a protocol"): parse
argv, lay out memory, make the DTB, produce ops (:meth:`VmmFrontend.build`), state the
facts a log must carry to rebuild the DTB (:class:`LoggedDtbFacts` in,
:meth:`VmmFrontend.dtb_from_facts` out; :meth:`VmmFrontend.vm_version` for the writer),
and write its launch command line (:meth:`VmmFrontend.launch_argv`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rmtool.errors import UsageError
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild

#: The built-in front-ends: each module registers itself when imported.
BUILTIN = (
    "rmtool.measure.vmm._kvmtool",
    "rmtool.measure.vmm._qemu",
    "rmtool.measure.vmm._cloudhv",
)
SHARE_TAG = "shr0"  # 9p mount tag of ``rmtool launch --share``


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class VmVersionFacts:
    """The "VM VERSION" event of a VMM-written log (docs/measurement-log.md section 2)."""

    name: str  # as the VMM writes it: "kvmtool", "QEMU", "cloudhv"
    version: str
    ram_size: int
    cpus: int


@dataclass(frozen=True)
class LoggedDtbFacts:
    """What an event log says about a DTB's inputs (docs/measurement-log.md section 4,
    pass 1): the VM VERSION event, the REALM_CREATE PMU flag, the INITRD and LOG events and
    the DTB event."""

    vmm_name: str  # the VM VERSION name
    vmm_version: str
    cpus: int
    ram_size: int
    pmu: bool
    initrd: tuple[int, int] | None  # (base, length)
    log: tuple[int, int] | None  # (base, length)
    dtb_base: int
    dtb_length: int


@dataclass(frozen=True)
class Regenerated:
    """One DTB candidate and how it was made (accepted only if its digest matches)."""

    data: bytes
    how: str  # e.g. "kvmtool generator (reference bootargs, its on, ...)"


#: ``--dtb-templates`` chosen for this VMM: (bytes, file)
Templates = Sequence[tuple[bytes, str]]


class LaunchSpec(Protocol):
    """The launch switches a front-end reads (``rmtool.launch._argv.LaunchOptions``)."""

    @property
    def vmm(self) -> str: ...
    @property
    def edk2(self) -> bool: ...
    @property
    def disk_boot(self) -> bool: ...
    @property
    def serial(self) -> bool: ...
    @property
    def pmu(self) -> bool: ...
    @property
    def eventlog(self) -> bool: ...
    @property
    def share(self) -> str | None: ...
    @property
    def vsock(self) -> int | None: ...
    @property
    def restricted_mem(self) -> bool: ...
    @property
    def cpus(self) -> int: ...
    @property
    def memory(self) -> str: ...
    @property
    def net(self) -> str: ...
    @property
    def direct_kernel(self) -> bool: ...
    @property
    def use_initrd(self) -> bool: ...


class RunPathsSpec(Protocol):
    """Paths as the host sees them (``rmtool.launch._argv.RunPaths``)."""

    @property
    def kernel(self) -> str | None: ...
    @property
    def initrd(self) -> str | None: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def disk(self) -> str: ...
    @property
    def dtb(self) -> str: ...


@dataclass(frozen=True)
class LaunchRequest:
    """What :meth:`VmmFrontend.launch_argv` gets: the switches, the run-time paths, the
    kernel parameters and the Realm Personalization Value (base64)."""

    options: LaunchSpec
    paths: RunPathsSpec
    kernel_params: str
    rpv_b64: str


@dataclass(frozen=True)
class LaunchTraits:
    """Per-VMM constants of ``rmtool launch`` (``scripts/gen-run-vmm.sh``, docs/launch.md)."""

    dtb_name: str  # file name of the generated DTB
    serial: tuple[str, int, str]  # earlycon driver, UART address, console device
    binary_setting: str | None  # LaunchConfig attribute naming the VMM binary
    default_binary: str
    binary_args: tuple[str, ...] = ()  # e.g. ("run",) for lkvm
    default_network: str = "user"
    tap_by_fd: bool = True  # the run script opens the tap device as fd 3
    pmu_in_host_caps: bool = True  # --no-pmu is measured as host capability pmu=false
    restricted_mem: bool = False  # accepts --restricted-mem
    edk2_build: str | None = None  # EDK2 build output (EDK2_DIR/...)
    edk2_run: str | None = None  # file the run script loads from RUN_EDK2_DIR


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class VmmFrontend(Protocol):
    """One VMM: its argv grammar, memory map, DTB, operations, log facts and launch line.

    ``name`` is the ``rmtool measure`` subcommand and ``rmtool launch --vmm`` value;
    ``aliases`` are the other spellings (the VM VERSION names logs carry, the module
    name), resolved by :func:`get`. ``log_name`` is the VM VERSION name it writes.
    """

    name: str
    aliases: tuple[str, ...]
    log_name: str
    launch: LaunchTraits

    def scan_args(self, argv: Sequence[str]) -> None:
        """The reference's clap pass over this VMM's arguments (before any tool error):
        raises :class:`rmtool.measure.vmm._rustcompat.ClapError`, or ``HelpRequested``
        for ``-h`` (the CLI then prints :meth:`help_text`). No-op for raw-word VMMs."""

    def help_text(self) -> str:
        """The subcommand's help, as the reference prints it."""

    def build(self, argv: list[str], inputs: MeasureInputs) -> VmmBuild:
        """Parse ``argv``, lay out memory, make the DTB: the Realm to measure."""

    def vm_version(self, build: VmmBuild) -> VmVersionFacts:
        """The VM VERSION event this VMM writes for ``build`` (``--emit-log``)."""

    def dtb_from_facts(self, facts: LoggedDtbFacts,
                       templates: Templates) -> Iterator[Regenerated]:
        """DTB candidates for a log's facts, the reference's choice first (replay)."""

    def check_launch(self, options: LaunchSpec) -> list[str]:
        """Refuse launch switches this VMM cannot measure (``UsageError``); notes."""

    def launch_argv(self, request: LaunchRequest) -> list[str]:
        """The VMM's arguments for ``rmtool launch`` (may hold ``${TAP_*}``)."""


# --------------------------------------------------------------------------- registry

_FRONTENDS: dict[str, VmmFrontend] = {}  # canonical name -> front-end, in order
_ALIASES: dict[str, str] = {}  # every accepted spelling -> canonical name
_loaded = False


class UnknownVmm(UsageError):
    """A VMM name no front-end is registered under."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown VMM {name!r} (expected one of {', '.join(names())})")
        self.name = name


def register(frontend: VmmFrontend) -> VmmFrontend:
    """Register ``frontend`` under its name and aliases (a spelling already taken by
    another front-end is a programming error)."""
    for spelling in (frontend.name, *frontend.aliases, frontend.log_name):
        owner = _ALIASES.get(spelling)
        if owner is not None and owner != frontend.name:
            raise ValueError(f"VMM name {spelling!r} is already registered by {owner!r}")
    _FRONTENDS[frontend.name] = frontend
    for spelling in (frontend.name, *frontend.aliases, frontend.log_name):
        _ALIASES[spelling] = frontend.name
    return frontend


def unregister(name: str) -> None:
    """Remove a front-end registered at run time (tests)."""
    canonical = _ALIASES.get(name, name)
    _FRONTENDS.pop(canonical, None)
    for spelling in [s for s, c in _ALIASES.items() if c == canonical]:
        del _ALIASES[spelling]


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN:
            importlib.import_module(module)


def find(name: str) -> VmmFrontend | None:
    """The front-end for ``name`` or any of its aliases, or None."""
    _load_builtin()
    canonical = _ALIASES.get(name)
    return None if canonical is None else _FRONTENDS[canonical]


def get(name: str) -> VmmFrontend:
    """The front-end for ``name`` or any of its aliases (:class:`UnknownVmm` if none)."""
    found = find(name)
    if found is None:
        raise UnknownVmm(name)
    return found


def is_name(name: str) -> bool:
    """Whether ``name`` is a front-end's canonical name (the reference's subcommands)."""
    _load_builtin()
    return name in _FRONTENDS


def names() -> tuple[str, ...]:
    """Canonical names: the built-in front-ends in :data:`BUILTIN` order (whichever
    module was imported first), then the others in registration order."""
    _load_builtin()

    def rank(name: str) -> int:
        module = type(_FRONTENDS[name]).__module__
        return BUILTIN.index(module) if module in BUILTIN else len(BUILTIN)

    return tuple(sorted(_FRONTENDS, key=rank))


def need(value: str | None, what: str) -> str:
    """A launch path a command line needs (``UsageError`` naming the setting)."""
    if not value:
        raise UsageError(f"no {what} given: set {what} (or run_{what}) in the launch config "
                         f"or pass --{what}")
    return value
