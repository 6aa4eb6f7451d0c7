"""``rmtool demo``: the main job with no file to bring.

Writes the example inputs of :mod:`rmtool.examples` (synthetic arm64 Image, initrd, host
capability files) into a directory, measures a kvmtool, a QEMU and a cloud-hypervisor
Realm from them through :func:`rmtool.measure.measure_vmm` — the library path of
``rmtool measure`` — and prints the RIMs with the equivalent ``rmtool measure`` commands.
A VMM whose front-end is not installed is skipped with a note.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from rmtool.cli._option_groups import OutputFormat, output_format
from rmtool.cli._output import Messages, emit
from rmtool.examples import HOST_FILES, write_inputs
from rmtool.measure import measure_vmm
from rmtool.measure.host import HostCaps, load_config
from rmtool.measure.rmm.profiles import DEFAULT_PROFILE, get_profile
from rmtool.measure.vmm.common import MeasureInputs

DEMO_REALMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kvmtool", ("--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i", "initrd.cpio",
                 "-p", "console=hvc0")),
    ("qemu", ("-M", "confidential-guest-support=rme0", "-object",
              "rme-guest,id=rme0,measurement-algorithm=sha256", "-cpu", "host", "-M", "virt",
              "-enable-kvm", "-smp", "2", "-m", "1G", "-nographic", "-kernel", "Image",
              "-initrd", "initrd.cpio", "-append", "console=hvc0")),
    ("cloud-hv", ("--platform", "arm_rme=on,measurement_algo=sha256", "--cpus", "boot=2",
                  "--memory", "size=1G", "--kernel", "Image", "--initramfs", "initrd.cpio",
                  "--cmdline", "console=hvc0")),
)
HOSTS = ("qemu-max-8.2", "kvm")


def run_demo(directory: Path, written: list[Path] | None = None) -> list[dict[str, Any]]:
    """Measure the demo Realms; one row per VMM (``rim`` None and a ``note`` if skipped).
    The paths of the files written are appended to ``written``."""
    files = write_inputs(directory)
    if written is not None:
        written += files.values()
    configs = [str(files[HOST_FILES[h]]) for h in HOSTS]
    caps = HostCaps()
    for c in configs:
        caps = load_config(c, caps)
    inputs = MeasureInputs(caps=caps, profile=get_profile(DEFAULT_PROFILE),
                           kernel=str(files["Image"]), initrd=str(files["initrd.cpio"]))
    rows: list[dict[str, Any]] = []
    for vmm, argv in DEMO_REALMS:
        words = ["rmtool", "measure"]
        for c in configs:
            words += ["-c", c]
        words += ["-k", inputs.kernel or "", "-i", inputs.initrd or "", vmm, *argv]
        row: dict[str, Any] = {"vmm": vmm, "command": shlex.join(words), "rim": None,
                               "hash_algo": None, "note": None}
        try:
            result = measure_vmm(vmm, list(argv), inputs)
        except ModuleNotFoundError as exc:
            row["note"] = f"skipped: the {vmm} front-end is not installed ({exc.name})"
        else:
            m = result.measurements
            row.update(rim=m.rim.hex(), hash_algo=m.hash_algo.name,
                       dtb_bytes=len(result.build.dtb or b""),
                       warnings=list(result.build.warnings))
        rows.append(row)
    return rows


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="Write the example inputs here and keep them (default: a temporary "
                   "directory, removed at the end).")
@click.option("--keep", is_flag=True,
              help="Keep the temporary directory (its path is printed).")
@output_format()
def demo(directory: str | None, keep: bool, output_format: OutputFormat) -> None:
    """Measure three example Realms (kvmtool, QEMU, cloud-hypervisor) from generated inputs.

    Every file written is listed; the temporary directory is removed at the end unless
    --keep (or --dir DIR) is given."""
    kept = bool(directory) or keep
    d = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="rmtool-demo-"))
    try:
        written: list[Path] = []
        rows = run_demo(d, written)
        if not kept:  # the files will be gone: name them as in any examples directory
            for r in rows:
                r["command"] = r["command"].replace(f"{d}/", "")
        _report(d, rows, sorted(p.name for p in written), kept, output_format)
    finally:
        if not kept:
            shutil.rmtree(d, ignore_errors=True)


def _report(d: Path, rows: list[dict[str, Any]], files: list[str], kept: bool,
            output_format: OutputFormat) -> None:
    if output_format.structured:  # the document of rmtool.cli._output (docs/json.md)
        msgs = Messages()
        for r in rows:
            for w in r.get("warnings") or ():
                msgs.warn(f"{r['vmm']}: {w}", echo=False)
            if r.get("note"):
                msgs.warn(f"{r['vmm']}: {r['note']}", echo=False)
        emit("demo", {"directory": str(d), "kept": kept, "files": files, "realms": rows},
             output_format.fmt, msgs)
        return
    click.echo(f"Wrote {len(files)} example input files (made by rmtool.examples) in {d}:")
    for name in files:
        click.echo(f"  {name:<20} {(d / name).stat().st_size:>8} bytes  {_ABOUT.get(name, '')}"
                   .rstrip())
    click.echo("")
    table = [(r["vmm"], r["hash_algo"] or "-", r["rim"] or r["note"]) for r in rows]
    click.echo(tabulate(table, headers=["VMM", "hash", "RIM (Realm Initial Measurement)"]))
    click.echo("")
    click.echo("Each RIM is what `rmtool measure` prints for the same Realm"
               + (":" if kept else " (in a directory made by python -m rmtool.examples "
                  "inputs DIR):"))
    for r in rows:
        if r["rim"] is not None:
            click.echo(f"  {r['command']}")
    click.echo("")
    if kept:
        click.echo(f"Kept {d} (the files above).")
    else:
        click.echo(f"Removed {d}: rerun with --keep (or --dir DIR) to keep the inputs; "
                   "python -m rmtool.examples inputs DIR writes the same files")
    click.echo("Next: rmtool launch --help (run script + reference values), "
               "rmtool corim --help, rmtool compare --help")


# what each example input is (rmtool.examples)
_ABOUT = {"Image": "synthetic arm64 kernel Image", "initrd.cpio": "initrd",
          "QEMU_EFI.fd": "synthetic firmware", "launch.toml": "rmtool launch configuration",
          **{f: "host capabilities (-c)" for f in HOST_FILES.values()}}
