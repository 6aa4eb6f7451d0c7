"""rmtool replay: the reference log vector, the real CCA log, REM maps, store, hostile input.

Expected values come from outside rmtool: the reference tool's test vector
(cca-realm-measurements tests/event_log.rs), the corpus log's documented digests, and
SHA-256 computed here with hashlib for the REM formula (TF-RMM: H(REM || digest)).
The emit → replay round trip over the vector TSV is in tests/test_replay_roundtrip.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.replay import ImageStore, replay_log
from rmtool.replay._engine import ReplayInputError
from tests.conftest import CORPUS

ZERO32 = bytes(32)
RIM_B64 = "iWDVaCY3CqpvybOgQdQkBolYK6QeKti7j5rfbSoM1ec="
BOOTLOG = CORPUS / "eventlogs" / "cca-realm" / "ccarealm_realm-bootlog.bin"


# -- a tiny independent log writer (TCG PFP layouts, docs/measurement-log.md sections 1-2) ---

def spec_id(*algs: tuple[int, int]) -> bytes:
    body = (b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 106, 2, len(algs))
            + b"".join(struct.pack("<HH", a, s) for a, s in algs) + b"\0")
    return struct.pack("<II20sI", 0, 3, bytes(20), len(body)) + body


def ev2(index: int, etype: int, digests: list[tuple[int, bytes]], data: bytes) -> bytes:
    out = struct.pack("<III", index, etype, len(digests))
    out += b"".join(struct.pack("<H", a) + d for a, d in digests)
    return out + struct.pack("<I", len(data)) + data


def tag(tag_id: int, payload: bytes) -> bytes:
    return struct.pack("<II", tag_id, len(payload)) + payload


def realm_create(s2sz: int = 48, bps: int = 5, wps: int = 3, algo: int = 0,
                 flags: int = 0) -> bytes:
    return ev2(0, 6, [], tag(1, struct.pack("<QBBBBBB", flags, s2sz, 0, bps, wps, 0, algo)))


def reference_vector() -> bytes:
    """The reference's tests/event_log.rs vector, byte for byte (the truncated event
    continues with the VM VERSION data)."""
    out = spec_id((0x000B, 32), (0x000D, 64))
    out += struct.pack("<IIIH", 0, 3, 1, 0x000B) + ZERO32
    vm = (b"VM VERSION".ljust(16, b"\0") + b"kvmtool".ljust(32, b"\0") + bytes(40)
          + struct.pack("<QQQI", 2 << 20, 1024, 1 << 30, 128))
    out += struct.pack("<I", len(vm)) + vm
    t = tag(1, struct.pack("<QBBBBBB", 0, 48, 0, 5, 3, 0, 0))
    out += struct.pack("<IIIH", 0, 6, 1, 0x000B) + ZERO32 + struct.pack("<I", len(t)) + t
    return out


@pytest.fixture()
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store.sqlite3")


# -- acceptance: reference vector -------------------------------------------------------

def test_reference_vector_rim(store: str) -> None:
    r = replay_log(reference_vector(), [], store=store)
    assert r.rim is not None
    assert base64.b64encode(r.rim).decode() == RIM_B64
    assert r.rems == [ZERO32] * 4
    assert r.vm_version is not None and r.vm_version.layout == "log-first"
    assert r.vm_version.ram_size == 1 << 30 and r.vm_version.num_cpus == 128
    assert [e.register for e in r.events] == ["-", "-", "RIM"]
    assert r.events[2].value_after == base64.b64decode(RIM_B64).hex()


def test_reference_vector_cli_json(tmp_path: Path, store: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "vec.bin"
    log.write_bytes(reference_vector())
    assert run(["replay", str(log), "--store", store, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rim"] == base64.b64decode(RIM_B64).hex()
    assert doc["rems"] == ["00" * 32] * 4
    assert doc["hash_algo"] == "sha256" and doc["index_map"] == "mr"
    assert doc["unknown_digests"] == []
    assert set(doc["events"][2]) == {"number", "register", "type", "description", "digest",
                                     "image", "value_after"}


# -- acceptance: the real CCA log --------------------------------------------------------

def test_real_bootlog_lists_images_and_explains(store: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if not BOOTLOG.is_file():
        pytest.skip("corpus log not available")
    r = replay_log(BOOTLOG.read_bytes(), [], store=store)
    rows = [(e.description, e.digest, e.image) for e in r.events[1:]]
    assert [d for d, _, _ in rows] == ["KERNEL 0x80000000 +0x2ba9a00",
                                       "INITRD 0x8addd3fc +0x5022c00", "DTB 0x8fe00000 +0x10000"]
    digests = [d for _, d, _ in rows]
    assert digests[0] is not None and digests[0].startswith("e17254af")
    assert digests[0].endswith("c33c")
    assert digests[1] is not None and digests[1].startswith("51424b93")
    assert digests[1].endswith("a6d2")
    assert digests[2] is not None and digests[2].startswith("ea790036")
    assert digests[2].endswith("af0c")
    assert [i for _, _, i in rows] == ["unknown"] * 3
    assert r.unknown_digests == digests
    assert r.rim is None and r.rim_error is not None
    assert r.rim_error.startswith("event 1 (KERNEL")
    # no --images at all: the message says so (issue 18), not "not in the reference images"
    assert "cannot be matched: no reference images were given (--images)" in r.rim_error
    status = run(["replay", str(BOOTLOG), "--store", store])
    out, err = capsys.readouterr()
    assert status == 1
    assert "KERNEL 0x80000000 +0x2ba9a00" in out and "e17254af7ac253a2…" in out
    assert "ERROR RIM cannot be rebuilt: event 1 (KERNEL" in err


# -- REM replay, both maps -------------------------------------------------------------------

def _rem_log(index: int, digest: bytes) -> bytes:
    return (spec_id((0x000B, 32)) + realm_create()
            + ev2(index, 0x80000007, [(0x000B, digest)], b"some action"))


@pytest.mark.parametrize(("index_map", "index", "rem"), [
    ("pcr", 1, 0), ("pcr", 7, 0), ("pcr", 3, 1), ("pcr", 9, 2), ("pcr", 16, 3),
    ("mr", 1, 0), ("mr", 2, 1), ("mr", 3, 2), ("mr", 4, 3),
])
def test_rem_first_extension(index_map: str, index: int, rem: int, store: str) -> None:
    d = hashlib.sha256(b"component").digest()
    r = replay_log(_rem_log(index, d), [], index_map=index_map, store=store)
    expected = hashlib.sha256(ZERO32 + d).digest()
    assert r.rems[rem] == expected
    assert [x for i, x in enumerate(r.rems) if i != rem] == [ZERO32] * 3
    assert r.events[-1].register == f"REM{rem}"
    assert r.events[-1].value_after == expected.hex()
    assert r.events[-1].image == "unknown" and r.unknown_digests == [d.hex()]
    assert r.ok  # unknown REM components are listed, not fatal


def test_rem_second_extension_chains(store: str) -> None:
    d1, d2 = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    log = (spec_id((0x000B, 32)) + realm_create()
           + ev2(1, 0x80000007, [(0x000B, d1)], b"a") + ev2(1, 0x80000007, [(0x000B, d2)], b"b"))
    r = replay_log(log, [], store=store)
    first = hashlib.sha256(ZERO32 + d1).digest()
    assert r.events[-2].rems_after[0] == first.hex()
    assert r.rems[0] == hashlib.sha256(first + d2).digest()
    assert r.operations[-1].origin == "event 3 (b)"


def test_auto_map_choice(store: str) -> None:
    d = hashlib.sha256(b"x").digest()
    assert replay_log(_rem_log(3, d), [], store=store).index_map == "mr"
    high = replay_log(_rem_log(8, d), [], store=store)
    assert high.index_map == "pcr" and high.rems[2] == hashlib.sha256(ZERO32 + d).digest()


def test_rem_without_realm_digest_is_error(store: str) -> None:
    log = (spec_id((0x000B, 32), (0x000D, 64)) + realm_create()
           + ev2(1, 0x80000007, [(0x000D, bytes(64))], b"x"))
    r = replay_log(log, [], store=store)
    assert r.rems[0] is None and not r.ok
    assert "without a sha256 digest" in r.errors[0]


def test_mr_index_out_of_range(store: str) -> None:
    r = replay_log(_rem_log(9, ZERO32), [], index_map="mr", store=store)
    assert r.events[-1].register == "none" and not r.ok


# -- RIM event handling ---------------------------------------------------------------------

def _image_log(desc: bytes, base: int, data: bytes, length: int | None = None) -> bytes:
    blob = bytes([len(desc)]) + desc + struct.pack("<QQ", base, length or len(data))
    return (spec_id((0x000B, 32)) + realm_create()
            + ev2(0, 6, [], tag(2, struct.pack("<QQ", 0x80000000, 0x1000_0000)))
            + ev2(0, 0x13, [(0x000B, hashlib.sha256(data).digest())], blob))


def test_image_found_with_nul_description_and_checksum_file(tmp_path: Path, store: str) -> None:
    img = tmp_path / "img" / "kernel.bin"
    img.parent.mkdir()
    data = os.urandom(5000)
    img.write_bytes(data)
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{hashlib.sha256(data).hexdigest()} *img/kernel.bin\n")
    r = replay_log(_image_log(b"KERNEL\0", 0x80000000, data), [str(sums)], store=store)
    assert r.rim is not None, r.rim_error
    assert r.events[-1].image == str(img.resolve())
    assert r.operations[-1].origin == "event 3 (KERNEL)"
    assert r.events[-1].description == "KERNEL 0x80000000 +0x1388"


def test_image_length_mismatch_breaks_rim(tmp_path: Path, store: str) -> None:
    data = b"k" * 5000
    (tmp_path / "k").write_bytes(data)
    r = replay_log(_image_log(b"KERNEL", 0x80000000, data, 4096), [str(tmp_path)], store=store)
    assert r.rim is None and r.rim_error is not None
    assert "the log says 0x1000" in r.rim_error


def test_checksum_claim_is_checked(tmp_path: Path, store: str) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    sums = tmp_path / "sums"
    sums.write_text("00" * 32 + "  f\n")
    r = replay_log(_rem_log(1, ZERO32), [str(sums)], store=store)
    assert any("but hashes to " + hashlib.sha256(b"abc").hexdigest() in e for e in r.errors)


def test_lpa2_honoured(store: str) -> None:
    plain = replay_log(spec_id((0x000B, 32)) + realm_create(), [], store=store)
    lpa2 = replay_log(spec_id((0x000B, 32)) + realm_create(flags=1), [], store=store)
    assert plain.rim != lpa2.rim
    assert lpa2.operations[0].params.lpa2  # type: ignore[union-attr]


def test_qemu_vm_version_layout(store: str) -> None:
    vm = (b"VM VERSION".ljust(16, b"\0") + b"QEMU".ljust(32, b"\0") + b"9.1.50".ljust(40, b"\0")
          + struct.pack("<QI4xQ", 1 << 30, 4, 0))
    log = spec_id((0x000D, 64)) + ev2(0, 3, [(0, bytes(64))], vm) + realm_create(algo=1)
    r = replay_log(log, [], store=store)
    assert r.vm_version is not None and r.vm_version.layout == "ram_size-first"
    assert (r.vm_version.name, r.vm_version.version, r.vm_version.ram_size) == \
        ("QEMU", "9.1.50", 1 << 30)
    assert r.hash_algo is not None and r.hash_algo.name == "sha512"


# -- image store ------------------------------------------------------------------------------

def test_store_caches_and_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "blob"
    f.write_bytes(b"\1" * 10000)
    from rmtool.measure.images import Image
    from rmtool.replay import _store as store_module

    # read long after the file was written (a fresh file is "racily clean": never trusted)
    monkeypatch.setattr(store_module, "_clock_ns",
                        lambda: time.time_ns() + 10 * store_module.RACY_MARGIN_NS)

    st = ImageStore(str(tmp_path / "db"))
    first = list(st.content_hashes(Image.from_file("b", str(f)), "sha256", 0))
    assert len(first) == 3 and st.misses == 1
    again = list(st.content_hashes(Image.from_file("b", str(f)), "sha256", 0))
    assert again == first and st.hits == 1
    assert first[0] == hashlib.sha256(b"\1" * 4096).digest()
    assert first[2] == hashlib.sha256(b"\1" * 1808 + bytes(2288)).digest()
    f.write_bytes(b"\2" * 10000)
    os.utime(f, ns=(1, 1))
    changed = list(st.content_hashes(Image.from_file("b", str(f)), "sha256", 0))
    assert changed[0] == hashlib.sha256(b"\2" * 4096).digest() and st.misses == 2
    st.close()


# -- unusable input ---------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\xff" * 64, b"garbage" * 10])
def test_not_a_log_exit_2(tmp_path: Path, data: bytes, store: str) -> None:
    log = tmp_path / "bad"
    log.write_bytes(data)
    assert run(["replay", str(log), "--store", store]) == 2


def test_malformed_payloads_are_named(store: str) -> None:
    bad_tag = ev2(0, 6, [], tag(1, b"\0" * 10))
    r = replay_log(spec_id((0x000B, 32)) + bad_tag, [], store=store)
    assert r.rim is None and r.rim_error is not None
    assert "REALM_CREATE payload has 10 bytes, needs 14" in r.rim_error
    unknown = ev2(0, 6, [], tag(9, b""))
    r = replay_log(spec_id((0x000B, 32)) + realm_create() + unknown, [], store=store)
    assert r.rim_error is not None and "unknown tag 9" in r.rim_error


def test_truncated_log_is_unusable(store: str) -> None:
    """A RIM replayed from part of a log is no RIM (docs/security.md, "Replay"); it used to
    be returned with a warning."""
    log = spec_id((0x000B, 32)) + realm_create() + b"\1\0\0\0\7\0\0\0"
    with pytest.raises(ReplayInputError, match="^the log is malformed: ") as exc:
        replay_log(log, [], store=store)
    assert exc.value.exit_code == 2 and exc.value.offset == len(log) - 8


def test_bad_checksum_file_exit_2(tmp_path: Path, store: str) -> None:
    sums = tmp_path / "sums"
    sums.write_text("not a checksum line\n")
    log = tmp_path / "vec.bin"
    log.write_bytes(reference_vector())
    assert run(["replay", str(log), "--images", str(sums), "--store", store]) == 2
