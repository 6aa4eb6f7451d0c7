"""Token-verification options shared by every command that judges a CCA token.

``token verify`` and ``compare`` (and later ``diagnose`` / ``appraise``) declare the same
options through :func:`token_verification_options`, which hands the command one
:class:`TokenVerificationSettings`; ``settings.policy()`` loads the keys and turns them
into the :class:`rmtool.verify.token.checks.VerifyPolicy` the checks run under. The rule behind
them (docs/security.md): PASS/MATCH only when every check ran and passed, or was waived
by name (``--skip-platform-signature``), and a waived check is printed as UNVERIFIED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from rmtool.cli._option_groups import option_group
from rmtool.errors import UsageError
from rmtool.verify import cose
from rmtool.verify.token import checks as K

MAX_CHALLENGE = 64  # bytes: the realm challenge claim is 64 bytes


@dataclass(frozen=True)
class TokenVerificationSettings:
    """The token-verification options as given on the command line."""

    platform_keys: tuple[str, ...] = ()
    strict: bool = False
    skip_platform_signature: bool = False
    challenge: str | None = None

    def policy(self) -> K.VerifyPolicy:
        """Load the keys and parse the challenge (UsageError for unusable values)."""
        waive = frozenset({"platform.signature"}) if self.skip_platform_signature \
            else frozenset()
        return K.VerifyPolicy(platform_keys=tuple(cose.load_key(p) for p in self.platform_keys),
                              strict=self.strict, waive=waive,
                              challenge=parse_challenge(self.challenge))


def parse_challenge(text: str | None) -> bytes | None:
    """``--challenge HEX`` (optional ``0x``) as bytes; None when not given."""
    if text is None:
        return None
    clean = text.strip().lower().removeprefix("0x")
    try:
        value = bytes.fromhex(clean)
    except ValueError:
        raise UsageError(f"--challenge: not a hex string: {text[:40]!r}") from None
    if not value or len(value) > MAX_CHALLENGE:
        raise UsageError(f"--challenge: {len(value)} bytes (expected 1..{MAX_CHALLENGE})")
    return value


_OPTIONS = (
    click.option("--platform-key", "platform_keys", multiple=True,
                 type=click.Path(dir_okay=False),
                 help="CPAK (trust anchor): PEM public/private key or JWK (repeatable; any "
                      "may verify). Without it the platform signature check fails."),
    click.option("--skip-platform-signature", is_flag=True,
                 help="Waive the platform signature check (no CPAK at hand); the verdict "
                      "then says UNVERIFIED: platform.signature."),
    click.option("--challenge", metavar="HEX",
                 help="Expected realm challenge (claim 10, the verifier's nonce): the token "
                      "fails unless it is equal."),
    click.option("--strict", is_flag=True,
                 help="Treat warnings (e.g. RIM/REM length versus the realm hash "
                      "algorithm, unknown claims) as failures."),
)


_TOKEN_VERIFICATION = option_group(TokenVerificationSettings, "verification", _OPTIONS)


def token_verification_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the verification options; the command receives ``verification=Settings``."""
    return _TOKEN_VERIFICATION(func)


def verification_lines(result: K.Verification) -> list[str]:
    """The checks as a table (check, status, reason), for any command's table output."""
    from tabulate import tabulate

    return tabulate([(c.name, c.status, c.reason) for c in result.checks],
                    headers=["check", "status", "reason"]).splitlines()
