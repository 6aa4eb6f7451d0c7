"""Fuzz harness for CoRIM / CoMID input (run on demand; pytest does not collect it).

Each input goes through :func:`rmtool.verify.corim.realm.reference_values_from_bytes` (CBOR
CoRIM, signed CoRIM, bare CoMID or CoMID JSON), :func:`rmtool.verify.corim.realm.lint` with the
profile rules only (no CDDL, for speed) and :func:`rmtool.verify.corim.realm.describe`, whose
result must be JSON-serialisable as ``rmtool corim show --format json`` prints it. Oracle
and modes: see ``fuzzcommon``. Seeds: the shared corpus ``corim/cbor`` and ``corim/json``
and CoRIMs written by ``rmtool.verify.corim.realm.build_realm_corim``::

    python tests/fuzz/fuzz_corim.py /tmp/corimfuzz SEED_DIR -max_total_time=300
"""

from __future__ import annotations

import json

import fuzzcommon


def check_one(data: bytes) -> None:
    from rmtool.errors import RmtoolError
    from rmtool.verify.corim.realm import describe, lint, reference_values_from_bytes

    for step in (
        lambda: [json.dumps(r.to_json()) for r in reference_values_from_bytes(data)],
        lambda: [json.dumps(f.to_json()) for f in lint(data, use_env=False)],
        lambda: json.dumps(describe(data)),
    ):
        try:
            step()
        except RmtoolError:
            pass


if __name__ == "__main__":
    fuzzcommon.main("corim", check_one, ["rmtool.verify.corim.realm",
                                         "rmtool.verify.corim._model", "rmtool.verify.corim._lint",
                                         "rmtool.verify.corim._comid_json", "rmtool.verify.cose"])
