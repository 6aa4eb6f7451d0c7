"""The options of ``rmtool corim create`` and ``rmtool corim submit``, declared once.

Endorsements for today's Veraison (docs/cli.md, "rmtool corim"): each command receives its
options as one frozen settings object (:class:`CorimCreateSettings`,
:class:`SubmitSettings`) and ``--format`` as :class:`rmtool.cli._option_groups.OutputFormat`.
The secrets of ``submit`` may come from an environment variable (``PASSWORD_ENV``,
``CLIENT_SECRET_ENV``); ``rmtool.cli._corim`` decides which source wins and warns about
a secret on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from rmtool.cli._option_groups import option_group

FORMAT_HELP = "Output format."
PASSWORD_ENV = "RMTOOL_PROVISIONING_PASSWORD"
CLIENT_SECRET_ENV = "RMTOOL_PROVISIONING_CLIENT_SECRET"


@dataclass(frozen=True)
class CorimCreateSettings:
    """``corim create``: the values (when not read from a measurement JSON file), the
    templates and ids, the signing inputs and the output path."""

    rim: str | None = None
    rem0: str | None = None
    rem1: str | None = None
    rem2: str | None = None
    rem3: str | None = None
    rpv: str | None = None
    hash_algo: str | None = None
    templates: tuple[str, ...] = ()
    corim_id: str | None = None
    tag_id: str | None = None
    key: str | None = None
    cert: str | None = None
    meta: str | None = None
    signer_name: str = "rmtool"
    output: str = ""


corim_create_options = option_group(CorimCreateSettings, "settings", [
    click.option("--rim", help="RIM as hex (instead of a measurement JSON file)."),
    click.option("--rem0", help="REM0 as hex."),
    click.option("--rem1", help="REM1 as hex."),
    click.option("--rem2", help="REM2 as hex."),
    click.option("--rem3", help="REM3 as hex."),
    click.option("--rpv", help="Realm personalization value (64 bytes) as hex."),
    click.option("--hash-algo", help="sha256, sha384 or sha512 (default: from the RIM size)."),
    click.option("--template", "templates", multiple=True, type=click.Path(dir_okay=False),
                 help="cocli CoRIM and/or CoMID JSON template (repeatable)."),
    click.option("--corim-id", help="CoRIM id (UUID or text; default derived from the values)."),
    click.option("--tag-id", help="CoMID tag-id (UUID or text; default derived from the values)."),
    click.option("--key", type=click.Path(dir_okay=False), help="Sign with this PEM or JWK key."),
    click.option("--cert", type=click.Path(dir_okay=False),
                 help="Signing certificate chain (PEM, leaf first) for the x5chain header."),
    click.option("--meta", type=click.Path(dir_okay=False),
                 help="cocli signer meta JSON ({signer: {name, uri}, validity})."),
    click.option("--signer-name", default="rmtool", show_default=True,
                 help="Signer name in corim-meta when --meta is not given."),
    click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                 help="Write the CoRIM here."),
])


@dataclass(frozen=True)
class SubmitSettings:
    """``corim submit``: where to, how to authenticate (secrets as given: the command
    reads ``*_file`` and the environment), TLS, the time limit and the lint switch."""

    api_server: str = ""
    media_type: str | None = None
    auth_method: str = "none"
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    client_secret_file: str | None = None
    token_url: str | None = None
    scopes: tuple[str, ...] = ()
    ca_cert: str | None = None
    insecure: bool = False
    timeout: float = 30.0
    no_lint: bool = False


submit_options = option_group(SubmitSettings, "settings", [
    click.option("--api-server", required=True,
                 help="Provisioning URL (base URL, or the full .../submit URL)."),
    click.option("--media-type", help="Override the Content-Type (default from the CoRIM)."),
    click.option("--auth", "auth_method", type=click.Choice(["none", "basic", "oauth2"]),
                 default="none", show_default=True),
    click.option("--username", help="basic: user name."),
    click.option("--password", envvar=PASSWORD_ENV,
                 help=f"basic: password (visible in ps; prefer --password-file or "
                      f"${PASSWORD_ENV})."),
    click.option("--password-file", type=click.Path(dir_okay=False),
                 help="basic: read the password from this file (first line)."),
    click.option("--client-id", help="oauth2: client id."),
    click.option("--client-secret", envvar=CLIENT_SECRET_ENV,
                 help=f"oauth2: client secret (visible in ps; prefer --client-secret-file or "
                      f"${CLIENT_SECRET_ENV})."),
    click.option("--client-secret-file", type=click.Path(dir_okay=False),
                 help="oauth2: read the client secret from this file (first line)."),
    click.option("--token-url", help="oauth2: token endpoint."),
    click.option("--scope", "scopes", multiple=True, help="oauth2: scope (repeatable)."),
    click.option("--ca-cert", type=click.Path(dir_okay=False), help="CA bundle for TLS."),
    click.option("--insecure", is_flag=True, help="Do not verify the TLS certificate."),
    click.option("--timeout", type=float, default=30.0, show_default=True,
                 help="Total seconds for the whole submission (connect, token, submit, every "
                      "read); a later answer is a failure."),
    click.option("--no-lint", is_flag=True, help="Submit even if the profile lint finds errors."),
])
