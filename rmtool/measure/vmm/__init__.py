"""VMM front-ends: one module per VMM (argument grammar, memory map, DTB).

Each module exposes ``build(argv, inputs) -> VmmBuild``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rmtool.measure.vmm.common import MeasureInputs, VmmBuild

FRONTENDS = {"kvmtool": "rmtool.measure.vmm.kvmtool", "qemu": "rmtool.measure.vmm.qemu",
             "cloud-hv": "rmtool.measure.vmm.cloudhv"}


def frontend(name: str) -> Callable[[list[str], MeasureInputs], VmmBuild]:
    module = importlib.import_module(FRONTENDS[name])
    build: Callable[[list[str], MeasureInputs], VmmBuild] = module.build
    return build
