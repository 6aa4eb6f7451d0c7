"""`rmtool measure qemu` against the reference tool's source (cca-realm-measurements).

Each test names the Rust function whose behaviour it asserts (src/qemu.rs unless said
otherwise). Expected values are worked out by hand from that source, not from our code:
error texts and which error wins, the RIPAS range of tiny / wrapping RAM sizes, the
floating high regions, template-mode phandles, warnings kept for the error path.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from rmtool.cli.main import run
from rmtool.errors import ComputeError, ParametersError, UsageError
from rmtool.measure.dtb.fdt import Node, parse_dtb
from rmtool.measure.host import HostCaps
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.rmm.realm import Realm
from rmtool.measure.vmm import frontend
from rmtool.measure.vmm._qemu_dtb import memory_map
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild

MIB, GIB = 1 << 20, 1 << 30
QHOST = HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu_num_ctrs=6)
HOST_ARGS = ["--num-wps", "6", "--num-bps", "6", "--ipa-bits", "52", "--pmu-num-ctrs", "6"]


def build(argv: list[str], *, caps: HostCaps = QHOST, **paths: Any) -> VmmBuild:
    return frontend("qemu")(argv, MeasureInputs(caps=caps, profile=get_profile("1.0-rel0"),
                                                **paths))


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = run(["measure", *argv], reference_exits=True)  # realm-measurements: status 1 on ERROR
    return rc, out.getvalue(), err.getvalue()


def first_error(argv: list[str], **kw: Any) -> str:
    with pytest.raises((ParametersError, ComputeError)) as exc:
        build(argv, **kw)
    return str(exc.value)


def child(node: Node, name: str) -> Node:
    found = node.find_child(name)
    assert found is not None, name
    return found


def u32_prop(node: Node, name: str) -> int:
    p = node.find_property(name)
    assert p is not None, name
    return int.from_bytes(p.value, "big")


@pytest.fixture
def kernel(tmp_path: Path) -> str:
    """An arm64 Image header: text_offset 0, image_size 0x2d10000, 256 bytes."""
    hdr = bytearray(64)
    hdr[16:24] = (0x2D10000).to_bytes(8, "little")
    hdr[56:60] = (0x644D5241).to_bytes(4, "little")
    path = tmp_path / "Image"
    path.write_bytes(bytes(hdr) + bytes(192))
    return str(path)


# ------------------------------------------------------------------ which error wins

@pytest.mark.parametrize(("argv", "message"), [
    # build_params: the whole argv is parsed before QemuSmp::to_cpu_map runs
    (["-smp", "cpus=2,maxcpus=4", "-M", "gic-version=2"], "unsupport GIC version 2"),
    # parse errors in argv order, and item order inside one option
    (["-cpu", "max", "-M", "gic-version=2"], "unsupported CPU max"),
    (["-M", "highmem=off,gic-version=2"], "disabling highmem is not supported"),
    (["-M", "gic-version=2,highmem=off"], "unsupport GIC version 2"),
    # to_cpu_map before the blobs are loaded
    (["-smp", "cpus=2,maxcpus=4", "-kernel", "x"], "-smp: expecting cpus == maxcpus"),
    # kernel before firmware
    (["-bios", "y", "-kernel", "x"], "need kernel image"),
    # CpuMap::update: checked products in sockets, clusters, threads order
    (["-smp", "sockets=4294967296,clusters=4294967296"], "invalid number of clusters"),
    (["-smp", "sockets=4294967296,threads=4294967296"], "invalid number of threads"),
    (["-smp", "cores=18446744073709551615,sockets=2"], "invalid number of sockets"),
    # cores derived first: 5 / (2 sockets) = 2 cores, then threads 5 / 4 = 1 -> 4 vCPUs
    # is accepted; 1 / 2 sockets = 0 cores is not
    (["-smp", "1,sockets=2"], "invalid number of CPUs"),
])
def test_error_precedence(argv: list[str], message: str) -> None:
    assert first_error(argv) == f"Cannot build parameters: {message}"


def test_parameter_errors_before_missing_capabilities() -> None:
    # RealmConfig::compute_measurements runs only after build_params succeeded
    assert first_error(["-kernel", "x"], caps=HostCaps()) == (
        "Cannot build parameters: need kernel image")
    with pytest.raises(ComputeError, match="^Failed to compute measurements: num_wps is not"):
        build(["-m", "0"], caps=HostCaps(ipa_bits=52))


def test_smp_derivation_keeps_remainder() -> None:
    # to_cpu_map: cores = 5 / 2 = 2, sockets given, threads = 5 / 4 = 1 -> 4 vCPUs
    assert build(["-smp", "5,sockets=2"]).facts["cpu_map"] == (2, 1, 2, 1)
    # "cpus == 0": map left as is (the reference; realm-measurements keeps it)
    assert build(["-smp", "cpus=0"], reference_mode=True).facts["cpus"] == 1
    # rmtool measure: QEMU refuses cpus=0 (hw/core/machine-smp.c), so does rmtool
    with pytest.raises(ParametersError, match=r"^Cannot build parameters: qemu -smp 0: QEMU "
                       r"refuses cpus=0"):
        build(["-smp", "cpus=0"])


# ------------------------------------------------------------------ RIPAS of tiny RAM

@pytest.mark.parametrize("size", ["0", "1B", "18446744073709551615B"])
def test_empty_ripas_range_fails_when_measuring(size: str, tmp_path: Path) -> None:
    # compute_rim: end = align_up(base + size - 1, 4K) (wrapping) == base, then
    # Realm::rim_init_ripas rejects top <= base with RealmError::Parameter
    b = build(["-m", size], reference_mode=True)
    if size != "18446744073709551615B":
        assert build(["-m", size]).deferred_error() is not None  # rmtool measure: the same
    else:  # rmtool measure refuses 16 EiB of RAM at once, with QEMU's reason (issue 18 H4)
        with pytest.raises(ParametersError, match=r"qemu refuses this Realm: -m and ,maxmem "
                           r"option values require an IPA range \(65 bits\)"):
            build(["-m", size])
    with pytest.raises(ComputeError) as exc:
        b.operations()
    assert str(exc.value) == ("Failed to compute measurements: invalid parameter "
                              "RIPAS(40000000, 40000000)")
    rc, out, err = cli(*HOST_ARGS, "qemu", "-m", size)
    assert (rc, out) == (1, "")
    assert err.splitlines()[0] == ("ERROR Failed to compute measurements: invalid parameter "
                                   "RIPAS(40000000, 40000000)")
    # build_params succeeds: --no-measurements writes the DTB (memory reg = the -m size)
    dtb = tmp_path / "out.dtb"
    rc, out, err = cli(*HOST_ARGS, "--no-measurements", "--output-dtb", str(dtb), "qemu",
                       "-m", size)
    assert (rc, out, err) == (0, "", "")
    mem = child(parse_dtb(dtb.read_bytes()).root, "memory@40000000")
    reg = mem.find_property("reg")
    expected = {"0": 0, "1B": 1}.get(size, (1 << 64) - 1)
    assert reg is not None and reg.value == (0x40000000).to_bytes(8, "big") + expected.to_bytes(
        8, "big")


def test_ripas_error_comes_before_firmware_read(tmp_path: Path) -> None:
    # compute_rim: INIT_RIPAS before the (lazily read) firmware DATA_CREATE
    rc, _, err = cli(*HOST_ARGS, "-f", str(tmp_path / "missing"), "qemu", "-bios", "fw",
                     "-m", "0")
    assert rc == 1 and "RIPAS(40000000, 40000000)" in err.splitlines()[0]


def test_two_byte_ram_is_one_granule() -> None:
    # align_up(0x40000000 + 2 - 1, 4K) = 0x40001000
    b = build(["-m", "2B"])
    assert b.ram == [(0x40000000, 0x1000)]
    assert b.facts["ram_size"] == 2


# ------------------------------------------------------------------ memory map

def test_high_regions_follow_the_running_address() -> None:
    # QemuParams::update_memmap with -m 1M,maxmem=1533G: hotplug base 2G,
    # hotplug size 1533G - 1M -> 1533G, addr = 1535G; HR = 1535G; HE = align_up(1535G +
    # 64M, 256M) = 1535G + 256M; HM = align_up(1535G + 320M, 512G) = 1536G; addr =
    # 1535G + 320M + 512G -> ilog2 = 40, + 2
    m = memory_map(MIB, 1533 * GIB)
    assert (m.high_redist_base, m.high_pci_cfg_base, m.high_pci_mmio_base, m.ipa_bits) == (
        1535 * GIB, 1535 * GIB + 256 * MIB, 1536 * GIB, 42)
    # slots count 1 GiB each on top of maxmem (mem_slots * GIB)
    assert memory_map(MIB, None, 300).high_redist_base == 302 * GIB


# ------------------------------------------------------------------ algorithm / RPV

def test_sha384_error_is_the_reference_text() -> None:
    # RealmConfig::set_measurement_algo -> RmmError::UnknownHashAlgorithm
    rc, _, err = cli(*HOST_ARGS, "qemu", "-object", "rme-guest,measurement-algorithm=sha384")
    assert rc == 1
    assert err == "ERROR Cannot build parameters: RMM: unknown hash algorithm `sha384`\n"
    rc, out, _ = cli(*HOST_ARGS, "--rmm-version", "2.0", "qemu", "-object",
                     "rme-guest,measurement-algorithm=sha384")
    assert rc == 0 and len(out.splitlines()[0]) == len("RIM: ") + 96


def test_rpv_is_64_bytes_at_most() -> None:
    # PersonalizationValue::try_from: > 64 bytes -> RPVTooLarge; 64 is fine
    assert build(["-object", "rme-guest,personalization-value=" + "A" * 86 + "=="]
                 ).params.rpv == bytes(64)
    assert first_error(["-object", "rme-guest,personalization-value=" + "A" * 88]) == (
        "Cannot build parameters: Realm Personalization Value is too large")


# ------------------------------------------------------------------ argv

def test_non_utf8_word_is_a_usage_error() -> None:
    # QemuArgs.args is Vec<String>: clap refuses invalid UTF-8 before build_params
    bad = b"\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(UsageError, match="invalid UTF-8"):
        build(["-append", bad])
    rc, _, err = cli(*HOST_ARGS, "qemu", "-object", "rme-guest,personalization-value=" + bad)
    assert rc == 2 and "invalid UTF-8" in err and "internal error" not in err


def test_split_at_first_equal_sign_for_every_word() -> None:
    # split_arg_eq applies to every word the main loop pops, values of unknown options too
    b = build(["-foo", "a=b", "-append=x=y"])
    assert b.warnings == ["Parameter -foo ignored", "Parameter a ignored", "Parameter b ignored"]
    assert b.facts["bootargs"] == "x=y"
    assert first_error(["-m="]) == ("Cannot build parameters: -m: cannot parse integer from "
                                    "empty string")


def test_warnings_issued_before_an_error_are_kept() -> None:
    # log::warn! is printed while parsing, so the reference's stderr has these WARN lines
    # before its ERROR line; rmtool keeps them on the exception for the CLI
    with pytest.raises(ParametersError) as exc:
        build(["-M", "virt,foo=1,gic-version=2"])
    assert getattr(exc.value, "warnings", None) == ["ignored machine parameter foo"]
    with pytest.raises(ParametersError) as exc:
        build(["-s", "-device", "virtio-rng-pci", "-kernel", "Image"])
    assert getattr(exc.value, "warnings", None) == ["Parameter -s ignored",
                                                    "ignored -device virtio-rng-pci"]


# ------------------------------------------------------------------ firmware / REM

def test_firmware_kernel_rem0_then_no_rim_kernel(kernel: str, tmp_path: Path) -> None:
    # build_params: with -bios the kernel (then the initrd) go to REM0, the DTB to RAM base
    fw, initrd = tmp_path / "fw", tmp_path / "initrd"
    fw.write_bytes(b"FW")
    initrd.write_bytes(b"I" * 5000)
    b = build(["-m", "1G", "-bios", "fw", "-kernel", "k", "-initrd", "i"], kernel=kernel,
              initrd=str(initrd), firmware=str(fw))
    assert [(bl.kind, bl.ipa) for bl in b.blobs] == [("FIRMWARE", 0), ("DTB", 0x40000000)]
    assert [(i, bl.kind) for i, bl in b.rem_blobs] == [(0, "KERNEL"), (0, "INITRD")]
    assert (b.rec_pc, b.rec_gprs[0]) == (0, 0)
    # chosen still gets the initrd computed as without firmware: 0x48000000 + 5000
    chosen = child(parse_dtb(b.dtb or b"").root, "chosen")
    start = chosen.find_property("linux,initrd-start")
    end = chosen.find_property("linux,initrd-end")
    assert start is not None and end is not None
    assert int.from_bytes(start.value, "big") == 0x48000000
    assert int.from_bytes(end.value, "big") == 0x48000000 + 5000
    m = Realm(get_profile("1.0-rel0")).execute(b.operations())
    assert m.rems[0] != bytes(64) and list(m.rems[1:]) == [bytes(64)] * 3


def test_log_follows_the_dtb_area(kernel: str) -> None:
    # set_log_location(dtb_start + QEMU_DTB_SIZE, QEMU_LOG_SIZE); kernel only: DTB at
    # align_up(0x48000000, 2M) for 1 GiB of RAM
    b = build(["-m", "1G", "-kernel", "k", "-object", "rme-guest,measurement-log=on"],
              kernel=kernel)
    assert b.dtb_ipa == 0x48000000 and b.log_region == (0x48100000, 0x10000)
    resv = child(parse_dtb(b.dtb or b"").root, "reserved-memory")
    assert [c.name for c in resv.children] == ["event-log@48100000"]


# ------------------------------------------------------------------ template phandles

def test_template_phandles_beyond_123_vcpus(tmp_path: Path) -> None:
    # DTBSurgeon::handle_node("cpus"): phandles 0x8000 + n down to 0x8001 in cpu-map
    # order and for cpu@0..n-1; gic = 0x8000 + n + 1, its = gic + 1 (handle_property)
    template = tmp_path / "t.dtb"
    template.write_bytes(build(["-smp", "2"]).dtb or b"")
    n = 124
    b = build(["-smp", f"{n},sockets=2,threads=2"], dtb_template=str(template))
    root = parse_dtb(b.dtb or b"").root
    cpus = child(root, "cpus")
    cpu_map = child(cpus, "cpu-map")
    assert [c.name for c in cpu_map.children] == ["socket0", "socket1"]
    core0 = child(child(child(cpu_map, "socket0"), "cluster0"), "core0")
    assert [c.name for c in core0.children] == ["thread0", "thread1"]
    assert u32_prop(child(core0, "thread0"), "cpu") == 0x8000 + n
    last = child(child(child(cpu_map, "socket1"), "cluster0"), "core30")
    assert u32_prop(child(last, "thread1"), "cpu") == 0x8001
    assert u32_prop(child(cpus, "cpu@0"), "phandle") == 0x8000 + n
    assert u32_prop(child(cpus, f"cpu@{n - 1}"), "phandle") == 0x8001
    gic = child(root, "intc@8000000")
    assert u32_prop(gic, "phandle") == 0x8000 + n + 1
    assert u32_prop(gic, "#redistributor-regions") == 2
    assert u32_prop(child(gic, "its@8080000"), "phandle") == 0x8000 + n + 2
    assert u32_prop(root, "interrupt-parent") == 0x8000 + n + 1
