"""The no-log diagnosis: search the expected Realm's neighbourhood for the token's values.

Issue 15 ("rmtool diagnose", evidence "search"; docs/diagnose.md "Search space and
cost"). Candidates are MEASURE_ARGS made from the expected ones by
:func:`rmtool.diagnose.knobs.with_parameter` -- single-parameter changes first, then pairs
-- each parsed with ``rmtool measure``'s own parser and measured by the same front-end
and Realm model (rmtool/measure/rmm/realm.py, TF-RMM ``lib/measurement/src/rim.c``). The
search stops at the first candidate whose RIM and four REMs equal the token's, and that
candidate is then measured again from scratch (``MeasureRequest.measure``, no cache)
before it is reported: the fast path finds, the full measurement decides.

Shared work, never a different answer (:class:`PrefixMeasurer`): granule content hashes
come from a per-run cache keyed by the file's identity (path, device, inode, size,
mtime, ctime) or the blob's SHA-256, optionally filled from the image store
(rmtool/replay/_store.py); the Realm state after each operation is remembered, keyed by
the operations so far, so a candidate resumes after the longest prefix it shares with an
earlier one (a vCPU change in kvmtool re-runs only the DTB and REC_CREATE). Candidates run
in forked worker processes (one per core), in batches, and the first match in candidate
order wins, so the result and ``candidates_tried`` do not depend on the number of workers.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import time
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rmtool.diagnose.knobs import (
    HOST_KNOBS,
    IMAGE_KNOBS,
    KnobError,
    candidate_base,
    expected_value,
    split_argv,
    with_parameter,
)
from rmtool.diagnose.model import Cause, Target
from rmtool.diagnose.request import MeasureRequest, ParseMeasureArgs
from rmtool.errors import RmtoolError
from rmtool.measure.images import Image, ParallelGranuleHasher, open_input
from rmtool.measure.rmm.ops import (
    DataCreate,
    InitRipas,
    Operation,
    RealmCreate,
    RecCreate,
    RemExtend,
)
from rmtool.measure.rmm.profiles import PROFILES
from rmtool.measure.rmm.realm import Realm, RealmState
from rmtool.measure.vmm.common import VmmBuild
from rmtool.verify.compare.compare import equal_at_token_size

MIB, GIB = 1 << 20, 1 << 30
#: bounds on hostile input: files looked at under --images, the prefix memo
MAX_IMAGE_FILES = 4096
MAX_MEMO = 50_000
BATCH_PER_JOB = 64
TASK = 4  # candidates per worker task: small tasks balance the workers
PAIR_RANKS = 32

Change = tuple[str, Any]


@dataclass(frozen=True)
class SearchSettings:
    """``images``: the --images directories and files; ``jobs``: worker processes (None:
    all cores); ``max_candidates`` / ``deadline_s``: bounds on the work (seconds of wall
    time from the start); ``store_path``: an image store (rmtool/replay/_store.py) to take
    granule hashes from (None: hash each file once per run); ``parameters``: search only
    these parameters (None: all of :data:`ORDER`)."""

    images: tuple[str, ...] = ()
    jobs: int | None = None
    max_candidates: int = 100_000
    deadline_s: float | None = None
    store_path: str | None = None
    parameters: tuple[str, ...] | None = None
    #: "processes" (forked, the default) or "threads" (docs/diagnose.md: measured)
    workers: str = "processes"


@dataclass
class SearchResult:
    causes: list[Cause]
    reproduced_by: list[str] | None
    candidates_tried: int
    exhausted: bool
    #: why a match was not reported although the fast path found one (never expected)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- measuring

class CachedGranules:
    """A BlockHasher whose content hashes are computed once per run per image identity
    (file: real path and ``stat`` key; in-memory blob: its SHA-256) and lead."""

    def __init__(self, store_path: str | None = None, jobs: int | None = None) -> None:
        self.fallback = ParallelGranuleHasher(jobs)
        self.store_path = store_path
        self.jobs = jobs
        self.store: Any = None
        self.pid = -1
        self._inherited: list[Any] = []
        self.cache: dict[tuple[Hashable, str, int], bytes] = {}

    def _store(self) -> Any:
        """The image store, opened in this process (an SQLite connection must not cross
        a fork: a forked worker opens its own)."""
        if self.store_path is None:
            return None
        if self.pid != os.getpid():
            from rmtool.replay._store import ImageStore

            if self.store is not None:  # the parent's: kept, never used or closed here
                self._inherited.append(self.store)
            self.store, self.pid = ImageStore(self.store_path, self.jobs), os.getpid()
        return self.store

    def content_hashes(self, image: Image, algo_name: str, lead: int) -> Iterator[bytes]:
        blob = self._blob(image, algo_name, lead)
        size = hashlib.new(algo_name).digest_size
        for o in range(0, len(blob), size):
            yield blob[o:o + size]

    def content_hash_blocks(self, image: Image, algo_name: str, lead: int) -> Iterator[bytes]:
        blob = self._blob(image, algo_name, lead)
        if blob:
            yield blob

    def _blob(self, image: Image, algo_name: str, lead: int) -> bytes:
        key = (image_key(image), algo_name, lead)
        hit = self.cache.get(key)
        if hit is None:
            store = self._store() if image.path is not None and image.data is None else None
            if store is not None:
                hit = b"".join(store.content_hashes(image, algo_name, lead))
            else:
                hit = b"".join(self.fallback.content_hash_blocks(image, algo_name, lead))
            self.cache[key] = hit
        return hit


def image_key(image: Image) -> Hashable:
    if image.data is not None:
        return ("data", hashlib.sha256(image.data).digest())
    assert image.path is not None
    real = os.path.realpath(image.path)
    st = os.stat(real)
    return ("file", real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def op_key(op: Operation) -> Hashable:
    """Everything of ``op`` the Realm model's result depends on (origins excluded)."""
    if isinstance(op, RealmCreate):
        return ("RC", op.params)
    if isinstance(op, InitRipas):
        return ("IR", op.base, op.top)
    if isinstance(op, DataCreate):
        return ("DC", op.ipa, op.measured, op.size,
                image_key(op.image) if op.image is not None else None)
    if isinstance(op, RecCreate):
        return ("REC", op.pc, tuple(op.gprs), op.flags)
    if isinstance(op, RemExtend):
        return ("REM", op.rem, bytes(op.data))
    raise RmtoolError(f"unknown operation {op!r}")  # pragma: no cover


@dataclass(frozen=True)
class Measured:
    rim: bytes
    rems: tuple[bytes, ...]
    hashed_ops: int  # operations executed (not resumed from the memo)


class PrefixMeasurer:
    """Measures builds, resuming each after the longest operation prefix already run."""

    def __init__(self, store_path: str | None = None, jobs: int | None = None) -> None:
        self.hasher = CachedGranules(store_path, jobs)
        self.memo: dict[Hashable, RealmState] = {}

    def measure(self, build: VmmBuild, profile_name: str,
                ops: Sequence[Operation] | None = None) -> Measured:
        """``ops``: ``build.operations()`` when the caller has them already."""
        if ops is None:
            ops = build.operations()
        keys: list[Hashable] = []
        key: Hashable = profile_name
        for op in ops:
            key = (key, op_key(op))
            keys.append(key)
        start, state = 0, None
        for i in range(len(keys) - 1, -1, -1):
            state = self.memo.get(keys[i])
            if state is not None:
                start = i + 1
                break
        if len(self.memo) > MAX_MEMO:
            self.memo.clear()
        realm = Realm(PROFILES[profile_name], hasher=self.hasher)
        if state is not None:
            realm.restore(state)
        for i in range(start, len(ops)):
            realm.apply(ops[i])
            self.memo[keys[i]] = realm.snapshot()
        m = realm.measurements()
        return Measured(m.rim, tuple(m.rems), len(ops) - start)


# --------------------------------------------------------------------------- candidates

def _closeness(values: Sequence[Any], expected: Any) -> list[Any]:
    return sorted((v for v in dict.fromkeys(values) if v != expected),
                  key=lambda v: (abs(v - expected) if isinstance(expected, int) else 0, v))


def memory_sizes(expected: int) -> list[int]:
    """RAM sizes to try (2 MiB..64 GiB, at most 16 times smaller or larger; the INIT_RIPAS
    cost grows with the size), nearest (by ratio) first within each tier:
    powers of two up to 16 times smaller or larger; common sizes within 4 times smaller
    or larger (192 MiB, 384 MiB, 768 MiB, 1.5 GiB, 3 GiB ..., whole GiB up to 64, powers
    of two from 32 MiB); within 4 times, the expected size plus or minus a power of two
    (2 MiB..1 GiB) or a multiple of 64 MiB (up to 1 GiB), doubled or halved, multiples of
    128 MiB up to 8 GiB; then all of those beyond 4 times."""
    powers = {1 << k for k in range(21, 37)}
    near_powers = {p for p in powers if expected / 16 <= p <= expected * 16}
    common = {p for p in powers if p >= 32 * MIB} | {
        m * MIB for m in (192, 384, 768, 1536, 3072, 6144, 12288, 24576, 49152)} | {
        n * GIB for n in range(1, 65)}
    offsets = {expected + d for k in range(21, 31) for d in (1 << k, -(1 << k))}
    offsets |= {expected + d for n in range(1, 17) for d in (n * 64 * MIB, -n * 64 * MIB)}
    offsets |= {expected * 2, expected // 2}
    steps = {n * 128 * MIB for n in range(1, 65)}
    out: list[int] = []
    seen = {expected}
    ref = max(expected, 1)
    def close(sizes: set[int]) -> set[int]:
        return {v for v in sizes if expected / 4 <= v <= expected * 4}
    tiers = (near_powers, close(common), close(offsets | steps), common | offsets | steps)
    for tier in tiers:
        ok = [v for v in tier if max(2 * MIB, expected // 16) <= v <= min(64 * GIB, ref * 16)]
        for size in sorted(ok, key=lambda v: (abs(math.log2(v / ref)), v)):
            if size not in seen:
                seen.add(size)
                out.append(size)
    return out


def classify_images(paths: Sequence[str]) -> dict[str, list[str]]:
    """Regular files under ``paths`` (directories walked, at most MAX_IMAGE_FILES) by the
    kind they can be: ``kernel`` (arm64 Image header, or gzip), ``initrd`` (cpio or a
    compressed archive, then any other file), ``firmware`` (any file that is not a kernel)."""
    files: list[str] = []
    for top in paths:
        if os.path.isdir(top):
            for root, dirs, names in os.walk(top):
                dirs.sort()
                files.extend(os.path.join(root, n) for n in sorted(names))
                if len(files) >= MAX_IMAGE_FILES:
                    break
        else:
            files.append(top)
    kinds: dict[str, list[str]] = {"kernel": [], "initrd": [], "firmware": []}
    other: list[str] = []
    for path in dict.fromkeys(files[:MAX_IMAGE_FILES]):
        try:
            with os.fdopen(open_input(path, "image"), "rb") as f:
                head = f.read(64)
        except OSError:
            continue
        arm64 = len(head) >= 64 and head[56:60] == b"ARM\x64"
        gz = head[:2] == b"\x1f\x8b"
        archive = head[:6] in (b"070701", b"070702", b"070707") or gz or head[:4] in (
            b"\x28\xb5\x2f\xfd", b"\xfd7zX", b"\x02\x21\x4c\x18", b"\x04\x22\x4d\x18") \
            or head[:3] == b"BZh"
        if arm64 or gz:
            kinds["kernel"].append(path)
        if archive:
            kinds["initrd"].append(path)
        elif not arm64:
            other.append(path)
        if not arm64:
            kinds["firmware"].append(path)
    kinds["initrd"].extend(other)
    return kinds


ORDER = ("memory_size", "cpus", "kernel", "initrd", "firmware", "hash_algo", "rmm_version",
         "num_bps", "num_wps", "pmu", "pmu_num_ctrs", "sve_vl", "ipa_bits", "lpa2")


def value_groups(base: dict[str, Any], images: dict[str, list[str]],
                 hash_algo: str | None) -> dict[str, list[Any]]:
    """For each parameter, the values to try (the base value excluded), likeliest first.
    ``hash_algo``: the algorithm the token's values have (None: unknown)."""
    g: dict[str, list[Any]] = {}
    g["memory_size"] = memory_sizes(base["memory_size"])
    g["cpus"] = _closeness(range(1, 65), base["cpus"])
    for kind in IMAGE_KNOBS:
        cur = base[kind]
        real = os.path.realpath(cur) if cur else None
        vals: list[Any] = [None] if cur is not None else []
        vals += [p for p in images[kind] if os.path.realpath(p) != real]
        g[kind] = vals
    g["hash_algo"] = [] if hash_algo is not None else [
        a for a in ("sha256", "sha512", "sha384") if a != base["hash_algo"]]
    g["rmm_version"] = [p for p in PROFILES if p != base["rmm_version"]]
    g["num_bps"] = _closeness(range(2, 65), base["num_bps"])
    g["num_wps"] = _closeness(range(2, 65), base["num_wps"])
    g["pmu"] = [not base["pmu"]]
    g["pmu_num_ctrs"] = _closeness(range(0, 32), base["pmu_num_ctrs"])
    g["sve_vl"] = _closeness([0, *range(128, 2049, 128)], base["sve_vl"])
    # an IPA space that does not reach the top of the expected RAM is no Realm a VMM
    # starts (and would cost an INIT_RIPAS walk of 4 KiB entries)
    g["ipa_bits"] = _closeness(range(max(24, base.get("ram_bits", 0)), 53), base["ipa_bits"])
    g["lpa2"] = [not base["lpa2"]]
    return {k: g[k] for k in ORDER if g.get(k)}


#: how much likelier a change of this parameter is than a host capability's (the
#: issue's "handful of causes": RAM size and vCPU count first)
WEIGHT = {"memory_size": 4, "cpus": 4, "kernel": 3, "initrd": 3, "firmware": 3,
          "hash_algo": 3, "rmm_version": 2}


def candidates(groups: dict[str, list[Any]]) -> Iterator[tuple[Change, ...]]:
    """Single changes by weighted rank (rank / WEIGHT, then ORDER), then pairs of
    changes of two parameters by the sum of their weighted ranks (the first
    :data:`PAIR_RANKS` values of each parameter: bounded for a large --images set)."""
    names = list(groups)

    def score(name: str, rank: int) -> float:
        return rank / WEIGHT.get(name, 1)

    singles = sorted((score(n, r), i, r) for i, n in enumerate(names)
                     for r in range(len(groups[n])))
    for _, i, r in singles:
        yield ((names[i], groups[names[i]][r]),)
    pairs = []
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            for ra in range(min(len(groups[a]), PAIR_RANKS)):
                for rb in range(min(len(groups[b]), PAIR_RANKS)):
                    pairs.append((score(a, ra) + score(b, rb), i, j, ra, rb))
    pairs.sort()
    for _, i, j, ra, rb in pairs:
        a, b = names[i], names[j]
        yield ((a, groups[a][ra]), (b, groups[b][rb]))


# --------------------------------------------------------------------------- evaluation

def apply_changes(parse: ParseMeasureArgs, argv: Sequence[str],
                  changes: Sequence[Change]) -> MeasureRequest:
    """The request of ``argv`` with each change applied in turn, parsed by ``parse``
    (the reference path: what ``rmtool measure`` would make of the final argv)."""
    req = parse(list(argv))
    if not changes:
        return req
    for name, value in changes:
        req = syntactic(with_parameter(req, name, value), req)
    return parse(list(req.argv))


def syntactic(argv: list[str], like: MeasureRequest) -> MeasureRequest:
    """``argv`` (made by ``with_parameter`` from ``like``) as a request without parsing:
    only its argv, VMM and VMM arguments are meaningful (for ``with_parameter``)."""
    split = split_argv(argv)
    return MeasureRequest(tuple(argv), like.inputs, like.vmm, tuple(split.args))


class Evaluator:
    """One worker's state: the parser, the base request and the measurer with its caches.

    Only the base argv is parsed by ``parse`` (click); a candidate's global inputs are
    derived (:meth:`request`), its VMM arguments built by the front-end. The match is
    parsed and measured again in full before it is reported (:func:`search`)."""

    def __init__(self, parse: ParseMeasureArgs, base_argv: list[str], target: Target,
                 measurer: PrefixMeasurer) -> None:
        self.parse = parse
        self.base = parse(base_argv)
        self.target = target
        self.measurer = measurer
        self.digests: dict[tuple[Hashable, str], bytes] = {}

    def request(self, changes: Sequence[Change]) -> MeasureRequest:
        """The candidate's request without click: the argv from ``with_parameter``, the
        global inputs derived from the base's as ``measure_inputs`` derives them (a
        global host-capability option *sets* its capability after the ``-c`` files;
        ``--rmm-version`` picks the profile; ``-k/-i/-f`` name the content). The front-end
        still parses and checks the VMM arguments in ``build``."""
        req = self.base
        inputs = req.inputs
        for name, value in changes:
            req = syntactic(with_parameter(req, name, value), req)
            if name in HOST_KNOBS:
                inputs = replace(inputs, caps=inputs.caps.set(**{name: value}))
            elif name == "rmm_version":
                inputs = replace(inputs, profile=PROFILES[value])
            elif name in IMAGE_KNOBS:
                inputs = replace(inputs, **{name: value})
        return MeasureRequest(req.argv, inputs, req.vmm, req.vmm_args)

    def measure(self, changes: Sequence[Change], *, rems_first: bool = False
                ) -> Measured | None:
        """The candidate's values through the fast path (None when refused).
        ``rems_first``: when its REMs already differ from the target's, return them with
        an empty RIM instead of running the RIM's operations."""
        try:
            req = self.request(changes)
            build = req.build()
            profile = req.inputs.profile.name
            # images a firmware extends into a REM: their whole digest once per run
            build.rem_blobs = [(rem, replace(blob, image=MemoDigestImage.of(
                blob.image, self.digests))) for rem, blob in build.rem_blobs]
            ops = build.operations()
            if rems_first:
                rems = rems_of(ops, profile)
                if not all(equal_at_token_size(a, b)[0]
                           for a, b in zip(rems, self.target.rems, strict=False)):
                    return Measured(b"", rems, 0)
            return self.measurer.measure(build, profile, ops)
        except Exception:  # a generated candidate that fails is skipped (refused by
            # the VMM, or an arithmetic limit of a front-end): the answer
            # only ever comes from a candidate that measures, and is measured again
            return None

    def run(self, changes: Sequence[Change]) -> bool:
        """Whether the candidate measures to the target (False when refused)."""
        got = self.measure(changes, rems_first=True)
        return got is not None and reproduces(got.rim, got.rems, self.target)


def rems_of(ops: Sequence[Operation], profile_name: str) -> tuple[bytes, ...]:
    """The REMs alone: RSI_MEASUREMENT_EXTEND reads only the REMs and the algorithm, so
    the Realm model run on REALM_CREATE and the extensions gives the REMs of the whole
    stream (one hash per extension; the RIM's operations are skipped)."""
    realm = Realm(PROFILES[profile_name])
    for op in ops:
        if isinstance(op, RealmCreate | RemExtend):
            realm.apply(op)
    return tuple(realm.measurements().rems)


@dataclass
class MemoDigestImage(Image):
    """An image whose whole-file digest is remembered per run, keyed like the granule
    cache (file identity or the blob's SHA-256)."""

    memo: dict[tuple[Hashable, str], bytes] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, image: Image, memo: dict[tuple[Hashable, str], bytes]) -> MemoDigestImage:
        return cls(name=image.name, path=image.path, data=image.data, memo=memo)

    def digest(self, algo_name: str) -> bytes:
        key = (image_key(self), algo_name)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = super().digest(algo_name)
        return hit


def reproduces(rim: bytes, rems: Sequence[bytes], target: Target) -> bool:
    """RIM and every REM equal the token's, compared at the token's size (a token that
    carries 64-byte slots pads a shorter hash with zeros: rmtool.verify.compare)."""
    if not target.rim or len(rems) != len(target.rems):
        return False
    return equal_at_token_size(rim, target.rim)[0] and all(
        equal_at_token_size(a, b)[0] for a, b in zip(rems, target.rems, strict=True))


_WORKER: Evaluator | None = None


def _worker_batch(batch: list[tuple[int, tuple[Change, ...]]]) -> int | None:
    """Forked worker: the index of the first candidate of ``batch`` that matches."""
    assert _WORKER is not None
    for index, changes in batch:
        if _WORKER.run(changes):
            return index
    return None


def _hash_algo_of(target: Target) -> str | None:
    """The token's algorithm: its claim, else the size of its RIM (a 64-byte slot whose
    tail is zero holds a shorter hash)."""
    if target.hash_algo:
        return target.hash_algo
    rim = target.rim
    if len(rim) == 64:
        return "sha256" if not any(rim[32:]) else "sha384" if not any(rim[48:]) else "sha512"
    return {32: "sha256", 48: "sha384"}.get(len(rim))


# --------------------------------------------------------------------------- search

def search(request: MeasureRequest, target: Target, parse: ParseMeasureArgs,
           settings: SearchSettings, fixed: Sequence[tuple[str, Any]] = ()) -> SearchResult:
    """Find MEASURE_ARGS near ``request`` that measure to ``target`` (module docstring).

    ``fixed``: changes already known (claim evidence, e.g. ``hash_algo``) applied to every
    candidate and not reported as causes. Raises ``RmtoolError`` when the expected Realm
    (with ``fixed``) cannot be measured; a candidate the VMM refuses is skipped."""
    started = time.monotonic()
    expected_build = request.build()
    base_req = apply_changes(parse, candidate_base(request), fixed)
    base_build = base_req.build()
    names = ("memory_size", "cpus", *IMAGE_KNOBS, "hash_algo", "rmm_version", *HOST_KNOBS)
    base = {n: expected_value(base_req, base_build, n) for n in names}
    forced: list[Change] = []
    algo = _hash_algo_of(target)
    fixed_names = {n for n, _ in fixed}
    if algo is not None and algo != base["hash_algo"] and "hash_algo" not in fixed_names:
        # the token's values have this size: a cause (sha384 exists from RMM 2.0 only)
        extras: list[list[Change]] = [[], *([("rmm_version", p)] for p in PROFILES
                                            if p != base["rmm_version"])]
        for extra in extras:
            try:
                trial = apply_changes(parse, base_req.argv, [("hash_algo", algo), *extra])
                base_build = trial.build()
            except RmtoolError:
                continue
            forced, base_req = [("hash_algo", algo), *extra], trial
            break
    base_argv = list(base_req.argv)
    base["ram_bits"] = max((b + size - 1).bit_length() for b, size in base_build.ram) \
        if base_build.ram else 0
    groups = value_groups(base, classify_images(settings.images), algo)
    groups = {k: v for k, v in groups.items() if k not in fixed_names and (
        settings.parameters is None or k in settings.parameters)}
    measurer = PrefixMeasurer(settings.store_path, settings.jobs)
    evaluator = Evaluator(parse, base_argv, target, measurer)
    jobs = max(1, settings.jobs or os.cpu_count() or 1)
    runner = _Runner()
    result = runner(evaluator, groups, settings, jobs, started)
    if result is None:
        return SearchResult([], None, runner.tried, runner.exhausted)
    index, changes = result
    all_changes = (*forced, *changes)
    final = apply_changes(parse, base_argv, changes)
    notes: list[str] = []
    full = final.measure()  # the full measurement decides, never the fast path
    m = full.measurements
    if not reproduces(m.rim, m.rems, target):
        notes.append("the fast path's match did not survive the full measurement")
        return SearchResult([], None, index + 1, False, notes)
    causes = causes_of(request, expected_build, final, full.build, all_changes)
    return SearchResult(causes, list(final.argv), index + 1, False, notes)


class _Runner:
    """The candidate loop (its counters stay readable after a call)."""

    tried = 0
    exhausted = False

    def __call__(self, evaluator: Evaluator, groups: dict[str, list[Any]],
                 settings: SearchSettings, jobs: int,
                 started: float) -> tuple[int, tuple[Change, ...]] | None:
        self.tried, self.exhausted = 0, False
        stream = _dedupe(_with_base(candidates(groups)))
        # warm the caches once in this process (inherited by forked workers)
        evaluator.run(())
        pool = _pool(evaluator, jobs, settings.workers)
        rounds = 0
        try:
            while True:
                if self.tried >= settings.max_candidates:
                    # the space may have ended exactly at the bound
                    self.exhausted = next(stream, None) is None
                    return None
                if settings.deadline_s is not None and \
                        time.monotonic() - started >= settings.deadline_s:
                    return None
                # small batches first (an early match returns soon), then larger ones
                # (fewer waits for the slowest worker)
                rounds += 1
                size = min(jobs * min(BATCH_PER_JOB, TASK << rounds),
                           settings.max_candidates - self.tried)
                batch: list[tuple[int, tuple[Change, ...]]] = []
                for item in stream:
                    batch.append((self.tried + len(batch), item))
                    if len(batch) >= size:
                        break
                if not batch:
                    self.exhausted = True
                    return None
                hit = _evaluate(pool, evaluator, batch, jobs)
                if hit is not None:
                    self.tried = hit + 1
                    return hit, batch[hit - batch[0][0]][1]
                self.tried += len(batch)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()


def _with_base(items: Iterator[tuple[Change, ...]]) -> Iterator[tuple[Change, ...]]:
    """The base configuration itself (expected + fixed + forced changes) comes first."""
    yield ()
    yield from items


def _dedupe(items: Iterator[tuple[Change, ...]]) -> Iterator[tuple[Change, ...]]:
    """Candidates with distinct change sets (a value equal to the base's is no change)."""
    seen: set[tuple[Change, ...]] = set()
    for changes in items:
        key = tuple(sorted(changes, key=repr))
        if key in seen:
            continue
        seen.add(key)
        yield changes


class _ThreadPool:
    """``workers="threads"``: the evaluator shared by threads (one memo and cache; the
    native descriptor chain releases the GIL, the front-ends' Python does not)."""

    def __init__(self, evaluator: Evaluator, jobs: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.evaluator = evaluator
        self.executor = ThreadPoolExecutor(jobs)

    def map(self, fn: Any, parts: list[list[tuple[int, tuple[Change, ...]]]],
            chunksize: int = 1) -> list[int | None]:
        del fn, chunksize

        def first(part: list[tuple[int, tuple[Change, ...]]]) -> int | None:
            return next((i for i, c in part if self.evaluator.run(c)), None)
        return list(self.executor.map(first, parts))

    def terminate(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def join(self) -> None:
        pass


def _pool(evaluator: Evaluator, jobs: int, workers: str) -> Any:
    if jobs <= 1:
        return None
    if workers == "threads":
        return _ThreadPool(evaluator, jobs)
    global _WORKER
    _WORKER = evaluator
    try:
        ctx = multiprocessing.get_context("fork")
        return ctx.Pool(jobs)
    except (OSError, ValueError):
        return None


def _evaluate(pool: Any, evaluator: Evaluator, batch: list[tuple[int, tuple[Change, ...]]],
              jobs: int) -> int | None:
    """The index of the first match in ``batch`` (candidate order), or None."""
    if pool is None:
        for index, changes in batch:
            if evaluator.run(changes):
                return index
        return None
    # small tasks, handed out as workers free up; a task stops at its first match, whose
    # index is below all its later ones, so the least index found is the first match
    parts = [batch[k:k + TASK] for k in range(0, len(batch), TASK)]
    found = [i for i in pool.map(_worker_batch, parts, chunksize=1) if i is not None]
    return min(found) if found else None


def causes_of(request: MeasureRequest, build: VmmBuild, final: MeasureRequest,
              final_build: VmmBuild, changes: Sequence[Change]) -> list[Cause]:
    """One cause per changed parameter whose value differs between the expected Realm
    and the matching candidate (both read back from their builds)."""
    causes = []
    for name in dict.fromkeys(n for n, _ in changes):
        expected = expected_value(request, build, name)
        actual = expected_value(final, final_build, name)
        if expected == actual:
            continue
        causes.append(Cause(name, expected, actual, "search",
                            _detail(name, expected, actual, final, final_build)))
    return causes


def _detail(name: str, expected: Any, actual: Any, final: MeasureRequest,
            build: VmmBuild) -> str:
    algo = build.params.hash_algo.name
    if name in IMAGE_KNOBS:
        def one(v: Any) -> str:
            if v is None:
                return "none"
            try:
                return f"{v} ({algo} {Image.from_file(name, v).digest(algo).hex()})"
            except RmtoolError:
                return str(v)
        return f"{name}: expected {one(expected)}, the token's Realm had {one(actual)}"
    return f"{name}: expected {expected!r}, the token's Realm had {actual!r}"


__all__ = ["KnobError", "PrefixMeasurer", "SearchResult", "SearchSettings", "search"]
