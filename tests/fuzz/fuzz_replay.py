"""Fuzz harness for event-log replay (run on demand; pytest does not collect it).

Each input is replayed with :func:`rmtool.replay.replay_log` (no reference images, an
in-memory image store) and the result rendered as ``rmtool replay --format json`` does.
Oracle and modes: see ``fuzzcommon``. Seeds: logs written by ``rmtool measure ...
--emit-log`` for the rows of ``vectors/anchor-visible.tsv`` (as in
``tests/test_replay_roundtrip.py``) and the shared corpus ``eventlogs/cca-realm``::

    python tests/fuzz/fuzz_replay.py /tmp/replayfuzz SEED_DIR -max_total_time=300
"""

from __future__ import annotations

import json
from typing import Any

import fuzzcommon

_STORE: list[Any] = []


def check_one(data: bytes) -> None:
    from rmtool.replay import ImageStore, replay_log

    if not _STORE:
        _STORE.append(ImageStore(":memory:", jobs=1))
    result = replay_log(data, [], store=_STORE[0])
    json.dumps(result.as_json())


if __name__ == "__main__":
    fuzzcommon.main("replay", check_one, ["rmtool.replay._engine", "rmtool.replay._cca",
                                          "rmtool.replay._dtbgen", "rmtool.replay._indexmap",
                                          "rmtool.eventlog._parser", "rmtool.eventlog._decode",
                                          "rmtool.measure.rmm.realm"])
