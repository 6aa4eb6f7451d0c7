"""``rmtool compare TOKEN``: which realm claim differs from which reference (docs/cli-compare.md).

Reference sources: ``--rim/--rem0..--rem3/--rpv HEX``, ``--endorsements FILE`` (CoMID
JSON as ``measure`` / realm-measurements write it), ``--corim FILE`` (repeatable; realm
values through ``rmtool.verify.corim.realm``; CCA platform reference values compared by
``appraise``'s code, :func:`rmtool.diagnose.engine.platform_check`, issue 16: a platform
problem makes the verdict MISMATCH, JSON key ``platform``), ``--measure-trace FILE``
(``measure --format json --trace`` of the expected configuration) and ``--log LOG
--images PATH...`` (the log's replay, with ``--index-map/--store/--dtb-templates/
--rmm-version`` passed to ``replay_log``). With
``--log`` the mismatches are explained by :mod:`rmtool.verify.compare._explain` (which register,
which event, which operation). Output: a table per claim (expected, actual, status) and
the explanations, or ``--format json`` / ``yaml`` (``rmtool/compare/1``, docs/json.md;
``explanations``: [{register, event, message}], ``errors`` / ``warnings``: the token's
failed and waived checks, the replay's reasons and what to pass); ``--html FILE`` also
writes the report of :mod:`rmtool.report` (claims with the differing bytes, expected and
actual Realm side by side, operations aligned, diagnose's causes, platform components).
In the table a
mismatching value shows its first differing byte in brackets (:mod:`hexdiff
<rmtool.verify.compare._hexdiff>`); the JSON keeps full values.
Exit 0 when every given reference matches, 1 otherwise, 2 when the token or a reference
is unusable or no reference is given. docs/cli-compare.md describes it.
"""

from __future__ import annotations

from typing import Any

import click
from tabulate import tabulate

from rmtool._files import read_bounded
from rmtool.cli._diagnose import MeasureArgsCommand, platform_lines
from rmtool.cli._option_groups import (
    OutputFormat,
    ReplaySettings,
    output_format,
    replay_options,
)
from rmtool.cli._options import (
    TokenVerificationSettings,
    token_verification_options,
    verification_lines,
)
from rmtool.cli._options_compare import CompareReferences, compare_references
from rmtool.cli._output import Messages, emit
from rmtool.cli._replay import replay_messages
from rmtool.cli._token import verification_messages
from rmtool.diagnose.engine import PlatformCheck, platform_check
from rmtool.errors import RmtoolError, TokenError, UsageError
from rmtool.measure.rmm.algorithms import ALGORITHMS
from rmtool.replay import ImageStore, ReferenceImages, ReplayResult, replay_log
from rmtool.report import HTML_HELP
from rmtool.report._sources import cause_text, compare_verdict_text
from rmtool.verify.appraise.endorsements import Endorsements, load_endorsements
from rmtool.verify.compare import _explain as exp
from rmtool.verify.compare import compare as cmp
from rmtool.verify.compare._hexdiff import mark_first_difference
from rmtool.verify.token import checks as K
from rmtool.verify.token._claims import PlatformClaims, RealmClaims
from rmtool.verify.token.codec import read_token

MAX_LOG_SIZE = 64 << 20


def _short(value: bytes | None) -> str:
    if value is None:
        return "-"
    text = value.hex()
    return text if len(text) <= 64 else text[:64] + "\n" + text[64:]


def _cell(value: bytes | None, other: bytes | None, status: str) -> str:
    """A table cell: a mismatching value with its first differing byte bracketed
    (``8b9d07a2…[df]5b61…``), any other value in full."""
    if status == cmp.MISMATCH and value is not None and other is not None:
        return mark_first_difference(value, other)
    return _short(value)


def _read_log(path: str) -> bytes:
    return read_bounded(path, MAX_LOG_SIZE, "event log")


def _replay(realm: RealmClaims, log: str, settings: ReplaySettings
            ) -> tuple[ReplayResult, dict[bytes, str]]:
    """Replay LOG; also the known digests (reference images, log) for the explanations.
    The realm's hash algorithm is the token's (``settings.hash_algo`` is not used)."""
    data = _read_log(log)
    algo = (realm.hash_algo or "").replace("-", "")
    st = ImageStore(settings.store)
    try:
        result = replay_log(data, list(settings.images), index_map=settings.index_map,
                            store=st, dtb_templates=list(settings.dtb_templates),
                            rmm_version=settings.rmm_version,
                            hash_algo=algo if algo in ALGORITHMS else None)
        candidates = exp.known_digests(
            ReferenceImages(list(settings.images), st).index(result.hash_algo.name)
            if result.hash_algo is not None else {}, result)
        if st.warning:
            result.warnings.append(st.warning)
    finally:
        st.close()
    return result, candidates


def _write_html(path: str, token: str, ref: CompareReferences, rs: ReplaySettings,
                data: tuple[cmp.CompareReport, exp.MeasureTrace | None, ReplayResult | None],
                platform: tuple[PlatformCheck | None, dict[str, Any]]) -> None:
    """``--html FILE``: the comparison's report (rmtool.report), from the JSON's data."""
    import sys

    from rmtool.report import compare_report, input_files, write_report

    report, trace, result = data
    named = [("token", token), ("endorsements", ref.endorsements),
             *(("corim", c) for c in ref.corim_files),
             ("measure trace", ref.measure_trace), ("event log", ref.log),
             *(("image", i) for i in rs.images),
             *(("dtb template", d) for d in rs.dtb_templates)]
    write_report(path, compare_report(report, sys.argv, trace=trace, result=result,
                                      inputs=input_files(named), platform=platform[0],
                                      doc=platform[1]))


def _corim_references(paths: tuple[str, ...], realm: RealmClaims, msgs: Messages
                      ) -> tuple[list[cmp.ReferenceValues], Endorsements]:
    """Each --corim's realm reference values, and the endorsements of all of them (the
    platform part). A CoRIM must give realm or platform reference values: one with only
    platform values adds no realm reference; one with neither is refused as before. A
    CoRIM whose realm values compare reads but whose endorsements appraise refuses is
    used for its realm values, with a warning that its platform values were not read."""
    refs: list[cmp.ReferenceValues] = []
    endorsements = Endorsements()
    for path in paths:
        try:
            found = load_endorsements([path])
            problem = None
        except RmtoolError as exc:
            found, problem = None, exc.message
        try:
            refs.append(cmp.pick(cmp.load_corim(path), realm))
        except RmtoolError:
            if found is None or not found.platform:
                raise
        if found is not None:
            endorsements.extend(found)
        else:
            msgs.warn(f"--corim {path}: its platform reference values (if any) were not "
                      f"read, as appraise refuses it: {problem}", field="corim")
    return refs, endorsements


def _platform_json(doc: dict[str, Any], report: cmp.CompareReport,
                   check: PlatformCheck | None) -> dict[str, Any]:
    """compare's JSON with the ``platform`` key; a matching report whose platform fails
    is ``result: mismatch``."""
    doc["platform"] = None if check is None else check.to_json()
    if check is not None and not check.ok and doc["result"] == cmp.MATCH:
        doc["result"] = cmp.MISMATCH
    return doc


def _expected_reference(measure_args: tuple[str, ...]) -> cmp.ReferenceValues:
    """MEASURE_ARGS measured as ``rmtool measure`` would (exit 2 when it refuses them):
    their RIM and personalization value must match the token's."""
    from rmtool.cli.measure import parse_measure_args

    m = parse_measure_args(list(measure_args)).measure().measurements
    return exp.measured_reference(m.rim, m.rpv, m.hash_algo.name)


def _causes(realm: RealmClaims, checked: K.Verification, log: str, rs: ReplaySettings,
            measure_args: tuple[str, ...]) -> list[dict[str, Any]]:
    """``rmtool diagnose --log``'s causes (its code: the two commands never disagree)."""
    from rmtool.cli.measure import parse_measure_args
    from rmtool.diagnose.claims import target_of
    from rmtool.diagnose.engine import DiagnoseSettings, diagnose

    settings = DiagnoseSettings(log=log, images=rs.images, store=rs.store,
                                index_map=rs.index_map)
    found = diagnose(target_of(realm), checked, parse_measure_args(list(measure_args)),
                     parse_measure_args, settings)
    return [c.to_json() for c in found.causes]


@click.command("compare", cls=MeasureArgsCommand)
@click.argument("token", type=click.Path(dir_okay=False))
@compare_references
@replay_options(for_compare=True)
@token_verification_options
@output_format()
@click.option("--html", "html", type=click.Path(dir_okay=False), metavar="FILE",
              help=HTML_HELP)
@click.argument("measure_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def compare(ctx: click.Context, token: str, references: CompareReferences,
            replay_settings: ReplaySettings, verification: TokenVerificationSettings,
            output_format: OutputFormat, html: str | None,
            measure_args: tuple[str, ...]) -> None:
    """Compare the realm measurements in TOKEN with reference values.

    References: --rim/--rem0..3/--rpv, --endorsements, --corim, --measure-trace and
    --log with --images (the log's replay). With --log every mismatch is explained:
    a REM the log fails to explain names the register and the event after which the
    replay and the token can no longer agree (or the single unlogged extension, altered,
    extra or reordered event that explains it); a REM the log explains but a reference
    does not names the first event whose digest is not a reference image; a RIM
    mismatch is diffed operation by operation against --measure-trace and names the
    first operation that differs.

    The token is verified first, with the options of `rmtool token verify`
    (--platform-key, --skip-platform-signature, --challenge, --strict): the verdict is
    MATCH (exit 0) only when every given reference matches AND the token verifies; a
    waived check is named as UNVERIFIED. A token that fails verification is FAIL (exit 1)
    whatever its claims; MISMATCH is exit 1; unusable input is exit 2.

    With --log and, after --, the expected Realm's `rmtool measure` arguments
    (MEASURE_ARGS), a mismatch also lists its causes (memory size, vCPUs, images,
    bootargs, Realm parameters...), computed by `rmtool diagnose`'s code.

    A --corim with CCA platform reference values (repeatable) also compares the token's
    platform components, config and lifecycle as `rmtool appraise` does: a platform
    problem makes the verdict MISMATCH (exit 1) and is named.
    """
    ref, rs = references, replay_settings
    if not ref.log and (rs.images or rs.dtb_templates):
        raise UsageError("--images and --dtb-templates need --log")
    if measure_args and not ref.log:
        raise UsageError("MEASURE_ARGS (after --) need --log: the causes come from the log")
    policy = verification.policy()
    tok = read_token(token)
    if tok.realm is None:
        raise TokenError(f"{token} has no realm token to compare", field="realm")
    checked = K.verify(tok, policy)
    realm = tok.realm.claims
    refs: list[cmp.ReferenceValues] = []
    msgs = verification_messages(checked)
    given = cmp.from_hex(ref.rim, (ref.rem0, ref.rem1, ref.rem2, ref.rem3), ref.rpv)
    if given is not None:
        refs.append(given)
    if ref.endorsements:
        refs.append(cmp.pick(cmp.load_endorsements(ref.endorsements), realm))
    endorsements = Endorsements()
    if ref.corim_files:
        corim_refs, endorsements = _corim_references(ref.corim_files, realm, msgs)
        refs += corim_refs
    trace = exp.load_measure_trace(ref.measure_trace) if ref.measure_trace else None
    if trace is not None:
        refs.append(exp.trace_reference(trace))
    if measure_args:  # the expected Realm is a reference, not only the causes' baseline
        refs.append(_expected_reference(measure_args))
    result = None
    candidates: dict[bytes, str] = {}
    if ref.log:
        result, candidates = _replay(realm, ref.log, rs)
        replayed = replay_messages(result, bool(rs.images), echo=False)
        for w in replayed.warnings:  # stderr as before: the warnings, and what to pass
            click.echo(f"WARN {w['message']}", err=True)
        msgs.warnings += replayed.warnings
        msgs.errors += replayed.errors
        refs.append(exp.replay_reference(result))
    if not refs:
        raise UsageError("no reference values given (use --rim/--rem0..3/--rpv, "
                         "--endorsements, --corim, --measure-trace or --log)")
    report = cmp.compare(realm, refs)
    report.verification = checked
    report.explanations = exp.explain(realm, report, result, trace, candidates,
                                      images_given=bool(rs.images))
    if ref.log and measure_args and not report.claims_ok:
        report.causes = _causes(tok.realm.claims, checked, ref.log, rs, measure_args)
    plat_claims: PlatformClaims | None = tok.platform.claims if tok.platform else None
    check = platform_check(plat_claims, endorsements, strict=verification.strict)
    doc = _platform_json(report.to_json(), report, check)
    ok = report.ok and (check is None or check.ok)
    if html is not None:
        _write_html(html, token, ref, rs, (report, trace, result), (check, doc))
    if output_format.structured:
        emit("compare", doc, output_format.fmt, msgs)
    else:
        click.echo("token verification:")
        click.echo("\n".join(verification_lines(checked)))
        click.echo(f"verification: {checked.summary()}")
        click.echo("")
        rows = [(cmp.LABELS[r.claim], r.source, _cell(r.expected, r.actual, r.status),
                 _cell(r.actual, r.expected, r.status), r.status) for r in report.results]
        click.echo(tabulate(rows, headers=["claim", "source", "expected", "actual", "status"]))
        if any(r.status == cmp.MISMATCH and r.expected and r.actual for r in report.results):
            click.echo("([xx]: the first byte that differs; full values below and in JSON)")
        for r in report.results:
            if r.status == cmp.MISMATCH:
                click.echo(r.message())
            elif r.note:
                click.echo(f"{cmp.LABELS[r.claim]} note: {r.note}")
        if report.explanations:
            click.echo("explanations:")
        for e in report.explanations:
            click.echo(f"- {e.message}")
        if report.causes:
            click.echo("causes:")
        for c in report.causes:
            click.echo(f"- {cause_text(c)}")
        click.echo(f"claims: {'MATCH' if report.claims_ok else 'MISMATCH'}")
        for line in platform_lines(check):
            click.echo(line)
        click.echo(f"verdict: {compare_verdict_text(report, check)}")
    if not ok:
        ctx.exit(1)
