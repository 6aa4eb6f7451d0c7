"""The image store on the replay path: one parallel cold pass, a warm pass that reads no image.

Expected granule hashes are computed here with hashlib from the rule in TF-RMM
``measurement_data_granule_measure`` (zeros before an image at an unaligned IPA, the last
granule zero padded); RIMs are compared with the Realm model run without any store.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from rmtool.measure.images import Image, ParallelGranuleHasher
from rmtool.measure.rmm.ops import DataCreate, InitRipas, RealmCreate
from rmtool.measure.rmm.realm import Realm
from rmtool.replay import ImageStore, ReferenceImages, replay_log
from rmtool.replay import _store as store_module
from rmtool.replay._cca import read_realm_create
from tests.test_replay import _image_log

BASE = 0x80000123  # unaligned: lead 0x123


@pytest.fixture(autouse=True)
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The images were written long before they are read: a file changed within
    RACY_MARGIN_NS of a read is "racily clean" and never trusted from the store
    (test_store_poisoning.py tests that rule)."""
    monkeypatch.setattr(store_module, "_clock_ns",
                        lambda: time.time_ns() + 10 * store_module.RACY_MARGIN_NS)


def _granules(data: bytes, lead: int) -> list[bytes]:
    padded = bytes(lead) + data
    padded += bytes(-len(padded) % 4096)
    return [hashlib.sha256(padded[o:o + 4096]).digest() for o in range(0, len(padded), 4096)]


def _model_rim(data: bytes, path: str) -> bytes:
    """The RIM of the log written by ``_image_log`` from the Realm model, no store."""
    import struct

    params = read_realm_create(struct.pack("<QBBBBBB", 0, 48, 0, 5, 3, 0, 0))
    realm = Realm(hasher=ParallelGranuleHasher(1))
    realm.apply(RealmCreate(params))
    realm.apply(InitRipas(0x80000000, 0x90000000))
    realm.apply(DataCreate(BASE, Image.from_file("k", path)))
    return realm.measurements().rim


@pytest.fixture()
def image(tmp_path: Path) -> tuple[Path, bytes]:
    data = bytes(range(256)) * 80 + b"tail"  # 20484 bytes: 6 granules at lead 0x123
    path = tmp_path / "images" / "kernel.bin"
    path.parent.mkdir()
    path.write_bytes(data)
    return path, data


def test_cold_pass_caches_lead_granules_and_warm_reads_no_image(
        tmp_path: Path, image: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    path, data = image
    log = _image_log(b"KERNEL", BASE, data)
    db = str(tmp_path / "store.sqlite3")
    cold = replay_log(log, [str(path.parent)], store=db)
    expected = _model_rim(data, str(path))
    assert cold.rim == expected, cold.rim_error
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT lead, hashes FROM file_granules WHERE path=?",
                           (os.path.realpath(path),)).fetchall()
    assert [(lead, bytes(h)) for lead, h in rows] == [(0x123, b"".join(_granules(data, 0x123)))]

    real_open, real_os_open = builtins.open, os.open

    def guarded(opener: Any) -> Any:
        def inner(file: Any, *args: Any, **kwargs: Any) -> Any:
            if str(file) == str(path):
                raise AssertionError(f"warm replay opened {file}")
            return opener(file, *args, **kwargs)
        return inner

    monkeypatch.setattr(builtins, "open", guarded(real_open))
    monkeypatch.setattr(os, "open", guarded(real_os_open))
    st = ImageStore(db)
    warm = replay_log(log, [str(path.parent)], store=st)
    assert warm.rim == expected and st.misses == 0 and st.hits >= 3
    st.close()


def test_cold_pass_only_hashes_granules_of_logged_sizes(tmp_path: Path,
                                                        image: tuple[Path, bytes]) -> None:
    path, data = image
    (path.parent / "other.bin").write_bytes(b"x" * 9000)  # no event of this length
    db = str(tmp_path / "store.sqlite3")
    replay_log(_image_log(b"KERNEL", BASE, data), [str(path.parent)], store=db)
    with sqlite3.connect(db) as con:
        granule_paths = {p for (p,) in con.execute("SELECT path FROM file_granules")}
        digest_paths = {p for (p,) in con.execute(
            "SELECT path FROM file_digests WHERE variant='raw'")}
    assert granule_paths == {os.path.realpath(path)}
    assert digest_paths == {os.path.realpath(path), os.path.realpath(path.parent / "other.bin")}


@pytest.mark.parametrize("jobs", [1, 2])
def test_prefetch_workers_give_the_same_rows(tmp_path: Path, image: tuple[Path, bytes],
                                             monkeypatch: pytest.MonkeyPatch,
                                             jobs: int) -> None:
    path, data = image
    monkeypatch.setattr(store_module, "PROCESS_THRESHOLD", 0)  # use the pool for tiny files
    monkeypatch.setattr(store_module, "PROCESS_CHUNK", 8192)  # several ranges per file
    st = ImageStore(str(tmp_path / f"db{jobs}"), jobs=jobs)
    st.prefetch([str(path)], "sha256", {str(path): 0x123})
    assert st.digest(str(path), "sha256") == hashlib.sha256(data).digest()
    got = st.content_hashes(Image.from_file("k", str(path)), "sha256", 0x123)
    assert list(got) == _granules(data, 0x123)
    assert st.misses == 0 and st.hits == 2
    st.close()


def test_prefetched_rows_are_replaced_when_the_file_changes(tmp_path: Path,
                                                            image: tuple[Path, bytes]) -> None:
    path, data = image
    st = ImageStore(str(tmp_path / "db"))
    refs = ReferenceImages([str(path.parent)], st)
    refs.granule_hints = {len(data): 0}
    assert hashlib.sha256(data).digest() in refs.index("sha256")
    path.write_bytes(b"\2" * len(data))
    os.utime(path, ns=(1, 1))
    again = ReferenceImages([str(path.parent)], st)
    again.granule_hints = {len(data): 0}
    assert hashlib.sha256(b"\2" * len(data)).digest() in again.index("sha256")
    got = list(st.content_hashes(Image.from_file("k", str(path)), "sha256", 0))
    assert got == _granules(b"\2" * len(data), 0)
    st.close()


def test_warm_replay_reuses_the_models_own_chain(tmp_path: Path,
                                                 image: tuple[Path, bytes]) -> None:
    """The store remembers the RIM the Realm model computed for a DATA_CREATE (ChainMemo);
    a warm replay returns it, and a changed file (mtime) is measured again."""
    path, data = image
    log = _image_log(b"KERNEL", BASE, data)
    db = str(tmp_path / "store.sqlite3")
    cold = replay_log(log, [str(path.parent)], store=db)
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT lead, ipa, granules, rim_out FROM file_chains").fetchall()
    assert len(rows) == 1
    lead, ipa, granules, rim_out = rows[0]
    assert (lead, ipa, granules) == (0x123, BASE - 0x123, 6)
    assert len(bytes(rim_out)) == 32
    warm = replay_log(log, [str(path.parent)], store=db)
    assert warm.rim == cold.rim == _model_rim(data, str(path))
    # same bytes, new mtime: the memo no longer applies, the result is recomputed (equal)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    store = ImageStore(db)
    again = replay_log(log, [str(path.parent)], store=store)
    assert again.rim == cold.rim and store.misses >= 1
    store.close()
    with sqlite3.connect(db) as con:
        # the stale row was replaced by one for the new mtime
        assert con.execute("SELECT mtime_ns FROM file_chains").fetchall() == [
            (st.st_mtime_ns + 10**9,)]
