"""Payload images and streamed, parallel granule hashing.

The Realm model never reads image bytes itself: it asks a :class:`GranuleHasher` for
"the content hashes of this image placed at this IPA". Files are mapped (mmap) and
hashed 4 KiB granule by granule in worker threads (hashlib releases the GIL for
buffers this size); the descriptor chain that follows stays sequential, so the result
never depends on the number of threads.

Spec: spec/rmm-measurement.md §4 (DATA_CREATE content: the granule as copied by the
host; an image that starts at an unaligned IPA is preceded by zeros, the last granule is
zero padded).
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from rmtool.errors import ComputeError, os_error_text
from rmtool.measure.rmm.structures import GRANULE_SIZE

CHUNK_GRANULES = 256  # 1 MiB of content per worker task
Progress = Callable[[int], None]


@dataclass
class Image:
    """A blob loaded into the Realm: file-backed (mapped lazily) or in memory."""

    name: str
    path: str | None = None
    data: bytes | None = None
    _size: int | None = field(default=None, repr=False)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Image:
        return cls(name=name, data=bytes(data))

    @classmethod
    def from_file(cls, name: str, path: str) -> Image:
        return cls(name=name, path=path)

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        if self._size is None:
            assert self.path is not None
            try:
                self._size = os.stat(self.path).st_size
            except OSError as exc:
                raise ComputeError(os_error_text(self.path, exc)) from exc
        return self._size

    @contextmanager
    def view(self) -> Iterator[memoryview]:
        """A read-only view of the bytes (a mapping for files)."""
        if self.data is not None:
            yield memoryview(self.data)
            return
        assert self.path is not None
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise ComputeError(os_error_text(self.path, exc)) from exc
        with f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                yield memoryview(b"")
                return
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                mv = memoryview(mm)
                try:
                    yield mv
                finally:
                    mv.release()
            finally:
                mm.close()

    def digest(self, algo_name: str) -> bytes:
        """Digest of the whole image (event-log image events, reference stores)."""
        h = hashlib.new(algo_name)
        with self.view() as mv:
            step = 1 << 20
            for off in range(0, len(mv), step):
                h.update(mv[off:off + step])
        return h.digest()


def granule_count(lead: int, size: int) -> int:
    """Granules covered by ``size`` bytes starting ``lead`` bytes into a granule."""
    return (lead + size + GRANULE_SIZE - 1) // GRANULE_SIZE if size else 0


class GranuleHasher(Protocol):
    def content_hashes(self, image: Image, algo_name: str, lead: int) -> list[bytes]:
        """H(granule) for each granule of ``image`` placed ``lead`` bytes into a granule."""
        ...


def _hash_range(mv: memoryview, algo_name: str, lead: int, first: int, last: int) -> list[bytes]:
    ctor = getattr(hashlib, algo_name)
    size = len(mv)
    out: list[bytes] = []
    for g in range(first, last):
        start = g * GRANULE_SIZE - lead
        end = start + GRANULE_SIZE
        if start >= 0 and end <= size:
            out.append(ctor(mv[start:end]).digest())
        else:
            chunk = bytes(max(0, -start)) + bytes(mv[max(0, start):min(end, size)])
            out.append(ctor(chunk + bytes(GRANULE_SIZE - len(chunk))).digest())
    return out


class ThreadedGranuleHasher:
    """Content hashes computed by ``jobs`` threads over a mapped image."""

    def __init__(self, jobs: int | None = None, progress: Progress | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.progress = progress

    def content_hashes(self, image: Image, algo_name: str, lead: int) -> list[bytes]:
        with image.view() as mv:
            n = granule_count(lead, len(mv))
            if n == 0:
                return []
            ranges = [(a, min(a + CHUNK_GRANULES, n)) for a in range(0, n, CHUNK_GRANULES)]
            result: list[bytes] = []
            if self.jobs == 1 or len(ranges) == 1:
                for a, b in ranges:
                    result.extend(_hash_range(mv, algo_name, lead, a, b))
                    if self.progress:
                        self.progress((b - a) * GRANULE_SIZE)
                return result
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                futures = [pool.submit(_hash_range, mv, algo_name, lead, a, b)
                           for a, b in ranges]
                for (a, b), fut in zip(ranges, futures, strict=True):
                    result.extend(fut.result())
                    if self.progress:
                        self.progress((b - a) * GRANULE_SIZE)
            return result
