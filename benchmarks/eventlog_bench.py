"""Event-log parser benchmark (issue 5).

Builds a 101,501-event log from the corpus log ``tpm2/tpm2tss_binary_measurements_hcrtm.bin``
(its Spec ID header, then its 203 other events repeated 500 times), then reports:

* in-process ``parse`` + full iteration + replay of every bank, in events/s;
* whole-process wall time of ``rmtool log show --format json FILE >/dev/null`` and of
  ``tpm2_eventlog FILE >/dev/null`` in the same run (best of ``--runs``), and their ratio.

Usage: ``python benchmarks/eventlog_bench.py [--runs N] [--corpus DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rmtool.eventlog import parse, replay_all

REPEAT = 500
SOURCE = "tpm2/tpm2tss_binary_measurements_hcrtm.bin"


def build_big_log(source: bytes) -> bytes:
    log = parse(source)
    events = log.events
    if log.errors or len(events) < 2:
        raise SystemExit(f"cannot use {SOURCE}: {log.errors}")
    header_end = events[1].offset
    return source[:header_end] + source[header_end:] * REPEAT


def wall(cmd: list[str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    default_corpus = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "eventlogs"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=default_corpus)
    args = parser.parse_args()
    source = (args.corpus / SOURCE).read_bytes()
    data = build_big_log(source)

    start = time.perf_counter()
    log = parse(data)
    count = sum(1 for _ in log)
    regs = replay_all(log)
    elapsed = time.perf_counter() - start
    assert not log.errors and count == 1 + 203 * REPEAT, (count, log.errors)
    print(f"events: {count}  bytes: {len(data)}  banks: {', '.join(regs)}")
    print(f"in-process parse+iterate+replay: {elapsed:.3f} s = {count / elapsed:,.0f} events/s")

    start = time.perf_counter()
    for event in parse(data):
        event.decoded  # noqa: B018 - force lazy decoding
        event.digest_matches_data  # noqa: B018
    elapsed = time.perf_counter() - start
    print(f"in-process decode + digest checks: {elapsed:.3f} s = {count / elapsed:,.0f} events/s")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.bin"
        path.write_bytes(data)
        rmtool = shutil.which("rmtool")
        ours_cmd = ([rmtool] if rmtool else [sys.executable, "-m", "rmtool.cli.main"])
        ours = wall([*ours_cmd, "log", "show", "--format", "json", str(path)], args.runs)
        print(f"rmtool log show --format json: {ours:.3f} s")
        tpm2 = shutil.which("tpm2_eventlog")
        if tpm2 is None:
            print("tpm2_eventlog not installed: no ratio")
            return 0
        theirs = wall([tpm2, str(path)], args.runs)
        print(f"tpm2_eventlog:                 {theirs:.3f} s")
        print(f"ratio rmtool / tpm2_eventlog:  {ours / theirs:.2f} (target <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
