"""rmtool.measure.vmm._rustcompat: the Rust behaviour the reference tool shows, value by value.

Expected values come from Rust and its crates, not from rmtool: core::num
``from_str_radix`` (``ParseIntError`` Display texts), the reference's
``utils::parse_memory_size``, base64 0.22.1 ``STANDARD.decode`` (its ``DecodeError``
Display texts; valid inputs are checked against Python's own encoder), clap 4.5's
argument errors.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from rmtool.errors import ParametersError, UsageError
from rmtool.measure.host import HostCaps
from rmtool.measure.rmm.profiles import DEFAULT_PROFILE, get_profile
from rmtool.measure.vmm import _argparse_clap as argparse_clap
from rmtool.measure.vmm import _cloudhv as cloudhv
from rmtool.measure.vmm import _qemu_args as qemu_args
from rmtool.measure.vmm._rustcompat import (
    STOP_KEY,
    Base64Error,
    ClapError,
    HelpRequested,
    Opt,
    RustParseError,
    ValueRejected,
    b64decode_standard,
    in_context,
    parse_bool,
    parse_int,
    parse_memory_size,
    parse_u8,
    parse_u16,
    parse_u64,
    parse_uint,
    scan,
)

EMPTY = "cannot parse integer from empty string"
DIGIT = "invalid digit found in string"
LARGE = "number too large to fit in target type"
SMALL = "number too small to fit in target type"
U64_MAX = (1 << 64) - 1
MIB = 1 << 20


def rust_error(parse: object, *args: object) -> str:
    with pytest.raises(ValueError) as info:
        parse(*args)  # type: ignore[operator]
    return str(info.value)


# --------------------------------------------------------------------------- integers

@pytest.mark.parametrize(("text", "bits", "value"), [
    ("+5", 64, 5),
    ("007", 64, 7),  # leading zeros are digits
    ("0", 8, 0),
    ("255", 8, 255),
    ("65535", 16, 65535),
    ("18446744073709551615", 64, U64_MAX),
    ("+00000000000000000000000018446744073709551615", 64, U64_MAX),  # zeros never overflow
])
def test_uint_values(text: str, bits: int, value: int) -> None:
    assert parse_uint(text, bits) == value


@pytest.mark.parametrize(("text", "bits", "message"), [
    ("", 64, EMPTY),
    ("+", 64, DIGIT),  # a lone sign is a digit error, not "empty"
    ("-", 64, DIGIT),
    ("-5", 64, DIGIT),  # no '-' for an unsigned type
    ("-0", 64, DIGIT),
    ("++1", 64, DIGIT),
    ("+-1", 64, DIGIT),
    ("0x10", 64, DIGIT),  # no radix prefix
    ("1e3", 64, DIGIT),
    ("1_000", 64, DIGIT),
    (" 1", 64, DIGIT),
    ("1 ", 64, DIGIT),
    ("5\n", 64, DIGIT),  # Python's int() and a '$' regex would accept it
    ("\u0661", 64, DIGIT),  # ARABIC-INDIC DIGIT ONE: int() accepts it, Rust does not
    ("\uff11", 64, DIGIT),  # FULLWIDTH DIGIT ONE
    ("256", 8, LARGE),  # overflow by one
    ("65536", 16, LARGE),
    ("18446744073709551616", 64, LARGE),
    # digit by digit, the first failing character decides (checked loop)
    ("99999999999999999999x", 64, LARGE),
    ("9999999999999999x", 64, DIGIT),
    ("1x99999999999999999999", 64, DIGIT),
    ("2560", 8, LARGE),
    ("25x", 8, DIGIT),
])
def test_uint_errors(text: str, bits: int, message: str) -> None:
    assert rust_error(parse_uint, text, bits) == message


@pytest.mark.parametrize(("text", "value"), [
    ("-0", 0), ("+0", 0), ("-1", -1), ("-9223372036854775808", -(1 << 63)),
    ("9223372036854775807", (1 << 63) - 1), ("+9223372036854775807", (1 << 63) - 1),
])
def test_int_values(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("", EMPTY), ("-", DIGIT), ("+", DIGIT), ("--1", DIGIT), ("-+1", DIGIT), ("- 1", DIGIT),
    ("9223372036854775808", LARGE), ("-9223372036854775809", SMALL),
    ("-99999999999999999999x", SMALL), ("-1x", DIGIT),
])
def test_int_errors(text: str, message: str) -> None:
    assert rust_error(parse_int, text) == message


def test_parse_errors_are_value_errors_with_the_rust_text() -> None:
    with pytest.raises(RustParseError) as info:
        parse_uint("x")
    assert isinstance(info.value, ValueError) and info.value.args == (DIGIT,)


def test_in_context_is_anyhow_context() -> None:
    with pytest.raises(ParametersError) as info:
        in_context("-smp cpus", parse_uint, "x")
    assert str(info.value) == f"Cannot build parameters: -smp cpus: {DIGIT}"
    with pytest.raises(ParametersError) as info:
        in_context(None, parse_uint, "")
    assert str(info.value) == f"Cannot build parameters: {EMPTY}"
    assert in_context("-m", parse_memory_size, "2G") == 2 << 30


# --------------------------------------------------------------------------- sizes

@pytest.mark.parametrize(("text", "value"), [
    ("512", 512 * MIB),  # no suffix: MiB
    ("+512M", 512 * MIB),
    ("0512M", 512 * MIB),
    ("4096B", 4096),
    ("2K", 2 << 10),
    ("3M", 3 << 20),
    ("4G", 4 << 30),
    ("5T", 5 << 40),
    ("6P", 6 << 50),
    ("0", 0),
    ("0B", 0),
    ("18446744073709551615B", U64_MAX),
    # size * multiplier wraps modulo 2^64 (the reference's release build)
    ("16384P", 0),
    ("16385P", 1 << 50),
    ("18446744073709551615K", U64_MAX - 1023),
    ("17592186044416", 0),  # 2^44 MiB
])
def test_memory_size_values(text: str, value: int) -> None:
    assert parse_memory_size(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("", EMPTY),
    ("M", EMPTY),  # the suffix alone
    ("B", EMPTY),
    ("1E", DIGIT),  # no exbibyte suffix
    ("1b", DIGIT), ("1k", DIGIT), ("1m", DIGIT), ("1g", DIGIT), ("1t", DIGIT), ("1p", DIGIT),
    ("1MB", DIGIT),  # one suffix only
    ("1MiB", DIGIT),
    ("1 M", DIGIT),
    (" 1M", DIGIT),
    ("1M ", DIGIT),
    ("0x10M", DIGIT),
    ("-1M", DIGIT),
    ("+M", DIGIT),
    ("1.5G", DIGIT),
    ("18446744073709551616B", LARGE),
    ("99999999999999999999xM", LARGE),  # u64::from_str's checked loop, after the strip
])
def test_memory_size_errors(text: str, message: str) -> None:
    assert rust_error(parse_memory_size, text) == message


def test_every_vmm_uses_the_one_size_grammar() -> None:
    """kvmtool -m, QEMU -m and cloud-hv --memory size= call the same
    utils::parse_memory_size in the reference: same values, same texts (each with its
    own anyhow context)."""
    from rmtool.measure.vmm.common import parse_size

    assert qemu_args.parse_memory_size is parse_memory_size
    assert cloudhv.parse_memory_size is parse_memory_size
    for option in ("-m", "-m size", "--memory"):
        with pytest.raises(ParametersError) as info:
            parse_size("99999999999999999999xM", option)
        assert str(info.value) == f"Cannot build parameters: {option}: {LARGE}"


# --------------------------------------------------------------------------- base64

@pytest.mark.parametrize("raw", [b"", b"\x01", b"\x0a\xbc", b"\xff\xfe\xfd", bytes(range(64)),
                                 bytes(range(255, 190, -1)), os.urandom(47), os.urandom(48)])
def test_base64_round_trip_with_pythons_encoder(raw: bytes) -> None:
    assert b64decode_standard(base64.b64encode(raw).decode()) == raw


def test_base64_known_values() -> None:
    assert b64decode_standard("AQ==") == b"\x01"
    assert b64decode_standard("Crw=") == b"\x0a\xbc"
    assert b64decode_standard("/w==") == b"\xff"
    assert b64decode_standard("+/+/") == bytes.fromhex("fbffbf")


@pytest.mark.parametrize(("text", "message"), [
    # fewer than two symbols in the last quad
    ("A", "Invalid input length: 1"),
    ("AAAAA", "Invalid input length: 5"),
    # '=' at quad position 0 or 1 is an invalid symbol, before any length check
    ("=", "Invalid symbol 61, offset 0."),
    ("A=", "Invalid symbol 61, offset 1."),
    ("A===", "Invalid symbol 61, offset 1."),
    ("=AAA", "Invalid symbol 61, offset 0."),
    ("AAAA=", "Invalid symbol 61, offset 4."),
    ("AAAA====", "Invalid symbol 61, offset 4."),
    ("AAAAA===", "Invalid symbol 61, offset 5."),
    # '=' inside a quad that is not the last one
    ("AA==AAAA", "Invalid symbol 61, offset 2."),
    # a symbol after padding reports the first '='
    ("AA=A", "Invalid symbol 61, offset 2."),
    ("AA==A", "Invalid symbol 61, offset 2."),
    # canonical padding is required
    ("AA", "Invalid padding"),
    ("AA=", "Invalid padding"),
    ("AAA", "Invalid padding"),
    ("AAAAAA", "Invalid padding"),
    # unused bits must be zero
    ("AB==", "Invalid last symbol 66, offset 1."),
    ("AR==", "Invalid last symbol 82, offset 1."),
    ("AAB=", "Invalid last symbol 66, offset 2."),
    ("AAAAAAB=", "Invalid last symbol 66, offset 6."),
    # non-alphabet bytes: the byte value and its offset
    ("&+", "Invalid symbol 38, offset 0."),
    ("&AAAA", "Invalid symbol 38, offset 0."),
    ("AAAA&", "Invalid symbol 38, offset 4."),  # length 4k+1: the last byte first
    ("A&AAA", "Invalid symbol 38, offset 1."),
    ("AAAA\n", "Invalid symbol 10, offset 4."),
    ("AA AA", "Invalid symbol 32, offset 2."),
    ("AA-_", "Invalid symbol 45, offset 2."),  # the URL-safe alphabet is not STANDARD
    ("\u00e9A", "Invalid symbol 195, offset 0."),  # offsets count UTF-8 bytes
    ("AAAA\u00e9", "Invalid symbol 195, offset 4."),
])
def test_base64_errors(text: str, message: str) -> None:
    assert rust_error(b64decode_standard, text) == message


def test_base64_error_type() -> None:
    with pytest.raises(Base64Error):
        b64decode_standard("A")


def test_a_non_utf8_byte_is_an_invalid_symbol_not_a_traceback() -> None:
    text = os.fsdecode(b"AA\xffA")  # an argv byte kept by surrogateescape
    assert rust_error(b64decode_standard, text) == "Invalid symbol 255, offset 2."


@pytest.mark.parametrize("value", ["A===", "AA", "AAAAA", "AB==", "&+"])
def test_qemu_and_cloud_hv_report_the_same_rpv_error(value: str) -> None:
    """Both reference front-ends call PersonalizationValue::from_base64; rmtool used to
    give cloud-hv its own decoder (A=== was 'Invalid input length: 1' there)."""
    expected = ("Cannot build parameters: invalid Realm Personalization Value: "
                + rust_error(b64decode_standard, value))
    with pytest.raises(ParametersError) as chv:
        cloudhv.parse_args(["--platform", f"personalization_value={value}"])
    with pytest.raises(ParametersError) as qemu:
        qemu_args.parse_args(["-object", f"rme-guest,personalization-value={value}"],
                             HostCaps(), get_profile(DEFAULT_PROFILE))
    assert str(chv.value) == str(qemu.value) == expected
    if value == "A===":
        assert expected.endswith("Invalid symbol 61, offset 1.")


# --------------------------------------------------------------------------- clap values

@pytest.mark.parametrize(("parse", "text", "reason"), [
    (parse_u64, "", EMPTY),
    (parse_u64, "5\n", DIGIT),
    (parse_u64, "-1", DIGIT),
    (parse_u64, "18446744073709551616", LARGE),
    (parse_u64, "99999999999999999999x", LARGE),
    (parse_u8, "256", "256 is not in 0..=255"),  # RangedI64ValueParser: i64 first
    (parse_u8, "-1", "-1 is not in 0..=255"),
    (parse_u8, "+0256", "256 is not in 0..=255"),
    (parse_u8, "9223372036854775808", LARGE),
    (parse_u8, "-9223372036854775809", SMALL),
    (parse_u8, "48\n", DIGIT),
    (parse_u16, "65536", "65536 is not in 0..=65535"),
    (parse_u16, "0x100", DIGIT),
])
def test_clap_integer_reasons(parse: object, text: str, reason: str) -> None:
    with pytest.raises(ValueRejected) as info:
        parse(text)  # type: ignore[operator]
    assert info.value.reason == reason


def test_clap_values() -> None:
    assert parse_u64("+18446744073709551615") == U64_MAX
    assert parse_u8("-0") == 0 and parse_u8("0255") == 255
    assert parse_u16("65535") == 65535
    assert parse_bool("true") is True and parse_bool("false") is False
    with pytest.raises(ValueRejected) as info:
        parse_bool("True")
    assert (info.value.reason, info.value.possible) == (None, ("true", "false"))


# --------------------------------------------------------------------------- clap scanner

OPTS = (
    Opt("cpus", ("cpus",), ("c",), parser=parse_u64),
    Opt("mem", ("mem",), ("m",)),
    Opt("disk", ("disk",), ("d",), repeat=True),
    Opt("realm", ("realm",), takes_value=False),
    Opt("v", shorts=("v",), takes_value=False, repeat=True),
    Opt("pmu", ("pmu",), parser=parse_bool),
    Opt("help", ("help",), ("h",), takes_value=False),
)


def clap_error(argv: list[str], usage: str = "") -> str:
    with pytest.raises(ClapError) as info:
        scan(argv, OPTS, usage)
    assert info.value.exit_code == 2
    return str(info.value)


def test_scanner_forms() -> None:
    assert scan(["-c2", "-m=1G", "--disk", "a", "-d", "b", "--disk=c", "-vv", "-v", "--realm"],
                OPTS) == {"cpus": ["2"], "mem": ["1G"], "disk": ["a", "b", "c"],
                          "v": ["", "", ""], "realm": [""]}
    assert scan(["--mem=", "--disk", "-", "--disk", ""], OPTS) == {"mem": [""],
                                                                 "disk": ["-", ""]}


@pytest.mark.parametrize(("argv", "message"), [
    (["--bogus=1"], "error: unexpected argument '--bogus' found"),
    (["-x1"], "error: unexpected argument '-x' found"),
    (["stray"], "error: unexpected argument 'stray' found"),
    (["--", "--cpus", "1"], "error: unexpected argument '--cpus' found"),
    (["-v=1"], "error: unexpected argument '-=' found"),
    (["--realm=yes"], "error: unexpected value 'yes' for '--realm' found; no more were expected"),
    (["--realm", "--realm"], "error: the argument '--realm' cannot be used multiple times"),
    (["-c", "1", "--cpus", "2"], "error: the argument '--cpus <CPUS>' cannot be used multiple "
                                 "times"),
    (["--cpus"], "error: a value is required for '--cpus <CPUS>' but none was supplied"),
    (["--cpus", "-1"], "error: unexpected argument '-1' found"),  # -1 is never a value
    (["--cpus", "-v"], "error: a value is required for '--cpus <CPUS>' but none was supplied"),
    (["--cpus", "--bogus"], "error: unexpected argument '--bogus' found"),  # pending dropped
    (["--cpus", "x"], f"error: invalid value 'x' for '--cpus <CPUS>': {DIGIT}"),
    (["--cpus", "5\n"], f"error: invalid value '5\n' for '--cpus <CPUS>': {DIGIT}"),
    (["--cpus", "99999999999999999999x"],
     f"error: invalid value '99999999999999999999x' for '--cpus <CPUS>': {LARGE}"),
    (["--pmu", "yes"], "error: invalid value 'yes' for '--pmu <PMU>'\n"
                       "  [possible values: true, false]"),
    # the repeat check comes before the value check
    (["--cpus", "1", "--cpus", "x"], "error: the argument '--cpus <CPUS>' cannot be used "
                                     "multiple times"),
])
def test_scanner_errors(argv: list[str], message: str) -> None:
    assert clap_error(argv) == message


def test_usage_line_follows_when_named() -> None:
    usage = "\n\nUsage: realm-measurements kvmtool [OPTIONS]"
    assert clap_error(["--bogus"], "kvmtool") == (
        f"error: unexpected argument '--bogus' found{usage}")
    assert clap_error(["--realm", "--realm"], "kvmtool") == (
        f"error: the argument '--realm' cannot be used multiple times{usage}")
    assert clap_error(["--cpus"], "kvmtool") == (
        "error: a value is required for '--cpus <CPUS>' but none was supplied")


def test_help_reacts_after_the_pending_option() -> None:
    with pytest.raises(HelpRequested):
        scan(["-c", "2", "-vh", "--bogus"], OPTS)
    assert clap_error(["--cpus", "--help"]) == ("error: a value is required for '--cpus <CPUS>' "
                                                "but none was supplied")


def test_a_whole_message_from_the_value_parser() -> None:
    def choice(text: str) -> str:
        raise ValueRejected(None, ("a", "b"), message=f"error: nope '{text}'")

    with pytest.raises(ClapError) as info:
        scan(["--x", "c"], [Opt("x", ("x",), parser=choice)])
    assert str(info.value) == "error: nope 'c'"


def test_stop_at_a_subcommand_defers_the_pending_option() -> None:
    deferred: list[object] = []
    out = scan(["-v", "--cpus", "x", "sub", "--bogus"], OPTS, stop_at=lambda w: w == "sub",
               deferred=deferred)  # type: ignore[arg-type]
    assert out == {"v": [""], STOP_KEY: ["3"]}
    assert len(deferred) == 1
    with pytest.raises(ClapError) as info:
        deferred[0]()  # type: ignore[operator]
    assert str(info.value) == f"error: invalid value 'x' for '--cpus <CPUS>': {DIGIT}"


def test_one_scanner_for_every_user() -> None:
    """kvmtool, cloud-hv and the global options share rustcompat's scanner and its
    exception types (the CLI catches one HelpRequested and one ClapError)."""
    from rmtool.measure.vmm import _kvmtool as kvmtool

    assert cloudhv.HelpRequested is HelpRequested is argparse_clap.HelpRequested
    assert argparse_clap.scan is scan and argparse_clap.ClapError is ClapError
    assert issubclass(ClapError, UsageError)
    assert cloudhv.scan_args(["--cpus=boot=2", "-vv"]) == {"cpus": ["boot=2"], "v": ["", ""]}
    assert kvmtool.scan_args(["-c2", "--realm"]) == {"cpus": ["2"], "realm": [""]}


def test_rustcompat_imports_stay_light() -> None:
    """The measure path imports this module on every run: no construct, click or
    cryptography behind it."""
    code = ("import sys, rmtool.measure.vmm._rustcompat; "
            "print(sorted(m for m in ('construct', 'click', 'cryptography', 'cbor2', "
            "'tabulate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env={**os.environ}).stdout
    assert out.strip() == "[]"
