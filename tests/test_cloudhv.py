"""cloud-hypervisor front-end (docs/vmm-cloud-hypervisor.md): every chv-* acceptance row
through the library, each option, the layout, the DTB, and the errors in the
reference tool's wording."""

from __future__ import annotations

import csv
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from rmtool.errors import ComputeError, ParametersError, RmtoolError, UsageError
from rmtool.measure.dtb.fdt import Node, parse_dtb
from rmtool.measure.host import HostCaps, load_config
from rmtool.measure.rmm.ops import DataCreate, InitRipas, RealmCreate, RecCreate
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.rmm.realm import Realm
from rmtool.measure.vmm import frontend
from rmtool.measure.vmm._cloudhv import (
    dtb_from_facts,
    parse_memory_size,
    rust_parse_uint,
    scan_args,
)
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild
from tests.conftest import VECTORS

HOST = HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu_num_ctrs=6)
GLOBAL_SETS = {"--num-wps": "num_wps", "--num-bps": "num_bps", "--ipa-bits": "ipa_bits",
               "--pmu-num-ctrs": "pmu_num_ctrs"}


def _rows() -> list[dict[str, str]]:
    path = VECTORS / "anchor-visible.tsv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["name"].startswith("chv")]


CHV_ROWS = _rows()


def chv(argv: list[str], caps: HostCaps = HOST, profile: str = "1.0-rel0",
        **paths: Any) -> VmmBuild:
    return frontend("cloud-hv")(argv, MeasureInputs(caps=caps, profile=get_profile(profile),
                                                    **paths))


def tree(build: VmmBuild) -> Node:
    assert build.dtb is not None
    return parse_dtb(build.dtb).root


def node(root: Node, path: str) -> Node:
    cur = root
    for part in path.strip("/").split("/"):
        found = cur.find_child(part)
        assert found is not None, f"{path}: no {part} in {[c.name for c in cur.children]}"
        cur = found
    return cur


def prop(root: Node, path: str, name: str) -> bytes:
    p = node(root, path).find_property(name)
    assert p is not None, f"{path} has no {name}"
    return p.value


def cells(value: bytes, size: int = 4) -> tuple[int, ...]:
    return struct.unpack(f">{len(value) // size}{'I' if size == 4 else 'Q'}", value)


# --------------------------------------------------------------------------- vectors

def _library_run(argv: list[str], base: Path) -> tuple[VmmBuild, Any]:
    """The global options the chv rows use, then the front-end and the Realm model."""
    vmm_at = argv.index("cloud-hv")
    glob, vmm_args = argv[:vmm_at], argv[vmm_at + 1:]
    caps, sets, paths = HostCaps(), {}, {}
    i = 0
    while i < len(glob):
        opt, value = glob[i], glob[i + 1]
        i += 2
        if opt == "-c":
            caps = load_config(str(base / value), caps)
        elif opt in ("-k", "-i"):
            paths["kernel" if opt == "-k" else "initrd"] = str(base / value)
        elif opt in GLOBAL_SETS:
            sets[GLOBAL_SETS[opt]] = int(value)
        else:
            assert opt == "--output-dtb"
    build = chv(vmm_args, caps.set(**sets), **paths)
    return build, Realm("1.0-rel0").execute(build.operations())


@pytest.mark.parametrize("row", CHV_ROWS, ids=[r["name"] for r in CHV_ROWS])
def test_chv_vector_through_library(row: dict[str, str], vector_inputs: Path) -> None:
    argv = json.loads(row["argv"])
    if row["exit_code"] != "0":
        with pytest.raises(RmtoolError) as err:
            _library_run(argv, vector_inputs)
        assert f"ERROR {err.value}" == row["stderr_first_line"]
        return
    build, m = _library_run(argv, vector_inputs)
    assert m.rim.hex() == row["rim"]
    assert [r.hex() for r in m.rems] == [row[f"rem{i}"] for i in range(4)]
    assert build.dtb is not None
    assert hashlib.sha256(build.dtb).hexdigest() == row["dtb_sha256"]
    # the facts regenerate the very same DTB (event-log writer / replay contract)
    assert dtb_from_facts(json.loads(json.dumps(build.facts))) == build.dtb


def test_vectors_present() -> None:
    if not CHV_ROWS:
        pytest.skip("../shared/vectors not available")
    assert len(CHV_ROWS) >= 6


# --------------------------------------------------------------------------- defaults, layout

def test_defaults_layout_and_operations() -> None:
    b = chv([])
    assert b.params.hash_algo.name == "sha512"
    assert b.params.s2sz == 48  # restrict(52, 48)
    assert b.ram == [(0x40000000, 512 << 20)]
    assert b.rec_pc == 0x40400000 and b.rec_gprs == (0x40000000, 0, 0, 0, 0, 0, 0, 0)
    assert b.dtb_ipa == 0x40000000 and b.log_region is None and b.rem_blobs == []
    ops = b.operations()
    assert isinstance(ops[0], RealmCreate)
    assert [(o.base, o.top) for o in ops if isinstance(o, InitRipas)] == \
        [(0x40000000, 0x60000000)]
    data = [o for o in ops if isinstance(o, DataCreate)]
    assert [(o.ipa, o.origin) for o in data] == [(0x40000000, "DTB")]
    assert data[0].image is not None and data[0].image.size == len(b.dtb or b"")
    assert isinstance(ops[-1], RecCreate) and ops[-1].pc == 0x40400000


def test_ipa_bits_restricted_to_48_or_lower() -> None:
    assert chv([], HostCaps(ipa_bits=40, num_bps=2, num_wps=2)).params.s2sz == 40
    assert chv([], HostCaps(num_bps=2, num_wps=2)).params.s2sz == 48


# --------------------------------------------------------------------------- DTB

def test_dtb_format_is_vm_fdt_tight() -> None:
    dtb = chv([]).dtb
    assert dtb is not None
    hdr = struct.unpack(">10I", dtb[:40])
    magic, total, off_struct, off_strings, off_rsv, version, last_comp, cpuid, s_str, s_st = hdr
    assert (magic, off_struct, off_rsv, version, last_comp, cpuid) == \
        (0xD00DFEED, 0x38, 0x28, 17, 16, 0)
    assert total == len(dtb) == off_strings + s_str and off_strings == 0x38 + s_st
    names = dtb[off_strings:].split(b"\0")[:-1]
    # first-use order, no suffix sharing (the reference's node/property order)
    assert [n.decode() for n in names] == [
        "compatible", "model", "#address-cells", "#size-cells", "interrupt-parent",
        "device_type", "reg", "enable-method", "cpu_on", "cpu_off", "method", "phandle",
        "#redistributor-regions", "ranges", "interrupt-controller", "#interrupt-cells",
        "#msi-cells", "msi-controller", "interrupts", "always-on", "clock-output-names",
        "clock-frequency", "#clock-cells", "clock-names", "clocks", "msi-map",
        "dma-coherent", "bus-range", "linux,pci-domain"]


def test_dtb_nodes_and_values() -> None:
    root = tree(chv(["--cpus", "boot=2"]))
    assert [c.name for c in root.children] == [
        "chosen", "memory@40000000", "cpus", "psci", "intc@8ff0000", "timer", "pmu",
        "apb-pclk", "pl031@9010000", "pl011@9000000", "pcie@30000000"]
    assert [p.name for p in root.properties] == [
        "compatible", "model", "#address-cells", "#size-cells", "interrupt-parent"]
    assert [p.value for p in root.properties[:2]] == [b"linux,dummy-virt\0",
                                                      b"linux,dummy-virt-realm\0"]
    assert node(root, "chosen").properties == []
    assert cells(prop(root, "memory@40000000", "reg"), 8) == (0x40000000, 512 << 20)
    assert [c.name for c in node(root, "cpus").children] == ["cpu@0", "cpu@1"]
    cpu1 = node(root, "cpus/cpu@1")
    assert [p.name for p in cpu1.properties] == ["reg", "enable-method", "compatible",
                                                "device_type"]
    assert cells(prop(root, "cpus/cpu@1", "reg")) == (1,)
    assert prop(root, "cpus/cpu@1", "compatible") == b"arm,armv8\0"
    assert cells(prop(root, "psci", "cpu_on")) == (0xC4000003,)
    assert prop(root, "psci", "method") == b"smc\0"
    assert prop(root, "psci", "compatible") == b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0"
    # GIC: R = 0x08FF0000 - 2 * 0x20000, ITS below it
    assert cells(prop(root, "intc@8ff0000", "reg"), 8) == \
        (0x08FF0000, 0x10000, 0x08FB0000, 0x40000)
    assert [c.name for c in node(root, "intc@8ff0000").children] == ["its@8f90000"]
    assert cells(prop(root, "intc@8ff0000/its@8f90000", "reg"), 8) == (0x08F90000, 0x20000)
    assert cells(prop(root, "intc@8ff0000/its@8f90000", "phandle")) == (2,)
    assert cells(prop(root, "timer", "interrupts")) == (1, 13, 4, 1, 14, 4, 1, 11, 4)
    assert cells(prop(root, "pmu", "interrupts")) == (1, 7, 4)
    assert cells(prop(root, "apb-pclk", "clock-frequency")) == (24000000,)
    assert cells(prop(root, "pl031@9010000", "interrupts")) == (0, 8, 4)
    assert cells(prop(root, "pl011@9000000", "interrupts")) == (0, 11, 1)
    assert cells(prop(root, "pl011@9000000", "reg"), 8) == (0x09000000, 0x1000)
    assert cells(prop(root, "pcie@30000000", "ranges")) == (
        0x01000000, 0, 0, 0, 0x09050000, 0, 0x10000,
        0x02000000, 0, 0x10000000, 0, 0x10000000, 0, 0x20000000,
        0x03000000, 2, 0, 2, 0, 0x3FFD, 0)
    assert cells(prop(root, "pcie@30000000", "reg"), 8) == (0x30000000, 0x100000)
    assert cells(prop(root, "pcie@30000000", "msi-map")) == (0, 2, 0, 0x100)
    assert node(root, "pcie@30000000").find_property("interrupt-map") is None


def test_pmu_node_always_even_without_pmu() -> None:
    caps = HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu=False)
    b = chv([], caps)
    assert not b.params.pmu
    assert tree(b).find_child("pmu") is not None


# --------------------------------------------------------------------------- options

def test_cpus_boot_and_ignored_keys_warn() -> None:
    b = chv(["--cpus", "boot=4,max=8,topology=1:1:1:4"])
    assert b.warnings == ["ignored --cpus parameter max", "ignored --cpus parameter topology"]
    root = tree(b)
    assert len(node(root, "cpus").children) == 4
    assert cells(prop(root, "intc@8ff0000", "reg"), 8)[2:] == (0x08F70000, 0x80000)
    assert node(root, "intc@8ff0000").children[0].name == "its@8f50000"
    assert b.facts["num_cpus"] == 4


def test_cpus_decimal_unit_names() -> None:
    names = [c.name for c in node(tree(chv(["--cpus", "boot=11"])), "cpus").children]
    assert names[-2:] == ["cpu@9", "cpu@10"]


@pytest.mark.parametrize("text,size", [("size=1G", 1 << 30), ("size=512", 512 << 20),
                                       ("size=1048576K", 1 << 30), ("size=+2G", 2 << 30),
                                       ("size=3000000B", 3000000)])
def test_memory_size(text: str, size: int) -> None:
    b = chv(["--memory", text])
    assert b.ram == [(0x40000000, size)]
    assert cells(prop(tree(b), "memory@40000000", "reg"), 8) == (0x40000000, size)


def test_memory_ignored_keys_warn() -> None:
    b = chv(["--memory", "size=1G,shared=on,hugepages=on"])
    assert b.warnings == ["ignored --memory parameter shared",
                          "ignored --memory parameter hugepages"]


def test_memory_unaligned_size_ripas_rounded_up() -> None:
    ops = chv(["--memory", "size=1000B"]).operations()
    assert [(o.base, o.top) for o in ops if isinstance(o, InitRipas)] == \
        [(0x40000000, 0x40001000)]


def test_cmdline_verbatim_and_absent() -> None:
    root = tree(chv(["--cmdline", " console=hvc0 root=/dev/vda2 "]))
    assert prop(root, "chosen", "bootargs") == b" console=hvc0 root=/dev/vda2 \0"
    assert prop(tree(chv(["--cmdline", ""])), "chosen", "bootargs") == b"\0"
    assert node(tree(chv([])), "chosen").find_property("bootargs") is None


@pytest.mark.parametrize("mode,present", [("off", False), ("tty", True), ("null", True),
                                          ("file=/tmp/x", True)])
def test_serial_modes(mode: str, present: bool) -> None:
    assert (tree(chv(["--serial", mode])).find_child("pl011@9000000") is not None) is present


def test_console_modes_ignored() -> None:
    assert chv(["--console", "off"]).dtb == chv(["--console", "tty"]).dtb == chv([]).dtb


def test_platform_algorithm_and_rpv() -> None:
    b = chv(["--platform", "arm_rme=on,measurement_algo=sha256,personalization_value=Crw="])
    assert b.params.hash_algo.name == "sha256"
    assert b.params.rpv == bytes.fromhex("0abc") + bytes(62)
    assert b.facts["rpv"] == "0abc" + "0" * 124
    assert chv(["--platform", "measurement_algo=sha512"]).params.hash_algo.name == "sha512"


def test_sha384_only_for_rmm_2() -> None:
    with pytest.raises(ParametersError, match="RMM: unknown hash algorithm `sha384`"):
        chv(["--platform", "measurement_algo=sha384"])
    assert chv(["--platform", "measurement_algo=sha384"], profile="2.0"
               ).params.hash_algo.name == "sha384"


def test_ignored_devices_do_not_change_the_realm() -> None:
    base = chv([])
    b = chv(["--disk", "path=a.img", "--disk", "path=b.img", "--net", "tap=,mac=", "--rng",
             "src=/dev/urandom", "--balloon", "size=0", "--fs", "tag=x", "--pmem", "file=p",
             "--device", "path=/sys/x", "--user-device", "socket=s", "--vdpa", "path=v",
             "--vsock", "cid=3,socket=s", "--pvpanic", "--numa", "guest_numa_id=0",
             "--pci-segment", "pci_segment=1", "--watchdog", "--log-file", "l",
             "--api-socket", "a", "--event-monitor", "path=e", "--restore", "source_url=r",
             "--seccomp", "true", "--tpm", "socket=t", "-v", "-vv", "--firmware", "CLOUDHV.fd",
             "--dtb", "cloudhv-gen.dtb", "--memory-zone", "size=1G",
             "--rate-limit-group", "id=g"])
    assert b.dtb == base.dtb and b.blobs == base.blobs and b.params == base.params
    assert b.warnings == []


def test_global_dtb_and_template_ignored(tmp_path: Path) -> None:
    other = tmp_path / "other.dtb"
    other.write_bytes(b"not a dtb")
    b = chv([], dtb=str(other))
    c = chv([], dtb_template=str(other))
    assert b.dtb == c.dtb == chv([]).dtb


def _kernel_file(tmp_path: Path, text_offset: int, image_size: int) -> Path:
    hdr = struct.pack("<IIQQQQQQII", 0, 0, text_offset, image_size, 0xA, 0, 0, 0,
                      0x644D5241, 0)
    path = tmp_path / f"Image-{text_offset:x}-{image_size:x}"
    path.write_bytes(hdr + bytes(range(256)) * 20)
    return path


def test_kernel_placement_and_rec(tmp_path: Path) -> None:
    k = _kernel_file(tmp_path, 0x80000, 0x200000)
    b = chv(["--kernel", "Image"], kernel=str(k))
    kernel = [x for x in b.blobs if x.kind == "KERNEL"]
    assert [x.ipa for x in kernel] == [0x40480000]  # 0x40400000 + text_offset
    assert b.rec_pc == 0x40400000  # text_offset not added
    assert b.facts["kernel_ipa"] == 0x40480000


def test_initramfs_placement(tmp_path: Path) -> None:
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"I" * (3 * 1024 * 1024 + 17))
    b = chv(["--memory", "size=1G", "--initramfs", "initrd"], initrd=str(initrd))
    start = 0x80000000 - 0x301000
    assert [(x.kind, x.ipa) for x in b.blobs] == [("INITRD", start), ("DTB", 0x40000000)]
    root = tree(b)
    assert cells(prop(root, "chosen", "linux,initrd-start"), 8) == (start,)
    assert cells(prop(root, "chosen", "linux,initrd-end"), 8) == (start + 3 * 1024 * 1024 + 17,)
    assert [o.origin for o in b.operations() if isinstance(o, DataCreate)] == ["DTB", "INITRD"]


def test_empty_initrd_has_no_dtb_properties(tmp_path: Path) -> None:
    initrd = tmp_path / "empty"
    initrd.write_bytes(b"")
    b = chv(["--initramfs", "x"], initrd=str(initrd))
    assert b.dtb == chv([]).dtb


def test_gzip_kernel_same_as_plain(tmp_path: Path) -> None:
    import gzip
    k = _kernel_file(tmp_path, 0, 0x1000000)
    gz = tmp_path / "Image.gz"
    gz.write_bytes(gzip.compress(k.read_bytes(), mtime=0))
    a = Realm("1.0-rel0").execute(chv(["--kernel", "x"], kernel=str(k)).operations())
    b = Realm("1.0-rel0").execute(chv(["--kernel", "x"], kernel=str(gz)).operations())
    assert a.rim == b.rim


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("argv,message", [
    (["--cpus", "2"], "malformed --cpu param 2"),
    (["--cpus", "boot=2,4"], "malformed --cpu param 4"),
    (["--memory", "1G"], "malformed --memory param 1G"),
    (["--platform", "arm_rme"], "malformed --platform param arm_rme"),
    (["--cpus", "boot=x"], "--cpus: invalid digit found in string"),
    (["--cpus", "boot=-1"], "--cpus: invalid digit found in string"),
    (["--cpus", "boot="], "--cpus: cannot parse integer from empty string"),
    (["--cpus", "boot=18446744073709551616"], "--cpus: number too large to fit in target type"),
    (["--memory", "size=1g"], "--memory: invalid digit found in string"),
    (["--memory", "size=G"], "--memory: cannot parse integer from empty string"),
    (["--platform", "measurement_algo=md5"], "RMM: unknown hash algorithm `md5`"),
    (["--platform", "personalization_value=&+"],
     "invalid Realm Personalization Value: Invalid symbol 38, offset 0."),
    (["--platform", "personalization_value=" + "AAAA" * 22],
     "Realm Personalization Value is too large"),
    (["--kernel", "Image"], "need kernel image"),
    (["--initramfs", "initrd"], "need initrd image"),
])
def test_parameter_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ParametersError) as err:
        chv(argv)
    assert str(err.value) == f"Cannot build parameters: {message}"


def test_missing_initrd_file_error(tmp_path: Path) -> None:
    missing = tmp_path / "nothere"
    with pytest.raises(ParametersError) as err:
        chv(["--initramfs", "x"], initrd=str(missing))
    assert str(err.value) == (f"Cannot build parameters: file {missing} error: "
                              f"No such file or directory (os error 2)")


def test_missing_kernel_file_error(tmp_path: Path) -> None:
    missing = tmp_path / "nothere"
    with pytest.raises(ParametersError) as err:
        chv(["--kernel", "x"], kernel=str(missing))
    assert str(err.value) == (f"Cannot build parameters: file {missing} error: "
                              f"No such file or directory (os error 2)")


def test_bad_kernel_header(tmp_path: Path) -> None:
    import gzip
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(hashlib.shake_256(b"not a kernel").digest(4096)))
    with pytest.raises(ParametersError, match="^Cannot build parameters: invalid Linux header$"):
        chv(["--kernel", "x"], kernel=str(bad))


def test_compute_errors() -> None:
    # Realm::rim_realm_create runs in compute_measurements, after add_dtb: the build
    # succeeds (the DTB can be written) and measuring fails
    no_wps = chv([], HostCaps(ipa_bits=52, num_bps=6))
    with pytest.raises(ComputeError) as err:
        no_wps.operations()
    assert str(err.value) == "Failed to compute measurements: num_wps is not known"
    # the reference meets the empty RIPAS range in RealmConfig::compute_rim (after the
    # DTB was built and written), so the build succeeds and the operations fail
    build = chv(["--memory", "size=0"])
    with pytest.raises(ComputeError) as err:
        build.operations()
    assert str(err.value) == \
        "Failed to compute measurements: invalid parameter RIPAS(40000000, 40000000)"


def test_duplicate_blob_in_reference_wording(tmp_path: Path) -> None:
    initrd = tmp_path / "i"
    initrd.write_bytes(b"x" * 4096)
    # 4 KiB of RAM: the initrd lands on the DTB address
    with pytest.raises(ParametersError) as err:
        chv(["--memory", "size=4K", "--initramfs", "i"], initrd=str(initrd))
    assert str(err.value) == ("Cannot build parameters: while generating DTB: invalid VM "
                              "configuration: duplicate blob at 1073741824")


@pytest.mark.parametrize("argv,first", [
    (["-bios", "FW"], "error: unexpected argument '-b' found"),
    (["--bogus"], "error: unexpected argument '--bogus' found"),
    (["--bogus=1"], "error: unexpected argument '--bogus' found"),
    (["stray"], "error: unexpected argument 'stray' found"),
    (["--cpus"], "error: a value is required for '--cpus <CPUS>' but none was supplied"),
    (["--cpus", "--memory", "size=1G"],
     "error: a value is required for '--cpus <CPUS>' but none was supplied"),
    (["--memory", "size=1G", "--memory", "size=2G"],
     "error: the argument '--memory <MEMORY>' cannot be used multiple times"),
    (["--pvpanic", "--pvpanic"], "error: the argument '--pvpanic' cannot be used multiple times"),
    (["--watchdog=yes"],
     "error: unexpected value 'yes' for '--watchdog' found; no more were expected"),
    (["--rmtool-pmu-node", "sometimes"],
     "error: invalid value 'sometimes' for '--rmtool-pmu-node <VALUE>' "
     "[possible values: always, auto]"),
])
def test_clap_errors(argv: list[str], first: str) -> None:
    with pytest.raises(UsageError) as err:
        chv(argv)
    assert str(err.value).splitlines()[0] == first
    assert err.value.exit_code == 2


def test_scanner_forms() -> None:
    opts = scan_args(["--cpus=boot=2", "--disk", "a", "--disk=b", "-vv", "-v", "--pvpanic"])
    assert opts == {"cpus": ["boot=2"], "disk": ["a", "b"], "v": ["", "", ""],
                    "pvpanic": [""]}


def test_rust_integer_parsing() -> None:
    assert rust_parse_uint("+7") == 7 and rust_parse_uint("007") == 7
    assert rust_parse_uint("18446744073709551615") == (1 << 64) - 1
    for bad, msg in (("+", "invalid digit"), ("1 ", "invalid digit"), ("", "empty string")):
        with pytest.raises(ValueError, match=msg):
            rust_parse_uint(bad)
    assert parse_memory_size("16384P") == 0  # u64 wrap, as a release build
    assert parse_memory_size("2") == 2 << 20


# --------------------------------------------------------------------------- extensions

def test_rmtool_pmu_node_auto() -> None:
    off = chv(["--rmtool-pmu-node", "auto"], HostCaps(ipa_bits=52, num_bps=6, num_wps=6))
    assert tree(off).find_child("pmu") is None
    on = chv(["--rmtool-pmu-node", "auto"],
             HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu=True, pmu_num_ctrs=4))
    assert on.dtb == chv([], HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu=True,
                                      pmu_num_ctrs=4)).dtb


def test_rmtool_kernel_entry_upstream(tmp_path: Path) -> None:
    k = _kernel_file(tmp_path, 0, 0)  # image_size 0: linux-loader uses text_offset 0x80000
    b = chv(["--kernel", "x", "--rmtool-kernel-entry", "upstream"], kernel=str(k))
    assert [x.ipa for x in b.blobs if x.kind == "KERNEL"] == [0x40480000]
    assert b.rec_pc == 0x40480000
    ref = chv(["--kernel", "x"], kernel=str(k))
    assert [x.ipa for x in ref.blobs if x.kind == "KERNEL"] == [0x40400000]


def test_rmtool_ram_layout_upstream(tmp_path: Path) -> None:
    initrd = tmp_path / "i"
    initrd.write_bytes(b"x" * 5000)
    b = chv(["--memory", "size=4G", "--rmtool-ram-layout", "upstream", "--initramfs", "i"],
            initrd=str(initrd))
    low = 0xFC000000 - 0x40000000
    assert b.ram == [(0x40000000, low), (0x100000000, (4 << 30) - low)]
    root = tree(b)
    assert cells(prop(root, "memory@100000000", "reg"), 8) == (0x100000000, (4 << 30) - low)
    end = 0x100000000 + (4 << 30) - low
    assert cells(prop(root, "chosen", "linux,initrd-start"), 8) == (end - 0x2000,)
    # small RAM: identical to the reference layout
    assert chv(["--rmtool-ram-layout", "upstream"]).dtb == chv([]).dtb


def test_facts_keys() -> None:
    f = chv(["--cpus", "boot=3", "--cmdline", "quiet", "--serial", "off"]).facts
    assert {"vmm", "num_cpus", "ram", "bootargs", "initrd", "serial", "pmu_node", "gic",
            "dtb_ipa", "kernel_ipa", "rec_pc", "rec_x0", "hash_algo", "s2sz", "rpv",
            "layout"} <= set(f)
    assert (f["vmm"], f["num_cpus"], f["bootargs"], f["serial"], f["initrd"]) == \
        ("cloud-hv", 3, "quiet", False, None)
    assert f["gic"]["redist"] == [0x08FF0000 - 3 * 0x20000, 3 * 0x20000]
