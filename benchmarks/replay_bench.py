"""Benchmark: replay of the 64 MiB kernel + 100 MiB initrd log, cold vs warm image store.

Usage: ``python benchmarks/replay_bench.py [--inputs DIR] [--repeat N]``

Without ``--inputs`` the deterministic inputs are generated with the vector generator
(``../shared/vectors/gen_inputs.py``) into a temporary directory. The log is written by
``rmtool measure --emit-log`` (kvmtool, 1 GiB, the two images), then replayed with an
empty SQLite store (cold: whole-file digests and granule hashes computed) and again with
the same store (warm: read from SQLite). Target (issue 6): warm >= 20x faster than cold.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rmtool.cli.main import run
from rmtool.replay import ImageStore, replay_log

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "vectors" / "gen_inputs.py"
KERNEL, INITRD = "Image-64M.bin", "initrd-100M.bin"


def _inputs(given: str | None, tmp: Path) -> Path:
    if given:
        return Path(given)
    out = tmp / "inputs"
    subprocess.run([sys.executable, str(GEN), str(out)], check=True, capture_output=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", help="directory holding Image-64M.bin and initrd-100M.bin")
    ap.add_argument("--repeat", type=int, default=3, help="warm runs (best is reported)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        inputs = _inputs(args.inputs, tmp)
        images = tmp / "images"
        images.mkdir()
        for name in (KERNEL, INITRD):
            (images / name).symlink_to((inputs / name).resolve())
        log = tmp / "log.bin"
        argv = ["measure", "--format", "json", "--ipa-bits", "52", "--num-bps", "6",
                "--num-wps", "6", "--pmu-num-ctrs", "6", "-k", str(images / KERNEL),
                "-i", str(images / INITRD), "--emit-log", str(log), "kvmtool", "--realm",
                "-c", "2", "-m", "1G", "-k", "Image", "-i", "initrd"]
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert run(argv) == 0
        measured = json.loads(buf.getvalue())["rim"]
        data = log.read_bytes()
        db = str(tmp / "store.sqlite3")

        def once() -> float:
            store = ImageStore(db)
            t0 = time.perf_counter()
            result = replay_log(data, [str(images)], store=store)
            elapsed = time.perf_counter() - t0
            store.close()
            assert result.rim is not None and result.rim.hex() == measured, result.rim_error
            return elapsed

        cold = once()
        warm = min(once() for _ in range(max(1, args.repeat)))
        print(f"log {len(data)} bytes; images {KERNEL} + {INITRD} (164 MiB)")
        print(f"cold replay (empty store): {cold:.3f} s")
        print(f"warm replay (cached):      {warm:.3f} s")
        ratio = cold / warm if warm else float("inf")
        print(f"speed-up: {ratio:.1f}x (target >= 20x) -> {'OK' if ratio >= 20 else 'MISS'}")
        return 0 if ratio >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
