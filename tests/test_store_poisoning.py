"""The image store is a speed-up, never an oracle (docs/security.md, "The image store"):
attacks on a warm store.

A kvmtool Realm's reference images and event log are made with `rmtool measure --emit-log`
(small kernel and initrd written here, as in test_compare_log.py), a realm token carrying
the RIM `measure` printed is signed with the published tf-m-tools test keys
(../shared/corpus/tokens/keys), and `rmtool compare TOKEN --log LOG --images ...` warms the
store. Then the initrd is replaced by other content of the same size with its old
atime/mtime restored (what `touch -r`, `cp --preserve=timestamps`, `tar x`, `rsync -t` do),
or a symlink is re-pointed, or a checksum file vouches for the old digest: the warm store
must give exactly what a fresh store gives. The images are "settled" (the store's clock is
moved past git's racy-clean margin) so that the warm store is trusted before each attack
and the attack is caught by the key, not by the racy rule; test_fresh_file_is_racily_clean
tests that rule with the real clock.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rmtool.cli.main import run
from rmtool.errors import InputFileError
from rmtool.replay import ImageStore, ReferenceImages, replay_log
from rmtool.replay import _store as store_module
from tests.test_compare_log import KEYS, PK, Setup, _measure, token

pytestmark = pytest.mark.skipif(not KEYS.is_dir(), reason="shared token keys not present")

A = b"initrd A " * 500
B = b"initrd B " * 500  # same size, other content
ZERO_REMS = [bytes(32)] * 4  # the VMM log extends no REM


def _settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_clock_ns",
                        lambda: time.time_ns() + 10 * store_module.RACY_MARGIN_NS)


@pytest.fixture
def realm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Setup:
    """images/Image + images/initrd-a (content A), the VMM log and the token."""
    images = tmp_path / "images"
    images.mkdir()
    kernel = images / "Image"
    kernel.write_bytes(b"\0" * 0x38 + b"ARM\x64" + bytes(range(256)) * 80)
    (images / "initrd-a").write_bytes(A)
    log = tmp_path / "vmm.log"
    doc = _measure(images / "initrd-a", kernel, tmp_path / "trace-a.json", log, capsys)
    return Setup(tmp_path, images, log.read_bytes(), bytes.fromhex(doc["rim"]),
                 tmp_path / "trace-a.json", tmp_path / "trace-a.json", {},
                 str(tmp_path / "store.sqlite3"), capsys)


def _compare(s: Setup, images: Path, store: str) -> tuple[int, dict[str, Any]]:
    s.capsys.readouterr()
    status = run(["compare", str(s.dir / "token.cbor"), "--log", str(s.dir / "vmm.log"),
                  "--images", str(images), "--store", store, "--format", "json", *PK])
    out = s.capsys.readouterr()
    assert status in (0, 1), out.err
    doc: dict[str, Any] = json.loads(out.out)
    return status, doc


def _replay(s: Setup, images: Path, store: str) -> tuple[int, dict[str, Any], str]:
    s.capsys.readouterr()
    status = run(["replay", str(s.dir / "vmm.log"), "--images", str(images), "--store", store,
                  "--format", "json"])
    out = s.capsys.readouterr()
    doc: dict[str, Any] = json.loads(out.out)
    return status, doc, out.err


def _swap_keeping_times(path: Path, content: bytes) -> None:
    """Rewrite ``path`` in place and restore its atime/mtime (os.utime(ns=...))."""
    st = os.stat(path)
    path.write_bytes(content)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == \
        (st.st_size, st.st_mtime_ns, st.st_ino)


def _warm(s: Setup, images: Path) -> None:
    """Two compares that MATCH fill the store; a third replay reads only the store."""
    token(s, ZERO_REMS)
    for _ in range(2):
        status, doc = _compare(s, images, s.store)
        assert status == 0 and doc["result"] == "match"
    st = ImageStore(s.store)
    r = replay_log(s.vmm_log, [str(images)], store=st)
    assert r.rim == s.rim and st.misses == 0 and st.hits >= 3
    st.close()


def _fresh_verdict(s: Setup, images: Path) -> dict[str, Any]:
    status, doc = _compare(s, images, str(s.dir / f"fresh{time.monotonic_ns()}.sqlite3"))
    assert status == 1 and doc["result"] == "mismatch"
    return doc


@pytest.fixture
def read_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of files opened (builtins.open / os.open) while it is active."""
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy(opener: Any) -> Any:
        def inner(file: Any, *args: Any, **kwargs: Any) -> Any:
            opened.append(os.fspath(file) if not isinstance(file, int) else str(file))
            return opener(file, *args, **kwargs)
        return inner

    monkeypatch.setattr(builtins, "open", spy(real_open))
    monkeypatch.setattr(os, "open", spy(real_os_open))
    yield opened


# ------------------------------------------------------------------ (4) the control


def test_unchanged_images_hit_the_store_and_are_not_read(
        realm: Setup, monkeypatch: pytest.MonkeyPatch, read_guard: list[str]) -> None:
    _settle(monkeypatch)
    s = realm
    _warm(s, s.images)
    read_guard.clear()
    st = ImageStore(s.store)
    r = replay_log(s.vmm_log, [str(s.images)], store=st)
    assert r.rim == s.rim
    assert (st.hits, st.misses) == (6, 0)  # 2 digests, 2 gunzip probes, 2 chain memos
    st.close()
    assert not [p for p in read_guard if p.startswith(str(s.dir / "images"))
                or os.path.realpath(p).startswith(os.path.realpath(s.images))]
    status, doc = _compare(s, s.images, s.store)
    assert status == 0 and doc["result"] == "match"


# ------------------------------------------------------------------ (1) same size, same mtime


def test_swapped_initrd_with_restored_mtime_is_a_mismatch(
        realm: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(monkeypatch)
    s = realm
    _warm(s, s.images)
    _swap_keeping_times(s.images / "initrd-a", B)
    status, doc = _compare(s, s.images, s.store)
    assert status == 1 and doc["result"] == "mismatch"
    rim = next(c for c in doc["claims"] if c["claim"] == "rim" and c["source"] == "log replay")
    assert rim["status"] == "mismatch"
    assert doc == _fresh_verdict(s, s.images)
    # replay says the same: the initrd the log names is not among the images any more
    status, out, err = _replay(s, s.images, s.store)
    assert status == 1 and out["rim"] is None
    assert out["unknown_digests"] == [hashlib.sha256(A).hexdigest()]
    assert "ERROR RIM cannot be rebuilt: event 5 (INITRD" in err


def test_swapped_initrd_found_by_its_new_digest(realm: Setup,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm store's rows for the old content are not used for the new one: the
    swapped file is indexed by the digest of what it holds now."""
    _settle(monkeypatch)
    s = realm
    _warm(s, s.images)
    _swap_keeping_times(s.images / "initrd-a", B)
    st = ImageStore(s.store)
    refs = ReferenceImages([str(s.images)], st)
    index = refs.index("sha256")
    assert hashlib.sha256(A).digest() not in index
    assert index[hashlib.sha256(B).digest()].path == str(s.images / "initrd-a")
    assert st.misses >= 1
    st.close()


# ------------------------------------------------------------------ (2) a re-pointed symlink


def test_repointed_symlink_is_a_mismatch(realm: Setup,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(monkeypatch)
    s = realm
    targets = s.dir / "targets"
    targets.mkdir()
    first, second = targets / "initrd-v1", targets / "initrd-v2"
    (s.images / "initrd-a").rename(first)
    (s.images / "initrd-a").symlink_to(first)
    _warm(s, s.images)
    second.write_bytes(B)
    st = os.stat(first)
    os.utime(second, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(second).st_size, os.stat(second).st_mtime_ns) == (st.st_size,
                                                                     st.st_mtime_ns)
    tmp_link = s.images / "initrd-a.new"
    tmp_link.symlink_to(second)
    os.replace(tmp_link, s.images / "initrd-a")  # re-point atomically
    status, doc = _compare(s, s.images, s.store)
    assert status == 1 and doc["result"] == "mismatch"
    assert doc == _fresh_verdict(s, s.images)
    status, out, _ = _replay(s, s.images, s.store)
    assert status == 1 and out["rim"] is None
    assert out["unknown_digests"] == [hashlib.sha256(A).hexdigest()]


# ------------------------------------------------------------------ (3) a checksum file


def test_checksum_file_claiming_the_old_digest_is_an_error(
        realm: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(monkeypatch)
    s = realm
    sums = s.dir / "SHA256SUMS"
    kernel = (s.images / "Image").read_bytes()
    sums.write_text(f"{hashlib.sha256(kernel).hexdigest()}  images/Image\n"
                    f"{hashlib.sha256(A).hexdigest()} *images/initrd-a\n")
    _warm(s, sums)
    _swap_keeping_times(s.images / "initrd-a", B)
    status, doc = _compare(s, sums, s.store)
    assert status == 1 and doc["result"] == "mismatch"
    assert doc == _fresh_verdict(s, sums)
    status, out, err = _replay(s, sums, s.store)
    assert status == 1 and out["rim"] is None
    path = os.path.realpath(s.images / "initrd-a")
    assert (f"ERROR {sums}: {path} is listed with sha256 {hashlib.sha256(A).hexdigest()} "
            f"but hashes to {hashlib.sha256(B).hexdigest()}") in err.splitlines()


def test_checksum_claim_is_checked_against_content_not_a_row(
        realm: Setup, monkeypatch: pytest.MonkeyPatch, read_guard: list[str]) -> None:
    """Even a store row of the same key is not the identity of a file a checksum file
    names: the file is read and hashed in every run (a poisoned row cannot vouch)."""
    _settle(monkeypatch)
    s = realm
    sums = s.dir / "SHA256SUMS"
    sums.write_text(f"{hashlib.sha256(A).hexdigest()}  images/initrd-a\n")
    st = ImageStore(s.store)
    ReferenceImages([str(sums)], st).index("sha256")
    st.close()
    with sqlite3.connect(s.store) as con:  # poison the row: it now claims B
        con.execute("UPDATE file_digests SET digest=? WHERE path=?",
                    (hashlib.sha256(B).digest(), os.path.realpath(s.images / "initrd-a")))
    read_guard.clear()
    st = ImageStore(s.store)
    refs = ReferenceImages([str(sums)], st)
    assert list(refs.index("sha256")) == [hashlib.sha256(A).digest()]
    assert refs.problems == [] and os.path.realpath(s.images / "initrd-a") in read_guard
    st.close()


# ------------------------------------------------------------------ the other defences


def test_fresh_file_is_racily_clean(realm: Setup, monkeypatch: pytest.MonkeyPatch,
                                    read_guard: list[str]) -> None:
    """git's rule with the real clock: rows of a file changed within RACY_MARGIN_NS of
    their read are not trusted (the file is read again), until a read well after the
    change records a row that is."""
    s = realm
    initrd = os.path.realpath(s.images / "initrd-a")
    replay_log(s.vmm_log, [str(s.images)], store=s.store)
    read_guard.clear()
    st = ImageStore(s.store)
    assert replay_log(s.vmm_log, [str(s.images)], store=st).rim == s.rim
    assert st.misses >= 1 and initrd in read_guard
    st.close()
    _settle(monkeypatch)  # later: the next read records trusted rows ...
    replay_log(s.vmm_log, [str(s.images)], store=s.store)
    read_guard.clear()
    st = ImageStore(s.store)
    assert replay_log(s.vmm_log, [str(s.images)], store=st).rim == s.rim
    assert st.misses == 0 and initrd not in read_guard  # ... that the run after uses
    st.close()


def test_file_changed_after_its_digest_matched_is_not_measured(
        realm: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file whose digest matched the log is pinned: if it is swapped before its
    granules are hashed, the replay stops instead of measuring other content."""
    _settle(monkeypatch)
    s = realm
    st = ImageStore(s.store)
    match = ReferenceImages([str(s.images)], st).find("sha256", hashlib.sha256(A).digest())
    assert match is not None
    image = match.image()
    _swap_keeping_times(s.images / "initrd-a", B)
    with pytest.raises(InputFileError, match="changed after its digest was checked"):
        st.content_hashes(image, "sha256", 0)
    assert st.chain_lookup(image, "sha256", 0, bytes(32), 0) is None
    st.close()


def test_schema_1_store_is_discarded(realm: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written by the previous schema (rows keyed by path, size, mtime) is never
    read: here it holds rows for the swapped initrd that claim the old content."""
    _settle(monkeypatch)
    s = realm
    initrd = s.images / "initrd-a"
    _swap_keeping_times(initrd, B)
    st = os.stat(initrd)
    with sqlite3.connect(s.store) as con:
        con.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE digests (path TEXT, variant TEXT, algo TEXT, size INTEGER,
                mtime_ns INTEGER, digest BLOB, PRIMARY KEY (path, variant, algo));
            CREATE TABLE granules (path TEXT, variant TEXT, algo TEXT, lead INTEGER,
                size INTEGER, mtime_ns INTEGER, hashes BLOB,
                PRIMARY KEY (path, variant, algo, lead));
            CREATE TABLE chains (path TEXT, algo TEXT, lead INTEGER, size INTEGER,
                mtime_ns INTEGER, rim_in BLOB, ipa INTEGER, rim_out BLOB, granules INTEGER,
                PRIMARY KEY (path, algo, lead, rim_in, ipa));
            INSERT INTO meta VALUES ('schema', '1');
        """)
        con.execute("INSERT INTO digests VALUES (?,?,?,?,?,?)",
                    (str(initrd), "raw", "sha256", st.st_size, st.st_mtime_ns,
                     hashlib.sha256(A).digest()))
    store = ImageStore(s.store)
    assert store.warning is None
    r = replay_log(s.vmm_log, [str(s.images)], store=store)
    assert r.rim is None and r.unknown_digests == [hashlib.sha256(A).hexdigest()]
    store.close()
    with sqlite3.connect(s.store) as con:
        assert con.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
        tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "file_digests", "file_granules", "file_chains"}


def test_store_of_a_newer_schema_is_not_used(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('schema', '3')")
    st = ImageStore(str(db))
    assert st.warning == (f"image store {db} unusable (schema 3 is newer than this rmtool's "
                          "2); using memory")
    st.close()
    with sqlite3.connect(db) as con:  # left as it was for the newer rmtool
        assert con.execute("SELECT value FROM meta").fetchall() == [("3",)]
