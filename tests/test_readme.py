"""The README's story commands work as a new user types them (README.md).

Every command in the ``sh`` blocks under "One example per story" runs, in order, in a
directory made by ``python -m rmtool.examples inputs``. Each must exit 0, except the last
``rmtool compare``, whose job is to report the mismatch (exit 1) and name the operation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def story_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    stories = text[text.index("## One example per story"):]
    stories = stories[:stories.index("`examples/` walks through")]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", stories, re.S):
        joined = block.replace("\\\n", " ")
        commands += [line.split("  #")[0].strip() for line in joined.splitlines()
                     if line.strip() and not line.lstrip().startswith("#")]
    return commands


def test_readme_stories_run_as_typed(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "rmtool.examples", "inputs", str(tmp_path / "ex")],
                   check=True, capture_output=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    commands = story_commands()
    assert len(commands) >= 8
    assert commands[-1].startswith("rmtool compare ")
    for cmd in commands:
        cmd = cmd.replace("python -m", f"{sys.executable} -m")
        proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path / "ex", capture_output=True,
                              text=True, env=env)
        if cmd.startswith("rmtool compare"):
            assert proc.returncode == 1, proc.stderr
            assert "INITRD at" in proc.stdout
            assert "verification: PASS" in proc.stdout  # the token verifies with cpak.pem
            assert proc.stdout.splitlines()[-1] == "verdict: MISMATCH"
        else:
            assert proc.returncode == 0, f"{cmd}\n{proc.stderr}"
    assert "realm.corim: valid" in subprocess.run(
        ["bash", "-c", "rmtool corim lint realm.corim"], cwd=tmp_path / "ex",
        capture_output=True, text=True, env=env).stdout
