"""The global options of ``rmtool measure`` / ``realm-measurements``, declared once.

The reference tool's ``Args`` (cca-realm-measurements ``src/command_line.rs``) and
``RealmParams`` (``src/realm_params.rs``), accepted verbatim, plus rmtool's own
(``--rmm-version``, ``--format``, ``--trace``, ``--jobs``, ``--corim-output``,
``--emit-log``, ``--html``), in the order ``--help`` shows them. The command receives them as one
:class:`MeasureSettings`. The reference's clap grammar for the same options (what
``clap_check`` enforces before click parses) is ``GLOBAL_OPTIONS`` in
``rmtool.cli.measure``; host capabilities stay text here, parsed the reference's way by the
command (``_caps_from_globals``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from rmtool.cli._option_groups import format_option, option_group
from rmtool.measure.rmm.profiles import DEFAULT_PROFILE, PROFILES

# the host-capability options, as ``RealmParams`` fields (values parsed by the command)
HOST_OPTIONS = ("ipa_bits", "num_bps", "num_wps", "sve_vl", "pmu_num_ctrs", "pmu", "lpa2")


@dataclass(frozen=True)
class MeasureSettings:
    """The global options of one ``measure`` run, as given (before the VMM name)."""

    verbose: int = 0
    output_dtb: str | None = None
    dtb_template: str | None = None
    dtb: str | None = None
    no_measurements: bool = False
    print_b64: bool = False
    kernel: str | None = None
    initrd: str | None = None
    firmware: str | None = None
    configs: tuple[str, ...] = ()
    endorsements_template: str | None = None
    endorsements_output: str | None = None
    ipa_bits: str | None = None
    num_bps: str | None = None
    num_wps: str | None = None
    sve_vl: str | None = None
    pmu_num_ctrs: str | None = None
    pmu: str | None = None
    lpa2: str | None = None
    hash_algo: str | None = None  # checked by clap_check, then ignored (as the reference)
    rmm_version: str = DEFAULT_PROFILE
    fmt: str = "table"
    trace: bool = False
    jobs: int | None = None
    corim_output: str | None = None
    emit_log: str | None = None
    html: str | None = None

    def host_options(self) -> dict[str, Any]:
        """The host-capability options by field name (None when not given)."""
        return {name: getattr(self, name) for name in HOST_OPTIONS}


measure_options = option_group(MeasureSettings, "settings", [
    click.option("-v", "--verbose", count=True, help="More detail on stderr."),
    click.option("--output-dtb", type=click.Path(dir_okay=False), help="Write the DTB measured."),
    click.option("--dtb-template", type=click.Path(), help="Patch this DTB instead of generating."),
    click.option("--dtb", "dtb", type=click.Path(), help="Measure this DTB as is."),
    click.option("--no-measurements", is_flag=True, help="Stop after building the parameters."),
    click.option("--print-b64", is_flag=True, help="Print base64 instead of hex."),
    click.option("-k", "--kernel", type=click.Path(), help="Kernel image content."),
    click.option("-i", "--initrd", type=click.Path(), help="Initrd content."),
    click.option("-f", "--firmware", type=click.Path(), help="Firmware content."),
    click.option("-c", "--config", "configs", multiple=True, type=click.Path(),
                 help="Host-capability TOML overlay (repeatable, applied in order)."),
    click.option("--endorsements-template", type=click.Path(), help="CoMID JSON template."),
    click.option("--endorsements-output", type=click.Path(), help="Write CoMID JSON here."),
    click.option("--ipa-bits", type=str, help="Host max IPA bits."),
    click.option("--num-bps", type=str, help="Host breakpoints (2..64)."),
    click.option("--num-wps", type=str, help="Host watchpoints (2..64)."),
    click.option("--sve-vl", type=str, help="Host max SVE vector length in bits (0 disables)."),
    click.option("--pmu-num-ctrs", type=str, help="Host PMU counters (0..31)."),
    click.option("--pmu", type=str, help="Host PMU (true/false)."),
    click.option("--lpa2", type=str, help="Host LPA2 (true/false)."),
    click.option("--hash-algo", type=str,
                 help="Accepted for compatibility and ignored, as by the reference tool."),
    click.option("--rmm-version", type=click.Choice(list(PROFILES)), default=DEFAULT_PROFILE,
                 show_default=True, help="RMM version whose measurement rules apply."),
    format_option(),
    click.option("--trace", is_flag=True, help="Show the RMM operations and the RIM after each."),
    click.option("--jobs", type=click.IntRange(1, 256), default=None,
                 help="Hashing threads (default: CPU count)."),
    click.option("--corim-output", type=click.Path(dir_okay=False),
                 help="Write an unsigned CoRIM (CCA realm profile) with the measurements."),
    click.option("--emit-log", type=click.Path(dir_okay=False),
                 help="Write the TCG event log the VMM would write for this Realm."),
    click.option("--html", "html", type=click.Path(dir_okay=False), metavar="FILE",
                 help="Also write a self-contained HTML report (memory map, operations, "
                      "inputs) to FILE."),
])
