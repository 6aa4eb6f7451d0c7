"""Signing CoRIMs: COSE_Sign1 (RFC 9052) with the protected header Veraison requires.

Follows draft-ietf-rats-corim "Signed CoRIM" (signed-corim = #6.18(COSE-Sign1-corim)) and
veraison/corim ``corim/signedcorim.go``: the protected header holds alg (1), content-type (3)
``"application/rim+cbor"``, corim-meta (8) = bstr .cbor corim-meta-map {signer {name, uri}},
optionally kid (4) and x5chain (33: one DER certificate as bstr, or an array of 2+).
Veraison's provisioning service verifies the x5chain against its trust anchors, so a CoRIM
submitted as ``application/rim+cose`` needs ``cert_chain``.

Keys are PEM (PKCS#8 / SEC1 / PKCS#1) or JWK (EC P-256/384/521, OKP Ed25519, RSA); the
algorithm follows the key: ES256/ES384/ES512, EdDSA, PS256.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from rmtool.errors import CorimError
from rmtool.verify.corim.model import (
    CORIM_CONTENT_TYPE,
    CORIM_META,
    COSE_ALG,
    COSE_CONTENT_TYPE,
    COSE_KID,
    COSE_X5CHAIN,
    TAG_COSE_SIGN1,
    TAG_UNSIGNED_CORIM,
    decode,
    is_tag,
    loads,
)

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

_EC = {"secp256r1": (-7, hashes.SHA256(), 32), "secp384r1": (-35, hashes.SHA384(), 48),
       "secp521r1": (-36, hashes.SHA512(), 66)}
_JWK_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                                            "P-521": ec.SECP521R1()}
ALG_PS256 = -37
ALG_EDDSA = -8


def _b64u_int(value: Any, where: str) -> int:
    return int.from_bytes(_b64u(value, where), "big")


def _b64u(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise CorimError("JWK member missing or not a string", field=where)
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise CorimError("JWK member is not base64url", field=where) from None


def key_from_jwk(jwk: Mapping[str, Any]) -> PrivateKey:
    kty = jwk.get("kty")
    try:
        if kty == "EC":
            curve = _JWK_CURVES.get(str(jwk.get("crv")))
            if curve is None:
                raise CorimError(f"unsupported EC curve {jwk.get('crv')!r}", field="jwk.crv")
            pub = ec.EllipticCurvePublicNumbers(_b64u_int(jwk.get("x"), "jwk.x"),
                                                _b64u_int(jwk.get("y"), "jwk.y"), curve)
            return ec.EllipticCurvePrivateNumbers(_b64u_int(jwk.get("d"), "jwk.d"),
                                                  pub).private_key()
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            return ed25519.Ed25519PrivateKey.from_private_bytes(_b64u(jwk.get("d"), "jwk.d"))
        if kty == "RSA":
            n, e = _b64u_int(jwk.get("n"), "jwk.n"), _b64u_int(jwk.get("e"), "jwk.e")
            p, q = _b64u_int(jwk.get("p"), "jwk.p"), _b64u_int(jwk.get("q"), "jwk.q")
            d = _b64u_int(jwk.get("d"), "jwk.d")
            return rsa.RSAPrivateNumbers(
                p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                rsa.RSAPublicNumbers(e, n)).private_key()
    except ValueError as exc:
        raise CorimError(f"invalid JWK private key: {exc}", field="jwk") from None
    raise CorimError(f"unsupported JWK key type {kty!r} (EC, OKP Ed25519, RSA)", field="jwk.kty")


def load_signing_key(data: bytes) -> PrivateKey:
    """A private key from PEM or JWK text."""
    text = data.strip()
    if text.startswith(b"{"):
        try:
            jwk = json.loads(text)
        except ValueError as exc:
            raise CorimError(f"key is not valid JWK JSON: {exc}", field="key") from None
        if not isinstance(jwk, dict):
            raise CorimError("JWK is not a JSON object", field="key")
        return key_from_jwk(jwk)
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError) as exc:
        raise CorimError(f"key is neither a PEM private key nor a JWK: {exc}",
                         field="key") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                            rsa.RSAPrivateKey)):
        raise CorimError("unsupported key type (EC, Ed25519 or RSA)", field="key")
    return key


def load_cert_chain(data: bytes) -> list[bytes]:
    """DER certificates from PEM text (leaf first) or a single DER certificate."""
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CorimError(f"cannot read certificate: {exc}", field="cert") from None
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def cose_alg(key: PrivateKey | PublicKey) -> int:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        entry = _EC.get(key.curve.name)
        if entry is None:
            raise CorimError(f"unsupported EC curve {key.curve.name}", field="key")
        return entry[0]
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return ALG_EDDSA
    return ALG_PS256


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _raw_sign(key: PrivateKey, tbs: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        _, hash_alg, size = _EC[key.curve.name]
        r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hash_alg)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(tbs)
    return key.sign(tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                     salt_length=hashes.SHA256.digest_size), hashes.SHA256())


def default_meta(signer_name: str = "rmtool") -> dict[int, Any]:
    return {0: {0: signer_name}}


def sign_corim(corim: bytes, key: PrivateKey | bytes, *, meta: Mapping[int, Any] | None = None,
               cert_chain: Sequence[bytes] | None = None, kid: bytes | None = None) -> bytes:
    """COSE_Sign1 (#6.18) around an unsigned CoRIM (#6.501) - Veraison's signed CoRIM."""
    if isinstance(key, bytes):
        key = load_signing_key(key)
    top = loads(corim, "corim")
    if not is_tag(top, TAG_UNSIGNED_CORIM):
        raise CorimError("only a tagged unsigned CoRIM (#6.501) can be signed", field="corim")
    decode(corim)  # structural check before signing
    protected: dict[int, Any] = {COSE_ALG: cose_alg(key), COSE_CONTENT_TYPE: CORIM_CONTENT_TYPE}
    if kid is not None:
        protected[COSE_KID] = kid
    protected[CORIM_META] = cbor2.dumps(dict(meta) if meta else default_meta())
    if cert_chain:
        protected[COSE_X5CHAIN] = (cert_chain[0] if len(cert_chain) == 1
                                   else list(cert_chain))
    protected_raw = cbor2.dumps(protected)
    signature = _raw_sign(key, _sig_structure(protected_raw, corim))
    return cbor2.dumps(cbor2.CBORTag(TAG_COSE_SIGN1, [protected_raw, {}, corim, signature]))


def verify_signature(signed: bytes, public_key: PublicKey) -> bool:
    """True if the COSE_Sign1 signature of *signed* verifies with *public_key*."""
    dec = decode(signed)
    if dec.kind != "signed-corim" or dec.protected_raw is None or dec.payload_raw is None:
        raise CorimError("not a signed CoRIM", field="file")
    sig = dec.signature or b""
    tbs = _sig_structure(dec.protected_raw, dec.payload_raw)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            _, hash_alg, size = _EC[public_key.curve.name]
            if len(sig) != 2 * size:
                return False
            der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                                       int.from_bytes(sig[size:], "big"))
            public_key.verify(der, tbs, ec.ECDSA(hash_alg))
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(sig, tbs)
        else:
            public_key.verify(sig, tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=hashes.SHA256.digest_size),
                              hashes.SHA256())
    except InvalidSignature:
        return False
    return True
