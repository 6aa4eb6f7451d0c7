"""Benchmark: replay of the 64 MiB kernel + 100 MiB initrd log, cold vs warm image store.

Usage: ``python benchmarks/replay_bench.py [--inputs DIR] [--repeat N] [--no-process]``

Without ``--inputs`` the deterministic inputs are generated with the vector generator
(``../shared/vectors/gen_inputs.py``) into a temporary directory. The log is written by
``rmtool measure --emit-log`` (kvmtool, 1 GiB, the two images), then replayed with an
empty SQLite store (cold: whole-file digests and granule hashes computed) and again with
the same store (warm: read from SQLite; the images are not read, only stat'ed: one
``realpath`` and one ``stat`` per file for its key). The images stay in the page cache
throughout: "cold" means an empty store, not an empty page cache. Freshly generated
inputs are left to age past the store's racy-clean margin first (a file changed within
``RACY_MARGIN_NS`` of its read is never trusted from the store, see docs/architecture.md).
Each figure is the best of ``--repeat`` runs (a shared machine is noisy).

Two measurements, side by side:

* in-process: the ``replay_log`` call only (modules already imported);
* whole process: ``rmtool replay --format json`` as a child process (interpreter start,
  imports, replay, output), once with the environment as it is (e.g.
  ``PYTHONDONTWRITEBYTECODE=1``: modules without a cached .pyc are compiled at every
  start) and once with a bytecode cache (``PYTHONPYCACHEPREFIX`` in the temporary
  directory, filled by an untimed run, so the work tree is not touched).

The floor of a warm replay is the Realm model's descriptor chain (one hash of a 256-byte
descriptor per 4 KiB granule, sequential); it is measured alone and printed too.
Target: warm >= 20x faster than cold (in-process figures); the exit status is 0
when it is met.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rmtool
from rmtool.cli.main import run
from rmtool.measure.rmm._layouts import DESC_SIZE, DESC_TYPE_DATA, data_descriptor_packer
from rmtool.replay import ImageStore, replay_log
from rmtool.replay._store import RACY_MARGIN_NS

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "vectors" / "gen_inputs.py"
KERNEL, INITRD = "Image-64M.bin", "initrd-100M.bin"
CLI = "import sys; from rmtool.cli.main import run; sys.exit(run(sys.argv[1:]))"


def _inputs(given: str | None, tmp: Path) -> Path:
    if given:
        return Path(given)
    out = tmp / "inputs"
    subprocess.run([sys.executable, str(GEN), str(out)], check=True, capture_output=True)
    return out


def _settle(paths: list[Path]) -> None:
    """Wait until ``paths`` are older than the racy-clean margin (trusted from the store)."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths)
    wait = newest + RACY_MARGIN_NS - time.time_ns()
    if wait > 0:
        time.sleep(wait / 1e9 + 0.01)


def _emit_log(images: Path, log: Path) -> str:
    argv = ["measure", "--format", "json", "--ipa-bits", "52", "--num-bps", "6",
            "--num-wps", "6", "--pmu-num-ctrs", "6", "-k", str(images / KERNEL),
            "-i", str(images / INITRD), "--emit-log", str(log), "kvmtool", "--realm",
            "-c", "2", "-m", "1G", "-k", "Image", "-i", "initrd"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert run(argv) == 0
    rim: str = json.loads(buf.getvalue())["rim"]
    return rim


def chain_floor(granules: int) -> float:
    """Seconds for the DATA descriptor chain alone (hash list already in memory)."""
    pack = data_descriptor_packer(32).pack
    contents = [hashlib.sha256(i.to_bytes(8, "little")).digest() for i in range(granules)]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        rim, ipa = bytes(32), 0
        for content in contents:
            rim = hashlib.sha256(pack(DESC_TYPE_DATA, DESC_SIZE, rim, ipa, 1, content)).digest()
            ipa += 4096
        best = min(best, time.perf_counter() - t0)
    return best


def _cold_warm(once: Callable[[str], float], new_db: Callable[[], str],
               repeat: int) -> tuple[float, float]:
    cold = min(once(new_db()) for _ in range(max(1, repeat)))
    db = new_db()
    once(db)  # fill
    warm = min(once(db) for _ in range(max(1, repeat)))
    return cold, warm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", help="directory holding Image-64M.bin and initrd-100M.bin")
    ap.add_argument("--repeat", type=int, default=3,
                    help="cold runs (each with a new store) and warm runs; best is reported")
    ap.add_argument("--no-process", action="store_true", help="skip whole-process runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        inputs = _inputs(args.inputs, tmp)
        images = tmp / "images"
        images.mkdir()
        for name in (KERNEL, INITRD):
            (images / name).symlink_to((inputs / name).resolve())
        _settle([inputs / KERNEL, inputs / INITRD])
        log = tmp / "log.bin"
        measured = _emit_log(images, log)
        data = log.read_bytes()
        counter = iter(range(1 << 30))

        def new_db() -> str:
            return str(tmp / f"store{next(counter)}.sqlite3")

        def in_process(db: str) -> float:
            store = ImageStore(db)
            t0 = time.perf_counter()
            result = replay_log(data, [str(images)], store=store)
            elapsed = time.perf_counter() - t0
            store.close()
            assert result.rim is not None and result.rim.hex() == measured, result.rim_error
            return elapsed

        def whole_process(env: dict[str, str]) -> Callable[[str], float]:
            def once(db: str) -> float:
                t0 = time.perf_counter()
                out = subprocess.run([sys.executable, "-c", CLI, "replay", str(log), "--images",
                                      str(images), "--store", db, "--format", "json"],
                                     env=env, cwd=tmp, check=True,
                                     capture_output=True).stdout
                elapsed = time.perf_counter() - t0
                assert json.loads(out)["rim"] == measured
                return elapsed
            return once

        rows = [("in-process (replay_log call)", *_cold_warm(in_process, new_db, args.repeat))]
        if not args.no_process:
            env = dict(os.environ)
            # the child imports the same rmtool as this process, whatever its cwd
            here = str(Path(rmtool.__file__).resolve().parents[1])
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
            label = ("PYTHONDONTWRITEBYTECODE=1" if env.get("PYTHONDONTWRITEBYTECODE")
                     else "bytecode writes allowed")
            rows.append((f"whole process, env as is ({label})",
                         *_cold_warm(whole_process(env), new_db, args.repeat)))
            cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
            cached["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
            whole_process(cached)(new_db())  # untimed: fills the bytecode cache
            rows.append(("whole process, bytecode cached",
                         *_cold_warm(whole_process(cached), new_db, args.repeat)))
        granules = sum((inputs / n).stat().st_size + 4095 >> 12 for n in (KERNEL, INITRD))
        floor = chain_floor(granules)
        print(f"log {len(data)} bytes; images {KERNEL} + {INITRD} (164 MiB, {granules} granules)"
              f"; {os.cpu_count()} CPUs")
        print(f"{'':52} {'cold s':>8} {'warm s':>8} {'ratio':>7}")
        for name, cold, warm in rows:
            print(f"{name:52} {cold:8.3f} {warm:8.3f} {cold / warm:6.1f}x")
        print(f"descriptor chain alone (warm floor): {floor:.3f} s "
              f"-> best possible in-process ratio {rows[0][1] / floor:.1f}x")
        ratio = rows[0][1] / rows[0][2]
        print(f"in-process speed-up: {ratio:.1f}x (target >= 20x) -> "
              f"{'OK' if ratio >= 20 else 'MISS'}")
        return 0 if ratio >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
