"""Signing CoRIMs: COSE_Sign1 (RFC 9052) with the protected header Veraison requires.

Follows draft-ietf-rats-corim "Signed CoRIM" (signed-corim = #6.18(COSE-Sign1-corim)) and
veraison/corim ``corim/signedcorim.go``: the protected header holds alg (1), content-type (3)
``"application/rim+cbor"``, corim-meta (8) = bstr .cbor corim-meta-map {signer {name, uri}},
optionally kid (4) and x5chain (33: one DER certificate as bstr, or an array of 2+).
Veraison's provisioning service verifies the x5chain against its trust anchors, so a CoRIM
submitted as ``application/rim+cose`` needs ``cert_chain``.

Keys are PEM (PKCS#8 / SEC1 / PKCS#1) or JWK (EC P-256/384/521, OKP Ed25519, RSA); the
algorithm follows the key: ES256/ES384/ES512, EdDSA, PS256. COSE_Sign1 itself (Sig_structure,
signing, verification, key loading) is :mod:`rmtool.verify.cose`, shared with tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from rmtool.errors import CorimError
from rmtool.verify import _cbor as cbor
from rmtool.verify import cose
from rmtool.verify.corim._model import (
    CORIM_CONTENT_TYPE,
    CORIM_META,
    COSE_CONTENT_TYPE,
    COSE_KID,
    COSE_X5CHAIN,
    TAG_UNSIGNED_CORIM,
    decode,
    is_tag,
    loads,
)

# One key meaning for tokens and CoRIMs: rmtool.verify.cose.
PrivateKey = cose.PrivateKey
PublicKey = cose.PublicKey


def load_signing_key(data: bytes) -> PrivateKey:
    """A private key from PEM or JWK text (EC P-256/384/521, Ed25519, RSA)."""
    return cose.load_private_key(data, "key", CorimError)


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
    alg = cose.algorithm_for_key(key, CorimError)
    headers: dict[int, Any] = {COSE_CONTENT_TYPE: CORIM_CONTENT_TYPE}
    if kid is not None:
        headers[COSE_KID] = kid
    headers[CORIM_META] = cbor.dumps(dict(meta) if meta else default_meta())
    if cert_chain:
        headers[COSE_X5CHAIN] = (cert_chain[0] if len(cert_chain) == 1
                                 else list(cert_chain))
    return cose.sign(corim, key, alg, headers)


def verify_signature(signed: bytes, public_key: PublicKey) -> bool:
    """True if the COSE_Sign1 signature of *signed* verifies with *public_key* under the
    algorithm its protected header names, that algorithm is one a signed CoRIM may use
    (``cose.SIGNED_CORIM_ALGORITHMS``) and fits the key (RFC 9052 §4.4: the ``alg``
    header selects the verification), and its headers obey RFC 9052 §3
    (:meth:`cose.Sign1.header_problem`)."""
    dec = decode(signed)
    if dec.kind != "signed-corim" or dec.protected_raw is None or dec.payload_raw is None:
        raise CorimError("not a signed CoRIM", field="file")
    sign1 = cose.Sign1(dec.protected_raw, dict(dec.protected or {}),
                       dict(dec.unprotected or {}), dec.payload_raw, dec.signature or b"")
    if sign1.header_problem() is not None:  # RFC 9052 §3, §3.1: must not be accepted
        return False
    alg_id = sign1.alg_id
    alg = (cose.SIGNED_CORIM_ALGORITHMS.get(alg_id)
           if isinstance(alg_id, int) and not isinstance(alg_id, bool) else None)
    if alg is None:  # no alg, or one no signed CoRIM uses: nothing to verify under
        return False
    ok, _ = cose.check_signature(sign1, public_key, alg)
    return ok
