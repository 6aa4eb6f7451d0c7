"""``rmtool diagnose TOKEN [--log LOG] [--images PATH]... -- MEASURE_ARGS...``: why an
attestation failed (issue 15; docs/diagnose.md).

MEASURE_ARGS are exactly ``rmtool measure``'s arguments for the Realm the token's owner
expected (parsed by :func:`rmtool.cli.measure.parse_measure_args`, the command's own
options and checks). The token is verified with ``token verify``'s rules and options
(:mod:`rmtool.cli.options`), the expected Realm is measured and every realm claim
compared; :func:`rmtool.diagnose.engine.diagnose` names the causes. Output: the table of
:mod:`rmtool.diagnose.render` or ``--format json`` (:meth:`Diagnosis.to_json`). Exit 0
match (token verified, every claim equal), 1 mismatch explained by causes (or a token
that fails verification), 3 mismatch not explained, 2 unusable input.
"""

from __future__ import annotations

import click

from rmtool.cli._options_diagnose import diagnose_options
from rmtool.cli._output import emit
from rmtool.cli.measure import parse_measure_args
from rmtool.cli.option_groups import OutputFormat, output_format
from rmtool.cli.options import (
    TokenVerificationSettings,
    token_verification_options,
    verification_lines,
)
from rmtool.diagnose import knobs
from rmtool.diagnose.claims import target_of
from rmtool.diagnose.engine import DiagnoseSettings, writable
from rmtool.diagnose.engine import diagnose as run_diagnose
from rmtool.diagnose.model import Diagnosis
from rmtool.diagnose.render import changed_words, table
from rmtool.diagnose.request import MeasureRequest
from rmtool.errors import RmtoolError, TokenError, UsageError
from rmtool.verify.token import checks as K
from rmtool.verify.token.codec import read_token


def _how(request: MeasureRequest, d: Diagnosis) -> dict[int, list[str]]:
    """Per cause, the MEASURE_ARGS words that set its actual value (``-m 1G``)."""
    out: dict[int, list[str]] = {}
    for i, cause in enumerate(d.causes):
        if writable(cause) is not None:
            continue
        try:
            argv = knobs.with_parameter(request, cause.parameter, cause.actual)
        except RmtoolError:
            continue
        words = changed_words(request.argv, argv)
        if words:
            out[i] = words
    return out


@click.command("diagnose")
@click.argument("token", type=click.Path(dir_okay=False))
@diagnose_options
@token_verification_options
@output_format("Output format (json is a stable contract, docs/diagnose.md).")
@click.argument("measure_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def diagnose(ctx: click.Context, token: str, settings: DiagnoseSettings,
             verification: TokenVerificationSettings, output_format: OutputFormat,
             measure_args: tuple[str, ...]) -> None:
    """Say why TOKEN's Realm is not the one MEASURE_ARGS describe.

    MEASURE_ARGS (after --) are the arguments of `rmtool measure` for the expected
    Realm: global options, VMM name, VMM arguments. The token is verified as by
    `rmtool token verify` (--platform-key, --skip-platform-signature, --challenge,
    --strict); the expected Realm is measured and every realm claim compared. On a
    difference the causes are named: from the token's claims (hash algorithm,
    personalization value), from --log (memory size, vCPUs, images, bootargs and DTB
    nodes, Realm parameters, RMM version, REMs) or, without a log, from a search of
    nearby configurations. The corrected command line is printed when measuring it
    gives exactly the token's RIM and REMs.

    Exit 0 MATCH (token verified, claims equal), 1 MISMATCH with causes (also a token
    that fails verification: never a match), 3 mismatch not explained, 2 unusable input.
    """
    if not measure_args:
        raise UsageError("no MEASURE_ARGS: give the expected Realm's `rmtool measure` "
                         "arguments after -- (e.g. -- kvmtool --realm -m 512M -k Image)")
    policy = verification.policy()
    tok = read_token(token)
    if tok.realm is None:
        raise TokenError(f"{token} has no realm token to diagnose", field="realm")
    checked = K.verify(tok, policy)
    request = parse_measure_args(list(measure_args))
    result = run_diagnose(target_of(tok.realm.claims), checked, request, parse_measure_args,
                          settings)
    if output_format.structured:
        emit("diagnose", result.to_json(), output_format.fmt)
    else:
        suffix = ""
        if not checked.ok:
            suffix = f" (token verification failed: {checked.failure_text()})"
        elif checked.unverified:
            suffix = f" (UNVERIFIED: {checked.unverified_text()})"
        click.echo(table(result, verification_lines(checked), _how(request, result),
                         suffix))
    ctx.exit(result.exit_code)
