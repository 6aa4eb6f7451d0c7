"""The options of ``rmtool appraise``, declared once (docs/appraise.md).

The command receives them as one frozen :class:`AppraiseSettings`; ``--format`` is
:class:`rmtool.cli._option_groups.OutputFormat`.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from rmtool.cli._option_groups import option_group


@dataclass(frozen=True)
class AppraiseSettings:
    """Endorsement inputs, the session nonce, strictness and the EAR output."""

    corims: tuple[str, ...] = ()
    ta_store: str | None = None
    rv_store: str | None = None
    challenge: str | None = None
    strict: bool = False
    semantics: str = "veraison"
    ear: str | None = None
    ear_key: str | None = None


appraise_options = option_group(AppraiseSettings, "settings", [
    click.option("--corim", "corims", multiple=True, type=click.Path(dir_okay=False),
                 help="CoRIM with CCA platform / realm endorsements (repeatable)."),
    click.option("--ta-store", type=click.Path(dir_okay=False),
                 help="rust-ccatoken trust-anchor store (JSON) instead of / beside CoRIMs."),
    click.option("--rv-store", type=click.Path(dir_okay=False),
                 help="rust-ccatoken reference-value store (JSON)."),
    click.option("--challenge", help="Session nonce as hex (zero-padded to 64 bytes, as the "
                 "RMM pads a shorter challenge); without it freshness is not checked."),
    click.option("--strict", is_flag=True,
                 help="Also require the signer ids and the realm hash algorithm to match "
                 "(Veraison does not compare them)."),
    click.option("--semantics", type=click.Choice(["veraison", "rust-ccatoken"]),
                 default="veraison", show_default=True,
                 help="Appraise as Veraison's arm-cca scheme or as rust-ccatoken's Evidence "
                 "(trustee's local verifier) would."),
    click.option("--ear", type=click.Path(dir_okay=False),
                 help="Write the EAR here (JWT with --ear-key, else unsigned JSON)."),
    click.option("--ear-key", type=click.Path(dir_okay=False),
                 help="P-256 / P-384 private key (PEM or JWK) signing the EAR (ES256 / ES384)."),
])
