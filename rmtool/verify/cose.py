"""COSE_Sign1 and EC keys for CCA tokens (RFC 9052 §4.2-4.4, RFC 9053 §2.1, RFC 7518 §6.2).

Parses COSE_Sign1 (tag 18 or untagged), builds the ``Sig_structure``
``["Signature1", protected, h'', payload]``, verifies and creates ECDSA signatures in
the raw ``r || s`` form COSE uses, and loads keys as they appear around CCA tokens:
PEM (public or private), JWK (RFC 7517), COSE_Key (RFC 9052 §7) and the raw
uncompressed EC point (SEC 1 §2.3.3) of RMM 1.0 realm tokens. Only cbor2 and
cryptography are used.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from rmtool.errors import TokenError, UsageError
from rmtool.files import LIMITS, read_bounded
from rmtool.verify import cbor

COSE_SIGN1_TAG = 18
HDR_ALG = 1
HDR_CRIT = 2
# Header parameters RFC 9052 §3.1 defines (alg, crit, content type, kid): a ``crit`` list
# naming any other label names a parameter rmtool does not understand.
UNDERSTOOD_HEADERS = frozenset({1, 2, 3, 4})


@dataclass(frozen=True)
class Algorithm:
    """One COSE ECDSA algorithm (RFC 9053 Table 1) and the curve it requires."""

    name: str
    cose_id: int
    curve: str  # cryptography curve name, e.g. "secp384r1"
    hash_name: str
    coord_size: int

    def hash(self) -> hashes.HashAlgorithm:
        return {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                "sha512": hashes.SHA512()}[self.hash_name]


ES256 = Algorithm("ES256", -7, "secp256r1", "sha256", 32)
ES384 = Algorithm("ES384", -35, "secp384r1", "sha384", 48)
ES512 = Algorithm("ES512", -36, "secp521r1", "sha512", 66)
ALGORITHMS: dict[int, Algorithm] = {a.cose_id: a for a in (ES256, ES384, ES512)}
_BY_CURVE: dict[str, Algorithm] = {a.curve: a for a in ALGORITHMS.values()}
# COSE_Key crv (RFC 9053 Table 18) and JWK crv names.
_COSE_CRV = {1: "secp256r1", 2: "secp384r1", 3: "secp521r1"}
_JWK_CRV = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
_CURVES: dict[str, ec.EllipticCurve] = {"secp256r1": ec.SECP256R1(),
                                        "secp384r1": ec.SECP384R1(),
                                        "secp521r1": ec.SECP521R1()}
_POINT_CURVE = {65: "secp256r1", 97: "secp384r1", 133: "secp521r1"}

PublicKey = ec.EllipticCurvePublicKey
PrivateKey = ec.EllipticCurvePrivateKey


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
        return cbor.dumps(["Signature1", self.protected_bytes, b"", self.payload])

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


def parse_sign1(obj: Any, what: str) -> Sign1:
    """COSE_Sign1 from a decoded CBOR value (tag 18 or the bare 4-element array)."""
    tagged = False
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != COSE_SIGN1_TAG:
            raise TokenError(f"{what}: expected COSE_Sign1 (tag 18), found tag {obj.tag}",
                             field=what)
        obj, tagged = obj.value, True
    if not isinstance(obj, list | tuple) or len(obj) != 4:
        raise TokenError(f"{what}: COSE_Sign1 must be an array of 4 items", field=what)
    prot_b, unprot, payload, sig = obj
    if not isinstance(prot_b, bytes):
        raise TokenError(f"{what}: protected header must be a byte string", field=what)
    if not isinstance(unprot, dict):
        raise TokenError(f"{what}: unprotected header must be a map", field=what)
    if not isinstance(payload, bytes):
        raise TokenError(f"{what}: payload must be a byte string (detached payloads are "
                         "not used by CCA)", field=what)
    if not isinstance(sig, bytes):
        raise TokenError(f"{what}: signature must be a byte string", field=what)
    protected: dict[Any, Any] = {}
    if prot_b:
        decoded = cbor.loads(prot_b, f"{what} protected header")
        if not isinstance(decoded, dict):
            raise TokenError(f"{what}: protected header must encode a map", field=what)
        protected = dict(decoded)
    return Sign1(prot_b, protected, dict(unprot), payload, sig, tagged)


def decode_sign1(data: bytes, what: str) -> Sign1:
    return parse_sign1(cbor.loads(data, what), what)


# ---------------------------------------------------------------- keys


def curve_name(key: PublicKey | PrivateKey) -> str:
    return key.curve.name


def algorithm_for_key(key: PublicKey | PrivateKey) -> Algorithm:
    alg = _BY_CURVE.get(curve_name(key))
    if alg is None:
        raise UsageError(f"unsupported EC curve {curve_name(key)}")
    return alg


def _b64url(text: Any, name: str) -> bytes:
    if not isinstance(text, str):
        raise UsageError(f"JWK member {name} must be a string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise UsageError(f"JWK member {name} is not base64url: {exc}") from None


def _public_from_xy(curve: str, x: bytes, y: bytes) -> PublicKey:
    try:
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                             _CURVES[curve]).public_key()
    except ValueError as exc:
        raise TokenError(f"EC point is not on {curve}: {exc}") from None


def key_from_jwk(jwk: Any) -> PublicKey | PrivateKey:
    """EC JWK (RFC 7518 §6.2), public or private (``d``)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC":
        raise UsageError("JWK: only EC keys (kty EC) are supported")
    curve = _JWK_CRV.get(str(jwk.get("crv")))
    if curve is None:
        raise UsageError(f"JWK: unsupported curve {jwk.get('crv')!r}")
    pub = _public_from_xy(curve, _b64url(jwk.get("x"), "x"), _b64url(jwk.get("y"), "y"))
    if "d" in jwk:
        d = int.from_bytes(_b64url(jwk["d"], "d"), "big")
        return ec.EllipticCurvePrivateNumbers(d, pub.public_numbers()).private_key()
    return pub


def key_from_cose(obj: Any, what: str = "COSE_Key") -> PublicKey:
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


def key_from_raw_point(point: bytes, what: str = "public key") -> PublicKey:
    """Uncompressed SEC 1 point 0x04 || X || Y; the curve follows from the length."""
    curve = _POINT_CURVE.get(len(point))
    if curve is None or point[:1] != b"\x04":
        raise TokenError(f"{what}: {len(point)}-byte value is not an uncompressed EC point",
                         field=what)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[curve], point)
    except ValueError as exc:
        raise TokenError(f"{what}: invalid EC point: {exc}", field=what) from None


def rak_key(claim: bytes, what: str = "realm public key") -> tuple[PublicKey, str]:
    """The RAK claim (44237): a raw EC point or a bstr-wrapped COSE_Key; returns the format."""
    if claim[:1] == b"\x04" and len(claim) in _POINT_CURVE:
        return key_from_raw_point(claim, what), "raw-ec-point"
    return key_from_cose(cbor.loads(claim, what), what), "cose-key"


def encode_raw_point(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def encode_cose_key(key: PublicKey) -> bytes:
    """COSE_Key {1: 2, -1: crv, -2: x, -3: y} as the draft-ffm realm token carries it."""
    alg = algorithm_for_key(key)
    nums = key.public_numbers()
    crv = {v: k for k, v in _COSE_CRV.items()}[alg.curve]
    return cbor.dumps({1: 2, -1: crv, -2: nums.x.to_bytes(alg.coord_size, "big"),
                           -3: nums.y.to_bytes(alg.coord_size, "big")})


def load_key_bytes(data: bytes, name: str) -> PublicKey | PrivateKey:
    """A key file's content: PEM (public/private), JWK JSON, or DER."""
    text = data.strip()
    key: Any
    try:
        if text.startswith(b"{"):
            key = key_from_jwk(json.loads(text))
        elif b"PRIVATE KEY" in text:
            key = serialization.load_pem_private_key(text, password=None)
        elif b"PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text)
        else:
            try:
                key = serialization.load_der_public_key(data)
            except ValueError:
                key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot load key {name}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        raise UsageError(f"key {name} is not an EC key")
    return key


def load_key(path: str | Path) -> PublicKey | PrivateKey:
    """A key file (regular file, at most 64 KiB) as :func:`load_key_bytes` reads it."""
    return load_key_bytes(read_bounded(path, LIMITS["key"], "key", UsageError), str(path))


def public_of(key: PublicKey | PrivateKey) -> PublicKey:
    return key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key


# ---------------------------------------------------------------- signatures


def check_signature(sign1: Sign1, key: PublicKey | PrivateKey,
                    alg: Algorithm) -> tuple[bool, str]:
    """Verify ``sign1`` with ``key`` under ``alg``; returns (ok, reason)."""
    pub = public_of(key)
    if curve_name(pub) != alg.curve:
        return False, f"key curve {curve_name(pub)} does not match alg {alg.name} ({alg.curve})"
    if len(sign1.signature) != 2 * alg.coord_size:
        return False, (f"{alg.name} signature must be {2 * alg.coord_size} bytes, "
                       f"found {len(sign1.signature)}")
    r = int.from_bytes(sign1.signature[:alg.coord_size], "big")
    s = int.from_bytes(sign1.signature[alg.coord_size:], "big")
    try:
        pub.verify(encode_dss_signature(r, s), sign1.to_be_signed(), ec.ECDSA(alg.hash()))
    except InvalidSignature:
        return False, f"{alg.name} signature does not verify"
    return True, f"{alg.name} signature verifies"


def sign(payload: bytes, key: PrivateKey, alg: Algorithm | None = None) -> bytes:
    """Tagged COSE_Sign1 over ``payload`` with protected header {1: alg}."""
    alg = alg or algorithm_for_key(key)
    if curve_name(key) != alg.curve:
        raise UsageError(f"key curve {curve_name(key)} cannot sign {alg.name}")
    protected = cbor.dumps({HDR_ALG: alg.cose_id})
    tbs = cbor.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(alg.hash())))
    sig = r.to_bytes(alg.coord_size, "big") + s.to_bytes(alg.coord_size, "big")
    return cbor.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, sig]))
