"""Verify the COSE_Sign1 of a signed CoRIM with a public key or a certificate.

Signed CoRIMs are ``#6.18(COSE_Sign1)`` around a tagged unsigned CoRIM as veraison/corim
``corim/signedcorim.go`` makes them (and cocli signs them). Verification uses the one COSE
module of rmtool (:mod:`rmtool.verify.cose`, shared with tokens): the RFC 9052 §3 header
rules, the protected ``alg`` (ES256/384/512, EdDSA, PS256; the key must be one of that
algorithm) and the signature over ``Sig_structure``. A certificate gives its public key; the
x5chain (33) leaf is compared with it, but the chain itself is not validated (no trust
store, no revocation): the user's certificate is the trust anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from rmtool.errors import CorimError
from rmtool.verify import cose
from rmtool.verify.corim._model import COSE_X5CHAIN, decode, is_map, loads


@dataclass(frozen=True)
class SignatureResult:
    """The verdict on a signed CoRIM's signature and what it rests on."""

    valid: bool
    reason: str
    alg: str | None
    signer: str | None = None
    x5chain_leaf_matches: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "reason": self.reason, "alg": self.alg,
                "signer": self.signer, "x5chain_leaf_matches_cert": self.x5chain_leaf_matches}


def load_certificate(data: bytes, name: str) -> x509.Certificate:
    """The first certificate of a PEM file or a DER certificate."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CorimError(f"cannot read certificate {name}: {exc}", field="cert") from None


def certificate_key(cert: x509.Certificate) -> cose.PublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CorimError(f"certificate key cannot be used: {exc}", field="cert") from None
    if not isinstance(key, cose.PublicKey):
        raise CorimError("certificate key is not EC, Ed25519 or RSA", field="cert")
    return key


def _signer(protected: dict[Any, Any]) -> str | None:
    meta = protected.get(8)
    if not isinstance(meta, bytes):
        return None
    try:
        m = loads(meta, "corim-meta")
    except CorimError:
        return None
    signer = m.get(0) if is_map(m) else None
    name = signer.get(0) if is_map(signer) else None
    return name if isinstance(name, str) else None


def _leaf(protected: dict[Any, Any], unprotected: dict[Any, Any]) -> bytes | None:
    chain = protected.get(COSE_X5CHAIN, unprotected.get(COSE_X5CHAIN))
    if isinstance(chain, list) and chain and isinstance(chain[0], bytes):
        return bytes(chain[0])
    return bytes(chain) if isinstance(chain, bytes) else None


def verify_signed_corim(data: bytes, key: cose.PublicKey | cose.PrivateKey,
                        cert: x509.Certificate | None = None) -> SignatureResult:
    """Check the signature of the signed CoRIM ``data`` with ``key`` (a certificate's key
    when ``cert`` is given). A CoRIM that cannot be read, or is not signed, raises
    ``CorimError`` (unusable input); a signature that does not verify is ``valid=False``."""
    dec = decode(data)
    if dec.kind != "signed-corim" or dec.protected_raw is None or dec.payload_raw is None:
        raise CorimError(f"not a signed CoRIM: the file is a {dec.kind} (a signed CoRIM is a "
                         "COSE_Sign1, tag 18)", field="file", offset=0)
    protected = dict(dec.protected or {})
    unprotected = dict(dec.unprotected or {})
    sign1 = cose.Sign1(dec.protected_raw, protected, unprotected, dec.payload_raw,
                       dec.signature or b"")
    signer = _signer(protected)
    leaf_match: bool | None = None
    if cert is not None:
        leaf = _leaf(protected, unprotected)
        if leaf is not None:
            leaf_match = leaf == cert.public_bytes(serialization.Encoding.DER)
    problem = sign1.header_problem()
    alg_id = sign1.alg_id
    alg = cose.SIGNED_CORIM_ALGORITHMS.get(alg_id) if isinstance(alg_id, int) and \
        not isinstance(alg_id, bool) else None
    name = alg.name if alg is not None else None
    if problem is not None:
        return SignatureResult(False, problem, name, signer, leaf_match)
    if alg_id is None:
        where = " (only in the unprotected header)" if 1 in unprotected else ""
        return SignatureResult(False, f"protected header has no alg{where}", None, signer,
                               leaf_match)
    if alg is None:
        return SignatureResult(False, f"alg {alg_id!r} is not a supported signature algorithm "
                               "(ES256, ES384, ES512, EdDSA, PS256)", None, signer, leaf_match)
    ok, reason = cose.check_signature(sign1, key, alg)
    return SignatureResult(ok, reason, name, signer, leaf_match)

