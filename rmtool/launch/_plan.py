"""``rmtool launch``: from a launch config and the reference script's switches to the
VMM command line, the measured DTB, the run script and the reference values.

docs/launch.md (the reference's ``scripts/gen-run-vmm.sh``). The measurement goes through the same
library path as ``rmtool measure`` (:func:`rmtool.measure.build_vmm` /
:func:`rmtool.measure.measure_vmm` with :class:`MeasureInputs`): the arguments written to
the run script are the arguments measured, the DTB written is the DTB measured.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import rmtool.launch._argv as A
from rmtool import __version__
from rmtool.errors import RmtoolError, UsageError
from rmtool.launch._config import LaunchConfig
from rmtool.launch._script import ScriptSpec, render
from rmtool.launch.hosts import caps_from_profiles
from rmtool.measure import build_vmm, measure_vmm
from rmtool.measure.host import HostCaps, load_config
from rmtool.measure.rmm.profiles import DEFAULT_PROFILE, get_profile
from rmtool.measure.rmm.realm import Measurements
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild
from rmtool.measure.vmm.registry import get

_CAP_OPTIONS = (("ipa_bits", "--ipa-bits"), ("num_bps", "--num-bps"), ("num_wps", "--num-wps"),
                ("sve_vl", "--sve-vl"), ("pmu_num_ctrs", "--pmu-num-ctrs"), ("pmu", "--pmu"),
                ("lpa2", "--lpa2"))


@dataclass
class LaunchPlan:
    """Everything ``rmtool launch`` decided, before anything is written."""

    options: A.LaunchOptions
    config: LaunchConfig
    args: list[str]                 # VMM arguments (may hold ${TAP_*})
    measured_args: list[str]        # the same with the run-time placeholders filled in
    inputs: MeasureInputs
    build: VmmBuild
    kernel_params: str
    dtb_path: str                   # where the DTB is written (build machine)
    run_dtb_path: str               # where the run script loads it from (host)
    script_path: str
    measure_globals: list[str]      # rmtool measure global options reproducing the inputs
    notes: list[str] = field(default_factory=list)
    measurements: Measurements | None = None

    @property
    def vmm(self) -> str:
        return self.options.vmm

    def measure_argv(self) -> list[str]:
        """``rmtool measure`` arguments that measure exactly this Realm."""
        return ["measure", *self.measure_globals, self.vmm, *self.measured_args]

    def measure_command(self) -> str:
        return "rmtool " + shlex.join(self.measure_argv())

    def vmm_command(self) -> list[str]:
        traits = get(self.vmm).launch
        binary = traits.default_binary
        if traits.binary_setting is not None:
            binary = str(getattr(self.config, traits.binary_setting, binary))
        return [binary, *traits.binary_args]

    @property
    def dtb_sha256(self) -> str:
        return hashlib.sha256(self.build.dtb or b"").hexdigest()

    def warnings(self) -> list[str]:
        """The VMM parser's warnings a user can act on: not those about a word rmtool
        wrote into the command line itself (:func:`about_generated_word`)."""
        return [w for w in self.build.warnings
                if not about_generated_word(w, self.measured_args)]

    def generated_word_notes(self) -> list[str]:
        """The VMM parser's remarks about rmtool's own arguments (shown with -v)."""
        return [w for w in self.build.warnings if about_generated_word(w, self.measured_args)]


# the QEMU argument reader's remarks about a word it skips (rmtool.measure.vmm._qemu_args,
# the reference's "Parameter X ignored"): they do not change the measurement
_IGNORED_WORD = re.compile(r"^(?:Parameter (?P<word>\S+) ignored|ignored -(?:device|object) "
                           r"(?P<value>\S+))$")


def about_generated_word(warning: str, args: list[str]) -> bool:
    """Whether ``warning`` only says that the VMM parser skipped one of ``args``, the
    words ``rmtool launch`` generated (e.g. QEMU's ``-serial chardev:chr0`` for the
    virtconsole: the reference's parser reads ``-serial`` and its value as two unknown
    words). Such a remark is about rmtool's own choice, not the user's input."""
    m = _IGNORED_WORD.match(warning)
    if m is None:
        return False
    word = m.group("word")
    if word is not None:
        return word in args
    value = m.group("value")
    return any(a == value or a.startswith(value + ",") for a in args)


def host_caps(cfg: LaunchConfig, o: A.LaunchOptions) -> HostCaps:
    """Host capabilities: ``host_configs`` files, else CONFIGS_DIR files, else the
    built-in profiles — ``fvp`` (``--fvp``) or ``qemu-max-8.2``, then ``kvm``."""
    platform = "fvp" if o.fvp else "qemu-max-8.2"
    caps = HostCaps()
    if cfg.host_configs:
        for path in cfg.host_configs:
            caps = load_config(path, caps)
    elif cfg.configs_dir is not None:
        for name in (platform, "kvm"):
            caps = load_config(str(Path(cfg.configs_dir) / f"{name}.conf"), caps)
    else:
        caps = caps_from_profiles((platform, "kvm"))
    if not o.pmu and get(o.vmm).launch.pmu_in_host_caps:
        caps = caps.set(pmu=False)  # kvmtool / cloud-hv take the PMU from the host caps
    return caps


def _globals(caps: HostCaps, rmm_version: str, inputs: MeasureInputs) -> list[str]:
    out = ["--rmm-version", rmm_version]
    for name, opt in _CAP_OPTIONS:
        value = getattr(caps, name)
        if value is None:
            continue
        out += [opt, ("true" if value else "false") if isinstance(value, bool) else str(value)]
    for opt, path in (("-k", inputs.kernel), ("-i", inputs.initrd), ("-f", inputs.firmware)):
        if path is not None:
            out += [opt, path]
    return out


def _layout_key(b: VmmBuild) -> tuple[object, ...]:
    return (b.params, b.dtb, b.dtb_ipa, tuple(sorted(b.ram)), b.rec_pc, b.rec_gprs,
            b.log_region, tuple(sorted((x.kind, x.ipa) for x in b.blobs)))


def _firmware_paths(cfg: LaunchConfig, o: A.LaunchOptions) -> tuple[str | None, str | None]:
    if not o.edk2:
        return None, None
    traits = get(o.vmm).launch
    build = cfg.firmware
    if build is None and cfg.edk2_dir is not None and traits.edk2_build is not None:
        build = str(Path(cfg.edk2_dir) / traits.edk2_build)
    if build is None:
        raise UsageError("--edk2 needs the firmware: set edk2_dir or firmware in the launch "
                         "config, or pass --firmware")
    run = cfg.run_firmware
    if run is None and cfg.run_edk2_dir is not None and traits.edk2_run is not None:
        run = str(Path(cfg.run_edk2_dir) / traits.edk2_run)
    return build, run or build


def _in_launch_terms(exc: RmtoolError, o: A.LaunchOptions, args: list[str]) -> RmtoolError:
    """``exc`` of the VMM front-end, told in the user's terms: without the parser's remarks
    about words rmtool generated (``Parameter -serial ignored``), and a refused
    ``--memory`` value named as the launch option (the front-end says ``-m 512X``, a
    word of the command line rmtool wrote)."""
    warnings = [w for w in getattr(exc, "warnings", ()) if not about_generated_word(w, args)]
    hint = exc.hint or ""
    if any(o.memory in a for a in args) and f"{o.memory}:" in hint and "expected a size" in hint:
        new: RmtoolError = UsageError(f"--memory {o.memory}: " + hint.split(": ", 1)[1])
    else:
        new = exc
    setattr(new, "warnings", warnings)  # noqa: B010 (RmtoolError has no such field)
    return new


def _build(vmm: str, args: list[str], inputs: MeasureInputs, o: A.LaunchOptions) -> VmmBuild:
    try:
        return build_vmm(vmm, args, inputs)
    except RmtoolError as exc:
        raise _in_launch_terms(exc, o, args) from None


def plan_launch(cfg: LaunchConfig, o: A.LaunchOptions, *, rmm_version: str | None = None,
                measure: bool = True, jobs: int | None = None) -> LaunchPlan:
    """Decide the command line, build the Realm (and measure it unless ``measure=False``)."""
    notes = A.check_options(o)
    version = rmm_version or cfg.rmm_version or DEFAULT_PROFILE
    profile = get_profile(version)
    caps = host_caps(cfg, o)
    if o.direct_kernel and cfg.kernel is None:
        raise UsageError("no kernel given: set kernel in the launch config or pass --kernel")
    if o.use_initrd and cfg.initrd is None:
        raise UsageError("no initrd given: set initrd in the launch config or pass --initrd "
                         "(or use --disk / --disk-boot)")
    fw_build, fw_run = _firmware_paths(cfg, o)
    inputs = MeasureInputs(caps=caps, profile=profile,
                           kernel=cfg.kernel if o.direct_kernel else None,
                           initrd=cfg.initrd if o.use_initrd else None,
                           firmware=fw_build)
    dtb_name = cfg.output_dtb or get(o.vmm).launch.dtb_name
    dtb_path = str(Path(cfg.output_dtb_dir).resolve() / dtb_name)
    run_dtb = str(Path(cfg.run_dtb_dir) / dtb_name) if cfg.run_dtb_dir else dtb_path
    paths = A.RunPaths(kernel=cfg.run_kernel or cfg.kernel, initrd=cfg.run_initrd or cfg.initrd,
                       firmware=fw_run, disk=cfg.run_disk, dtb=run_dtb,
                       shared_dir=cfg.shared_dir, vsock_id=cfg.vsock_id)
    def make(kparams: str) -> list[str]:
        return A.vmm_args(o, paths, kparams, cfg.personalization_value)

    # pass 1: the Realm's IPA width (the serial console address depends on it)
    kparams = A.kernel_params(o, 48)
    args = make(kparams)
    build = _build(o.vmm, A.substitute(args, A.RUNTIME_DEFAULTS), inputs, o)
    if o.serial:
        kparams = A.kernel_params(o, build.params.s2sz)
        args = make(kparams)
        build = _build(o.vmm, A.substitute(args, A.RUNTIME_DEFAULTS), inputs, o)
    used = A.runtime_vars(args)
    if used:
        other = build_vmm(o.vmm, A.substitute(args, A.RUNTIME_ALTERNATES), inputs)
        if _layout_key(other) != _layout_key(build):
            raise UsageError(f"the {', '.join(used)} value changes the measured Realm; "
                             "rmtool cannot measure it before the host sets it")
    measured = A.substitute(args, A.RUNTIME_DEFAULTS)
    plan = LaunchPlan(options=o, config=cfg, args=args, measured_args=measured, inputs=inputs,
                      build=build, kernel_params=kparams, dtb_path=dtb_path,
                      run_dtb_path=run_dtb,
                      script_path=str(Path(cfg.output_script_dir).resolve()
                                      / f"run-{o.vmm}.sh"),
                      measure_globals=_globals(caps, version, inputs), notes=notes)
    if measure:
        result = measure_vmm(o.vmm, measured, inputs, jobs=jobs)
        plan.build = result.build
        plan.measurements = result.measurements
    return plan


def script_text(plan: LaunchPlan, switches: str = "") -> str:
    """The run script for *plan* (see :mod:`rmtool.launch._script`)."""
    o = plan.options
    header = [f"Start a Realm with {plan.vmm_command()[0]}: written by rmtool launch "
              f"{__version__}{' ' + switches if switches else ''}.",
              "The VMM arguments in VMM_ARGS are exactly those rmtool measured; the VMM must",
              f"load the measured DTB unchanged: {plan.run_dtb_path}",
              f"  (sha256 {plan.dtb_sha256})"]
    m = plan.measurements
    if m is not None:
        header.append(f"Reference values ({m.hash_algo.name}, RMM {m.profile.name}):")
        header.append(f"  RIM  {m.rim.hex()}")
        for i, rem in enumerate(m.rems):
            header.append(f"  REM{i} {rem.hex()}")
    name = Path(plan.script_path).name
    header += ["To check them on the build machine (same input files):",
               f"  mapfile -t a < <(./{name} --print-measure-args); rmtool \"${{a[@]}}\"",
               f"Usage: ./{name} [--print-args | --print-measure-args]"]
    tty = None
    if o.extcon:
        tty = "/dev/ttyAMA1" if o.fvp else "/dev/hvc1"
    spec = ScriptSpec(vmm=plan.vmm, vmm_cmd=tuple(plan.vmm_command()), args=tuple(plan.args),
                      measure_globals=tuple(plan.measure_globals),
                      runtime_vars=tuple(A.runtime_vars(plan.args)),
                      tap_iface=plan.config.tap_iface,
                      open_tap_fd=get(plan.vmm).launch.tap_by_fd, guest_tty=tty,
                      header=tuple(header))
    return render(spec)
