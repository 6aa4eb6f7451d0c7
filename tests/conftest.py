"""Shared fixtures: where the third-party corpus and vectors live, generated inputs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
VECTORS = SHARED / "vectors"


#: skip reasons of tests that need ../shared (need_shared and the modules' own skips)
SHARED_SKIP = re.compile(r"\bshared\b|corpus|vectors", re.I)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """One line saying how many tests were skipped because ../shared is absent."""
    if SHARED.is_dir():
        return
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for r in skipped if SHARED_SKIP.search(str(r.longrepr)))
    if n:
        terminalreporter.write_line(
            f"{n} test{'s' if n != 1 else ''} skipped because ../shared (third-party corpus "
            f"and reference vectors) is absent: put it beside this checkout to run them")


def need_shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (corpus and vectors) is not beside this checkout")
    return SHARED


@pytest.fixture(scope="session")
def vector_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DIR made with ``gen_inputs.py DIR --extra-dir inputs``; DIR/../dtbs exists."""
    need_shared()
    base = tmp_path_factory.mktemp("vectors")
    out = base / "inputs"
    subprocess.run([sys.executable, str(VECTORS / "gen_inputs.py"), str(out),
                    "--extra-dir", str(VECTORS / "inputs")],
                   check=True, capture_output=True)
    (base / "dtbs").mkdir()
    return out
