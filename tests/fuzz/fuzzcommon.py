"""Shared driver for the fuzz harnesses in this directory (run on demand, never by pytest).

The project rule for untrusted input: an input may only end in success or a
:class:`rmtool.errors.RmtoolError` subclass, within 1 s and without allocating more than
200 MB. :func:`guard` turns that rule into an oracle: an escaping exception of any other
type is a finding (atheris reports it and writes ``crash-*``); a slow input is written to
``fuzz-slow-<target>-<n>.bin``; the address space is capped at the size after warm-up
plus 256 MiB, so a huge allocation ends as a ``MemoryError`` (a finding too).

Two modes, for every harness ``fuzz_<target>.py``:

* atheris (coverage-guided; ``pip install atheris`` or the ``fuzz`` extra)::

    python tests/fuzz/fuzz_<target>.py NEW_CORPUS_DIR SEED_DIR... -max_total_time=300

* ``--mutate N SEED_DIR...``: an uninstrumented byte-mutation loop with a fixed seed
  (flips, interesting integers, truncation, splicing); failing inputs are written to
  ``fuzz-crash-<target>-<n>.bin`` in the current directory.
"""

from __future__ import annotations

import random
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

SLOW_SECONDS = 1.0
HEADROOM = 256 << 20

_slow = 0


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cap_memory() -> None:
    """Limit the address space to its current size + HEADROOM (Linux only)."""
    size = _vm_size()
    if size:
        resource.setrlimit(resource.RLIMIT_AS, (size + HEADROOM, resource.RLIM_INFINITY))


def guard(name: str, check: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """``check`` with RmtoolError accepted and slow inputs recorded."""
    from rmtool.errors import RmtoolError

    def one(data: bytes) -> None:
        global _slow
        start = time.perf_counter()
        try:
            check(data)
        except RmtoolError as exc:
            assert str(exc), "empty error message"
        elapsed = time.perf_counter() - start
        if elapsed > SLOW_SECONDS:
            _slow += 1
            path = Path(f"fuzz-slow-{name}-{_slow}.bin")
            path.write_bytes(data)
            print(f"SLOW {elapsed:.2f} s: {path}", file=sys.stderr, flush=True)

    return one


_INTERESTING = [0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
                0x80000000, 0xFFFFFFFF, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1F, 0x20, 0x40]


def mutate(rng: random.Random, seeds: list[bytes], max_len: int) -> bytes:
    data = bytearray(rng.choice(seeds)[:max_len])
    for _ in range(rng.randint(1, 4)):
        if not data:
            data = bytearray(rng.randbytes(rng.randint(1, 64)))
        op = rng.randrange(8)
        pos = rng.randrange(len(data))
        if op == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos] = rng.randrange(256)
        elif op == 2:
            order = rng.choice(("little", "big"))
            data[pos: pos + 4] = rng.choice(_INTERESTING).to_bytes(4, order)  # type: ignore[arg-type]
        elif op == 3:
            data[pos] = rng.choice(_INTERESTING) & 0xFF
        elif op == 4:
            del data[pos:]
        elif op == 5:
            other = rng.choice(seeds)
            start = rng.randrange(len(other)) if other else 0
            data[pos:pos] = other[start: start + rng.randint(1, 256)]
        elif op == 6:
            del data[pos: pos + rng.randint(1, 64)]
        else:
            data[pos:pos] = data[pos: pos + rng.randint(1, 32)] * rng.randint(1, 8)
    return bytes(data[:max_len])


def mutation_loop(name: str, check: Callable[[bytes], None], count: int,
                  seed_dirs: list[str], max_len: int) -> int:
    seeds = [p.read_bytes()[:max_len] for d in seed_dirs for p in sorted(Path(d).glob("*"))
             if p.is_file()]
    if not seeds:
        print("no seed files", file=sys.stderr)
        return 2
    one = guard(name, check)
    for s in seeds:  # warm up (imports, caches) before capping memory
        try:
            one(s)
        except Exception:  # noqa: BLE001 - reported below when mutated
            pass
    cap_memory()
    rng = random.Random(20260529)
    failures = 0
    start = time.perf_counter()
    for n in range(count):
        data = mutate(rng, seeds, max_len)
        try:
            one(data)
        except Exception:  # noqa: BLE001 - any escaping exception is a finding
            failures += 1
            Path(f"fuzz-crash-{name}-{n}.bin").write_bytes(data)
            traceback.print_exc()
        if n and n % 50000 == 0:
            rate = n / (time.perf_counter() - start)
            print(f"{n} inputs, {failures} failures, {rate:,.0f}/s", flush=True)
    elapsed = time.perf_counter() - start
    print(f"done: {count} inputs in {elapsed:.0f} s, {failures} failures, {_slow} slow")
    return 1 if failures else 0


def main(name: str, check: Callable[[bytes], None], modules: list[str],
         max_len: int = 8192) -> None:
    """Entry point of a harness: ``--mutate N DIR...`` or atheris arguments."""
    if len(sys.argv) > 2 and sys.argv[1] == "--mutate":
        sys.exit(mutation_loop(name, check, int(sys.argv[2]), sys.argv[3:], max_len))
    import importlib

    import atheris

    with atheris.instrument_imports(include=["rmtool"]):
        for module in modules:
            importlib.import_module(module)
    one = guard(name, check)
    one(b"")
    cap_memory()
    argv = sys.argv if any(a.startswith("-max_len=") for a in sys.argv) else \
        [*sys.argv, f"-max_len={max_len}"]
    atheris.Setup(argv, one)
    atheris.Fuzz()
