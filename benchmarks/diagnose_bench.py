"""Benchmark: the no-log ``rmtool diagnose`` search (run on demand, not in the suite).

Workloads (kvmtool, ``-c 2 -m 1G``, SHA-256):

* large: the 64 MiB kernel and 100 MiB initrd from ../shared/vectors/gen_inputs.py (as
  benchmarks/measure_bench.py), target >= 50 candidates/s on 2 cores;
* small: an 8 MiB kernel (``rmtool.examples.arm64_image``) and a 3 MiB initrd, target
  >= 500 candidates/s.

For each, with a warm image store (one measurement first, in a temporary store):

* throughput: a search for an unreachable target limited to all its single changes,
  then to the first ``--candidates`` candidates (singles, then pairs), candidates per
  second (wall, and per CPU second of the process and its workers);
* time to find a RAM-size change (1G -> 2G) and a vCPU change (2 -> 5), neither of them
  the first candidate, with ``candidates_tried``.

Prints the load average (the machine may be shared) and the worker count.

    python benchmarks/diagnose_bench.py [--inputs DIR] [--jobs N] [--candidates 1000]
        [--workers processes|threads] [--only small|large]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

from rmtool.cli.measure import parse_measure_args  # noqa: E402
from rmtool.diagnose.knobs import expected_value, with_parameter  # noqa: E402
from rmtool.diagnose.model import Target  # noqa: E402
from rmtool.diagnose.search import (  # noqa: E402
    ORDER,
    Evaluator,
    PrefixMeasurer,
    SearchSettings,
    classify_images,
    search,
    value_groups,
)
from rmtool.examples import arm64_image  # noqa: E402

MIB = 1 << 20


def measure_argv(kernel: Path, initrd: Path) -> list[str]:
    return ["--num-bps", "6", "--num-wps", "6", "--ipa-bits", "40", "--sve-vl", "512",
            "--pmu", "true", "--pmu-num-ctrs", "6", "-k", str(kernel), "-i", str(initrd),
            "kvmtool", "--realm", "-c", "2", "-m", "1G", "-k", "x", "-i", "y",
            "--measurement-algo", "sha256"]


def target_of(argv: list[str]) -> Target:
    m = parse_measure_args(argv).measure().measurements
    return Target(m.rim, tuple(m.rems), m.hash_algo.name)


def single_changes(argv: list[str]) -> int:
    """How many candidates the single-change phase has (the expected Realm included)."""
    req = parse_measure_args(argv)
    build = req.build()
    base = {n: expected_value(req, build, n) for n in ORDER}
    base["ram_bits"] = max((b + n - 1).bit_length() for b, n in build.ram)
    groups = value_groups(base, classify_images(()), "sha256")
    return 1 + sum(len(v) for v in groups.values())


def cpu_seconds() -> float:
    """CPU time of this process and its (joined) workers: unlike wall time, it does not
    grow when other processes share the cores."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def per_kind(argv: list[str], settings: SearchSettings) -> str:
    """Milliseconds per candidate (wall and CPU), one process, by what the change
    re-runs."""
    ev = Evaluator(parse_measure_args, argv, Target(bytes(32), (bytes(32),) * 4),
                   PrefixMeasurer(settings.store_path, 1))
    ev.run(())
    kinds = {
        "vCPU (DTB + REC)": [(("cpus", n),) for n in range(3, 23)],
        "host capability (whole chain)": [(("num_bps", n),) for n in range(7, 27)],
        "RAM size (RIPAS + whole chain)": [(("memory_size", m * MIB),)
                                           for m in range(1024 + 64, 2048 + 64, 64)][:20],
    }
    out = []
    for name, cands in kinds.items():
        t0, c0 = time.perf_counter(), time.process_time()
        for c in cands:
            ev.run(c)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.append(f"{name} {wall / len(cands) * 1000:.1f} ms "
                   f"({cpu / len(cands) * 1000:.1f} CPU ms)")
    return ", ".join(out)


def one_workload(name: str, kernel: Path, initrd: Path, settings: SearchSettings,
                 candidates: int) -> None:
    argv = measure_argv(kernel, initrd)
    req = parse_measure_args(argv)
    unreachable = Target(bytes(32), (bytes(32),) * 4, "sha256")
    # warm: the store holds the granule hashes (a first search fills it)
    search(req, unreachable, parse_measure_args,
           SearchSettings(**{**settings.__dict__, "max_candidates": 1}))
    for label, limit in (("all single changes", single_changes(argv)),
                         ("first candidates", candidates)):
        t0, c0 = time.perf_counter(), cpu_seconds()
        r = search(req, unreachable, parse_measure_args,
                   SearchSettings(**{**settings.__dict__, "max_candidates": limit}))
        dt, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        print(f"{name}: {label}: {r.candidates_tried} candidates in {dt:.2f} s: "
              f"{r.candidates_tried / dt:.0f} candidates/s (search set-up included); "
              f"{cpu:.2f} CPU s: {r.candidates_tried / cpu:.0f} candidates per CPU second")
    print(f"{name}: per candidate, one process: {per_kind(argv, settings)}")
    for what, param, value in (("RAM size 1G -> 2G", "memory_size", 2 << 30),
                               ("vCPUs 2 -> 5", "cpus", 5)):
        target = target_of(with_parameter(req, param, value))
        t0 = time.perf_counter()
        r = search(req, target, parse_measure_args, settings)
        dt = time.perf_counter() - t0
        found = ", ".join(f"{c.parameter} {c.expected} -> {c.actual}" for c in r.causes)
        print(f"{name}: {what}: found [{found}] after {r.candidates_tried} candidates in "
              f"{dt:.2f} s (full re-measurement of the match included)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=Path)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--only", choices=("large", "small"))
    ap.add_argument("--workers", choices=("processes", "threads"), default="processes")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = a.inputs
        if inputs is None and a.only != "small":
            inputs = Path(tmp) / "in"
            subprocess.run([sys.executable, str(SHARED / "vectors" / "gen_inputs.py"),
                            str(inputs)], check=True, capture_output=True)
        small_k, small_i = Path(tmp) / "Image-8M", Path(tmp) / "initrd-3M"
        small_k.write_bytes(arm64_image(8 * MIB, label="bench-kernel"))
        small_i.write_bytes(os.urandom(3 * MIB))
        settings = SearchSettings(jobs=a.jobs, store_path=str(Path(tmp) / "store.sqlite"),
                                  workers=a.workers)
        print(f"cpus: {os.cpu_count()}  jobs: {a.jobs or os.cpu_count()} {a.workers}  "
              f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if a.only != "large":
            one_workload("small (8 MiB kernel + 3 MiB initrd)", small_k, small_i, settings,
                         a.candidates)
        if a.only != "small" and inputs is not None:
            one_workload("large (64 MiB kernel + 100 MiB initrd)", inputs / "Image-64M.bin",
                         inputs / "initrd-100M.bin", settings, a.candidates)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
