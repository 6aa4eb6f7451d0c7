"""One ``rmtool measure`` invocation as data: what ``diagnose`` measures and mutates.

``MEASURE_ARGS`` (global options, VMM name, VMM arguments, exactly as given to
``rmtool measure``) are parsed by the CLI layer (``rmtool.cli.measure.parse_measure_args``,
the same options and checks as the command) into a :class:`MeasureRequest`; the library
receives that parser as a :data:`ParseMeasureArgs` so that a candidate configuration is
always an argv that ``rmtool measure`` accepts, and ``reproduced_by`` is that argv.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rmtool.measure import MeasureResult, build_vmm
from rmtool.measure.images import ParallelGranuleHasher
from rmtool.measure.rmm.realm import Realm
from rmtool.measure.vmm.common import MeasureInputs, Stage, VmmBuild


@dataclass(frozen=True)
class MeasureRequest:
    """``rmtool measure ARGV`` parsed: the global inputs, the VMM and its arguments."""

    argv: tuple[str, ...]
    inputs: MeasureInputs
    vmm: str
    vmm_args: tuple[str, ...]

    def build(self) -> VmmBuild:
        """Lay out the Realm (no hashing); raises what ``rmtool measure`` would."""
        build = build_vmm(self.vmm, list(self.vmm_args), self.inputs)
        build.raise_deferred(Stage.AFTER_DTB)
        return build

    def measure(self, jobs: int | None = None) -> MeasureResult:
        """The RIM and REMs ``rmtool measure ARGV`` prints."""
        build = self.build()
        realm = Realm(self.inputs.profile, hasher=ParallelGranuleHasher(jobs))
        return MeasureResult(build, realm.execute(build.operations()))


#: MEASURE_ARGS → request; raises ``RmtoolError`` (exit 2) for arguments ``measure`` refuses.
ParseMeasureArgs = Callable[[Sequence[str]], MeasureRequest]
