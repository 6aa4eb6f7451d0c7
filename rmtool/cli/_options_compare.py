"""``rmtool compare``'s reference-value options, declared once.

The references a token's realm claims are compared with (docs/cli-compare.md): hex
values, CoMID JSON, a CoRIM, a ``measure --trace`` JSON and an event log. The command
receives them as one :class:`CompareReferences`; the log's replay options are the
shared :class:`rmtool.cli._option_groups.ReplaySettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from rmtool.cli._option_groups import option_group


@dataclass(frozen=True)
class CompareReferences:
    """Where the expected values come from (every one optional; at least one given)."""

    rim: str | None = None
    rem0: str | None = None
    rem1: str | None = None
    rem2: str | None = None
    rem3: str | None = None
    rpv: str | None = None
    endorsements: str | None = None
    corim_files: tuple[str, ...] = ()
    measure_trace: str | None = None
    log: str | None = None


compare_references = option_group(CompareReferences, "references", [
    click.option("--rim", metavar="HEX", help="Expected RIM."),
    click.option("--rem0", metavar="HEX", help="Expected REM0."),
    click.option("--rem1", metavar="HEX", help="Expected REM1."),
    click.option("--rem2", metavar="HEX", help="Expected REM2."),
    click.option("--rem3", metavar="HEX", help="Expected REM3."),
    click.option("--rpv", metavar="HEX", help="Expected Realm Personalization Value."),
    click.option("--endorsements", type=click.Path(dir_okay=False),
                 help="CoMID JSON with realm reference values (measure "
                      "--endorsements-output)."),
    click.option("--corim", "corim_files", multiple=True, type=click.Path(dir_okay=False),
                 help="CoRIM with realm and/or CCA platform reference values (repeatable); "
                      "platform values are compared as by `rmtool appraise`."),
    click.option("--measure-trace", type=click.Path(dir_okay=False),
                 help="JSON of `rmtool measure --format json --trace` for the expected "
                      "configuration: its RIM is a reference, and with --log its operations "
                      "are diffed against the log's to name the first that differs."),
    click.option("--log", "log", type=click.Path(dir_okay=False),
                 help="The Realm's event log: its replay is a reference and explains each "
                      "mismatch (register, event, operation)."),
])
