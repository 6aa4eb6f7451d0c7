"""Benchmark: ``rmtool measure`` versus a single-thread hashlib loop (run on demand).

Inputs: the 64 MiB kernel and 100 MiB initrd from ../shared/vectors/gen_inputs.py.
For sha256 and sha512 it measures, side by side in one run:

* baseline: one thread, for each 4 KiB granule of both images, H(granule) plus one
  256-byte descriptor hash (the minimum work the RMM model must do);
* rmtool: the whole process ``rmtool measure ... kvmtool`` (wall time, peak RSS), with
  the granule-hashing core it uses by default (``native`` when the C module is built) and,
  for comparison, with ``RMTOOL_NATIVE=0`` (the hashlib-only ``python`` core).

Prints the wall-time ratio rmtool / baseline (target <= 0.85) and peak RSS (<= 100 MB).
Before timing, rmtool's modules are byte-compiled (``compileall``), as a regular
``pip install`` does: where PYTHONDONTWRITEBYTECODE is set, an editable install would
otherwise compile them again in every process. One untimed run warms the page cache.

    python benchmarks/measure_bench.py [--inputs DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GRANULE = 4096


def baseline(paths: list[Path], algo: str) -> float:
    ctor = getattr(hashlib, algo)
    t0 = time.perf_counter()
    rim = bytes(64)
    for p in paths:
        with open(p, "rb") as f:
            while True:
                g = f.read(GRANULE)
                if not g:
                    break
                if len(g) < GRANULE:
                    g += bytes(GRANULE - len(g))
                content = ctor(g).digest()
                desc = (b"\0" * 16 + rim + b"\0" * 16 + content).ljust(256, b"\0")
                rim = ctor(desc).digest().ljust(64, b"\0")
    return time.perf_counter() - t0


def run_rmtool(inputs: Path, algo: str, core: str = "default") -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one ``rmtool measure`` process."""
    argv = [sys.executable, "-m", "rmtool.cli.main", "measure", "--num-bps", "6",
            "--num-wps", "6", "-k", str(inputs / "Image-64M.bin"),
            "-i", str(inputs / "initrd-100M.bin"), "kvmtool", "--realm", "-c", "2",
            "-m", "1G", "-k", "x", "-i", "y", "--measurement-algo", algo]
    env = dict(os.environ)
    if core == "python":
        env["RMTOOL_NATIVE"] = "0"
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, _, status, usage = _wait4(proc)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(proc.stderr.read().decode() if proc.stderr else "rmtool failed")
    return wall, usage.ru_maxrss


def _wait4(proc: subprocess.Popen[bytes]) -> tuple[int, int, int, resource.struct_rusage]:
    pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return pid, status, proc.returncode, usage


def in_process(inputs: Path, algo: str) -> float:
    """The same measurement inside this process (no interpreter start-up)."""
    import contextlib
    import io

    from rmtool.cli.main import run

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run(["measure", "--num-bps", "6", "--num-wps", "6", "-k", str(inputs / "Image-64M.bin"),
             "-i", str(inputs / "initrd-100M.bin"), "kvmtool", "--realm", "-c", "2", "-m", "1G",
             "-k", "x", "-i", "y", "--measurement-algo", algo])
    return time.perf_counter() - t0


def interpreter_start() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tmp = None
    inputs = a.inputs
    if inputs is None:
        tmp = tempfile.TemporaryDirectory()
        inputs = Path(tmp.name) / "in"
        subprocess.run([sys.executable, str(SHARED / "vectors" / "gen_inputs.py"), str(inputs)],
                       check=True, capture_output=True)
    paths = [inputs / "Image-64M.bin", inputs / "initrd-100M.bin"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "rmtool")],
                   check=True)
    from rmtool.measure._hashcore import core_name
    run_rmtool(inputs, "sha256")  # warm-up: page cache
    print(f"cpus: {os.cpu_count()}  inputs: {sum(p.stat().st_size for p in paths) >> 20} MiB  "
          f"bare interpreter start: "
          f"{statistics.median(interpreter_start() for _ in range(a.repeat)):.3f} s")
    for algo in ("sha256", "sha512"):
        base = statistics.median(baseline(paths, algo) for _ in range(a.repeat))
        runs = [run_rmtool(inputs, algo) for _ in range(a.repeat)]
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        py = [run_rmtool(inputs, algo, "python") for _ in range(a.repeat)]
        py_wall = statistics.median(r[0] for r in py)
        inproc = statistics.median(in_process(inputs, algo) for _ in range(a.repeat))
        print(f"{algo}: baseline {base:.3f} s  rmtool process ({core_name(algo)} core) "
              f"{wall:.3f} s  ratio {wall / base:.2f}  peak RSS {rss / 1024:.1f} MiB  "
              f"(in-process {inproc:.3f} s, ratio {inproc / base:.2f}; python core process "
              f"{py_wall:.3f} s, ratio {py_wall / base:.2f}, peak RSS "
              f"{max(r[1] for r in py) / 1024:.1f} MiB)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
