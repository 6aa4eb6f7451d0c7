"""Trust anchors and reference values of the CCA endorsement profiles, read from CoRIMs.

Follows the CCA endorsement profiles as veraison/corim implements them
(``profiles/cca/platform.go`` for ``tag:arm.com,2025:cca_platform#1.0.0``,
``profiles/cca/realm.go`` for ``tag:arm.com,2025:cca_realm#1.0.0``, with the identifier
rules of ``profiles/psa/psa.go``) and the earlier encodings of Veraison's arm-cca scheme
(``http://arm.com/cca/ssd/1``: psa-refval-id #6.601 mkeys and cca-platform-config-id #6.602;
``http://arm.com/cca/realm/1``: the RIM as instance-id and integrity registers), as in the
end-to-end inputs of veraison/services (``end-to-end/input/cca-endorsements.cbor``).

* platform reference triples: environment ``{class: {class-id: #6.560(implementation id)}}``,
  measurements ``cca.software-component`` (digests, name = measurement type, version,
  cryptokeys = [#6.560(signer id)]) and ``cca.platform-config`` (raw-value, raw-value-mask);
* attest-key triples: ``{class: {class-id: implementation id}, instance: #6.550(UEID)}`` with
  one ``#6.554`` PEM public key (the CPAK);
* realm reference triples: read by :mod:`rmtool.verify.corim.realm` and checked by
  :mod:`rmtool.verify.corim._lint` (the one CoRIM model of rmtool: envelopes by
  :mod:`rmtool.verify.corim._model`, CBOR by :mod:`rmtool.verify._cbor`).

A CoRIM that breaks its profile is refused (``CorimError``, exit 2) with the reason
veraison/corim gives, so that a search for the message finds upstream's check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from rmtool.errors import CorimError
from rmtool.verify import cose
from rmtool.verify.corim import realm as corim_realm
from rmtool.verify.corim._lint import lint
from rmtool.verify.corim._model import (
    TAG_BYTES,
    TAG_UEID,
    DecodedCorim,
    decode,
    hash_algo_name,
    id_type,
    is_map,
    is_tag,
    profile_text,
)

PLATFORM_PROFILE = "tag:arm.com,2025:cca_platform#1.0.0"
REALM_PROFILE = corim_realm.REALM_PROFILE
LEGACY_PLATFORM_PROFILE = "http://arm.com/cca/ssd/1"
LEGACY_REALM_PROFILE = corim_realm.LEGACY_REALM_PROFILE
PROFILES = (PLATFORM_PROFILE, REALM_PROFILE, LEGACY_PLATFORM_PROFILE, LEGACY_REALM_PROFILE)

MKEY_SW_COMPONENT = "cca.software-component"
MKEY_PLATFORM_CONFIG = "cca.platform-config"
TAG_PSA_IMPL_ID = 600       # tagged-implementation-id-type (older PSA / CCA profiles)
TAG_PSA_REFVAL_ID = 601     # psa-refval-id {1: label, 4: version, 5: signer-id}
TAG_CCA_CONFIG_ID = 602     # cca-platform-config-id (text)
TAG_PKIX_KEY = 554
IMPL_ID_SIZE = 32
INSTANCE_ID_SIZE = 33
DIGEST_SIZES = (32, 48, 64)
# crypto-key-type-choice tags (draft-ietf-rats-corim), named as veraison/corim names them.
KEY_TYPES = {554: "pkix-base64-key", 555: "pkix-base64-cert", 556: "pkix-base64-cert-path",
             557: "key-thumbprint", 558: "cose-key", 559: "cert-thumbprint",
             561: "cert-path-thumbprint", 562: "pkix-asn1der-cert", 560: "bytes"}


@dataclass(frozen=True)
class TrustAnchor:
    """A CPAK endorsed for one platform instance (an attest-key triple)."""

    implementation_id: bytes
    instance_id: bytes
    key: cose.PublicKey
    source: str

    def key_pem(self) -> str:
        return self.key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def identity(self) -> tuple[bytes, bytes, str]:
        return self.implementation_id, self.instance_id, self.key_pem()


@dataclass(frozen=True)
class SwComponentRef:
    """A reference value for one platform software component."""

    label: str | None
    version: str | None
    signer_id: bytes | None
    digests: tuple[tuple[str | None, bytes], ...]
    source: str

    def describe(self) -> str:
        digest = self.digests[0][1].hex()[:8] + "…" if self.digests else "-"
        return (f"{self.label or '(no type)'} version {self.version or '(any)'} "
                f"digest {digest}")


@dataclass
class PlatformReference:
    """The platform reference values of one reference triple (one implementation id)."""

    implementation_id: bytes
    components: list[SwComponentRef] = field(default_factory=list)
    config: bytes | None = None
    config_mask: bytes | None = None
    source: str = ""


@dataclass
class RealmReference:
    """The realm reference values of one reference triple, and the id a store files it by
    (the class-id RIM of the current profile, the instance-id of realm/1)."""

    values: corim_realm.RealmReferenceValues
    lookup_id: bytes | None
    source: str


@dataclass
class Endorsements:
    """Everything the CoRIMs given to ``appraise`` endorse."""

    trust_anchors: list[TrustAnchor] = field(default_factory=list)
    platform: list[PlatformReference] = field(default_factory=list)
    realms: list[RealmReference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: Endorsements) -> None:
        self.trust_anchors.extend(other.trust_anchors)
        self.platform.extend(other.platform)
        self.realms.extend(other.realms)
        self.notes.extend(other.notes)


# ---------------------------------------------------------------- identifiers

def _impl_id(env: Any, where: str) -> bytes:
    """The implementation id of an environment (profiles/psa/psa.go ValidateImplementationID)."""
    cls = env.get(0) if is_map(env) else None
    if not is_map(cls):
        raise CorimError(f"{where}: environment.class is required", field="triples")
    if 0 not in cls:
        raise CorimError(f"{where}: environment.class.id (implementation-id) is required",
                         field="triples")
    cid = cls[0]
    if is_tag(cid, TAG_PSA_IMPL_ID) and isinstance(cid.value, bytes):
        value = bytes(cid.value)
    elif is_tag(cid, TAG_BYTES) and isinstance(cid.value, bytes):
        value = bytes(cid.value)
    else:
        raise CorimError(f"{where}: implementation-id must be of type 'bytes', got "
                         f"'{id_type(cid)}'", field="triples")
    if len(value) != IMPL_ID_SIZE:
        raise CorimError(f"{where}: implementation-id must be exactly 32 bytes (got "
                         f"{len(value)})", field="triples")
    return value


def _instance_id(env: Mapping[Any, Any], where: str) -> bytes:
    """The instance id of a trust anchor (profiles/psa/psa.go ValidateInstanceID)."""
    inst = env.get(1)
    if inst is None:
        raise CorimError(f"{where}: environment.instance (instance-id) is required",
                         field="triples")
    if not (is_tag(inst, TAG_UEID) and isinstance(inst.value, bytes)):
        raise CorimError(f"{where}: instance-id must be of type 'ueid', got "
                         f"'{id_type(inst)}'", field="triples")
    value = bytes(inst.value)
    if len(value) != INSTANCE_ID_SIZE:
        raise CorimError(f"{where}: instance-id must be exactly 33 bytes (got {len(value)})",
                         field="triples")
    if value[0] != 0x01:
        raise CorimError(f"{where}: instance-id must have RAND type (0x01), got "
                         f"0x{value[0]:02x}", field="triples")
    return value


def _key_type(key: Any) -> str:
    if is_tag(key):
        return KEY_TYPES.get(key.tag, f"tag {key.tag}")
    return id_type(key)


def _cpak(keys: Any, where: str) -> cose.PublicKey:
    """The one CPAK of an attest-key triple (profiles/cca/platform.go)."""
    if not isinstance(keys, list):
        raise CorimError(f"{where}: verification-keys is not an array", field="triples")
    if len(keys) != 1:
        raise CorimError(f"{where}: verification-keys must contain exactly one entry, got "
                         f"{len(keys)}", field="triples")
    key = keys[0]
    if not (is_tag(key, TAG_PKIX_KEY) and isinstance(key.value, str)):
        raise CorimError(f"{where}: verification-key must be of type 'pkix-base64-key', got "
                         f"'{_key_type(key)}'", field="triples")
    text = key.value.strip()
    if not text.startswith("-----BEGIN"):
        text = f"-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----"
    loaded = cose.load_any_key_bytes(text.encode(), where, CorimError)
    return cose.public_of(loaded)


# ---------------------------------------------------------------- measurements

def _digests(mval: Mapping[Any, Any], where: str) -> tuple[tuple[str | None, bytes], ...]:
    digests = mval.get(2)
    if digests is None:
        raise CorimError(f"{where}: digests field is mandatory but not set", field="triples")
    if not isinstance(digests, list) or not digests:
        raise CorimError(f"{where}: digests must contain at least one entry", field="triples")
    out: list[tuple[str | None, bytes]] = []
    for i, d in enumerate(digests):
        if not isinstance(d, list) or len(d) != 2 or not isinstance(d[1], bytes):
            raise CorimError(f"{where}: digest at index {i} is not [alg, bytes]", field="triples")
        if len(d[1]) not in DIGEST_SIZES:
            raise CorimError(f"{where}: digest at index {i}: wrong hash digest size "
                             f"({len(d[1])} bytes; 32, 48 or 64 expected)", field="triples")
        out.append((hash_algo_name(d[0]), bytes(d[1])))
    return tuple(out)


def _signer_id(mval: Mapping[Any, Any], where: str) -> bytes:
    keys = mval.get(13)
    if keys is None:
        raise CorimError(f"{where}: cryptokeys (signer-id) is mandatory but not set",
                         field="triples")
    if not isinstance(keys, list) or len(keys) != 1:
        n = len(keys) if isinstance(keys, list) else 0
        raise CorimError(f"{where}: cryptokeys must contain exactly one entry, got {n}",
                         field="triples")
    key = keys[0]
    if not (is_tag(key, TAG_BYTES) and isinstance(key.value, bytes)):
        raise CorimError(f"{where}: cryptokeys (signer-id) must be of type 'bytes', got "
                         f"'{_key_type(key)}'", field="triples")
    if len(key.value) not in DIGEST_SIZES:
        raise CorimError(f"{where}: cryptokeys (signer-id) must be 32, 48 or 64 bytes (got "
                         f"{len(key.value)})", field="triples")
    return bytes(key.value)


def _version(mval: Mapping[Any, Any], where: str, *, scheme_allowed: bool) -> str | None:
    ver = mval.get(0)
    if ver is None:
        return None
    if not is_map(ver) or not isinstance(ver.get(0), str):
        raise CorimError(f"{where}: version is not a version-map with a text version",
                         field="triples")
    if 1 in ver and not scheme_allowed:
        raise CorimError(f"{where}: version-scheme field MUST NOT be present in "
                         f"{MKEY_SW_COMPONENT}", field="triples")
    return str(ver[0])


def _raw_bytes(value: Any) -> bytes | None:
    if is_tag(value, TAG_BYTES) and isinstance(value.value, bytes):
        return bytes(value.value)
    if isinstance(value, bytes):
        return bytes(value)
    return None


def _mkey(m: Any, j: int, where: str) -> Any:
    if not is_map(m) or not is_map(m.get(1)):
        raise CorimError(f"{where}: measurement at index {j} has no measurement values map",
                         field="triples")
    mkey = m.get(0)
    if mkey is None:
        raise CorimError(f"{where}: measurement at index {j}: mkey is mandatory but not set",
                         field="triples")
    return mkey


def _platform_triple(triple: Any, where: str, *, legacy: bool) -> PlatformReference:
    """One platform reference triple (profiles/cca/platform.go
    validateCCAPlatformReferenceValue; legacy: psa-refval-id mkeys)."""
    if not isinstance(triple, list) or len(triple) != 2 or not isinstance(triple[1], list):
        raise CorimError(f"{where}: reference triple is not [environment, [+ measurement]]",
                         field="triples")
    env, meas = triple
    ref = PlatformReference(_impl_id(env, f"{where}: environment"), source=where)
    if legacy and env.get(1) is not None:
        raise CorimError(f"{where}: environment: platform reference values are endorsed per "
                         "implementation (class); an instance-id is not allowed",
                         field="triples")
    configs = 0
    for j, m in enumerate(meas):
        mkey = _mkey(m, j, where)
        mval = m[1]
        w = f"{where}: measurement at index {j}"
        if legacy and is_tag(mkey, TAG_PSA_REFVAL_ID) and is_map(mkey.value):
            ident = mkey.value
            signer = ident.get(5)
            ref.components.append(SwComponentRef(
                label=ident.get(1) if isinstance(ident.get(1), str) else None,
                version=ident.get(4) if isinstance(ident.get(4), str) else None,
                signer_id=bytes(signer) if isinstance(signer, bytes) else None,
                digests=_digests(mval, w), source=f"{where}.measurements[{j}]"))
            continue
        if legacy and is_tag(mkey, TAG_CCA_CONFIG_ID):
            kind = MKEY_PLATFORM_CONFIG
        elif not isinstance(mkey, str):
            raise CorimError(f"{w}: mkey must be of type 'string', got '{id_type(mkey)}'",
                             field="triples")
        else:
            kind = mkey
        if kind == MKEY_SW_COMPONENT:
            digests = _digests(mval, w)
            signer = _signer_id(mval, w)
            version = _version(mval, w, scheme_allowed=False)
            name = mval.get(11)
            ref.components.append(SwComponentRef(
                label=name if isinstance(name, str) else None, version=version,
                signer_id=signer, digests=digests, source=f"{where}.measurements[{j}]"))
        elif kind == MKEY_PLATFORM_CONFIG:
            configs += 1
            if configs > 1:
                raise CorimError(f"{where}: only one platform-config measurement allowed per "
                                 f"triple, found {configs}", field="triples")
            raw = _raw_bytes(mval.get(4))
            if raw is None:
                raise CorimError(f"{w}: raw-value is mandatory for {MKEY_PLATFORM_CONFIG}",
                                 field="triples")
            if not legacy and mval.get(5) is None:
                raise CorimError(f"{w}: raw-value-mask is mandatory for "
                                 f"{MKEY_PLATFORM_CONFIG}", field="triples")
            ref.config = raw
            ref.config_mask = _raw_bytes(mval.get(5))
        else:
            raise CorimError(f"{w}: invalid mkey {kind!r}, expected {MKEY_SW_COMPONENT!r} or "
                             f"{MKEY_PLATFORM_CONFIG!r}".replace("'", '"'), field="triples")
    if not ref.components:
        raise CorimError(f"{where}: at least one software component measurement is required",
                         field="triples")
    return ref


def _trust_anchor(triple: Any, where: str) -> TrustAnchor:
    """One attest-key triple (profiles/cca/platform.go validateCCAPlatformAttestVerifKey)."""
    if not isinstance(triple, list) or len(triple) < 2 or not is_map(triple[0]):
        raise CorimError(f"{where}: attest-key triple is not [environment, [+ key]]",
                         field="triples")
    env = triple[0]
    impl = _impl_id(env, f"{where}: environment")
    inst = _instance_id(env, f"{where}: environment")
    return TrustAnchor(impl, inst, _cpak(triple[1], where), where)


# ---------------------------------------------------------------- CoRIMs

def _platform(dec: DecodedCorim, name: str, legacy: bool) -> Endorsements:
    out = Endorsements()
    for tag in dec.comids:
        triples = tag.comid.get(4)
        if not is_map(triples):
            raise CorimError(f"{name}: tags[{tag.index}]: CoMID has no triples map",
                             field="triples")
        refs, keys = triples.get(0), triples.get(3)
        if refs is None and keys is None:
            raise CorimError(f"{name}: tags[{tag.index}]: no reference values or trust "
                             "anchors in CoMID triples", field="triples")
        for key, value in ((0, refs), (3, keys)):
            if value is not None and not isinstance(value, list):
                raise CorimError(f"{name}: tags[{tag.index}]: triples key {key} is not an "
                                 "array", field="triples")
        for i, t in enumerate(refs if isinstance(refs, list) else []):
            w = f"{name} tags[{tag.index}] platform reference value at index {i}"
            out.platform.append(_platform_triple(t, w, legacy=legacy))
        for i, t in enumerate(keys if isinstance(keys, list) else []):
            w = f"{name} tags[{tag.index}] platform attestation verification key at index {i}"
            out.trust_anchors.append(_trust_anchor(t, w))
    return out


def _realm(data: bytes, dec: DecodedCorim, name: str, legacy: bool) -> Endorsements:
    if not legacy:
        errors = [f.message for f in lint(data, use_env=False)
                  if f.severity == "error" and f.rule.startswith(("realm.", "comid."))]
        if errors:
            raise CorimError(f"{name}: realm reference values refused: {'; '.join(errors)}",
                             field="reference-triples")
    out = Endorsements()
    for rv in corim_realm.realms_from_decoded(dec):
        where = f"{name} tags[{rv.tag_index}] realm reference value at index {rv.triple_index}"
        if rv.rim is None:
            raise CorimError(f"{where}: RIM (cca.rim) measurement is mandatory but not found",
                             field="reference-triples")
        lookup = rv.instance if legacy else rv.class_id
        out.realms.append(RealmReference(rv, lookup, where))
        out.notes.extend(f"{where}: {n}" for n in rv.notes)
    if not out.realms:
        raise CorimError(f"{name}: no realm reference values in a {dec.kind} with the realm "
                         "profile", field="reference-triples")
    return out


def endorsements_from_bytes(data: bytes, name: str = "CoRIM") -> Endorsements:
    """Trust anchors and reference values of one CoRIM (signed or not) in a CCA profile."""
    if data.lstrip()[:1] in (b"{", b"["):
        raise CorimError(f"{name}: appraise reads CBOR CoRIMs; this is JSON (make a CoRIM "
                         "with rmtool corim create or cocli)", field="file", offset=0)
    dec = decode(data)
    if dec.kind == "comid" or dec.corim is None:
        raise CorimError(f"{name}: a bare CoMID has no profile; wrap it in a CoRIM with "
                         f"profile {PLATFORM_PROFILE} or {REALM_PROFILE}", field="file")
    profile = profile_text(dec.corim.get(3))
    if profile is None:
        raise CorimError(f"{name}: CoRIM has no profile (3); Veraison selects the arm-cca "
                         f"scheme by profile ({PLATFORM_PROFILE}, {REALM_PROFILE})",
                         field="corim.profile")
    if profile not in PROFILES:
        raise CorimError(f"{name}: profile {profile} is not a CCA endorsement profile "
                         f"({', '.join(PROFILES)})", field="corim.profile")
    if profile in (PLATFORM_PROFILE, LEGACY_PLATFORM_PROFILE):
        out = _platform(dec, name, legacy=profile == LEGACY_PLATFORM_PROFILE)
    else:
        out = _realm(data, dec, name, legacy=profile == LEGACY_REALM_PROFILE)
    if profile in (LEGACY_PLATFORM_PROFILE, LEGACY_REALM_PROFILE):
        out.notes.append(f"{name}: profile {profile} is the earlier encoding; current "
                         "Veraison accepts only the 2025 CCA profiles")
    if dec.kind == "signed-corim":
        out.notes.append(f"{name}: signed CoRIM; its signature is not checked here "
                         "(rmtool corim verify)")
    return out


def load_endorsements(paths: Sequence[str | Path]) -> Endorsements:
    """All endorsements in the CoRIM files ``paths`` (each read with ``read_bounded``)."""
    out = Endorsements()
    for path in paths:
        out.extend(endorsements_from_bytes(corim_realm.read_input(path), Path(path).name))
    return out


def unique_trust_anchors(anchors: Iterable[TrustAnchor]) -> list[TrustAnchor]:
    """Trust anchors with duplicates (same ids and key, e.g. one CoRIM given twice) removed."""
    seen: set[tuple[bytes, bytes, str]] = set()
    out: list[TrustAnchor] = []
    for ta in anchors:
        if ta.identity() not in seen:
            seen.add(ta.identity())
            out.append(ta)
    return out

