"""Fuzz harness for CCA attestation tokens (run on demand; pytest does not collect it).

Each input is decoded with :func:`rmtool.verify.token.codec.decode_token` (tag 399/907
collections, parsec wrapper, bare COSE_Sign1), rendered as ``rmtool token show --format
json`` does, and every check of :func:`rmtool.verify.token.checks.verify_token` is run (plain and
strict, with a fixed platform key). Oracle and modes: see ``fuzzcommon``. Seeds: the shared
corpus ``tokens/`` and tokens written by ``rmtool.verify.token.codec.build_cca_token``::

    python tests/fuzz/fuzz_token.py /tmp/tokfuzz SEED_DIR -max_total_time=300
"""

from __future__ import annotations

import json
from typing import Any

import fuzzcommon

_KEYS: list[Any] = []


def check_one(data: bytes) -> None:
    from rmtool.verify.token.checks import verify_token
    from rmtool.verify.token.codec import decode_token

    if not _KEYS:
        from cryptography.hazmat.primitives.asymmetric import ec

        _KEYS.append(ec.derive_private_key(7, ec.SECP384R1()).public_key())
    tok = decode_token(data)
    json.dumps(tok.to_json())
    for strict in (False, True):
        for check in verify_token(tok, _KEYS, strict=strict):
            json.dumps(check.to_json())


if __name__ == "__main__":
    fuzzcommon.main("token", check_one, ["rmtool.verify.token.codec", "rmtool.verify.token.checks",
                                         "rmtool.verify._cbor", "rmtool.verify.cose",
                                         "rmtool.verify.token._claims"])
