"""Realm Hash Algorithms (RMM spec DEN0137 A7.1, B4.4; TF-RMM ``lib/measurement``).

The Realm model's view of the one hash-algorithm table (``rmtool._hashalgo``): the rows
with an RMI encoding (RmiRealmParams.hash_algo), each with its hashlib name, hash size,
token claim text (44236) and the TCG algorithm id used in event logs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rmtool import _hashalgo as hashalgo
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

    @classmethod
    def from_table(cls, row: hashalgo.HashAlgorithm) -> HashAlgo:
        """The Realm view of a row of ``rmtool._hashalgo.TABLE`` (one with an RMI encoding)."""
        if (row.rmi is None or row.ni_name is None or row.tcg_id is None
                or row.hashlib_name != row.name):
            raise ValueError(f"{row.name} is not a Realm Hash Algorithm")
        return cls(row.name, row.rmi, row.size, row.ni_name, row.tcg_id)


# By RMI encoding (0 SHA-256, 1 SHA-512, 2 SHA-384): the --hash-algo choices' order.
ALGORITHMS: dict[str, HashAlgo] = {
    row.name: HashAlgo.from_table(row) for row in hashalgo.REALM_BY_RMI}
SHA256 = ALGORITHMS[hashalgo.SHA256.name]
SHA512 = ALGORITHMS[hashalgo.SHA512.name]
SHA384 = ALGORITHMS[hashalgo.SHA384.name]

# Other spellings by_name accepts (case-insensitive): the token/CoMID text and the RMM
# specification's enumerator name.
_ALIASES = {spelling.lower(): ALGORITHMS[row.name] for row in hashalgo.REALM_BY_RMI
            for spelling in (row.ni_name, row.rmi_name) if spelling is not None}


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

