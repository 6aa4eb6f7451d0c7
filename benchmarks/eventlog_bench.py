"""Event-log parser benchmark.

Builds a 101,501-event log from the corpus log ``tpm2/tpm2tss_binary_measurements_hcrtm.bin``
(its Spec ID header, then its 203 other events repeated 500 times), then reports:

* in-process ``parse`` + full iteration + replay of every bank, in events/s;
* whole-process wall time of ``rmtool log show --format json FILE >/dev/null`` and of
  ``tpm2_eventlog FILE >/dev/null`` in the same run (best of ``--runs``), and their ratio.

Minimal-event case: a 1,320,000-event Realm log of minimal REM extends
(``rmtool.eventlog.build.minimal_rem_log``: Spec ID declaring SHA-256 only, VM VERSION,
REALM_CREATE, then 50-byte EV_EFI_ACTION events with one digest and empty data; 62.9 MiB,
under the 64 MiB cap), given to ``rmtool replay --format json`` and ``rmtool log show
--format json`` / ``--format table`` in a child process: wall time, CPU time and peak RSS
(``os.wait4``) against the targets (replay <= 15 s, <= 400 MB).

Usage: ``python benchmarks/eventlog_bench.py [--runs N] [--corpus DIR]
[--case all|parser|minimal]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rmtool.eventlog import parse, replay_all
from rmtool.eventlog.build import minimal_rem_log

MINIMAL_EVENTS = 1_320_000
TARGET_SECONDS, TARGET_RSS_MB = 15.0, 400.0

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


def child(cmd: list[str]) -> tuple[float, float, float, int]:
    """Run ``cmd`` (stdout discarded): wall s, CPU s (user + sys), peak RSS MB, status."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.perf_counter() - start
    return wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def minimal_case(runs: int) -> None:
    data = minimal_rem_log(MINIMAL_EVENTS)
    print(f"minimal-event log: {MINIMAL_EVENTS} events + 3 header events, {len(data)} bytes "
          f"({len(data) / (1 << 20):.2f} MiB)")
    ours = [sys.executable, "-m", "rmtool.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "minimal.bin"
        path.write_bytes(data)
        store = str(Path(tmp) / "store.sqlite3")
        cases = {
            "replay": [*ours, "replay", str(path), "--store", store, "--format", "json"],
            "log show json": [*ours, "log", "show", "--format", "json", str(path)],
            "log show table": [*ours, "log", "show", "--format", "table", str(path)],
        }
        for name, cmd in cases.items():
            best = min((child(cmd) for _ in range(runs)), key=lambda r: r[0])
            wall_s, cpu_s, rss_mb, status = best
            verdict = ""
            if name == "replay":
                ok = wall_s <= TARGET_SECONDS and rss_mb <= TARGET_RSS_MB
                verdict = (f"  targets <= {TARGET_SECONDS:.0f} s, <= {TARGET_RSS_MB:.0f} MB: "
                           f"{'met' if ok else 'NOT met'}")
            print(f"{name:14s} exit {status}: wall {wall_s:.2f} s, cpu {cpu_s:.2f} s, "
                  f"peak RSS {rss_mb:.0f} MB{verdict}")


def main() -> int:
    default_corpus = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "eventlogs"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=default_corpus)
    parser.add_argument("--case", choices=["all", "parser", "minimal"], default="all")
    args = parser.parse_args()
    if args.case in ("all", "minimal"):
        minimal_case(args.runs)
        if args.case == "minimal":
            return 0
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
