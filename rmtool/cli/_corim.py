"""``rmtool corim``: create, show, lint and submit CoRIMs in the CCA realm profile.

Endorsements for today's Veraison (docs/cli.md, "rmtool corim").  The library is
:mod:`rmtool.verify.corim.realm` (building / reading), :mod:`rmtool.verify.corim._lint`,
:mod:`rmtool.verify.corim._sign` and :mod:`rmtool.verify.corim._submit`; this module only
parses options and formats output (tables with names for the CoRIM's integer keys:
entities, validity, locators, corim-meta; ``--format json`` / ``yaml`` is the document of
``rmtool.cli._output``, ``rmtool/corim-<command>/1`` in docs/json.md). Exit codes: 0
success / clean, 1 invalid CoRIM or rejected submission, 2 unreadable input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click
from tabulate import tabulate

from rmtool._files import LIMITS, read_bounded, write_atomic
from rmtool._filetype import check_kind, sniff
from rmtool.cli._option_groups import OutputFormat, output_format
from rmtool.cli._options_corim import (
    CLIENT_SECRET_ENV,
    FORMAT_HELP,
    PASSWORD_ENV,
    CorimCreateSettings,
    SubmitSettings,
    corim_create_options,
    submit_options,
)
from rmtool.cli._output import Messages, emit, printable
from rmtool.errors import CorimError, InputFileError, UsageError
from rmtool.verify.corim import _comid_json as comid_json
from rmtool.verify.corim import realm as corim_lib
from rmtool.verify.corim._lint import has_errors, lint
from rmtool.verify.corim._model import (
    HASH_BY_SIZE,
    HASH_SIZES,
    MAX_CORIM_SIZE,
    decode,
    hash_algo_name,
)
from rmtool.verify.corim._sign import load_cert_chain, load_signing_key, sign_corim
from rmtool.verify.corim._submit import AuthConfig, Deadline, submit_corim

MAX_JSON_INPUT = 4 * 1024 * 1024


def _read(path: str, what: str, limit: int = MAX_CORIM_SIZE) -> bytes:
    """A regular file of at most ``limit`` bytes (``rmtool._files.read_bounded``); for the
    CoRIM itself (``what`` "file"), a file of another known kind is named with the
    command that reads it (``rmtool._filetype.check_kind``)."""
    data = read_bounded(path, min(limit, LIMITS["key"]) if what == "key" else limit,
                        "CoRIM" if what == "file" else what)
    if what == "file":
        check_kind(data, "corim", path)
    return data


#: What ``rmtool.verify.corim._model.decode`` calls the kinds that are not signed.
_KIND_NAMES = {"unsigned-corim": "an unsigned CoRIM", "comid": "a CoMID"}


@contextmanager
def _named(path: str, data: bytes) -> Iterator[None]:
    """Run a decode of the CoRIM file ``path``: its errors name the file (the library says
    "file: ..."), and a file that went through a text conversion (U+FFFD, bytes ef bf bd,
    where binary bytes were) says so."""
    try:
        yield
    except CorimError as exc:
        message = exc.message.removeprefix("file: ").removeprefix("file ")
        if b"\xef\xbf\xbd" in data:
            message += ("; it holds U+FFFD replacement characters (ef bf bd), as a binary "
                        "file saved through a text (UTF-8) conversion does")
        raise CorimError(f"{path}: {message}", field=exc.field, offset=exc.offset) from None


def _output_error(path: str, exc: OSError) -> InputFileError:
    return InputFileError(f"cannot write {path}: {exc.strerror or exc}", field="output")


def _read_json(path: str, what: str) -> Any:
    data = _read(path, what, MAX_JSON_INPUT)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # a binary file (an event log, a CoRIM...) makes json guess UTF-16/32 and fail
        # with a codec error: say what the file is instead (rmtool._filetype)
        found = sniff(data)
        if found is not None and found.key != "json":
            hint = f"{what} {path} is {found.name}, not JSON"
            if what == "measurements":
                hint += " (give the output of rmtool measure --format json)"
            if found.command is not None:
                hint += f"; {found.command} reads it"
            raise InputFileError(hint, field=what) from None
        if isinstance(exc, UnicodeDecodeError):
            raise InputFileError(f"{what} {path} is not JSON: not UTF-8 text "
                                 f"(byte {exc.start})", field=what) from None
        raise InputFileError(f"{what} {path} is not valid JSON: {exc}", field=what) from None


def _hex(value: str | None, what: str) -> bytes | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"{what} is not hex: {value[:40]!r}", field=what) from None


def _one_of(names: Iterable[str]) -> str:
    """``a, b or c`` (the Realm algorithms of rmtool._hashalgo, in its order)."""
    *head, last = names
    return f"{', '.join(head)} or {last}" if head else last


def _algo(value: Any, what: str) -> str:
    text = str(value).lower().replace("-", "").replace("rmihash", "")
    if text not in HASH_SIZES:
        raise UsageError(f"{what} {value!r} is not {_one_of(HASH_SIZES)}", field=what)
    return text


def _valid_sizes() -> str:
    """``32 (sha256), 48 (sha384) or 64 (sha512) bytes``: the RIM sizes of the Realm
    hash algorithms (RMM specification, RMI_HASH_SHA_256 / _512; rmtool._hashalgo)."""
    return _one_of(f"{size} ({name})" for name, size in HASH_SIZES.items()) + " bytes"


def _check_rim_size(rim: bytes, algo: str | None) -> str:
    """``algo`` when the RIM has its size (or, with no algorithm, the algorithm of the
    RIM's size); else a usage error that lists the valid sizes up front (a 64-byte
    zero-padded slot is accepted by the library for a shorter algorithm)."""
    size = HASH_SIZES.get(algo) if algo is not None else None
    if algo is not None and size is not None and (
            len(rim) == size or (len(rim) == 64 and not any(rim[size:]))):
        return algo
    hint = f"a RIM is {_valid_sizes()}"
    if algo is not None:
        hint += f"; --hash-algo {algo} needs {size}"
    else:
        hint += ", the size choosing the algorithm (or give --hash-algo)"
    raise UsageError(f"RIM is {len(rim)} bytes; {hint}", field="rim")


def _measurements_from_json(obj: Any) -> tuple[bytes, list[bytes | None], str | None,
                                                bytes | None]:
    """rim, rems, hash_algo, rpv from ``rmtool measure --format json`` output."""
    if not isinstance(obj, Mapping):
        raise InputFileError("measurement JSON is not an object", field="measurements")
    m: Mapping[str, Any] = obj.get("measurements", obj) if isinstance(
        obj.get("measurements"), Mapping) else obj
    rim = _hex(m.get("rim") if isinstance(m.get("rim"), str) else None, "rim")
    if rim is None:
        raise InputFileError("measurement JSON has no \"rim\" hex string", field="rim")
    rems_raw = m.get("rems")
    if rems_raw is None:
        rems_raw = [m.get(f"rem{i}") for i in range(4)]
    if not isinstance(rems_raw, list) or len(rems_raw) != 4:
        raise InputFileError("measurement JSON \"rems\" is not a list of 4 hex strings",
                             field="rems")
    rems = [_hex(r, f"rems[{i}]") if isinstance(r, str) else None
            for i, r in enumerate(rems_raw)]
    algo = m.get("hash_algo") or m.get("hash-algo")
    rpv_text = m.get("personalization_value", m.get("rpv"))
    rpv = _hex(rpv_text, "personalization_value") if isinstance(rpv_text, str) else None
    return rim, rems, _algo(algo, "hash_algo") if algo else None, rpv


def _load_templates(paths: tuple[str, ...]) -> tuple[dict[str, Any] | None,
                                                     dict[str, Any] | None]:
    corim_t: dict[str, Any] | None = None
    comid_t: dict[str, Any] | None = None
    for p in paths:
        obj = _read_json(p, "template")
        if comid_json.is_comid_template(obj):
            comid_t = obj
        elif isinstance(obj, dict):
            corim_t = obj
        else:
            raise InputFileError(f"template {p} is not a JSON object", field="template")
    return corim_t, comid_t


@click.group("corim")
def corim() -> None:
    """CoRIM reference values in the CCA realm profile (tag:arm.com,2025:cca_realm#1.0.0)."""


@corim.command("create")
@click.argument("measurements", required=False, type=click.Path(dir_okay=False))
@corim_create_options
@output_format(FORMAT_HELP)
def create(measurements: str | None, settings: CorimCreateSettings,
           output_format: OutputFormat) -> None:
    """Build a CoRIM for a Realm from MEASUREMENTS (rmtool measure --format json) or hex."""
    o = settings
    if measurements is not None and o.rim is not None:
        raise UsageError("give either a measurement JSON file or --rim, not both", field="rim")
    if measurements is not None:
        rim_b, rems, algo, rpv_b = _measurements_from_json(_read_json(measurements,
                                                                      "measurements"))
        if o.rpv is not None:
            rpv_b = _hex(o.rpv, "rpv")
    elif o.rim is not None:
        rim_b = _hex(o.rim, "rim") or b""
        rems = [_hex(v, f"rem{i}") for i, v in enumerate((o.rem0, o.rem1, o.rem2, o.rem3))]
        algo = None
        rpv_b = _hex(o.rpv, "rpv")
    else:
        raise UsageError("give a measurement JSON file or --rim", field="rim")
    if o.hash_algo is not None:
        algo = _algo(o.hash_algo, "--hash-algo")
    if algo is None:
        algo = HASH_BY_SIZE.get(len(rim_b))
    algo = _check_rim_size(rim_b, algo)
    if (o.cert or o.meta) and not o.key:
        raise UsageError("--cert and --meta need --key", field="key")
    corim_t, comid_t = _load_templates(o.templates)
    data = corim_lib.build_realm_corim(rim_b, rems, algo, rpv_b, template=corim_t,
                                       comid_template=comid_t, corim_id=o.corim_id,
                                       tag_id=o.tag_id)
    if o.key:
        signing_key = load_signing_key(_read(o.key, "key", 1024 * 1024))
        chain = load_cert_chain(_read(o.cert, "cert", 1024 * 1024)) if o.cert else None
        meta_map = (comid_json.meta_from_json(_read_json(o.meta, "meta")) if o.meta
                    else {0: {0: o.signer_name}})
        data = sign_corim(data, signing_key, meta=meta_map, cert_chain=chain)
    write_atomic(o.output, data, error=_output_error)  # never through a symlink, never partial
    info = {"output": o.output, "bytes": len(data), "signed": bool(o.key),
            "media_type": corim_lib.media_type_for(data), "hash_algo": algo,
            "rim": corim_lib.load_reference_values(o.output).rim.hex()  # type: ignore[union-attr]
            }
    if output_format.structured:
        emit("corim-create", info, output_format.fmt)
    else:
        click.echo(tabulate([[k, v] for k, v in info.items()], tablefmt="plain"))


def _realm_rows(r: Mapping[str, Any]) -> list[list[str]]:
    rows = [["RIM", r.get("rim") or "-"]]
    rows += [[f"REM{i}", v or "-"] for i, v in enumerate(r.get("rems") or [None] * 4)]
    rows += [["RPV", r.get("rpv") or "-"], ["hash", r.get("hash_algo") or "-"],
             ["class-id", r.get("class_id") or "-"], ["instance", r.get("instance") or "-"],
             ["encoding", r.get("encoding")], ["tag-id", r.get("tag_id") or "-"]]
    rows += [["note", n] for n in r.get("notes", [])]
    return rows


@corim.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@output_format(FORMAT_HELP)
def show(file: str, output_format: OutputFormat) -> None:
    """Decode a CoRIM (signed or not), a CoMID or CoMID JSON and print its realm values."""
    data = _read(file, "file")
    with _named(file, data):
        desc = corim_lib.describe(data)
    if output_format.structured:
        emit("corim-show", desc, output_format.fmt)
        return
    head: list[list[Any]] = [["kind", desc["kind"]]]
    c = desc.get("corim")
    if c:
        head += [["corim-id", _text(c.get("id"))],
                 ["profile", f"{_text(c.get('profile'))} ({c.get('profile-encoding')})"]]
        if "rim-validity" in c:
            head.append(["rim-validity", _validity_text(c["rim-validity"])])
        for e in c.get("entities") or []:
            head.append(["entity", _entity_text(e)])
        for loc in c.get("dependent-rims") or []:
            head.append(["dependent-rim", _locator_text(loc)])
    p = desc.get("protected")
    if p:
        head += [["signature alg", f"{p.get('alg')} ({p.get('alg-name')})"],
                 ["content-type", _text(p.get("content-type"))],
                 ["corim-meta", _meta_text(p.get("corim-meta"))],
                 ["x5chain", "present" if p.get("x5chain") else "absent"]]
    for t in desc.get("other-tags", []):
        head.append([f"tag[{t['index']}]", f"CBOR tag {t['tag']} (not a CoMID)"])
    click.echo(tabulate(head, tablefmt="plain", disable_numparse=True))
    realms = desc.get("realms", [])
    if not realms:
        click.echo("\nno CCA realm reference values found")
    for i, r in enumerate(realms):
        click.echo(f"\nrealm reference values [{i}] (tag {r['tag_index']}, "
                   f"triple {r['triple_index']})")
        click.echo(tabulate([[k, _text(v) if isinstance(v, str) else v]
                             for k, v in _realm_rows(r)], tablefmt="plain"))
    for comid in desc.get("comids", []):
        click.echo(f"\nCoMID tags[{comid['index']}] ({comid['encoding']}):")
        entities = comid.get("entities")
        if isinstance(entities, list):
            click.echo(tabulate([["entity", _entity_text(e)]
                                 for e in entities], tablefmt="plain"))
        click.echo(json.dumps({k: v for k, v in comid.items()
                               if k not in ("index", "encoding", "entities")}, indent=2))


def _text(value: Any) -> str:
    """A text value of the CoRIM for the table (non-printable characters escaped);
    anything else as JSON."""
    if value is None:
        return "-"
    return printable(value) if isinstance(value, str) else json.dumps(value)


def _uri(value: Any) -> str:
    """A (tagged, #6.32) URI as its text."""
    if isinstance(value, Mapping) and value.get("tag") == 32:
        return _text(value.get("value"))
    return _text(value)


def _entity_text(entity: Any) -> str:
    """``ACME Ltd. (reg-id https://acme.example; roles: manifest-creator)`` from the
    named entity of ``describe`` (``rmtool.verify.corim.realm.entity_json``)."""
    if not isinstance(entity, Mapping) or "entity-name" not in entity:
        return json.dumps(entity)
    text = _text(entity["entity-name"])
    extra = []
    if entity.get("reg-id") is not None:
        extra.append(f"reg-id {_uri(entity['reg-id'])}")
    roles = entity.get("roles")
    if isinstance(roles, list):
        extra.append("roles: " + (", ".join(_text(r) for r in roles) or "none"))
    rest = {k: v for k, v in entity.items() if k not in ("entity-name", "reg-id", "roles")}
    if rest:
        extra.append(json.dumps(rest))
    return text + (f" ({'; '.join(extra)})" if extra else "")


def _validity_text(validity: Any) -> str:
    """validity-map (0 not-before, 1 not-after) as ``not before X, not after Y``."""
    if not isinstance(validity, Mapping):
        return json.dumps(validity)
    keys = (("0", "not before"), (0, "not before"), ("1", "not after"), (1, "not after"))
    parts = [f"{name} {_text(validity[k])}" for k, name in keys if k in validity]
    return ", ".join(parts) or json.dumps(validity)


def _locator_text(locator: Any) -> str:
    """corim-locator-map (0 href, 1 thumbprint)."""
    if not isinstance(locator, Mapping):
        return json.dumps(locator)
    href = locator.get("0", locator.get(0))
    thumb = locator.get("1", locator.get(1))
    text = f"href {_uri(href)}" if href is not None else json.dumps(locator)
    if isinstance(thumb, list) and len(thumb) == 2 and isinstance(thumb[0], int):
        return text + (f", thumbprint {hash_algo_name(thumb[0]) or thumb[0]}:"
                       f"{_text(thumb[1])}")
    return text + (f", thumbprint {json.dumps(thumb)}" if thumb is not None else "")


def _meta_text(meta: Any) -> str:
    """corim-meta-map (0 signer {0 signer-name, 1 signer-uri}, 1 signature-validity)."""
    if not isinstance(meta, Mapping):
        return json.dumps(meta)
    signer = meta.get("0", meta.get(0))
    parts = []
    if isinstance(signer, Mapping):
        name = signer.get("0", signer.get(0))
        uri = signer.get("1", signer.get(1))
        parts.append(f"signer {_text(name)}" + (f" ({_uri(uri)})" if uri is not None else ""))
    validity = meta.get("1", meta.get(1))
    if validity is not None:
        parts.append(f"signature validity: {_validity_text(validity)}")
    return "; ".join(parts) or json.dumps(meta)


@corim.command("lint")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cddl", "cddl_dir", type=click.Path(),
              help="Folder with the IETF CoRIM CDDL (ietf-corim/, eat-measured-component/); "
                   "default $RMTOOL_CORIM_CDDL.")
@output_format(FORMAT_HELP)
@click.pass_context
def lint_cmd(ctx: click.Context, file: str, cddl_dir: str | None,
             output_format: OutputFormat) -> None:
    """Check FILE against the CCA realm profile and the CoRIM CDDL (exit 0 / 1 / 2)."""
    try:
        data = _read(file, "file")
        with _named(file, data):
            findings = lint(data, cddl_dir=cddl_dir)
    except InputFileError as exc:
        raise CorimError(exc.message, field=exc.field) from None
    bad = has_errors(findings)
    if output_format.structured:
        msgs = Messages()
        for f in findings:
            where = f.path or f.rule
            if f.severity == "error":
                msgs.error(f.message, field=where, offset=f.offset, echo=False)
            else:
                msgs.warn(f.message, field=where, echo=False)
        emit("corim-lint", {"file": file, "valid": not bad,
                            "findings": [f.to_json() for f in findings]},
             output_format.fmt, msgs)
    else:
        if findings:
            click.echo(tabulate([[f.severity, f.rule, f.message, f.path] for f in findings],
                                headers=["severity", "rule", "message", "where"]))
        click.echo(f"{file}: {'INVALID' if bad else 'valid'}")
    if bad:
        ctx.exit(1)




@corim.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", type=click.Path(dir_okay=False),
              help="Public (or private) key: PEM, DER or JWK.")
@click.option("--cert", type=click.Path(dir_okay=False),
              help="Signer certificate (PEM or DER); its key verifies the signature.")
@output_format(FORMAT_HELP)
@click.pass_context
def verify_cmd(ctx: click.Context, file: str, key: str | None, cert: str | None,
               output_format: OutputFormat) -> None:
    """Verify the COSE_Sign1 signature of the signed CoRIM in FILE (exit 0 / 1 / 2)."""
    from rmtool.verify import cose
    from rmtool.verify.appraise.signed_corim import (
        certificate_key,
        load_certificate,
        verify_signed_corim,
    )

    if (key is None) == (cert is None):
        raise UsageError("give exactly one of --key KEY and --cert CERT", field="key")
    certificate = None
    if cert is not None:
        certificate = load_certificate(_read(cert, "key"), cert)
        public: cose.PublicKey | cose.PrivateKey = certificate_key(certificate)
    else:
        assert key is not None
        public = cose.load_any_key_bytes(_read(key, "key"), key, UsageError)
    data = _read(file, "file")
    with _named(file, data):
        kind = decode(data).kind
        if kind != "signed-corim":
            raise UsageError(f"{file} is {_KIND_NAMES.get(kind, kind)}: nothing to verify "
                             "(corim verify checks a signed CoRIM)", field="file")
        result = verify_signed_corim(data, public, certificate)
    if output_format.structured:
        msgs = Messages()
        if not result.valid:
            msgs.error(result.reason, field="signature", echo=False)
        emit("corim-verify", {"file": file, **result.to_json()}, output_format.fmt, msgs)
    else:
        click.echo(f"alg: {result.alg or '-'}")
        click.echo(f"signer: {result.signer or '-'}")
        if result.x5chain_leaf_matches is not None:
            click.echo("x5chain leaf: " + ("the given certificate" if result.x5chain_leaf_matches
                                           else "a different certificate"))
        click.echo(f"{file}: {'VALID' if result.valid else 'INVALID'} ({result.reason})")
    if not result.valid:
        ctx.exit(1)


@corim.command("submit")
@click.argument("file", type=click.Path(dir_okay=False))
@submit_options
@output_format(FORMAT_HELP)
@click.pass_context
def submit(ctx: click.Context, file: str, settings: SubmitSettings,
           output_format: OutputFormat) -> None:
    """POST FILE to a Veraison provisioning service (exit 0 accepted, 1 refused / network
    failure / no answer within --timeout, 2 bad arguments or unreadable FILE)."""
    o = settings
    deadline = Deadline(o.timeout)
    password = _secret(ctx, "password", o.password, o.password_file)
    client_secret = _secret(ctx, "client_secret", o.client_secret, o.client_secret_file)
    data = read_bounded(file, LIMITS["corim"], "CoRIM")
    mt = o.media_type or corim_lib.media_type_for(data)
    if not o.no_lint:
        errors = [f for f in lint(data, use_env=False) if f.severity == "error"]
        if errors:
            for f in errors:
                click.echo(str(f), err=True)
            click.echo(f"ERROR {file} would be rejected; not submitted (use --no-lint to "
                       "submit anyway)", err=True)
            ctx.exit(1)
    auth = AuthConfig(method=o.auth_method, username=o.username, password=password,
                      client_id=o.client_id, client_secret=client_secret,
                      token_url=o.token_url, scopes=list(o.scopes))
    verify: bool | str = False if o.insecure else (o.ca_cert or True)
    result = submit_corim(data, o.api_server, mt, auth=auth, verify=verify, deadline=deadline)
    if output_format.structured:
        msgs = Messages()
        if not result.ok:
            msgs.error(result.failure_reason or result.detail
                       or f"HTTP {result.http_status} from {result.url}",
                       field="submission", echo=False)
        emit("corim-submit", result.to_json(), output_format.fmt, msgs)
    elif result.ok:
        click.echo(f"submitted {file} to {result.url} ({mt}): {result.status}")
    if result.ok:
        return
    if not output_format.structured:
        if result.http_status == 415:
            click.echo(f"ERROR the server does not accept {mt} (HTTP 415); it accepts: "
                       + (", ".join(result.accept) or "(no Accept header)"), err=True)
        elif result.status == "failed":
            click.echo(f"ERROR provisioning failed: {result.failure_reason or '(no reason)'}",
                       err=True)
        else:
            click.echo(f"ERROR HTTP {result.http_status} from {result.url}"
                       + (f": {result.detail}" if result.detail else "")
                       + (f" (status {result.status})" if result.status else ""), err=True)
    ctx.exit(1)


def _secret(ctx: click.Context, name: str, value: str | None, path: str | None) -> str | None:
    """A password / client secret from its file, its environment variable or the command
    line (in that order of preference; a value on the command line is visible in ps)."""
    option = "--" + name.replace("_", "-")
    source = ctx.get_parameter_source(name)
    if path is not None:
        if value is not None and source == click.core.ParameterSource.COMMANDLINE:
            raise UsageError(f"give either {option} or {option}-file, not both",
                             field=name.replace("_", "-"))
        raw = read_bounded(path, LIMITS["key"], f"{option[2:]} file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputFileError(f"{option[2:]} file {path} is not UTF-8 text",
                                 field=name.replace("_", "-")) from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise InputFileError(f"{option[2:]} file {path} is empty",
                                 field=name.replace("_", "-"))
        return lines[0]
    if value is not None and source == click.core.ParameterSource.COMMANDLINE:
        env = PASSWORD_ENV if name == "password" else CLIENT_SECRET_ENV
        click.echo(f"WARN {option} on the command line is visible to other users (ps); "
                   f"use {option}-file or ${env}", err=True)
    return value
