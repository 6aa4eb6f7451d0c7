"""``rmtool measure ... kvmtool``: the reference tool's kvmtool vectors and errors.

Vectors: the reference tool's tests/cmdline.rs (K1-K3) and errors, and its
``src/kvmtool.rs`` (``build_params`` layout, ``gen_dtb``). Printed values are hash-size.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.measure.dtb.fdt import parse_dtb, to_dtb
from rmtool.measure.vmm._kvmtool import DtbFacts, generate_dtb, ipa_bits, layout
from tests.conftest import VECTORS

HOST6 = ["--num-wps", "6", "--num-bps", "6"]
K1 = "998dfdf6401d69f73ed88ac53d62d5ea2cfac6320b887ce4599aa8671791d4d0"
K2 = "cf37146fce0ad50e1be1a04580c1024e5449b430b0dd96b6ef5c9a2b73767bf5"
ZERO32 = "0" * 64
# rmtool's second stderr line after the reference's error (issue 18)
HINT_WPS_BPS = ("hint: the host's num_wps and num_bps are not known (rmtool does not guess: a "
                "guessed value gives a wrong reference value); pass the host's capability "
                "files, e.g. -c qemu-max-8.2.conf -c kvm.conf (written by python -m "
                "rmtool.examples inputs DIR), or --num-wps N --num-bps N, before the VMM name")
HINT_KERNEL = ("hint: the VMM loads a kernel: pass its content with the global -k FILE, before "
               "the VMM name (rmtool measure -k FILE VMM ...)")


def measure(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = run(["measure", *argv], reference_exits=True)  # realm-measurements: status 1 on ERROR
    out, err = capsys.readouterr()
    return status, out, err


def lines(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.strip().splitlines())


@pytest.fixture
def fw(tmp_path: Path) -> Path:
    p = tmp_path / "FW"
    p.write_bytes(b"FW CONTENT")
    return p


def test_k1_minimal(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = measure([*HOST6, "kvmtool", "--realm", "-c", "1", "-m", "512M"], capsys)
    assert status == 0 and err == ""
    assert lines(out) == {"RIM": K1, "REM0": ZERO32, "REM1": ZERO32, "REM2": ZERO32,
                          "REM3": ZERO32}


def test_k1_with_ignored_debug_options(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = measure([*HOST6, "kvmtool", "--realm", "-c", "1", "-m", "512M", "--debug",
                              "--debug-single-step", "--debug-mmio", "--force-pci",
                              "--no-pvtime", "--vcpu-affinity", "AFF", "--disable-mte"], capsys)
    assert status == 0 and lines(out)["RIM"] == K1


def test_k2_firmware_exact_stdout(fw: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = measure([*HOST6, "-f", str(fw), "kvmtool", "--realm", "--firmware",
                                "firmware", "-c", "1", "-m", "512M"], capsys)
    assert status == 0 and err == ""
    assert out == f"RIM: {K2}\n" + "".join(f"REM{i}: {ZERO32}\n" for i in range(4))


def test_k3_base64(fw: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = measure([*HOST6, "-f", str(fw), "--print-b64", "kvmtool", "--realm",
                              "--firmware", "firmware", "-c", "1", "-m", "512M"], capsys)
    assert status == 0
    got = lines(out)
    # the reference prints 64-byte slots: zzcUb84K...e/UAAAA...==; rmtool prints hash size
    assert got["RIM"] == base64.b64encode(bytes.fromhex(K2)).decode()
    assert got["RIM"].startswith("zzcUb84K1Q4b4aBFgMECTlRJtDCw3Za271yaK3N2e/U")
    assert got["REM0"] == base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize("argv, message", [
    (["kvmtool", "--realm"], "ERROR Cannot build parameters: number of vCPUs is not known"),
    (["kvmtool", "--realm", "-c", "1"],
     "ERROR Cannot build parameters: default guest RAM size is not known"),
    # the reference's line, then rmtool's hint: what to pass (issue 18)
    (["kvmtool", "--realm", "-c", "1", "-m", "512M"],
     "ERROR Failed to compute measurements: num_wps is not known\n" + HINT_WPS_BPS),
    ([*HOST6, "kvmtool", "--realm", "-c", "1", "-m", "511M"],
     "ERROR Cannot build parameters: RAM size must be aligned on 2MB"),
    ([*HOST6, "kvmtool", "--realm", "-c", "1", "-m", "512M@0x1000"],
     "ERROR Cannot build parameters: unsupported RAM base change"),
    ([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "--measurement-algo", "md5"],
     "ERROR Cannot build parameters: RMM: unknown hash algorithm `md5`"),
    ([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "-k", "Image"],
     "ERROR Cannot build parameters: need kernel image\n" + HINT_KERNEL),
    ([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "--realm-pv", "x" * 65],
     "ERROR Cannot build parameters: Realm Personalization Value is too large"),
    ([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "--virtio-transport", "ccw"],
     "ERROR Cannot build parameters: unsupported virtio transport ccw"),
    ([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "-n", "mode=user,trans=mmio"],
     "ERROR Cannot build parameters: unsupported virtio transport mismatch"),
    ([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "-n", "user"],
     "ERROR Cannot build parameters: malformed -n param user"),
    # global host options are checked by RealmConfig::from_args at the start of
    # build_params (src/realm_config.rs), hence "Cannot build parameters"
    (["--num-bps", "1", "kvmtool", "-c", "1", "-m", "512M"],
     "ERROR Cannot build parameters: invalid parameter breakpoints '1'"),
    (["--num-wps", "65", "kvmtool", "-c", "1", "-m", "512M"],
     "ERROR Cannot build parameters: invalid parameter watchpoints '65'"),
    (["--sve-vl", "100", "kvmtool", "-c", "1", "-m", "512M"],
     "ERROR Cannot build parameters: invalid parameter SVE vector length '100'"),
    (["--pmu-num-ctrs", "32", "kvmtool", "-c", "1", "-m", "512M"],
     "ERROR Cannot build parameters: invalid parameter PMU counters '32'"),
    (["--dtb", "x", "--dtb-template", "y", *HOST6, "kvmtool", "-c", "1", "-m", "512M"],
     "ERROR Invalid arguments: either --dtb or --dtb-template can be set but not both"),
])
def test_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = measure(argv, capsys)
    assert status == 1
    assert out == ""
    assert err.strip() == message


def test_unknown_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = measure(["--input-dtb", "X", *HOST6, "kvmtool", "-c", "1"], capsys)
    assert status == 2 and "error: unexpected argument '--input-dtb'" in err
    status, _, err = measure([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "--aarch32"], capsys)
    assert status == 2 and "error: unexpected argument '--aarch32'" in err
    status, _, err = measure([*HOST6, "kvmtool", "-c", "1", "-m", "512M", "--restricted-mem"],
                             capsys)
    assert status == 2 and "--restricted-mem" in err


def test_missing_firmware_file(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = measure([*HOST6, "-f", "nonexistent-file", "kvmtool", "-c", "1", "-m",
                              "512M", "--firmware", "x"], capsys)
    assert status == 1
    assert err.strip() == ("ERROR Failed to compute measurements: VMM: file nonexistent-file "
                           "error: No such file or directory (os error 2)")


# ---------------------------------------------------------------- layout & DTB

def test_layout_addresses() -> None:
    assert layout(512 << 20, False, None).dtb == 0x8FE00000
    assert layout(512 << 20, True, None).dtb == 0x8FE00000
    assert layout(512 << 20, True, None).log == (0x8FFF0000, 0x10000)
    assert layout(128 << 20, False, None).dtb == 0x87E00000
    # real CCA log (``build_params``): INITRD at 0x8addd3fc for 0x5022c00 bytes
    assert layout(1 << 30, False, 0x5022C00).initrd == 0x8ADDD3FC
    assert ipa_bits(512 << 20) == 33 and ipa_bits(2 << 30) == 33


def test_minimal_dtb_matches_spec() -> None:
    facts = DtbFacts(cpus=1, ram_size=512 << 20, bootargs=" console=hvc0 root=/dev/vda rw ",
                     initrd=None, its=True, pmu=False, log=None, virtio_mmio=0)
    blob = generate_dtb(facts)
    assert len(blob) == 65536
    assert int.from_bytes(blob[4:8], "big") == 0xD57
    assert int.from_bytes(blob[32:36], "big") == 291  # size_dt_strings
    assert int.from_bytes(blob[36:40], "big") == 3068  # size_dt_struct
    assert hashlib.sha256(blob).hexdigest() == \
        "ab6b78f0244b8a346ed9eb8e8b7560c59cd8f93a4a9f0a1cfbb7fcd1ed3a9c13"
    parsed = parse_dtb(blob)
    assert to_dtb(parsed.root) == blob[:0xD57]


def test_bootargs_quirk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dtb = tmp_path / "out.dtb"
    status, _, _ = measure(["--output-dtb", str(out_dtb), *HOST6, "kvmtool", "-c", "1", "-m",
                            "512M", "-p", "root=/dev/vda2 quiet"], capsys)
    assert status == 0
    chosen = parse_dtb(out_dtb.read_bytes()).root.find_child("chosen")
    assert chosen is not None
    bootargs = chosen.find_property("bootargs")
    assert bootargs is not None
    assert bootargs.value == b" console=hvc0 root=/dev/vda rw  root=/dev/vda2 quiet\0"


def test_output_dtb_then_dtb_as_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    a = tmp_path / "a.dtb"
    b = tmp_path / "b.dtb"
    status, out1, _ = measure(["--output-dtb", str(a), *HOST6, "kvmtool", "-c", "1", "-m",
                               "512M"], capsys)
    assert status == 0 and lines(out1)["RIM"] == K1
    status, out2, _ = measure(["--dtb", str(a), "--output-dtb", str(b), *HOST6, "kvmtool",
                               "-c", "4", "-m", "512M"], capsys)
    assert status == 0 and lines(out2)["RIM"] == K1  # the DTB decides, not -c
    assert a.read_bytes() == b.read_bytes()


def test_dtb_template_reproduces_generator(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The generator's own DTB used as template with the same config is unchanged
    except for the regenerated cpus node (reference ``update_dtb``)."""
    a = tmp_path / "a.dtb"
    measure(["--output-dtb", str(a), *HOST6, "kvmtool", "-c", "2", "-m", "512M"], capsys)
    b = tmp_path / "b.dtb"
    status, _, err = measure(["--dtb-template", str(a), "--output-dtb", str(b), *HOST6,
                              "kvmtool", "-c", "3", "-m", "1G"], capsys)
    assert status == 0, err
    tree = parse_dtb(b.read_bytes()).root
    cpus = tree.find_child("cpus")
    assert cpus is not None and [c.name for c in cpus.children] == ["cpu@0", "cpu@1", "cpu@2"]
    compat = cpus.children[0].find_property("compatible")
    assert compat is not None and compat.value == b"arm,arm-v8\0"
    mem = tree.find_child("memory@80000000")
    assert mem is not None
    reg = mem.find_property("reg")
    assert reg is not None and reg.value == (0x80000000).to_bytes(8, "big") + (1 << 30).to_bytes(
        8, "big")
    assert len(b.read_bytes()) == 65536


def test_dtb_template_with_real_reference_dtb(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ref = VECTORS / "inputs" / "ref-dtbs" / "kvm-c8-1G.dtb"
    if not ref.is_file():
        pytest.skip("../shared/vectors is not beside this checkout")
    out = tmp_path / "o.dtb"
    status, _, err = measure(["--dtb-template", str(ref), "--output-dtb", str(out), *HOST6,
                              "--ipa-bits", "52", "--pmu-num-ctrs", "6", "kvmtool", "--realm",
                              "-c", "8", "-m", "1G"], capsys)
    assert status == 0, err
    orig = parse_dtb(ref.read_bytes())
    new = parse_dtb(out.read_bytes())
    assert [n.name for n in new.root.children] == [n.name for n in orig.root.children]
    assert new.strings_block.startswith(orig.strings_block)


# ---------------------------------------------------------------- kernels

def test_gzip_kernel_equals_plain(vector_inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["kvmtool", "-c", "1", "-m", "512M", "-k", "x"]
    _, plain, _ = measure([*HOST6, "-k", str(vector_inputs / "Image-8M.bin"), *args], capsys)
    _, gz, _ = measure([*HOST6, "-k", str(vector_inputs / "Image-8M.bin.gz"), *args], capsys)
    assert lines(plain)["RIM"] == lines(gz)["RIM"] != K1


def test_bad_kernels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["kvmtool", "-c", "1", "-m", "512M", "-k", "x"]
    rnd = tmp_path / "random.bin"
    rnd.write_bytes(hashlib.shake_256(b"x").digest(4096))
    status, _, err = measure([*HOST6, "-k", str(rnd), *args], capsys)
    assert status == 1 and "invalid gzip header" in err and "Traceback" not in err
    rgz = tmp_path / "random.bin.gz"
    rgz.write_bytes(gzip.compress(hashlib.shake_256(b"x").digest(4096)))
    status, _, err = measure([*HOST6, "-k", str(rgz), *args], capsys)
    assert status == 1 and err.strip() == ("ERROR Cannot build parameters: invalid Linux header\n"
                                           f"hint: -k {rgz}: not an arm64 Linux Image (no "
                                           "ARM\\x64 magic)")
    trunc = tmp_path / "trunc.gz"
    trunc.write_bytes(gzip.compress(hashlib.shake_256(b"t").digest(100000))[:2000])
    status, _, err = measure([*HOST6, "-k", str(trunc), *args], capsys)
    assert status == 1 and "truncated gzip" in err
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    status, _, err = measure([*HOST6, "-k", str(short), *args], capsys)
    assert status == 1 and "failed to fill whole buffer" in err


# ---------------------------------------------------------------- host capabilities

def test_config_overlays_restrict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.conf"
    big.write_text("ipa_bits = 52\nnum_bps = 6\nnum_wps = 6\npmu = true\npmu_num_ctrs = 8\n")
    small = tmp_path / "small.conf"
    small.write_text("num_bps = 2\nnum_wps = 64\npmu = false\n")
    status, out, _ = measure(["-c", str(big), "-c", str(small), "--format", "json", "kvmtool",
                              "-c", "1", "-m", "512M", "--pmu"], capsys)
    assert status == 0
    doc = json.loads(out)
    assert doc["realm_params"]["num_bps"] == 2  # lowered
    assert doc["realm_params"]["num_wps"] == 6  # a later file cannot raise
    assert doc["realm_params"]["pmu"] is False
    assert doc["realm_params"]["s2sz"] == 33


def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("num_bps = = 3\n")
    status, _, err = measure(["-c", str(bad), "kvmtool", "-c", "1", "-m", "512M"], capsys)
    assert status == 1 and f"cannot parse {bad}" in err
    unknown = tmp_path / "unknown.conf"
    unknown.write_text("cores = 3\n")
    status, _, err = measure(["-c", str(unknown), "kvmtool", "-c", "1", "-m", "512M"], capsys)
    assert status == 1 and "unknown field `cores`" in err
    status, _, err = measure(["-c", str(tmp_path / "none.conf"), "kvmtool", "-c", "1"], capsys)
    assert status == 1 and "No such file or directory" in err


# ---------------------------------------------------------------- outputs

def test_json_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = measure(["--format", "json", "--trace", *HOST6, "kvmtool", "-c", "1",
                              "-m", "512M", "--realm-pv", "abc"], capsys)
    assert status == 0
    doc = json.loads(out)
    assert doc["rim"] == K1 and doc["rems"] == [ZERO32] * 4
    assert doc["hash_algo"] == "sha256" and doc["rmm_version"] == "1.0-rel0"
    assert doc["personalization_value"] == "616263" + "00" * 61
    ops = [t["operation"] for t in doc["trace"]]
    assert ops == ["REALM_CREATE", "INIT_RIPAS", "DATA_CREATE", "REC_CREATE"]
    assert doc["trace"][1]["descriptors"] == 256 and doc["trace"][2]["descriptors"] == 16
    assert doc["trace"][-1]["rim_after"] == K1


def test_trace_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = measure(["--trace", *HOST6, "kvmtool", "-c", "1", "-m", "512M"], capsys)
    assert status == 0
    assert "INIT_RIPAS" in out and "dtb at 0x8fe00000 size 0x10000" in out
    assert out.strip().splitlines()[-5] == f"RIM: {K1}"


def test_rmm_2_0_drops_ripas(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = measure(["--rmm-version", "2.0", *HOST6, "kvmtool", "-c", "1", "-m",
                              "512M"], capsys)
    assert status == 0 and lines(out)["RIM"] != K1
    status, _, err = measure([*HOST6, "kvmtool", "-c", "1", "-m", "512M",
                              "--measurement-algo", "sha384"], capsys)
    # RMM 1.0 (the default, the reference's model) has no SHA-384: the reference's
    # RmiHashAlgorithm::from_str error (rmm/src/lib.rs), exit 1
    assert status == 1
    assert err.strip() == "ERROR Cannot build parameters: RMM: unknown hash algorithm `sha384`"


def test_endorsements_output(tmp_path: Path, fw: Path, capsys: pytest.CaptureFixture[str]
                             ) -> None:
    out_file = tmp_path / "comid.json"
    status, out, _ = measure(["--endorsements-output", str(out_file), *HOST6, "-f", str(fw),
                              "kvmtool", "--firmware", "f", "-c", "1", "-m", "512M",
                              "--realm-pv", "pv"], capsys)
    assert status == 0 and out == ""
    text = out_file.read_text()
    assert not text.endswith("\n")
    doc = json.loads(text)
    m = doc["triples"]["reference-values"][0]["measurements"][0]["value"]
    regs = m["integrity-registers"]
    assert regs["rim"] == {"key-type": "text",
                           "value": ["sha-256;" + base64.b64encode(bytes.fromhex(K2)).decode()]}
    assert base64.b64decode(m["raw-value"]["value"]) == b"pv" + bytes(62)
    assert set(doc) == {"tag-identity", "triples"}


def test_no_measurements_writes_dtb_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    out_dtb = tmp_path / "x.dtb"
    status, out, _ = measure(["--no-measurements", "--output-dtb", str(out_dtb), "kvmtool",
                              "-c", "1", "-m", "512M"], capsys)
    assert status == 0 and out == ""
    assert hashlib.sha256(out_dtb.read_bytes()).hexdigest() == \
        "ab6b78f0244b8a346ed9eb8e8b7560c59cd8f93a4a9f0a1cfbb7fcd1ed3a9c13"


def test_console_scripts_as_a_user_types_them() -> None:
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from rmtool.cli.main import realm_measurements_main;"
                           "sys.argv=['realm-measurements', *sys.argv[1:]];"
                           "realm_measurements_main()",
                           *HOST6, "kvmtool", "--realm", "-c", "1", "-m", "512M"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and f"RIM: {K1}" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "rmtool.cli.main", "measure", "kvmtool"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr  # rmtool: unusable input
    assert proc.stderr.strip() == "ERROR Cannot build parameters: number of vCPUs is not known"
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from rmtool.cli.main import realm_measurements_main;"
                           "sys.argv=['realm-measurements', 'kvmtool'];"
                           "realm_measurements_main()"], capture_output=True, text=True)
    assert proc.returncode == 1  # the reference tool's status for an ERROR line
    assert proc.stderr.strip() == "ERROR Cannot build parameters: number of vCPUs is not known"
