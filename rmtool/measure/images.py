"""Payload images and streamed, parallel granule hashing.

The Realm model never reads image bytes itself: it asks a :class:`GranuleHasher` for
"the content hashes of this image placed at this IPA". Files are read in chunks and
hashed 4 KiB granule by granule in parallel workers (see :mod:`rmtool.measure._hashcore`
for the two hashing cores); the descriptor chain that follows stays sequential, so the
result never depends on the number of workers.

Spec: TF-RMM ``lib/measurement/src/rim.c`` ``measurement_data_granule_measure`` (DATA_CREATE
content: the granule as copied by the host; an image that starts at an unaligned IPA is
preceded by zeros, the last granule is zero padded).

Every image file is opened through :func:`open_input` (and small inputs such as DTB files
and host configurations read through :func:`read_input`): only a regular file is read, so
``/dev/zero`` named as a kernel fails at once instead of being hashed forever, and a FIFO
(opened non-blocking) cannot hang the measurement. Their errors are ``OSError`` so that
each front-end reports them in the reference tool's ``file F error: ...`` words.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from rmtool._files import _kind_of
from rmtool.errors import ComputeError, os_error_text
from rmtool.measure._hashcore import file_granule_hashes, granule_hashes, releases_gil

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future
from rmtool.measure.rmm._layouts import GRANULE_SIZE

CHUNK_GRANULES = 256  # 1 MiB of content per worker task
FILE_CHUNK_GRANULES = 1024  # 4 MiB per task when the native core maps files
Progress = Callable[[int], None]


class NotRegularFile(OSError):
    """A device, FIFO, socket or directory named as a measurement input (no errno: the
    message is the whole reason, ``file F error: kernel is a FIFO, not a regular file``)."""


class InputTooLarge(OSError):
    """A small input (DTB, configuration) larger than its cap."""


def open_input(path: str, what: str) -> int:
    """A read-only descriptor of the regular file ``path`` (``what`` names it in the
    error); ``OSError`` (``NotRegularFile`` for anything but a regular file) otherwise.
    Opened non-blocking, so that a FIFO is refused rather than waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{what} is {_kind_of(mode)}, not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_input(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` (``InputTooLarge``
    beyond); at most ``limit + 1`` bytes are read."""
    with os.fdopen(open_input(path, what), "rb") as f:
        if os.fstat(f.fileno()).st_size > limit:
            raise InputTooLarge(f"{what} is larger than {limit} bytes")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputTooLarge(f"{what} is larger than {limit} bytes")
    return data


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
                st = os.stat(self.path)
                if not stat.S_ISREG(st.st_mode):  # /dev/zero has size 0: never measure it
                    raise NotRegularFile(f"{self.name} is {_kind_of(st.st_mode)}, "
                                         "not a regular file")
                self._size = st.st_size
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
            f = os.fdopen(open_input(self.path, self.name), "rb")
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
    """Granules covered by ``size`` bytes starting ``lead`` bytes into a granule. An empty
    image at an unaligned IPA still covers the zero-filled granule it starts in (the
    reference's ``rim_data_create`` aligns the zero fill up to a granule)."""
    return (lead + size + GRANULE_SIZE - 1) // GRANULE_SIZE


class GranuleHasher(Protocol):
    def content_hashes(self, image: Image, algo_name: str, lead: int) -> Iterable[bytes]:
        """H(granule), in order, for each granule of ``image`` placed ``lead`` bytes into
        its first granule (zeros before, zero padding after)."""
        ...


@runtime_checkable
class BlockHasher(Protocol):
    """Optional capability: the same hashes, concatenated a chunk at a time (what the
    native descriptor chain consumes without splitting them into objects)."""

    def content_hash_blocks(self, image: Image, algo_name: str, lead: int) -> Iterator[bytes]:
        ...


def _hash_chunk(chunk: bytes | memoryview, algo_name: str, lead: int, first_is_start: bool,
                last_is_end: bool) -> bytes:
    """Concatenated hashes of the granules of ``chunk`` (whole granules, except zero fill
    at the ends of the image)."""
    if first_is_start and lead:
        chunk = bytes(lead) + bytes(chunk)
    if last_is_end and len(chunk) % GRANULE_SIZE:
        chunk = bytes(chunk) + bytes(GRANULE_SIZE - len(chunk) % GRANULE_SIZE)
    return granule_hashes(algo_name, chunk)


PROCESS_THRESHOLD = 16 << 20  # files this large use worker processes (python core only)
PROCESS_CHUNK = 4 << 20


def _hash_file_range(path: str, start: int, end: int, algo_name: str, lead: int,
                     first: bool, last: bool) -> bytes:
    """Worker-process task: the concatenated content hashes of one file range."""
    fd = open_input(path, "image")
    try:
        data = os.pread(fd, end - start, start)
    finally:
        os.close(fd)
    if len(data) != end - start:
        raise OSError(f"{path}: file changed while being read")
    return _hash_chunk(data, algo_name, lead, first, last)


def _chunk_bounds(size: int, lead: int, chunk: int) -> list[tuple[int, int]]:
    """Image byte ranges of whole granules; the first range is shortened by ``lead``."""
    bounds = []
    start = 0
    while start < size:
        end = min(size, start + (chunk - lead if start == 0 else chunk))
        bounds.append((start, end))
        start = end
    return bounds


class ParallelGranuleHasher:
    """Content hashes computed by ``jobs`` workers, streamed in order.

    Images are read a chunk at a time (``pread``, or a temporary read-only mapping of the
    chunk with the native core), so the resident set stays small, and at most
    ``2 * jobs`` chunks are in flight. The caller consumes the hashes
    while later chunks are still being hashed, so the sequential descriptor chain
    overlaps the parallel content hashing. The result never depends on ``jobs``.

    Workers are threads when the native core hashes (it releases the GIL for a whole
    chunk). With the python core, hashlib takes the GIL back after every 4 KiB granule,
    so two threads are slower than one (measured: 2 threads 0.135 s, 2 processes
    0.073 s, 1 thread 0.107 s for 100 MiB of SHA-256); large files then go to forked
    worker processes instead.
    """

    def __init__(self, jobs: int | None = None, progress: Progress | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.progress = progress

    def content_hashes(self, image: Image, algo_name: str, lead: int) -> Iterator[bytes]:
        size = hashlib.new(algo_name).digest_size
        for blob in self.content_hash_blocks(image, algo_name, lead):
            for o in range(0, len(blob), size):
                yield blob[o:o + size]

    def content_hash_blocks(self, image: Image, algo_name: str, lead: int) -> Iterator[bytes]:
        size = image.size
        if size == 0:
            if lead:  # see granule_count
                yield granule_hashes(algo_name, bytes(GRANULE_SIZE))
            return
        if image.data is not None:
            data = memoryview(image.data)

            def read(a: int, b: int) -> bytes | memoryview:
                return data[a:b]
            yield from self._threads(_chunk_bounds(size, lead, CHUNK_GRANULES * GRANULE_SIZE),
                                     read, algo_name, lead)
            return
        assert image.path is not None
        path = image.path
        if self.jobs > 1 and size >= PROCESS_THRESHOLD and not releases_gil(algo_name):
            yield from self._processes(path, size, algo_name, lead)
            return
        try:
            fd = open_input(path, image.name)
        except OSError as exc:
            raise ComputeError(os_error_text(path, exc)) from exc
        changed = f"VMM: file {path} error: file changed while being read"

        def pread(a: int, b: int) -> bytes:
            got = os.pread(fd, b - a, a)
            if len(got) != b - a:
                raise ComputeError(changed)
            return got

        def whole(a: int, b: int) -> bytes:
            try:
                return file_granule_hashes(algo_name, fd, a, (b - a) // GRANULE_SIZE)
            except OSError as exc:
                raise ComputeError(changed) from exc

        chunk = (FILE_CHUNK_GRANULES if releases_gil(algo_name) else CHUNK_GRANULES)
        try:
            yield from self._threads(_chunk_bounds(size, lead, chunk * GRANULE_SIZE), pread,
                                     algo_name, lead, whole)
        finally:
            os.close(fd)

    def _threads(self, bounds: list[tuple[int, int]],
                 read: Callable[[int, int], bytes | memoryview], algo_name: str,
                 lead: int,
                 whole: Callable[[int, int], bytes] | None = None) -> Iterator[bytes]:
        """``read(a, b)``: image bytes [a, b); ``whole(a, b)``: the hashes of [a, b) when
        it is made of whole granules (no zero fill), if the image has a faster way."""
        last = len(bounds) - 1

        def task(k: int) -> bytes:
            a, b = bounds[k]
            if whole is not None and not (k == 0 and lead) and (b - a) % GRANULE_SIZE == 0:
                return whole(a, b)
            return _hash_chunk(read(a, b), algo_name, lead, k == 0, k == last)

        if self.jobs == 1 or len(bounds) == 1:
            for k, (a, b) in enumerate(bounds):
                yield task(k)
                if self.progress:
                    self.progress(b - a)
            return
        yield from self._ordered_threads([partial(task, k) for k in range(len(bounds))], bounds)

    def _ordered_threads(self, tasks: list[Callable[[], bytes]],
                         bounds: list[tuple[int, int]]) -> Iterator[bytes]:
        """Run ``tasks`` on ``jobs`` threads, at most ``2 * jobs`` results ahead of the
        consumer, and yield the results in order. (Plain threads: concurrent.futures
        costs more to import than this whole pipeline costs to run on small inputs.)"""
        window = 2 * self.jobs
        cond = threading.Condition()
        results: dict[int, bytes | BaseException] = {}
        state = {"next": 0, "consumed": 0, "stop": False}

        def worker() -> None:
            while True:
                with cond:
                    while (not state["stop"] and state["next"] < len(tasks)
                           and state["next"] - state["consumed"] >= window):
                        cond.wait()
                    if state["stop"] or state["next"] >= len(tasks):
                        return
                    k = state["next"]
                    state["next"] = k + 1
                try:
                    got: bytes | BaseException = tasks[k]()
                except BaseException as exc:  # handed to the consumer, re-raised there
                    got = exc
                with cond:
                    results[k] = got
                    cond.notify_all()

        threads = [threading.Thread(target=worker, daemon=True)
                   for _ in range(min(self.jobs, len(tasks)))]
        for t in threads:
            t.start()
        try:
            for k in range(len(tasks)):
                with cond:
                    while k not in results:
                        cond.wait()
                    got = results.pop(k)
                    state["consumed"] = k + 1
                    cond.notify_all()
                if isinstance(got, BaseException):
                    raise got
                yield got
                if self.progress:
                    a, b = bounds[k]
                    self.progress(b - a)
        finally:
            with cond:
                state["stop"] = True
                cond.notify_all()
            for t in threads:
                t.join()

    def _processes(self, path: str, size: int, algo_name: str, lead: int) -> Iterator[bytes]:
        bounds = _chunk_bounds(size, lead, PROCESS_CHUNK)
        last = len(bounds) - 1
        tasks = [(_hash_file_range, (path, a, b, algo_name, lead, k == 0, k == last))
                 for k, (a, b) in enumerate(bounds)]

        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork")
        try:
            with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx) as pool:
                yield from self._ordered(pool, tasks, bounds)
        except OSError as exc:
            raise ComputeError(os_error_text(path, exc)) from exc

    def _ordered(self, pool: Executor, tasks: list[tuple[Callable[..., Any], tuple[Any, ...]]],
                 bounds: list[tuple[int, int]]) -> Iterator[bytes]:
        """The process pool's ordered pipeline (``_ordered_threads`` is the threads' one:
        submitting from this thread avoids a waiting thread per task, 15 ms on 164 MiB)."""
        pending: deque[Future[bytes]] = deque()
        nxt = 0
        for k in range(len(tasks)):
            while nxt < len(tasks) and len(pending) < 2 * self.jobs:
                fn, args = tasks[nxt]
                pending.append(pool.submit(fn, *args))
                nxt += 1
            yield pending.popleft().result()
            if self.progress:
                a, b = bounds[k]
                self.progress(b - a)
