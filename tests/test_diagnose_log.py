"""`rmtool diagnose TOKEN --log LOG -- MEASURE_ARGS`: every cause the log can show.

Each case is a failed attestation made the way it happens: the Realm was started with
an *actual* command line that differs from the *expected* one. `rmtool measure
--emit-log` of the actual configuration writes the log the VMM would have written, the
token carries the actual Realm's RIM/REMs (tests/tokens.py, keys generated here), and
`diagnose` gets the expected MEASURE_ARGS. Each test asserts the parameter, both
values, that nothing else is named, and that `reproduced_by` given to `rmtool measure`
prints exactly the token's RIM and REMs. Inputs: the small example images
(`rmtool.examples.write_inputs`) and other builds of them written here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rmtool.cli.main import run
from rmtool.eventlog import _constants as c
from rmtool.eventlog.build import blob2, event2
from rmtool.examples import arm64_image, firmware, initrd, write_inputs
from tests import tokens

HOST = ["--num-wps", "6", "--num-bps", "6", "--ipa-bits", "48", "--pmu-num-ctrs", "6"]
KVMTOOL = [*HOST, "-k", "Image", "-i", "initrd.cpio", "kvmtool", "--realm", "-c", "2",
           "-m", "256M", "-k", "Image", "-i", "initrd.cpio"]
QEMU = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "-k", "Image", "-i", "initrd.cpio",
        "qemu", "-M", "confidential-guest-support=rme0",
        "-object", "rme-guest,id=rme0,measurement-algorithm=sha256,measurement-log=on",
        "-cpu", "host", "-M", "virt", "-enable-kvm", "-smp", "2", "-m", "1G", "-nographic",
        "-kernel", "Image", "-initrd", "initrd.cpio", "-append", "console=hvc0"]
CLOUDHV = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "-k", "Image", "-i", "initrd.cpio",
           "cloud-hv", "--cpus", "boot=2", "--memory", "size=1G", "--kernel", "Image",
           "--initramfs", "initrd.cpio", "--cmdline", "console=hvc0",
           "--platform", "arm_rme=on,measurement_algo=sha256"]
BASES = {"kvmtool": KVMTOOL, "qemu": QEMU, "cloud-hv": CLOUDHV}
MIB = 1 << 20


@dataclass
class Box:
    dir: Path
    cpak: Path
    capsys: pytest.CaptureFixture[str]
    n: int = 0

    def cli(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(list(args))
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def measure(self, argv: Sequence[str], *extra: str) -> dict[str, Any]:
        code, out, err = self.cli("measure", "--format", "json", *extra, *argv)
        assert code == 0, err
        doc: dict[str, Any] = json.loads(out)
        return doc

    def realm(self, actual: Sequence[str], *extra: str, rpv: bytes | None = None
              ) -> tuple[Path, Path, dict[str, Any]]:
        """The actual Realm's log and token (and its measure JSON)."""
        self.n += 1
        log = self.dir / f"actual-{self.n}.log"
        doc = self.measure(actual, "--emit-log", str(log), *extra)
        token = self.dir / f"token-{self.n}.cbor"
        token.write_bytes(tokens.from_measure_json(doc, rpv=rpv))
        return token, log, doc

    def diagnose(self, token: Path, expected: Sequence[str], *options: str
                 ) -> tuple[int, dict[str, Any]]:
        code, out, err = self.cli("diagnose", str(token), "--platform-key", str(self.cpak),
                                  "--store", str(self.dir / "store.db"), "--format", "json",
                                  *options, "--", *expected)
        assert code in (0, 1, 3), err
        doc: dict[str, Any] = json.loads(out)
        return code, doc

    def reproduces(self, doc: dict[str, Any], token_doc: dict[str, Any]) -> None:
        """`rmtool measure REPRODUCED_BY` prints the token's RIM and REMs."""
        assert doc["reproduced_by"] is not None, doc
        again = self.measure(doc["reproduced_by"])
        assert (again["rim"], again["rems"]) == (token_doc["rim"], token_doc["rems"])


def make_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example inputs, other builds of each image under alt/, an empty directory."""
    d = tmp_path_factory.mktemp("diagnose")
    write_inputs(d)
    alt = d / "alt"
    alt.mkdir()
    (alt / "Image").write_bytes(arm64_image(label="a kernel built from other sources"))
    (alt / "initrd.cpio").write_bytes(initrd("an initrd with another init"))
    (alt / "QEMU_EFI.fd").write_bytes(firmware()[:-4096] + b"\xee" * 4096)
    (d / "empty").mkdir()
    return d


def make_box(inputs: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Box]:
    """A Box working in ``inputs`` (relative image paths, as a user types them)."""
    old = os.getcwd()
    os.chdir(inputs)
    try:
        yield Box(inputs, tokens.generated_keys().cpak_pem(inputs), capsys)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_inputs(tmp_path_factory)


@pytest.fixture
def box(inputs: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Box]:
    yield from make_box(inputs, capsys)


def swap(argv: Sequence[str], old: Sequence[str], new: Sequence[str]) -> list[str]:
    """``argv`` with every occurrence of the word sequence ``old`` replaced by ``new``."""
    out: list[str] = []
    i = 0
    found = False
    while i < len(argv):
        if list(argv[i:i + len(old)]) == list(old):
            out += new
            i += len(old)
            found = True
        else:
            out.append(argv[i])
            i += 1
    assert found, (old, argv)
    return out


def alt(box: Box, name: str) -> str:
    """A file under ``--images alt`` as the image store names it (its real path)."""
    return str((box.dir / "alt" / name).resolve())


def causes(doc: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    found = {c["parameter"]: (c["expected"], c["actual"]) for c in doc["causes"]}
    assert len(found) == len(doc["causes"]), doc["causes"]
    return found


def check(box: Box, expected: list[str], actual: list[str],
          want: dict[str, tuple[Any, Any]], *options: str, dtb: bool = False,
          rpv: bytes | None = None) -> dict[str, Any]:
    """Diagnose the actual Realm's token against ``expected``: exactly ``want`` is named
    and ``reproduced_by`` reproduces the token. ``dtb``: the actual Realm's DTB file is
    under ``--images alt`` (as ``--output-dtb`` wrote it)."""
    extra = ["--output-dtb", str(box.dir / "alt" / f"realm-{box.n + 1}.dtb")] if dtb else []
    token, log, token_doc = box.realm(actual, *extra, rpv=rpv)
    code, doc = box.diagnose(token, expected, "--log", str(log), *options)
    assert causes(doc) == want, doc
    assert (code, doc["verdict"]) == (1, "mismatch")
    assert all(c["evidence"] in ("log", "claim") for c in doc["causes"])
    box.reproduces(doc, token_doc)
    return doc


# ---------------------------------------------------------------- control and forgery


@pytest.mark.parametrize("vmm", list(BASES))
def test_control_token_of_the_expected_realm_is_a_match(box: Box, vmm: str) -> None:
    token, log, token_doc = box.realm(BASES[vmm])
    code, doc = box.diagnose(token, BASES[vmm], "--log", str(log))
    assert (code, doc["verdict"], doc["causes"]) == (0, "match", [])
    assert doc["verification"]["result"] == "pass"
    box.reproduces(doc, token_doc)


def test_forged_realm_signature_is_never_a_match(box: Box) -> None:
    """An attacker signs the expected Realm's claims with their own key: the claims
    match, the verdict must not."""
    doc0 = box.measure(KVMTOOL)
    forged = box.dir / "forged.cbor"
    forged.write_bytes(tokens.forged(bytes.fromhex(doc0["rim"]),
                                     [bytes.fromhex(r) for r in doc0["rems"]]))
    code, doc = box.diagnose(forged, KVMTOOL)
    assert code == 1 and doc["verdict"] == "mismatch"
    assert doc["verification"]["result"] == "fail"
    failed = [c["check"] for c in doc["verification"]["checks"] if c["status"] == "fail"]
    assert failed == ["realm.signature"]
    assert "realm.signature" in doc["errors"][0]["message"]
    code, out, _ = box.cli("diagnose", str(forged), "--platform-key", str(box.cpak), "--",
                           *KVMTOOL)
    assert code == 1 and "verdict: MISMATCH (token verification failed: realm.signature" in out


def test_missing_trust_anchor_is_never_a_match(box: Box) -> None:
    token, _, _ = box.realm(KVMTOOL)
    code, out, _ = box.cli("diagnose", str(token), "--", *KVMTOOL)
    assert code == 1 and "platform.signature" in out and "MATCH\n" not in out


# ---------------------------------------------------------------- kvmtool


def test_kvmtool_memory_size(box: Box) -> None:
    doc = check(box, KVMTOOL, swap(KVMTOOL, ["-m", "256M"], ["-m", "512M"]),
                {"memory_size": (256 * MIB, 512 * MIB)})
    assert "VM VERSION" in doc["causes"][0]["detail"]


def test_kvmtool_memory_size_table_line(box: Box) -> None:
    token, log, _ = box.realm(swap(KVMTOOL, ["-m", "256M"], ["-m", "1G"]))
    code, out, _ = box.cli("diagnose", str(token), "--platform-key", str(box.cpak),
                           "--log", str(log), "--", *KVMTOOL)
    assert code == 1
    assert "memory size: expected 256 MiB, the token's Realm had 1 GiB (-m 1G) [log]" in out
    assert "reproduced by: rmtool measure " in out


def test_kvmtool_cpus(box: Box) -> None:
    check(box, KVMTOOL, swap(KVMTOOL, ["-c", "2"], ["-c", "4"]), {"cpus": (2, 4)})


def test_kvmtool_kernel_found_under_images(box: Box) -> None:
    doc = check(box, KVMTOOL, swap(KVMTOOL, ["-k", "Image"], ["-k", "alt/Image"]),
                {"kernel": ("Image", alt(box, "Image"))}, "--images", "alt")
    digest = hashlib.sha256((box.dir / "alt" / "Image").read_bytes()).hexdigest()
    assert digest in doc["causes"][0]["detail"]


def test_kvmtool_initrd_not_found_names_digest(box: Box) -> None:
    token, log, _ = box.realm(swap(KVMTOOL, ["-i", "initrd.cpio"], ["-i", "alt/initrd.cpio"]))
    code, doc = box.diagnose(token, KVMTOOL, "--log", str(log), "--images", "empty")
    digest = hashlib.sha256((box.dir / "alt" / "initrd.cpio").read_bytes()).hexdigest()
    assert causes(doc) == {"initrd": ("initrd.cpio", digest)}
    assert "no file under --images" in doc["causes"][0]["detail"]
    assert (code, doc["reproduced_by"]) == (1, None)


def test_kvmtool_bootargs_from_the_dtb_file(box: Box) -> None:
    dtb = box.dir / "alt" / "kvmtool.dtb"
    actual = [*KVMTOOL, "-p", "console=ttyS0 quiet"]
    token, log, token_doc = box.realm(actual, "--output-dtb", str(dtb))
    code, doc = box.diagnose(token, KVMTOOL, "--log", str(log), "--images", "alt")
    got = causes(doc)
    assert list(got) == ["bootargs"]
    exp, act = got["bootargs"]
    assert act.endswith("console=ttyS0 quiet") and not exp.endswith("quiet")
    assert "/chosen" in doc["causes"][0]["detail"]
    box.reproduces(doc, token_doc)
    dtb.unlink()


def test_kvmtool_dtb_unknown_without_its_file(box: Box) -> None:
    token, log, _ = box.realm([*KVMTOOL, "-p", "console=ttyS0 quiet"])
    code, doc = box.diagnose(token, KVMTOOL, "--log", str(log), "--images", "empty")
    got = causes(doc)
    assert list(got) == ["dtb"]
    assert "give the Realm's DTB file under --images" in doc["causes"][0]["detail"]
    assert (code, doc["verdict"], doc["reproduced_by"]) == (1, "mismatch", None)


@pytest.mark.parametrize(("option", "old", "new", "parameter", "want"), [
    ("--num-wps", "6", "4", "num_wps", (6, 4)),
    ("--num-bps", "6", "2", "num_bps", (6, 2)),
    ("--ipa-bits", "48", "32", "ipa_bits", (33, 32)),  # kvmtool: s2sz from RAM, capped
])
def test_kvmtool_host_capability(box: Box, option: str, old: str, new: str, parameter: str,
                                 want: tuple[int, int]) -> None:
    check(box, KVMTOOL, swap(KVMTOOL, [option, old], [option, new]), {parameter: want})


def test_kvmtool_sve_vl(box: Box) -> None:
    check(box, KVMTOOL, ["--sve-vl", "256", *KVMTOOL], {"sve_vl": (0, 256)})


def test_kvmtool_hash_algo_is_claim_evidence(box: Box) -> None:
    actual = swap(KVMTOOL, ["--realm"], ["--realm", "--measurement-algo", "sha512"])
    doc = check(box, KVMTOOL, actual, {"hash_algo": ("sha256", "sha512")})
    assert doc["causes"][0]["evidence"] == "claim"


def test_kvmtool_rmm_version(box: Box) -> None:
    check(box, KVMTOOL, ["--rmm-version", "2.0", *KVMTOOL],
          {"rmm_version": ("1.0-rel0", "2.0")})


def test_kvmtool_two_changes_at_once(box: Box) -> None:
    actual = swap(swap(KVMTOOL, ["-m", "256M"], ["-m", "1G"]), ["-c", "2"], ["-c", "3"])
    check(box, KVMTOOL, actual, {"memory_size": (256 * MIB, 1024 * MIB), "cpus": (2, 3)})


def test_kvmtool_unlogged_rem_extension(box: Box) -> None:
    """The token's REM0 was extended by something the log does not record."""
    token_doc = box.measure(KVMTOOL)
    log = box.dir / "rem.log"
    box.measure(KVMTOOL, "--emit-log", str(log))
    secret = hashlib.sha256(b"an unlogged extension").digest()
    rem0 = hashlib.sha256(bytes(32) + secret).digest()
    token = box.dir / "rem.cbor"
    rems = [rem0, *(bytes.fromhex(r) for r in token_doc["rems"][1:])]
    token.write_bytes(tokens.token_bytes(bytes.fromhex(token_doc["rim"]), rems))
    code, doc = box.diagnose(token, KVMTOOL, "--log", str(log))
    assert causes(doc) == {"rem0": (token_doc["rems"][0], rem0.hex())}
    assert "do not give the token's REM0" in doc["causes"][0]["detail"]
    assert (code, doc["verdict"], doc["reproduced_by"]) == (1, "mismatch", None)


# ---------------------------------------------------------------- QEMU


def test_qemu_memory_size(box: Box) -> None:
    check(box, QEMU, swap(QEMU, ["-m", "1G"], ["-m", "2G"]),
          {"memory_size": (1024 * MIB, 2048 * MIB)})


def test_qemu_cpus(box: Box) -> None:
    check(box, QEMU, swap(QEMU, ["-smp", "2"], ["-smp", "4"]), {"cpus": (2, 4)})


def test_qemu_initrd(box: Box) -> None:
    actual = swap(swap(QEMU, ["-i", "initrd.cpio"], ["-i", "alt/initrd.cpio"]),
                  ["-initrd", "initrd.cpio"], ["-initrd", "alt/initrd.cpio"])
    check(box, QEMU, actual, {"initrd": ("initrd.cpio", alt(box, "initrd.cpio"))},
          "--images", "alt")


def test_qemu_bootargs(box: Box) -> None:
    actual = swap(QEMU, ["-append", "console=hvc0"], ["-append", "console=hvc0 nokaslr"])
    check(box, QEMU, actual, {"bootargs": ("console=hvc0", "console=hvc0 nokaslr")},
          "--images", "alt", dtb=True)


def test_qemu_num_wps(box: Box) -> None:
    check(box, QEMU, [*QEMU[:4], "--num-wps", "2", *QEMU[4:]], {"num_wps": (4, 2)})


def test_qemu_sve_vl(box: Box) -> None:
    check(box, QEMU, [*QEMU[:4], "--sve-vl", "512", *QEMU[4:]], {"sve_vl": (2048, 512)})


def test_qemu_hash_algo_and_rpv_claims(box: Box) -> None:
    actual = swap(QEMU, ["rme-guest,id=rme0,measurement-algorithm=sha256,measurement-log=on"],
                  ["rme-guest,id=rme0,measurement-algorithm=sha512,measurement-log=on"])
    check(box, QEMU, actual, {"hash_algo": ("sha256", "sha512"),
                              "personalization_value": ("00" * 64, "ab" * 64)},
          rpv=b"\xab" * 64)


# ---------------------------------------------------------------- cloud-hypervisor


def test_cloudhv_memory_size(box: Box) -> None:
    check(box, CLOUDHV, swap(CLOUDHV, ["size=1G"], ["size=2G"]),
          {"memory_size": (1024 * MIB, 2048 * MIB)})


def test_cloudhv_cpus(box: Box) -> None:
    check(box, CLOUDHV, swap(CLOUDHV, ["boot=2"], ["boot=3"]), {"cpus": (2, 3)})


def test_cloudhv_kernel(box: Box) -> None:
    actual = swap(CLOUDHV, ["-k", "Image"], ["-k", "alt/Image"])
    check(box, CLOUDHV, actual, {"kernel": ("Image", alt(box, "Image"))}, "--images", "alt")


def test_cloudhv_bootargs(box: Box) -> None:
    actual = swap(CLOUDHV, ["--cmdline", "console=hvc0"], ["--cmdline", "console=ttyAMA0"])
    check(box, CLOUDHV, actual, {"bootargs": ("console=hvc0", "console=ttyAMA0")},
          "--images", "alt", dtb=True)


def test_cloudhv_pmu_num_ctrs_and_memory(box: Box) -> None:
    actual = swap([*CLOUDHV[:4], "--pmu-num-ctrs", "2", *CLOUDHV[4:]], ["size=1G"],
                  ["size=512M"])
    check(box, CLOUDHV, actual, {"memory_size": (1024 * MIB, 512 * MIB),
                                 "pmu_num_ctrs": (6, 2)})


# ---------------------------------------------------------------- firmware, REMs, DTB nodes

QEMU_FW = [*QEMU[:8], "-f", "QEMU_EFI.fd", *QEMU[8:], "-bios", "QEMU_EFI.fd"]


def test_qemu_firmware(box: Box) -> None:
    actual = swap(QEMU_FW, ["QEMU_EFI.fd"], ["alt/QEMU_EFI.fd"])
    check(box, QEMU_FW, actual, {"firmware": ("QEMU_EFI.fd", alt(box, "QEMU_EFI.fd"))},
          "--images", "alt")


def test_qemu_kernel_loaded_by_firmware_into_rem0(box: Box) -> None:
    """With firmware the kernel is measured into REM0 (EDK2), not the RIM: the kernel is
    named, and REM0 is not named again."""
    actual = swap(QEMU_FW, ["-k", "Image"], ["-k", "alt/Image"])
    doc = check(box, QEMU_FW, actual, {"kernel": ("Image", alt(box, "Image"))},
                "--images", "alt")
    assert "into REM0" in doc["causes"][0]["detail"]


def test_kvmtool_initrd_absent(box: Box) -> None:
    actual = [w for w in KVMTOOL if w not in ("-i", "initrd.cpio")]
    check(box, KVMTOOL, actual, {"initrd": ("initrd.cpio", None)})


def test_qemu_its_off_is_a_dtb_node(box: Box) -> None:
    """A DTB difference no knob expresses: the node is named (DTB regenerated from the
    log's facts, digest checked), and the Realm's DTB file reproduces it (--dtb)."""
    actual = swap(QEMU, ["-M", "virt"], ["-M", "virt,its=off"])
    token, log, token_doc = box.realm(actual, "--output-dtb",
                                      str(box.dir / "alt" / "qemu-its-off.dtb"))
    code, doc = box.diagnose(token, QEMU, "--log", str(log), "--images", "empty")
    assert {c["parameter"] for c in doc["causes"]} == {"dtb"}
    details = " ".join(c["detail"] for c in doc["causes"])
    assert "its@" in details and "regenerated by the QEMU generator" in details
    assert (code, doc["verdict"], doc["reproduced_by"]) == (1, "mismatch", None)
    code, doc = box.diagnose(token, QEMU, "--log", str(log), "--images", "alt")
    assert {c["parameter"] for c in doc["causes"]} == {"dtb"}
    box.reproduces(doc, token_doc)
    assert doc["reproduced_by"][:2] == ["--dtb", alt(box, "qemu-its-off.dtb")]


def test_qemu_pmu_off(box: Box) -> None:
    check(box, QEMU, [*QEMU[:4], "--pmu", "false", *QEMU[4:]], {"pmu": (True, False)})


def test_qemu_ipa_bits(box: Box) -> None:
    check(box, QEMU, [*QEMU[:4], "--ipa-bits", "40", *QEMU[4:]], {"ipa_bits": (41, 40)})


def test_kvmtool_pmu_on_brings_its_counters(box: Box) -> None:
    """--pmu true in the token's Realm: the PMU is named, not the counter count that
    MEASURE_ARGS already gave (6)."""
    check(box, KVMTOOL, ["--pmu", "true", *KVMTOOL], {"pmu": (False, True)})


def test_cloudhv_unknown_initrd_names_no_dtb_node(box: Box) -> None:
    """The token's initrd is known only by its digest: its range in /chosen is part of
    the initrd cause, not a DTB difference of its own."""
    actual = swap(CLOUDHV, ["-i", "initrd.cpio"], ["-i", "alt/initrd.cpio"])
    token, log, _ = box.realm(actual)
    code, doc = box.diagnose(token, CLOUDHV, "--log", str(log), "--images", "empty")
    digest = hashlib.sha256((box.dir / "alt" / "initrd.cpio").read_bytes()).hexdigest()
    assert causes(doc) == {"initrd": ("initrd.cpio", digest)}
    assert (code, doc["reproduced_by"]) == (1, None)
    assert any("give it under --images" in e["message"] for e in doc["errors"])


def test_cloudhv_sha384_needs_rmm_2_0(box: Box) -> None:
    """SHA-384 exists only in RMM 2.0: the algorithm (claim) and the RMM version (the
    log's operations give the token's RIM under 2.0) are both named."""
    actual = ["--rmm-version", "2.0", *swap(CLOUDHV, ["arm_rme=on,measurement_algo=sha256"],
                                             ["arm_rme=on,measurement_algo=sha384"])]
    check(box, CLOUDHV, actual, {"hash_algo": ("sha256", "sha384"),
                                 "rmm_version": ("1.0-rel0", "2.0")})


def test_images_may_name_single_files(box: Box) -> None:
    """--images FILE: a DTB or kernel named directly (not a directory or checksum file)."""
    dtb = box.dir / "single.dtb"
    actual = swap([*KVMTOOL, "-p", "earlycon"], ["-k", "Image"], ["-k", "alt/Image"])
    token, log, token_doc = box.realm(actual, "--output-dtb", str(dtb))
    code, doc = box.diagnose(token, KVMTOOL, "--log", str(log), "--images", str(dtb),
                             "--images", "alt/Image")
    got = causes(doc)
    assert got["kernel"] == ("Image", alt(box, "Image"))
    assert got["bootargs"][1].endswith("earlycon") and set(got) == {"kernel", "bootargs"}
    box.reproduces(doc, token_doc)
    dtb.unlink()


def test_kvmtool_logged_rem_extension_is_named_with_its_event(box: Box) -> None:
    """A firmware component the expected Realm does not load, logged on REM1 (RSI index
    2): the log explains the token's REM1, and the cause names that event."""
    token_doc = box.measure(KVMTOOL)
    log = box.dir / "rem1.log"
    box.measure(KVMTOOL, "--emit-log", str(log))
    component = hashlib.sha256(b"a boot loader nobody expected").digest()
    events = log.read_bytes()
    number = 8  # the emitted kvmtool log has events 0..7
    log.write_bytes(events + event2(2, c.EV_EFI_PLATFORM_FIRMWARE_BLOB2,
                                    [("sha256", component)],
                                    blob2(b"GRUB", 0x7000_0000, 0x1000)))
    rem1 = hashlib.sha256(bytes(32) + component).digest()
    rems = [bytes.fromhex(token_doc["rems"][0]), rem1,
            *(bytes.fromhex(r) for r in token_doc["rems"][2:])]
    token = box.dir / "rem1.cbor"
    token.write_bytes(tokens.token_bytes(bytes.fromhex(token_doc["rim"]), rems))
    code, doc = box.diagnose(token, KVMTOOL, "--log", str(log))
    assert causes(doc) == {"rem1": (token_doc["rems"][1], rem1.hex())}
    detail = doc["causes"][0]["detail"]
    assert f"event {number} (GRUB, digest {component.hex()})" in detail
    assert (code, doc["verdict"], doc["reproduced_by"]) == (1, "mismatch", None)


def test_log_without_vm_version_uses_ripas_ranges(box: Box) -> None:
    """A log with no VM VERSION event: the RAM size comes from the INIT_RIPAS ranges."""
    from rmtool.eventlog import parse

    token, log, token_doc = box.realm(swap(KVMTOOL, ["-m", "256M"], ["-m", "512M"]))
    data = log.read_bytes()
    vm = next(ev for ev in parse(data).events if ev.number == 1)
    assert vm.data.startswith(b"VM VERSION")
    log.write_bytes(data[:vm.offset] + data[vm.offset + vm.size:])
    code, doc = box.diagnose(token, KVMTOOL, "--log", str(log))
    assert causes(doc) == {"memory_size": (256 * MIB, 512 * MIB)}
    assert "INIT_RIPAS ranges total 512 MiB" in doc["causes"][0]["detail"]
    box.reproduces(doc, token_doc)
