"""The image store: cached digests and granule hashes of reference images (SQLite).

design.md "Images": the Realm model asks a :class:`~rmtool.measure.images.GranuleHasher`
for the content hashes of a blob; :class:`ImageStore` is a caching one. For each file it
keeps, keyed by (path, size, mtime in ns), the whole-file digest per algorithm and the
per-granule hash list per (algorithm, lead), so a second replay of the same large images
reads a few SQLite rows and never opens the files. On a miss, :meth:`ImageStore.prefetch`
computes the digests of all reference files and the granule hashes of those whose size is
that of a measured image in the log, as independent tasks of one pool of forked workers
(so a cold replay is not a sequential digest pass followed by a granule pass). Rows whose
size or mtime no longer match are recomputed and replaced. The database lives under
``platformdirs.user_cache_dir("rmtool")`` unless a path is given (``":memory:"`` keeps it
in memory). In-memory images (regenerated DTBs, decompressed kernels) are hashed every time.

:class:`ReferenceImages` is the ``--images`` set: checksum files in sha256sum / sha512sum
format (``<hex> <space or *><path>``, paths relative to the file) and directories (every
regular file below them). A checksum line is a claim, not a fact: the file's digest is
computed (cached) and compared before the file is used.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sqlite3
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rmtool.errors import InputFileError, UsageError
from rmtool.files import read_bounded
from rmtool.measure.images import (
    PROCESS_CHUNK,
    PROCESS_THRESHOLD,
    GranuleHasher,
    Image,
    ParallelGranuleHasher,
    _chunk_bounds,
    _hash_file_range,
    granule_count,
)
from rmtool.measure.kernel import ARM64_MAGIC, MAX_KERNEL_SIZE

SCHEMA_VERSION = 1
MAX_CHECKSUM_FILE = 16 << 20  # bytes of one checksum file
MAX_FILES = 100_000  # files under one --images directory
DIGEST_LENGTHS = {64: "sha256", 96: "sha384", 128: "sha512"}
GZIP_MAGIC = b"\x1f\x8b"


def default_store_path() -> str:
    from platformdirs import user_cache_dir

    return os.path.join(user_cache_dir("rmtool"), "images.sqlite3")


def _stat_key(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputFileError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    return st.st_size, st.st_mtime_ns


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
        db.executescript(f"""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS digests (
                path TEXT, variant TEXT, algo TEXT, size INTEGER, mtime_ns INTEGER,
                digest BLOB, PRIMARY KEY (path, variant, algo));
            CREATE TABLE IF NOT EXISTS granules (
                path TEXT, variant TEXT, algo TEXT, lead INTEGER, size INTEGER,
                mtime_ns INTEGER, hashes BLOB, PRIMARY KEY (path, variant, algo, lead));
            CREATE TABLE IF NOT EXISTS chains (
                path TEXT, algo TEXT, lead INTEGER, size INTEGER, mtime_ns INTEGER,
                rim_in BLOB, ipa INTEGER, rim_out BLOB, granules INTEGER,
                PRIMARY KEY (path, algo, lead, rim_in, ipa));
            INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA_VERSION}');
        """)
        return db

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ digests
    def _cached_digest(self, path: str, variant: str, algo_name: str,
                       key: tuple[int, int]) -> tuple[bool, bytes | None]:
        row = self.db.execute(
            "SELECT digest FROM digests WHERE path=? AND variant=? AND algo=? AND size=? "
            "AND mtime_ns=?", (path, variant, algo_name, *key)).fetchone()
        if row is None:
            return False, None
        return True, bytes(row[0]) if row[0] is not None else None

    def _cached_granules(self, path: str, algo_name: str, lead: int,
                         key: tuple[int, int]) -> bytes | None:
        row = self.db.execute(
            "SELECT hashes FROM granules WHERE path=? AND variant='raw' AND algo=? AND lead=? "
            "AND size=? AND mtime_ns=?", (path, algo_name, lead, *key)).fetchone()
        return bytes(row[0]) if row is not None else None

    def digest(self, path: str, algo_name: str, variant: str = "raw") -> bytes | None:
        """Digest of the file (``variant="gunzip"``: of its decompressed arm64 Image;
        None when the file is not one)."""
        key = _stat_key(path)
        found, value = self._cached_digest(path, variant, algo_name, key)
        if found:
            self.hits += 1
            return value
        self.misses += 1
        if variant == "raw":
            value = _file_digest(path, algo_name)
        else:
            data = gunzip_kernel(path)
            value = hashlib.new(algo_name, data).digest() if data is not None else None
        self.db.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?,?,?)",
                        (path, variant, algo_name, *key, value))
        self.db.commit()
        return value

    def prefetch(self, paths: list[str], algo_name: str, granule_leads: dict[str, int]) -> None:
        """Compute, in parallel, what the store lacks: the whole-file digest of each of
        ``paths`` and the content hashes of each ``granule_leads`` file at that lead.

        A cold replay needs both for every measured image. Computed one after the other in
        this process they cost two sequential passes (the digest on one core); here they
        are independent tasks of one pool (the digest of a file is one task, its granules
        one task per 4 MiB range), so all cores hash at once. Nothing is read on a warm
        run: cached rows are found by (path, size, mtime_ns).
        """
        keys = {p: _stat_key(p) for p in dict.fromkeys([*paths, *granule_leads])}
        want_digest = [p for p in dict.fromkeys(paths)
                       if not self._cached_digest(p, "raw", algo_name, keys[p])[0]]
        want_granules = {p: lead for p, lead in granule_leads.items()
                         if keys[p][0] and self._cached_granules(p, algo_name, lead,
                                                                  keys[p]) is None}
        if not want_digest and not want_granules:
            return
        work = sum(keys[p][0] for p in want_digest) + sum(keys[p][0] for p in want_granules)
        digests, granules = _compute(want_digest, want_granules, keys, algo_name,
                                     self.jobs if work >= PROCESS_THRESHOLD else 1)
        rows_d = [(p, "raw", algo_name, *keys[p], d) for p, d in digests.items()
                  if _stat_key(p) == keys[p]]
        rows_g = [(p, "raw", algo_name, want_granules[p], *keys[p], g)
                  for p, g in granules.items() if _stat_key(p) == keys[p]]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO digests VALUES (?,?,?,?,?,?)", rows_d)
            self.db.executemany("INSERT OR REPLACE INTO granules VALUES (?,?,?,?,?,?,?)",
                                rows_g)

    # ------------------------------------------------------------------ granules
    def content_hashes(self, image: Image, algo_name: str, lead: int) -> Iterable[bytes]:
        """GranuleHasher protocol; cached for file-backed images (a hit is one SQLite row
        split into a list, no file access). On a miss the hashes are streamed from the
        parallel hasher as they come and stored at the end."""
        if image.path is None or image.data is not None:
            return self.fallback.content_hashes(image, algo_name, lead)
        path = image.path
        key = _stat_key(path)
        blob = self._cached_granules(path, algo_name, lead, key)
        n = hashlib.new(algo_name).digest_size
        if blob is not None and len(blob) == n * granule_count(lead, key[0]):
            self.hits += 1
            return [h for (h,) in struct.iter_unpack(f"{n}s", blob)]
        self.misses += 1
        return self._compute_and_store(image, algo_name, lead, key)

    # ------------------------------------------------------------------ chain memo
    def chain_lookup(self, image: Image, algo_name: str, lead: int, rim_in: bytes,
                     ipa: int) -> tuple[bytes, int] | None:
        """ChainMemo: the RIM a DATA_CREATE of this file gave earlier from ``rim_in``."""
        if image.path is None or image.data is not None:
            return None
        key = _stat_key(image.path)
        row = self.db.execute(
            "SELECT rim_out, granules FROM chains WHERE path=? AND algo=? AND lead=? AND "
            "rim_in=? AND ipa=? AND size=? AND mtime_ns=?",
            (image.path, algo_name, lead, rim_in, ipa, *key)).fetchone()
        if row is None or row[1] != granule_count(lead, key[0]):
            return None
        self.hits += 1
        return bytes(row[0]), int(row[1])

    def chain_record(self, image: Image, algo_name: str, lead: int, rim_in: bytes, ipa: int,
                     rim_out: bytes, count: int) -> None:
        if image.path is None or image.data is not None:
            return
        key = _stat_key(image.path)
        self.db.execute("INSERT OR REPLACE INTO chains VALUES (?,?,?,?,?,?,?,?,?)",
                        (image.path, algo_name, lead, *key, rim_in, ipa, rim_out, count))
        self.db.commit()

    def _compute_and_store(self, image: Image, algo_name: str, lead: int,
                           key: tuple[int, int]) -> Iterator[bytes]:
        assert image.path is not None
        hashes: list[bytes] = []
        for h in self.fallback.content_hashes(image, algo_name, lead):
            hashes.append(h)
            yield h
        if _stat_key(image.path) != key:
            return  # the file changed while it was read: do not cache
        self.db.execute("INSERT OR REPLACE INTO granules VALUES (?,?,?,?,?,?,?)",
                        (image.path, "raw", algo_name, lead, *key, b"".join(hashes)))
        self.db.commit()


def _file_digest(path: str, algo_name: str) -> bytes:
    """Whole-file digest (a worker-process task as well)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, algo_name).digest()
    except OSError as exc:
        raise InputFileError(f"cannot read image {path}: {exc.strerror or exc}") from exc


def _compute(digest_paths: list[str], granule_leads: dict[str, int],
             keys: dict[str, tuple[int, int]], algo_name: str,
             jobs: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Whole-file digests and concatenated content hashes, by ``jobs`` forked workers."""
    granule_tasks = []
    for path, lead in granule_leads.items():
        bounds = _chunk_bounds(keys[path][0], lead, PROCESS_CHUNK)
        last = len(bounds) - 1
        granule_tasks += [(path, (path, a, b, algo_name, lead, k == 0, k == last))
                          for k, (a, b) in enumerate(bounds)]
    # largest digests first (one sequential task each), then the granule ranges
    digest_paths = sorted(digest_paths, key=lambda p: -keys[p][0])
    if jobs <= 1:
        digests = {p: _file_digest(p, algo_name) for p in digest_paths}
        parts: dict[str, list[bytes]] = {}
        for path, args in granule_tasks:
            parts.setdefault(path, []).append(_hash_file_range(*args))
        return digests, {p: b"".join(v) for p, v in parts.items()}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            dfut = {p: pool.submit(_file_digest, p, algo_name) for p in digest_paths}
            gfut = [(p, pool.submit(_hash_file_range, *args)) for p, args in granule_tasks]
            digests = {p: f.result() for p, f in dfut.items()}
            parts = {}
            for path, fut in gfut:
                parts.setdefault(path, []).append(fut.result())
    except OSError as exc:
        raise InputFileError(f"cannot read image: {exc.strerror or exc}") from exc
    return digests, {p: b"".join(v) for p, v in parts.items()}


def gunzip_kernel(path: str) -> bytes | None:
    """Decompressed content of a gzip'd arm64 Image (what the VMMs load), else None."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != GZIP_MAGIC:
                return None
        with gzip.open(path, "rb") as g:
            data = g.read(MAX_KERNEL_SIZE + 1)
    except (OSError, EOFError, zlib.error):
        return None
    if len(data) > MAX_KERNEL_SIZE or len(data) < 64:
        return None
    if int.from_bytes(data[56:60], "little") != ARM64_MAGIC:
        return None
    return data


@dataclass(frozen=True)
class Reference:
    """One reference file; ``claimed`` digests come from a checksum file (algo -> bytes)."""

    path: str
    source: str  # the --images argument it came from
    claimed: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Match:
    path: str
    variant: str  # "raw" or "gunzip"

    def image(self) -> Image:
        """The bytes a VMM loads: the file, or its decompressed arm64 Image."""
        name = os.path.basename(self.path)
        if self.variant == "raw":
            return Image.from_file(name, self.path)
        data = gunzip_kernel(self.path)
        if data is None:
            raise InputFileError(f"{self.path} no longer decompresses to an arm64 Image")
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
        """digest -> file, for every reference file (and decompressed gzip kernels)."""
        found = self._index.get(algo_name)
        if found is not None:
            return found
        found = {}
        used = [ref for ref in self.refs
                if not ref.claimed or any(a == algo_name for a, _ in ref.claimed)]
        leads = {}
        if self.granule_hints:
            for ref in used:
                lead = self.granule_hints.get(_stat_key(ref.path)[0])
                if lead is not None:
                    leads[ref.path] = lead
        self.store.prefetch([ref.path for ref in used], algo_name, leads)
        for ref in self.refs:
            claims = [v for a, v in ref.claimed if a == algo_name]
            if ref.claimed and not claims:
                continue  # a checksum entry of another algorithm: not used for this one
            digest = self.store.digest(ref.path, algo_name)
            assert digest is not None
            for claim in claims:
                if claim != digest:
                    self.problems.append(
                        f"{ref.source}: {ref.path} is listed with {algo_name} {claim.hex()} "
                        f"but hashes to {digest.hex()}")
            found.setdefault(digest, Match(ref.path, "raw"))
            if not ref.claimed:
                unzipped = self.store.digest(ref.path, algo_name, "gunzip")
                if unzipped is not None and unzipped not in found:
                    found[unzipped] = Match(ref.path, "gunzip")
        self._index[algo_name] = found
        return found

    def find(self, algo_name: str, digest: bytes) -> Match | None:
        return self.index(algo_name).get(digest)
