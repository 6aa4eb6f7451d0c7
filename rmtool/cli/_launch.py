"""``rmtool launch``: write a Realm's run script and DTB, or its reference values.

The Python counterpart of the reference tool's ``scripts/gen-run-vmm.sh`` (docs/launch.md):
the same switches and configuration variables (TOML instead of a sourced shell
file), the same VMM command lines, with its known breakages fixed or refused. The
measurement uses ``rmtool measure``'s library path, so the run script's arguments are
exactly the measured ones (``run-<vmm>.sh --print-measure-args`` reproduces it).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click

from rmtool._files import LIMITS, load_json_bounded, write_atomic
from rmtool.cli._options_launch import LaunchSettings, launch_options
from rmtool.cli._output import Messages, emit
from rmtool.errors import InputFileError, UsageError
from rmtool.launch import (
    LaunchOptions,
    LaunchPlan,
    load_config,
    plan_launch,
    script_text,
    with_overrides,
)
from rmtool.measure.endorsements import comid_json

_REFUSED = {
    "no_gen_dtb": "--no-gen-dtb is not supported: without the generated DTB the VMM builds "
                  "its own, which rmtool cannot predict, so the Realm would not match its "
                  "reference values",
    "no_rme": "--no-rme is not supported: rmtool launch starts Realms (run the VMM without "
              "the Realm options yourself for a normal VM)",
}


def _write(path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Write one output atomically (never through a symlink; rmtool._files), creating its
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


def launch_messages(plan: LaunchPlan) -> Messages:
    """The VMM front-end's warnings for the structured document (already on stderr)."""
    msgs = Messages()
    for w in plan.build.warnings:
        msgs.warn(w, echo=False)
    return msgs


@click.command("launch", context_settings={"help_option_names": ["-h", "--help"]})
@launch_options
@click.pass_context
def launch(ctx: click.Context, settings: LaunchSettings) -> None:
    """Write run-<vmm>.sh and the DTB for a Realm, or its reference values.

    The run script starts the VMM with exactly the arguments rmtool measured.
    With --corim-output / --endorsements-output / --gen-measurements, write or print
    the reference values of the same Realm instead.
    """
    s = settings
    for name, refused in (("no_gen_dtb", s.no_gen_dtb), ("no_rme", s.no_rme)):
        if refused:
            raise UsageError(_REFUSED[name])
    chosen = [v for v, on in (("kvmtool", s.vmm_kvmtool), ("cloud-hv", s.vmm_cloudhv)) if on]
    if s.vmm is not None:
        chosen.append(s.vmm)
    if len(set(chosen)) > 1:
        raise UsageError(f"choose one VMM (got {', '.join(chosen)})")
    network = s.network
    if s.tap:
        if network not in (None, "tap"):
            raise UsageError("--tap conflicts with --network " + str(network))
        network = "tap"
    cfg = load_config(s.config_file)
    out_dir = str(Path(s.output_dir).resolve()) if s.output_dir else None
    cfg = with_overrides(cfg, kernel=s.kernel, initrd=s.initrd, firmware=s.firmware,
                         output_script_dir=out_dir, output_dtb_dir=out_dir)
    vsock_id: int | None = None
    if s.vsock is not None:
        try:
            vsock_id = int(s.vsock) if s.vsock else cfg.vsock_id
        except ValueError:
            raise UsageError(f"--vsock {s.vsock!r}: expected a number (the guest CID)") from None
        if not 3 <= vsock_id < 1 << 32:
            raise UsageError(f"--vsock {vsock_id}: guest CIDs start at 3")
    opts = LaunchOptions(vmm=chosen[0] if chosen else "qemu", edk2=s.edk2,
                         disk_boot=s.disk_boot, disk=s.disk, serial=s.serial, pmu=not s.no_pmu,
                         eventlog=s.eventlog, fvp=s.fvp, network=network,
                         share=(s.share or cfg.shared_dir) if s.share is not None else None,
                         vsock=vsock_id, restricted_mem=s.restricted_mem, extcon=s.extcon,
                         cpus=s.cpus, memory=s.memory)
    measure_mode = bool(s.gen_measurements or s.corim_output or s.endorsements_output)
    if not measure_mode and s.output_dtb:
        raise UsageError("--output-dtb is for measurement mode; in run mode the DTB goes to "
                         "output_dtb_dir (or --output-dir)")
    plan = plan_launch(cfg, opts, rmm_version=s.rmm_version, jobs=s.jobs)
    for note in plan.notes:
        click.echo(f"NOTE {note}", err=True)
    for w in plan.warnings():  # not those about the arguments rmtool generated itself
        click.echo(f"WARN {w}", err=True)
    if s.verbose:
        for w in plan.generated_word_notes():
            click.echo(f"NOTE measured as the reference does: {w} (an argument rmtool "
                       f"generated)", err=True)
        click.echo(f"kernel parameters: {plan.kernel_params}", err=True)
        click.echo(f"measured as: {plan.measure_command()}", err=True)
    m = plan.measurements
    assert m is not None
    # Every output is built first and written only then: a failure (bad template, ...)
    # leaves none of them half-made.
    outputs: list[tuple[str, str, bytes | str, int]] = []  # kind, path, content, mode
    if measure_mode:
        if s.output_dtb:
            outputs.append(("dtb", s.output_dtb, plan.build.dtb or b"", 0o644))
        if s.endorsements_output:
            outputs.append(("endorsements", s.endorsements_output,
                            comid_json(m, s.endorsements_template), 0o644))
        if s.corim_output:
            from rmtool.verify.corim.realm import build_realm_corim

            data = build_realm_corim(m.rim, list(m.rems), m.hash_algo.name, m.rpv,
                                     template=_read_json(s.corim_template),
                                     comid_template=_read_json(s.comid_template))
            outputs.append(("corim", s.corim_output, data, 0o644))
    else:
        outputs.append(("dtb", plan.dtb_path, plan.build.dtb or b"", 0o644))
        # the run script: mode 0755 (less the umask), written after the DTB it names
        outputs.append(("script", plan.script_path, script_text(plan, _switches(opts)),
                        0o755))
    written: dict[str, str] = {}
    for kind, path, content, mode in outputs:
        _write(path, content, mode)
        written[kind] = path
    if s.fmt in ("json", "yaml"):  # the document of rmtool.cli._output (docs/json.md)
        emit("launch", {
            "vmm": plan.vmm, "rim": m.rim.hex(), "rems": [r.hex() for r in m.rems],
            "hash_algo": m.hash_algo.name, "personalization_value": m.rpv.hex(),
            "rmm_version": m.profile.name, "vmm_command": plan.vmm_command(),
            "vmm_args": plan.args, "measure_argv": plan.measure_argv(),
            "kernel_params": plan.kernel_params, "dtb_sha256": plan.dtb_sha256,
            "written": written, "notes": plan.notes}, s.fmt, launch_messages(plan))
        return
    for kind, path in written.items():
        click.echo(f"wrote {kind}: {path}")
    for line in _measurement_lines(plan):
        click.echo(line)
    if not measure_mode:
        click.echo(f"run it on the host: {shlex.quote(plan.script_path)}")
