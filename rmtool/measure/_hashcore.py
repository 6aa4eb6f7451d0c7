"""The per-granule hot path: content hashes and the DATA descriptor chain.

Spec: TF-RMM ``lib/measurement/src/rim.c`` (``measurement_data_granule_measure``). A
measured DATA_CREATE of n granules costs n content hashes (4 KiB each) and n descriptor
hashes (256 bytes each); for a 164 MiB payload that is 84k hash calls, so the per-call cost
of Python matters as much as the hashing.

Two interchangeable cores compute exactly the same bytes:

* ``native``: the C module ``rmtool.measure._granules`` (built at install time when a C
  compiler and OpenSSL's headers are present). It hashes whole chunks with the GIL
  released, so worker threads run truly in parallel, and hashes files straight from the
  page cache.
* ``python``: hashlib, one call per granule. Always available; used when the module is
  not built or when ``RMTOOL_NATIVE=0`` is set in the environment.

Neither knows the descriptor layout: :func:`data_chain` takes a
:class:`~rmtool.measure.rmm._layouts.DataDescriptorLayout` (template, field offsets and
packer of RmmMeasurementDescriptorData).
``tests/test_hashcore.py`` proves the cores identical to each other and to hashlib.
"""

from __future__ import annotations

import hashlib
import os
from types import ModuleType

from rmtool import _hashalgo as hashalgo
from rmtool.measure.rmm._layouts import GRANULE_SIZE, U64_MASK, DataDescriptorLayout


def _load_native() -> ModuleType | None:
    if os.environ.get("RMTOOL_NATIVE", "1") == "0":
        return None
    try:
        import rmtool.measure._granules as _granules
    except ImportError:
        return None
    return _granules


_native = _load_native()
NATIVE_ALGOS = frozenset(a.name for a in hashalgo.REALM)  # what _granules.c hashes


def core_name(algo_name: str) -> str:
    """Which core hashes ``algo_name``: ``native`` or ``python``."""
    return "native" if _native is not None and algo_name in NATIVE_ALGOS else "python"


def releases_gil(algo_name: str) -> bool:
    """True when :func:`granule_hashes` lets other threads run for a whole chunk."""
    return core_name(algo_name) == "native"


def granule_hashes(algo_name: str, data: bytes | bytearray | memoryview) -> bytes:
    """H(granule) of each 4 KiB granule of ``data`` (a whole number of granules),
    concatenated."""
    if len(data) % GRANULE_SIZE:
        raise ValueError(f"data length {len(data)} is not a multiple of {GRANULE_SIZE}")
    if _native is not None and algo_name in NATIVE_ALGOS:
        out: bytes = _native.granule_hashes(algo_name, data)
        return out
    ctor = getattr(hashlib, algo_name)
    mv = memoryview(data)
    return b"".join([ctor(mv[o:o + GRANULE_SIZE]).digest()
                     for o in range(0, len(mv), GRANULE_SIZE)])


def file_granule_hashes(algo_name: str, fd: int, offset: int, count: int) -> bytes:
    """H(granule) of ``count`` whole granules of the open file ``fd`` from byte ``offset``,
    concatenated. Raises OSError when the file is shorter (or is truncated meanwhile).

    The native core hashes from a temporary mapping of the page cache (no copy); the
    python core reads with ``pread``."""
    if _native is not None and algo_name in NATIVE_ALGOS:
        out: bytes = _native.file_granule_hashes(algo_name, fd, offset, count)
        return out
    want = count * GRANULE_SIZE
    data = os.pread(fd, want, offset)
    if len(data) != want:
        raise OSError("file changed while being read")
    return granule_hashes(algo_name, data)


def data_chain(algo_name: str, layout: DataDescriptorLayout, rim: bytes, ipa: int,
               contents: bytes) -> bytes:
    """Extend ``rim`` (hash-size) by one DATA descriptor per hash in ``contents``;
    granule k is at ``ipa + k * 4096`` modulo 2**64. Returns the final RIM (hash-size)."""
    size = layout.hash_size
    if len(rim) != size or len(contents) % size:
        raise ValueError(f"rim or contents not a multiple of the {size}-byte hash")
    if _native is not None and algo_name in NATIVE_ALGOS:
        out: bytes = _native.data_chain(algo_name, layout.template, layout.rim_off,
                                        layout.ipa_off, layout.content_off, rim, ipa, contents)
        return out
    ctor = getattr(hashlib, algo_name)
    pack = layout.pack
    for o in range(0, len(contents), size):
        rim = ctor(pack(rim, ipa, contents[o:o + size])).digest()
        ipa = (ipa + GRANULE_SIZE) & U64_MASK  # a 64-bit field: wraps like the C core
    return rim
