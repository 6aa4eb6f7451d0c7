"""Fuzz harness for rmtool.eventlog (run on demand; pytest does not collect it).

Every input goes through the library surface a verifier uses: ``parse``, lazy iteration,
event-data decoding, digest checks, register replay of every bank and the JSON rendering
of ``rmtool log show``. Any exception escaping is a finding (malformed input must end as
``EventLog.errors`` or a decode error inside ``Event.decoded``).

Two modes:

* atheris (coverage-guided; ``pip install atheris``); new inputs go to the first dir::

    python tests/fuzz/fuzz_eventlog.py /tmp/evfuzz SEED_DIR... -max_len=4096 -runs=200000

* ``--mutate N SEED_DIR...``: an uninstrumented mutation loop (byte flips, interesting
  integers at 4-byte-aligned offsets, truncation, splicing of two seeds), N inputs,
  deterministic seed; much faster, for large input counts. Failing inputs are written
  to ``fuzz-crash-eventlog-<n>.bin`` in the current directory.

Both modes use the shared driver in ``fuzzcommon`` (also its memory and time oracles).

Seeds: the shared corpus, read in place (``../shared/corpus/eventlogs/{tpm2,sha1,...}``).
"""

from __future__ import annotations

import json

import fuzzcommon


def check_one(data: bytes) -> None:
    from rmtool.cli._log import event_dict
    from rmtool.eventlog import parse
    from rmtool.eventlog._replay import replay_all

    log = parse(data, max_event_size=1 << 20)
    for event in log:
        json.dumps(event_dict(event))
    replay_all(log)
    for err in log.errors:
        assert isinstance(err.offset, int) and 0 <= err.offset <= len(data), err
        assert err.field and err.message
    assert log.padding >= 0


if __name__ == "__main__":
    fuzzcommon.main("eventlog", check_one, ["rmtool.cli._log", "rmtool.eventlog"], max_len=4096)
