"""``rmtool launch``: write a Realm's run script and DTB, or its reference values.

The Python counterpart of the reference tool's ``gen-run-vmm.sh`` (spec/anchor-cli.md
§5): the same switches and configuration variables (TOML instead of a sourced shell
file), the same VMM command lines, with its known breakages fixed or refused. The
measurement uses ``rmtool measure``'s library path, so the run script's arguments are
exactly the measured ones (``run-<vmm>.sh --print-measure-args`` reproduces it).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import click

from rmtool.errors import InputFileError, UsageError
from rmtool.files import LIMITS, load_json_bounded, write_atomic
from rmtool.launch import (
    LaunchOptions,
    LaunchPlan,
    load_config,
    plan_launch,
    script_text,
    with_overrides,
)
from rmtool.launch.argv import NETWORKS, VMMS
from rmtool.measure.endorsements import comid_json
from rmtool.measure.rmm.profiles import PROFILES

_REFUSED = {
    "no_gen_dtb": "--no-gen-dtb is not supported: without the generated DTB the VMM builds "
                  "its own, which rmtool cannot predict, so the Realm would not match its "
                  "reference values",
    "no_rme": "--no-rme is not supported: rmtool launch starts Realms (run the VMM without "
              "the Realm options yourself for a normal VM)",
}


def _write(path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Write one output atomically (never through a symlink; rmtool.files), creating its
    directory first."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    write_atomic(path, data, mode=mode)


def _read_json(path: str | None) -> Any:
    if path is None:
        return None
    return load_json_bounded(path, LIMITS["json"], InputFileError)


def _switches(o: LaunchOptions) -> str:
    words = [f"--vmm {o.vmm}"]
    for name in ("edk2", "disk_boot", "disk", "serial", "eventlog", "fvp", "restricted_mem",
                 "extcon"):
        if getattr(o, name):
            words.append("--" + name.replace("_", "-"))
    if not o.pmu:
        words.append("--no-pmu")
    if o.network is not None:
        words.append(f"--network {o.network}")
    if o.share is not None:
        words.append(f"--share={o.share}")
    if o.vsock is not None:
        words.append(f"--vsock={o.vsock}")
    return " ".join(words)


def _measurement_lines(plan: LaunchPlan) -> list[str]:
    m = plan.measurements
    if m is None:
        return []
    return [f"RIM: {m.rim.hex()}"] + [f"REM{i}: {r.hex()}" for i, r in enumerate(m.rems)]


@click.command("launch", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Launch configuration (TOML: kernel, initrd, edk2_dir, run_* paths...).")
@click.option("--vmm", type=click.Choice(VMMS), default=None,
              help="VMM to run the Realm with.  [default: qemu]")
@click.option("--kvmtool", "vmm_kvmtool", is_flag=True, hidden=True)
@click.option("--cloudhv", "vmm_cloudhv", is_flag=True, hidden=True)
@click.option("--kernel", type=click.Path(dir_okay=False), help="Kernel Image (overrides config).")
@click.option("--initrd", type=click.Path(dir_okay=False), help="Initrd (overrides config).")
@click.option("--firmware", type=click.Path(dir_okay=False),
              help="EDK2 firmware file (overrides config edk2_dir / firmware).")
@click.option("--output-dir", type=click.Path(file_okay=False),
              help="Where to write the run script and the DTB (overrides config).")
@click.option("--edk2", is_flag=True, help="Boot through the EDK2 firmware.")
@click.option("--disk-boot", is_flag=True,
              help="Boot from the disk (no kernel on the command line, no initrd; needs --edk2).")
@click.option("--disk", is_flag=True, help="Root file system on the disk instead of an initrd.")
@click.option("--serial", is_flag=True, help="Serial console instead of virtconsole.")
@click.option("--no-pmu", is_flag=True, help="Give the Realm no PMU.")
@click.option("--eventlog", is_flag=True, help="Ask the VMM for a Realm measurement log.")
@click.option("--fvp", is_flag=True, help="The host is an Arm FVP (default: QEMU max CPU).")
@click.option("--network", type=click.Choice(NETWORKS), default=None,
              help="Guest network.  [default: user; tap for cloud-hv]")
@click.option("--tap", is_flag=True, hidden=True)
@click.option("--share", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="Share a host directory with the Realm over 9p (default: shared_dir).")
@click.option("--vsock", is_flag=False, flag_value="", default=None, metavar="[CID]",
              help="Add a vsock device (default CID: vsock_id).")
@click.option("--restricted-mem", is_flag=True,
              help="kvmtool: guest memory from guest_memfd (emitted as --restricted_mem).")
@click.option("--extcon", is_flag=True, help="Guest console on a separate host tty.")
@click.option("--cpus", type=click.IntRange(1, 512), default=2, show_default=True)
@click.option("--memory", default="1G", show_default=True, help="Guest RAM size.")
@click.option("--rmm-version", type=click.Choice(list(PROFILES)), default=None,
              help="RMM version whose measurement rules apply.")
@click.option("--jobs", type=click.IntRange(1, 256), default=None, help="Hashing threads.")
@click.option("--gen-measurements", is_flag=True,
              help="Print the reference values instead of writing the run script.")
@click.option("--corim-output", type=click.Path(dir_okay=False),
              help="Write the reference values as an unsigned CoRIM (implies "
                   "--gen-measurements).")
@click.option("--corim-template", type=click.Path(dir_okay=False),
              help="CoRIM JSON template (cocli style) for --corim-output.")
@click.option("--comid-template", type=click.Path(dir_okay=False),
              help="CoMID JSON template for --corim-output.")
@click.option("--endorsements-output", type=click.Path(dir_okay=False),
              help="Write the reference values as CoMID JSON (implies --gen-measurements).")
@click.option("--endorsements-template", type=click.Path(dir_okay=False),
              help="CoMID JSON template for --endorsements-output.")
@click.option("--output-dtb", type=click.Path(dir_okay=False),
              help="In measurement mode, also write the DTB here.")
@click.option("--no-gen-dtb", is_flag=True, hidden=True)
@click.option("--no-rme", is_flag=True, hidden=True)
@click.option("--format", "fmt", type=click.Choice(["table", "text", "json"]), default="table",
              show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Show the kernel parameters and the "
              "equivalent rmtool measure command.")
@click.pass_context
def launch(ctx: click.Context, config_file: str | None, vmm: str | None, vmm_kvmtool: bool,
           vmm_cloudhv: bool, kernel: str | None, initrd: str | None, firmware: str | None,
           output_dir: str | None, edk2: bool, disk_boot: bool, disk: bool, serial: bool,
           no_pmu: bool, eventlog: bool, fvp: bool, network: str | None, tap: bool,
           share: str | None, vsock: str | None, restricted_mem: bool, extcon: bool, cpus: int,
           memory: str, rmm_version: str | None, jobs: int | None, gen_measurements: bool,
           corim_output: str | None, corim_template: str | None, comid_template: str | None,
           endorsements_output: str | None, endorsements_template: str | None,
           output_dtb: str | None, no_gen_dtb: bool, no_rme: bool, fmt: str,
           verbose: bool) -> None:
    """Write run-<vmm>.sh and the DTB for a Realm, or its reference values.

    The run script starts the VMM with exactly the arguments rmtool measured.
    With --corim-output / --endorsements-output / --gen-measurements, write or print
    the reference values of the same Realm instead.
    """
    for name, refused in (("no_gen_dtb", no_gen_dtb), ("no_rme", no_rme)):
        if refused:
            raise UsageError(_REFUSED[name])
    chosen = [v for v, on in (("kvmtool", vmm_kvmtool), ("cloud-hv", vmm_cloudhv)) if on]
    if vmm is not None:
        chosen.append(vmm)
    if len(set(chosen)) > 1:
        raise UsageError(f"choose one VMM (got {', '.join(chosen)})")
    if tap:
        if network not in (None, "tap"):
            raise UsageError("--tap conflicts with --network " + str(network))
        network = "tap"
    cfg = load_config(config_file)
    out_dir = str(Path(output_dir).resolve()) if output_dir else None
    cfg = with_overrides(cfg, kernel=kernel, initrd=initrd, firmware=firmware,
                         output_script_dir=out_dir, output_dtb_dir=out_dir)
    vsock_id: int | None = None
    if vsock is not None:
        try:
            vsock_id = int(vsock) if vsock else cfg.vsock_id
        except ValueError:
            raise UsageError(f"--vsock {vsock!r}: expected a number (the guest CID)") from None
        if not 3 <= vsock_id < 1 << 32:
            raise UsageError(f"--vsock {vsock_id}: guest CIDs start at 3")
    opts = LaunchOptions(vmm=chosen[0] if chosen else "qemu", edk2=edk2, disk_boot=disk_boot,
                         disk=disk, serial=serial, pmu=not no_pmu, eventlog=eventlog, fvp=fvp,
                         network=network,
                         share=(share or cfg.shared_dir) if share is not None else None,
                         vsock=vsock_id, restricted_mem=restricted_mem, extcon=extcon,
                         cpus=cpus, memory=memory)
    measure_mode = bool(gen_measurements or corim_output or endorsements_output)
    if not measure_mode and output_dtb:
        raise UsageError("--output-dtb is for measurement mode; in run mode the DTB goes to "
                         "output_dtb_dir (or --output-dir)")
    plan = plan_launch(cfg, opts, rmm_version=rmm_version, jobs=jobs)
    for note in plan.notes:
        click.echo(f"NOTE {note}", err=True)
    for w in plan.build.warnings:
        click.echo(f"WARN {w}", err=True)
    if verbose:
        click.echo(f"kernel parameters: {plan.kernel_params}", err=True)
        click.echo(f"measured as: {plan.measure_command()}", err=True)
    m = plan.measurements
    assert m is not None
    # Every output is built first and written only then: a failure (bad template, ...)
    # leaves none of them half-made.
    outputs: list[tuple[str, str, bytes | str, int]] = []  # kind, path, content, mode
    if measure_mode:
        if output_dtb:
            outputs.append(("dtb", output_dtb, plan.build.dtb or b"", 0o644))
        if endorsements_output:
            outputs.append(("endorsements", endorsements_output,
                            comid_json(m, endorsements_template), 0o644))
        if corim_output:
            from rmtool.verify.corim import build_realm_corim

            data = build_realm_corim(m.rim, list(m.rems), m.hash_algo.name, m.rpv,
                                     template=_read_json(corim_template),
                                     comid_template=_read_json(comid_template))
            outputs.append(("corim", corim_output, data, 0o644))
    else:
        outputs.append(("dtb", plan.dtb_path, plan.build.dtb or b"", 0o644))
        # the run script: mode 0755 (less the umask), written after the DTB it names
        outputs.append(("script", plan.script_path, script_text(plan, _switches(opts)),
                        0o755))
    written: dict[str, str] = {}
    for kind, path, content, mode in outputs:
        _write(path, content, mode)
        written[kind] = path
    if fmt == "json":
        click.echo(json.dumps({
            "vmm": plan.vmm, "rim": m.rim.hex(), "rems": [r.hex() for r in m.rems],
            "hash_algo": m.hash_algo.name, "personalization_value": m.rpv.hex(),
            "rmm_version": m.profile.name, "vmm_command": plan.vmm_command(),
            "vmm_args": plan.args, "measure_argv": plan.measure_argv(),
            "kernel_params": plan.kernel_params, "dtb_sha256": plan.dtb_sha256,
            "written": written, "notes": plan.notes}, indent=2))
        return
    for kind, path in written.items():
        click.echo(f"wrote {kind}: {path}")
    for line in _measurement_lines(plan):
        click.echo(line)
    if not measure_mode:
        click.echo(f"run it on the host: {shlex.quote(plan.script_path)}")
