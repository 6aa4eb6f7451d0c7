"""The new-user walkthrough's findings (issue 18) on ``rmtool measure``, each written as
the mistake it stops, for ``rmtool measure`` and (unchanged) ``realm-measurements``.

Inputs come from :mod:`rmtool.examples` (``python -m rmtool.examples inputs DIR``). What
each VMM really does is cited where rmtool refuses: kvmtool ``builtin-run.c`` (``-c 0``
is the host's online CPU count) and ``arm/aarch64`` ``ARM_MAX_MEMORY`` (2^IPA minus the
RAM base), QEMU ``hw/core/machine-smp.c`` (``cpus=0`` refused) and ``hw/arm/virt.c``
(the memory map's IPA width against the host's).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmtool.cli.main import realm_measurements, run
from rmtool.examples import write_inputs

G = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "-k", "Image", "-i", "initrd.cpio"]
KVM = ["kvmtool", "--realm", "-k", "Image", "-i", "initrd.cpio", "-m", "256M"]
QEMU_REALM = ["-M", "virt,confidential-guest-support=rme0", "-object", "rme-guest,id=rme0"]
QEMU = ["qemu", "-m", "256M", "-kernel", "Image", "-initrd", "initrd.cpio"]
CHV = ["cloud-hv", "--memory", "size=256M", "--kernel", "Image", "--initramfs",
       "initrd.cpio"]
ERR = "ERROR Cannot build parameters: "


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("walkthrough")
    write_inputs(d)
    return d


@pytest.fixture(autouse=True)
def here(inputs: Path) -> Iterator[Path]:
    old = os.getcwd()
    os.chdir(inputs)
    try:
        yield inputs
    finally:
        os.chdir(old)


def rmtool_measure(argv: list[str], capsys: pytest.CaptureFixture[str]
                   ) -> tuple[int, str, list[str]]:
    status = run(["measure", *argv])
    out, err = capsys.readouterr()
    return status, out, err.strip().splitlines()


def reference(argv: list[str], capsys: pytest.CaptureFixture[str]
              ) -> tuple[int, str, list[str]]:
    status = realm_measurements(argv)
    out, err = capsys.readouterr()
    return status, out, err.strip().splitlines()


# --------------------------------------------------------------------------- H2

@pytest.mark.parametrize(("argv", "reason"), [
    ([*KVM, "-c", "0"], "kvmtool -c 0 means the host's CPU count; give the count"),
    ([*QEMU, *QEMU_REALM, "-smp", "0"],
     "qemu -smp 0: QEMU refuses cpus=0 (hw/core/machine-smp.c: CPU topology parameters "
     "must be greater than zero); give the count"),
    ([*CHV, "--platform", "arm_rme=on", "--cpus", "boot=0"],
     "cloud-hypervisor --cpus boot=0 boots no vCPU (a Realm needs at least one); give "
     "the count"),
])
def test_zero_vcpus_is_not_measured(argv: list[str], reason: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A Realm of 0 vCPUs (or of the host's unknown count) used to be measured, exit 0."""
    assert rmtool_measure([*G, *argv], capsys) == (2, "", [ERR + reason])
    status, out, _ = reference([*G, *argv], capsys)  # the reference's output, kept
    assert status == 0 and out.startswith("RIM: ")


# --------------------------------------------------------------------------- H3

QEMU_NOT_REALM = ("WARN qemu without -M confidential-guest-support=ID and -object "
                  "rme-guest,id=ID: this is not a Realm; the measurements describe nothing "
                  "a Realm will report")
CHV_NOT_REALM = ("WARN cloud-hypervisor without --platform arm_rme=on: this is not a Realm; "
                 "the measurements describe nothing a Realm will report")


@pytest.mark.parametrize(("argv", "warning"), [
    (QEMU, QEMU_NOT_REALM),
    ([*QEMU, "-M", "virt,confidential-guest-support=rme0"], QEMU_NOT_REALM),
    ([*QEMU, "-object", "rme-guest,id=rme0"], QEMU_NOT_REALM),
    (CHV, CHV_NOT_REALM),
    ([*CHV, "--platform", "arm_rme=off"], CHV_NOT_REALM),
])
def test_non_realm_setup_is_warned_after_the_results(
        argv: list[str], warning: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = rmtool_measure([*G, *argv], capsys)
    assert status == 0 and out.startswith("RIM: ")
    assert err == [warning]
    status, out2, err = reference([*G, *argv], capsys)
    assert (status, out2, err) == (0, out, [])


@pytest.mark.parametrize("argv", [[*QEMU, *QEMU_REALM],
                                  [*CHV, "--platform", "arm_rme=on"]])
def test_realm_setup_has_no_warning(argv: list[str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = rmtool_measure([*G, *argv], capsys)
    assert (status, err) == (0, []) and out.startswith("RIM: ")


# --------------------------------------------------------------------------- H4, M3

@pytest.mark.parametrize(("argv", "reason"), [
    (["--ipa-bits", "40", *G, "kvmtool", "--realm", "-c", "1", "-m", "1T"],
     "kvmtool refuses this Realm: RAM size 0x10000000000 exceeds maximum allowed "
     "0xff80000000 (the host's IPA width is 40 bits, --ipa-bits)"),
    ([*G, "kvmtool", "--realm", "-c", "1", "-m", "4P"],
     "kvmtool refuses this Realm: RAM size 0x10000000000000 exceeds maximum allowed "
     "0xfffff80000000 (the host's IPA width is 52 bits, --ipa-bits)"),
    (["--ipa-bits", "40", *G, *QEMU[:2], "1T", *QEMU[3:], *QEMU_REALM],
     "qemu refuses this Realm: -m and ,maxmem option values require an IPA range (41 "
     "bits) larger than the one supported by the host (the host's IPA width is 40 bits, "
     "--ipa-bits)"),
    (["--ipa-bits", "40", *G, "cloud-hv", "--memory", "size=1T", "--platform",
      "arm_rme=on"],
     "cloud-hv refuses this Realm: --memory size=0x10000000000: RAM ends at "
     "0x10040000000, beyond the guest physical address space (the host's IPA width is 40 "
     "bits, --ipa-bits)"),
])
def test_ram_beyond_the_ipa_width_is_refused(argv: list[str], reason: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The reference clamps s2sz to the host's width and measures a Realm no VMM starts."""
    argv = [a for a in argv if a not in ("-k", "Image", "-i", "initrd.cpio")] \
        if "--kernel" not in argv and "-kernel" not in argv else argv
    assert rmtool_measure(argv, capsys) == (2, "", [ERR + reason])
    status, _, _ = reference(argv, capsys)
    assert status in (0, 1, 101)  # the reference's own verdict, unchanged


def test_huge_memory_is_an_error_line_not_a_panic(capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    argv = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "kvmtool", "--realm", "-c", "1",
            "-m", "99999999999G"]
    assert rmtool_measure(argv, capsys) == (2, "", [
        ERR + "kvmtool refuses this Realm: RAM size 0xd21db9ffc0000000 exceeds maximum "
        "allowed 0xfffff80000000 (the host's IPA width is 52 bits, --ipa-bits)"])
    status, _, err = reference(argv, capsys)  # the reference's Rust panic, kept
    assert (status, err) == (101, ["thread 'main' panicked at src/realm.rs:155:9:",
                                   "assertion failed: start < 1u64 << 63"])


# --------------------------------------------------------------------------- M4

SHA384_HINT = ("hint: sha384 needs an RMM that has it: pass --rmm-version 2.0 before the "
               "VMM name (rmtool measure --rmm-version 2.0 ...; this run models RMM "
               "1.0-rel0)")


@pytest.mark.parametrize("argv", [
    [*KVM, "-c", "1", "--measurement-algo", "sha384"],
    [*QEMU, "-M", "virt,confidential-guest-support=rme0", "-object",
     "rme-guest,id=rme0,measurement-algorithm=sha384"],
    [*CHV, "--platform", "arm_rme=on,measurement_algo=sha384"],
])
def test_sha384_without_rmm_2_names_the_option(argv: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    line = ERR + "RMM: unknown hash algorithm `sha384`"
    assert rmtool_measure([*G, *argv], capsys) == (2, "", [line, SHA384_HINT])
    assert reference([*G, *argv], capsys) == (1, "", [line])
    status, out, _ = rmtool_measure(["--rmm-version", "2.0", *G, *argv], capsys)
    assert status == 0 and len(out.splitlines()[0]) == len("RIM: ") + 96


# --------------------------------------------------------------------------- M6, L1

@pytest.mark.parametrize(("argv", "lines"), [
    ([*KVM, "-c", "1", "--format", "json"],
     ["error: unexpected argument '--format' found", "",
      "Usage: rmtool measure kvmtool [OPTIONS]",
      "hint: --format is a global option of rmtool measure: put it before the VMM name"]),
    (["kvmtool", "--realm", "-c", "qemu-max-8.2.conf", "-c", "2", "-m", "256M"],
     ["error: invalid value 'qemu-max-8.2.conf' for '--cpus <CPUS>': invalid digit found "
      "in string",
      "hint: -c qemu-max-8.2.conf: -c FILE (host capabilities) is a global option of "
      "rmtool measure: put it before the VMM name (after it, -c is the kvmtool vCPU "
      "count)"]),
    (["kvmtool", "--realm", "-c", "1", "--kernal", "Image"],
     ["error: unexpected argument '--kernal' found", "",
      "Usage: rmtool measure kvmtool [OPTIONS]", "hint: did you mean '--kernel'?"]),
    (["cloud-hv", "--kernal", "Image"],
     ["error: unexpected argument '--kernal' found", "hint: did you mean '--kernel'?"]),
    (["cloud-hv", "--kernel", "Image", "--initrd", "initrd.cpio"],
     ["error: unexpected argument '--initrd' found", "hint: did you mean '--initramfs'?"]),
])
def test_misplaced_or_misspelt_options_get_a_hint(
        argv: list[str], lines: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert rmtool_measure(argv, capsys) == (2, "", lines)
    # realm-measurements: the reference's clap text, its own name in the usage line
    reference_lines = [line.replace("rmtool measure", "realm-measurements")
                       for line in lines if not line.startswith("hint:")]
    assert reference(argv, capsys) == (2, "", reference_lines)


# --------------------------------------------------------------------------- M8

@pytest.mark.parametrize(("argv", "option"), [
    ([*KVM, "-c", "1"], "--measurement-algo"),
    ([*QEMU, *QEMU_REALM], "-object rme-guest,measurement-algorithm="),
    ([*CHV, "--platform", "arm_rme=on"], "--platform measurement_algo="),
])
def test_hash_algo_is_said_to_be_ignored(argv: list[str], option: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = rmtool_measure(["--hash-algo", "sha256", *G, *argv], capsys)
    assert status == 0
    assert err == [f"WARN --hash-algo sha256 is ignored (as by the reference tool): the "
                   f"Realm's algorithm is the VMM's, set with {option} after the VMM name"]
    plain = rmtool_measure([*G, *argv], capsys)
    assert plain[1] == out  # the same measurement: the option changed nothing
    assert reference(["--hash-algo", "sha256", *G, *argv], capsys) == (0, out, [])


# --------------------------------------------------------------------------- L10

def test_bios_without_global_firmware_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*G, *QEMU, *QEMU_REALM, "-bios", "QEMU_EFI.fd"]
    assert rmtool_measure(argv, capsys) == (2, "", [
        ERR + "need firmware image",
        "hint: the VMM loads a firmware: pass its content with the global -f QEMU_EFI.fd, "
        "before the VMM name (rmtool measure -f QEMU_EFI.fd VMM ...)"])
    assert reference(argv, capsys) == (1, "", [ERR + "need firmware image"])


def test_blob_beyond_the_ipa_width_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A firmware loaded at 2 TiB on a 40-bit host: kvmtool cannot load it there (it is
    outside RAM), the reference measures it."""
    fw = tmp_path / "fw.bin"
    fw.write_bytes(bytes(4096))
    argv = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "--ipa-bits", "40", "-f", str(fw),
            "kvmtool", "--realm", "-c", "1", "-m", "256M", "-f", str(fw),
            "--firmware-address", str(2 << 40)]
    assert rmtool_measure(argv, capsys) == (2, "", [
        ERR + "kvmtool refuses this Realm: the FIRMWARE at 0x20000000000 (4096 bytes) ends "
        "beyond the guest physical address space (the host's IPA width is 40 bits, "
        "--ipa-bits)"])
    status, out, _ = reference(argv, capsys)
    assert status == 0 and out.startswith("RIM: ")
    argv[-1] = str(1 << 28)  # inside the IPA space: measured
    status, out, err = rmtool_measure(argv, capsys)
    assert (status, err) == (0, []) and out.startswith("RIM: ")
