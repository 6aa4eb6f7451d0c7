"""Shared fixtures: where the third-party corpus and vectors live, generated inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
VECTORS = SHARED / "vectors"


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
