"""``rmtool diagnose TOKEN [--log LOG] [--images PATH]... -- MEASURE_ARGS...``: why an
attestation failed (issue 15; docs/diagnose.md).

MEASURE_ARGS are exactly ``rmtool measure``'s arguments for the Realm the token's owner
expected (parsed by :func:`rmtool.cli.measure.parse_measure_args`, the command's own
options and checks). The token is verified with ``token verify``'s rules and options
(:mod:`rmtool.cli._options`), the expected Realm is measured and every realm claim
compared; :func:`rmtool.diagnose.engine.diagnose` names the causes. With ``--corim`` the
platform claims are compared with the CoRIMs' platform reference values
(:func:`rmtool.diagnose.engine.platform_check`, ``appraise``'s comparison; issue 16).
Output: the table of :mod:`rmtool.diagnose._render` (and the platform lines) or
``--format json`` (:meth:`Diagnosis.to_json`); ``--html FILE`` also writes the report of
:func:`rmtool.report._sources.diagnose_report` (issue 17). Exit 0 match (token verified,
every claim equal, platform matched), 1 mismatch explained by causes (or a token that
fails verification, or a platform problem), 3 mismatch not explained, 2 unusable input.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from rmtool.cli._option_groups import OutputFormat, output_format
from rmtool.cli._options import (
    TokenVerificationSettings,
    token_verification_options,
    verification_lines,
)
from rmtool.cli._options_diagnose import diagnose_options
from rmtool.cli._output import emit
from rmtool.cli.measure import parse_measure_args
from rmtool.diagnose import knobs
from rmtool.diagnose._render import changed_words, table
from rmtool.diagnose.claims import target_of
from rmtool.diagnose.engine import (
    DiagnoseSettings,
    PlatformCheck,
    platform_check,
    split_images,
    with_platform,
    writable,
)
from rmtool.diagnose.engine import diagnose as run_diagnose
from rmtool.diagnose.model import Diagnosis, Target
from rmtool.diagnose.request import MeasureRequest
from rmtool.errors import RmtoolError, TokenError, UsageError
from rmtool.report import HTML_HELP
from rmtool.verify.appraise.endorsements import load_endorsements
from rmtool.verify.token import checks as K
from rmtool.verify.token.codec import read_token

if TYPE_CHECKING:
    from rmtool.measure import MeasureResult
    from rmtool.replay import ReplayResult


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


def platform_lines(check: PlatformCheck | None) -> list[str]:
    """The table's platform part: its result, then one line per problem."""
    if check is None:
        return []
    impl = check.implementation_id.hex() if check.implementation_id is not None else "-"
    head = (f"platform: {'MATCH' if check.ok else 'MISMATCH'} ({check.references} platform "
            f"reference value set(s) for implementation id {impl})")
    return [head, *(f"- {m}" for m in check.problems)]


def _replay(settings: DiagnoseSettings, target: Target, request: MeasureRequest
            ) -> ReplayResult:
    """The log's replay as the engine replays it (under an RMM version that accepts the
    token's algorithm; image sets from --images)."""
    from rmtool._files import read_bounded
    from rmtool.diagnose.engine import MAX_LOG_SIZE
    from rmtool.measure.rmm.algorithms import ALGORITHMS
    from rmtool.measure.rmm.profiles import PROFILES
    from rmtool.replay import ImageStore, replay_log

    assert settings.log is not None
    profile = request.inputs.profile
    algo = ALGORITHMS.get(target.hash_algo or "")
    name = profile.name if algo is None or algo in profile.hash_algos else next(
        (p.name for p in PROFILES.values() if algo in p.hash_algos), profile.name)
    store = ImageStore(settings.store)
    try:
        return replay_log(read_bounded(settings.log, MAX_LOG_SIZE, "event log"),
                          split_images(settings.images)[0], index_map=settings.index_map,
                          store=store, rmm_version=name, hash_algo=target.hash_algo)
    finally:
        store.close()


def _actual(d: Diagnosis, settings: DiagnoseSettings, target: Target,
            request: MeasureRequest
            ) -> tuple[ReplayResult | MeasureResult | None, ReplayResult | None]:
    """The token's Realm for the report, and the log's replay (its events): the replay
    when its RIM was rebuilt, else the ``reproduced_by`` measurement (its RIM and REMs
    are the token's), else the replay as far as it goes (or nothing)."""
    replay = _replay(settings, target, request) if settings.log is not None else None
    if replay is not None and replay.rim is not None:
        return replay, replay
    if d.reproduced_by is not None:
        try:
            return parse_measure_args(list(d.reproduced_by)).measure(settings.jobs), replay
        except RmtoolError:
            pass
    return replay, replay


def _write_html(path: str, token: str, data: tuple[Diagnosis, Target, K.Verification],
                request: MeasureRequest, settings: DiagnoseSettings) -> None:
    """``--html FILE``: the diagnosis' report (expected and actual Realm re-measured /
    replayed here, only for the report)."""
    from rmtool.report import input_files, write_report
    from rmtool.report._sources import diagnose_report

    d, target, checked = data
    expected = request.measure(settings.jobs)
    named = [("token", token), ("event log", settings.log),
             *(("corim", c) for c in settings.corims),
             *(("images", i) for i in settings.images)]
    actual, replay = _actual(d, settings, target, request)
    write_report(path, diagnose_report(
        d, sys.argv, target=target, expected=expected, actual=actual, verification=checked,
        inputs=input_files(named), log=replay))


def _is_measure_word(option: str, args: list[str]) -> bool:
    """Whether an unknown option belongs to MEASURE_ARGS: one of ``measure``'s global
    options, or any option when a VMM name is among the arguments."""
    from rmtool.cli.measure import measure
    from rmtool.measure.vmm.registry import is_name

    before = args[:args.index("--")] if "--" in args else args
    opts = {o for p in measure.params for o in getattr(p, "opts", ())}
    return "--" not in args and (option in opts or any(is_name(a) for a in before))


class MeasureArgsCommand(click.Command):
    """A command whose trailing MEASURE_ARGS go after ``--``: a ``measure`` option given
    before it is named as such, not only as unknown."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            if not _is_measure_word(exc.option_name, args):
                raise
            exc.message = (f"{exc.message} MEASURE_ARGS (rmtool measure's global options, "
                           "VMM name and VMM arguments) go after --: rmtool "
                           f"{ctx.info_name} TOKEN [OPTIONS] -- MEASURE_ARGS...")
            raise


@click.command("diagnose", cls=MeasureArgsCommand)
@click.argument("token", type=click.Path(dir_okay=False))
@diagnose_options
@token_verification_options
@output_format("Output format (json is a stable contract, docs/diagnose.md).")
@click.option("--html", "html", type=click.Path(dir_okay=False), metavar="FILE",
              help=HTML_HELP)
@click.argument("measure_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def diagnose(ctx: click.Context, token: str, settings: DiagnoseSettings,
             verification: TokenVerificationSettings, output_format: OutputFormat,
             html: str | None, measure_args: tuple[str, ...]) -> None:
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

    With --corim (platform reference values, as `rmtool appraise` reads them) the
    token's platform components, config and lifecycle are compared too; a platform
    problem is listed apart from the realm causes and is never a MATCH.

    Exit 0 MATCH (token verified, claims equal), 1 MISMATCH with causes (also a token
    that fails verification or a platform problem: never a match), 3 mismatch not
    explained, 2 unusable input.
    """
    if not measure_args:
        raise UsageError("no MEASURE_ARGS: give the expected Realm's `rmtool measure` "
                         "arguments after -- (e.g. -- kvmtool --realm -m 512M -k Image)")
    policy = verification.policy()
    tok = read_token(token)
    if tok.realm is None:
        raise TokenError(f"{token} has no realm token to diagnose", field="realm")
    checked = K.verify(tok, policy)
    endorsements = load_endorsements(settings.corims) if settings.corims else None
    request = parse_measure_args(list(measure_args))
    target = target_of(tok.realm.claims)
    if settings.log is None and sys.stderr.isatty():
        click.echo(f"without --log a differing token starts a search of nearby "
                   f"configurations (at most {settings.max_candidates} candidates, "
                   f"{settings.deadline_s or 0:g} s: --max-candidates, --deadline)", err=True)
    result = run_diagnose(target, checked, request, parse_measure_args, settings)
    check = None
    if endorsements is not None:
        check = platform_check(tok.platform.claims if tok.platform is not None else None,
                               endorsements, strict=verification.strict)
        if check is None:
            result.warnings.append("--corim: no platform reference values in "
                                   + ", ".join(settings.corims)
                                   + "; the platform part was not compared")
    with_platform(result, check)
    if html is not None:
        _write_html(html, token, (result, target, checked), request, settings)
    if output_format.structured:
        emit("diagnose", result.to_json(), output_format.fmt)
    else:
        suffix = ""
        if not checked.ok:
            suffix = f" (token verification failed: {checked.failure_text()})"
        elif checked.unverified:
            suffix = f" (UNVERIFIED: {checked.unverified_text()})"
        elif check is not None and not check.ok:
            suffix = f" (platform: {len(check.problems)} problem(s))"
        click.echo(table(result, verification_lines(checked), _how(request, result),
                         suffix))
        for line in platform_lines(check):
            click.echo(line)
    ctx.exit(result.exit_code)
