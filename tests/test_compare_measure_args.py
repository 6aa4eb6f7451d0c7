"""``compare TOKEN --log LOG -- MEASURE_ARGS``: the expected Realm is a reference too.

The new-user walkthrough of issue 18 found that compare printed MATCH (exit 0) when the log
explained the token but MEASURE_ARGS described another Realm (token and log of `-m 1G`,
MEASURE_ARGS `-m 512M`), and that MEASURE_ARGS were never checked (`-- bogus` also
matched), while `rmtool diagnose` named the memory size. Each test is that mistake.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rmtool.cli.main import run
from rmtool.cli.measure import parse_measure_args
from tests import tokens

HOST = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "-k", "Image", "-i", "initrd.cpio"]
KVMTOOL = ["kvmtool", "--realm", "-c", "2", "-k", "Image", "-i", "initrd.cpio"]
STARTED = [*HOST, *KVMTOOL, "-m", "1G"]
EXPECTED = [*HOST, *KVMTOOL, "-m", "512M"]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Example inputs, the `-m 1G` Realm's log and its signed token, the platform key."""
    d = tmp_path_factory.mktemp("cmpargs")
    old = os.getcwd()
    os.chdir(d)
    try:
        from rmtool.examples import write_inputs

        write_inputs(".")
        assert run(["measure", *STARTED[:8], "--emit-log", "big.log", *STARTED[8:]]) == 0
        m = parse_measure_args(STARTED).measure().measurements
        (d / "big.cbor").write_bytes(tokens.token_bytes(m.rim, list(m.rems)))
        tokens.generated_keys().cpak_pem(d)
        yield d
    finally:
        os.chdir(old)


def _compare(box: Path, measure_args: list[str],
             capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    old = os.getcwd()
    os.chdir(box)
    try:
        capsys.readouterr()
        code = run(["compare", "big.cbor", "--platform-key", "cpak.pem", "--log", "big.log",
                    "--images", ".", "--format", "json", "--", *measure_args])
        out = capsys.readouterr().out
    finally:
        os.chdir(old)
    return code, (json.loads(out) if out.strip() else {})


def test_log_that_explains_the_token_does_not_hide_another_expected_realm(
        box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _compare(box, EXPECTED, capsys)
    assert (code, doc["result"]) == (1, "mismatch")
    expected_rim = parse_measure_args(EXPECTED).measure().measurements.rim.hex()
    rim_rows = [r for r in doc["claims"] if r["claim"] == "rim"]
    assert {(r["source"], r["status"]) for r in rim_rows} == {
        ("MEASURE_ARGS", "mismatch"), ("log replay", "match")}
    assert [r["expected"] for r in rim_rows if r["source"] == "MEASURE_ARGS"] == [
        expected_rim]
    causes = doc["causes"]
    assert [(c["parameter"], c["expected"], c["actual"]) for c in causes] == [
        ("memory_size", 512 << 20, 1 << 30)]


def test_the_started_realm_as_measure_args_matches(
        box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _compare(box, STARTED, capsys)
    assert (code, doc["result"], doc["causes"]) == (0, "match", [])


def test_measure_args_are_checked(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _compare(box, ["bogus"], capsys)
    assert (code, doc) == (2, {})
    code, doc = _compare(box, [*HOST, *KVMTOOL, "-m", "512X"], capsys)
    assert (code, doc) == (2, {})


@pytest.mark.parametrize("command", ["diagnose", "compare"])
def test_measure_args_before_the_separator_are_named(
        box: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`rmtool diagnose TOKEN -c conf ... kvmtool ...` (no `--`): the error says where
    MEASURE_ARGS go; a typo in the command's own option keeps click's did-you-mean only."""
    old = os.getcwd()
    os.chdir(box)
    try:
        capsys.readouterr()
        code = run([command, "big.cbor", "--platform-key", "cpak.pem", *EXPECTED])
        err = capsys.readouterr().err
        assert code == 2
        assert ("Error: No such option '-c'. MEASURE_ARGS (rmtool measure's global options, "
                "VMM name and VMM arguments) go after --: rmtool " + command
                + " TOKEN [OPTIONS] -- MEASURE_ARGS...") in err
        code = run([command, "big.cbor", "--platfrom-key", "cpak.pem", "--", *EXPECTED])
        err = capsys.readouterr().err
        assert code == 2
        assert "No such option '--platfrom-key'. Did you mean '--platform-key'?" in err
        assert "go after --" not in err
    finally:
        os.chdir(old)


def test_a_search_without_a_log_has_a_default_deadline() -> None:
    from rmtool.cli._diagnose import diagnose

    deadline = next(p for p in diagnose.params if p.name == "deadline_s")
    assert deadline.default == 300.0


def test_the_bracketed_byte_is_explained_under_the_table(
        box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Walkthrough L12: `[f9]7a49…` was explained only in the HTML report."""
    old = os.getcwd()
    os.chdir(box)
    try:
        capsys.readouterr()
        assert run(["compare", "big.cbor", "--platform-key", "cpak.pem", "--log", "big.log",
                    "--images", ".", "--", *EXPECTED]) == 1
        lines = capsys.readouterr().out.splitlines()
        expected_rim = parse_measure_args(EXPECTED).measure().measurements.rim.hex()
        row = next(x for x in lines if x.startswith("RIM      MEASURE_ARGS"))
        assert f"[{expected_rim[:2]}]{expected_rim[2:10]}…" in row
        assert "([xx]: the first byte that differs; full values below and in JSON)" in lines
        assert run(["compare", "big.cbor", "--platform-key", "cpak.pem", "--log", "big.log",
                    "--images", ".", "--", *STARTED]) == 0
        assert "[xx]" not in capsys.readouterr().out
    finally:
        os.chdir(old)
