"""The one COSE_Sign1 module of rmtool (RFC 9052 §3-4.4, RFC 9053 §2, RFC 8230 §2, RFC 7518 §6).

Used by CCA tokens and by signed CoRIMs alike: parses COSE_Sign1 (tag 18 or untagged)
under a CBOR ``Profile`` (``rmtool.verify._cbor``), applies the header rules of RFC 9052
§3 (``Sign1.header_problem``), builds the ``Sig_structure``
``["Signature1", protected, h'', payload]``, verifies and creates signatures (ECDSA in
the raw ``r || s`` form COSE uses, EdDSA, PS256) and loads keys: PEM (public or private),
DER, JWK (RFC 7517: EC, OKP Ed25519, RSA), COSE_Key (RFC 9052 §7) and the raw
uncompressed EC point (SEC 1 §2.3.3) of RMM 1.0 realm tokens. CCA tokens accept only the
ECDSA algorithms (``ALGORITHMS``); signed CoRIMs (draft-ietf-rats-corim, as veraison/corim
``corim/signedcorim.go`` signs them) also EdDSA and PS256 (``SIGNED_CORIM_ALGORITHMS``).
Only cbor2 and cryptography are used.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from rmtool import _hashalgo as hashalgo
from rmtool._files import LIMITS
from rmtool._filetype import read_expected
from rmtool.errors import RmtoolError, TokenError, UsageError
from rmtool.verify import _cbor as cbor

COSE_SIGN1_TAG = 18
HDR_ALG = 1
HDR_CRIT = 2
# Header parameters RFC 9052 §3.1 defines (alg, crit, content type, kid): a ``crit`` list
# naming any other label names a parameter rmtool does not understand.
UNDERSTOOD_HEADERS = frozenset({1, 2, 3, 4})


@dataclass(frozen=True)
class Algorithm:
    """One COSE signature algorithm (RFC 9053 Table 1, RFC 8230 Table 1).

    ``family`` is "ecdsa" (with the curve it requires and its coordinate size), "eddsa"
    (Ed25519) or "pss" (RSASSA-PSS, MGF1 with the same hash, salt of the hash's size)."""

    name: str
    cose_id: int
    curve: str  # cryptography curve name, e.g. "secp384r1"; "ed25519"; "" for RSA
    hash_name: str
    coord_size: int
    family: str = "ecdsa"

    def hash(self) -> hashes.HashAlgorithm:
        return _CRYPTOGRAPHY_HASHES[self.hash_name]()

    def fits(self, key: PublicKey | PrivateKey) -> bool:
        """Whether ``key`` is a key of this algorithm (and of its curve)."""
        if self.family == "ecdsa":
            return (isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey)
                    and key.curve.name == self.curve)
        if self.family == "eddsa":
            return isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey)
        return isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey)


PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
EcPublicKey = ec.EllipticCurvePublicKey
EcPrivateKey = ec.EllipticCurvePrivateKey

# The cryptography class of each row of the hash-algorithm table (rmtool._hashalgo) that a
# COSE signature algorithm below uses.
_CRYPTOGRAPHY_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    hashalgo.SHA256.name: hashes.SHA256, hashalgo.SHA384.name: hashes.SHA384,
    hashalgo.SHA512.name: hashes.SHA512}

ES256 = Algorithm("ES256", -7, "secp256r1", hashalgo.SHA256.name, 32)
ES384 = Algorithm("ES384", -35, "secp384r1", hashalgo.SHA384.name, 48)
ES512 = Algorithm("ES512", -36, "secp521r1", hashalgo.SHA512.name, 66)
EDDSA = Algorithm("EdDSA", -8, "ed25519", hashalgo.SHA512.name, 0, "eddsa")
PS256 = Algorithm("PS256", -37, "", hashalgo.SHA256.name, 0, "pss")
# CCA tokens: ECDSA only (draft-ffm-rats-cca-token; RMM 1.0 A7.2).
ALGORITHMS: dict[int, Algorithm] = {a.cose_id: a for a in (ES256, ES384, ES512)}
# Signed CoRIMs: what veraison/corim signs with (the algorithm follows the key).
SIGNED_CORIM_ALGORITHMS: dict[int, Algorithm] = {**ALGORITHMS, EDDSA.cose_id: EDDSA,
                                                 PS256.cose_id: PS256}
_BY_CURVE: dict[str, Algorithm] = {a.curve: a for a in ALGORITHMS.values()}
# COSE_Key crv (RFC 9053 Table 18) and JWK crv names.
_COSE_CRV = {1: "secp256r1", 2: "secp384r1", 3: "secp521r1"}
_JWK_CRV = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
_CURVES: dict[str, ec.EllipticCurve] = {"secp256r1": ec.SECP256R1(),
                                        "secp384r1": ec.SECP384R1(),
                                        "secp521r1": ec.SECP521R1()}
_POINT_CURVE = {65: "secp256r1", 97: "secp384r1", 133: "secp521r1"}
_EC_KEYS = (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)
_ANY_KEYS = (*_EC_KEYS, ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey,
             rsa.RSAPublicKey, rsa.RSAPrivateKey)


@dataclass(frozen=True)
class Sign1:
    """A decoded COSE_Sign1; ``protected_bytes`` is kept exactly as signed."""

    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes
    tagged: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alg_id(self) -> Any:
        """The protected ``alg`` value, or None when the header has none."""
        return self.protected.get(HDR_ALG)

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_bytes, self.payload)

    def header_problem(self) -> str | None:
        """Why the headers forbid trusting this COSE_Sign1 (RFC 9052 §3, §3.1), or None.

        A label in both buckets (an unprotected ``alg`` beside the signed one) and a
        ``crit`` outside the protected bucket, empty, or naming a parameter rmtool does
        not understand each make the message one a recipient must not accept.
        """
        both = sorted((k for k in self.unprotected if k in self.protected), key=repr)
        if both:
            return (f"header label {both[0]!r} is in both the protected and the unprotected "
                    "header (RFC 9052 §3)")
        if HDR_CRIT in self.unprotected:
            return "crit (2) is in the unprotected header; it must be protected (RFC 9052 §3.1)"
        crit = self.protected.get(HDR_CRIT)
        if crit is None:
            return None
        if not isinstance(crit, list) or not crit:
            return "crit (2) must be a non-empty array of labels (RFC 9052 §3.1)"
        unknown = [c for c in crit if not isinstance(c, int) or isinstance(c, bool)
                   or c not in UNDERSTOOD_HEADERS]
        if unknown:
            return (f"crit (2) names header parameter {unknown[0]!r}, which rmtool does not "
                    "understand (RFC 9052 §3.1: processing must fail)")
        return None


def parse_sign1(obj: Any, what: str, profile: cbor.Profile = cbor.TOKEN, *,
                outer: bytes | None = None) -> Sign1:
    """COSE_Sign1 from a decoded CBOR value (tag 18 or the bare 4-element array).

    The protected header is decoded under ``profile`` (its error class is the one raised);
    ``outer`` is the message the COSE_Sign1 sits in, for file offsets in errors."""
    error = profile.error
    tagged = False
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != COSE_SIGN1_TAG:
            raise error(f"{what}: expected COSE_Sign1 (tag 18), found tag {obj.tag}",
                        field=what)
        obj, tagged = obj.value, True
    if not isinstance(obj, list | tuple) or len(obj) != 4:
        raise error(f"{what}: COSE_Sign1 must be an array of 4 items", field=what)
    prot_b, unprot, payload, sig = obj
    if not isinstance(prot_b, bytes):
        raise error(f"{what}: protected header must be a byte string", field=what)
    protected: dict[Any, Any] = {}
    if prot_b:
        decoded = cbor.decode(prot_b, f"{what} protected header", profile, outer=outer,
                              field=what)
        if not isinstance(decoded, dict):
            raise error(f"{what}: protected header must encode a map", field=what)
        protected = dict(decoded)
    if not isinstance(unprot, dict):
        raise error(f"{what}: unprotected header must be a map", field=what)
    if not isinstance(payload, bytes):
        raise error(f"{what}: payload must be a byte string (detached payloads are "
                    "not supported)", field=what)
    if not isinstance(sig, bytes):
        raise error(f"{what}: signature must be a byte string", field=what)
    return Sign1(prot_b, protected, dict(unprot), payload, sig, tagged)


def decode_sign1(data: bytes, what: str, profile: cbor.Profile = cbor.TOKEN) -> Sign1:
    return parse_sign1(cbor.decode(data, what, profile), what, profile, outer=data)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The ``Sig_structure`` of a COSE_Sign1 without external AAD (RFC 9052 §4.4)."""
    return cbor.dumps(["Signature1", protected, b"", payload])


# ---------------------------------------------------------------- keys


def curve_name(key: EcPublicKey | EcPrivateKey) -> str:
    return key.curve.name


def algorithm_for_key(key: PublicKey | PrivateKey,
                      error: type[RmtoolError] = UsageError) -> Algorithm:
    """The algorithm a key signs with: ES256/384/512 by curve, EdDSA, PS256 for RSA."""
    if isinstance(key, _EC_KEYS):
        alg = _BY_CURVE.get(curve_name(key))
        if alg is None:
            raise error(f"unsupported EC curve {curve_name(key)}", field="key")
        return alg
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return EDDSA
    return PS256


def _b64url(text: Any, name: str, error: type[RmtoolError]) -> bytes:
    if not isinstance(text, str):
        raise error(f"JWK member {name} missing or not a string", field=f"jwk.{name}")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise error(f"JWK member {name} is not base64url: {exc}", field=f"jwk.{name}") from None


def _b64url_int(jwk: Any, name: str, error: type[RmtoolError]) -> int:
    return int.from_bytes(_b64url(jwk.get(name), name, error), "big")


def _public_from_xy(curve: str, x: bytes, y: bytes,
                    error: type[RmtoolError] = TokenError) -> EcPublicKey:
    try:
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                             _CURVES[curve]).public_key()
    except ValueError as exc:
        raise error(f"EC point is not on {curve}: {exc}") from None


def key_from_jwk(jwk: Any, error: type[RmtoolError] = UsageError) -> PublicKey | PrivateKey:
    """A JWK (RFC 7517): EC (RFC 7518 §6.2), OKP Ed25519 (RFC 8037) or RSA (RFC 7518 §6.3),
    public, or private when it has ``d``."""
    if not isinstance(jwk, dict):
        raise error("JWK is not a JSON object", field="jwk")
    kty = jwk.get("kty")
    try:
        if kty == "EC":
            curve = _JWK_CRV.get(str(jwk.get("crv")))
            if curve is None:
                raise error(f"JWK: unsupported EC curve {jwk.get('crv')!r}", field="jwk.crv")
            pub = _public_from_xy(curve, _b64url(jwk.get("x"), "x", error),
                                  _b64url(jwk.get("y"), "y", error), error)
            if "d" in jwk:
                return ec.EllipticCurvePrivateNumbers(_b64url_int(jwk, "d", error),
                                                      pub.public_numbers()).private_key()
            return pub
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            if "d" in jwk:
                return ed25519.Ed25519PrivateKey.from_private_bytes(
                    _b64url(jwk.get("d"), "d", error))
            return ed25519.Ed25519PublicKey.from_public_bytes(_b64url(jwk.get("x"), "x", error))
        if kty == "RSA":
            n, e = _b64url_int(jwk, "n", error), _b64url_int(jwk, "e", error)
            if "d" not in jwk:
                return rsa.RSAPublicNumbers(e, n).public_key()
            p, q = _b64url_int(jwk, "p", error), _b64url_int(jwk, "q", error)
            d = _b64url_int(jwk, "d", error)
            return rsa.RSAPrivateNumbers(
                p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                rsa.RSAPublicNumbers(e, n)).private_key()
    except ValueError as exc:
        raise error(f"invalid JWK key: {exc}", field="jwk") from None
    raise error(f"JWK: unsupported key type {kty!r} (EC, OKP Ed25519, RSA)", field="jwk.kty")


def key_from_cose(obj: Any, what: str = "COSE_Key") -> EcPublicKey:
    """EC2 public key from a decoded COSE_Key map (kty 2, crv -1, x -2, y -3)."""
    if not isinstance(obj, dict):
        raise TokenError(f"{what}: COSE_Key must be a map", field=what)
    if obj.get(1) != 2:
        raise TokenError(f"{what}: COSE_Key kty {obj.get(1)!r} is not EC2 (2)", field=what)
    crv = obj.get(-1)
    curve = _COSE_CRV.get(crv) if isinstance(crv, int) else None
    if curve is None:
        raise TokenError(f"{what}: unsupported COSE_Key crv {obj.get(-1)!r}", field=what)
    x, y = obj.get(-2), obj.get(-3)
    if not isinstance(x, bytes) or not isinstance(y, bytes):
        raise TokenError(f"{what}: COSE_Key x and y must be byte strings "
                         "(compressed points are not supported)", field=what)
    return _public_from_xy(curve, x, y)


def key_from_raw_point(point: bytes, what: str = "public key") -> EcPublicKey:
    """Uncompressed SEC 1 point 0x04 || X || Y; the curve follows from the length."""
    curve = _POINT_CURVE.get(len(point))
    if curve is None or point[:1] != b"\x04":
        raise TokenError(f"{what}: {len(point)}-byte value is not an uncompressed EC point",
                         field=what)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[curve], point)
    except ValueError as exc:
        raise TokenError(f"{what}: invalid EC point: {exc}", field=what) from None


def rak_key(claim: bytes, what: str = "realm public key") -> tuple[EcPublicKey, str]:
    """The RAK claim (44237): a raw EC point or a bstr-wrapped COSE_Key; returns the format."""
    if claim[:1] == b"\x04" and len(claim) in _POINT_CURVE:
        return key_from_raw_point(claim, what), "raw-ec-point"
    return key_from_cose(cbor.loads(claim, what), what), "cose-key"


def encode_raw_point(key: EcPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def encode_cose_key(key: EcPublicKey) -> bytes:
    """COSE_Key {1: 2, -1: crv, -2: x, -3: y} as the draft-ffm realm token carries it."""
    alg = algorithm_for_key(key)
    nums = key.public_numbers()
    crv = {v: k for k, v in _COSE_CRV.items()}[alg.curve]
    return cbor.dumps({1: 2, -1: crv, -2: nums.x.to_bytes(alg.coord_size, "big"),
                       -3: nums.y.to_bytes(alg.coord_size, "big")})


def load_any_key_bytes(data: bytes, name: str,
                       error: type[RmtoolError] = UsageError) -> PublicKey | PrivateKey:
    """A key file's content: PEM (public/private), JWK JSON, or DER; EC, Ed25519 or RSA."""
    text = data.strip()
    key: Any
    try:
        if text.startswith(b"{"):
            key = key_from_jwk(json.loads(text), error)
        elif b"PRIVATE KEY" in text:
            key = serialization.load_pem_private_key(text, password=None)
        elif b"PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text)
        else:
            try:
                key = serialization.load_der_public_key(data)
            except ValueError:
                key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, json.JSONDecodeError, UnsupportedAlgorithm) as exc:
        raise error(f"cannot load key {name}: {exc}", field="key") from None
    if not isinstance(key, _ANY_KEYS):
        raise error(f"key {name}: unsupported key type (EC, Ed25519 or RSA)", field="key")
    return key


def load_key_bytes(data: bytes, name: str) -> EcPublicKey | EcPrivateKey:
    """A CCA key (CPAK, RAK) file's content: PEM (public/private), JWK JSON, or DER; EC only."""
    key = load_any_key_bytes(data, name)
    if not isinstance(key, _EC_KEYS):
        raise UsageError(f"key {name} is not an EC key")
    return key


def load_private_key(data: bytes, name: str = "key",
                     error: type[RmtoolError] = UsageError) -> PrivateKey:
    """A signing key: PEM private key or JWK with ``d`` (EC, Ed25519, RSA)."""
    key = load_any_key_bytes(data, name, error)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                      | rsa.RSAPrivateKey):
        raise error(f"key {name} is a public key; signing needs the private key", field="key")
    return key


def load_key(path: str | Path) -> EcPublicKey | EcPrivateKey:
    """A key file (regular file, at most 64 KiB) as :func:`load_key_bytes` reads it."""
    return load_key_bytes(read_expected(path, "key", LIMITS["key"], "key", UsageError),
                          str(path))


def public_of(key: PublicKey | PrivateKey) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                  | rsa.RSAPrivateKey):
        return key.public_key()
    return key


# ---------------------------------------------------------------- signatures


def _pss() -> padding.PSS:
    digest = PS256.hash()
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)


def check_signature(sign1: Sign1, key: PublicKey | PrivateKey,
                    alg: Algorithm) -> tuple[bool, str]:
    """Verify ``sign1`` with ``key`` under ``alg``; returns (ok, reason)."""
    pub = public_of(key)
    if not alg.fits(pub):
        have = (curve_name(pub) if isinstance(pub, ec.EllipticCurvePublicKey)
                else type(pub).__name__)
        want = alg.curve or "an RSA key"
        return False, f"key curve {have} does not match alg {alg.name} ({want})"
    tbs = sign1.to_be_signed()
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            if len(sign1.signature) != 2 * alg.coord_size:
                return False, (f"{alg.name} signature must be {2 * alg.coord_size} bytes, "
                               f"found {len(sign1.signature)}")
            r = int.from_bytes(sign1.signature[:alg.coord_size], "big")
            s = int.from_bytes(sign1.signature[alg.coord_size:], "big")
            pub.verify(encode_dss_signature(r, s), tbs, ec.ECDSA(alg.hash()))
        elif isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(sign1.signature, tbs)
        else:
            pub.verify(sign1.signature, tbs, _pss(), PS256.hash())
    except InvalidSignature:
        return False, f"{alg.name} signature does not verify"
    return True, f"{alg.name} signature verifies"


def _raw_sign(key: PrivateKey, alg: Algorithm, tbs: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(alg.hash())))
        return r.to_bytes(alg.coord_size, "big") + s.to_bytes(alg.coord_size, "big")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(tbs)
    return key.sign(tbs, _pss(), PS256.hash())


def sign(payload: bytes, key: PrivateKey, alg: Algorithm | None = None,
         headers: Mapping[int, Any] | None = None) -> bytes:
    """Tagged COSE_Sign1 over ``payload`` with protected header {1: alg, **headers}."""
    alg = alg or algorithm_for_key(key)
    if not alg.fits(key):
        have = curve_name(key) if isinstance(key, ec.EllipticCurvePrivateKey) else \
            type(key).__name__
        raise UsageError(f"key curve {have} cannot sign {alg.name}")
    protected = cbor.dumps({HDR_ALG: alg.cose_id, **(headers or {})})
    sig = _raw_sign(key, alg, sig_structure(protected, payload))
    return cbor.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, sig]))
