"""The one test helper that builds signed CCA attestation tokens (diagnose, compare...).

Keys are generated here with ``cryptography`` (P-384 RAK and CPAK, once per test
session), or read from the corpus test keys (../shared/corpus/tokens/keys,
PROVENANCE.md) with :func:`corpus_keys`. A token carries the realm claims a Realm's
``rmtool measure --format json`` output gives (RIM, REMs, algorithm, RPV), signed with
the RAK and bound by a platform token signed with the CPAK
(``rmtool.verify.token.codec.build_cca_token``). :func:`forged` re-signs the realm token
with another key: the token then fails ``realm.signature``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.verify import cose
from rmtool.verify.token import _claims as C
from rmtool.verify.token.codec import (
    TAG_CCA_399,
    build_cca_token,
    build_platform_token,
    build_realm_token,
    make_platform_claims,
    make_realm_claims,
)

KEYS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "tokens" / "keys"
ALGO_CLAIM = {"sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}


@dataclass(frozen=True)
class TokenKeys:
    rak: ec.EllipticCurvePrivateKey
    cpak: ec.EllipticCurvePrivateKey

    def cpak_pem(self, directory: Path) -> Path:
        """The CPAK's public key as PEM (``--platform-key``)."""
        path = directory / "cpak.pem"
        path.write_bytes(self.cpak.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return path


@functools.cache
def generated_keys() -> TokenKeys:
    return TokenKeys(ec.generate_private_key(ec.SECP384R1()),
                     ec.generate_private_key(ec.SECP384R1()))


def corpus_keys() -> TokenKeys:
    rak = cose.load_key(KEYS / "tfmtools_cca_realm.pem")
    cpak = cose.load_key(KEYS / "tfmtools_cca_platform.pem")
    assert isinstance(rak, ec.EllipticCurvePrivateKey)
    assert isinstance(cpak, ec.EllipticCurvePrivateKey)
    return TokenKeys(rak, cpak)


def token_bytes(rim: bytes, rems: list[bytes], *, hash_algo: str = "sha256",
                rpv: bytes = bytes(64), keys: TokenKeys | None = None) -> bytes:
    """A complete, correctly signed and bound CCA token with these realm claims."""
    k = keys or generated_keys()
    claims = make_realm_claims(k.rak, rim=rim, rems=rems, hash_algo=ALGO_CLAIM[hash_algo],
                               rpv=rpv)
    return build_cca_token(claims, rak=k.rak, cpak=k.cpak)


def from_measure_json(doc: dict[str, Any], *, rpv: bytes | None = None,
                      keys: TokenKeys | None = None) -> bytes:
    """The token of the Realm ``rmtool measure --format json`` printed ``doc`` for."""
    value = rpv if rpv is not None else bytes.fromhex(doc["personalization_value"])
    return token_bytes(bytes.fromhex(doc["rim"]), [bytes.fromhex(r) for r in doc["rems"]],
                       hash_algo=doc["hash_algo"], rpv=value, keys=keys)


def forged(rim: bytes, rems: list[bytes], *, hash_algo: str = "sha256",
           rpv: bytes = bytes(64), keys: TokenKeys | None = None) -> bytes:
    """A token whose realm token carries the genuine RAK claim (so the platform token
    still binds it) but is signed by another key: an attacker's token that must fail
    ``realm.signature`` whatever its claims say."""
    k = keys or generated_keys()
    claims = make_realm_claims(k.rak, rim=rim, rems=rems, hash_algo=ALGO_CLAIM[hash_algo],
                               rpv=rpv)
    other = ec.generate_private_key(ec.SECP384R1())
    platform = build_platform_token(make_platform_claims(claims), k.cpak)
    realm = build_realm_token(claims, other)
    return bytes(cbor2.dumps(cbor2.CBORTag(TAG_CCA_399, {C.PLATFORM_KEY: platform,
                                                        C.REALM_KEY: realm})))
