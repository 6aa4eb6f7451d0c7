"""Realm Hash Algorithms (RMM spec DEN0137 A7.1, B4.4; TF-RMM ``lib/measurement``).

One table maps the RMI encoding (RmiRealmParams.hash_algo), the hashlib name, the
hash size, the token claim text (44236), and the TCG algorithm id used in event logs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rmtool.errors import UsageError


@dataclass(frozen=True)
class HashAlgo:
    name: str  # "sha256"
    rmi: int  # RmiRealmParams.hash_algo encoding
    size: int  # hash_size in bytes
    token_name: str  # "sha-256" (claim 44236, CoMID prefix)
    tcg_id: int  # TPM_ALG_ID in event logs

    def new(self) -> Any:
        return hashlib.new(self.name)

    def hash(self, data: bytes | memoryview) -> bytes:
        return hashlib.new(self.name, data).digest()


SHA256 = HashAlgo("sha256", 0, 32, "sha-256", 0x000B)
SHA512 = HashAlgo("sha512", 1, 64, "sha-512", 0x000D)
SHA384 = HashAlgo("sha384", 2, 48, "sha-384", 0x000C)

ALGORITHMS: dict[str, HashAlgo] = {a.name: a for a in (SHA256, SHA512, SHA384)}
_ALIASES = {"sha-256": SHA256, "sha-512": SHA512, "sha-384": SHA384,
            "rmihashsha256": SHA256, "rmihashsha512": SHA512, "rmihashsha384": SHA384}


def by_name(name: str) -> HashAlgo:
    """Algorithm from ``sha256`` / ``sha-256`` / ``RmiHashSha256`` spellings."""
    key = name.strip().lower()
    found = ALGORITHMS.get(key) or _ALIASES.get(key)
    if found is None:
        raise UsageError(f"unknown hash algorithm `{name}`")
    return found


def by_rmi(value: int) -> HashAlgo:
    for a in ALGORITHMS.values():
        if a.rmi == value:
            return a
    raise UsageError(f"unknown RMI hash algorithm encoding {value}")

