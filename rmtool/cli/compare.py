"""``rmtool compare TOKEN``: which realm claim differs from which reference (issue 7).

Reference sources: ``--rim/--rem0..--rem3/--rpv HEX``, ``--endorsements FILE`` (CoMID
JSON as ``measure`` / realm-measurements write it), ``--corim FILE`` (through
``rmtool.verify.corim``). Output: a table per claim (expected, actual, status) or
``--format json``. Exit 0 when every given reference matches, 1 otherwise, 2 when the
token or a reference is unusable or no reference is given.
"""

from __future__ import annotations

import json

import click
from tabulate import tabulate

from rmtool.errors import TokenError, UsageError
from rmtool.verify import compare as cmp
from rmtool.verify.token import read_token


def _short(value: bytes | None) -> str:
    if value is None:
        return "-"
    text = value.hex()
    return text if len(text) <= 64 else text[:64] + "\n" + text[64:]


@click.command("compare")
@click.argument("token", type=click.Path(dir_okay=False))
@click.option("--rim", metavar="HEX", help="Expected RIM.")
@click.option("--rem0", metavar="HEX", help="Expected REM0.")
@click.option("--rem1", metavar="HEX", help="Expected REM1.")
@click.option("--rem2", metavar="HEX", help="Expected REM2.")
@click.option("--rem3", metavar="HEX", help="Expected REM3.")
@click.option("--rpv", metavar="HEX", help="Expected Realm Personalization Value.")
@click.option("--endorsements", type=click.Path(dir_okay=False),
              help="CoMID JSON with realm reference values (measure --endorsements-output).")
@click.option("--corim", "corim_file", type=click.Path(dir_okay=False),
              help="CoRIM with realm reference values.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_context
def compare(ctx: click.Context, token: str, rim: str | None, rem0: str | None,
            rem1: str | None, rem2: str | None, rem3: str | None, rpv: str | None,
            endorsements: str | None, corim_file: str | None, fmt: str) -> None:
    """Compare the realm measurements in TOKEN with reference values."""
    tok = read_token(token)
    if tok.realm is None:
        raise TokenError(f"{token} has no realm token to compare", field="realm")
    realm = tok.realm.claims
    refs: list[cmp.ReferenceValues] = []
    given = cmp.from_hex(rim, (rem0, rem1, rem2, rem3), rpv)
    if given is not None:
        refs.append(given)
    if endorsements:
        refs.append(cmp.pick(cmp.load_endorsements(endorsements), realm))
    if corim_file:
        refs.append(cmp.pick(cmp.load_corim(corim_file), realm))
    if not refs:
        raise UsageError("no reference values given (use --rim/--rem0..3/--rpv, "
                         "--endorsements or --corim)")
    report = cmp.compare(realm, refs)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        rows = [(cmp.LABELS[r.claim], r.source, _short(r.expected), _short(r.actual), r.status)
                for r in report.results]
        click.echo(tabulate(rows, headers=["claim", "source", "expected", "actual", "status"]))
        for r in report.results:
            if r.status == cmp.MISMATCH:
                click.echo(r.message())
            elif r.note:
                click.echo(f"{cmp.LABELS[r.claim]} note: {r.note}")
        click.echo(f"result: {'MATCH' if report.ok else 'MISMATCH'}")
    if not report.ok:
        ctx.exit(1)
