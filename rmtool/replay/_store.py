"""The image store: cached digests and granule hashes of reference images (SQLite).

design.md "Images" ("caches are speed-ups, never oracles"): the Realm model asks a
:class:`~rmtool.measure.images.GranuleHasher` for the content hashes of a blob;
:class:`ImageStore` is a caching one. For each file it keeps the whole-file digest per
algorithm, the per-granule hash list per (algorithm, lead) and (``ChainMemo``) the RIM a
DATA_CREATE of the file gave from a RIM and IPA, so a second replay of the same large
images reads a few SQLite rows and never opens the files.

A row is used only if the file is provably the one that was hashed (docs/architecture.md,
"The image store: threat model"): rows are keyed by a :class:`FileKey` -- the resolved path
(``os.path.realpath``, so a re-pointed symlink misses) plus ``st_dev``, ``st_ino``,
``st_size``, ``st_mtime_ns`` and ``st_ctime_ns``, as git's index keys its entries (git
``Documentation/technical/racy-git.adoc``). The key of a computed value is the ``fstat``
of the descriptor it was read from, taken before and after the read (a file that changes
while it is read is an error, never a row). ctime cannot be set by a user (``touch -r``,
``cp -p``, ``tar x``, ``rsync -t`` restore mtime only), so same-size content restored to
the old mtime misses. git's "racily clean" rule covers changes within one timestamp
granule: a row read at wall-clock time T is not trusted when the file's mtime or ctime is
at or after ``T - RACY_MARGIN_NS``; such a file is hashed again on every use.

On a miss, :meth:`ImageStore.prefetch` computes the digests of all reference files and the
granule hashes of those whose size is that of a measured image in the log, as independent
tasks of one pool of forked workers (so a cold replay is not a sequential digest pass
followed by a granule pass). The database lives under
``platformdirs.user_cache_dir("rmtool")`` unless a path is given (``":memory:"`` keeps it
in memory). A store of another schema version is discarded (its tables dropped), never
read. In-memory images (regenerated DTBs, decompressed kernels) are hashed every time.

:class:`ReferenceImages` is the ``--images`` set: checksum files in sha256sum / sha512sum
format (``<hex> <space or *><path>``, paths relative to the file) and directories (every
regular file below them). A checksum line is a claim, not a fact: the file it names is
hashed in this run (never taken from the store) and a file that does not hash to its claim
is an error naming the file and both digests, and is not a reference image. The file whose
digest matched a log event is pinned (:class:`PinnedImage`): its granule hashes come from
a row of the same :class:`FileKey`, or from one read that also hashes the whole file and
must give the matched digest again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sqlite3
import stat
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rmtool import _hashalgo as hashalgo
from rmtool._files import read_bounded
from rmtool.errors import InputFileError, UsageError
from rmtool.measure.images import (
    PROCESS_CHUNK,
    PROCESS_THRESHOLD,
    GranuleHasher,
    Image,
    ParallelGranuleHasher,
    _chunk_bounds,
    _hash_chunk,
    granule_count,
)
from rmtool.measure.kernel import ARM64_MAGIC, MAX_KERNEL_SIZE

SCHEMA_VERSION = 2  # 1: rows keyed by (path, size, mtime) -- discarded, never read
MAX_CHECKSUM_FILE = 16 << 20  # bytes of one checksum file
MAX_FILES = 100_000  # files under one --images directory
# hex digits of a checksum line -> Realm Hash Algorithm (views of rmtool._hashalgo)
DIGEST_LENGTHS = {2 * a.size: a.name for a in hashalgo.REALM}
GZIP_MAGIC = b"\x1f\x8b"
#: git's racy-clean margin: a row is not trusted when the file's mtime or ctime is at or
#: after (the time its read started - this). 2 s covers the coarsest common timestamp
#: granularity (FAT: 2 s; ext3 small inodes, HFS+, many network file systems: 1 s; local
#: Linux file systems: one jiffy, <= 10 ms) and a little clock skew.
RACY_MARGIN_NS = 2_000_000_000
VERIFY_CHUNK = 4 << 20  # bytes per read of the one-read (digest + granules) path
_TABLES = ("file_digests", "file_granules", "file_chains")
_OLD_TABLES = ("digests", "granules", "chains")  # schema 1


def default_store_path() -> str:
    from platformdirs import user_cache_dir

    return os.path.join(user_cache_dir("rmtool"), "images.sqlite3")


def _clock_ns() -> int:
    """Wall-clock time, the time base of file timestamps (tests move it)."""
    return time.time_ns()


@dataclass(frozen=True)
class FileKey:
    """What makes a file "the same" for the store (git's index uses the same fields)."""

    path: str  # os.path.realpath of the name given
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, real: str, st: os.stat_result) -> FileKey:
        return cls(real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def columns(self) -> tuple[int, int, int, int, int]:
        return self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns

    def racy(self, recorded_ns: int) -> bool:
        """git's racily-clean test: the file may have changed within the timestamp
        granule of a read that started at ``recorded_ns`` without changing its stat."""
        return max(self.mtime_ns, self.ctime_ns) >= recorded_ns - RACY_MARGIN_NS

    def trusts(self, columns: Iterable[int], recorded_ns: int) -> bool:
        """A row recorded with ``columns`` from a read started at ``recorded_ns``
        describes this file."""
        return tuple(columns) == self.columns() and not self.racy(recorded_ns)


def stat_key(path: str) -> FileKey:
    """The key of the file ``path`` names now (symlinks resolved)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise InputFileError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    return FileKey.of(real, st)


def _open_fd(path: str) -> tuple[int, FileKey]:
    """A read-only descriptor of the regular file ``path`` and the key from its fstat
    (OSError otherwise: this also runs in worker processes)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, FileKey.of(path, st)


def _still(fd: int, key: FileKey) -> None:
    if FileKey.of(key.path, os.fstat(fd)) != key:
        raise OSError(f"{key.path}: file changed while being read")


def _read_exact(fd: int, start: int, end: int, path: str) -> bytes:
    data = os.pread(fd, end - start, start)
    if len(data) != end - start:
        raise OSError(f"{path}: file changed while being read")
    return data


def _unreadable(path: str, exc: OSError) -> InputFileError:
    return InputFileError(f"cannot read image {path}: {exc.strerror or exc}")


@dataclass
class PinnedImage(Image):
    """A reference file as it was when its digest matched: its key and that digest."""

    identity: FileKey | None = None
    matched_digest: bytes | None = None


class ImageStore:
    """Cached whole-file digests and granule hash lists (a caching GranuleHasher)."""

    def __init__(self, path: str | None = None, jobs: int | None = None) -> None:
        self.path = path or default_store_path()
        hasher = ParallelGranuleHasher(jobs)
        self.jobs = hasher.jobs
        self.fallback: GranuleHasher = hasher
        self.hits = 0
        self.misses = 0
        self.warning: str | None = None
        # digests computed by this instance: (realpath, variant, algo) -> (digest, key)
        self._hashed: dict[tuple[str, str, str], tuple[bytes | None, FileKey]] = {}
        # where the granule hashes of a pinned image came from: the start of their read
        self._granules_read: dict[tuple[FileKey, str, int], int] = {}
        try:
            self.db = self._open(self.path)
        except (OSError, sqlite3.Error) as exc:
            self.warning = f"image store {self.path} unusable ({exc}); using memory"
            self.db = self._open(":memory:")

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        db = sqlite3.connect(path, timeout=30)
        mode = "WAL" if path != ":memory:" else "MEMORY"
        db.execute(f"PRAGMA journal_mode={mode}")
        # a cache: a commit need not reach the disk before the next one (WAL stays consistent)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            version = str(row[0]) if row is not None else None
            if version is not None and version.isdigit() and int(version) > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {version} is newer than this rmtool's "
                                            f"{SCHEMA_VERSION}")
            if version != str(SCHEMA_VERSION):
                # an older (or unknown) store: its rows were keyed by weaker identities and
                # are never read; drop them all
                for table in (*_OLD_TABLES, *_TABLES):
                    db.execute(f"DROP TABLE IF EXISTS {table}")
            cols = ("path TEXT, dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER, "
                    "ctime_ns INTEGER, recorded_ns INTEGER")
            db.execute(f"CREATE TABLE IF NOT EXISTS file_digests ({cols}, variant TEXT, "
                       "algo TEXT, digest BLOB, PRIMARY KEY (path, variant, algo))")
            db.execute(f"CREATE TABLE IF NOT EXISTS file_granules ({cols}, algo TEXT, "
                       "lead INTEGER, hashes BLOB, PRIMARY KEY (path, algo, lead))")
            db.execute(f"CREATE TABLE IF NOT EXISTS file_chains ({cols}, algo TEXT, "
                       "lead INTEGER, rim_in BLOB, ipa INTEGER, rim_out BLOB, "
                       "granules INTEGER, PRIMARY KEY (path, algo, lead, rim_in, ipa))")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)",
                       (str(SCHEMA_VERSION),))
            db.commit()
        except BaseException:
            db.rollback()
            db.close()
            raise
        return db

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ rows
    def _digest_row(self, key: FileKey, variant: str,
                    algo_name: str) -> tuple[bool, bytes | None]:
        row = self.db.execute(
            "SELECT dev, ino, size, mtime_ns, ctime_ns, recorded_ns, digest FROM file_digests "
            "WHERE path=? AND variant=? AND algo=?", (key.path, variant, algo_name)).fetchone()
        if row is None or not key.trusts(row[:5], row[5]):
            return False, None
        value = bytes(row[6]) if row[6] is not None else None
        if value is not None and len(value) != hashlib.new(algo_name).digest_size:
            return False, None
        return True, value

    def _granule_row(self, key: FileKey, algo_name: str, lead: int) -> tuple[bytes, int] | None:
        row = self.db.execute(
            "SELECT dev, ino, size, mtime_ns, ctime_ns, recorded_ns, hashes FROM file_granules "
            "WHERE path=? AND algo=? AND lead=?", (key.path, algo_name, lead)).fetchone()
        if row is None or not key.trusts(row[:5], row[5]):
            return None
        blob = bytes(row[6])
        if len(blob) != hashlib.new(algo_name).digest_size * granule_count(lead, key.size):
            return None
        return blob, int(row[5])

    def _put_digest(self, key: FileKey, variant: str, algo_name: str, recorded_ns: int,
                    value: bytes | None) -> None:
        self._hashed[(key.path, variant, algo_name)] = (value, key)
        self.db.execute("INSERT OR REPLACE INTO file_digests VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (key.path, *key.columns(), recorded_ns, variant, algo_name, value))

    def _put_granules(self, key: FileKey, algo_name: str, lead: int, recorded_ns: int,
                      hashes: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO file_granules VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (key.path, *key.columns(), recorded_ns, algo_name, lead, hashes))

    # ------------------------------------------------------------------ digests
    def identify(self, path: str, algo_name: str, variant: str = "raw", *,
                 fresh: bool = False) -> tuple[bytes | None, FileKey]:
        """The digest of the file ``path`` names (``variant="gunzip"``: of its decompressed
        arm64 Image; None when it is not one) and the key of the file it was computed
        from. ``fresh``: computed from the content by this store instance (a checksum
        claim is checked against the file, never against a row)."""
        key = stat_key(path)
        done = self._hashed.get((key.path, variant, algo_name))
        if done is not None and done[1] == key:
            self.hits += 1
            return done
        if not fresh:
            found, value = self._digest_row(key, variant, algo_name)
            if found:
                self.hits += 1
                return value, key
        self.misses += 1
        started = _clock_ns()
        try:
            if variant == "raw":
                value, key = _digest_task(key.path, algo_name)[:2]
            else:
                data, key = _gunzip_fd(key.path, None)
                value = hashlib.new(algo_name, data).digest() if data is not None else None
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        with self.db:
            self._put_digest(key, variant, algo_name, started, value)
        return value, key

    def digest(self, path: str, algo_name: str, variant: str = "raw") -> bytes | None:
        """Digest of the file (``variant="gunzip"``: of its decompressed arm64 Image;
        None when the file is not one)."""
        return self.identify(path, algo_name, variant)[0]

    def prefetch(self, paths: list[str], algo_name: str, granule_leads: dict[str, int],
                 fresh: Iterable[str] = ()) -> None:
        """Compute, in parallel, what the store lacks: the whole-file digest of each of
        ``paths`` (always for ``fresh``: files named by checksum files) and the content
        hashes of each ``granule_leads`` file at that lead.

        A cold replay needs both for every measured image. Computed one after the other in
        this process they cost two sequential passes (the digest on one core); here they
        are independent tasks of one pool (the digest of a file is one task, its granules
        one task per 4 MiB range), so all cores hash at once. On a warm run nothing is
        read: rows are found by :class:`FileKey` (one ``stat`` per file). Each task keys
        its result with the ``fstat`` of the descriptor it read.
        """
        keys = {p: stat_key(p) for p in dict.fromkeys([*paths, *granule_leads])}
        must = {keys[p].path for p in fresh if p in keys}
        now = _clock_ns()
        want_digest = {}
        for p in paths:
            k = keys[p]
            done = self._hashed.get((k.path, "raw", algo_name))
            if done is not None and done[1] == k:
                continue
            if k.path in must or not self._digest_row(k, "raw", algo_name)[0]:
                want_digest[k.path] = k.size
        # a file changed within the racy margin would not be trusted from a row: its
        # granules are computed when the Realm asks, in one read with its digest
        want_granules = {keys[p].path: (keys[p].size, lead) for p, lead in granule_leads.items()
                         if keys[p].size and not keys[p].racy(now)
                         and self._granule_row(keys[p], algo_name, lead) is None}
        if not want_digest and not want_granules:
            return
        work = sum(want_digest.values()) + sum(s for s, _ in want_granules.values())
        try:
            digests, granules = _compute(want_digest, want_granules, algo_name,
                                         self.jobs if work >= PROCESS_THRESHOLD else 1)
        except OSError as exc:
            raise InputFileError(f"cannot read image: {exc.strerror or exc}") from exc
        with self.db:
            for value, key, started in digests:
                self._put_digest(key, "raw", algo_name, started, value)
            for (_, lead), parts in granules.items():
                found = {k for _, k, _ in parts}
                if len(found) == 1:  # every range read from the same file, unchanged
                    self._put_granules(found.pop(), algo_name, lead,
                                       min(t for _, _, t in parts),
                                       b"".join(h for h, _, _ in parts))

    # ------------------------------------------------------------------ granules
    def content_hashes(self, image: Image, algo_name: str, lead: int) -> Iterable[bytes]:
        """GranuleHasher protocol; cached for file-backed images (a hit is one SQLite row
        split into a list, no file access). On a miss the file is read once: its granule
        hashes and (for a :class:`PinnedImage`) its whole digest, which must be the one
        that matched, then the row is stored."""
        if image.path is None or image.data is not None:
            return self.fallback.content_hashes(image, algo_name, lead)
        pinned = image.identity if isinstance(image, PinnedImage) else None
        key = stat_key(image.path)
        if pinned is not None and key != pinned:
            raise InputFileError(f"{image.path} changed after its digest was checked "
                                 f"(a reference image must not change during a replay)")
        n = hashlib.new(algo_name).digest_size
        hit = self._granule_row(key, algo_name, lead)
        if hit is not None:
            self.hits += 1
            self._granules_read[(key, algo_name, lead)] = hit[1]
            return [h for (h,) in struct.iter_unpack(f"{n}s", hit[0])]
        self.misses += 1
        expected = image.matched_digest if isinstance(image, PinnedImage) else None
        hashes, key, started = self._read_once(image.path, key if pinned else None, expected,
                                               algo_name, lead)
        self._granules_read[(key, algo_name, lead)] = started
        with self.db:
            self._put_granules(key, algo_name, lead, started, hashes)
        return [h for (h,) in struct.iter_unpack(f"{n}s", hashes)]

    @staticmethod
    def _read_once(path: str, pinned: FileKey | None, expected: bytes | None,
                   algo_name: str, lead: int) -> tuple[bytes, FileKey, int]:
        """Granule hashes and whole-file digest from one read of one descriptor."""
        started = _clock_ns()
        try:
            fd, key = _open_fd(os.path.realpath(path))
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        try:
            if pinned is not None and key != pinned:
                raise InputFileError(f"{path} changed after its digest was checked "
                                     "(a reference image must not change during a replay)")
            whole = hashlib.new(algo_name)
            bounds = _chunk_bounds(key.size, lead, VERIFY_CHUNK)
            parts = []
            for k, (a, b) in enumerate(bounds):
                data = _read_exact(fd, a, b, path)
                whole.update(data)
                parts.append(_hash_chunk(data, algo_name, lead, k == 0, k == len(bounds) - 1))
            if not bounds and lead:  # an empty image at an unaligned IPA: see granule_count
                parts.append(_hash_chunk(b"", algo_name, lead, True, True))
            _still(fd, key)
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        finally:
            os.close(fd)
        if expected is not None and whole.digest() != expected:
            raise InputFileError(f"{path} changed after its digest was checked: it now hashes "
                                 f"to {algo_name} {whole.hexdigest()}, not {expected.hex()}")
        return b"".join(parts), key, started

    # ------------------------------------------------------------------ chain memo
    def chain_lookup(self, image: Image, algo_name: str, lead: int, rim_in: bytes,
                     ipa: int) -> tuple[bytes, int] | None:
        """ChainMemo: the RIM a DATA_CREATE of this file gave earlier from ``rim_in``
        (pinned images only: the file must still be the one whose digest matched)."""
        if not isinstance(image, PinnedImage) or image.identity is None:
            return None
        key = stat_key(image.path) if image.path is not None else None
        if key != image.identity:
            return None  # content_hashes says why
        row = self.db.execute(
            "SELECT dev, ino, size, mtime_ns, ctime_ns, recorded_ns, rim_out, granules "
            "FROM file_chains WHERE path=? AND algo=? AND lead=? AND rim_in=? AND ipa=?",
            (key.path, algo_name, lead, rim_in, ipa)).fetchone()
        if row is None or not key.trusts(row[:5], row[5]):
            return None
        if (row[7] != granule_count(lead, key.size)
                or len(row[6]) != hashlib.new(algo_name).digest_size):
            return None
        self.hits += 1
        return bytes(row[6]), int(row[7])

    def chain_record(self, image: Image, algo_name: str, lead: int, rim_in: bytes, ipa: int,
                     rim_out: bytes, count: int) -> None:
        if not isinstance(image, PinnedImage) or image.identity is None:
            return
        key = image.identity
        started = self._granules_read.get((key, algo_name, lead))
        if started is None:
            return  # the hashes did not come from this file as pinned
        with self.db:
            self.db.execute("DELETE FROM file_chains WHERE path=? AND NOT (dev=? AND ino=? AND "
                            "size=? AND mtime_ns=? AND ctime_ns=?)", (key.path, *key.columns()))
            self.db.execute("INSERT OR REPLACE INTO file_chains VALUES "
                            "(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            (key.path, *key.columns(), started, algo_name, lead, rim_in, ipa,
                             rim_out, count))


def _digest_task(path: str, algo_name: str) -> tuple[bytes, FileKey, int]:
    """Whole-file digest, the key of the descriptor read and when the read started (a
    worker-process task as well)."""
    started = _clock_ns()
    fd, key = _open_fd(path)
    try:
        with os.fdopen(os.dup(fd), "rb") as f:
            value = hashlib.file_digest(f, algo_name).digest()
        _still(fd, key)
    finally:
        os.close(fd)
    return value, key, started


def _range_task(path: str, start: int, end: int, algo_name: str, lead: int, first: bool,
                last: bool) -> tuple[bytes, FileKey, int]:
    """Worker-process task: the concatenated content hashes of one file range, keyed."""
    started = _clock_ns()
    fd, key = _open_fd(path)
    try:
        data = _read_exact(fd, start, end, path)
        _still(fd, key)
    finally:
        os.close(fd)
    return _hash_chunk(data, algo_name, lead, first, last), key, started


def _compute(digest_paths: dict[str, int], granule_leads: dict[str, tuple[int, int]],
             algo_name: str, jobs: int
             ) -> tuple[list[tuple[bytes, FileKey, int]],
                        dict[tuple[str, int], list[tuple[bytes, FileKey, int]]]]:
    """Whole-file digests and per-range content hashes (each with the key it was read
    under), by ``jobs`` forked workers. Paths are resolved; sizes as stat'ed."""
    granule_tasks = []
    for path, (size, lead) in granule_leads.items():
        bounds = _chunk_bounds(size, lead, PROCESS_CHUNK)
        last = len(bounds) - 1
        granule_tasks += [((path, lead), (path, a, b, algo_name, lead, k == 0, k == last))
                          for k, (a, b) in enumerate(bounds)]
    # largest digests first (one sequential task each), then the granule ranges
    order = sorted(digest_paths, key=lambda p: -digest_paths[p])
    parts: dict[tuple[str, int], list[tuple[bytes, FileKey, int]]] = {}
    if jobs <= 1:
        digests = [_digest_task(p, algo_name) for p in order]
        for where, args in granule_tasks:
            parts.setdefault(where, []).append(_range_task(*args))
        return digests, parts
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        dfut = [pool.submit(_digest_task, p, algo_name) for p in order]
        gfut = [(where, pool.submit(_range_task, *args)) for where, args in granule_tasks]
        digests = [f.result() for f in dfut]
        for where, fut in gfut:
            parts.setdefault(where, []).append(fut.result())
    return digests, parts


def _gunzip_fd(path: str, pinned: FileKey | None) -> tuple[bytes | None, FileKey]:
    """Decompressed content of a gzip'd arm64 Image (what the VMMs load), else None, and
    the key of the descriptor it was read from (which must be ``pinned`` if given)."""
    fd, key = _open_fd(path)
    try:
        if pinned is not None and key != pinned:
            raise OSError(f"{path} changed after its digest was checked")
        data: bytes | None = None
        if os.pread(fd, 2, 0) == GZIP_MAGIC:
            try:
                with os.fdopen(os.dup(fd), "rb") as f, gzip.GzipFile(fileobj=f) as g:
                    data = g.read(MAX_KERNEL_SIZE + 1)
            except (EOFError, zlib.error, gzip.BadGzipFile):
                data = None
        _still(fd, key)
    finally:
        os.close(fd)
    if data is None or len(data) > MAX_KERNEL_SIZE or len(data) < 64:
        return None, key
    if int.from_bytes(data[56:60], "little") != ARM64_MAGIC:
        return None, key
    return data, key


@dataclass(frozen=True)
class Reference:
    """One reference file; ``claimed`` digests come from a checksum file (algo -> bytes)."""

    path: str
    source: str  # the --images argument it came from
    claimed: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Match:
    """The reference file whose digest (``algo``, ``digest``) matched, as it was then."""

    path: str
    variant: str  # "raw" or "gunzip"
    identity: FileKey | None = None
    algo: str = ""
    digest: bytes = b""

    def image(self) -> Image:
        """The bytes a VMM loads: the file, or its decompressed arm64 Image. The file is
        pinned to the key its digest was computed under; a decompressed Image must hash
        to the matched digest again."""
        name = os.path.basename(self.path)
        if self.variant == "raw":
            return PinnedImage(name=name, path=self.path, identity=self.identity,
                               matched_digest=self.digest or None,
                               _size=self.identity.size if self.identity else None)
        try:
            data = _gunzip_fd(self.identity.path if self.identity else self.path,
                              self.identity)[0]
        except OSError as exc:
            raise InputFileError(f"cannot read image {self.path}: {exc.strerror or exc}"
                                 ) from exc
        if data is None:
            raise InputFileError(f"{self.path} no longer decompresses to an arm64 Image")
        if self.algo and hashlib.new(self.algo, data).digest() != self.digest:
            raise InputFileError(f"{self.path} changed after its digest was checked "
                                 "(its decompressed Image hashes differently)")
        return Image.from_bytes(name + " (gunzip)", data)


def _checksum_lines(path: str) -> Iterator[tuple[int, str, str]]:
    raw = read_bounded(path, MAX_CHECKSUM_FILE, "--images checksum file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--images {path}: not a checksum file or directory "
                         f"(not UTF-8 text at byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        hexpart, sep, rest = line.partition(" ")
        if not sep or not rest or rest[0] not in " *" or len(rest) < 2:
            raise UsageError(f"--images {path} line {number}: expected '<hex> <path>' or "
                             f"'<hex> *<path>' (sha256sum / sha512sum output)")
        yield number, hexpart.strip().lower(), rest[1:]


class ReferenceImages:
    """The ``--images`` set, indexed by digest on demand (per algorithm)."""

    def __init__(self, specs: list[str], store: ImageStore) -> None:
        self.store = store
        self.refs: list[Reference] = []
        self.problems: list[str] = []  # checksum claims that do not hold
        self._index: dict[str, dict[bytes, Match]] = {}
        # size -> lead of the measured images a log names: a reference file of that size
        # gets its granule hashes computed in the same parallel pass as its digest
        self.granule_hints: dict[int, int] = {}
        seen: set[str] = set()
        for spec in specs:
            for ref in self._load(spec):
                if ref.path not in seen:
                    seen.add(ref.path)
                    self.refs.append(ref)

    def _load(self, spec: str) -> list[Reference]:
        p = Path(spec)
        if p.is_dir():
            out: list[Reference] = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if os.path.isfile(full):
                        out.append(Reference(os.path.abspath(full), spec))
                        if len(out) > MAX_FILES:
                            raise UsageError(f"--images {spec}: more than {MAX_FILES} files")
            return out
        if not p.is_file():
            raise UsageError(f"--images {spec}: no such file or directory")
        base = p.resolve().parent
        out = []
        for number, hexpart, rel in _checksum_lines(spec):
            algo = DIGEST_LENGTHS.get(len(hexpart))
            try:
                value = bytes.fromhex(hexpart)
            except ValueError:
                algo = None
            if algo is None:
                raise UsageError(f"--images {spec} line {number}: {hexpart[:16]!r} is not a "
                                 "SHA-256/384/512 hex digest")
            target = (base / rel).resolve()
            if not target.is_file():
                raise UsageError(f"--images {spec} line {number}: {rel}: no such file")
            out.append(Reference(str(target), spec, ((algo, value),)))
        return out

    def index(self, algo_name: str) -> dict[bytes, Match]:
        """digest -> file, for every reference file (and decompressed gzip kernels). A
        file named by a checksum file is hashed now and must hash to its claim."""
        found = self._index.get(algo_name)
        if found is not None:
            return found
        found = {}
        used = [ref for ref in self.refs
                if not ref.claimed or any(a == algo_name for a, _ in ref.claimed)]
        leads = {}
        if self.granule_hints:
            for ref in used:
                lead = self.granule_hints.get(stat_key(ref.path).size)
                if lead is not None:
                    leads[ref.path] = lead
        self.store.prefetch([ref.path for ref in used], algo_name, leads,
                            fresh=[ref.path for ref in used if ref.claimed])
        for ref in self.refs:
            claims = [v for a, v in ref.claimed if a == algo_name]
            if ref.claimed and not claims:
                continue  # a checksum entry of another algorithm: not used for this one
            digest, key = self.store.identify(ref.path, algo_name, fresh=bool(claims))
            assert digest is not None
            wrong = [claim for claim in claims if claim != digest]
            for claim in wrong:
                self.problems.append(
                    f"{ref.source}: {ref.path} is listed with {algo_name} {claim.hex()} "
                    f"but hashes to {digest.hex()}")
            if wrong:
                continue  # not the file the checksum file vouches for: not a reference
            found.setdefault(digest, Match(ref.path, "raw", key, algo_name, digest))
            if not ref.claimed:
                unzipped, zkey = self.store.identify(ref.path, algo_name, "gunzip")
                if unzipped is not None and unzipped not in found:
                    found[unzipped] = Match(ref.path, "gunzip", zkey, algo_name, unzipped)
        self._index[algo_name] = found
        return found

    def find(self, algo_name: str, digest: bytes) -> Match | None:
        return self.index(algo_name).get(digest)
