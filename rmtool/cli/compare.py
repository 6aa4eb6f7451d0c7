"""``rmtool compare TOKEN``: which realm claim differs from which reference (issue 7).

Reference sources: ``--rim/--rem0..--rem3/--rpv HEX``, ``--endorsements FILE`` (CoMID
JSON as ``measure`` / realm-measurements write it), ``--corim FILE`` (through
``rmtool.verify.corim``), ``--measure-trace FILE`` (``measure --format json --trace`` of
the expected configuration) and ``--log LOG --images PATH...`` (the log's replay, with
``--index-map/--store/--dtb-templates/--rmm-version`` passed to ``replay_log``). With
``--log`` the mismatches are explained by :mod:`rmtool.verify.explain` (which register,
which event, which operation). Output: a table per claim (expected, actual, status) and
the explanations, or ``--format json`` (``explanations``: [{register, event, message}]).
Exit 0 when every given reference matches, 1 otherwise, 2 when the token or a reference
is unusable or no reference is given. docs/cli-compare.md describes it.
"""

from __future__ import annotations

import json

import click
from tabulate import tabulate

from rmtool.cli.options import (
    TokenVerificationSettings,
    token_verification_options,
    verification_lines,
)
from rmtool.errors import TokenError, UsageError
from rmtool.files import read_bounded
from rmtool.measure.rmm.algorithms import ALGORITHMS
from rmtool.measure.rmm.profiles import DEFAULT_PROFILE, PROFILES
from rmtool.replay import ImageStore, ReferenceImages, ReplayResult, replay_log
from rmtool.verify import checks as K
from rmtool.verify import compare as cmp
from rmtool.verify import explain as exp
from rmtool.verify.claims import RealmClaims
from rmtool.verify.token import read_token

MAX_LOG_SIZE = 64 << 20


def _short(value: bytes | None) -> str:
    if value is None:
        return "-"
    text = value.hex()
    return text if len(text) <= 64 else text[:64] + "\n" + text[64:]


def _read_log(path: str) -> bytes:
    return read_bounded(path, MAX_LOG_SIZE, "event log")


def _replay(realm: RealmClaims, log: str, images: tuple[str, ...], index_map: str,
            store: str | None, dtb_templates: tuple[str, ...], rmm_version: str
            ) -> tuple[ReplayResult, dict[bytes, str]]:
    """Replay LOG; also the known digests (reference images, log) for the explanations."""
    data = _read_log(log)
    algo = (realm.hash_algo or "").replace("-", "")
    st = ImageStore(store)
    try:
        result = replay_log(data, list(images), index_map=index_map, store=st,
                            dtb_templates=list(dtb_templates), rmm_version=rmm_version,
                            hash_algo=algo if algo in ALGORITHMS else None)
        candidates = exp.known_digests(
            ReferenceImages(list(images), st).index(result.hash_algo.name)
            if result.hash_algo is not None else {}, result)
        if st.warning:
            result.warnings.append(st.warning)
    finally:
        st.close()
    return result, candidates


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
@click.option("--measure-trace", type=click.Path(dir_okay=False),
              help="JSON of `rmtool measure --format json --trace` for the expected "
                   "configuration: its RIM is a reference, and with --log its operations "
                   "are diffed against the log's to name the first that differs.")
@click.option("--log", "log", type=click.Path(dir_okay=False),
              help="The Realm's event log: its replay is a reference and explains each "
                   "mismatch (register, event, operation).")
@click.option("--images", "images", multiple=True, type=click.Path(),
              help="With --log: reference images, a sha256sum/sha512sum file or a "
                   "directory (repeatable); needed to rebuild the RIM.")
@click.option("--index-map", type=click.Choice(["auto", "pcr", "mr"]), default="auto",
              show_default=True, help="With --log: event index to register mapping.")
@click.option("--store", type=click.Path(dir_okay=False),
              help="With --log: image-store database (default: in the user cache directory).")
@click.option("--dtb-templates", "dtb_templates", multiple=True, type=click.Path(),
              help="With --log: DTB template or NAME<TAB>VERSION<TAB>FILE list (repeatable).")
@click.option("--rmm-version", type=click.Choice(list(PROFILES)), default=DEFAULT_PROFILE,
              show_default=True, help="With --log: RMM version whose rules the replay uses.")
@token_verification_options
@click.option("--format", "fmt", type=click.Choice(["table", "text", "json"]), default="table",
              show_default=True)
@click.pass_context
def compare(ctx: click.Context, token: str, rim: str | None, rem0: str | None,
            rem1: str | None, rem2: str | None, rem3: str | None, rpv: str | None,
            endorsements: str | None, corim_file: str | None, measure_trace: str | None,
            log: str | None, images: tuple[str, ...], index_map: str, store: str | None,
            dtb_templates: tuple[str, ...], rmm_version: str,
            verification: TokenVerificationSettings, fmt: str) -> None:
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
    """
    if not log and (images or dtb_templates):
        raise UsageError("--images and --dtb-templates need --log")
    policy = verification.policy()
    tok = read_token(token)
    if tok.realm is None:
        raise TokenError(f"{token} has no realm token to compare", field="realm")
    checked = K.verify(tok, policy)
    realm = tok.realm.claims
    refs: list[cmp.ReferenceValues] = []
    given = cmp.from_hex(rim, (rem0, rem1, rem2, rem3), rpv)
    if given is not None:
        refs.append(given)
    if endorsements:
        refs.append(cmp.pick(cmp.load_endorsements(endorsements), realm))
    if corim_file:
        refs.append(cmp.pick(cmp.load_corim(corim_file), realm))
    trace = exp.load_measure_trace(measure_trace) if measure_trace else None
    if trace is not None:
        refs.append(exp.trace_reference(trace))
    result = None
    candidates: dict[bytes, str] = {}
    if log:
        result, candidates = _replay(realm, log, images, index_map, store, dtb_templates,
                                     rmm_version)
        for w in result.warnings:
            click.echo(f"WARN {w}", err=True)
        refs.append(exp.replay_reference(result))
    if not refs:
        raise UsageError("no reference values given (use --rim/--rem0..3/--rpv, "
                         "--endorsements, --corim, --measure-trace or --log)")
    report = cmp.compare(realm, refs)
    report.verification = checked
    report.explanations = exp.explain(realm, report, result, trace, candidates,
                                      images_given=bool(images))
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo("token verification:")
        click.echo("\n".join(verification_lines(checked)))
        click.echo(f"verification: {checked.summary()}")
        click.echo("")
        rows = [(cmp.LABELS[r.claim], r.source, _short(r.expected), _short(r.actual), r.status)
                for r in report.results]
        click.echo(tabulate(rows, headers=["claim", "source", "expected", "actual", "status"]))
        for r in report.results:
            if r.status == cmp.MISMATCH:
                click.echo(r.message())
            elif r.note:
                click.echo(f"{cmp.LABELS[r.claim]} note: {r.note}")
        if report.explanations:
            click.echo("explanations:")
        for e in report.explanations:
            click.echo(f"- {e.message}")
        click.echo(f"claims: {'MATCH' if report.claims_ok else 'MISMATCH'}")
        click.echo(f"verdict: {report.verdict_text()}")
    if not report.ok:
        ctx.exit(1)
