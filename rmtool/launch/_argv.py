"""VMM command lines for a Realm, as ``gen-run-vmm.sh`` builds them (docs/launch.md).

Each VMM's front-end (:meth:`rmtool.measure.vmm.registry.VmmFrontend.launch_argv`) turns
:class:`LaunchOptions` and the run-time paths into the argument list that is both measured
(``rmtool measure <vmm> ARGS``) and written to the run script.
Values only known on the host (the tap interface index and MAC address) appear as
``${TAP_INDEX}`` / ``${TAP_MAC}``; :func:`substitute` fills them in for measurement.

Where the reference script is broken, rmtool fixes it or refuses (:func:`check_options`):

* kvmtool ``--restricted-mem``: the spelling the measurement parser (and the CCA kvmtool)
  accept is ``--restricted_mem``; rmtool emits that.
* cloud-hypervisor with EDK2: the script passes ``-bios`` (not a cloud-hypervisor option)
  and the model ignores ``--firmware``, so firmware boot cannot be measured: refused.
* kvmtool with EDK2 and a kernel: ``-f`` and ``-k`` both load at the RAM base (duplicate
  blob): refused unless ``--disk-boot`` (EDK2 then boots the kernel from the disk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rmtool.errors import UsageError
from rmtool.measure.vmm.registry import LaunchRequest, find, get, names

VMMS = names()  # the built-in front-ends (registry order)
NETWORKS = ("user", "tap", "none")
RUNTIME_DEFAULTS = {"TAP_INDEX": "0", "TAP_MAC": "00:00:00:00:00:00"}
RUNTIME_ALTERNATES = {"TAP_INDEX": "7", "TAP_MAC": "02:00:00:00:00:07"}
_VAR_RE = re.compile(r"\$\{(TAP_INDEX|TAP_MAC)\}")


@dataclass(frozen=True)
class LaunchOptions:
    """The reference script's switches (``--kvmtool``, ``--edk2``, ``--serial``...)."""

    vmm: str = "qemu"
    edk2: bool = False
    disk_boot: bool = False      # no direct kernel boot, no initrd (EDK2 boots the disk)
    disk: bool = False           # root file system on the disk instead of an initrd
    serial: bool = False         # serial console instead of virtconsole
    pmu: bool = True
    eventlog: bool = False
    fvp: bool = False
    network: str | None = None   # user | tap | none (None: user, tap for cloud-hv)
    share: str | None = None     # host directory shared with the Realm (9p)
    vsock: int | None = None     # guest CID
    restricted_mem: bool = False  # kvmtool only
    extcon: bool = False         # guest console on a separate tty
    cpus: int = 2
    memory: str = "1G"

    @property
    def net(self) -> str:
        if self.network is not None:
            return self.network
        found = find(self.vmm)
        return found.launch.default_network if found is not None else "user"

    @property
    def direct_kernel(self) -> bool:
        return not self.disk_boot

    @property
    def use_initrd(self) -> bool:
        return not (self.disk or self.disk_boot)


@dataclass(frozen=True)
class RunPaths:
    """Paths as the host sees them when it runs the script."""

    kernel: str | None
    initrd: str | None
    firmware: str | None
    disk: str
    dtb: str
    shared_dir: str
    vsock_id: int


def check_options(o: LaunchOptions) -> list[str]:
    """Refuse combinations that cannot give a measured Realm; return notes for others.
    The VMM's own refusals and notes come from its front-end (``check_launch``)."""
    frontend = find(o.vmm)
    if frontend is None:
        raise UsageError(f"unknown VMM {o.vmm!r} (expected one of {', '.join(names())})")
    if o.network is not None and o.network not in NETWORKS:
        raise UsageError(f"unknown network {o.network!r} (expected user, tap or none)")
    if o.disk_boot and not o.edk2:
        raise UsageError("--disk-boot needs --edk2: without a kernel on the command line the "
                         "firmware must boot the kernel from the disk")
    notes = frontend.check_launch(o)
    if o.restricted_mem and not frontend.launch.restricted_mem:
        raise UsageError("--restricted-mem is a kvmtool option")
    if not 1 <= o.cpus <= 512:
        raise UsageError(f"--cpus {o.cpus}: expected 1..512")
    if not o.pmu and frontend.launch.pmu_in_host_caps:
        notes.append(f"{o.vmm}: --no-pmu is measured as host capability pmu=false")
    return notes


def kernel_params(o: LaunchOptions, ipa_bits: int) -> str:
    """``console=hvc0`` or ``earlycon=...,<addr> console=...`` (+ ``root=/dev/vda2``).

    For a Realm the UART is reached through the unprotected IPA alias, so its address
    has bit ``ipa_bits - 1`` set (the reference hard-codes 41/33/48 bits; rmtool uses
    the Realm's actual IPA width)."""
    params = []
    if o.serial:
        earlycon, addr, console = get(o.vmm).launch.serial
        params.append(f"earlycon={earlycon},{addr | 1 << (ipa_bits - 1):#x}")
        params.append(f"console={console}")
    else:
        params.append("console=hvc0")
    if not o.use_initrd:
        params.append("root=/dev/vda2")
    return " ".join(params)


def vmm_args(o: LaunchOptions, p: RunPaths, kparams: str, rpv_b64: str) -> list[str]:
    """The VMM's arguments (may contain ``${TAP_INDEX}`` / ``${TAP_MAC}``), written by
    the VMM's front-end (``launch_argv``)."""
    return get(o.vmm).launch_argv(LaunchRequest(o, p, kparams, rpv_b64))


def runtime_vars(args: list[str]) -> list[str]:
    """Run-time variables used by the arguments, in first-use order."""
    seen: list[str] = []
    for a in args:
        for m in _VAR_RE.finditer(a):
            if m.group(1) not in seen:
                seen.append(m.group(1))
    return seen


def substitute(args: list[str], values: dict[str, str]) -> list[str]:
    """Replace ``${VAR}`` by its value (what the measurement sees)."""
    return [_VAR_RE.sub(lambda m: values[m.group(1)], a) for a in args]


def shell_word(arg: str) -> str:
    """One bash word: single-quoted, or double-quoted if it uses a run-time variable."""
    if _VAR_RE.search(arg) is None:
        return "'" + arg.replace("'", "'\\''") + "'"
    parts = []
    pos = 0
    for m in _VAR_RE.finditer(arg):
        parts.append(_dq_escape(arg[pos:m.start()]))
        parts.append(m.group(0))
        pos = m.end()
    parts.append(_dq_escape(arg[pos:]))
    return '"' + "".join(parts) + '"'


def _dq_escape(text: str) -> str:
    return "".join("\\" + c if c in '"\\$`' else c for c in text)
