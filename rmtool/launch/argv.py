"""VMM command lines for a Realm, as ``gen-run-vmm.sh`` builds them (spec/anchor-cli.md §5).

One builder per VMM turns :class:`LaunchOptions` and the run-time paths into the argument
list that is both measured (``rmtool measure <vmm> ARGS``) and written to the run script.
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

VMMS = ("kvmtool", "qemu", "cloud-hv")
NETWORKS = ("user", "tap", "none")
RUNTIME_DEFAULTS = {"TAP_INDEX": "0", "TAP_MAC": "00:00:00:00:00:00"}
RUNTIME_ALTERNATES = {"TAP_INDEX": "7", "TAP_MAC": "02:00:00:00:00:07"}
_VAR_RE = re.compile(r"\$\{(TAP_INDEX|TAP_MAC)\}")

# UART used for earlycon / console= with --serial (reference values)
_SERIAL = {
    "kvmtool": ("uart,mmio", 0x01000000, "ttyS0"),
    "qemu": ("pl011", 0x09000000, "ttyAMA0"),
    "cloud-hv": ("pl011", 0x09000000, "ttyAMA0"),
}
DTB_NAMES = {"kvmtool": "kvmtool-gen.dtb", "qemu": "qemu-gen.dtb", "cloud-hv": "cloudhv-gen.dtb"}
SHARE_TAG = "shr0"


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
        return "tap" if self.vmm == "cloud-hv" else "user"

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
    """Refuse combinations that cannot give a measured Realm; return notes for others."""
    if o.vmm not in VMMS:
        raise UsageError(f"unknown VMM {o.vmm!r} (expected one of {', '.join(VMMS)})")
    if o.network is not None and o.network not in NETWORKS:
        raise UsageError(f"unknown network {o.network!r} (expected user, tap or none)")
    if o.disk_boot and not o.edk2:
        raise UsageError("--disk-boot needs --edk2: without a kernel on the command line the "
                         "firmware must boot the kernel from the disk")
    if o.vmm == "cloud-hv" and o.edk2:
        raise UsageError("cloud-hv with --edk2 is not supported: the reference script passes "
                         "-bios, which cloud-hypervisor rejects, and the cloud-hypervisor model "
                         "ignores --firmware, so a firmware boot cannot be measured; boot the "
                         "kernel directly (drop --edk2)")
    if o.vmm == "kvmtool" and o.edk2 and not o.disk_boot:
        raise UsageError("kvmtool with --edk2 needs --disk-boot: kvmtool would load the "
                         "firmware (-f) and the kernel (-k) at the same address (the "
                         "reference script's 'duplicate blob' error); EDK2 boots the kernel "
                         "from the disk instead")
    if o.vmm == "cloud-hv" and o.eventlog:
        raise UsageError("--eventlog is not available with cloud-hv (no Realm measurement "
                         "log option); use qemu or kvmtool")
    if o.vmm == "cloud-hv" and o.share is not None:
        raise UsageError("--share is not available with cloud-hv (it needs a virtiofsd "
                         "daemon); use qemu or kvmtool")
    if o.vmm == "cloud-hv" and o.net == "user":
        raise UsageError("cloud-hypervisor has no user-mode network; use --network tap or none")
    if o.restricted_mem and o.vmm != "kvmtool":
        raise UsageError("--restricted-mem is a kvmtool option")
    if not 1 <= o.cpus <= 512:
        raise UsageError(f"--cpus {o.cpus}: expected 1..512")
    notes = []
    if o.restricted_mem:
        notes.append("kvmtool: emitting --restricted_mem (the reference script's "
                     "--restricted-mem is rejected by the measurement parser)")
    if o.vmm == "kvmtool" and o.edk2:
        notes.append("kvmtool firmware boot: upstream kvmtool places the DTB after the "
                     "firmware while the reference model keeps it below the top of RAM; "
                     "check this RIM against a real launch")
    if not o.pmu and o.vmm != "qemu":
        notes.append(f"{o.vmm}: --no-pmu is measured as host capability pmu=false")
    return notes


def kernel_params(o: LaunchOptions, ipa_bits: int) -> str:
    """``console=hvc0`` or ``earlycon=...,<addr> console=...`` (+ ``root=/dev/vda2``).

    For a Realm the UART is reached through the unprotected IPA alias, so its address
    has bit ``ipa_bits - 1`` set (the reference hard-codes 41/33/48 bits; rmtool uses
    the Realm's actual IPA width)."""
    params = []
    if o.serial:
        earlycon, addr, console = _SERIAL[o.vmm]
        params.append(f"earlycon={earlycon},{addr | 1 << (ipa_bits - 1):#x}")
        params.append(f"console={console}")
    else:
        params.append("console=hvc0")
    if not o.use_initrd:
        params.append("root=/dev/vda2")
    return " ".join(params)


def kvmtool_args(o: LaunchOptions, p: RunPaths, kparams: str) -> list[str]:
    args = ["--console", "serial" if o.serial else "virtio"]
    args += ["--realm"]
    if o.restricted_mem:
        args += ["--restricted_mem"]
    args += ["--sve-max-vl=512"]
    if o.edk2:
        args += ["-f", _need(p.firmware, "firmware")]
    if o.direct_kernel:
        args += ["-k", _need(p.kernel, "kernel")]
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
        args += ["-i", _need(p.initrd, "initrd")]
    else:
        args += ["-d", p.disk]
    if o.eventlog:
        args += ["--measurement-log"]
    if o.share is not None:
        args += ["--9p", f"{o.share},{SHARE_TAG}"]
    if o.vsock is not None:
        args += ["--vsock", str(o.vsock)]
    if kparams:
        args += ["-p", kparams]
    return args


def qemu_args(o: LaunchOptions, p: RunPaths, kparams: str, rpv_b64: str) -> list[str]:
    log = "on" if o.eventlog else "off"
    args = ["-M", "confidential-guest-support=rme0", "-object",
            f"rme-guest,id=rme0,measurement-algorithm=sha512,personalization-value={rpv_b64},"
            f"measurement-log={log}"]
    if not o.serial:
        args += ["-nodefaults", "-chardev", "stdio,mux=on,id=chr0,signal=off",
                 "-serial", "chardev:chr0", "-device", "virtio-serial-pci",
                 "-device", "virtconsole,chardev=chr0", "-mon", "chardev=chr0,mode=readline"]
    if o.edk2:
        args += ["-bios", _need(p.firmware, "firmware")]
    if o.net == "user":
        args += ["-device", "virtio-net-pci,netdev=net0,romfile=", "-netdev", "user,id=net0"]
    elif o.net == "tap":
        args += ["-device", "virtio-net-pci,netdev=net0,romfile=,mac=${TAP_MAC}",
                 "-netdev", "tap,fd=3,id=net0"]
    args += ["-cpu", "host" if o.pmu else "host,pmu=off", "-M", "virt", "-enable-kvm",
             "-M", "gic-version=3,its=on", "-smp", str(o.cpus), "-m", o.memory, "-nographic",
             "-dtb", p.dtb]
    disk = ["-device", "virtio-blk-pci,drive=rootfs0",
            "-drive", f"format=raw,if=none,file={p.disk},id=rootfs0"]
    if o.direct_kernel:
        args += ["-kernel", _need(p.kernel, "kernel")]
        args += ["-initrd", _need(p.initrd, "initrd")] if o.use_initrd else disk
        args += ["-append", kparams]
    else:
        args += disk
    if o.share is not None:
        args += ["-device", f"virtio-9p-pci,fsdev={SHARE_TAG},mount_tag={SHARE_TAG}",
                 "-fsdev", f"local,security_model=none,path={o.share},id={SHARE_TAG}"]
    if o.vsock is not None:
        args += ["-device", f"vhost-vsock-pci,guest-cid={o.vsock}"]
    return args


def cloudhv_args(o: LaunchOptions, p: RunPaths, kparams: str, rpv_b64: str) -> list[str]:
    args = ["--platform",
            f"arm_rme=on,measurement_algo=sha512,personalization_value={rpv_b64}"]
    args += ["--console", "off", "--serial", "tty"] if o.serial else \
        ["--console", "tty", "--serial", "off"]
    args += ["--kernel", _need(p.kernel, "kernel")]
    if o.use_initrd:
        args += ["--initramfs", _need(p.initrd, "initrd")]
    else:
        args += ["--disk", f"path={p.disk}"]
    args += ["--cpus", f"boot={o.cpus}", "--memory", f"size={o.memory}"]
    if o.net == "tap":
        args += ["--net", "fd=3,mac=${TAP_MAC}"]
    if o.vsock is not None:
        args += ["--vsock", f"cid={o.vsock},socket=/tmp/rmtool-vsock-{o.vsock}.sock"]
    args += ["-v", "--dtb", p.dtb, "--cmdline", kparams]
    return args


def vmm_args(o: LaunchOptions, p: RunPaths, kparams: str, rpv_b64: str) -> list[str]:
    """The VMM's arguments (may contain ``${TAP_INDEX}`` / ``${TAP_MAC}``)."""
    if o.vmm == "kvmtool":
        return kvmtool_args(o, p, kparams)
    if o.vmm == "qemu":
        return qemu_args(o, p, kparams, rpv_b64)
    return cloudhv_args(o, p, kparams, rpv_b64)


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


def _need(value: str | None, what: str) -> str:
    if not value:
        raise UsageError(f"no {what} given: set {what} (or run_{what}) in the launch config "
                         f"or pass --{what}")
    return value
