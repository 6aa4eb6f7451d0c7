"""Fuzz harness for TOML configuration files (run on demand; pytest does not collect it).

Each input is written to a temporary file and read both as a host capability overlay
(:func:`rmtool.measure.host.load_config` onto default capabilities) and as a launch
configuration (:func:`rmtool.launch._config.load_config`). Oracle and modes: see
``fuzzcommon``. Seeds: the shared ``vectors/inputs/configs`` files and launch TOMLs as
``rmtool demo`` writes them::

    python tests/fuzz/fuzz_config.py /tmp/cfgfuzz SEED_DIR -max_total_time=300
"""

from __future__ import annotations

import os
import tempfile

import fuzzcommon

_PATH = os.path.join(tempfile.mkdtemp(prefix="rmtool-fuzz-"), "input.toml")


def check_one(data: bytes) -> None:
    from rmtool.errors import RmtoolError
    from rmtool.launch._config import load_config as load_launch
    from rmtool.measure.host import HostCaps, load_config

    with open(_PATH, "wb") as f:
        f.write(data)
    try:
        load_config(_PATH, HostCaps())
    except RmtoolError:
        pass
    load_launch(_PATH)


if __name__ == "__main__":
    fuzzcommon.main("config", check_one, ["rmtool.measure.host", "rmtool.launch._config"])
