"""Acceptance vectors recorded from the reference tool (../shared/vectors/anchor-visible.tsv).

Each row runs ``rmtool measure <argv>`` from a directory made by gen_inputs.py and
checks RIM, REM0-3 (hash-size), the sha256 of the DTB written with --output-dtb and,
for error rows, the exit status and the first stderr line.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from rmtool.cli.main import run
from tests.conftest import VECTORS


def _rows() -> list[dict[str, str]]:
    path = VECTORS / "anchor-visible.tsv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


ROWS = _rows()


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_anchor_vector(row: dict[str, str], vector_inputs: Path,
                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                       ) -> None:
    monkeypatch.chdir(vector_inputs)
    argv = json.loads(row["argv"])
    status = run(["measure", *argv])
    out, err = capsys.readouterr()
    assert status == int(row["exit_code"]), err
    if status != 0:
        first = err.strip().splitlines()[0]
        assert first == row["stderr_first_line"]
        return
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines["RIM"] == row["rim"]
    for i in range(4):
        assert lines[f"REM{i}"] == row[f"rem{i}"]
    dtb_path = argv[argv.index("--output-dtb") + 1]
    assert hashlib.sha256((vector_inputs / dtb_path).read_bytes()).hexdigest() == \
        row["dtb_sha256"]
