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
  to ``fuzz-crash-<n>.bin`` in the current directory.

Seeds: the shared corpus, read in place (``../shared/corpus/eventlogs/{tpm2,sha1,...}``).
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from pathlib import Path


def check_one(data: bytes) -> None:
    from rmtool.cli.log import event_dict
    from rmtool.eventlog import parse
    from rmtool.eventlog.replay import replay_all

    log = parse(data, max_event_size=1 << 20)
    for event in log:
        json.dumps(event_dict(event))
    replay_all(log)
    for err in log.errors:
        assert isinstance(err.offset, int) and 0 <= err.offset <= len(data), err
        assert err.field and err.message
    assert log.padding >= 0


_INTERESTING = [0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
                0x80000000, 0xFFFFFFFF, 0x0B, 0x04, 0x0C, 0x0D, 0x12, 0x80000001,
                0x80000003, 0x8000000A, 0x13, 6, 0x20, 0x30, 0x40]


def mutate(rng: random.Random, seeds: list[bytes], max_len: int) -> bytes:
    data = bytearray(rng.choice(seeds)[:max_len])
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not data:
            data = bytearray(rng.randbytes(rng.randint(1, 64)))
        pos = rng.randrange(len(data))
        if op == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos] = rng.randrange(256)
        elif op == 2:
            aligned = pos & ~3
            data[aligned: aligned + 4] = rng.choice(_INTERESTING).to_bytes(4, "little")
        elif op == 3:
            aligned = pos & ~1
            data[aligned: aligned + 2] = (rng.choice(_INTERESTING) & 0xFFFF).to_bytes(2, "little")
        elif op == 4:
            del data[pos:]
        elif op == 5:
            other = rng.choice(seeds)
            start = rng.randrange(len(other)) if other else 0
            data[pos:pos] = other[start: start + rng.randint(1, 256)]
        else:
            del data[pos: pos + rng.randint(1, 64)]
    return bytes(data[:max_len])


def mutation_loop(count: int, seed_dirs: list[str], max_len: int = 8192) -> int:
    seeds = [p.read_bytes()[:max_len] for d in seed_dirs for p in sorted(Path(d).glob("*"))
             if p.is_file()]
    if not seeds:
        print("no seed files", file=sys.stderr)
        return 2
    rng = random.Random(20260529)
    failures = 0
    start = time.perf_counter()
    for n in range(count):
        data = mutate(rng, seeds, max_len)
        try:
            check_one(data)
        except Exception:  # noqa: BLE001 - any escaping exception is a finding
            failures += 1
            Path(f"fuzz-crash-{n}.bin").write_bytes(data)
            traceback.print_exc()
        if n and n % 100000 == 0:
            rate = n / (time.perf_counter() - start)
            print(f"{n} inputs, {failures} failures, {rate:,.0f}/s", flush=True)
    elapsed = time.perf_counter() - start
    print(f"done: {count} inputs in {elapsed:.0f} s, {failures} failures")
    return 1 if failures else 0


def atheris_main() -> None:
    import atheris

    with atheris.instrument_imports():
        import rmtool.cli.log  # noqa: F401
        import rmtool.eventlog  # noqa: F401

    atheris.Setup(sys.argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--mutate":
        sys.exit(mutation_loop(int(sys.argv[2]), sys.argv[3:]))
    atheris_main()
