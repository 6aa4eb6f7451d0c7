"""A signed CoRIM verifies under the algorithm its protected header names (RFC 9052 §4.4),
one of ``cose.SIGNED_CORIM_ALGORITHMS``; before, the header's ``alg`` was ignored and the
key's own algorithm used."""

from __future__ import annotations

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from rmtool.verify import cose
from rmtool.verify.corim._sign import verify_signature
from rmtool.verify.corim.realm import build_realm_corim

CORIM = build_realm_corim(b"\x01" * 48, [None] * 4, "sha384", None)


def _resign_with_header_alg(key: ec.EllipticCurvePrivateKey, alg_id: object) -> bytes:
    """An ES256 signature made by ``key`` over a protected header claiming ``alg_id``."""
    protected = cbor2.dumps({1: alg_id, 3: "application/rim+cbor"})
    sig = cose._raw_sign(key, cose.ES256, cose.sig_structure(protected, CORIM))
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, CORIM, sig]))


def test_header_alg_lying_about_the_signature_algorithm_is_refused() -> None:
    """Attack: a P-256 signature under a header that says ES384 (-35). The signature is
    valid ES256, but not under the algorithm the signer declared."""
    key = ec.generate_private_key(ec.SECP256R1())
    assert verify_signature(_resign_with_header_alg(key, -7), key.public_key()) is True
    assert verify_signature(_resign_with_header_alg(key, -35), key.public_key()) is False


def test_header_alg_missing_or_not_a_signed_corim_algorithm_is_refused() -> None:
    """No ``alg``, a text ``alg``, a boolean, or RS256 (-257, not in the set): nothing to
    verify under, so no verdict."""
    key = ec.generate_private_key(ec.SECP256R1())
    for alg in ("ES256", True, -257):
        assert verify_signature(_resign_with_header_alg(key, alg), key.public_key()) is False
    protected = cbor2.dumps({3: "application/rim+cbor"})
    sig = cose._raw_sign(key, cose.ES256, cose.sig_structure(protected, CORIM))
    no_alg = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, CORIM, sig]))
    assert verify_signature(no_alg, key.public_key()) is False


def test_every_signed_corim_algorithm_still_verifies() -> None:
    """ES256/384/512 and EdDSA signatures made by cose.sign keep verifying."""
    keys = [ec.generate_private_key(c) for c in (ec.SECP256R1(), ec.SECP384R1(),
                                                  ec.SECP521R1())]
    for key, alg in zip(keys, (cose.ES256, cose.ES384, cose.ES512), strict=True):
        signed = cose.sign(CORIM, key, alg, {3: "application/rim+cbor"})
        assert verify_signature(signed, key.public_key()) is True
    ed = ed25519.Ed25519PrivateKey.generate()
    signed = cose.sign(CORIM, ed, cose.EDDSA, {3: "application/rim+cbor"})
    assert verify_signature(signed, ed.public_key()) is True
    assert set(cose.SIGNED_CORIM_ALGORITHMS) == {-7, -35, -36, -8, -37}
