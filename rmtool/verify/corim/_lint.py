"""Lint a CoRIM against the CCA realm profile and the IETF CoRIM CDDL.

Profile rules follow veraison/corim ``profiles/cca/realm.go`` (the checks Veraison's
provisioning service runs for ``tag:arm.com,2025:cca_realm#1.0.0``; messages are worded as
upstream's so they can be searched) plus rmtool's own checks: the rule ids
``realm.rim-class-mismatch``, ``realm.digest-alg``, ``realm.rpv-type``, ``realm.rpv-size``,
``realm.instance``, ``realm.mkey-duplicate``, ``realm.hash-mixed`` and the envelope rules.

The CDDL check assembles draft-ietf-rats-corim's fragments (``ietf-corim/*.cddl``, in the order
of the draft's Makefile) with the ``eatmc`` import (eat-measured-component) and validates with
cddl-verifier.  The CDDL text is never bundled: it is read from a directory given by the
caller (``--cddl DIR`` or ``$RMTOOL_CORIM_CDDL``).  Without it only the profile rules run and
an ``info`` finding says so.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rmtool import _hashalgo as hashalgo
from rmtool.errors import CorimError
from rmtool.verify.corim._model import (
    CORIM_CONTENT_TYPE,
    CORIM_META,
    COSE_ALG,
    COSE_CONTENT_TYPE,
    COSE_X5CHAIN,
    CWT_CLAIMS,
    HASH_SIZES,
    TAG_URI,
    DecodedCorim,
    decode,
    hash_algo_name,
    id_type,
    is_map,
    is_tag,
    loads,
    profile_text,
    tagged_bytes_value,
)

REALM_PROFILE = "tag:arm.com,2025:cca_realm#1.0.0"
LEGACY_REALM_PROFILE = "http://arm.com/cca/realm/1"
MKEY_RIM = "cca.rim"
MKEY_REMS = ("cca.rem0", "cca.rem1", "cca.rem2", "cca.rem3")
MKEY_RPV = "cca.rpv"
DIGEST_SIZES = tuple(HASH_SIZES.values())  # Realm Hash Algorithm sizes (rmtool._hashalgo)
# "sha-256 (1), sha-384 (7) or sha-512 (8)": the Realm algorithms' RFC 6920 names and ids
*_head, _last = (f"{a.ni_name} ({a.ni_id})" for a in hashalgo.REALM)
_REALM_DIGEST_ALGS = f"{', '.join(_head)} or {_last}"
CDDL_ENV = "RMTOOL_CORIM_CDDL"

# Fragment order of draft-ietf-rats-corim's cddl/Makefile (CORIM_FRAGS then COMID_FRAGS).
CORIM_FRAGS = (
    "corim.cddl", "concise-tl-tag.cddl", "concise-tag-type-choice.cddl",
    "corim-entity-map.cddl", "corim-id-type-choice.cddl", "corim-locator-map.cddl",
    "corim-map.cddl", "corim-meta-map.cddl", "corim-role-type-choice.cddl",
    "corim-signer-map.cddl", "cose-sign1-corim.cddl", "profile-type-choice.cddl",
    "cwt-claims.cddl", "protected-corim-header-map.cddl", "signed-corim.cddl",
    "tagged-concise-swid-tag.cddl", "tagged-concise-mid-tag.cddl", "tagged-concise-tl-tag.cddl",
    "tagged-unsigned-corim-map.cddl", "unprotected-corim-header-map.cddl", "validity-map.cddl",
)
COMID_FRAGS = (
    "concise-mid-tag.cddl", "attest-key-triple-record.cddl", "class-id-type-choice.cddl",
    "class-map.cddl", "comid-entity-map.cddl", "comid-role-type-choice.cddl",
    "conditional-endorsement-series-triple-record.cddl", "conditional-series-record.cddl",
    "cose-key.cddl", "cose-label-and-value.cddl", "coswid-triple-record.cddl",
    "crypto-key-type-choice.cddl", "trust-dependency-triple-record.cddl",
    "domain-membership-triple-record.cddl", "conditional-endorsement-triple-record.cddl",
    "domain-type.cddl", "endorsed-triple-record.cddl", "entity-map.cddl",
    "entity-name-type-choice.cddl", "environment-map.cddl", "flags-map.cddl",
    "group-id-type-choice.cddl", "identity-triple-record.cddl", "instance-id-type-choice.cddl",
    "ip-addr-type-choice.cddl", "int-range-type-choice.cddl", "linked-tag-map.cddl",
    "mac-addr-type-choice.cddl", "measured-element-type-choice.cddl", "measurement-map.cddl",
    "measurement-values-map.cddl", "non-empty.cddl", "oid.cddl", "raw-value.cddl",
    "tagged-masked-raw-value.cddl", "reference-triple-record.cddl",
    "stateful-environment-record.cddl", "svn-type-choice.cddl", "tag-id-type-choice.cddl",
    "tag-identity-map.cddl", "tag-rel-type-choice.cddl", "tag-version-type.cddl",
    "tagged-bytes.cddl", "triples-map.cddl", "ueid.cddl", "uuid.cddl", "version-map.cddl",
    "digest.cddl", "integrity-registers.cddl", "psa-sac-ext.cddl",
)
# eat-measured-component fragments that define eatmc.digest (what CoRIM imports).
EATMC_FRAGS = ("digest.cddl", "common-types.cddl", "rfc9711.cddl")


@dataclass(frozen=True)
class LintFinding:
    """One lint result: severity "error" (fails lint), "warning" or "info"."""

    severity: str
    rule: str
    message: str
    path: str = ""
    offset: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        off = f" (offset {self.offset:#x})" if self.offset is not None else ""
        return f"{self.severity.upper()} [{self.rule}] {self.message}{where}{off}"


class _Collector:
    def __init__(self) -> None:
        self.findings: list[LintFinding] = []

    def error(self, rule: str, message: str, path: str = "", offset: int | None = None) -> None:
        self.findings.append(LintFinding("error", rule, message, path, offset))

    def warn(self, rule: str, message: str, path: str = "") -> None:
        self.findings.append(LintFinding("warning", rule, message, path))

    def info(self, rule: str, message: str, path: str = "") -> None:
        self.findings.append(LintFinding("info", rule, message, path))


# ---------------------------------------------------------------- envelope rules

def _check_signed(dec: DecodedCorim, out: _Collector) -> None:
    prot = dec.protected or {}
    if COSE_ALG not in prot:
        out.error("signed.alg", "protected header has no alg (1)", "protected")
    ct = prot.get(COSE_CONTENT_TYPE)
    if ct != CORIM_CONTENT_TYPE:
        out.error("signed.content-type",
                  f"protected content-type (3) is {ct!r}; Veraison expects "
                  f"{CORIM_CONTENT_TYPE!r}", "protected")
    meta = prot.get(CORIM_META)
    if meta is None and CWT_CLAIMS not in prot:
        out.error("signed.meta", "protected header has neither corim-meta (8) nor "
                  "CWT-Claims (15)", "protected")
    elif meta is not None:
        if not isinstance(meta, bytes):
            out.error("signed.meta", "corim-meta (8) is not a byte string", "protected.8")
        else:
            try:
                m = loads(meta, "corim-meta")
            except CorimError as exc:
                out.error("signed.meta", str(exc), "protected.8")
            else:
                signer = m.get(0) if is_map(m) else None
                if not is_map(signer) or not isinstance(signer.get(0), str):
                    out.error("signed.meta", "corim-meta has no signer name", "protected.8")
    if COSE_X5CHAIN not in prot and COSE_X5CHAIN not in (dec.unprotected or {}):
        out.warn("signed.x5chain", "no x5chain (33): Veraison's provisioning service needs "
                 "the signing certificate to verify a signed CoRIM", "protected")


def _check_corim(dec: DecodedCorim, out: _Collector) -> None:
    corim = dec.corim or {}
    if not dec.corim_tagged:
        out.error("corim.untagged", "corim-map is not wrapped in tag #6.501 (older draft "
                  "encoding; current Veraison rejects it)", "corim")
    if 0 not in corim:
        out.error("corim.id", "corim-map has no id (0)", "corim")
    profile = corim.get(3)
    text = profile_text(profile)
    if profile is None:
        out.error("corim.profile-missing",
                  f"profile (3) is not set; Veraison matches realms by {REALM_PROFILE}",
                  "corim.profile")
    elif text == LEGACY_REALM_PROFILE:
        out.error("corim.profile-legacy",
                  f"profile {text} is the pre-rev10 realm profile Veraison no longer accepts; "
                  f"use {REALM_PROFILE}", "corim.profile")
    elif text != REALM_PROFILE:
        out.error("corim.profile-other",
                  f"profile {text} is not the CCA realm profile {REALM_PROFILE}",
                  "corim.profile")
    elif not is_tag(profile, TAG_URI):
        out.error("corim.profile-encoding",
                  "profile must be a URI tagged #6.32 (got an older-draft encoding)",
                  "corim.profile")
    for i, tag in dec.other_tags:
        out.warn("corim.other-tag", f"tag {tag} is not a CoMID; the realm profile ignores it",
                 f"corim.tags[{i}]")
    for c in dec.comids:
        if c.encoding == "map":
            out.error("corim.tag-encoding", "CoMID #6.506 must hold a byte string "
                      "(bytes .cbor concise-mid-tag), not a map", f"corim.tags[{c.index}]")
    if not dec.comids:
        out.error("corim.no-comid", "CoRIM holds no CoMID (#6.506)", "corim.tags")


# ---------------------------------------------------------------- realm rules

def _check_digest_measurement(mval: Mapping[Any, Any], what: str, path: str,
                              out: _Collector) -> tuple[bytes, str | None] | None:
    digests = mval.get(2)
    if digests is None:
        out.error("realm.digests-missing", f"{what}: digests field is mandatory but not set",
                  path)
        return None
    if not isinstance(digests, list) or not digests:
        out.error("realm.digests-count", f"{what}: digests must contain at least one entry",
                  path)
        return None
    if len(digests) > 1:
        out.error("realm.digests-count",
                  f"{what}: digests must contain exactly one entry, got {len(digests)}", path)
    d = digests[0]
    if not isinstance(d, list) or len(d) != 2 or not isinstance(d[1], bytes):
        out.error("realm.digest-form", f"{what}: digest is not [alg, bytes]", path)
        return None
    value = bytes(d[1])
    if len(value) not in DIGEST_SIZES:
        out.error("realm.digest-size",
                  f"{what}: hash value must be 32, 48, or 64 bytes (got {len(value)})", path)
    algo = hash_algo_name(d[0])
    if algo is None:
        out.error("realm.digest-alg", f"{what}: digest algorithm {d[0]!r} is not "
                  f"{_REALM_DIGEST_ALGS}", path)
    elif len(value) in DIGEST_SIZES and HASH_SIZES[algo] != len(value):
        out.error("realm.digest-alg", f"{what}: {len(value)}-byte value labelled {algo} "
                  f"({HASH_SIZES[algo]} bytes)", path)
    # keys of any CBOR type: integers first, in order, then the others by their repr
    extra = sorted((k for k in mval if k != 2),
                   key=lambda k: (0, k, "") if isinstance(k, int) else (1, 0, repr(k)))
    if extra:
        out.warn("realm.mval-extra", f"{what}: measurement values other than digests are "
                 f"ignored by the profile (keys {extra})", path)
    return value, algo


def _check_rpv(mval: Mapping[Any, Any], path: str, out: _Collector) -> None:
    raw = mval.get(4)
    if raw is None:
        out.error("realm.rpv-missing", "raw-value is mandatory for cca.rpv", path)
        return
    value = tagged_bytes_value(raw)
    if value is None:
        out.error("realm.rpv-type", "cca.rpv raw-value must be tagged-bytes #6.560", path)
        return
    if len(value) != 64:
        out.warn("realm.rpv-size", f"cca.rpv is {len(value)} bytes; a Realm's personalization "
                 "value is 64 bytes and a token carries all 64", path)


def _check_environment(env: Any, path: str, out: _Collector) -> bytes | None:
    if not is_map(env):
        out.error("realm.environment", "environment is not a map", path)
        return None
    if 1 in env:
        out.warn("realm.instance", "environment.instance is set; the current profile "
                 "identifies a Realm by class-id only (instance-id was the legacy "
                 "realm/1 encoding)", f"{path}.instance")
    cls = env.get(0)
    if not is_map(cls):
        out.error("realm.class-missing", "environment.class is required for CCA Realm profile",
                  path)
        return None
    if 0 not in cls:
        out.error("realm.class-id-missing",
                  "environment.class.id (RIM) is required for CCA Realm profile", f"{path}.class")
        return None
    rim = tagged_bytes_value(cls[0])
    if rim is None:
        out.error("realm.class-id-type", f"RIM must be of type 'bytes', got '{id_type(cls[0])}'",
                  f"{path}.class.class-id")
        return None
    if len(rim) not in DIGEST_SIZES:
        out.error("realm.class-id-size", f"RIM must be 32, 48, or 64 bytes (got {len(rim)})",
                  f"{path}.class.class-id")
    return rim


def _check_triple(triple: Any, path: str, out: _Collector) -> None:
    if not isinstance(triple, list) or len(triple) != 2 or not isinstance(triple[1], list):
        out.error("realm.triple", "reference triple is not [environment, [+ measurement]]",
                  path)
        return
    class_rim = _check_environment(triple[0], f"{path}.environment", out)
    seen: set[str] = set()
    rim: bytes | None = None
    algos: set[str] = set()
    for j, m in enumerate(triple[1]):
        mp = f"{path}.measurements[{j}]"
        if not is_map(m) or not is_map(m.get(1)):
            out.error("realm.measurement", f"measurement at index {j} has no mval map", mp)
            continue
        mkey = m.get(0)
        if mkey is None:
            out.error("realm.mkey-missing",
                      f"measurement at index {j}: mkey is mandatory but not set", mp)
            continue
        if not isinstance(mkey, str):
            out.error("realm.mkey-type", f"measurement at index {j}: mkey must be of type "
                      f"'string', got '{id_type(mkey)}'", mp)
            continue
        if mkey not in (MKEY_RIM, *MKEY_REMS, MKEY_RPV):
            out.error("realm.mkey-unknown", f"measurement at index {j}: invalid mkey {mkey!r}, "
                      "expected 'cca.rim', 'cca.rem0'-'cca.rem3', or 'cca.rpv'", mp)
            continue
        if mkey in seen:
            out.error("realm.mkey-duplicate", f"{mkey} appears more than once", mp)
        seen.add(mkey)
        if mkey == MKEY_RPV:
            _check_rpv(m[1], mp, out)
            continue
        got = _check_digest_measurement(m[1], mkey, mp, out)
        if got is not None:
            if got[1]:
                algos.add(got[1])
            if mkey == MKEY_RIM:
                rim = got[0]
    if MKEY_RIM not in seen:
        out.error("realm.rim-missing", "RIM (cca.rim) measurement is mandatory but not found",
                  path)
    if rim is not None and class_rim is not None and rim != class_rim:
        out.error("realm.rim-class-mismatch", "cca.rim digest differs from the class-id RIM; "
                  "Veraison looks the Realm up by class-id, so the token's RIM can never match "
                  "both", path)
    if len(algos) > 1:
        out.warn("realm.hash-mixed", f"registers use several hash algorithms {sorted(algos)}; "
                 "a Realm uses one", path)


def _check_comids(dec: DecodedCorim, out: _Collector) -> None:
    n_refs = 0
    for c in dec.comids:
        base = f"tags[{c.index}]"
        ident = c.comid.get(1)
        if not is_map(ident) or 0 not in ident:
            out.error("comid.tag-identity", "CoMID has no tag-identity with a tag-id", base)
        triples = c.comid.get(4)
        if not is_map(triples):
            out.error("comid.triples", "CoMID has no triples map", base)
            continue
        for k in triples:
            if k != 0:
                out.warn("comid.other-triples", f"triples key {k} is ignored by the realm "
                         "profile (only reference-triples are read)", f"{base}.triples")
        refs = triples.get(0)
        if refs is None:
            continue
        if not isinstance(refs, list):
            out.error("comid.triples", "reference-triples is not an array", base)
            continue
        for i, t in enumerate(refs):
            n_refs += 1
            _check_triple(t, f"{base}.reference-triples[{i}]", out)
    if dec.comids and n_refs == 0:
        out.error("comid.no-reference-triples", "no reference-triples: nothing for a verifier "
                  "to match a Realm against", "tags")


# ---------------------------------------------------------------- CDDL

def find_cddl_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The CDDL directory: *explicit*, else ``$RMTOOL_CORIM_CDDL``, else None."""
    value = explicit if explicit is not None else os.environ.get(CDDL_ENV)
    return Path(value) if value else None


def assemble_corim_cddl(base: Path) -> tuple[str, dict[str, str]]:
    """(schema text, {"measured-component": text}) from a CDDL folder.

    *base* may hold ``ietf-corim/`` and ``eat-measured-component/`` (the corpus layout), be the
    ``ietf-corim`` folder itself (then ``../eat-measured-component``), or be a single assembled
    schema file (``corim-autogen.cddl``) with ``measured-component.cddl`` beside it.
    """
    try:
        if base.is_file():
            text = base.read_text()
            mc = base.parent / "measured-component.cddl"
            return text, ({"measured-component": mc.read_text()} if mc.exists() else {})
        ietf = base / "ietf-corim" if (base / "ietf-corim" / "corim.cddl").exists() else base
        if not (ietf / "corim.cddl").exists():
            raise CorimError(f"{base} holds no corim.cddl (expected the draft-ietf-rats-corim "
                             "fragments or an ietf-corim/ folder)", field="cddl")
        seen: list[str] = []
        for name in (*CORIM_FRAGS, *COMID_FRAGS):
            if name not in seen:
                seen.append(name)
        missing = [n for n in seen if not (ietf / n).exists()]
        if missing:
            raise CorimError(f"CDDL fragments missing in {ietf}: {', '.join(missing[:5])}",
                             field="cddl")
        text = "\n".join((ietf / n).read_text() for n in seen)
        modules: dict[str, str] = {}
        for mc_dir in (base / "eat-measured-component", ietf.parent / "eat-measured-component",
                       ietf):
            if (mc_dir / "measured-component.cddl").exists():
                modules["measured-component"] = (mc_dir / "measured-component.cddl").read_text()
                break
            if all((mc_dir / n).exists() for n in EATMC_FRAGS):
                modules["measured-component"] = "\n".join(
                    (mc_dir / n).read_text() for n in EATMC_FRAGS)
                break
        return text, modules
    except OSError as exc:
        raise CorimError(f"cannot read CDDL from {base}: {exc.strerror or exc}",
                         field="cddl") from None


@functools.lru_cache(maxsize=4)
def _validator(base: str) -> Any:
    import warnings

    import cddl_verifier

    text, modules = assemble_corim_cddl(Path(base))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return cddl_verifier.Validator(text, modules=modules, features={"cbor"})
        except cddl_verifier.SchemaError as exc:
            raise CorimError(f"CDDL in {base} does not parse: {exc}", field="cddl") from None


def cddl_available() -> bool:
    try:
        import cddl_verifier  # noqa: F401
    except ImportError:
        return False
    return True


def check_cddl(data: bytes, root: str, base: Path) -> list[LintFinding]:
    """CDDL findings (errors) for *data* validated as *root* against the schema in *base*."""
    result = _validator(str(base)).validate(data, root)
    out: list[LintFinding] = []
    for d in list(result.diagnostics)[:50]:
        out.append(LintFinding("error", "cddl", str(d.message),
                               str(d.path_text or ""), d.offset))
    return out


# ---------------------------------------------------------------- entry point

def lint(data: bytes, *, cddl_dir: str | os.PathLike[str] | None = None,
         use_env: bool = True) -> list[LintFinding]:
    """All findings for a CoRIM / CoMID; raises CorimError if it cannot be read at all."""
    if data.lstrip()[:1] in (b"{", b"["):
        raise CorimError("lint checks CBOR CoRIMs and CoMIDs; this is JSON (build a CoRIM "
                         "with rmtool corim create --template)", field="file", offset=0)
    dec = decode(data)
    out = _Collector()
    if dec.kind == "signed-corim":
        _check_signed(dec, out)
    if dec.kind == "comid":
        out.info("comid.bare", "bare CoMID: no CoRIM profile to check; wrap it in a CoRIM "
                 "with profile " + REALM_PROFILE + " to submit it")
    else:
        _check_corim(dec, out)
    _check_comids(dec, out)

    base = find_cddl_dir(cddl_dir) if (cddl_dir is not None or use_env) else None
    if base is None:
        out.info("cddl.skipped", "CDDL not checked: no CDDL directory given (--cddl DIR or "
                 f"${CDDL_ENV})")
    elif not cddl_available():
        out.info("cddl.skipped", "CDDL not checked: cddl-verifier is not installed")
    else:
        root = "concise-mid-tag" if dec.kind == "comid" else "corim"
        payload = data
        if dec.kind == "comid" and dec.comids and dec.comids[0].raw is not None:
            payload = dec.comids[0].raw
        out.findings.extend(check_cddl(payload, root, base))
    return out.findings


def has_errors(findings: list[LintFinding]) -> bool:
    return any(f.severity == "error" for f in findings)
