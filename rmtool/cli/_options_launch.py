"""The options of ``rmtool launch``, declared once (docs/launch.md, "Options").

The switches of the reference tool's ``scripts/gen-run-vmm.sh`` and
rmtool's measurement outputs, in the order ``--help`` shows them (hidden ones are the
script's aliases and its refused switches). The command receives them as one
:class:`LaunchSettings`; ``rmtool.cli._launch`` checks the combinations.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from rmtool.cli._option_groups import format_option, option_group
from rmtool.launch._argv import NETWORKS, VMMS
from rmtool.measure.rmm.profiles import PROFILES


@dataclass(frozen=True)
class LaunchSettings:
    """One ``launch`` command line, as given (not yet checked or merged with the
    configuration file)."""

    config_file: str | None = None
    vmm: str | None = None
    vmm_kvmtool: bool = False
    vmm_cloudhv: bool = False
    kernel: str | None = None
    initrd: str | None = None
    firmware: str | None = None
    output_dir: str | None = None
    edk2: bool = False
    disk_boot: bool = False
    disk: bool = False
    serial: bool = False
    no_pmu: bool = False
    eventlog: bool = False
    fvp: bool = False
    network: str | None = None
    tap: bool = False
    share: str | None = None
    vsock: str | None = None
    restricted_mem: bool = False
    extcon: bool = False
    cpus: int = 2
    memory: str = "1G"
    rmm_version: str | None = None
    jobs: int | None = None
    gen_measurements: bool = False
    corim_output: str | None = None
    corim_template: str | None = None
    comid_template: str | None = None
    endorsements_output: str | None = None
    endorsements_template: str | None = None
    output_dtb: str | None = None
    no_gen_dtb: bool = False
    no_rme: bool = False
    fmt: str = "table"
    verbose: bool = False


launch_options = option_group(LaunchSettings, "settings", [
    click.option("--config", "config_file", type=click.Path(dir_okay=False),
                 help="Launch configuration (TOML: kernel, initrd, edk2_dir, run_* paths...)."),
    click.option("--vmm", type=click.Choice(VMMS), default=None,
                 help="VMM to run the Realm with.  [default: qemu]"),
    click.option("--kvmtool", "vmm_kvmtool", is_flag=True, hidden=True),
    click.option("--cloudhv", "vmm_cloudhv", is_flag=True, hidden=True),
    click.option("--kernel", type=click.Path(dir_okay=False),
                 help="Kernel Image (overrides config)."),
    click.option("--initrd", type=click.Path(dir_okay=False), help="Initrd (overrides config)."),
    click.option("--firmware", type=click.Path(dir_okay=False),
                 help="EDK2 firmware file (overrides config edk2_dir / firmware)."),
    click.option("--output-dir", type=click.Path(file_okay=False),
                 help="Where to write the run script and the DTB (overrides config)."),
    click.option("--edk2", is_flag=True, help="Boot through the EDK2 firmware."),
    click.option("--disk-boot", is_flag=True,
                 help="Boot from the disk (no kernel on the command line, no initrd; "
                      "needs --edk2)."),
    click.option("--disk", is_flag=True, help="Root file system on the disk instead of an initrd."),
    click.option("--serial", is_flag=True, help="Serial console instead of virtconsole."),
    click.option("--no-pmu", is_flag=True, help="Give the Realm no PMU."),
    click.option("--eventlog", is_flag=True, help="Ask the VMM for a Realm measurement log."),
    click.option("--fvp", is_flag=True, help="The host is an Arm FVP (default: QEMU max CPU)."),
    click.option("--network", type=click.Choice(NETWORKS), default=None,
                 help="Guest network.  [default: user; tap for cloud-hv]"),
    click.option("--tap", is_flag=True, hidden=True),
    click.option("--share", is_flag=False, flag_value="", default=None, metavar="[DIR]",
                 help="Share a host directory with the Realm over 9p (default: shared_dir)."),
    click.option("--vsock", is_flag=False, flag_value="", default=None, metavar="[CID]",
                 help="Add a vsock device (default CID: vsock_id)."),
    click.option("--restricted-mem", is_flag=True,
                 help="kvmtool: guest memory from guest_memfd (emitted as --restricted_mem)."),
    click.option("--extcon", is_flag=True, help="Guest console on a separate host tty."),
    click.option("--cpus", type=click.IntRange(1, 512), default=2, show_default=True),
    click.option("--memory", default="1G", show_default=True, help="Guest RAM size."),
    click.option("--rmm-version", type=click.Choice(list(PROFILES)), default=None,
                 help="RMM version whose measurement rules apply."),
    click.option("--jobs", type=click.IntRange(1, 256), default=None, help="Hashing threads."),
    click.option("--gen-measurements", is_flag=True,
                 help="Print the reference values instead of writing the run script."),
    click.option("--corim-output", type=click.Path(dir_okay=False),
                 help="Write the reference values as an unsigned CoRIM (implies "
                      "--gen-measurements)."),
    click.option("--corim-template", type=click.Path(dir_okay=False),
                 help="CoRIM JSON template (cocli style) for --corim-output."),
    click.option("--comid-template", type=click.Path(dir_okay=False),
                 help="CoMID JSON template for --corim-output."),
    click.option("--endorsements-output", type=click.Path(dir_okay=False),
                 help="Write the reference values as CoMID JSON (implies --gen-measurements)."),
    click.option("--endorsements-template", type=click.Path(dir_okay=False),
                 help="CoMID JSON template for --endorsements-output."),
    click.option("--output-dtb", type=click.Path(dir_okay=False),
                 help="In measurement mode, also write the DTB here."),
    click.option("--no-gen-dtb", is_flag=True, hidden=True),
    click.option("--no-rme", is_flag=True, hidden=True),
    format_option(),
    click.option("-v", "--verbose", is_flag=True, help="Show the kernel parameters and the "
                 "equivalent rmtool measure command."),
])
