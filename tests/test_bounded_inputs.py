"""Regression tests: every file rmtool reads is a regular file of bounded size, and a file
of the wrong kind is named with the command that reads it (docs/security.md, "Inputs").

The attacks: ``/dev/zero`` given as a token, CoRIM or key made rmtool read until
MemoryError (the readers checked ``st_size``, which is 0 for a device), and as a kernel or
initrd it was hashed forever or measured as an empty image; a FIFO blocked rmtool for ever;
a huge (sparse) file was read whole. The mistake: a file of another kind got the parser's
view ("511 trailing bytes after the CBOR item") instead of what it is.

Devices and FIFOs run in a subprocess with a timeout, so that a regression fails instead
of hanging the suite.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.measure.dtb.fdt import Node, string, to_dtb
from tests.conftest import CORPUS, ROOT, need_shared

HOST = ["--num-wps", "6", "--num-bps", "6"]
TOKEN = "tokens/evcli_token.cbor"  # veraison/evcli, a tag-399 CCA token
EVENT_LOG = "eventlogs/tpm2/tpm2tools_event-postcode.bin"  # a crypto-agile TPM2 log


def rmtool(*argv: str) -> tuple[int, str]:
    """Exit status and last stderr line of ``rmtool ARGV`` in a subprocess (30 s cap)."""
    proc = subprocess.run([sys.executable, "-m", "rmtool.cli.main", *argv],
                          capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = proc.stderr.strip().splitlines()
    return proc.returncode, lines[-1] if lines else ""


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = run(argv)
    return status, capsys.readouterr().err.strip()


def refuse(path: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """A device or FIFO in a subprocess (a regression must not hang or exhaust the suite's
    memory); a directory in-process (it cannot hang)."""
    if os.path.isdir(path):
        status, err = cli(argv, capsys)
        return status, err.splitlines()[-1]
    return rmtool(*argv)


@pytest.fixture(params=["dev-zero", "fifo", "directory"])
def special(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(path, what rmtool calls it) of a file that is not a regular file."""
    if request.param == "dev-zero":
        return "/dev/zero", "a character device"
    if request.param == "fifo":
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        return str(fifo), "a FIFO"
    folder = tmp_path / "folder"
    folder.mkdir()
    return str(folder), "a directory"


def _click_dir(arg: str, path: str) -> str:
    return f"Error: Invalid value for '{arg}': File '{path}' is a directory."


# command, argument name for click's directory check (None: rmtool's own), kind, argv
READERS: list[tuple[str, str | None, str, Callable[[str], list[str]]]] = [
    ("token show", "FILE", "token", lambda f: ["token", "show", f]),
    ("token verify", "FILE", "token", lambda f: ["token", "verify", f]),
    ("compare", "TOKEN", "token", lambda f: ["compare", f, "--rim", "00" * 32]),
    ("corim show", "FILE", "CoRIM", lambda f: ["corim", "show", f]),
    ("corim lint", "FILE", "CoRIM", lambda f: ["corim", "lint", f]),
    ("dtb show", None, "DTB", lambda f: ["dtb", "show", f]),
]


@pytest.mark.parametrize("name,click_arg,kind,argv", READERS, ids=[r[0] for r in READERS])
def test_non_regular_input_is_refused_at_once(
        special: tuple[str, str], name: str, click_arg: str | None, kind: str,
        argv: Callable[[str], list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, what = special
    status, err = refuse(path, argv(path), capsys)
    assert status == 2
    if what == "a directory" and click_arg is not None:
        assert err == _click_dir(click_arg, path)
    else:
        assert err == f"ERROR {kind} {path} is {what}; rmtool reads only regular files"


def test_non_regular_platform_key_is_refused(special: tuple[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    path, what = special
    status, err = refuse(path, ["token", "verify", str(CORPUS / TOKEN), "--platform-key",
                                path], capsys)
    assert status == 2
    if what == "a directory":
        assert err == _click_dir("--platform-key", path)
    else:
        assert err == f"ERROR key {path} is {what}; rmtool reads only regular files"


def test_non_regular_host_config_is_refused(special: tuple[str, str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path, what = special
    status, err = refuse(path, ["measure", *HOST, "-c", path, "kvmtool", "-c", "1", "-m",
                                "512M"], capsys)
    assert (status, err) == (2, f"ERROR Cannot build parameters: file {path} error: config "
                                f"is {what}, not a regular file")


def test_non_regular_kernel_is_refused_not_hashed(special: tuple[str, str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``/dev/zero`` as ``-k`` was hashed for ever (or measured as an empty file)."""
    path, what = special
    status, err = refuse(path, ["measure", *HOST, "-k", path, "kvmtool", "-c", "1", "-m",
                                "512M", "-k", "Image"], capsys)
    assert (status, err) == (2, f"ERROR Cannot build parameters: file {path} error: kernel "
                                f"is {what}, not a regular file")


@pytest.mark.parametrize("vmm", [["kvmtool", "-c", "1", "-m", "512M", "-k", "K", "-i", "I"],
                                 ["qemu", "-m", "512M", "-kernel", "K", "-initrd", "I"],
                                 ["cloud-hv", "--memory", "size=512M", "--kernel", "K",
                                  "--initramfs", "I"]], ids=["kvmtool", "qemu", "cloud-hv"])
def test_dev_zero_initrd_is_not_measured_as_empty(tmp_path: Path, vmm: list[str]) -> None:
    """``/dev/zero`` has st_size 0: as an initrd it used to be measured as an empty blob,
    a RIM for an image nobody has."""
    kernel = tmp_path / "Image"
    header = bytearray(64)
    header[56:60] = b"ARM\x64"
    kernel.write_bytes(bytes(header) + bytes(4096))
    status, err = rmtool("measure", *HOST, "-k", str(kernel), "-i", "/dev/zero", *vmm)
    assert (status, err) == (2, "ERROR Cannot build parameters: file /dev/zero error: initrd "
                                "is a character device, not a regular file")


def test_non_regular_firmware_and_dtb_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    status, err = rmtool("measure", *HOST, "-f", str(fifo), "kvmtool", "-c", "1", "-m", "512M",
                         "--firmware", "x")
    assert (status, err) == (2, f"ERROR Failed to compute measurements: VMM: file {fifo} "
                                "error: firmware is a FIFO, not a regular file")
    status, err = rmtool("measure", *HOST, "--dtb", str(fifo), "kvmtool", "-c", "1", "-m",
                         "512M")
    assert (status, err) == (2, "ERROR Cannot build parameters: while generating DTB: file "
                                f"{fifo} error: DTB is a FIFO, not a regular file")
    status, err = rmtool("measure", *HOST, "--dtb-template", str(fifo), "qemu", "-m", "512M")
    assert (status, err) == (2, "ERROR Cannot build parameters: DTB template is a FIFO, "
                                "not a regular file")


# ----------------------------------------------------------------- size caps

def _sparse(tmp_path: Path, name: str, size: int) -> str:
    path = tmp_path / name
    path.touch()
    os.truncate(path, size)  # no disk used: a reader that reads it whole is the bug
    return str(path)


@pytest.mark.parametrize("argv,kind,cap", [
    (["token", "show"], "token", 1 << 20),
    (["corim", "show"], "CoRIM", 16 << 20),
    (["corim", "lint"], "CoRIM", 16 << 20),
    (["dtb", "show"], "DTB", 16 << 20),
], ids=["token", "corim-show", "corim-lint", "dtb"])
def test_oversized_input_is_refused_before_reading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], kind: str,
        cap: int) -> None:
    path = _sparse(tmp_path, "big", cap + 1)
    assert cli([*argv, path], capsys) == (2, f"ERROR {kind} {path} is larger than {cap} bytes")


def test_oversized_key_and_config_are_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    key = _sparse(tmp_path, "key.pem", (64 << 10) + 1)
    assert cli(["token", "verify", str(CORPUS / TOKEN), "--platform-key", key], capsys) == (
        2, f"ERROR key {key} is larger than 65536 bytes")
    config = _sparse(tmp_path, "host.toml", (1 << 20) + 1)
    assert cli(["measure", *HOST, "-c", config, "kvmtool", "-c", "1", "-m", "512M"],
               capsys) == (2, f"ERROR Cannot build parameters: file {config} error: config "
                              "is larger than 1048576 bytes")


def test_missing_config_keeps_the_reference_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["measure", *HOST, "-c", "missing.toml", "kvmtool", "-c", "1", "-m", "512M"],
               capsys) == (2, "ERROR Cannot build parameters: file missing.toml error: No such "
                              "file or directory (os error 2)")


# ----------------------------------------------------------------- wrong kinds

def _png() -> bytes:
    """A 1x1 grey PNG (RFC 2083): signature, IHDR, IDAT, IEND."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


def test_event_log_given_as_token_names_log_show(capsys: pytest.CaptureFixture[str]) -> None:
    """It used to say "511 trailing bytes after the CBOR item"."""
    need_shared()
    log = str(CORPUS / EVENT_LOG)
    hint = f"ERROR {log} is a TCG event log, not a CCA token; try rmtool log show {log}"
    assert cli(["token", "show", log], capsys) == (2, hint)
    assert cli(["token", "verify", log], capsys) == (2, hint)
    assert cli(["compare", log, "--rim", "00" * 32], capsys) == (2, hint)


def test_token_given_as_corim_names_token_show(capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    tok = str(CORPUS / TOKEN)
    hint = f"ERROR {tok} is a CCA token, not a CoRIM; try rmtool token show {tok}"
    assert cli(["corim", "show", tok], capsys) == (2, hint)
    assert cli(["corim", "lint", tok], capsys) == (2, hint)
    assert cli(["dtb", "show", tok], capsys) == (
        2, f"ERROR {tok} is a CCA token, not a DTB; try rmtool token show {tok}")


def test_dtb_given_as_token_names_dtb_show(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    dtb = tmp_path / "virt.dtb"
    dtb.write_bytes(to_dtb(Node("").prop("model", string("linux,dummy-virt"))))
    assert cli(["token", "show", str(dtb)], capsys) == (
        2, f"ERROR {dtb} is a DTB (flattened device tree), not a CCA token; "
           f"try rmtool dtb show {dtb}")


def test_png_given_as_token_is_named(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "screenshot.png"
    png.write_bytes(_png())
    assert cli(["token", "show", str(png)], capsys) == (
        2, f"ERROR {png} is a PNG image, not a CCA token")
    assert cli(["corim", "show", str(png)], capsys) == (
        2, f"ERROR {png} is a PNG image, not a CoRIM")


def test_real_token_and_corim_still_read(capsys: pytest.CaptureFixture[str]) -> None:
    """The checks refuse nothing they should accept (the token and CoRIM of the corpus)."""
    need_shared()
    assert run(["token", "show", str(CORPUS / TOKEN), "--format", "json"]) == 0
    assert '"format": "cca-399"' in capsys.readouterr().out
    corim = CORPUS / "corim/cbor/corimlib_cca_cca-realm-valid.cbor"
    assert run(["corim", "show", str(corim), "--format", "json"]) == 0
    assert '"kind"' in capsys.readouterr().out
