"""Shell completion (issue 18): real bash runs the script ``rmtool completion bash``
prints, with COMP_WORDS / COMP_CWORD set as bash sets them on <TAB>, calls
``_rmtool_completion`` and prints COMPREPLY; plus click's ``_RMTOOL_COMPLETE`` protocol.

The old bug: ``rmtool measure -c conf <TAB>`` ran measure's clap check during completion,
printed ``'realm-measurements' requires a subcommand`` into the terminal and offered no
VMM name.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# compopt only works inside a completion bash started by <TAB>: record its requests
BASH_DRIVER = """
source "$1"
compopt() { echo compopt "$@"; }
eval "COMP_WORDS=($2)"
COMP_CWORD=$3
_rmtool_completion rmtool
printf 'reply %s\\n' "${COMPREPLY[@]}"
"""


@pytest.fixture(scope="module")
def bash_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The completion script and an environment whose ``rmtool`` is this checkout."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    d = tmp_path_factory.mktemp("completion")
    bindir = d / "bin"
    bindir.mkdir()
    launcher = bindir / "rmtool"
    launcher.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m rmtool.cli.main "
                        f'"$@"\n')
    launcher.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=str(ROOT))
    script = subprocess.run(["rmtool", "completion", "bash"], env=env, capture_output=True,
                            text=True, timeout=60, check=True).stdout
    assert "_rmtool_completion()" in script
    (d / "rmtool-completion.bash").write_text(script)
    return d / "rmtool-completion.bash", env


def tab(bash_env: tuple[Path, dict[str, str]], line: str,
        cwd: Path | None = None) -> tuple[list[str], str]:
    """Press <TAB> at the end of ``line``: (bash's lines, stderr)."""
    script, env = bash_env
    words = line.split(" ")  # a trailing space: an empty word being completed
    proc = subprocess.run(["bash", "-c", BASH_DRIVER, "driver", str(script),
                           " ".join(shlex.quote(w) for w in words), str(len(words) - 1)],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines(), proc.stderr


def test_vmm_names_after_global_options_silently(bash_env: tuple[Path, dict[str, str]]
                                                 ) -> None:
    """The issue's case: nothing on the terminal but the three VMM names."""
    lines, err = tab(bash_env, "rmtool measure -c conf ")
    assert lines == ["reply kvmtool", "reply qemu", "reply cloud-hv"]
    assert err == ""


@pytest.mark.parametrize("line, replies", [
    ("rmtool mea", ["measure"]),
    ("rmtool corim s", ["show", "submit"]),
    ("rmtool measure -c conf k", ["kvmtool"]),
    ("rmtool measure --num-", ["--num-bps", "--num-wps"]),
    # after the VMM name: that VMM's own options
    ("rmtool measure -c conf kvmtool --rea", ["--realm", "--realm-pv"]),
    ("rmtool measure -c conf qemu -ker", ["-kernel"]),
    ("rmtool measure -c conf cloud-hv --initr", ["--initramfs"]),
    ("rmtool launch --vmm ", ["kvmtool", "qemu", "cloud-hv"]),
    ("rmtool completion ", ["bash", "zsh", "fish"]),
    # an option measure's clap check would refuse: completion still says nothing else
    ("rmtool measure --bogus ", ["kvmtool", "qemu", "cloud-hv"]),
])
def test_bash_completes(bash_env: tuple[Path, dict[str, str]], line: str,
                        replies: list[str]) -> None:
    lines, err = tab(bash_env, line)
    assert lines == [f"reply {r}" for r in replies]
    assert err == ""


@pytest.mark.parametrize("line", ["rmtool measure -c ", "rmtool measure -c conf kvmtool -k ",
                                  "rmtool token show "])
def test_file_arguments_complete_file_names(bash_env: tuple[Path, dict[str, str]],
                                            line: str) -> None:
    """click asks bash for its default (file name) completion."""
    lines, err = tab(bash_env, line)
    assert lines == ["compopt -o default", "reply "]
    assert err == ""


def test_click_env_protocol() -> None:
    """``_RMTOOL_COMPLETE=bash_complete``: type,value lines, nothing on stderr."""
    def complete(words: str, cword: int) -> tuple[list[str], str]:
        env = dict(os.environ, COMP_WORDS=words, COMP_CWORD=str(cword),
                   _RMTOOL_COMPLETE="bash_complete", PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-m", "rmtool.cli.main"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        return proc.stdout.split(), proc.stderr

    assert complete("rmtool measure -c conf ", 4) == (
        ["plain,kvmtool", "plain,qemu", "plain,cloud-hv"], "")
    assert complete("rmtool measure -c conf kvmtool -m 512M ", 7) == (["file,"], "")
    assert complete("rmtool measure -c conf kvmtool --pm", 5) == (
        ["plain,--pmu", "plain,--pmu-counters"], "")
