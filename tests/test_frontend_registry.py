"""The VMM front-end registry: a fourth VMM is one registered object, nothing else.

``toyvmm`` is defined and registered here only (rmtool knows nothing about it): RAM at
a fixed base, the kernel at the RAM base, a DTB written with rmtool's FDT writer at the
top 2 MiB of RAM. Through the registry alone it is measured (``rmtool measure toyvmm``),
its event log emitted (``--emit-log``) and replayed (``rmtool replay --images``, with the
DTB file and with the DTB regenerated from the log's facts), and its launch command line
built (``plan_launch``). The RIMs must all be the same value, and the DTB must really be
measured: a different vCPU count gives a different DTB and RIM.

Also pinned: the built-in names and aliases, and that an unknown VMM keeps each
caller's existing error text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.errors import ParametersError, UsageError
from rmtool.launch import LaunchConfig, LaunchOptions, plan_launch
from rmtool.measure.dtb import fdt
from rmtool.measure.dtb.fdt import Node, string, u32, u64
from rmtool.measure.host import finalize
from rmtool.measure.images import Image
from rmtool.measure.rmm.algorithms import ALGORITHMS
from rmtool.measure.vmm import registry
from rmtool.measure.vmm.common import (
    MIB,
    LoadedBlob,
    MeasureInputs,
    VmmBuild,
    add_cpus_and_psci,
)
from rmtool.measure.vmm.registry import (
    LaunchRequest,
    LaunchSpec,
    LaunchTraits,
    LoggedDtbFacts,
    Regenerated,
    Templates,
    VmVersionFacts,
)

RAM_BASE = 0x80000000
DTB_AREA = 2 * MIB


def toy_dtb(cpus: int, ram_size: int) -> bytes:
    root = Node("")
    root.prop("#address-cells", u32(2)).prop("#size-cells", u32(2))
    root.prop("compatible", string("rmtool,toyvmm"))
    root.child("chosen")
    root.child(fdt.unit_name("memory", RAM_BASE)).prop("device_type", string("memory")) \
        .prop("reg", u64(RAM_BASE, ram_size))
    add_cpus_and_psci(root, cpus)
    return fdt.to_dtb(root)


class ToyFrontend:
    """``toyvmm -m <MiB> [-c <cpus>] [-k]``."""

    name = "toyvmm"
    aliases: tuple[str, ...] = ("toy",)
    log_name = "ToyVMM"
    launch = LaunchTraits(dtb_name="toy.dtb", serial=("pl011", 0x09000000, "ttyAMA0"),
                          binary_setting=None, default_binary="toyvmm",
                          default_network="none")

    def scan_args(self, argv: Sequence[str]) -> None:
        pass

    def help_text(self) -> str:
        return "toyvmm -m MIB [-c CPUS] [-k]\n"

    def build(self, argv: list[str], inputs: MeasureInputs) -> VmmBuild:
        opts = dict(zip(argv[::2], argv[1::2], strict=False))
        ram_size = int(opts.get("-m", "64")) * MIB
        cpus = int(opts.get("-c", "1"))
        algo = ALGORITHMS["sha256"]
        params = finalize(inputs.caps.restrict(ipa_bits=33), hash_algo=algo)
        blobs = []
        if "-k" in argv:
            if inputs.kernel is None:
                raise ParametersError("need kernel image")
            blobs.append(LoadedBlob("KERNEL", RAM_BASE, Image.from_file("kernel",
                                                                         inputs.kernel)))
        dtb = toy_dtb(cpus, ram_size)
        dtb_ipa = RAM_BASE + ram_size - DTB_AREA
        blobs.append(LoadedBlob("DTB", dtb_ipa, Image.from_bytes("dtb", dtb)))
        return VmmBuild(vmm=self.name, params=params, ram=[(RAM_BASE, ram_size)],
                        blobs=blobs, rec_pc=RAM_BASE, rec_gprs=(dtb_ipa, 0, 0, 0, 0, 0, 0, 0),
                        dtb=dtb, dtb_ipa=dtb_ipa, facts={"cpus": cpus, "ram_size": ram_size})

    def vm_version(self, b: VmmBuild) -> VmVersionFacts:
        return VmVersionFacts(self.log_name, "0.1", int(b.facts["ram_size"]),
                              int(b.facts["cpus"]))

    def dtb_from_facts(self, facts: LoggedDtbFacts, templates: Templates
                       ) -> Iterator[Regenerated]:
        yield Regenerated(toy_dtb(facts.cpus, facts.ram_size), "toyvmm generator")

    def check_launch(self, options: LaunchSpec) -> list[str]:
        if options.edk2:
            raise UsageError("toyvmm boots no firmware")
        return []

    def launch_argv(self, r: LaunchRequest) -> list[str]:
        memory = r.options.memory.removesuffix("M")
        return ["-m", memory, "-c", str(r.options.cpus), "-k"]


@pytest.fixture
def toy() -> Iterator[ToyFrontend]:
    frontend = ToyFrontend()
    registry.register(frontend)
    yield frontend
    registry.unregister(frontend.name)


@pytest.fixture
def kernel(tmp_path: Path) -> Path:
    path = tmp_path / "images" / "toy-kernel.bin"
    path.parent.mkdir()
    path.write_bytes(hashlib.shake_256(b"toyvmm kernel").digest(3 * 4096 + 123))
    return path


def _measure(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    status = run(["measure", "--num-bps", "2", "--num-wps", "2", "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    doc: dict[str, object] = json.loads(out)
    return doc


def _replay(log: Path, images: list[Path], tmp_path: Path,
            capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    args = ["replay", str(log), "--store", str(tmp_path / "store.sqlite3"), "--format", "json"]
    for i in images:
        args += ["--images", str(i)]
    status = run(args)
    out, err = capsys.readouterr()
    assert status == 0, err
    doc: dict[str, object] = json.loads(out)
    return doc


def test_fourth_vmm_measures_emits_replays_and_launches(
        toy: ToyFrontend, kernel: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    log, dtb = tmp_path / "toy.log", tmp_path / "dtbs" / "toy.dtb"
    dtb.parent.mkdir()
    measured = _measure(["-k", str(kernel), "--emit-log", str(log), "--output-dtb", str(dtb),
                         "toyvmm", "-m", "64", "-c", "2", "-k"], capsys)
    assert measured["vmm"] == "toyvmm" and measured["dtb_ipa"] == RAM_BASE + 62 * MIB
    assert dtb.read_bytes() == toy_dtb(2, 64 * MIB)
    # the DTB is measured: another vCPU count is another RIM
    other = _measure(["-k", str(kernel), "toyvmm", "-m", "64", "-c", "3", "-k"], capsys)
    assert other["rim"] != measured["rim"]
    # the alias resolves to the same front-end through the library API
    assert registry.get("toy") is toy and registry.get("ToyVMM") is toy

    # replay with the DTB file, then without it (regenerated from the log's facts)
    with_file = _replay(log, [kernel.parent, dtb.parent], tmp_path, capsys)
    assert with_file["rim"] == measured["rim"]
    regenerated = _replay(log, [kernel.parent], tmp_path, capsys)
    assert regenerated["rim"] == measured["rim"]
    events = regenerated["events"]
    assert isinstance(events, list)
    dtb_events = [e for e in events if str(e["description"]).startswith("DTB")]
    assert len(dtb_events) == 1
    assert str(dtb_events[0]["image"]).startswith("regenerated by the toyvmm generator")

    # the launch line is the front-end's, and what it measures is the same Realm
    cfg = LaunchConfig(kernel=str(kernel), output_dtb_dir=str(tmp_path),
                       output_script_dir=str(tmp_path))
    plan = plan_launch(cfg, LaunchOptions(vmm="toyvmm", disk=True, cpus=2, memory="64M"))
    assert plan.args == ["-m", "64", "-c", "2", "-k"]
    assert plan.vmm_command() == ["toyvmm"]
    assert Path(plan.dtb_path).name == "toy.dtb"
    assert plan.measurements is not None
    # the launch host's capabilities are not --num-bps 2 --num-wps 2: another Realm ...
    assert plan.measurements.rim.hex() != measured["rim"]
    # ... whose RIM ``rmtool measure`` reproduces from the plan's own measure command
    capsys.readouterr()
    assert run([*plan.measure_argv()[:1], "--format", "json", *plan.measure_argv()[1:]]) == 0
    assert json.loads(capsys.readouterr().out)["rim"] == plan.measurements.rim.hex()


def test_unregistered_fourth_vmm_is_unknown_everywhere(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """Without the registration the same name is refused with each caller's text."""
    assert registry.find("toyvmm") is None
    assert run(["measure", "toyvmm", "-m", "64"]) == 2
    assert capsys.readouterr().err.strip() == "error: unrecognized subcommand 'toyvmm'"
    with pytest.raises(UsageError, match=r"^unknown VMM 'toyvmm' \(expected one of "
                                         r"kvmtool, qemu, cloud-hv\)$"):
        plan_launch(LaunchConfig(kernel="k"), LaunchOptions(vmm="toyvmm", disk=True))


def test_builtin_names_and_aliases() -> None:
    assert registry.names()[:3] == ("kvmtool", "qemu", "cloud-hv")
    for spelling, name in (("QEMU", "qemu"), ("QEMU virt", "qemu"), ("cloudhv", "cloud-hv"),
                           ("cloud-hypervisor", "cloud-hv"), ("kvmtool", "kvmtool"),
                           ("lkvm", "kvmtool")):
        assert registry.get(spelling).name == name
    # the reference's clap accepts the canonical subcommands only
    assert registry.is_name("cloud-hv") and not registry.is_name("cloudhv")
    assert all(isinstance(registry.get(n), registry.VmmFrontend) for n in registry.names())


def test_an_alias_cannot_be_taken_twice(toy: ToyFrontend) -> None:
    """A plug-in cannot capture a log's VM VERSION name of another VMM (its DTB would be
    regenerated by the wrong generator)."""
    class Thief(ToyFrontend):
        name = "thief"
        aliases: tuple[str, ...] = ("QEMU",)
        log_name = "Thief"

    with pytest.raises(ValueError, match="'QEMU' is already registered by 'qemu'"):
        registry.register(Thief())
    assert registry.get("QEMU").name == "qemu" and registry.find("thief") is None
