"""The one table of hash algorithms rmtool knows, and the lookups every layer shares.

Each row names one algorithm once: its canonical name (the lower-case TCG bank name,
``sha256``), the ``hashlib`` name, the digest size, the TCG ``TPM_ALG_ID`` (TCG Algorithm
Registry, Table 3 "TPM_ALG_ID Constants"), the RMI encoding of ``RmiHashAlgorithm``
(RMM specification DEN0137, B4.4.3: 0 SHA-256, 1 SHA-512, 2 SHA-384; spec/rmm-measurement.md
§2) and its enumerator name, and the Named Information Hash Algorithm Registry id and text
name (RFC 6920 §9.4, IANA "Named Information Hash Algorithm Registry"), which CoMID digests
(draft-ietf-rats-corim, ``digest = [alg, val]``) and the CCA token's hash-algo-id claims
(draft-ffm-rats-cca-token §4: ``"sha-256"``) use.

Every other hash-algorithm table of rmtool is a view computed from :data:`TABLE` in the
module that consumes it (``rmtool.eventlog._constants``, ``rmtool.measure.rmm.algorithms``
and the profiles' ``algorithm_names`` the VMM front-ends accept, ``rmtool.verify.token._claims``,
``rmtool.verify.corim``, ``rmtool.verify.cose`` (the signature algorithms' digests),
``rmtool.replay._store``, ``rmtool.replay._cca`` (the CCEL banks), the CLI's ``--hash-algo``
choices); each consumer keeps accepting exactly the spellings it accepted
before (this module widens no parser). The module sits next to ``rmtool/_binlayout.py`` and
imports nothing from rmtool, so the event-log layer may use it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class HashAlgorithm:
    """One hash algorithm, with every identifier rmtool reads or writes for it."""

    name: str  # canonical: the TCG bank name in lower case ("sha256", "sm3_256")
    hashlib_name: str  # hashlib.new name (the untruncated function for sha-256-128 & co)
    size: int  # digest bytes (truncated size for the sha-256-N entries)
    tcg_id: int | None = None  # TPM_ALG_ID (TCG Algorithm Registry)
    rmi: int | None = None  # RmiHashAlgorithm encoding (RmiRealmParams.hash_algo)
    rmi_name: str | None = None  # the RMM specification's enumerator name ("RmiHashSha256")
    ni_id: int | None = None  # Named Information Hash Algorithm Registry id (RFC 6920)
    ni_name: str | None = None  # its text name ("sha-256"): CoMID digests, token claims

    @property
    def is_realm(self) -> bool:
        """A Realm Hash Algorithm (one RmiRealmParams.hash_algo can select)."""
        return self.rmi is not None

    def digest(self, data: bytes | memoryview) -> bytes:
        """One-shot digest (truncated to ``size`` for the RFC 6920 truncated entries)."""
        return hashlib.new(self.hashlib_name, data).digest()[:self.size]


SHA1: Final = HashAlgorithm("sha1", "sha1", 20, tcg_id=0x0004)
SHA256: Final = HashAlgorithm("sha256", "sha256", 32, tcg_id=0x000B, rmi=0,
                              rmi_name="RmiHashSha256", ni_id=1, ni_name="sha-256")
SHA384: Final = HashAlgorithm("sha384", "sha384", 48, tcg_id=0x000C, rmi=2,
                              rmi_name="RmiHashSha384", ni_id=7, ni_name="sha-384")
SHA512: Final = HashAlgorithm("sha512", "sha512", 64, tcg_id=0x000D, rmi=1,
                              rmi_name="RmiHashSha512", ni_id=8, ni_name="sha-512")
SM3_256: Final = HashAlgorithm("sm3_256", "sm3", 32, tcg_id=0x0012)
SHA3_256: Final = HashAlgorithm("sha3_256", "sha3_256", 32, tcg_id=0x0027, ni_id=10,
                                ni_name="sha3-256")
SHA3_384: Final = HashAlgorithm("sha3_384", "sha3_384", 48, tcg_id=0x0028, ni_id=11,
                                ni_name="sha3-384")
SHA3_512: Final = HashAlgorithm("sha3_512", "sha3_512", 64, tcg_id=0x0029, ni_id=12,
                                ni_name="sha3-512")
SHA3_224: Final = HashAlgorithm("sha3_224", "sha3_224", 28, ni_id=9, ni_name="sha3-224")
# RFC 6920 §9.4: SHA-256 truncated to the leftmost N bits.
SHA256_128: Final = HashAlgorithm("sha256_128", "sha256", 16, ni_id=2, ni_name="sha-256-128")
SHA256_120: Final = HashAlgorithm("sha256_120", "sha256", 15, ni_id=3, ni_name="sha-256-120")
SHA256_96: Final = HashAlgorithm("sha256_96", "sha256", 12, ni_id=4, ni_name="sha-256-96")
SHA256_64: Final = HashAlgorithm("sha256_64", "sha256", 8, ni_id=5, ni_name="sha-256-64")
SHA256_32: Final = HashAlgorithm("sha256_32", "sha256", 4, ni_id=6, ni_name="sha-256-32")

#: The one declaration. Order: TCG algorithms by TPM_ALG_ID, then the RFC 6920-only ones
#: by registry id (views keep this order unless they say otherwise).
TABLE: Final[tuple[HashAlgorithm, ...]] = (
    SHA1, SHA256, SHA384, SHA512, SM3_256, SHA3_256, SHA3_384, SHA3_512,
    SHA3_224, SHA256_128, SHA256_120, SHA256_96, SHA256_64, SHA256_32,
)

BY_NAME: Final[dict[str, HashAlgorithm]] = {a.name: a for a in TABLE}

#: Algorithms an event log's digest banks may use (those with a TPM_ALG_ID).
TCG: Final[tuple[HashAlgorithm, ...]] = tuple(a for a in TABLE if a.tcg_id is not None)

#: Realm Hash Algorithms (those with an RMI encoding), by digest size.
REALM: Final[tuple[HashAlgorithm, ...]] = tuple(
    sorted((a for a in TABLE if a.is_realm), key=lambda a: a.size))

#: Realm Hash Algorithms by RMI encoding (the order of RmiHashAlgorithm).
REALM_BY_RMI: Final[tuple[HashAlgorithm, ...]] = tuple(
    sorted(REALM, key=lambda a: a.rmi if a.rmi is not None else -1))

#: Algorithms with a Named Information Hash Algorithm Registry entry.
NAMED_INFORMATION: Final[tuple[HashAlgorithm, ...]] = tuple(
    a for a in TABLE if a.ni_id is not None)
