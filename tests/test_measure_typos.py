"""Mistakes in a VMM command line that change the measurement are errors (docs/security.md,
"Measure").

The reference tool (``src/qemu.rs``) ignores any unknown QEMU option with a warning,
so ``-k Image qemu -kernal Image`` measured a Realm without a kernel and exited 0.
rmtool keeps that for options that cannot change the measurement, refuses a near miss of
one that does (rule: :func:`rmtool.measure.vmm.common.near_miss`), refuses a global
``-k``/``-i``/``-f`` that the VMM command line does not load, and warns that kvmtool
without ``--realm`` is not a Realm. Inputs come from :mod:`rmtool.examples`; the
expected RIMs are the values the previous rmtool (main before this change) printed for
the same command lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.examples import write_inputs
from rmtool.measure.vmm._qemu_args import MEASURED_OPTIONS, QEMU_OTHER_OPTIONS
from rmtool.measure.vmm.common import edit_distance, near_miss

HOST = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf"]
QEMU_K = [*HOST, "-k", "Image", "qemu"]
# RIM of `HOST -k Image qemu -kernel Image` (also with -nographic, -enable-kvm,
# -serial mon:stdio), as main printed it before this change
RIM_QEMU_KERNEL = ("e736cdf40975fc7bf81be4d763a5a964e49db26dd9d70c086e14a62c60f7bbae"
                   "350acee978fe8dfd751c2454e079bf5f095ea344396a29f1f15a5f818c061429")
# RIM of `HOST -k Image -i initrd.cpio qemu -M virt -cpu host -m 512M -smp 2 -kernel Image
# -initrd initrd.cpio -append console=ttyAMA0`, with or without the ignored options below
RIM_QEMU_FULL = ("786a83223ed863534cac34de8e28b5d17fb99d9af04e7653bc844a4faabd0309"
                 "b87281d026f7c1d4507956752611631a1dad21e9aea1cc6e2865aba5121876f4")
# RIM of `HOST -k Image kvmtool [--realm] -c 1 -m 512M -k Image` (main)
RIM_KVMTOOL = "603cb0e0f07513a8a1e0c7dddfbd596395349b4042e9e2ce410142f32701da24"
# QEMU and cloud-hypervisor command lines without their Realm options (issue 18, H3)
QEMU_NOT_REALM = ("WARN qemu without -M confidential-guest-support=ID and -object "
                  "rme-guest,id=ID: this is not a Realm; the measurements describe nothing "
                  "a Realm will report")
CHV_NOT_REALM = ("WARN cloud-hypervisor without --platform arm_rme=on: this is not a Realm; "
                 "the measurements describe nothing a Realm will report")
NOT_A_REALM = ("WARN kvmtool without --realm: this is not a Realm; the measurements "
               "describe nothing a Realm will report")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("typos")
    write_inputs(d)
    return d


@pytest.fixture
def here(inputs: Path) -> Iterator[Path]:
    old = os.getcwd()
    os.chdir(inputs)
    try:
        yield inputs
    finally:
        os.chdir(old)


def measure(argv: list[str], capsys: pytest.CaptureFixture[str], *,
            reference: bool = False) -> tuple[int, str, list[str]]:
    status = run(["measure", *argv], reference_exits=reference)
    out, err = capsys.readouterr()
    return status, out, err.strip().splitlines()


def rim(out: str) -> str:
    return dict(line.split(": ", 1) for line in out.strip().splitlines())["RIM"]


# --------------------------------------------------------------------------- QEMU typos

@pytest.mark.parametrize(("typo", "meant", "value"), [
    ("-kernal", "-kernel", "Image"),        # the reported defect
    ("-initrdd", "-initrd", "initrd.cpio"),
    ("-apend", "-append", "console=hvc0"),
    ("--kernel", "-kernel", "Image"),       # QEMU reads it as -kernel; the reference ignores it
    ("-Kernel", "-kernel", "Image"),
    ("-smpp", "-smp", "4"),
    ("-objekt", "-object", "rme-guest,measurement-algorithm=sha256"),
    ("-machin", "-machine", "virt,its=off"),
    ("-kernal=Image", "-kernel", None),     # split at '=' first, as the reference does
    ("--m", "-m", "1G"),
    ("-cpus", "-cpu", "host,pmu=on"),
])
def test_near_miss_of_a_measured_option_is_an_error(
        typo: str, meant: str, value: str | None, here: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Each typo used to be a warning and a Realm measured without the option's effect."""
    word = typo.split("=", 1)[0]
    kernel = [] if meant == "-kernel" else ["-kernel", "Image"]
    argv = [*QEMU_K, *kernel, typo] + ([value] if value else [])
    status, out, err = measure(argv, capsys)
    assert (status, out) == (2, "")
    assert err[-1] == (f"ERROR Cannot build parameters: unknown QEMU option {word} "
                       f"(did you mean {meant}?)")
    # realm-measurements (the reference-compatible entry point): status 1 for ERROR lines
    status, _, err = measure(argv, capsys, reference=True)
    assert status == 1 and err[-1].endswith(f"(did you mean {meant}?)")


def test_warnings_before_the_typo_are_kept(here: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    status, _, err = measure([*QEMU_K, "-serial", "mon:stdio", "-kernal", "Image"], capsys)
    assert status == 2 and err == [
        "WARN Parameter -serial ignored", "WARN Parameter mon:stdio ignored",
        "ERROR Cannot build parameters: unknown QEMU option -kernal (did you mean -kernel?)"]


@pytest.mark.parametrize("extra", [[], ["-nographic"], ["-enable-kvm"],
                                   ["-serial", "mon:stdio"]])
def test_options_that_do_not_change_the_measurement_still_pass(
        extra: list[str], here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = measure([*QEMU_K, "-kernel", "Image", *extra], capsys)
    assert status == 0 and rim(out) == RIM_QEMU_KERNEL
    expected = [f"WARN Parameter {w} ignored" for w in extra if w == "-serial" or ":" in w]
    assert err == [*expected, QEMU_NOT_REALM]  # not a Realm command line: said at the end


IGNORED_QEMU = (
    "-nographic -enable-kvm -serial mon:stdio -netdev user,id=n0 "
    "-device virtio-net-pci,netdev=n0 -drive if=none,file=disk.img,id=d0 -monitor none "
    "-display none -name realm -nodefaults -chardev stdio,id=c0 -accel kvm -boot c -s -S "
    "-d int -D qemu.log -trace events=x -vga none -usb -rtc base=utc -no-reboot "
    "-mem-path /dev/hugepages -overcommit mem-lock=off -qmp unix:q.sock -smbios type=0 "
    "-gdb tcp::1234").split()


def test_common_qemu_options_are_ignored_as_before(here: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Real QEMU options a short edit away from a measured one (``-s``/``-smp``,
    ``-qmp``/``-smp``, ``-rtc``/``-dtb``, ``-usb``/``-dtb``, ``-boot``/``-bios``,
    ``-smbios``/``-bios``, ``-d``/``-dtb``, ``-S``, ``-D``, ``-mem-path``/``-m``) keep
    the reference's warning and the RIM main printed."""
    base = [*HOST, "-k", "Image", "-i", "initrd.cpio", "qemu", "-M", "virt", "-cpu", "host",
            "-m", "512M", "-smp", "2", "-kernel", "Image", "-initrd", "initrd.cpio",
            "-append", "console=ttyAMA0"]
    status, out, err = measure(base, capsys)
    assert status == 0 and rim(out) == RIM_QEMU_FULL and err == [QEMU_NOT_REALM]
    status, out, err = measure([*base, *IGNORED_QEMU], capsys)
    assert status == 0 and rim(out) == RIM_QEMU_FULL and err[-1] == QEMU_NOT_REALM
    assert len(err) == 41 and all(line.startswith("WARN Parameter ") for line in err[:-1])
    assert "WARN Parameter -qmp ignored" in err and "WARN Parameter -s ignored" in err


def test_near_miss_rule() -> None:
    """The rule on its own: short options only by dash/case, 3-4 letters one edit,
    longer ones two edits or an abbreviation; real QEMU options never."""
    assert edit_distance("kernal", "kernel") == 1 and edit_distance("objetc", "object") == 1
    assert edit_distance("ab", "ba") == 1 and edit_distance("", "abc") == 3
    miss = {w: near_miss(w, MEASURED_OPTIONS, QEMU_OTHER_OPTIONS) for w in (
        "-mach", "-kern", "-init_rd", "-bioss", "-dtbb", "--M", "-SMP", "-APPEND",
        "-mm", "-MM", "-mem", "-x", "-foo", "--nographic", "-qmp", "-s", "-S", "-d", "-D",
        "-rtc", "-usb", "-boot", "-smbios", "-gdb", "-k", "-mem-path", "-", "--", "kernel")}
    assert miss == {
        "-mach": "-machine", "-kern": "-kernel", "-init_rd": "-initrd", "-bioss": "-bios",
        "-dtbb": "-dtb", "--M": "-M", "-SMP": "-smp", "-APPEND": "-append",
        "-mm": None, "-MM": None, "-mem": None, "-x": None, "-foo": None,
        "--nographic": None, "-qmp": None, "-s": None, "-S": None, "-d": None, "-D": None,
        "-rtc": None, "-usb": None, "-boot": None, "-smbios": None, "-gdb": None,
        "-k": None, "-mem-path": None, "-": None, "--": None, "kernel": None}
    # a hostile 1 MB option word is not a near miss (and is not compared letter by letter)
    assert near_miss("-" + "k" * (1 << 20), MEASURED_OPTIONS, QEMU_OTHER_OPTIONS) is None
    # without the list of real QEMU options, -qmp would be taken for -smp
    assert near_miss("-qmp", MEASURED_OPTIONS) == "-smp"
    for option in QEMU_OTHER_OPTIONS:
        assert near_miss(option, MEASURED_OPTIONS, QEMU_OTHER_OPTIONS) is None, option


# --------------------------------------------------------------------------- unused images

@pytest.mark.parametrize(("argv", "line"), [
    ([*HOST, "-k", "Image", "qemu", "-m", "512M"],
     "-k Image was given but the qemu command line loads no kernel (-kernel)"),
    ([*HOST, "-k", "Image", "-i", "initrd.cpio", "qemu", "-kernel", "Image"],
     "-i initrd.cpio was given but the qemu command line loads no initrd "
     "(-initrd with -kernel)"),
    ([*HOST, "-f", "QEMU_EFI.fd", "-k", "Image", "qemu", "-kernel", "Image"],
     "-f QEMU_EFI.fd was given but the qemu command line loads no firmware (-bios)"),
    ([*HOST, "-k", "Image", "-i", "initrd.cpio", "kvmtool", "--realm", "-c", "1", "-m",
      "512M", "-k", "Image"],
     "-i initrd.cpio was given but the kvmtool command line loads no initrd (-i/--initrd)"),
    ([*HOST, "-k", "Image", "kvmtool", "--realm", "-c", "1", "-m", "512M"],
     "-k Image was given but the kvmtool command line loads no kernel (-k/--kernel)"),
    ([*HOST, "-f", "QEMU_EFI.fd", "kvmtool", "--realm", "-c", "1", "-m", "512M"],
     "-f QEMU_EFI.fd was given but the kvmtool command line loads no firmware "
     "(-f/--firmware)"),
    ([*HOST, "-k", "Image", "-i", "initrd.cpio", "cloud-hv", "--kernel", "Image"],
     "-i initrd.cpio was given but the cloud-hv command line loads no initrd (--initramfs)"),
    ([*HOST, "-k", "Image", "cloud-hv"],
     "-k Image was given but the cloud-hv command line loads no kernel (--kernel)"),
    ([*HOST, "-f", "QEMU_EFI.fd", "-k", "Image", "cloud-hv", "--kernel", "Image",
      "--firmware", "QEMU_EFI.fd"],
     "-f QEMU_EFI.fd was given but the cloud-hv command line loads no measured firmware "
     "(--firmware is accepted and not measured)"),
])
def test_global_image_the_vmm_does_not_load_is_an_error(
        argv: list[str], line: str, here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reference measured these Realms without the image and exited 0; so does
    realm-measurements (scripts such as gen-run-vmm.sh always pass -k, -i and -f), with a
    warning after the results."""
    status, out, err = measure(argv, capsys)
    assert (status, out, err) == (2, "", [f"ERROR Cannot build parameters: {line}"])
    status, out, err = measure(argv, capsys, reference=True)
    assert status == 0 and out.startswith("RIM: ")
    assert f"WARN {line}: it is not measured" in err


def test_the_reference_error_still_comes_first(here: Path, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    """An unused image does not hide the reference's own error (here: no host
    watchpoint count, reported when measuring)."""
    status, _, err = measure(["-k", "Image", "kvmtool", "--realm", "-c", "1", "-m", "512M"],
                             capsys, reference=True)
    assert (status, err[0]) == (1, "ERROR Failed to compute measurements: num_wps is not known")
    # then rmtool's hint line (issue 18), nothing else
    assert len(err) == 2 and err[1].startswith("hint: the host's num_wps and num_bps are not "
                                               "known")


def test_cloudhv_firmware_on_the_line_is_warned_after_the_results(
        here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [*HOST, "-k", "Image", "cloud-hv", "--kernel", "Image"]
    status, out, err = measure(base, capsys)
    assert status == 0 and err == [CHV_NOT_REALM]  # no --platform arm_rme=on (H3)
    expected = rim(out)
    status, out, err = measure([*base, "--firmware", "QEMU_EFI.fd"], capsys)
    assert status == 0 and rim(out) == expected
    assert err == ["WARN --firmware is not measured (as by the reference tool): if "
                   "cloud-hypervisor loads it into the Realm, the Realm's RIM differs from "
                   "this one", CHV_NOT_REALM]


# --------------------------------------------------------------------------- kvmtool --realm

def test_kvmtool_without_realm_warns_and_measures_as_before(
        here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*HOST, "-k", "Image", "kvmtool", "-c", "1", "-m", "512M", "-k", "Image"]
    status, out, err = measure(argv, capsys)
    assert status == 0 and rim(out) == RIM_KVMTOOL and err == [NOT_A_REALM]
    realm = [*HOST, "-k", "Image", "kvmtool", "--realm", "-c", "1", "-m", "512M", "-k", "Image"]
    status, out, err = measure(realm, capsys)
    assert status == 0 and rim(out) == RIM_KVMTOOL and err == []
    # --no-measurements: still said; an error: the reference's line only
    status, out, err = measure([*argv[:-7], "--no-measurements", *argv[-7:]], capsys)
    assert (status, out, err) == (0, "", [NOT_A_REALM])
