"""docs/api.md is the documented library API: every Python example in it runs, in the
directory its introduction describes (example inputs, realm.log, realm.corim, token.cbor
and cpak.pem made by the commands docs/cli.md shows)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rmtool.examples import write_inputs
from rmtool.verify.token.checks import Verification

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", API.read_text(encoding="utf-8"), re.S)
HOST = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "-k", "Image", "-i", "initrd.cpio"]
KVMTOOL = ["kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i", "initrd.cpio",
           "--measurement-log", "-p", "console=hvc0"]


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ex")
    write_inputs(d)
    out = d / "m.json"
    argv = ["measure", *HOST, "--format", "json", "--emit-log", str(d / "realm.log"),
            "--corim-output", str(d / "realm.corim"), *KVMTOOL]
    proc = subprocess.run([sys.executable, "-m", "rmtool.cli.main", *argv], cwd=d,
                          capture_output=True, text=True, check=True)
    out.write_text(proc.stdout)
    assert json.loads(proc.stdout)["rim"]
    subprocess.run([sys.executable, "-m", "rmtool.examples", "token", "--measurements",
                    str(out), "--out", str(d / "token.cbor"), "--key-out", str(d / "cpak.pem")],
                   cwd=d, check=True, capture_output=True)
    return d


def test_api_md_has_examples() -> None:
    assert len(BLOCKS) == 6  # measure, Realm model, eventlog, replay, verify, launch


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_api_md_example_runs(number: int, ex: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ex)
    namespace: dict[str, object] = {}
    exec(compile(BLOCKS[number], f"docs/api.md example {number + 1}", "exec"), namespace)  # noqa: S102
    if number == 1:  # the Realm model example prints the refusal it documents
        assert capsys.readouterr().out.startswith(
            "RMI_REALM_CREATE: flags MEC_POLICY (bits 7-8) value 2 is not defined")
    if number == 4:  # the verify example: the token verifies with the key it was signed by
        verified = namespace["verified"]
        assert isinstance(verified, Verification) and verified.ok is True
