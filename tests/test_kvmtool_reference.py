"""``rmtool measure ... kvmtool`` against the reference tool's source, line by line.

Each case cites the function of ``veraison/cca-realm-measurements`` (the Rust tool) whose
behaviour it pins: clap 4.5 argument errors (exit 2, message verbatim), the order in
which ``build_params`` reports errors, exact wording and context prefix, and what is
written to ``--output-dtb`` before an error. Measurements are printed at hash size
(rmtool's deliberate difference).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.measure.dtb.fdt import parse_dtb
from rmtool.measure.vmm._kvmtool import (
    DtbFacts,
    bootargs,
    generate_dtb,
    generate_tree,
    ipa_bits,
    layout,
)
from rmtool.measure.vmm.common import parse_size

HOST6 = ["--num-wps", "6", "--num-bps", "6"]
K1 = "998dfdf6401d69f73ed88ac53d62d5ea2cfac6320b887ce4599aa8671791d4d0"
BASE = [*HOST6, "kvmtool", "-c", "1", "-m", "512M"]


def measure(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = run(["measure", *argv], reference_exits=True)  # realm-measurements: status 1 on ERROR
    out, err = capsys.readouterr()
    return status, out, err


def first_err(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status, _, err = measure(argv, capsys)
    return status, err.strip().splitlines()[0] if err.strip() else ""


def rim(out: str) -> str:
    return dict(line.split(": ", 1) for line in out.strip().splitlines())["RIM"]


# ------------------------------------------------------------- clap (exit 2, verbatim)

@pytest.mark.parametrize("argv, line", [
    # KvmtoolArgs.cpus: Option<usize> -> FromStr parser
    ([*HOST6, "kvmtool", "-c", "x", "-m", "512M"],
     "error: invalid value 'x' for '--cpus <CPUS>': invalid digit found in string"),
    # ArgAction::Set twice -> argument_conflict (clap_builder parser.rs react)
    ([*HOST6, "kvmtool", "-c", "1", "-c", "2", "-m", "512M"],
     "error: the argument '--cpus <CPUS>' cannot be used multiple times"),
    ([*BASE, "--rng", "--rng"], "error: the argument '--rng' cannot be used multiple times"),
    # pmu_counters: Option<u8> -> RangedI64ValueParser 0..=255
    ([*BASE, "--pmu-counters", "300"],
     "error: invalid value '300' for '--pmu-counters <PMU_COUNTERS>': 300 is not in 0..=255"),
    # a word starting with '-' is never a value
    ([*BASE, "--pmu-counters", "-1"], "error: unexpected argument '-1' found"),
    ([*BASE, "--params", "--rng"],
     "error: a value is required for '--params <PARAMS>' but none was supplied"),
    # firmware_address: Option<u64>, decimal only
    ([*BASE, "--firmware-address", "0x1000"],
     "error: invalid value '0x1000' for '--firmware-address <FIRMWARE_ADDRESS>': "
     "invalid digit found in string"),
    ([*BASE, "--vsock", "x"],
     "error: invalid value 'x' for '--vsock <VSOCK>': invalid digit found in string"),
    ([*BASE, "--sve-max-vl", "70000"],
     "error: invalid value '70000' for '--sve-max-vl <SVE_MAX_VL>': 70000 is not in 0..=65535"),
    # unknown arguments are named without their value / by their first short letter
    ([*BASE, "--foo=bar"], "error: unexpected argument '--foo' found"),
    ([*BASE, "-zfoo"], "error: unexpected argument '-z' found"),
    ([*BASE, "--", "x"], "error: unexpected argument 'x' found"),
    ([*BASE, "--rng=true"], "error: unexpected value 'true' for '--rng' found; no more were "
                            "expected"),
    # global RealmParams: u8 / bool / RmiHashAlgorithm::from_str
    (["--ipa-bits", "300", *BASE],
     "error: invalid value '300' for '--ipa-bits <N>': 300 is not in 0..=255"),
    (["--pmu", "yes", *BASE], "error: invalid value 'yes' for '--pmu <PMU>'"),
    (["--hash-algo", "md5", *BASE],
     "error: invalid value 'md5' for '--hash-algo <HASH_ALGO>': unknown hash algorithm `md5`"),
    (["--num-wps", "2", *BASE], "error: the argument '--num-wps <N>' cannot be used multiple "
                                "times"),
    (["foo", "-c", "1"], "error: unrecognized subcommand 'foo'"),
    # clap errors come before check_args and before any build error
    (["--dtb", "x", "--dtb-template", "y", *BASE, "--bogus"],
     "error: unexpected argument '--bogus' found"),
])
def test_clap_errors(argv: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert first_err(argv, capsys) == (2, line)


def test_double_dash_alone_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = measure([*BASE, "--"], capsys)
    assert status == 0 and rim(out) == K1


# ------------------------------------------------------------- build_params errors

@pytest.mark.parametrize("mem, line", [
    # parse_memory_size: one upper-case suffix, then u64::from_str, context "-m"
    ("512m", "-m: invalid digit found in string"),
    ("1MB", "-m: invalid digit found in string"),
    ("M", "-m: cannot parse integer from empty string"),
    ("99999999999999999999", "-m: number too large to fit in target type"),
    # parse_mem: the size is parsed and checked before the '@addr' part
    ("3M@1G", "RAM size must be aligned on 2MB"),
    ("abc@1G", "-m: invalid digit found in string"),
    ("512M@1G", "unsupported RAM base change"),
])
def test_mem_errors(mem: str, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*HOST6, "kvmtool", "-c", "1", "-m", mem]
    assert first_err(argv, capsys) == (1, f"ERROR Cannot build parameters: {line}")


def test_parse_size_rules() -> None:
    # u64::from_str accepts a leading '+'; B/K/M/G/T/P multipliers, default MiB
    assert parse_size("+512M") == 512 << 20
    assert parse_size("2") == 2 << 20
    assert parse_size("4096B") == 4096
    assert parse_size("1P") == 1 << 50


@pytest.mark.parametrize("argv, line", [
    # parse_netdev: a trans value other than pci/mmio is "invalid transport"
    ([*BASE, "-n", "mode=tap,trans=foo"], "invalid transport foo"),
    # parse_device_cmdline runs after the realm-pv check (parse_cmdline order)
    ([*BASE, "--irqchip", "gicv2", "--realm-pv", "x" * 65],
     "Realm Personalization Value is too large"),
    ([*BASE, "--irqchip", "gicv2", "-n", "bad"], "unsupported irqchip gicv2"),
    # add_rim_blob: RealmError::Config, address in decimal
    (["-f", "FW", "-k", "KERNEL", *BASE, "-f", "x", "-k", "y"],
     "invalid VM configuration: duplicate blob at 2147483648"),
    # the initrd length is read (VmmError, no "VMM: ") before the firmware is looked at
    (["-i", "missing", *BASE, "-i", "x", "-f", "y"],
     "file missing error: No such file or directory (os error 2)"),
    # --dtb is read in add_dtb (context), --dtb-template by a bare std::fs::read()?
    (["--dtb", "missing", *BASE],
     "while generating DTB: file missing error: No such file or directory (os error 2)"),
    (["--dtb-template", "missing", *BASE], "No such file or directory (os error 2)"),
    (["--dtb-template", "FW", *BASE], "while generating DTB: DTB: parsing: invalid magic"),
    # config files and global options: RealmConfig::from_args inside build_params
    (["-c", "missing.conf", *BASE],
     "file missing.conf error: No such file or directory (os error 2)"),
    # udpate() checks pmu_num_ctrs before sve_vl
    (["--sve-vl", "100", "--pmu-num-ctrs", "40", *BASE], "invalid parameter PMU counters '40'"),
    # resize_dtb under the add_dtb context
    ([*HOST6, "kvmtool", "-c", "1000", "-m", "512M"],
     "while generating DTB: generated DTB is too large (95323 > 65536)"),
])
def test_build_errors(argv: list[str], line: str, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FW").write_bytes(b"FW CONTENT")
    (tmp_path / "KERNEL").write_bytes(bytes(56) + b"ARM\x64" + bytes(4))
    assert first_err(argv, capsys) == (1, f"ERROR Cannot build parameters: {line}")


def test_config_file_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # RealmParams::restrict checks values (check_num_bps) and serde rejects unknown keys
    bad = tmp_path / "bad.conf"
    bad.write_text("num_bps = 1\n")
    assert first_err(["-c", str(bad), *BASE], capsys) == (
        1, "ERROR Cannot build parameters: invalid parameter breakpoints '1'")
    bad.write_text("ipa_bits = 40\nfoo = 1\n")
    assert first_err(["-c", str(bad), *BASE], capsys) == (
        1, f"ERROR Cannot build parameters: invalid VM configuration: cannot parse {bad}: "
           f"TOML parse error at line 2, column 1")
    bad.write_text("num_wps = 300\n")
    assert first_err(["-c", str(bad), *BASE], capsys) == (
        1, f"ERROR Cannot build parameters: invalid VM configuration: cannot parse {bad}: "
           f"TOML parse error at line 1, column 11")


def test_flash_is_a_panic(capsys: pytest.CaptureFixture[str]) -> None:
    # todo!("cfi-flash not supported") in build_params, after the firmware: exit 101
    status, _, err = measure([*BASE, "-F", "flash.img"], capsys)
    assert status == 101
    assert err.splitlines()[:2] == ["thread 'main' panicked at src/kvmtool.rs:763:9:",
                                    "not yet implemented: cfi-flash not supported"]
    # an error found earlier in build_params still wins
    assert first_err([*BASE, "-F", "x", "-k", "y"], capsys) == (
        1, "ERROR Cannot build parameters: need kernel image")


# ------------------------------------------------------------- accepted configurations

def test_zero_cpus_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    # parse_cmdline only requires -c to be present; 0 vCPUs builds a DTB without cpu nodes
    status, out, _ = measure([*HOST6, "kvmtool", "-c", "0", "-m", "512M"], capsys)
    assert status == 0 and rim(out) != K1


def test_zero_ram_fails_at_ripas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # -m 0 passes parse_mem; rim_init_ripas(base, base) fails when measuring, after the
    # DTB (at 0x7fe00000, memory reg <M, 0>) has been written
    out_dtb = tmp_path / "o.dtb"
    status, _, err = measure(["--output-dtb", str(out_dtb), *HOST6, "kvmtool", "-c", "1",
                              "-m", "0"], capsys)
    assert status == 1
    assert err.strip() == ("ERROR Failed to compute measurements: invalid parameter "
                           "RIPAS(80000000, 80000000)")
    assert out_dtb.stat().st_size == 0x10000
    status, _, _ = measure(["--no-measurements", *HOST6, "kvmtool", "-c", "1", "-m", "0"],
                           capsys)
    assert status == 0


def test_plus_sign_size(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = measure([*HOST6, "kvmtool", "-c", "+1", "-m", "+512M"], capsys)
    assert status == 0 and rim(out) == K1


def test_missing_caps_reported_after_dtb_written(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # rim_realm_create runs in compute_measurements, after add_dtb wrote the file; a
    # build error found later in build_params (here --dtb) wins over it
    out_dtb = tmp_path / "o.dtb"
    status, _, err = measure(["--output-dtb", str(out_dtb), "kvmtool", "-c", "1", "-m", "512M"],
                             capsys)
    # the reference's line first, then rmtool's hint naming what to pass (issue 18)
    first, hint = err.strip().splitlines()
    assert status == 1 and first == "ERROR Failed to compute measurements: num_wps is not known"
    assert hint.startswith("hint: the host's num_wps and num_bps are not known")
    assert "-c qemu-max-8.2.conf -c kvm.conf" in hint and "--num-wps N --num-bps N" in hint
    assert hashlib.sha256(out_dtb.read_bytes()).hexdigest() == \
        "ab6b78f0244b8a346ed9eb8e8b7560c59cd8f93a4a9f0a1cfbb7fcd1ed3a9c13"
    assert first_err(["--dtb", str(tmp_path / "missing"), "kvmtool", "-c", "1", "-m", "512M"],
                     capsys)[1].startswith("ERROR Cannot build parameters: while generating DTB")


def test_duplicate_at_dtb_written_first(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # add_dtb: write_dtb() then add_rim_blob() -> the DTB exists despite the error
    fw = tmp_path / "fw"
    fw.write_bytes(b"FW")
    out_dtb = tmp_path / "o.dtb"
    status, _, err = measure(["--output-dtb", str(out_dtb), "-f", str(fw), *BASE, "-f", "x",
                              "--firmware-address", str(0x8FE00000)], capsys)
    assert status == 1
    assert err.strip() == ("ERROR Cannot build parameters: while generating DTB: realm: "
                           "invalid VM configuration: duplicate blob at 2413821952")
    assert out_dtb.stat().st_size == 0x10000


def test_empty_initrd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # gen_dtb adds initrd properties only if initrd_size != 0; rim_data_create still
    # measures the one zero-filled granule below the DTB (initrd at dtb - 4)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    out_dtb = tmp_path / "o.dtb"
    status, out, _ = measure(["--output-dtb", str(out_dtb), "--trace", "-i", str(empty), *BASE,
                              "-i", "x"], capsys)
    assert status == 0
    chosen = parse_dtb(out_dtb.read_bytes()).root.find_child("chosen")
    assert chosen is not None and chosen.find_property("linux,initrd-start") is None
    assert "initrd at 0x8fdffffc" in out
    assert rim(out.split("\n\n")[-1]) != K1


def test_measurement_algo_sha384_only_with_rmm_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert first_err([*BASE, "--measurement-algo", "sha384"], capsys) == (
        1, "ERROR Cannot build parameters: RMM: unknown hash algorithm `sha384`")
    status, out, _ = measure(["--rmm-version", "2.0", *BASE, "--measurement-algo", "sha384"],
                             capsys)
    assert status == 0 and len(rim(out)) == 96


def test_ipa_bits_integer_log() -> None:
    # max(last_ipa.ilog2(), 32) + 1 with last_ipa = M + S - 1
    assert ipa_bits(512 << 20) == 33
    assert ipa_bits(2 << 30) == 33  # last IPA 0xffffffff
    assert ipa_bits(6 << 30) == 33  # last IPA 0x1ffffffff (spec open question: not 34)
    assert ipa_bits((6 << 30) + (2 << 20)) == 34
    assert ipa_bits((1 << 59) - (1 << 31)) == 59  # 2**59 - 1: no float rounding up
    assert ipa_bits(0) == 33


def test_huge_cpu_count_is_bounded() -> None:
    facts = DtbFacts(cpus=5000, ram_size=512 << 20, bootargs=bootargs(None), initrd=None,
                     its=True, pmu=False, log=None, virtio_mmio=0)
    from rmtool.errors import ParametersError
    from rmtool.measure.dtb import fdt

    exact = len(fdt.to_dtb(generate_tree(facts)))
    with pytest.raises(ParametersError, match=rf"too large \({exact} > 65536\)"):
        generate_dtb(facts)
    with pytest.raises(ParametersError, match="too large"):
        generate_dtb(DtbFacts(**{**facts.__dict__, "cpus": 10 ** 12}))


# ------------------------------------------------------------- audit: build_params / realm.rs

def test_firmware_pc_wins_over_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # build_params sets pc = mem_base for -k, then pc = firmware_base for -f: with both
    # (firmware moved off the kernel by --firmware-address) the REC starts in the firmware
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FW").write_bytes(b"FW CONTENT")
    (tmp_path / "KERNEL").write_bytes(bytes(56) + b"ARM\x64" + bytes(4))
    argv = [*HOST6, "-k", "KERNEL", "-f", "FW", "kvmtool", "-c", "1", "-m", "512M", "-k", "x",
            "-f", "y", "--firmware-address", str(0x90000000)]
    status, out, _ = measure(["--trace", *argv], capsys)
    assert status == 0 and "pc=0x90000000 x0=0x8fe00000" in out
    status, out, _ = measure(argv, capsys)
    assert status == 0
    assert rim(out) == "202e9bf5125f71fac3177ea3be4416c6625090c7c7a711706ba22d5f4689351c"


def test_wrapping_ram_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # parse_memory_size wraps size * MiB; parse_cmdline's M + S - 1, build_params'
    # dtb/log/initrd placement and compute_rim's align_up(base + size - 1) all wrap in u64
    huge = (1 << 64) - (2 << 20)  # -m 18446744073709551614 (MiB)
    assert parse_size("18446744073709551614") == huge
    assert ipa_bits(huge) == 33  # last IPA 0x7fdfffff
    assert first_err([*HOST6, "kvmtool", "-c", "1", "-m", "18446744073709551614"], capsys) == (
        1, "ERROR Failed to compute measurements: invalid parameter RIPAS(80000000, 7fe00000)")
    # M + S wraps to 0x40000000: log below it, DTB and initrd below the log
    lay = layout((1 << 64) - (1 << 30), True, 1024)
    assert (lay.log, lay.dtb, lay.initrd) == ((0x3FFF0000, 0x10000), 0x3FE00000, 0x3FDFFBFC)
    # M + S wraps to 2 MiB: the DTB lands at 0 and the initrd wraps below it
    lay = layout((1 << 64) - (1 << 31) + (2 << 20), False, 1024)
    assert (lay.dtb, lay.initrd) == (0, (1 << 64) - 0x404)
    initrd = tmp_path / "initrd"
    initrd.write_bytes(bytes(1024))
    out_dtb = tmp_path / "o.dtb"
    status, _, _ = measure(["--no-measurements", "--output-dtb", str(out_dtb), "-i", str(initrd),
                            *HOST6, "kvmtool", "-c", "1", "-m", "17592186042370", "-i", "x"],
                           capsys)
    assert status == 0
    chosen = parse_dtb(out_dtb.read_bytes()).root.find_child("chosen")
    assert chosen is not None
    start = chosen.find_property("linux,initrd-start")
    assert start is not None and start.value == ((1 << 64) - 0x404).to_bytes(8, "big")


@pytest.mark.parametrize("argv, line", [
    # translation_block_sizes: u8 level arithmetic, assert!(num_levels <= 4)
    (["--ipa-bits", "0", *BASE], "thread 'main' panicked at src/realm.rs:192:5:"),
    (["--ipa-bits", "53", *HOST6, "kvmtool", "-c", "1", "-m", "8191P"],
     "thread 'main' panicked at src/realm.rs:192:5:"),
    ([*HOST6, "kvmtool", "-c", "1", "-m", "8191P"],  # s2sz 63 from the RAM size
     "thread 'main' panicked at src/realm.rs:192:5:"),
    # s2sz 12..16: no block size left -> rim_init_ripas "block sizes is not known"
    (["--ipa-bits", "12", *BASE], "ERROR Failed to compute measurements: block sizes is not "
                                  "known"),
    (["--ipa-bits", "16", *BASE], "ERROR Failed to compute measurements: block sizes is not "
                                  "known"),
    # find_block_size: assert!(start < 1u64 << 63) once the RIPAS walk reaches 2**63
    (["--ipa-bits", "52", *HOST6, "kvmtool", "-c", "1", "-m", "16383P"],
     "thread 'main' panicked at src/realm.rs:155:9:"),
    # rim_realm_create reports unknown capabilities before translation_block_sizes
    (["--ipa-bits", "0", "kvmtool", "-c", "1", "-m", "512M"],
     "ERROR Failed to compute measurements: num_wps is not known"),
])
def test_reference_realm_model_limits(argv: list[str], line: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = measure(argv, capsys)
    assert err.splitlines()[0] == line
    assert status == (101 if line.startswith("thread") else 1)


def test_ipa_bits_17_uses_4k_entries(capsys: pytest.CaptureFixture[str]) -> None:
    # translation_block_sizes(17): one level, 4 KiB RIPAS entries only
    status, out, _ = measure(["--ipa-bits", "17", *BASE], capsys)
    assert status == 0
    assert rim(out) == "444f4c56cdb4ffee8d9ca3d3387f27fe960e14ed0a8e2d9645e4ae12e4597dc9"


@pytest.mark.parametrize("argv, line", [
    # clap: an option's value is only parsed when the next known argument reacts; an
    # unknown argument discards that pending error (parser.rs NoMatchingArg)
    ([*HOST6, "kvmtool", "-c", "x", "--bogus"], "error: unexpected argument '--bogus' found"),
    ([*HOST6, "kvmtool", "-c", "1", "-c", "2", "foo"], "error: unexpected argument 'foo' found"),
    ([*HOST6, "kvmtool", "-c", "x", "--", "y"], "error: unexpected argument 'y' found"),
    ([*HOST6, "kvmtool", "-c", "x", "-m", "512M"],
     "error: invalid value 'x' for '--cpus <CPUS>': invalid digit found in string"),
    # the last global option is resolved after the subcommand's arguments
    (["--ipa-bits", "300", "kvmtool", "-c", "x", "-m", "512M"],
     "error: invalid value 'x' for '--cpus <CPUS>': invalid digit found in string"),
    (["--num-wps", "2", "--num-wps", "6", "kvmtool", "--bogus"],
     "error: unexpected argument '--bogus' found"),
    # the help flag reacts after the pending option
    ([*HOST6, "kvmtool", "-c", "x", "-h"],
     "error: invalid value 'x' for '--cpus <CPUS>': invalid digit found in string"),
])
def test_clap_pending_value(argv: list[str], line: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert first_err(argv, capsys) == (2, line)


def test_kvmtool_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    # clap's generated -h/--help on the kvmtool subcommand: help on stdout, exit 0, even
    # with a bad global value still pending
    for argv in (["kvmtool", "-h"], ["--ipa-bits", "300", "kvmtool", "-c", "1", "--help"]):
        status, out, err = measure(argv, capsys)
        assert status == 0 and err == ""
        assert out.startswith("Use the kvmtool VMM\n\nUsage: realm-measurements kvmtool "
                              "[OPTIONS]\n\nOptions:\n")
        lines = out.splitlines()
        # every option padded to the help column: 2 + (longest spec + 4) + 2 = 45
        assert "  -c, --cpus <CPUS>" + " " * 26 in lines
        assert "      --virtio-transport <VIRTIO_TRANSPORT>  " in lines
        assert lines[-1] == "  -h, --help" + " " * 33 + "Print help"


def test_template_name_offset_last_use_wins() -> None:
    # update_dtb collects string_offsets in a BTreeMap (insert: the last use of a name
    # wins) and vm-fdt's intern_string then gives every "reg" that offset
    import struct

    from rmtool.measure.vmm._kvmtool_template import apply_template

    def node(name: str, *props: bytes) -> bytes:
        raw = name.encode() + b"\0"
        return struct.pack(">I", 1) + raw + bytes(-len(raw) % 4) + b"".join(props) + \
            struct.pack(">I", 2)

    def prop(nameoff: int, value: bytes) -> bytes:
        return struct.pack(">III", 3, len(value), nameoff) + value

    body = node("", node("memory@80000000", prop(0, bytes(16))),
                node("foo", prop(4, b"\0\0\0\1"))) + struct.pack(">I", 9)
    strings_block = b"reg\0reg\0"
    off_struct = 40 + 16
    total = off_struct + len(body) + len(strings_block)
    template = struct.pack(">10I", 0xD00DFEED, total, off_struct, off_struct + len(body), 40,
                           17, 16, 0, len(strings_block), len(body)) + bytes(16) + body + \
        strings_block
    facts = DtbFacts(cpus=1, ram_size=512 << 20, bootargs=bootargs(None), initrd=None,
                     its=True, pmu=False, log=None, virtio_mmio=0)
    out = apply_template(template, facts)
    parsed = parse_dtb(out)
    assert parsed.strings_block == strings_block
    assert out[off_struct:].count(struct.pack(">II", 16, 4)) == 1  # memory reg -> offset 4
    assert struct.pack(">II", 16, 0) not in out[off_struct:]
    mem = parsed.root.find_child("memory@80000000")
    assert mem is not None and mem.properties[0].value == (0x80000000).to_bytes(8, "big") + \
        (512 << 20).to_bytes(8, "big")


@pytest.mark.parametrize("patch, line", [
    # vm-fdt FdtReserveEntry::new: an entry of size 0 (not the terminator)
    ({40: (0x1000, 0)}, "FDT writer"),
    # check_overlapping after sorting by address
    ({40: (0x2000, 0x2000), 56: (0x1000, 0x1001), 72: (0, 0)}, "FDT writer"),
])
def test_template_reservation_checks(patch: dict[int, tuple[int, int]], line: str,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    import struct

    tight = bytearray(generate_dtb(DtbFacts(cpus=1, ram_size=512 << 20,
                                            bootargs=bootargs(None), initrd=None, its=True,
                                            pmu=False, log=None, virtio_mmio=0)))
    extra = 16 * (len(patch) - 1)  # more reservation entries: move the blocks down
    off_struct, off_strings = struct.unpack_from(">II", tight, 8)
    body = bytes(tight[off_struct:])
    template = bytearray(tight[:40]) + bytes(16 + extra) + body
    struct.pack_into(">II", template, 8, off_struct + extra, off_strings + extra)
    for at, (address, size) in patch.items():
        struct.pack_into(">QQ", template, at, address, size)
    path = tmp_path / "t.dtb"
    path.write_bytes(bytes(template))
    assert first_err(["--dtb-template", str(path), *BASE], capsys) == (
        1, f"ERROR Cannot build parameters: while generating DTB: DTB: {line}")


def test_template_block_before_rsvmap_end_wraps() -> None:
    # update_dtb: off_dt_struct - (off_mem_rsvmap + rsvmap_size) in usize
    import struct

    from rmtool.errors import DtbError
    from rmtool.measure.vmm._kvmtool_template import apply_template

    facts = DtbFacts(cpus=1, ram_size=512 << 20, bootargs=bootargs(None), initrd=None,
                     its=True, pmu=False, log=None, virtio_mmio=0)
    template = bytearray(generate_dtb(facts))
    struct.pack_into(">I", template, 8, 0x30)  # off_dt_struct inside the reservation map
    with pytest.raises(DtbError) as info:
        apply_template(bytes(template), facts)
    assert info.value.message == f"unimplemented: struct padding {(1 << 64) - 8}"
