"""cloud-hv behaviours checked line by line against the reference tool's source
(veraison/cca-realm-measurements ``src/cloud_hypervisor.rs``, ``src/main.rs``,
``src/utils.rs``, ``src/realm.rs``) and the clap 4.5.41 parser it is built with
(``clap_builder/src/parser/parser.rs``). Each test names the function it follows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.errors import ComputeError, ParametersError, UsageError
from rmtool.measure.host import HostCaps
from rmtool.measure.rmm.ops import InitRipas
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.vmm import frontend
from rmtool.measure.vmm._argparse_clap import ClapError
from rmtool.measure.vmm._cloudhv import (
    HelpRequested,
    clap_check,
    rust_parse_uint,
    scan_args,
)
from rmtool.measure.vmm.common import MeasureInputs, VmmBuild

HOST = HostCaps(ipa_bits=52, num_bps=6, num_wps=6, pmu_num_ctrs=6)
HOST_ARGS = ["--num-wps", "6", "--num-bps", "6", "--ipa-bits", "52", "--pmu-num-ctrs", "6"]


def chv(argv: list[str], profile: str = "1.0-rel0") -> VmmBuild:
    return frontend("cloud-hv")(argv, MeasureInputs(caps=HOST, profile=get_profile(profile)))


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    status = run(["measure", *argv], reference_exits=True)  # realm-measurements: status 1 on ERROR
    out, err = capsys.readouterr()
    return status, out, err.strip().splitlines()


# ------------------------------------------------------------- k=v items (parse_cpus, ...)

@pytest.mark.parametrize("argv,message", [
    # parse_cpus / parse_memory / parse_platform loop over `arg.split(',')` and act on
    # each item before looking at the next: a bad value before a malformed item wins
    (["--cpus", "boot=x,2"], "--cpus: invalid digit found in string"),
    (["--memory", "size=1Q,1G"], "--memory: invalid digit found in string"),
    (["--platform", "measurement_algo=md5,arm_rme"], "RMM: unknown hash algorithm `md5`"),
    (["--platform", "personalization_value=@,x"],
     "invalid Realm Personalization Value: Invalid symbol 64, offset 0."),
    # parse_cmdline order: --platform, then --cpus, then --memory
    (["--cpus", "2", "--platform", "measurement_algo=sha1"],
     "RMM: unknown hash algorithm `sha1`"),
    (["--memory", "1G", "--cpus", "2"], "malformed --cpu param 2"),
    # RealmConfig::set_measurement_algo is called at the item: sha384 is not an
    # algorithm of RMM 1.0, so it fails before --cpus is looked at
    (["--platform", "measurement_algo=sha384", "--cpus", "2"],
     "RMM: unknown hash algorithm `sha384`"),
    # an empty value is one empty item
    (["--cpus", ""], "malformed --cpu param "),
    (["--cpus=", "--memory", "size=1G"], "malformed --cpu param "),
    # clap takes "-" as a value (clap_lex: "-" is not a short flag)
    (["--cpus", "-"], "malformed --cpu param -"),
])
def test_items_in_order(argv: list[str], message: str) -> None:
    with pytest.raises(ParametersError) as err:
        chv(argv)
    assert str(err.value) == f"Cannot build parameters: {message}"


def test_warnings_precede_the_error_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """parse_cpus/parse_memory call log::warn! while parsing, before a later item or a
    later option fails: stderr's first line is the warning."""
    status, _, err = cli(capsys, *HOST_ARGS, "cloud-hv", "--cpus", "max=4,2")
    assert status == 1
    assert err == ["WARN ignored --cpus parameter max",
                   "ERROR Cannot build parameters: malformed --cpu param 2"]
    status, _, err = cli(capsys, *HOST_ARGS, "cloud-hv", "--cpus", "boot=2,max=4",
                         "--memory", "shared=on,hugepages=on,1G")
    assert status == 1
    assert err == ["WARN ignored --cpus parameter max", "WARN ignored --memory parameter shared",
                   "WARN ignored --memory parameter hugepages",
                   "ERROR Cannot build parameters: malformed --memory param 1G"]
    status, _, err = cli(capsys, *HOST_ARGS, "cloud-hv", "--cpus", "boot=1,max=2",
                         "--kernel", "Image")
    assert (status, err) == (1, ["WARN ignored --cpus parameter max",
                                 "ERROR Cannot build parameters: need kernel image",
                                 # rmtool's hint line (issue 18)
                                 "hint: the VMM loads a kernel: pass its content with the "
                                 "global -k FILE, before the VMM name (rmtool measure -k "
                                 "FILE VMM ...)"])


def test_warnings_on_success(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, *HOST_ARGS, "cloud-hv", "--cpus", "boot=2,max=4",
                           "--memory", "size=1G,shared=on")
    assert status == 0 and out.startswith("RIM: ")
    assert err == ["WARN ignored --cpus parameter max", "WARN ignored --memory parameter shared"]


# ------------------------------------------------------------- Rust integer parsing

def test_rust_overflow_is_found_before_a_later_bad_digit() -> None:
    """core::num from_str_radix (checked loop): per character, the digit is checked,
    then the multiplication's overflow; the first failing character decides."""
    with pytest.raises(ValueError, match="number too large"):
        rust_parse_uint("99999999999999999999x")
    with pytest.raises(ValueError, match="invalid digit"):
        rust_parse_uint("9999999999999999x")
    with pytest.raises(ValueError, match="invalid digit"):
        rust_parse_uint("1x99999999999999999999")
    with pytest.raises(ParametersError, match="^Cannot build parameters: --cpus: number too "
                                              "large to fit in target type$"):
        chv(["--cpus", "boot=99999999999999999999x"])


def test_memory_size_wraps_like_a_release_build() -> None:
    """utils::parse_memory_size: `size * multiplier` on u64 wraps (no overflow checks in
    the release profile): 2^24 TiB is 0 bytes, which fails in compute_rim."""
    build = chv(["--memory", "size=16777216T"])
    assert build.ram == [(0x40000000, 0)]
    with pytest.raises(ComputeError, match=r"RIPAS\(40000000, 40000000\)"):
        build.operations()


# ------------------------------------------------------------- compute-time errors

def test_empty_ram_only_fails_when_measuring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Realm::rim_init_ripas rejects top <= base, but only compute_measurements calls it:
    --no-measurements succeeds and add_dtb has already written the DTB."""
    monkeypatch.chdir(tmp_path)
    status, out, err = cli(capsys, *HOST_ARGS, "--no-measurements", "--output-dtb", "a.dtb",
                           "cloud-hv", "--memory", "size=0")
    assert (status, out, err) == (0, "", [])
    status, out, err = cli(capsys, *HOST_ARGS, "--output-dtb", "b.dtb", "cloud-hv",
                           "--memory", "size=0")
    assert status == 1 and out == ""
    assert err == ["ERROR Failed to compute measurements: invalid parameter "
                   "RIPAS(40000000, 40000000)"]
    dtb_a, dtb_b = (tmp_path / "a.dtb").read_bytes(), (tmp_path / "b.dtb").read_bytes()
    assert dtb_a == dtb_b and dtb_a[:4] == bytes.fromhex("d00dfeed")


# ------------------------------------------------------------- clap (Parser::parse)

@pytest.mark.parametrize("argv,first", [
    # an unknown argument discards the pending option's own error (`let _ =
    # self.resolve_pending(matcher)` before did_you_mean_error)
    (["--cpus", "a", "--cpus", "b", "--bogus"], "error: unexpected argument '--bogus' found"),
    (["--cpus", "--bogus"], "error: unexpected argument '--bogus' found"),
    (["--cpus", "-x"], "error: unexpected argument '-x' found"),
    (["--cpus", "a", "--cpus", "b", "stray"], "error: unexpected argument 'stray' found"),
    # a known flag resolves the pending option first (react -> resolve_pending)
    (["--cpus", "-v"], "error: a value is required for '--cpus <CPUS>' but none was supplied"),
    (["--cpus", "--help"],
     "error: a value is required for '--cpus <CPUS>' but none was supplied"),
    (["--cpus", "a", "--cpus", "b"],
     "error: the argument '--cpus <CPUS>' cannot be used multiple times"),
    # "--" ends option parsing; later words are positionals, and there are none
    (["--", "--cpus", "boot=2"], "error: unexpected argument '--cpus' found"),
    (["--cpus", "boot=2", "--", "x"], "error: unexpected argument 'x' found"),
    # a value left pending before "--" is still missing at the end
    (["--cpus", "--"], "error: a value is required for '--cpus <CPUS>' but none was supplied"),
    (["-v=1"], "error: unexpected argument '-=' found"),
    # the rmtool options' value parser runs at clap time, before any tool error
    (["--cpus", "2", "--rmtool-pmu-node", "sometimes"],
     "error: invalid value 'sometimes' for '--rmtool-pmu-node <VALUE>' "
     "[possible values: always, auto]"),
])
def test_clap_parser_details(argv: list[str], first: str) -> None:
    with pytest.raises(UsageError) as err:
        chv(argv)
    assert str(err.value) == first and err.value.exit_code == 2


def test_double_dash_at_the_end_is_accepted() -> None:
    """`--` alone sets trailing_values and is consumed (Parser::parse, is_escape)."""
    assert scan_args(["--cpus", "boot=2", "--"]) == {"cpus": ["boot=2"]}
    assert chv(["--cpus", "boot=2", "--"]).dtb == chv(["--cpus", "boot=2"]).dtb


def test_clap_errors_are_clap_errors() -> None:
    """The CLI prints ClapError messages verbatim (clap's `error: ...`, exit 2)."""
    with pytest.raises(ClapError):
        chv(["--bogus"])
    with pytest.raises(ClapError):
        clap_check(["--cpus", "a", "--cpus", "b"])
    clap_check(["--cpus", "2", "--help", "--bogus"])  # help: nothing to report
    clap_check(["--cpus", "2"])  # tool errors are not clap's


def test_count_flag_repeats_but_set_true_does_not() -> None:
    """ArgAction::Count never conflicts; ArgAction::SetTrue does (argument_conflict)."""
    assert scan_args(["-v", "-vv"]) == {"v": ["", "", ""]}
    with pytest.raises(UsageError, match="'--watchdog' cannot be used multiple times"):
        scan_args(["--watchdog", "--watchdog"])


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["-vh"], ["-h", "--bogus"],
                                  ["--cpus", "2", "--help"], ["--disk", "a", "-h", "--cpus"]])
def test_help_wins_until_an_earlier_error(argv: list[str]) -> None:
    """ArgAction::Help errors with DisplayHelp as soon as it is reacted to."""
    with pytest.raises(HelpRequested):
        scan_args(argv)


def test_help_on_stdout_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "cloud-hv", "--help")
    assert status == 0 and err == []
    lines = out.splitlines()
    assert lines[0] == "Use the cloud-hypervisor VMM"
    assert "Usage: realm-measurements cloud-hv [OPTIONS]" in lines
    assert "      --cpus <CPUS>" in lines and "  -v..." in lines
    assert not any(line.startswith("RIM") for line in lines)
    status, _, err = cli(capsys, "cloud-hv", "--bogus", "--help")
    # clap prints its error as is (first line `error: ...`), exit status 2
    assert status == 2 and err[0] == "error: unexpected argument '--bogus' found"


def test_value_forms_do_not_change_the_measurement() -> None:
    a = chv(["--cpus", "boot=3", "--memory", "size=768M"])
    b = chv(["--cpus=boot=3", "--memory=size=768M", "-vvv", "--disk", "x", "--disk=y"])
    assert a.dtb == b.dtb and hashlib.sha256(a.dtb or b"").hexdigest() == \
        hashlib.sha256(b.dtb or b"").hexdigest()


def test_missing_capability_fails_after_the_dtb_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """build_params (add_dtb -> write_dtb) succeeds; compute_measurements ->
    Realm::rim_realm_create reports the missing num_wps, and the RIPAS check comes after
    it."""
    monkeypatch.chdir(tmp_path)
    status, out, err = cli(capsys, "--num-bps", "6", "--output-dtb", "c.dtb", "cloud-hv",
                           "--memory", "size=0", "--cpus", "boot=2,max=2")
    assert status == 1 and out == ""
    assert err == ["WARN ignored --cpus parameter max",
                   "ERROR Failed to compute measurements: num_wps is not known",
                   # rmtool's hint line (issue 18): only num_wps is missing
                   "hint: the host's num_wps is not known (rmtool does not guess: a guessed "
                   "value gives a wrong reference value); pass the host's capability files, "
                   "e.g. -c qemu-max-8.2.conf -c kvm.conf (written by python -m "
                   "rmtool.examples inputs DIR), or --num-wps N, before the VMM name"]
    assert (tmp_path / "c.dtb").read_bytes() == chv(["--memory", "size=0", "--cpus",
                                                     "boot=2"]).dtb


@pytest.mark.parametrize("size,top", [
    ("1000B", 0x40001000), ("4096B", 0x40001000), ("4097B", 0x40001000),
    ("4098B", 0x40002000), ("8193B", 0x40002000), ("1G", 0x80000000),
])
def test_ripas_top_is_align_up_of_the_last_byte(size: str, top: int) -> None:
    """RealmConfig::compute_rim: `end = align_up(base + size - 1, RMM_GRANULE)` — a RAM
    size one byte over a granule multiple loses that granule."""
    ops = chv(["--memory", f"size={size}"]).operations()
    assert [(o.base, o.top) for o in ops if isinstance(o, InitRipas)] == [(0x40000000, top)]


def test_one_byte_of_ram_is_an_empty_ripas_range() -> None:
    with pytest.raises(ComputeError) as err:
        chv(["--memory", "size=1B"]).operations()
    assert str(err.value) == \
        "Failed to compute measurements: invalid parameter RIPAS(40000000, 40000000)"


def test_library_build_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """The front-end returns or raises; the CLI prints. Its warnings travel on the error
    (``exc.warnings``, the CLI's WARN lines above), and ``-h`` is HelpRequested, not a
    help text on stdout and an exit."""
    with pytest.raises(ParametersError) as info:
        chv(["--cpus", "boot=2,max=4", "--memory", "shared=on,1G"])
    assert str(info.value) == "Cannot build parameters: malformed --memory param 1G"
    assert getattr(info.value, "warnings", None) == ["ignored --cpus parameter max",
                                                     "ignored --memory parameter shared"]
    with pytest.raises(HelpRequested):
        chv(["--cpus", "2", "--help"])
    with pytest.raises(HelpRequested):
        frontend("kvmtool")(["-c", "1", "-m", "64M", "-h"],
                            MeasureInputs(caps=HOST, profile=get_profile("1.0-rel0")))
    assert capsys.readouterr() == ("", "")
