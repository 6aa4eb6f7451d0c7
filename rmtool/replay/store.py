"""The image store: cached digests and granule hashes of reference images (SQLite).

design.md "Images": the Realm model asks a :class:`~rmtool.measure.images.GranuleHasher`
for the content hashes of a blob; :class:`ImageStore` is a caching one. For each file it
keeps, keyed by (path, size, mtime in ns), the whole-file digest per algorithm and the
per-granule hash list per (algorithm, lead), so a second replay of the same large images
reads two SQLite rows instead of the files. Rows whose size or mtime no longer match are
recomputed and replaced. The database lives under ``platformdirs.user_cache_dir("rmtool")``
unless a path is given (``":memory:"`` keeps it in memory). In-memory images (regenerated
DTBs, decompressed kernels) are hashed every time.

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
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rmtool.errors import InputFileError, UsageError
from rmtool.measure.images import GranuleHasher, Image, ParallelGranuleHasher
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
        self.fallback: GranuleHasher = ParallelGranuleHasher(jobs)
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
        db.executescript(f"""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS digests (
                path TEXT, variant TEXT, algo TEXT, size INTEGER, mtime_ns INTEGER,
                digest BLOB, PRIMARY KEY (path, variant, algo));
            CREATE TABLE IF NOT EXISTS granules (
                path TEXT, variant TEXT, algo TEXT, lead INTEGER, size INTEGER,
                mtime_ns INTEGER, hashes BLOB, PRIMARY KEY (path, variant, algo, lead));
            INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA_VERSION}');
        """)
        return db

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ digests
    def digest(self, path: str, algo_name: str, variant: str = "raw") -> bytes | None:
        """Digest of the file (``variant="gunzip"``: of its decompressed arm64 Image;
        None when the file is not one)."""
        size, mtime = _stat_key(path)
        row = self.db.execute(
            "SELECT digest FROM digests WHERE path=? AND variant=? AND algo=? AND size=? "
            "AND mtime_ns=?", (path, variant, algo_name, size, mtime)).fetchone()
        if row is not None:
            self.hits += 1
            return bytes(row[0]) if row[0] is not None else None
        self.misses += 1
        value: bytes | None
        if variant == "raw":
            value = Image.from_file(path, path).digest(algo_name)
        else:
            data = gunzip_kernel(path)
            value = hashlib.new(algo_name, data).digest() if data is not None else None
        self.db.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?,?,?)",
                        (path, variant, algo_name, size, mtime, value))
        self.db.commit()
        return value

    # ------------------------------------------------------------------ granules
    def content_hashes(self, image: Image, algo_name: str, lead: int) -> Iterator[bytes]:
        """GranuleHasher protocol; cached for file-backed images. On a miss the hashes are
        streamed from the threaded hasher as they come and stored at the end."""
        if image.path is None or image.data is not None:
            yield from self.fallback.content_hashes(image, algo_name, lead)
            return
        path = image.path
        size, mtime = _stat_key(path)
        row = self.db.execute(
            "SELECT hashes FROM granules WHERE path=? AND variant='raw' AND algo=? AND lead=? "
            "AND size=? AND mtime_ns=?", (path, algo_name, lead, size, mtime)).fetchone()
        n = hashlib.new(algo_name).digest_size
        if row is not None:
            blob = bytes(row[0])
            self.hits += 1
            yield from (blob[i:i + n] for i in range(0, len(blob), n))
            return
        self.misses += 1
        hashes: list[bytes] = []
        for h in self.fallback.content_hashes(image, algo_name, lead):
            hashes.append(h)
            yield h
        if _stat_key(path) != (size, mtime):
            return  # the file changed while it was read: do not cache
        self.db.execute("INSERT OR REPLACE INTO granules VALUES (?,?,?,?,?,?,?)",
                        (path, "raw", algo_name, lead, size, mtime, b"".join(hashes)))
        self.db.commit()


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
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CHECKSUM_FILE + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read --images {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_CHECKSUM_FILE:
        raise UsageError(f"--images {path}: checksum file larger than {MAX_CHECKSUM_FILE} bytes")
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
