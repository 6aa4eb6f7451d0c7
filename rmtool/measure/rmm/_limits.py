"""The reference Realm model's INIT_RIPAS rules and rmtool's bound, once for every VMM.

Spec: TF-RMM ``runtime/rmi/rtt.c`` ``smc_rtt_init_ripas`` (the greedy RTT split of an
INIT_RIPAS range) and the range the reference computes: the reference tool's
``RealmConfig::compute_rim`` and ``Realm::rim_init_ripas`` (src/realm.rs, release build).
Front-ends call these when they lay out RAM, so the three VMMs agree on the range, its
errors and the bound.

* :func:`ripas_top`: the one INIT_RIPAS top formula, ``align_up(base + size - 1, 4 KiB)``
  in wrapping u64 arithmetic: it drops a last partial granule (4097 bytes -> one
  granule) and is ``<= base`` for an empty or wrapping range.
* :func:`ripas_range_error`: that empty range, in the reference's wording.
* :data:`MAX_FRONTEND_RIPAS_DESCRIPTORS` and :func:`ripas_bound_error`: rmtool's bound on
  the RTT entries a VMM command line may make the model hash (the Realm model's own
  limit for front-end operations, ``realm.MAX_MEASURE_RTT_ENTRIES``), checked with the
  exact descriptor count.

TF-RMM's own range checks of RMI_RTT_INIT_RIPAS (IPA size 2^s2sz, protected half
2^(s2sz-1)) are ``RmmProfile.refuse_init_ripas`` (``rmtool.measure.rmm.profiles``), which the
Realm model applies with ``enforce_ipa_space`` (replay); the front-ends do not apply them,
as the reference tool measures RAM past the protected half (docs/rmm-profiles.md).
"""

from __future__ import annotations

from rmtool.errors import ComputeError, ParametersError
from rmtool.measure.rmm._layouts import GRANULE_SIZE, U64_MASK
from rmtool.measure.rmm.realm import MAX_MEASURE_RTT_ENTRIES, rtt_block_sizes

#: INIT_RIPAS descriptors a VMM command line may need (past this, refuse)
MAX_FRONTEND_RIPAS_DESCRIPTORS = MAX_MEASURE_RTT_ENTRIES
#: s2sz for which the reference's ``translation_block_sizes`` has at most four levels
REFERENCE_S2SZ_MIN, REFERENCE_S2SZ_MAX = 12, 52
#: s2sz at or below which the reference finds no block size for INIT_RIPAS
REFERENCE_NO_BLOCK_S2SZ = 16
#: ``find_block_size`` asserts ``start < 1 << 63``
REFERENCE_MAX_RIPAS_ADDRESS = 1 << 63


def ripas_top(base: int, size: int) -> int:
    """``RealmConfig::compute_rim``: ``align_up(base + size - 1, GRANULE)``, wrapping u64."""
    return ((((base + size - 1) & U64_MASK) + GRANULE_SIZE - 1) & U64_MASK) \
        & ~(GRANULE_SIZE - 1)


def ripas_range_error(base: int, size: int) -> ComputeError | None:
    """``Realm::rim_init_ripas`` on an empty (or wrapped) range."""
    top = ripas_top(base, size)
    if top <= base:
        return ComputeError(f"invalid parameter RIPAS({base:x}, {top:x})")
    return None


def ripas_descriptor_count(base: int, top: int, ipa_bits: int) -> int:
    """Number of RTT entries the greedy INIT_RIPAS split yields (TF-RMM
    ``smc_rtt_init_ripas``), computed by runs of equal-sized entries instead of one by one."""
    sizes = rtt_block_sizes(ipa_bits)  # largest first
    count, cur = 0, base
    while cur < top:
        idx = next(i for i, s in enumerate(sizes) if cur % s == 0 and cur + s <= top)
        size = sizes[idx]
        fit = (top - cur) // size
        to_align = (-cur) % sizes[idx - 1] // size if idx > 0 else 0
        n = min(to_align, fit) if to_align else fit
        count, cur = count + n, cur + n * size
    return count


def ripas_bound_error(option: str, base: int, size: int, s2sz: int
                      ) -> ParametersError | None:
    """rmtool's bound: the RAM ``[base, ripas_top(base, size))`` split at ``s2sz`` needs
    more than :data:`MAX_FRONTEND_RIPAS_DESCRIPTORS` descriptors (``option`` names the
    VMM option that set the RAM). Call after :func:`ripas_range_error`."""
    n = ripas_descriptor_count(base, ripas_top(base, size), s2sz)
    if n > MAX_FRONTEND_RIPAS_DESCRIPTORS:
        return ParametersError(
            f"{option}: {size} bytes of RAM need {n} INIT_RIPAS descriptors at s2sz "
            f"{s2sz}; rmtool measures at most {MAX_FRONTEND_RIPAS_DESCRIPTORS}")
    return None
