"""rmtool.measure: compute a Realm's RIM and REMs offline, as the RMM would.

Public entry points:

* :func:`measure_vmm` — a VMM command line plus global inputs → build + measurements;
* :class:`rmtool.measure.rmm.realm.Realm` — execute any RMM operation stream;
* :mod:`rmtool.measure.vmm` — the VMM front-ends (kvmtool, QEMU, cloud-hypervisor);
* :class:`rmtool.measure.rmm.trace.TraceRecord` — one executed operation of the trace
  (``Measurements.records()``), with its JSON codec.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmtool.measure.images import ParallelGranuleHasher, Progress
from rmtool.measure.rmm.realm import Measurements, Realm
from rmtool.measure.rmm.trace import TraceFormatError, TraceRecord
from rmtool.measure.vmm import frontend
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild

__all__ = ["MeasureInputs", "MeasureResult", "Measurements", "Realm", "TraceFormatError",
           "TraceRecord", "VmmBuild", "build_vmm", "measure_vmm"]


@dataclass
class MeasureResult:
    build: VmmBuild
    measurements: Measurements


def build_vmm(vmm: str, argv: list[str], inputs: MeasureInputs) -> VmmBuild:
    """Parse the VMM arguments and lay out the Realm (no hashing)."""
    return frontend(vmm)(list(argv), inputs)


def measure_vmm(vmm: str, argv: list[str], inputs: MeasureInputs, *, jobs: int | None = None,
                progress: Progress | None = None) -> MeasureResult:
    """Build the Realm described by ``vmm argv`` and execute its operations."""
    build = build_vmm(vmm, argv, inputs)
    realm = Realm(inputs.profile, hasher=ParallelGranuleHasher(jobs, progress))
    return MeasureResult(build, realm.execute(build.operations()))
