"""The two granule-hashing cores (rmtool/measure/_hashcore.py) against hashlib and each other.

The native core is the C module built at install time; CI sets RMTOOL_REQUIRE_NATIVE=1 so
that a build that silently fell back to the python core fails here instead of passing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmtool.measure import _hashcore as hashcore
from rmtool.measure.images import Image, ParallelGranuleHasher
from rmtool.measure.rmm._layouts import data_descriptor, data_descriptor_layout, slot
from rmtool.measure.rmm.algorithms import SHA256, SHA384, SHA512
from rmtool.measure.rmm.ops import DataCreate, RealmCreate, RealmParams
from rmtool.measure.rmm.realm import Realm

ALGOS = ["sha256", "sha384", "sha512"]
NATIVE = hashcore._native
needs_native = pytest.mark.skipif(NATIVE is None, reason="the native core is not built here "
                                  "(no C compiler or OpenSSL headers at install time)")


@pytest.fixture(params=["native", "python"])
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "native" and NATIVE is None:
        pytest.skip("the native core is not built here")
    if request.param == "python":
        monkeypatch.setattr(hashcore, "_native", None)
    yield request.param


def _by_hand(algo: str, data: bytes) -> bytes:
    return b"".join(hashlib.new(algo, data[o:o + 4096]).digest()
                    for o in range(0, len(data), 4096))


def test_native_core_is_built_when_required() -> None:
    if os.environ.get("RMTOOL_REQUIRE_NATIVE") != "1":
        pytest.skip("RMTOOL_REQUIRE_NATIVE is not set (CI sets it)")
    assert hashcore.core_name("sha256") == "native"


def test_core_names(core: str) -> None:
    assert hashcore.core_name("sha512") == core
    assert hashcore.core_name("sm3") == "python"  # not offered natively


@pytest.mark.parametrize("algo", ALGOS)
def test_granule_hashes_equal_hashlib(core: str, algo: str) -> None:
    data = hashlib.shake_256(algo.encode()).digest(4096 * 37)
    assert hashcore.granule_hashes(algo, data) == _by_hand(algo, data)
    assert hashcore.granule_hashes(algo, memoryview(data)[4096:8192]) == \
        hashlib.new(algo, data[4096:8192]).digest()
    assert hashcore.granule_hashes(algo, b"") == b""


def test_granule_hashes_rejects_partial_granules(core: str) -> None:
    with pytest.raises(ValueError, match="multiple of 4096"):
        hashcore.granule_hashes("sha256", bytes(4097))


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=0, max_size=6).map(lambda b: b * 4096),
       algo=st.sampled_from(ALGOS))
def test_granule_hashes_property(data: bytes, algo: str) -> None:
    assert hashcore.granule_hashes(algo, data) == _by_hand(algo, data)


@pytest.mark.parametrize("algo,flags", [("sha256", 1), ("sha384", 1), ("sha512", 1),
                                        ("sha256", 0)])
def test_data_chain_equals_descriptors_by_hand(core: str, algo: str, flags: int) -> None:
    size = hashlib.new(algo).digest_size
    contents = hashlib.shake_256(b"contents").digest(size * 9)
    rim0 = hashlib.new(algo, b"rim").digest()
    ipa = 0xFFFF_F000  # crosses 2^32 on the way: the IPA is a full 64-bit field
    rim = rim0
    for k in range(9):
        desc = data_descriptor(slot(rim), ipa + k * 4096, flags,
                               slot(contents[k * size:(k + 1) * size]))
        rim = hashlib.new(algo, desc).digest()
    layout = data_descriptor_layout(size, flags)
    assert hashcore.data_chain(algo, layout, rim0, ipa, contents) == rim
    assert hashcore.data_chain(algo, layout, rim0, ipa, b"") == rim0


def test_data_chain_rejects_bad_lengths(core: str) -> None:
    layout = data_descriptor_layout(32, 1)
    with pytest.raises(ValueError):
        hashcore.data_chain("sha256", layout, bytes(32), 0, bytes(33))
    with pytest.raises(ValueError):
        hashcore.data_chain("sha256", layout, bytes(31), 0, bytes(32))


@needs_native
def test_native_rejects_bad_descriptor_templates() -> None:
    assert NATIVE is not None
    with pytest.raises(ValueError, match="template"):
        NATIVE.data_chain("sha256", bytes(255), 16, 80, 96, bytes(32), 0, bytes(32))
    with pytest.raises(ValueError, match="offset"):
        NATIVE.data_chain("sha256", bytes(256), 250, 80, 96, bytes(32), 0, bytes(32))
    with pytest.raises(ValueError, match="unsupported"):
        NATIVE.granule_hashes("md5", bytes(4096))


@pytest.mark.parametrize("offset", [0, 1, 4095, 4096, 12345])
def test_file_granule_hashes(core: str, tmp_path: Path, offset: int) -> None:
    data = hashlib.shake_256(b"file").digest(4096 * 20 + 77)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        count = (len(data) - offset) // 4096
        got = hashcore.file_granule_hashes("sha512", fd, offset, count)
        assert got == _by_hand("sha512", data[offset:offset + count * 4096])
        with pytest.raises(OSError, match="changed"):
            hashcore.file_granule_hashes("sha512", fd, offset, count + 1)
    finally:
        os.close(fd)


@needs_native
def test_file_truncated_while_hashed_is_an_error_not_sigbus(tmp_path: Path) -> None:
    """The native core reads files through a mapping; a file cut short meanwhile must give
    OSError (SIGBUS would kill the process)."""
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.truncate(512 << 20)  # sparse: about 2 s of SHA-512, far longer than the delay
    fd = os.open(path, os.O_RDONLY)

    def cut() -> None:
        time.sleep(0.05)
        os.truncate(path, 4096)

    t = threading.Thread(target=cut)
    t.start()
    try:
        with pytest.raises(OSError, match="file changed while being read"):
            hashcore.file_granule_hashes("sha512", fd, 0, (512 << 20) // 4096)
    finally:
        t.join()
    try:
        assert hashcore.file_granule_hashes("sha256", fd, 0, 1) == \
            hashlib.sha256(bytes(4096)).digest()
    finally:
        os.close(fd)


@needs_native
def test_other_sigbus_still_terminates(tmp_path: Path) -> None:
    """Our SIGBUS handler only catches faults of our own mappings; anyone else's bus error
    still ends the process as it would without rmtool."""
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(8192))
    code = f"""
import mmap, os
from rmtool.measure import _hashcore as hashcore
fd = os.open({str(path)!r}, os.O_RDWR)
hashcore.file_granule_hashes("sha256", fd, 0, 2)  # installs the handler
m = mmap.mmap(fd, 8192)
os.truncate({str(path)!r}, 0)
print(m[5000])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -7  # SIGBUS


@pytest.mark.parametrize("lead", [0, 4, 4095])
@pytest.mark.parametrize("jobs", [1, 2])
def test_realm_result_is_the_same_for_both_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 lead: int, jobs: int) -> None:
    blob = hashlib.shake_256(b"cores").digest(9 * 1024 * 1024 + 321)  # > 2 file chunks
    path = tmp_path / "k.bin"
    path.write_bytes(blob)
    results = []
    for native in (NATIVE, None):
        monkeypatch.setattr(hashcore, "_native", native)
        for algo in (SHA256, SHA384, SHA512):
            params = RealmParams(algo, 33, 6, 6)
            m = Realm("2.0" if algo is SHA384 else "1.0-rel0",
                      hasher=ParallelGranuleHasher(jobs)).execute(
                [RealmCreate(params), DataCreate(0x80000000 + lead,
                                                 Image.from_file("k", str(path)))])
            results.append(m.rim)
    assert results[:3] == results[3:]
    # and an in-memory image of the same bytes agrees with the file (python core here)
    params = RealmParams(SHA256, 33, 6, 6)
    by_hand = Realm(hasher=ParallelGranuleHasher(1)).execute(
        [RealmCreate(params), DataCreate(0x80000000 + lead, Image.from_bytes("k", blob))])
    assert by_hand.rim == results[0]


def test_data_addresses_wrap_at_64_bits(core: str) -> None:
    """VMM front-ends measure what the reference's release build computes: a blob placed
    just below 2**64 continues at IPA 0 (src/realm.rs ``aligned_addr + off`` wraps)."""
    blob = hashlib.shake_256(b"wrap").digest(3 * 4096)
    params = RealmParams(SHA256, 33, 6, 6)
    ipa = (1 << 64) - 4096
    m = Realm(hasher=ParallelGranuleHasher(1)).execute(
        [RealmCreate(params), DataCreate(ipa, Image.from_bytes("fw", blob))])
    rim = Realm().execute([RealmCreate(params)]).rim
    for k, at in enumerate((ipa, 0, 4096)):
        content = hashlib.sha256(blob[k * 4096:(k + 1) * 4096]).digest()
        rim = hashlib.sha256(data_descriptor(slot(rim), at, 1, slot(content))).digest()
    assert m.rim == rim
    assert m.trace[-1].descriptors == 3


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 4 << 20, (4 << 20) + 4096 - 7,
                                  (8 << 20) + 5])
@pytest.mark.parametrize("lead", [0, 7, 4095])
def test_file_chunking_edges(core: str, tmp_path: Path, size: int, lead: int) -> None:
    """Content hashes of a file placed ``lead`` bytes into its first granule, at the chunk
    boundaries of both readers, against hashlib over the zero-filled granules."""
    data = hashlib.shake_256(f"{size}".encode()).digest(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    padded = bytes(lead) + data
    padded += bytes(-len(padded) % 4096)  # an empty image at lead > 0: one zero granule
    expected = [hashlib.sha384(padded[o:o + 4096]).digest() for o in range(0, len(padded), 4096)]
    for jobs in (1, 2):
        got = list(ParallelGranuleHasher(jobs).content_hashes(
            Image.from_file("f", str(path)), "sha384", lead))
        assert got == expected, jobs
