"""``rmtool appraise``: what Veraison would conclude about a CCA token, offline (docs/appraise.md).

Private by convention (a leading underscore, as tests/test_shape.py asks of modules
docs/api.md does not document); the library is public.

The library is :mod:`rmtool.verify.appraise` (endorsements, the pipeline, platform and realm
comparison, EAR); this module parses options, formats the result and writes the EAR with
``rmtool._files.write_atomic``; ``--html FILE`` also writes the report of
:func:`rmtool.report._sources.appraise_report` (trust vectors with reasons, platform
components, realm claims; issue 17). Exit codes: 0 affirming, 1 warning / contraindicated / none,
2 unusable input (malformed token, CoRIM refused by its profile, bad option).
"""

from __future__ import annotations

import sys
from typing import Any

import click
from tabulate import tabulate

from rmtool._files import write_atomic
from rmtool.cli._option_groups import OutputFormat, output_format
from rmtool.cli._options_appraise import AppraiseSettings, appraise_options
from rmtool.cli._output import emit
from rmtool.errors import UsageError
from rmtool.report import HTML_HELP
from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.appraisal import Appraisal, AppraisePolicy
from rmtool.verify.appraise.appraisal import appraise as run_appraisal
from rmtool.verify.appraise.ear import ear_claims, ear_json, load_ear_key, sign_ear
from rmtool.verify.appraise.endorsements import Endorsements, load_endorsements
from rmtool.verify.token.codec import read_token


def _challenge(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        value = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise UsageError(f"--challenge {text!r} is not hex", field="challenge") from None
    if not value:
        raise UsageError("--challenge is empty", field="challenge")
    return value


def _endorsements(settings: AppraiseSettings) -> Endorsements:
    if not settings.corims and settings.ta_store is None and settings.rv_store is None:
        raise UsageError("give the endorsements: --corim FILE (repeatable) or --ta-store / "
                         "--rv-store", field="corim")
    out = load_endorsements(settings.corims)
    if settings.ta_store is not None or settings.rv_store is not None:
        from rmtool.verify.appraise.stores import load_stores

        out.extend(load_stores(settings.ta_store, settings.rv_store))
    return out


def _table(result: Appraisal) -> str:
    lines: list[str] = []
    ta = result.trust_anchor
    if ta is not None:
        lines.append(f"trust anchor: implementation id {ta.implementation_id.hex()}, "
                     f"instance id {ta.instance_id.hex()} ({ta.source})")
    for c in result.checks:
        lines.append(f"check {c.name}: {c.status.upper()} {c.reason}")
    for sub in result.submods:
        lines.append("")
        lines.append(f"submod {sub.name}: {sub.status}")
        reasons = {sub.reasons.get(c, "no claim") for c in A.CLAIMS}
        if len(reasons) == 1:  # one cause set every claim (Veraison's SetAll)
            rows = [(c, sub.vector[c], A.tier_of(sub.vector[c])) for c in A.CLAIMS]
            lines.append(tabulate(rows, headers=["claim", "value", "tier"]))
            lines.append(f"reason (every claim): {reasons.pop()}")
            continue
        rows2 = [(c, sub.vector[c], A.tier_of(sub.vector[c]), sub.reasons.get(c, "no claim"))
                 for c in A.CLAIMS]
        lines.append(tabulate(rows2, headers=["claim", "value", "tier", "reason"],
                              maxcolwidths=[None, None, None, 90]))
    lines.append("")
    for w in result.waived:
        lines.append(f"UNVERIFIED: {w}")
    for n in result.notes:
        lines.append(f"note: {n}")
    lines.append(f"ear.status: {result.status}")
    return "\n".join(lines)


def _write_ear(result: Appraisal, settings: AppraiseSettings) -> str | None:
    if settings.ear is None:
        return None
    claims = ear_claims(result)
    if settings.ear_key is not None:
        data = sign_ear(claims, load_ear_key(settings.ear_key))
        kind = "signed EAR (JWT)"
    else:
        data = ear_json(claims)
        kind = "unsigned EAR (JSON)"
    write_atomic(settings.ear, data)
    return kind


@click.command("appraise")
@click.argument("token", type=click.Path(dir_okay=False))
@appraise_options
@output_format("Output format (json is a stable contract).")
@click.option("--html", "html", type=click.Path(dir_okay=False), metavar="FILE",
              help=HTML_HELP)
@click.pass_context
def appraise(ctx: click.Context, token: str, settings: AppraiseSettings,
             output_format: OutputFormat, html: str | None) -> None:
    """Appraise the CCA token in TOKEN against CoRIM endorsements, as Veraison would.

    Selects the trust anchor by implementation and instance id, verifies both signatures,
    the binding and (with --challenge) the freshness, then compares the platform software
    components, config and lifecycle and the realm RIM, REMs and RPV with the reference
    values. Prints each submod's AR4SI trust vector with the reason for every claim.
    Exit 0 affirming, 1 warning or contraindicated, 2 unusable input.
    """
    policy = AppraisePolicy(challenge=_challenge(settings.challenge), strict=settings.strict)
    if settings.ear_key is not None and settings.ear is None:
        raise UsageError("--ear-key signs the EAR written by --ear OUT; give --ear",
                         field="ear-key")
    endorsements = _endorsements(settings)
    tok = read_token(token)
    if settings.semantics == "rust-ccatoken":
        from rmtool.verify.appraise.rust_ccatoken import appraise_rust_ccatoken

        result = appraise_rust_ccatoken(tok, endorsements, policy)
    else:
        result = run_appraisal(tok, endorsements, policy)
    kind = _write_ear(result, settings)
    if html is not None:
        from rmtool.report import input_files, write_report
        from rmtool.report._sources import appraise_report

        named = [("token", token), *(("corim", c) for c in settings.corims),
                 ("ta-store", settings.ta_store), ("rv-store", settings.rv_store)]
        write_report(html, appraise_report(
            result, tok.realm.claims if tok.realm is not None else None,
            endorsements.realms, sys.argv, input_files(named)))
    if output_format.structured:
        out: dict[str, Any] = result.to_json()
        out["ear"] = None if kind is None else {"path": settings.ear, "kind": kind}
        emit("appraise", out, output_format.fmt)
    else:
        click.echo(_table(result))
        if kind is not None:
            click.echo(f"{kind} written to {settings.ear}")
    if result.exit_code:
        ctx.exit(result.exit_code)
