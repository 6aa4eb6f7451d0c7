"""The Realm model: executes RMM operations and yields RIM, REM0-3 and a trace.

This is the only place that hashes for the RIM and REMs (design.md). Semantics are
TF-RMM's (lib/measurement/src/rim.c; docs/rmm-profiles.md):

* REALM_CREATE: refused where the profile's TF-RMM refuses the parameters (hash
  algorithm, MEC_POLICY); otherwise RIM = H(4096-byte measured RmiRealmParams image) with
  the whole flags word and the raw 32-bit fields as TF-RMM copies them
  (measurement_realm_params_measure, docs/rmm-profiles.md);
* INIT_RIPAS: one RIPAS descriptor per RTT entry, greedy split over the RTTs that
  earlier ranges created (TF-RMM runtime/rmi/rtt.c smc_rtt_init_ripas), only for RMM
  versions that measure it (docs/rmm-profiles.md);
* DATA_CREATE: one DATA descriptor per 4 KiB granule (measurement_data_granule_measure);
* REC_CREATE: REC descriptor over H(4096-byte RmiRecParams image) for a runnable REC
  (measurement_rec_params_measure);
* RSI_MEASUREMENT_EXTEND: REM = H(REM[:hash_size] || data[:size]) (TF-RMM measurement_extend).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple, Protocol, runtime_checkable

from rmtool.errors import MeasurementError
from rmtool.measure._hashcore import data_chain
from rmtool.measure.images import BlockHasher, GranuleHasher, Image, ParallelGranuleHasher
from rmtool.measure.rmm._layouts import (
    DESC_SIZE,
    DESC_TYPE_RIPAS,
    GRANULE_SIZE,
    RIPAS_DESC,
    U64_MASK,
    data_descriptor_layout,
    realm_params_bytes,
    rec_descriptor,
    rec_params_bytes,
    ripas_descriptor_packer,
    slot,
)
from rmtool.measure.rmm.algorithms import HashAlgo
from rmtool.measure.rmm.ops import (
    DataCreate,
    InitRipas,
    Operation,
    RealmCreate,
    RealmParams,
    RecCreate,
    RemExtend,
    RmiRealmFields,
)
from rmtool.measure.rmm.profiles import (
    FLAG_DA,
    FLAG_LPA2,
    FLAG_MEC_POLICY_SHIFT,
    FLAG_PMU,
    FLAG_SVE,
    U32_MASK,
    RealmRefused,
    RmiRefused,
    RmmProfile,
    get_profile,
)
from rmtool.measure.rmm.trace import (
    DataInputs,
    Inputs,
    Origin,
    RealmInputs,
    RecInputs,
    RemInputs,
    RipasInputs,
    TraceRecord,
)


@runtime_checkable
class ChainMemo(Protocol):
    """Optional capability of a GranuleHasher backed by a persistent store: remember the
    RIM that a measured DATA_CREATE of a file produced from a given RIM and IPA.

    The Realm model still computes every chain itself the first time; the memo only
    returns a value this model computed earlier for the same (algorithm, RIM before,
    IPA, file identity, alignment), so a warm replay does not redo the descriptor chain.
    """

    def chain_lookup(self, image: Image, algo_name: str, lead: int, rim_in: bytes,
                     ipa: int) -> tuple[bytes, int] | None: ...

    def chain_record(self, image: Image, algo_name: str, lead: int, rim_in: bytes, ipa: int,
                     rim_out: bytes, count: int) -> None: ...


GIB = 1 << 30
MIB = 1 << 20


def rmi_realm_fields(params: RealmParams, profile: RmmProfile) -> RmiRealmFields:
    """The RmiRealmParams fields a host writes for ``params``: ``params.rmi`` verbatim
    when given (raw replay / TF-RMM streams), else encoded from natural units: the flag
    bits of every feature asked for (defined by the version or not: TF-RMM measures the
    whole word), VQ for the SVE vector length (also with ``sve=False``), counts minus one
    from rel0, and pmu_num_ctrs as given even with the PMU flag clear (TF-RMM measures
    both fields whatever the flags say)."""
    if params.rmi is not None:
        return params.rmi
    if not 0 <= params.mec_policy <= 3:
        raise MeasurementError(f"mec_policy {params.mec_policy} does not fit the 2-bit "
                               "MEC_POLICY flag field", field="mec_policy")
    sve = bool(params.sve_vl) if params.sve is None else params.sve
    flags = ((FLAG_LPA2 if params.lpa2 else 0) | (FLAG_SVE if sve else 0)
             | (FLAG_PMU if params.pmu else 0) | (FLAG_DA if params.da else 0)
             | params.mec_policy << FLAG_MEC_POLICY_SHIFT)
    minus = 1 if profile.bps_wps_minus_one else 0
    fields = RmiRealmFields(flags=flags, s2sz=params.s2sz,
                            sve_vl=params.sve_vl // 128 - 1 if params.sve_vl else 0,
                            num_bps=params.num_bps - minus, num_wps=params.num_wps - minus,
                            pmu_num_ctrs=params.pmu_num_ctrs,
                            hash_algo=params.hash_algo.rmi)
    fields.check_range()
    return fields


def realm_params_image(params: RealmParams, profile: RmmProfile) -> bytes:
    """The 4096-byte zero-filled RmiRealmParams image the RMM hashes: TF-RMM
    copies the flags word whole and the low 32 bits of s2sz..pmu_num_ctrs (its struct
    members are unsigned int) into a zeroed structure (``measurement_realm_params_measure``)."""
    f = rmi_realm_fields(params, profile)
    return realm_params_bytes(
        flags=f.flags,
        s2sz=f.s2sz & U32_MASK,
        sve_vl=f.sve_vl & U32_MASK,
        num_bps=f.num_bps & U32_MASK,
        num_wps=f.num_wps & U32_MASK,
        pmu_num_ctrs=f.pmu_num_ctrs & U32_MASK,
        hash_algo=f.hash_algo,
    )


def rec_params_image(op: RecCreate) -> bytes:
    """The 4096-byte RmiRecParams image (measurement_rec_params_measure): flags, pc, x0..x7."""
    gprs = list(op.gprs) + [0] * (8 - len(op.gprs))
    return rec_params_bytes(op.flags, op.pc, gprs)


def rtt_block_sizes(ipa_bits: int) -> list[int]:
    """Entry sizes of RTT levels start_level..3 for a 4 KiB granule (smc_rtt_init_ripas)."""
    levels = min(4, (ipa_bits - 8) // 9)
    start_level = 4 - levels
    sizes = {0: 512 * GIB, 1: GIB, 2: 2 * MIB, 3: GRANULE_SIZE}
    return [sizes[lvl] for lvl in range(max(0, start_level), 4)]


MAX_RIPAS_ENTRIES = 1 << 20  # bound for hostile logs (replay) and unmeasured data
# VMM front-ends: a user's own (absurd) command line, e.g. -m 4T under a 33-bit IPA cap,
# still measures as the reference does (2M entries, a few seconds); past this, refuse
MAX_MEASURE_RTT_ENTRIES = 1 << 24


def ripas_split(base: int, top: int, ipa_bits: int) -> list[tuple[int, int]]:
    """Greedy split of [base, top) into RTT entries, as KVM + TF-RMM produce them on
    fresh tables (:func:`iter_ripas_entries` with no table created yet)."""
    return list(iter_ripas_entries(base, top, ipa_bits, set(), []))


def iter_ripas_entries(base: int, top: int, ipa_bits: int, tables: set[int],
                       created: list[int],
                       limit: int = MAX_RIPAS_ENTRIES) -> Iterator[tuple[int, int]]:
    """RTT entries one RMI_RTT_INIT_RIPAS of [base, top) measures, with the host retrying
    as KVM does, given the RTTs below the start level that already exist.

    TF-RMM (runtime/rmi/rtt.c smc_rtt_init_ripas, every tag up to v0.8.0) walks to the
    deepest existing table at the current address and measures consecutive entries of
    that table's level while they are aligned and fit below ``top`` (an entry already
    RIPAS RAM is measured again); otherwise it answers RMI_ERROR_RTT and the host
    creates the next-level table there and retries. ``tables`` holds the tables that
    exist, each as ``table_base | depth`` (depth 1.. counts levels below the start level;
    a table base is 4 KiB aligned); the tables this call creates are added to it and
    listed in ``created`` (so that a caller can undo a failed call). On fresh tables this
    is the greedy split of :func:`ripas_split`; where an earlier range created a
    deeper table, its entries are measured at that table's level."""
    if base % GRANULE_SIZE or top % GRANULE_SIZE:
        raise MeasurementError(f"INIT_RIPAS range [{base:#x}, {top:#x}) is not granule aligned")
    sizes = rtt_block_sizes(ipa_bits)
    deepest = len(sizes) - 1
    cur = base
    count = 0
    while cur < top:
        count += 1
        if count > limit:
            raise MeasurementError(f"INIT_RIPAS range [{base:#x}, {top:#x}) needs more than "
                                   f"{limit} RTT entries")
        depth = 0
        if tables:
            while depth < deepest and (cur - cur % sizes[depth]) | (depth + 1) in tables:
                depth += 1
        size = sizes[depth]
        while cur % size or cur + size > top:  # RMI_ERROR_RTT: the host goes one level deeper
            key = (cur - cur % size) | (depth + 1)
            tables.add(key)
            created.append(key)
            depth += 1
            size = sizes[depth]
        yield cur, cur + size
        cur += size


RIPAS_PLAN_MAX = 1 << 14  # entries of a remembered plan (about 3.5 MiB of descriptor tails)


@lru_cache(maxsize=8)
def ripas_plan(base: int, top: int, ipa_bits: int, limit: int, hash_size: int
               ) -> tuple[bytes, tuple[bytes, ...], tuple[int, ...]] | None:
    """The RIPAS descriptors of an INIT_RIPAS of [base, top) on fresh tables, as the
    bytes before the RIM field and, per entry, the bytes after it (RIM zero); and the
    tables it creates. Remembered for the last few ranges (``rmtool diagnose`` measures
    the same RAM under many Realm parameters); None beyond RIPAS_PLAN_MAX entries."""
    created: list[int] = []
    entries = []
    for entry in iter_ripas_entries(base, top, ipa_bits, set(), created, limit):
        entries.append(entry)
        if len(entries) > RIPAS_PLAN_MAX:
            return None
    pack = ripas_descriptor_packer(hash_size).pack
    zero = bytes(hash_size)
    cut = RIPAS_DESC.offsets["rim"]
    head = pack(DESC_TYPE_RIPAS, DESC_SIZE, zero, 0, 0)[:cut]
    tails = tuple(pack(DESC_TYPE_RIPAS, DESC_SIZE, zero, b, t)[cut + hash_size:]
                  for b, t in entries)
    return head, tails, tuple(created)


class TraceEntry(NamedTuple):
    """One executed operation as the model keeps it (a light tuple: replay keeps one per
    event); :meth:`record` is the structured :class:`TraceRecord` it stands for."""

    number: int
    op: Operation
    kind: str
    descriptors: int
    rim_after: bytes
    rems_after: tuple[bytes, ...]
    origin: Origin | None  # None: from the operation (a VMM front-end's decision)
    inputs: Inputs | None  # None: from the operation (DATA_CREATE, REC_CREATE, REM)

    def record(self) -> TraceRecord:
        return TraceRecord(self.number, self.kind,
                           self.inputs if self.inputs is not None else op_inputs(self.op),
                           self.origin if self.origin is not None else op_origin(self.op),
                           self.descriptors, self.rim_after, self.rems_after)

    @property
    def detail(self) -> str:
        return self.record().detail


def op_origin(op: Operation) -> Origin:
    """The origin of an operation a VMM front-end produced: an image kind for a
    DATA_CREATE, else the VMM decision it names."""
    return Origin("image" if isinstance(op, DataCreate) else "vmm", op.origin)


def op_inputs(op: Operation) -> Inputs:
    """The typed inputs of a DATA_CREATE, REC_CREATE or RSI_MEASUREMENT_EXTEND."""
    if isinstance(op, DataCreate):
        return DataInputs(op.ipa, op.length, op.image.name if op.image is not None else None)
    if isinstance(op, RecCreate):
        return RecInputs(op.pc, tuple(op.gprs), op.flags)
    if isinstance(op, RemExtend):
        return RemInputs(op.rem, bytes(op.data))
    raise MeasurementError(f"{type(op).__name__} inputs are recorded when it is executed")


@dataclass
class Measurements:
    hash_algo: HashAlgo
    rim: bytes  # hash_size bytes
    rems: list[bytes]  # 4 x hash_size bytes
    rpv: bytes
    profile: RmmProfile
    trace: list[TraceEntry] = field(default_factory=list)

    def records(self) -> list[TraceRecord]:
        """The trace as structured records (built on demand)."""
        return [t.record() for t in self.trace]

    @property
    def rim_slot(self) -> bytes:
        return slot(self.rim)


@dataclass(frozen=True)
class RealmState:
    """The whole state the measurements depend on after some operations (no trace):
    :meth:`Realm.snapshot` / :meth:`Realm.restore` let a caller that runs many operation
    streams sharing a prefix (``rmtool.diagnose.search``) resume after that prefix."""

    params: RealmParams | None
    rim_slot: bytes
    rems: tuple[bytes, ...]
    rtt_tables: frozenset[int]


class Realm:
    """Executes RMM operations under one RMM version profile."""

    def __init__(self, profile: RmmProfile | str = "1.0-rel0",
                 hasher: GranuleHasher | None = None, *,
                 enforce_ipa_space: bool = False) -> None:
        """``enforce_ipa_space``: reject INIT_RIPAS / DATA_CREATE beyond 2^s2sz as the RMM
        does (replay of untrusted logs). Off for VMM front-ends, which must reproduce the
        reference tool even for configurations a real RMM would refuse."""
        self.enforce_ipa_space = enforce_ipa_space
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.hasher = hasher or ParallelGranuleHasher()
        self.params: RealmParams | None = None
        self._rim_slot = bytes(64)
        self._rems = [bytes(64) for _ in range(4)]
        self.trace: list[TraceEntry] = []
        self._origin: Origin | None = None  # of the operation being executed
        # RTTs below the start level created by INIT_RIPAS calls (table_base | depth)
        self._rtt_tables: set[int] = set()

    def snapshot(self) -> RealmState:
        """The state after the operations executed so far (the trace is not part of it)."""
        return RealmState(self.params, self._rim_slot, tuple(self._rems),
                          frozenset(self._rtt_tables))

    def restore(self, state: RealmState) -> None:
        """Continue from ``state`` (of a Realm of the same profile): the next operations
        give the values they would give after the operations that led to ``state``."""
        self.params = state.params
        self._rim_slot = state.rim_slot
        self._rems = list(state.rems)
        self._rtt_tables = set(state.rtt_tables)

    # ------------------------------------------------------------------ helpers
    @property
    def algo(self) -> HashAlgo:
        if self.params is None:
            raise MeasurementError("the Realm does not exist yet: REALM_CREATE must come first")
        return self.params.hash_algo

    def _created(self) -> RealmParams:
        """The Realm's parameters (MeasurementError before REALM_CREATE)."""
        if self.params is None:
            raise MeasurementError("the Realm does not exist yet: REALM_CREATE must come first")
        return self.params

    def _ipa_bits(self) -> int:
        """The address bits an INIT_RIPAS may reach: the IPA width when the RMM's range
        checks are enforced, else 63 (the reference's RTT walk asserts below 2**63)."""
        if self.enforce_ipa_space and self.params is not None:
            return min(self.params.s2sz, 63)
        return 63

    def _h(self, data: bytes) -> bytes:
        return slot(self.algo.hash(data))

    def _record(self, op: Operation, kind: str, descriptors: int,
                inputs: Inputs | None = None) -> None:
        """Append the trace entry of ``op`` (a light tuple: its record is built on demand)."""
        size = self.algo.size
        self.trace.append(TraceEntry(len(self.trace) + 1, op, kind, descriptors,
                                     self._rim_slot[:size],
                                     tuple(r[:size] for r in self._rems), self._origin,
                                     inputs))

    # ------------------------------------------------------------------ operations
    def execute(self, ops: Iterable[Operation]) -> Measurements:
        for op in ops:
            self.apply(op)
        return self.measurements()

    def apply(self, op: Operation, origin: Origin | None = None) -> None:
        """Execute ``op``; ``origin`` (e.g. the log event it came from) is recorded in its
        trace entry, else the operation's own (a VMM decision or an image kind)."""
        self._origin = origin
        if isinstance(op, RealmCreate):
            self.realm_create(op)
        elif isinstance(op, InitRipas):
            self.init_ripas(op)
        elif isinstance(op, DataCreate):
            self.data_create(op)
        elif isinstance(op, RecCreate):
            self.rec_create(op)
        elif isinstance(op, RemExtend):
            self.rem_extend(op)
        else:  # pragma: no cover - type system forbids
            raise MeasurementError(f"unknown operation {op!r}")

    def realm_create(self, op: RealmCreate) -> None:
        if self.params is not None:
            raise MeasurementError("REALM_CREATE issued twice")
        fields = rmi_realm_fields(op.params, self.profile)
        reason = self.profile.refuse_realm(fields)
        if reason is not None:
            raise RealmRefused(reason)
        image = realm_params_image(op.params, self.profile)
        self.params = op.params
        self._rim_slot = self._h(image)
        p = op.params
        raw = p.rmi is not None
        inputs = RealmInputs(p.s2sz, p.num_bps, p.num_wps, p.sve_vl, p.pmu, p.pmu_num_ctrs,
                             p.lpa2, p.hash_algo.name, fields.flags,
                             fields.flags & ~self.profile.flag_mask, self.profile.name,
                             fields.sve_vl if raw else None,
                             fields.pmu_num_ctrs if raw else None)
        self._record(op, "REALM_CREATE", 1, inputs)

    def init_ripas(self, op: InitRipas) -> None:
        """With the RMM's range checks enforced (replay, TF-RMM streams), refused where
        TF-RMM's RMI_RTT_INIT_RIPAS answers RMI_ERROR_INPUT (``RmmProfile.
        refuse_init_ripas``: empty, unaligned, beyond 2^s2sz or outside the protected
        half 2^(s2sz-1)), measured or not; otherwise (VMM front-ends, reproducing the
        reference tool, which has no such check) only an empty range is refused and the
        RTT walk is bounded by 2^63."""
        if self.enforce_ipa_space:
            s2sz = self._created().s2sz
            reason = self.profile.refuse_init_ripas(op.base, op.top, s2sz)
            if reason is not None:
                raise RmiRefused(reason)
        if not self.profile.measures_init_ripas:
            self._record(op, "INIT_RIPAS", 0,
                         RipasInputs(op.base, op.top, False, self.profile.name))
            return
        params = self._created()
        if op.top <= op.base:  # TF-RMM smc_rtt_init_ripas: RMI_ERROR_INPUT
            raise MeasurementError(f"INIT_RIPAS range [{op.base:#x}, {op.top:#x}) is empty "
                                   "(top <= base): RMI_RTT_INIT_RIPAS refuses it")
        bits = self._ipa_bits()
        if op.top > 1 << bits:  # the reference's RTT walk asserts below 2**63
            raise MeasurementError(f"INIT_RIPAS range [{op.base:#x}, {op.top:#x}) exceeds the "
                                   f"{bits}-bit IPA space")
        count = 0
        limit = MAX_RIPAS_ENTRIES if self.enforce_ipa_space else MAX_MEASURE_RTT_ENTRIES
        algo = self.algo
        ctor = getattr(hashlib, algo.name)
        pack = ripas_descriptor_packer(algo.size).pack
        rim = self._rim_slot[:algo.size]
        ipa_bits = params.s2sz
        plan = None if self._rtt_tables else ripas_plan(op.base, op.top, ipa_bits, limit,
                                                        algo.size)
        if plan is not None:  # fresh tables: the same descriptors, the RIM spliced in
            head, tails, made = plan
            for tail in tails:
                rim = ctor(head + rim + tail).digest()
            count = len(tails)
            self._rtt_tables.update(made)
            self._rim_slot = slot(rim)
            self._record(op, "INIT_RIPAS", count,
                         RipasInputs(op.base, op.top, True, self.profile.name))
            return
        created: list[int] = []  # undone if the call fails
        try:
            for base, top in iter_ripas_entries(op.base, op.top, ipa_bits,
                                                self._rtt_tables, created, limit):
                rim = ctor(pack(DESC_TYPE_RIPAS, DESC_SIZE, rim, base, top)).digest()
                count += 1
        except BaseException:
            self._rtt_tables.difference_update(created)
            raise
        self._rim_slot = slot(rim)
        self._record(op, "INIT_RIPAS", count,
                     RipasInputs(op.base, op.top, True, self.profile.name))

    def data_create(self, op: DataCreate) -> None:
        """One DATA descriptor per granule. With the RMM's range checks enforced (replay),
        the range must lie in the IPA space; otherwise (VMM front-ends) addresses are
        64-bit and wrap, as the reference tool's release build computes them."""
        algo = self.algo
        lead = op.ipa % GRANULE_SIZE
        first = (op.ipa - lead) & U64_MASK
        ctor = getattr(hashlib, algo.name)
        if self.enforce_ipa_space:
            bits = self._ipa_bits()
            if op.ipa + op.length > 1 << bits:  # the RMM rejects IPAs beyond the space
                raise MeasurementError(f"DATA_CREATE [{op.ipa:#x}, +{op.length:#x}) exceeds "
                                       f"the {bits}-bit IPA space")
        rim = self._rim_slot[:algo.size]
        count = 0
        if op.measured:
            if op.image is None:
                raise MeasurementError("measured DATA_CREATE without an image")
            memo = self.hasher if isinstance(self.hasher, ChainMemo) else None
            hit = memo.chain_lookup(op.image, algo.name, lead, rim, first) if memo else None
            if hit is not None:
                rim, count = hit
            else:
                rim_in = rim
                layout = data_descriptor_layout(algo.size, 1)
                if isinstance(self.hasher, BlockHasher):
                    for blob in self.hasher.content_hash_blocks(op.image, algo.name, lead):
                        ipa = (first + count * GRANULE_SIZE) & U64_MASK
                        rim = data_chain(algo.name, layout, rim, ipa, blob)
                        count += len(blob) // algo.size
                else:
                    for content in self.hasher.content_hashes(op.image, algo.name, lead):
                        ipa = (first + count * GRANULE_SIZE) & U64_MASK
                        rim = ctor(layout.pack(rim, ipa, content)).digest()
                        count += 1
                if memo is not None:
                    memo.chain_record(op.image, algo.name, lead, rim_in, first, rim, count)
        else:
            zero = bytes(algo.size)
            unmeasured = data_descriptor_layout(algo.size, 0)
            granules = (lead + op.length + GRANULE_SIZE - 1) // GRANULE_SIZE
            if granules > MAX_RIPAS_ENTRIES:
                raise MeasurementError(f"unmeasured DATA_CREATE of {granules} granules: more "
                                       f"than {MAX_RIPAS_ENTRIES}")
            for count in range(granules):
                ipa = (first + count * GRANULE_SIZE) & U64_MASK
                rim = ctor(unmeasured.pack(rim, ipa, zero)).digest()
            count = granules
        self._rim_slot = slot(rim)
        self._record(op, "DATA_CREATE" if op.measured else "DATA_CREATE_UNMEASURED", count)

    def rec_create(self, op: RecCreate) -> None:
        if not op.flags & 1:
            self._record(op, "REC_CREATE", 0)
            return
        content = self._h(rec_params_image(op))
        self._rim_slot = self._h(rec_descriptor(self._rim_slot, content))
        self._record(op, "REC_CREATE", 1)

    def rem_extend(self, op: RemExtend) -> None:
        if not 0 <= op.rem <= 3:
            raise MeasurementError(f"REM index {op.rem} out of range 0..3")
        if len(op.data) > 64:
            raise MeasurementError(f"RSI_MEASUREMENT_EXTEND size {len(op.data)} > 64")
        size = self.algo.size
        self._rems[op.rem] = self._h(self._rems[op.rem][:size] + op.data)
        self._record(op, "MEASUREMENT_EXTEND", 0)

    def rem_extend_chain(self, rem: int, data: Sequence[bytes]) -> None:
        """``rem_extend`` of every item of ``data`` in turn on REM ``rem``, in one call and
        without trace entries (replay of very large logs lists no operation past its row
        cap): REM = H(REM[:hash_size] || item) for each item, the same values as
        ``rem_extend``. Nothing changes when an argument is refused."""
        if not 0 <= rem <= 3:
            raise MeasurementError(f"REM index {rem} out of range 0..3")
        if data and max(map(len, data)) > 64:
            raise MeasurementError(f"RSI_MEASUREMENT_EXTEND size {max(map(len, data))} > 64")
        algo = self.algo
        name = algo.name
        ctor = getattr(hashlib, name, None)
        if ctor is None:  # pragma: no cover - every Realm algorithm has a hashlib constructor
            def ctor(value: bytes) -> hashlib._Hash:
                return hashlib.new(name, value)
        value = self._rems[rem][:algo.size]
        for item in data:
            value = ctor(value + item).digest()
        self._rems[rem] = slot(value)

    def measurements(self) -> Measurements:
        size = self.algo.size
        assert self.params is not None
        return Measurements(hash_algo=self.algo, rim=self._rim_slot[:size],
                            rems=[r[:size] for r in self._rems], rpv=self.params.rpv,
                            profile=self.profile, trace=list(self.trace))
