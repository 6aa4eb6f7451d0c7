"""VMM front-ends: one module per VMM (argument grammar, memory map, DTB, launch line).

Each module defines a :class:`rmtool.measure.vmm.registry.VmmFrontend` and registers it;
everything else reaches a VMM through :func:`rmtool.measure.vmm.registry.get`.
"""

from __future__ import annotations

from collections.abc import Callable

from rmtool.measure.vmm.common import MeasureInputs, VmmBuild
from rmtool.measure.vmm.registry import BUILTIN, get

#: The built-in front-ends' names and modules (kept for callers that import a module).
FRONTENDS = dict(zip(("kvmtool", "qemu", "cloud-hv"), BUILTIN, strict=True))


def frontend(name: str) -> Callable[[list[str], MeasureInputs], VmmBuild]:
    """The ``build`` of the front-end registered as ``name`` (or an alias)."""
    return get(name).build
