"""Decode and build Arm CCA attestation tokens (draft-ffm-rats-cca-token §3; RMM 1.0 A7.2).

Accepted envelopes:

* tag 399 collection ``{44234: bstr .cbor platform COSE_Sign1, 44241: bstr .cbor realm}``
  (RMM 1.0 / draft-ffm-00);
* tag 907 collection whose entries are CMW records ``[263, bstr COSE_Sign1]`` (newer TF-M);
* a standalone COSE_Sign1 (tag 18) platform (or realm) token;
* the Parsec-CCA wrapper ``{"kat": ..., "pat": <tag 399 collection>}``.

Each nested message is decoded with a fresh bounded decoder (``rmtool.verify._cbor``). The builder
half (``build_realm_token``, ``build_cca_token`` ...) signs claims with test keys, for
tests and demo tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from rmtool._files import read_bounded
from rmtool.errors import TokenError, UsageError
from rmtool.verify import _cbor as cbor
from rmtool.verify import cose
from rmtool.verify.token import _claims as C

TAG_CCA_399 = 399
TAG_CCA_907 = 907
CMW_CONTENT_TYPE = 263  # application/eat+cwt; eat_profile=... (CoAP content-format)

FORMAT_399 = "cca-399"
FORMAT_907 = "cca-907"
FORMAT_UNTAGGED = "cca-untagged"
FORMAT_PARSEC = "parsec-cca"
FORMAT_PLATFORM = "platform-sign1"
FORMAT_REALM = "realm-sign1"


@dataclass
class PlatformToken:
    sign1: cose.Sign1
    claims: C.PlatformClaims
    raw_claims: dict[Any, Any]


@dataclass
class RealmToken:
    sign1: cose.Sign1
    claims: C.RealmClaims
    raw_claims: dict[Any, Any]


@dataclass
class CcaToken:
    format: str
    platform: PlatformToken | None
    realm: RealmToken | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "platform": None, "realm": None}
        if self.platform is not None:
            out["platform"] = {**self.platform.claims.to_json(),
                               "alg": _alg_name(self.platform.sign1)}
        if self.realm is not None:
            realm = self.realm.claims.to_json()
            realm["alg"] = _alg_name(self.realm.sign1)
            realm["public_key_format"] = _rak_format(self.realm.claims.public_key)
            out["realm"] = realm
        return out


def _alg_name(sign1: cose.Sign1) -> str | None:
    alg = sign1.alg_id
    if alg is None:
        return None
    found = cose.ALGORITHMS.get(alg) if isinstance(alg, int) else None
    return found.name if found else str(alg)


def _rak_format(rak: bytes | None) -> str | None:
    if rak is None:
        return None
    try:
        return cose.rak_key(rak)[1]
    except TokenError:
        return "invalid"


# ---------------------------------------------------------------- decoding


def _nested(outer: bytes, inner: bytes, what: str) -> Any:
    """Decode a nested CBOR message, reporting offsets relative to the outer input."""
    return cbor.decode(inner, what, cbor.TOKEN, outer=outer)


def _sign1(outer: bytes, obj: Any, what: str) -> cose.Sign1:
    """COSE_Sign1 whose protected header errors (e.g. a duplicate key) carry outer offsets."""
    return cose.parse_sign1(obj, what, cbor.TOKEN, outer=outer)


def _signed_part(outer: bytes, encoded: bytes, what: str) -> tuple[cose.Sign1, Any]:
    sign1 = _sign1(outer, _nested(outer, encoded, what), what)
    payload = _nested(outer, sign1.payload, f"{what} claims")
    return sign1, payload


def _platform(outer: bytes, encoded: bytes) -> PlatformToken:
    sign1, payload = _signed_part(outer, encoded, "platform token")
    return PlatformToken(sign1, C.parse_platform(payload), payload)


def _realm(outer: bytes, encoded: bytes) -> RealmToken:
    sign1, payload = _signed_part(outer, encoded, "realm token")
    return RealmToken(sign1, C.parse_realm(payload), payload)


def _entry(collection: dict[Any, Any], key: int, name: str, cmw: bool) -> bytes:
    if key not in collection:
        raise TokenError(f"token collection has no {name} token (key {key})", field=name)
    value = collection[key]
    if cmw and isinstance(value, list | tuple):
        if len(value) not in (2, 3) or not isinstance(value[0], int | bytes):
            raise TokenError(f"{name} entry is not a CMW record [type, value]", field=name)
        value = value[1]
    if not isinstance(value, bytes):
        raise TokenError(f"{name} entry must be a byte string holding a COSE_Sign1, found "
                         f"{type(value).__name__}", field=name)
    return value


def _collection(data: bytes, body: Any, fmt: str) -> CcaToken:
    if not isinstance(body, dict):
        raise TokenError(f"{fmt} token collection must be a map, found {type(body).__name__}",
                         field="collection")
    cmw = fmt == FORMAT_907
    platform = _platform(data, _entry(body, C.PLATFORM_KEY, "platform", cmw))
    realm = _realm(data, _entry(body, C.REALM_KEY, "realm", cmw))
    return CcaToken(fmt, platform, realm)


def _is_realm_payload(payload: Any) -> bool:
    return isinstance(payload, dict) and any(
        k in payload for k in (C.R_RIM, C.R_REMS, C.R_PUBLIC_KEY, C.R_HASH_ALGO))


def decode_token(data: bytes) -> CcaToken:
    """Decode any accepted CCA token envelope; malformed input raises TokenError."""
    obj = cbor.loads(data, "token")
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag == TAG_CCA_399:
            return _collection(data, obj.value, FORMAT_399)
        if obj.tag == TAG_CCA_907:
            return _collection(data, obj.value, FORMAT_907)
        if obj.tag == cose.COSE_SIGN1_TAG:
            sign1 = _sign1(data, obj, "token")
            payload = _nested(data, sign1.payload, "token claims")
            if _is_realm_payload(payload):
                return CcaToken(FORMAT_REALM, None,
                                RealmToken(sign1, C.parse_realm(payload), payload))
            return CcaToken(FORMAT_PLATFORM,
                            PlatformToken(sign1, C.parse_platform(payload), payload), None)
        raise TokenError(f"not a CCA token: unexpected CBOR tag {obj.tag} (expected 399, 907 "
                         "or 18)", field="tag", offset=0)
    if isinstance(obj, dict):
        if "pat" in obj:
            pat = obj["pat"]
            if not isinstance(pat, cbor2.CBORTag) or pat.tag != TAG_CCA_399:
                raise TokenError("parsec-cca wrapper: pat is not a tag 399 CCA token",
                                 field="pat")
            token = _collection(data, pat.value, FORMAT_PARSEC)
            return token
        if C.PLATFORM_KEY in obj or C.REALM_KEY in obj:
            return _collection(data, obj, FORMAT_UNTAGGED)
    raise TokenError(f"not a CCA token: top-level {type(obj).__name__} is neither a tag 399/907 "
                     "collection nor a COSE_Sign1", field="token", offset=0)


def read_token(path: str) -> CcaToken:
    """Read and decode a token file: a regular file of at most ``cbor.MAX_MESSAGE``
    bytes (``rmtool._files.read_bounded``); a file of another known kind (an event log, a
    CoRIM, a DTB...) is named, with the command that reads it (``rmtool._filetype``)."""
    from rmtool._filetype import hinted

    data = read_bounded(path, cbor.MAX_MESSAGE, "token", UsageError)
    with hinted("token", data, path):
        return decode_token(data)


# ---------------------------------------------------------------- building


def make_realm_claims(rak: cose.EcPublicKey | cose.EcPrivateKey, *, rim: bytes,
                      rems: list[bytes] | None = None, hash_algo: str = "sha-256",
                      challenge: bytes = b"\x00" * 64, rpv: bytes = b"\x00" * 64,
                      profile: str | None = C.REALM_PROFILE_1,
                      rak_encoding: str | None = None) -> C.RealmClaims:
    """Realm claims with the RAK encoded as the profile expects (raw point before draft-ffm)
    and its hash algorithm (claim 44240) SHA-256, as TF-RMM writes it."""
    size = C.HASH_SIZES.get(hash_algo)
    if size is None:
        raise UsageError(f"unknown realm hash algorithm {hash_algo!r}")
    pub = rak.public_key() if isinstance(rak, cose.EcPrivateKey) else rak
    encoding = rak_encoding or ("raw-ec-point" if profile is None else "cose-key")
    key_bytes = cose.encode_raw_point(pub) if encoding == "raw-ec-point" \
        else cose.encode_cose_key(pub)
    return C.RealmClaims(profile=profile, challenge=challenge, personalization_value=rpv,
                         hash_algo=hash_algo, public_key=key_bytes,
                         public_key_hash_algo="sha-256", rim=rim,
                         rems=list(rems) if rems is not None else [b"\x00" * size] * 4)


def make_platform_claims(realm: C.RealmClaims, *,
                         profile: str = C.PLATFORM_PROFILE_FFM,
                         implementation_id: bytes = bytes(range(32)),
                         instance_id: bytes = b"\x01" + bytes(range(32)),
                         lifecycle: int = 0x3000) -> C.PlatformClaims:
    """Platform claims bound to ``realm``: challenge = H_44240(RAK claim bytes)."""
    if realm.public_key is None or realm.public_key_hash_algo is None:
        raise UsageError("realm claims need a public key and its hash algorithm for binding")
    challenge = C.hash_digest(realm.public_key_hash_algo, realm.public_key)
    comp = C.SwComponent(measurement_type="RMM", measurement_value=b"\x11" * 32,
                         version="1.0.0", signer_id=b"\x22" * 32, hash_algo="sha-256")
    return C.PlatformClaims(profile=profile, challenge=challenge,
                            implementation_id=implementation_id, instance_id=instance_id,
                            config=b"\xcf\xcf\xcf\xcf", lifecycle=lifecycle,
                            sw_components=[comp],
                            verification_service="https://veraison.example/verification",
                            hash_algo="sha-256")


def _as_map(claims: C.RealmClaims | C.PlatformClaims | dict[int, Any]) -> dict[int, Any]:
    return claims if isinstance(claims, dict) else claims.to_map()


def build_realm_token(claims: C.RealmClaims | dict[int, Any], rak: cose.PrivateKey) -> bytes:
    """Tagged COSE_Sign1 realm token signed with the RAK private key."""
    return cose.sign(cbor.dumps(_as_map(claims)), rak)


def build_platform_token(claims: C.PlatformClaims | dict[int, Any],
                         cpak: cose.PrivateKey) -> bytes:
    """Tagged COSE_Sign1 platform token signed with the CPAK private key."""
    return cose.sign(cbor.dumps(_as_map(claims)), cpak)


def build_cca_token(realm: C.RealmClaims | dict[int, Any], *, rak: cose.PrivateKey,
                    cpak: cose.PrivateKey,
                    platform: C.PlatformClaims | dict[int, Any] | None = None,
                    collection: int = TAG_CCA_399) -> bytes:
    """A complete CCA token; without ``platform`` a bound default platform token is made."""
    if platform is None:
        if isinstance(realm, dict):
            realm_claims = C.parse_realm(realm)
        else:
            realm_claims = realm
        platform = make_platform_claims(realm_claims)
    p_tok = build_platform_token(platform, cpak)
    r_tok = build_realm_token(realm, rak)
    if collection == TAG_CCA_399:
        body: dict[int, Any] = {C.PLATFORM_KEY: p_tok, C.REALM_KEY: r_tok}
    elif collection == TAG_CCA_907:
        body = {C.PLATFORM_KEY: [CMW_CONTENT_TYPE, p_tok], C.REALM_KEY: [CMW_CONTENT_TYPE, r_tok]}
    else:
        raise UsageError(f"unknown CCA token collection tag {collection}")
    return cbor.dumps(cbor2.CBORTag(collection, body))
