"""QEMU front-end through the library: grammar, memory map, payload placement, DTB.

Expected values come from the reference tool's tests/cmdline.rs vectors (Q1-Q11), its
``src/qemu.rs`` unit tests for -smp, -m and the memory map, and the qemu-* rows of the
shared vectors' anchor-visible.tsv (conftest ``VECTORS``, recorded from the reference
tool).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from rmtool.errors import ComputeError, ParametersError
from rmtool.measure.dtb.fdt import parse_dtb, to_dtb
from rmtool.measure.host import HostCaps, load_config
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.rmm.realm import Measurements, Realm
from rmtool.measure.vmm import frontend
from rmtool.measure.vmm._qemu import regenerate_dtb
from rmtool.measure.vmm._qemu_args import (
    MemSpec,
    SmpSpec,
    b64decode_standard,
    cpu_map,
    parse_args,
    parse_memory_size,
)
from rmtool.measure.vmm._qemu_dtb import generate_tree, memory_map
from rmtool.measure.vmm._rustcompat import parse_uint
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild, rpv_from_base64
from tests.conftest import VECTORS, need_shared

MIB, GIB, TIB = 1 << 20, 1 << 30, 1 << 40
REL0 = get_profile("1.0-rel0")
QHOST = HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu_num_ctrs=6)

Q1 = ("cf409055d866eea6c8d5e7862b540ff1cac9b11f125d088587d5ae97a0e3341667cf8fb3983e7377bca5c01d"
      "037bd97081ebf3b4dcb648442149749f4d65eeb0")
Q4 = ("8120ef921a987a3f8b9d4bb5e40f8489e2b4fc69c5e1b17b1a9b040884a1211d99b2bddc3fddcc99ec99f424"
      "4743fe3dcd3d9020583b47f7b66a2ec66bb897b9")
Q5 = ("ef4e6f78ea9630f66146b33a405a07b669ef94dd9aca6935d4fd23fea32f98f964241a2f9a9c20c9fcd74e20"
      "031c51c4beb8e577873e0348e891ee2d727e2807")
Q6 = "cbf533a94009dfa6b83016a89b428d1d910fb3593856bb386d7b2bd07a1bc834"
Q6B_REM0_TFRMM = "c7f33e8bb0e50acac6ab7fa35a567f8a913ec37d245c73519cff128141b41ac1"
Q7 = "fd3ce1072c3e95cd3a4d1a07729756564f260f9f7e95014418b416673a268b7a"
Q8 = "e8862e21b8eb6b4bdeeff244dc59d2935c26d92c52d346f06e224fe712267a60"
Q9 = "9af47a8e4d6ac775e05f8a8893f9e383694688719d1bbb4281ed1c25056e0911"
Q10 = "22d398e695e776385bc268454587b418dde16e34bc69d9a24fc96abb3050a24e"
Q11A = ("3175b3c0c201081ad410defe6c32e145fd77ff03e63518a9f00831b12b6ec2070f743f43f0ff3290902ecebd"
        "4e6bea8d5926dca19dc1a06fb8d51d551a4a2b79")
Q11C = ("68308d30762b7aa26f749d512864c0e0ad112e9626b8bf1c5486efe32b94b8d8ce8d736089ebf0850a91fd"
        "a5422852294b679795202ed429fd8512b20b000728")

COMMON_Q6 = ("-M confidential-guest-support=rme0 -object rme-guest,id=rme0,measurement-algorithm="
             "sha256 -cpu host -M virt -enable-kvm -smp 2 -m 1G -nographic").split()
COMMON_Q11 = ("-M confidential-guest-support=rme0 -object rme-guest,id=rme0,measurement-algorithm="
              "sha512 -cpu host -M virt -enable-kvm -m 1G -nographic -dtb output.dtb "
              "-bios firmware").split()


def build(argv: list[str], *, caps: HostCaps = QHOST, profile: str = "1.0-rel0",
          **paths: Any) -> VmmBuild:
    return frontend("qemu")(argv, MeasureInputs(caps=caps, profile=get_profile(profile),
                                                **paths))


def measure(b: VmmBuild, profile: str = "1.0-rel0") -> Measurements:
    return Realm(get_profile(profile)).execute(b.operations())


def err(argv: list[str], *, caps: HostCaps = QHOST, **paths: Any) -> str:
    with pytest.raises(ParametersError) as exc:
        build(argv, caps=caps, **paths)
    return str(exc.value)


@pytest.fixture
def payloads(tmp_path: Path) -> dict[str, Any]:
    """FW / INITRD / KERNEL of the reference tool's tests/cmdline.rs."""
    need_shared()
    fw, initrd = tmp_path / "FW", tmp_path / "INITRD"
    fw.write_bytes(b"FW CONTENT")
    initrd.write_bytes(b"INITRD CONTENT")
    kernel = VECTORS / "inputs" / "linux.bin"
    assert hashlib.sha256(kernel.read_bytes()).hexdigest() == (
        "1d996b14b5b5fcc2beb6abd2c6beb6d9ca8ae38e16542cdd83bbdb49213e7351")
    return {"firmware": str(fw), "initrd": str(initrd), "kernel": str(kernel)}


def used(payloads: dict[str, Any], *kinds: str) -> dict[str, Any]:
    """The anchor vectors pass all of FW / KERNEL / INITRD whatever the QEMU line loads;
    rmtool refuses a global image the line does not load (docs/vmm-qemu.md), so the
    vectors are run with the images their line loads (same RIMs: unused images are not
    measured by the reference either)."""
    return {k: payloads[k] for k in kinds}


# --------------------------------------------------------------------------- scalars

def test_rust_integer_parsing() -> None:
    assert parse_uint("+5", 8) == 5
    assert parse_uint("255", 8) == 255
    bad = "invalid digit found in string"
    for text, msg in (("256", "number too large to fit in target type"),
                      ("", "cannot parse integer from empty string"),
                      ("-1", bad), ("+", bad), ("1_0", bad), (" 1", bad), ("١", bad)):
        with pytest.raises(ValueError, match=msg):
            parse_uint(text, 8)


def test_memory_sizes() -> None:
    assert parse_memory_size("1") == MIB
    assert parse_memory_size("512G") == 512 * GIB
    assert parse_memory_size("4096B") == 4096
    assert parse_memory_size("2K") == 2048
    assert parse_memory_size("1T") == TIB
    with pytest.raises(ValueError, match="invalid digit"):
        parse_memory_size("1g")  # suffixes are upper case only


def test_rpv_base64() -> None:
    assert rpv_from_base64("AQ==") == b"\x01" + bytes(63)
    assert rpv_from_base64("Crw=").hex() == "0abc" + "0" * 124
    assert rpv_from_base64("") == bytes(64)
    with pytest.raises(ParametersError, match="^Cannot build parameters: Realm Personalization "
                                              "Value is too large$"):
        rpv_from_base64("A" * 88)  # 66 bytes
    with pytest.raises(ParametersError) as exc:
        rpv_from_base64("&+")
    assert str(exc.value) == ("Cannot build parameters: invalid Realm Personalization Value: "
                              "Invalid symbol 38, offset 0.")


@pytest.mark.parametrize(("text", "message"), [
    ("AA", "Invalid padding"), ("AA=", "Invalid padding"), ("AAAAA", "Invalid input length: 5"),
    ("AB==", "Invalid last symbol 66, offset 1."), ("A===", "Invalid symbol 61, offset 1."),
    ("AA=A", "Invalid symbol 61, offset 2."), ("AAAA&", "Invalid symbol 38, offset 4."),
    ("&AAAA", "Invalid symbol 38, offset 0."), ("AAAA=", "Invalid symbol 61, offset 4."),
])
def test_base64_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        b64decode_standard(text)
    assert str(exc.value) == message


# --------------------------------------------------------------------------- -smp / -m

def smp(*values: str) -> tuple[int, int, int, int, int]:
    cfg = parse_args([w for v in values for w in ("-smp", v)], QHOST, REL0)
    m = cpu_map(cfg.smp)
    return m.sockets, m.clusters, m.cores, m.threads, m.num_cpus


def test_smp_forms() -> None:
    # (sockets, clusters, cores, threads, cpus) -- the reference's test_smp
    assert smp("4") == (1, 1, 4, 1, 4)
    assert smp("cpus=4") == (1, 1, 4, 1, 4)
    assert smp("cores=4") == (1, 1, 4, 1, 4)
    assert smp("maxcpus=4") == (1, 1, 4, 1, 4)
    assert smp("cores=2,maxcpus=8") == (4, 1, 2, 1, 8)
    assert smp("cores=2,sockets=2,maxcpus=16") == (2, 1, 2, 4, 16)
    assert smp("threads=2,cores=2,sockets=2,clusters=2") == (2, 2, 2, 2, 16)
    assert smp("12", "clusters=2,threads=2") == (1, 2, 3, 2, 12)
    assert cpu_map(SmpSpec()).num_cpus == 1


def test_smp_errors_and_warnings() -> None:
    assert err(["-smp", "abc"]) == "Cannot build parameters: -smp: invalid digit found in string"
    assert err(["-smp", "cores=x"]) == ("Cannot build parameters: -smp cores: invalid digit "
                                        "found in string")
    assert err(["-smp", "cpus=4,maxcpus=8"]) == ("Cannot build parameters: -smp: expecting "
                                                 "cpus == maxcpus")
    assert err(["-smp", "threads=0"]) == "Cannot build parameters: invalid number of CPUs"
    assert err(["-smp", "2,sockets=4"]) == "Cannot build parameters: invalid number of CPUs"
    assert err(["-smp"]) == "Cannot build parameters: -smp needs a value"
    b = build(["-smp", "2,dies=1"])
    assert b.warnings == ["unsupported -smp parameter dies"] and b.facts["cpus"] == 2


def mem(*values: str) -> MemSpec:
    return parse_args([w for v in values for w in ("-m", v)], QHOST, REL0).mem


def test_mem_forms() -> None:
    # the reference's test_mem
    assert mem("1") == MemSpec(MIB)
    assert mem("512") == MemSpec(512 * MIB)
    assert mem("size=512M") == MemSpec(512 * MIB)
    assert mem("512G") == MemSpec(512 * GIB)
    assert mem("size=2,slots=2") == MemSpec(2 * MIB, 2, None)
    assert mem("size=2,maxmem=1T") == MemSpec(2 * MIB, None, TIB)
    assert mem("2", "maxmem=1T", "slots=2", "size=4") == MemSpec(4 * MIB, 2, TIB)
    assert mem() == MemSpec(128 * MIB)
    assert parse_args(["-m=1G"], QHOST, REL0).mem.size == GIB


def test_mem_errors() -> None:
    assert err(["-m", "hello"]) == "Cannot build parameters: -m: invalid digit found in string"
    assert err(["-m", "G"]) == "Cannot build parameters: -m: cannot parse integer from empty string"
    assert err(["-m", "size=1x"]) == ("Cannot build parameters: -m size: invalid digit found "
                                      "in string")
    assert err(["-m", "1G,slots=a"]) == ("Cannot build parameters: -m slots: invalid digit found "
                                         "in string")
    assert err(["-m", "1G,maxmem=-1"]) == ("Cannot build parameters: -m maxmem: invalid digit "
                                           "found in string")
    assert err(["-m", "1G,foo=1"]) == "Cannot build parameters: unsupported -m parameter foo"


# --------------------------------------------------------------------------- memory map

def test_memory_map_cases() -> None:
    m = memory_map(MIB)
    assert (m.high_redist_base, m.high_pci_cfg_base, m.high_pci_mmio_base, m.ipa_bits) == (
        0x40_0000_0000, 0x40_1000_0000, 0x80_0000_0000, 41)
    m = memory_map(MIB, TIB)
    assert (m.high_redist_base, m.high_pci_cfg_base, m.high_pci_mmio_base, m.ipa_bits) == (
        0x100_8000_0000, 0x100_9000_0000, 0x180_0000_0000, 42)
    m = memory_map(MIB, 256 * TIB, 12)
    assert (m.high_redist_base, m.high_pci_cfg_base, m.high_pci_mmio_base, m.ipa_bits) == (
        0x1_0003_8000_0000, 0x1_0003_9000_0000, 0x1_0080_0000_0000, 50)
    assert memory_map(128 * MIB).ipa_bits == 41 and memory_map(254 * GIB).ipa_bits == 41


def test_ipa_width_restricts_host() -> None:
    assert build([]).params.s2sz == 41
    assert build(["-m", "1G,maxmem=1T"]).params.s2sz == 42
    assert build([], caps=QHOST.set(ipa_bits=40)).params.s2sz == 40
    assert build([], caps=HostCaps(num_bps=2, num_wps=2)).params.s2sz == 41  # unknown host IPA


# --------------------------------------------------------------------------- options

@pytest.mark.parametrize(("argv", "message"), [
    (["-M", "virt,gic-version=2"], "unsupport GIC version 2"),
    (["-M", "virt,gic-version=4"], "unsupport GIC version 4"),
    (["-M", "highmem=off"], "disabling highmem is not supported"),
    (["-M", "virt,secure"], "cannot parse secure"),
    (["-M", "its=maybe"], "expected on/off/auto, got 'maybe'"),
    (["-cpu", "max"], "unsupported CPU max"),
    (["-cpu", "cortex-a57"], "unsupported CPU cortex-a57"),
    (["-cpu", "host,pmu=1"], "expected on/off/auto, got '1'"),
    (["-cpu", "host,num-pmu-counters=40"], "invalid parameter PMU counters '40'"),
    (["-cpu", "host,num-pmu-counters=x"], "invalid digit found in string"),
    (["-cpu", "host,num-breakpoints=1"], "invalid parameter breakpoints '1'"),
    (["-cpu", "host,num-watchpoints=65"], "invalid parameter watchpoints '65'"),
    (["-cpu", "host,sve-default-vector-length=64"], "invalid digit found in string"),
    (["-object", "rme-guest,foo=bar"], "unsupported rme-guest property 'foo'"),
    (["-object", "rme-guest,bar"], "cannot parse bar"),
    (["-object", "rme-guest,measurement-algorithm=md5"], "RMM: unknown hash algorithm `md5`"),
    (["-object", "rme-guest,measurement-log=2"], "expected on/off/auto, got '2'"),
    (["-object", "rme-guest,personalization-value=&+"],
     "invalid Realm Personalization Value: Invalid symbol 38, offset 0."),
    (["-kernel", "Image"], "need kernel image"),
    (["-bios", "fw"], "need firmware image"),
    (["-append"], "-append needs a value"),
    (["-M"], "-machine needs a value"),
    (["-drive"], "-drive needs a value"),
])
def test_rejected_configurations(argv: list[str], message: str) -> None:
    assert err(argv) == f"Cannot build parameters: {message}"


def test_sha384_needs_rmm_2() -> None:
    argv = ["-object", "rme-guest,measurement-algorithm=sha384"]
    # the reference's text verbatim (RealmConfig::set_measurement_algo -> RmmError)
    assert err(argv) == "Cannot build parameters: RMM: unknown hash algorithm `sha384`"
    b = build(argv, profile="2.0")
    assert b.params.hash_algo.name == "sha384"
    assert len(measure(b, "2.0").rim) == 48


def test_warnings_in_reference_wording() -> None:
    b = build(["-M", "virt,dumpdtb=x", "-cpu", "host,foo=1", "-device", "virtio-rng-pci,id=r",
               "-device", "virtio-net-pci,netdev=n", "-object", "memory-backend-ram,id=m",
               "-serial=mon:stdio", "-s", "-nodefaults", "-drive", "file=x"])
    assert b.warnings == ["ignored machine parameter dumpdtb", "ignored cpu parameter foo",
                          "ignored -device virtio-rng-pci,id=r",
                          "ignored -object memory-backend-ram",
                          "Parameter -serial ignored", "Parameter mon:stdio ignored",
                          "Parameter -s ignored"]


def test_defaults_and_rme_guest() -> None:
    b = build([])
    assert b.params.hash_algo.name == "sha512" and b.params.rpv == bytes(64)
    b = build(["-object", "rme-guest,id=r,measurement-algorithm=sha256,"
                          "personalization-value=Crw="])
    assert b.params.hash_algo.name == "sha256" and b.params.rpv.hex() == "0abc" + "0" * 124
    assert measure(b).rim == measure(build(["-object", "rme-guest,measurement-algorithm="
                                                      "sha256"])).rim  # the RPV is not measured


def test_cpu_capabilities() -> None:
    assert build(["-cpu", "host,num-breakpoints=4,num-watchpoints=3"]).params.num_bps == 4
    p = build(["-cpu", "host,pmu=on,num-pmu-counters=2"]).params
    assert p.pmu and p.pmu_num_ctrs == 2
    p = build(["-cpu", "host,pmu=on"], caps=QHOST.set(pmu=False)).params
    assert not p.pmu  # a host without PMU stays without
    sve = QHOST.set(sve_vl=512)
    assert build(["-cpu", "host,sve512=off"], caps=sve).params.sve_vl == 256
    assert build(["-cpu", "host,sve=off"], caps=sve).params.sve_vl == 0
    assert build(["-cpu", "host,sve=on"], caps=sve).params.sve_vl == 512
    assert build(["-cpu", "host,sve1024=on"], caps=sve).params.sve_vl == 512  # restrict only
    assert err(["-cpu", "host,sve128=off"], caps=QHOST.set(sve_vl=128)) == (
        "Cannot build parameters: invalid parameter SVE vector length '64'")
    assert build(["-cpu", "host,sve256=on"]).params.sve_vl == 256  # unknown host


def test_missing_capabilities() -> None:
    with pytest.raises(ComputeError, match="num_wps is not known"):
        build([], caps=HostCaps(ipa_bits=52))
    with pytest.raises(ComputeError, match="pmu_num_ctrs is not known"):
        build(["-cpu", "pmu=on"], caps=HostCaps(num_bps=2, num_wps=2))


# --------------------------------------------------------------------------- anchor vectors

def test_q1_defaults() -> None:
    b = build([])
    assert measure(b).rim.hex() == Q1
    assert (b.params.s2sz, b.params.pmu, b.params.num_bps, b.params.num_wps) == (41, False, 6, 6)
    assert b.ram == [(0x40000000, 128 * MIB)] and b.dtb_ipa == 0x40000000
    assert (b.rec_pc, b.rec_gprs[0]) == (0x40000000, 0x40000000)
    assert b.dtb is not None and len(b.dtb) == 6740


@pytest.mark.parametrize("argv", [["-M", "virt,gic-version=host"], ["-M", "virt,gic-version=max"],
                                  ["-M", "virt,gic-version=3"], ["-cpu", "pmu=off"]])
def test_q2_q3_same_as_q1(argv: list[str]) -> None:
    b = build(argv)
    assert b.warnings == [] and measure(b).rim.hex() == Q1


def test_q3_host_pmu_disabled_by_cpu_option() -> None:
    assert measure(build(["-cpu", "pmu=off"], caps=QHOST.set(pmu=True))).rim.hex() == Q1


def test_q4_q5_pmu() -> None:
    b = build(["-cpu", "pmu=on"])
    assert measure(b).rim.hex() == Q4 and b.params.pmu_num_ctrs == 6
    assert b.dtb is not None and parse_dtb(b.dtb).root.find_child("pmu") is not None
    assert measure(build(["-cpu", "pmu=on,num-pmu-counters=2"])).rim.hex() == Q5


def test_q6_firmware(payloads: dict[str, Any]) -> None:
    b = build([*COMMON_Q6, "-bios", "firmware"], **used(payloads, "firmware"))
    m = measure(b)
    assert m.rim.hex() == Q6 and b.warnings == []
    assert [(x.kind, x.ipa) for x in b.blobs] == [("FIRMWARE", 0), ("DTB", 0x40000000)]
    assert (b.rec_pc, b.rec_gprs[0]) == (0, 0)
    assert b.dtb is not None and parse_dtb(b.dtb).root.find_property("interrupt-parent") is not None
    assert parse_dtb(b.dtb).root.find_property("interrupt-parent").value == b"\0\0\x80\x03"  # type: ignore[union-attr]


def test_q6b_kernel_goes_to_rem0(payloads: dict[str, Any]) -> None:
    b = build([*COMMON_Q6, "-bios", "firmware", "-kernel", "Image"],
              **used(payloads, "firmware", "kernel"))
    m = measure(b)
    assert m.rim.hex() == Q6
    assert [(rem, x.kind) for rem, x in b.rem_blobs] == [(0, "KERNEL")]
    assert m.rems[0].hex() == Q6B_REM0_TFRMM  # TF-RMM semantics (docs/rmm-profiles.md)
    assert b.dtb == build([*COMMON_Q6, "-bios", "firmware"], **used(payloads, "firmware")).dtb


def test_q7_firmware_append(payloads: dict[str, Any]) -> None:
    b = build([*COMMON_Q6, "-bios", "firmware", "-kernel", "Image", "-append", "root=/dev/vda2"],
              **used(payloads, "firmware", "kernel"))
    assert measure(b).rim.hex() == Q7
    assert b.dtb is not None
    chosen = parse_dtb(b.dtb).root.find_child("chosen")
    assert chosen is not None and chosen.properties[0].value == b"root=/dev/vda2\0"


def test_q8_kernel(payloads: dict[str, Any]) -> None:
    b = build([*COMMON_Q6, "-kernel", "Image"], **used(payloads, "kernel"))
    assert measure(b).rim.hex() == Q8
    assert [(x.kind, x.ipa) for x in b.blobs] == [("KERNEL", 0x40000000), ("DTB", 0x48000000)]
    assert (b.rec_pc, b.rec_gprs[0]) == (0x40000000, 0x48000000)


def test_q9_q10_kernel_initrd(payloads: dict[str, Any]) -> None:
    ki = used(payloads, "kernel", "initrd")
    b = build([*COMMON_Q6, "-kernel", "Image", "-initrd", "initrd"], **ki)
    assert measure(b).rim.hex() == Q9
    assert [(x.kind, x.ipa) for x in b.blobs] == [
        ("KERNEL", 0x40000000), ("INITRD", 0x48000000), ("DTB", 0x48200000)]
    assert b.facts["initrd"] == (0x48000000, 0x4800000E) and b.rec_gprs[0] == 0x48200000
    b = build([*COMMON_Q6, "-kernel", "Image", "-initrd", "initrd", "-append", "root=/dev/vda2"],
              **ki)
    assert measure(b).rim.hex() == Q10


@pytest.mark.parametrize(("tail", "rim", "unused"), [
    (["-bios", "firmware"], Q6, ["-k", "-i"]),
    (["-bios", "firmware", "-kernel", "Image"], Q6, ["-i"]),
    (["-bios", "firmware", "-kernel", "Image", "-append", "root=/dev/vda2"], Q7, ["-i"]),
    (["-kernel", "Image"], Q8, ["-i", "-f"]),
    (["-kernel", "Image", "-initrd", "initrd"], Q9, ["-f"]),
    (["-kernel", "Image", "-initrd", "initrd", "-append", "root=/dev/vda2"], Q10, ["-f"]),
])
def test_q6_q10_exact_reference_argv(payloads: dict[str, Any], tail: list[str], rim: str,
                                     unused: list[str]) -> None:
    """The anchor vectors' own argv passes -f FW -k KERNEL -i INITRD whatever the line
    loads: realm-measurements (reference_mode) gives the vector's RIM and names each
    unused image in a warning; rmtool measure refuses the first unused image."""
    b = build([*COMMON_Q6, *tail], reference_mode=True, **payloads)
    assert measure(b).rim.hex() == rim
    assert [w.split()[0] for w in b.result_warnings] == unused
    assert all(w.endswith("it is not measured") for w in b.result_warnings)
    with pytest.raises(ParametersError, match=f"^Cannot build parameters: {unused[0]} .* was "
                       "given but the qemu "
                       "command line loads no "):
        build([*COMMON_Q6, *tail], **payloads)


def test_initrd_ignored_without_kernel(payloads: dict[str, Any]) -> None:
    """The reference ignores ``-initrd`` without ``-kernel`` (QEMU refuses it); with a
    global ``-i`` the initrd would silently not be measured: an error (new contract)."""
    b = build([*COMMON_Q6, "-initrd", "initrd"])
    assert [x.kind for x in b.blobs] == ["DTB"] and b.facts["initrd"] is None
    assert err([*COMMON_Q6, "-initrd", "initrd"], initrd=payloads["initrd"]) == (
        f"Cannot build parameters: -i {payloads['initrd']} was given but the qemu command "
        f"line loads no initrd "
        f"(-initrd with -kernel)")


def test_q11_generated_dtb_file_and_template(payloads: dict[str, Any], tmp_path: Path) -> None:
    fw = {"firmware": payloads["firmware"]}
    a = build([*COMMON_Q11, "-smp", "2"], **fw)
    assert measure(a).rim.hex() == Q11A
    assert a.dtb is not None
    out = tmp_path / "out.dtb"
    out.write_bytes(a.dtb)
    b = build([*COMMON_Q11, "-smp", "8"], dtb=str(out), **fw)
    assert measure(b).rim.hex() == Q11A and b.dtb == a.dtb and b.facts["dtb_source"] == "file"
    c = build([*COMMON_Q11, "-smp", "8"], dtb_template=str(out), **fw)
    assert measure(c).rim.hex() == Q11C
    assert c.dtb is not None
    fdt = parse_dtb(c.dtb)
    assert fdt.strings_block == parse_dtb(a.dtb).strings_block + b"cpu\0"
    cpus = fdt.root.find_child("cpus")
    assert cpus is not None
    phandles = [c.find_property("phandle").value for c in cpus.children[1:]]  # type: ignore[union-attr]
    assert phandles == [(0x8008 - i).to_bytes(4, "big") for i in range(8)]
    gic = fdt.root.find_child("intc@8000000")
    assert gic is not None and gic.find_property("phandle").value == b"\0\0\x80\x09"  # type: ignore[union-attr]
    its = gic.find_child("its@8080000")
    assert its is not None and its.find_property("phandle").value == b"\0\0\x80\x0a"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- DTB

def test_default_dtb_layout() -> None:
    b = build([])
    assert b.dtb is not None
    hdr = [int.from_bytes(b.dtb[i:i + 4], "big") for i in range(0, 40, 4)]
    assert hdr[1] == 0x1A54 and hdr[9] == 6300 and hdr[8] == 384
    names = parse_dtb(b.dtb).strings_block.split(b"\0")[:-1]
    assert names[:8] == [b"compatible", b"model", b"#address-cells", b"#size-cells",
                         b"interrupt-parent", b"device_type", b"reg", b"enable-method"]
    assert len(names) == 31 and names[-1] == b"#clock-cells"
    # the same tree through the shared first-use writer gives the same bytes
    assert to_dtb(generate_tree(_facts(b))) == b.dtb
    assert regenerate_dtb(b.facts) == b.dtb


def _facts(b: VmmBuild):  # type: ignore[no-untyped-def]
    from rmtool.measure.vmm._qemu import dtb_facts_from
    return dtb_facts_from(b.facts)


def test_many_cpus_second_redistributor_region() -> None:
    b = build(["-smp", "124"])
    assert b.dtb is not None
    gic = parse_dtb(b.dtb).root.find_child("intc@8000000")
    assert gic is not None
    reg = gic.find_property("reg")
    assert reg is not None and len(reg.value) == 48
    assert reg.value[32:] == (0x40_0000_0000).to_bytes(8, "big") + (64 * MIB).to_bytes(8, "big")
    assert gic.find_property("#redistributor-regions").value == b"\0\0\0\x02"  # type: ignore[union-attr]
    assert gic.find_property("phandle").value == (0x8000 + 125).to_bytes(4, "big")  # type: ignore[union-attr]


def test_its_off() -> None:
    b = build(["-M", "virt,its=off"])
    assert b.dtb is not None
    root = parse_dtb(b.dtb).root
    pcie = root.find_child("pcie@10000000")
    gic = root.find_child("intc@8000000")
    assert pcie is not None and pcie.find_property("msi-map") is None
    assert gic is not None and gic.children == []


def test_measurement_log_region(payloads: dict[str, Any]) -> None:
    b = build([*COMMON_Q6, "-object", "rme-guest,measurement-log=on", "-kernel", "Image"],
              **used(payloads, "kernel"))
    assert b.log_region == (0x48100000, 0x10000) == b.facts["log"]
    assert b.dtb is not None
    rm = parse_dtb(b.dtb).root.find_child("reserved-memory")
    assert rm is not None and rm.children[0].name == "event-log@48100000"
    ops = b.operations()
    assert type(ops[-1]).__name__ == "DataCreate" and not ops[-1].measured  # type: ignore[union-attr]
    b = build([*COMMON_Q6, "-object", "rme-guest,measurement-log=on", "-bios", "fw"],
              **used(payloads, "firmware"))
    assert b.log_region == (0x40100000, 0x10000)


def test_duplicate_blob_in_reference_wording(payloads: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    paths = {**payloads, "initrd": str(empty)}
    assert err(["-m", "256M", "-kernel", "k", "-initrd", "i"], **paths) == (
        "Cannot build parameters: while generating DTB: realm: invalid VM configuration: "
        "duplicate blob at 1207959552")


def test_missing_files(payloads: dict[str, Any], tmp_path: Path) -> None:
    nope = str(tmp_path / "nope")
    assert err(["-kernel", "k"], kernel=nope) == (
        f"Cannot build parameters: file {nope} error: No such file or directory (os error 2)")
    assert err(["-kernel", "k", "-initrd", "i"], kernel=payloads["kernel"], initrd=nope) == (
        f"Cannot build parameters: file {nope} error: No such file or directory (os error 2)")
    assert err([], dtb=nope) == ("Cannot build parameters: while generating DTB: file "
                                 f"{nope} error: No such file or directory (os error 2)")
    # the firmware is opened lazily, when measuring (the reference's vector E1: a "Failed to compute
    # measurements" error)
    b = build(["-bios", "fw"], firmware=nope)
    with pytest.raises(ComputeError) as exc:
        measure(b)
    assert str(exc.value) == ("Failed to compute measurements: VMM: file "
                              f"{nope} error: No such file or directory (os error 2)")


def test_bios_kernel_initrd_rem_order(payloads: dict[str, Any]) -> None:
    b = build([*COMMON_Q6, "-bios", "f", "-kernel", "k", "-initrd", "i"], **payloads)
    assert [(rem, x.kind) for rem, x in b.rem_blobs] == [(0, "KERNEL"), (0, "INITRD")]
    assert [x.kind for x in b.blobs] == ["FIRMWARE", "DTB"]
    assert b.facts["initrd"] == (0x48000000, 0x4800000E)  # still in the DTB


def test_facts_keys() -> None:
    b = build(["-smp", "cores=2,sockets=2", "-m", "1G", "-append", "console=hvc0"])
    f = b.facts
    assert f["cpus"] == 4 and f["cpu_map"] == (2, 1, 2, 1) and f["ram_size"] == GIB
    assert f["bootargs"] == "console=hvc0" and f["its"] and not f["pmu"]
    assert f["high_pci_mmio_base"] == 0x80_0000_0000 and f["ipa_bits_map"] == 41
    assert f["gic_version"] == 3 and f["dtb_source"] == "generated"


# --------------------------------------------------------------------------- TSV rows

def _tsv_rows() -> list[dict[str, Any]]:
    path = VECTORS / "anchor-visible.tsv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["name"].startswith("qemu")]


def _global_options(argv: list[str], base: Path) -> tuple[MeasureInputs, list[str]]:
    i = argv.index("qemu")
    opts, vmm = argv[:i], argv[i + 1:]
    caps, sets = HostCaps(), {}
    paths: dict[str, Any] = {}
    j = 0
    while j < len(opts):
        o, v = opts[j], opts[j + 1] if j + 1 < len(opts) else ""
        if o == "-c":
            caps = load_config(str(base / v), caps)
        elif o in ("--num-wps", "--num-bps", "--ipa-bits", "--pmu-num-ctrs", "--sve-vl"):
            sets[o[2:].replace("-", "_")] = int(v)
        elif o in ("--pmu", "--lpa2"):
            sets[o[2:]] = v == "true"
        elif o in ("-k", "-i", "-f", "--dtb", "--dtb-template"):
            key = {"-k": "kernel", "-i": "initrd", "-f": "firmware"}.get(o, o[2:].replace("-", "_"))
            paths[key] = str(base / v)
        elif o != "--output-dtb":
            raise AssertionError(f"global option {o} not handled by this test")
        j += 2
    return MeasureInputs(caps=caps.set(**sets), profile=REL0, **paths), vmm


@pytest.mark.parametrize("row", _tsv_rows(), ids=lambda r: r["name"])
def test_tsv_row(row: dict[str, Any], vector_inputs: Path) -> None:
    inputs, vmm = _global_options(json.loads(row["argv"]), vector_inputs)
    if row["exit_code"] != "0":
        with pytest.raises(ParametersError) as exc:
            frontend("qemu")(vmm, inputs)
        assert f"ERROR {exc.value}" == row["stderr_first_line"]
        return
    b = frontend("qemu")(vmm, inputs)
    m = measure(b)
    assert b.dtb is not None
    assert m.rim.hex() == row["rim"]
    assert hashlib.sha256(b.dtb).hexdigest() == row["dtb_sha256"]
    for k in (1, 2, 3):
        assert m.rems[k].hex() == row[f"rem{k}"]
    if not b.rem_blobs:
        assert m.rems[0].hex() == row["rem0"]
        return
    # -bios with -kernel/-initrd: the recorded REM0 is the reference tool's own (wrong,
    # src/realm.rs ``rem_extend``) extension, H(last digest zero padded to 64 bytes): the
    # initrd is the last blob. rmtool extends kernel then initrd with TF-RMM semantics.
    algo = b.params.hash_algo
    digests = [x.image.digest(algo.name) for _, x in b.rem_blobs]
    assert row["rem0"] == algo.hash(digests[-1].ljust(64, b"\0")).hex()
    expect = bytes(algo.size)
    for d in digests:
        expect = algo.hash(expect + d)
    assert m.rems[0] == expect


def test_reference_template_dtb() -> None:
    """Template = the reference's generated 8-vCPU DTB (ref-dtbs/qemu-s8-1G.dtb)."""
    need_shared()
    ref = VECTORS / "inputs" / "ref-dtbs" / "qemu-s8-1G.dtb"
    b = build(["-smp", "8", "-m", "1G", "-cpu", "pmu=on"], dtb_template=str(ref))
    assert b.dtb is not None
    out, tpl = parse_dtb(b.dtb), parse_dtb(ref.read_bytes())
    assert out.strings_block == tpl.strings_block + b"cpu\0"
    # the template has no pmu node: it is never added
    assert [c.name for c in out.root.children] == [c.name for c in tpl.root.children]
    cpus = out.root.find_child("cpus")
    assert cpus is not None and cpus.children[0].name == "cpu-map"
    assert [c.name for c in cpus.children[1:]] == [f"cpu@{i}" for i in range(8)]
    gen = parse_dtb(build(["-smp", "8", "-m", "1G"]).dtb or b"")
    for name in ("memory@40000000", "pcie@10000000", "intc@8000000", "apb-pclk"):
        assert out.root.find_child(name) == gen.root.find_child(name)


def test_ripas_count_and_hostile_ram_size() -> None:
    from rmtool.measure.rmm.realm import ripas_split
    from rmtool.measure.vmm._qemu import ripas_descriptor_count
    for base, top, ipa in ((0x40000000, 0x48000000, 41), (0x40001000, 0x80200000, 41),
                           (0x80000000, 0xA0000000, 33), (0x6300000, 0x70000000, 52),
                           (0x40000000, 0x40000000 + 3 * TIB + 0x5000, 48)):
        assert ripas_descriptor_count(base, top, ipa) == len(ripas_split(base, top, ipa))
    assert ripas_descriptor_count(0x40000000, 0x40000000 + 128 * MIB, 41) == 64
    # 99999999 PiB wraps at 2^64 like the reference, then needs ~2^25 descriptors
    # checked when measuring (the reference builds the parameters and the DTB first)
    with pytest.raises(ParametersError, match="INIT_RIPAS descriptors"):
        build(["-m", "99999999P"], reference_mode=True).operations()
    # rmtool measure refuses it first, with QEMU's reason (virt_kvm_type)
    with pytest.raises(ParametersError, match=r"qemu refuses this Realm: -m and ,maxmem "
                       r"option values require an IPA range \(64 bits\)"):
        build(["-m", "99999999P"])
    assert build(["-m", "99999999P"], profile="2.0",  # RMM 2.0: no RIPAS
                 reference_mode=True).params.s2sz == 52
