"""A new user's walkthrough (issue 18's acceptance): the rough edges it found, each as the
mistake a user makes and what rmtool now says about it (exact text and exit status).

Inputs are the example files of ``python -m rmtool.examples inputs DIR`` (the README's
``ex``), files rmtool writes from them (``realm.corim``, ``realm.dtb``, ``realm.log``), keys
generated here with ``cryptography``, and third-party samples of ../shared/corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.cli.main import run
from rmtool.eventlog.build import minimal_rem_log
from rmtool.examples import write_inputs
from tests.conftest import CORPUS, ROOT, need_shared

HOST = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf"]
KVMTOOL = ["kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i", "initrd.cpio",
           "--measurement-log", "-p", "console=hvc0"]
SIZE_HINT = ("expected a size such as 512M (a number and at most one upper-case suffix B, K, "
             "M, G, T or P; no suffix means MiB)")


@pytest.fixture()
def ex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``python -m rmtool.examples inputs ex && cd ex``, plus the README's measure command
    writing realm.dtb, realm.corim and realm.log."""
    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(["measure", *HOST, "-k", "Image", "-i", "initrd.cpio", "--output-dtb",
                "realm.dtb", "--corim-output", "realm.corim", "--emit-log", "realm.log",
                *KVMTOOL]) == 0
    return tmp_path


def _err(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def _pem_key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


# ------------------------------------------------------------ L2: wrong file types


def test_corim_create_from_an_event_log_says_it_is_a_log(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It said "'utf-32-be' codec can't decode bytes in position 4-7" (json guessing the
    encoding of a binary file)."""
    assert run(["corim", "create", "realm.log", "-o", "x.corim"]) == 2
    assert _err(capsys) == [
        "ERROR measurements realm.log is a TCG event log, not JSON (give the output of "
        "rmtool measure --format json); rmtool log show reads it (field measurements)"]
    assert not (ex / "x.corim").exists()


def test_corim_create_from_a_third_party_tpm_log(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    log = CORPUS / "eventlogs" / "tpm2" / "goattest_crypto_agile_eventlog.bin"
    assert run(["corim", "create", str(log), "-o", str(tmp_path / "x.corim")]) == 2
    err = capsys.readouterr().err
    assert "is a TCG event log, not JSON" in err and "codec" not in err


def test_launch_config_that_is_a_corim_is_named(ex: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """It said "'utf-8' codec can't decode byte 0xd9 in position 0"."""
    assert run(["launch", "--config", "realm.corim"]) == 2
    assert _err(capsys) == [
        "ERROR invalid launch config: realm.corim is a CoRIM, not a TOML launch "
        "configuration; try rmtool corim show realm.corim"]


def test_launch_config_of_random_bytes_says_toml(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "noise.bin"
    bad.write_bytes(b"\xff\xfe\x00\x81" * 8)
    assert run(["launch", "--config", str(bad)]) == 2
    assert _err(capsys) == [f"ERROR invalid launch config {bad}: not UTF-8 text (byte 0); "
                            "a launch config is a TOML file"]


# ------------------------------------------------------------ L3: RIM sizes


def test_rim_of_wrong_size_lists_the_valid_sizes_up_front(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It said "give --hash-algo", then with one "expected 32": the valid sizes were
    learnt one error at a time."""
    out = str(tmp_path / "bad.corim")
    sizes = "a RIM is 32 (sha256), 48 (sha384) or 64 (sha512) bytes"
    assert run(["corim", "create", "--rim", "1234", "-o", out]) == 2
    assert _err(capsys) == [f"ERROR RIM is 2 bytes; {sizes}, the size choosing the algorithm "
                            "(or give --hash-algo) (field rim)"]
    assert run(["corim", "create", "--rim", "1234", "--hash-algo", "sha256", "-o", out]) == 2
    assert _err(capsys) == [f"ERROR RIM is 2 bytes; {sizes}; --hash-algo sha256 needs 32 "
                            "(field rim)"]
    # a 48-byte RIM forced to sha256 is refused, not truncated
    assert run(["corim", "create", "--rim", "ab" * 48, "--hash-algo", "sha256", "-o", out]) == 2
    assert "RIM is 48 bytes" in capsys.readouterr().err
    assert not Path(out).exists()
    # the sizes it names work
    assert run(["corim", "create", "--rim", "ab" * 48, "-o", out]) == 0
    assert "hash_algo   sha384" in capsys.readouterr().out


# ------------------------------------------------------------ L4: corim verify


def test_verify_of_an_unsigned_corim_says_nothing_to_verify(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pem_key(ex / "signer.pem")
    assert run(["corim", "verify", "realm.corim", "--key", "signer.pem"]) == 2
    assert _err(capsys) == ["ERROR realm.corim is an unsigned CoRIM: nothing to verify "
                            "(corim verify checks a signed CoRIM) (field file)"]


def test_decode_error_names_the_file(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """cocli's bad-signature sample went through a UTF-8 conversion (ef bf bd where binary
    bytes were): the error named "file", not the file, and not why."""
    need_shared()
    bad = CORPUS / "corim" / "cbor" / "cocli_corim_signed-corim-bad-signature.cbor"
    _pem_key(tmp_path / "k.pem")
    expected = [f"ERROR {bad}: 803 trailing bytes after the CBOR item; it holds U+FFFD "
                "replacement characters (ef bf bd), as a binary file saved through a text "
                "(UTF-8) conversion does (offset 0x77)"]
    assert run(["corim", "verify", str(bad), "--key", str(tmp_path / "k.pem")]) == 2
    assert _err(capsys) == expected
    assert run(["corim", "show", str(bad)]) == 2
    assert _err(capsys) == expected


# ------------------------------------------------------------ L5: launch --memory


def test_launch_memory_typo_names_the_launch_option_without_noise(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It said "-m 512X" (a word of the command line rmtool wrote) after two "WARN
    Parameter -serial ignored" lines about rmtool's own arguments."""
    for vmm in ("qemu", "kvmtool", "cloud-hv"):
        assert run(["launch", "--config", "launch.toml", "--memory", "512X",
                    "--vmm", vmm]) == 2
        assert _err(capsys) == [f"ERROR --memory 512X: {SIZE_HINT}"]
    assert not (ex / "out" / "run-qemu.sh").exists()


# ------------------------------------------------------------ L6: a closed stdout


def _head_then_close(args: list[str], cwd: Path, head: int) -> tuple[bytes, int, bytes]:
    """``rmtool ARGS | head -c HEAD``: read HEAD bytes (0: none), close the pipe, wait
    (temporary files under CWD/tmp)."""
    (cwd / "tmp").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(cwd / "tmp")}
    proc = subprocess.Popen([sys.executable, "-m", "rmtool.cli.main", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(head) if head else b""
    proc.stdout.close()
    err = proc.stderr.read()
    return first, proc.wait(timeout=300), err


def test_reader_that_stops_ends_the_command_quietly_with_141(tmp_path: Path) -> None:
    """`set -o pipefail; rmtool demo | head -1` exited 1, the status of a failed check.
    Now: no message, 128 + SIGPIPE as a C tool killed by the signal, never 0 (a verdict
    may not have been reached when the reader stopped). The reader here is gone before
    demo writes its first line (``| true``), so the outcome does not depend on timing."""
    first, status, err = _head_then_close(["demo"], tmp_path, 0)
    assert (status, err) == (141, b"")
    assert not list((tmp_path / "tmp").iterdir())  # demo still removed its temporary dir


def test_closed_stdout_on_a_long_json_document(tmp_path: Path) -> None:
    """``| head -c 64`` on a document far larger than a pipe buffer (the writer is still
    writing when the reader stops): the same quiet 141."""
    (tmp_path / "rem.log").write_bytes(minimal_rem_log(20_000))
    first, status, err = _head_then_close(
        ["log", "show", "--format", "json", "rem.log"], tmp_path, 64)
    assert first.startswith(b'{"schema":"rmtool/log-show/1"')
    assert (status, err) == (141, b"")


# ------------------------------------------------------------ L7: dtb diff


def test_dtb_diff_of_equal_trees_says_identical(ex: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """It printed nothing: indistinguishable from a command that did not run."""
    digest = hashlib.sha256((ex / "realm.dtb").read_bytes()).hexdigest()
    size = (ex / "realm.dtb").stat().st_size
    assert run(["dtb", "diff", "realm.dtb", "realm.dtb"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"identical: realm.dtb and realm.dtb are the same {size} bytes (sha256 {digest})"]


# ------------------------------------------------------------ L11: a kernel as a key


def test_kernel_image_given_as_platform_key_is_named(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It said "key Image is larger than 65536 bytes" (the size cap hid the mistake)."""
    need_shared()
    token = CORPUS / "tokens" / "tfmtools_cca_example_token.cbor"
    assert (ex / "Image").stat().st_size > 65536
    assert run(["token", "verify", str(token), "--platform-key", "Image"]) == 2
    assert _err(capsys) == ["ERROR Image is an arm64 Linux kernel Image, not a key"]
    assert run(["token", "verify", str(token), "--platform-key", "realm.dtb"]) == 2
    assert _err(capsys) == ["ERROR realm.dtb is a DTB (flattened device tree), not a key; "
                            "try rmtool dtb show realm.dtb"]


def test_oversized_file_of_unknown_kind_still_hits_the_cap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    token = CORPUS / "tokens" / "tfmtools_cca_example_token.cbor"
    big = tmp_path / "big.key"
    big.write_bytes(b"\x30" * 70000)
    assert run(["token", "verify", str(token), "--platform-key", str(big)]) == 2
    assert _err(capsys) == [f"ERROR key {big} is larger than 65536 bytes"]


# ------------------------------------------------------------ M10: log show units


def test_log_show_realm_create_keys_mean_what_measure_means(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """REALM_CREATE showed num_bps 5, num_wps 3, sve_vl 15 (RMI encodings) under the keys
    `measure` uses for 6, 4, 2048; VM VERSION said "qemu" where replay said
    "ram_size-first"; the placeholder digest was keyed alg_0000."""
    assert run(["measure", *HOST, "-k", "Image", "-i", "initrd.cpio", "--format", "json",
                *KVMTOOL]) == 0
    params = json.loads(capsys.readouterr().out)["realm_params"]
    assert run(["log", "show", "--format", "json", "realm.log"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    vm, create = events[1]["data"], events[2]["data"]
    assert create["tag"] == "REALM_CREATE"
    for key in ("num_bps", "num_wps", "sve_vl", "s2sz", "pmu_num_ctrs"):
        assert create[key] == params[key], key
    assert (create["num_bps"], create["num_wps"], create["sve_vl"]) == (6, 4, 2048)
    assert (create["rmi_num_bps"], create["rmi_num_wps"], create["rmi_sve_vl"]) == (5, 3, 15)
    assert (create["hash_algo"], create["rmi_hash_algo"]) == ("sha256", 0)
    assert events[1]["digests"] == {"sha256": "00" * 32}
    assert run(["replay", "realm.log"]) in (0, 1)
    assert f"VM VERSION layout: {vm['layout']}" in capsys.readouterr().out.splitlines()
    assert vm["layout"] == "ram_size-first"
