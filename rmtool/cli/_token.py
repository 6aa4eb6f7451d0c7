"""``rmtool token show|verify``: decode and verify CCA attestation tokens
(docs/security.md, "Token verification").

``show`` prints the platform and realm claims (table, or the JSON contract of
``CcaToken.to_json``); ``verify`` runs the named checks of ``rmtool.verify.token.checks`` under
the shared options of ``rmtool.cli._options``. Exit codes: 0 all pass (waived checks are
named as UNVERIFIED), 1 any check fails (a missing trust anchor is a failure), 2 unusable
input (malformed token or key).
"""

from __future__ import annotations

import json
from typing import Any

import click
from tabulate import tabulate

from rmtool.cli._option_groups import OutputFormat, output_format
from rmtool.cli._options import (
    TokenVerificationSettings,
    token_verification_options,
    verification_lines,
)
from rmtool.cli._output import Messages, emit, printable
from rmtool.verify.token import checks as K
from rmtool.verify.token._claims import lifecycle_text
from rmtool.verify.token.codec import CcaToken, read_token


@click.group("token")
def token() -> None:
    """Decode and verify Arm CCA attestation tokens."""


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "\n".join(_cell(v) for v in value)
    return printable(str(value))  # a claim text cannot forge a row or send escapes


def _rows(section: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in section.items():
        if key == "sw_components" and isinstance(value, list):
            for i, comp in enumerate(value):
                desc = ", ".join(f"{k}={printable(str(v))}" for k, v in comp.items()
                                 if v is not None)
                rows.append((f"sw_components[{i}]", desc))
            continue
        if key == "unknown_claims":
            for label, v in value.items():
                rows.append((f"claim {label}", json.dumps(v)))
            continue
        if key == "lifecycle_state":
            continue  # in the lifecycle row: 0x3003 (secured)
        if key == "lifecycle" and isinstance(value, int):
            rows.append((key, lifecycle_text(value)))
            continue
        rows.append((key, _cell(value)))
    return rows


def _table(tok: CcaToken) -> str:
    data = tok.to_json()
    parts = [f"format: {data['format']}"]
    for name in ("platform", "realm"):
        if data[name] is not None:
            parts.append(f"\n{name} token\n" + tabulate(_rows(data[name]),
                                                       headers=["claim", "value"]))
    return "\n".join(parts)


def verification_messages(result: K.Verification) -> Messages:
    """The failed checks as ``errors``, warnings and waived checks as ``warnings`` of
    the structured document (not echoed: the table or the document shows them)."""
    msgs = Messages()
    for c in result.checks:
        if c.status == K.FAIL:
            msgs.error(c.reason, field=c.name, echo=False)
        elif c.status == K.WARN:
            msgs.warn(c.reason, field=c.name, echo=False)
        elif c.status == K.WAIVED:
            msgs.warn(c.reason or "not checked (waived)", field=c.name, echo=False)
    return msgs


@token.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@output_format("Output format: a table, or the JSON / YAML document (rmtool/token-show/1, "
               "docs/json.md).")
def show(file: str, output_format: OutputFormat) -> None:
    """Print the claims of the token in FILE (bytes as lower-case hex)."""
    tok = read_token(file)
    if output_format.structured:
        emit("token-show", tok.to_json(), output_format.fmt)
    else:
        click.echo(_table(tok))


@token.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@token_verification_options
@output_format()
@click.pass_context
def verify(ctx: click.Context, file: str, verification: TokenVerificationSettings,
           output_format: OutputFormat) -> None:
    """Verify signatures, binding and claim syntax of the token in FILE.

    PASS (exit 0) only when every check passes: both signatures (the platform one with a
    --platform-key CPAK), the binding of the platform token to the RAK, --challenge when
    given, and the claim checks. A waived check (--skip-platform-signature) is shown as
    UNVERIFIED next to the verdict. A token without a platform token never passes.
    """
    policy = verification.policy()
    tok = read_token(file)
    result = K.verify(tok, policy)
    if output_format.structured:
        emit("token-verify", result.to_json(), output_format.fmt, verification_messages(result))
    else:
        click.echo("\n".join(verification_lines(result)))
        click.echo(f"result: {result.summary()}")
    if not result.ok:
        ctx.exit(1)
