"""RMI_RTT_INIT_RIPAS range checks as TF-RMM makes them (``runtime/rmi/rtt.c``
``smc_rtt_init_ripas``, identical from rmm-spec-v1.0-eac5 to main): ``top <= base``,
``validate_map_addr`` (granule aligned, below 2^s2sz) of base and top, and
``addr_in_par`` of base and ``top - GRANULE_SIZE`` (below 2^(s2sz-1), the protected half).
The Realm model applies them with ``enforce_ipa_space`` (replay of hostile logs, TF-RMM
operation streams); VMM front-ends reproduce the reference tool, which has none."""

from __future__ import annotations

import hashlib

import pytest

from rmtool.errors import MeasurementError
from rmtool.measure.rmm.algorithms import SHA256
from rmtool.measure.rmm.ops import InitRipas, RealmCreate, RealmParams
from rmtool.measure.rmm.profiles import PROFILES, RealmRefused, RmiRefused
from rmtool.measure.rmm.realm import Realm

GRANULE = 0x1000
PROFILE_NAMES = sorted(PROFILES)


def _realm(profile: str, s2sz: int, *, enforce: bool = True) -> Realm:
    realm = Realm(profile, enforce_ipa_space=enforce)
    realm.apply(RealmCreate(RealmParams(SHA256, s2sz)))
    return realm


def _ripas_by_hand(rim: bytes, base: int, top: int) -> bytes:
    """H(RmmMeasurementDescriptorRipas) from RMM spec A7.1.1's offsets, not our layout."""
    desc = bytearray(0x100)
    desc[0] = 0x02
    desc[0x08:0x10] = (0x100).to_bytes(8, "little")
    desc[0x10:0x10 + len(rim)] = rim
    desc[0x50:0x58] = base.to_bytes(8, "little")
    desc[0x58:0x60] = top.to_bytes(8, "little")
    return hashlib.sha256(bytes(desc)).digest()


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("s2sz", [33, 40, 48])
def test_last_protected_granule_is_accepted_and_one_past_is_refused(profile: str,
                                                                    s2sz: int) -> None:
    """top == 2^(s2sz-1) is the end of the protected IPA space: TF-RMM accepts it
    (addr_in_par(top - 4K)); one granule more is RMI_ERROR_INPUT."""
    par = 1 << (s2sz - 1)
    realm = _realm(profile, s2sz)
    before = realm.measurements().rim
    with pytest.raises(RmiRefused) as refused:
        realm.apply(InitRipas(par - GRANULE, par + GRANULE))
    assert str(refused.value) == (
        f"RMI_RTT_INIT_RIPAS [{par - GRANULE:#x}, {par + GRANULE:#x}): the range leaves the "
        f"protected IPA space [0, {par:#x}) of a {s2sz}-bit Realm (addr_in_par); TF-RMM "
        f"{'/'.join(PROFILES[profile].tf_rmm)} answers RMI_ERROR_INPUT")
    assert realm.measurements().rim == before and len(realm.trace) == 1  # nothing happened
    realm.apply(InitRipas(par - GRANULE, par))
    m = realm.measurements()
    if PROFILES[profile].measures_init_ripas:
        assert m.trace[-1].descriptors == 1
        assert m.rim == _ripas_by_hand(before, par - GRANULE, par)
    else:  # 2.0: refused all the same, but nothing measured
        assert m.trace[-1].descriptors == 0 and m.rim == before


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_base_at_the_protected_boundary_is_refused(profile: str) -> None:
    """Attack: a range entirely in the unprotected half (base == 2^(s2sz-1))."""
    realm = _realm(profile, 33)
    with pytest.raises(RmiRefused, match=r"leaves the protected IPA space \[0, 0x100000000\)"):
        realm.apply(InitRipas(1 << 32, (1 << 32) + GRANULE))


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_top_at_or_beyond_the_ipa_size_is_refused_by_validate_map_addr(profile: str) -> None:
    """top == 2^s2sz fails validate_map_addr (top < realm_ipa_size) before addr_in_par;
    the model used to accept it (its bound was top <= 2^s2sz)."""
    realm = _realm(profile, 33)
    for top in (1 << 33, (1 << 33) + GRANULE):
        with pytest.raises(RmiRefused, match=r"top is not below the 33-bit IPA size "
                                              r"0x200000000; TF-RMM \S+ answers RMI_ERROR_INPUT"):
            realm.apply(InitRipas(0, top))


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_empty_and_unaligned_ranges_are_refused_even_where_not_measured(profile: str) -> None:
    realm = _realm(profile, 40)
    with pytest.raises(RmiRefused, match=r"\[0x2000, 0x1000\): top <= base;"):
        realm.apply(InitRipas(0x2000, 0x1000))
    with pytest.raises(RmiRefused, match="base is not aligned to a 4096-byte granule"):
        realm.apply(InitRipas(0x1001, 0x3000))
    with pytest.raises(RmiRefused, match="top is not aligned to a 4096-byte granule"):
        realm.apply(InitRipas(0x1000, 0x2fff))


def test_refusal_is_a_measurement_error_not_a_realm_create_refusal() -> None:
    """The CLI's exit 2 for MeasurementError holds; it is not a usage error of REALM_CREATE."""
    realm = _realm("1.0-rel0", 33)
    with pytest.raises(MeasurementError) as exc:
        realm.apply(InitRipas(0, 1 << 33))
    assert isinstance(exc.value, RmiRefused) and not isinstance(exc.value, RealmRefused)


def test_a_refused_range_creates_no_tables_for_later_ranges() -> None:
    """Refusal comes before the RTT walk: a later range measures as on fresh tables."""
    s2sz = 40
    par = 1 << (s2sz - 1)
    realm = _realm("1.0-rel0", s2sz)
    with pytest.raises(RmiRefused):
        realm.apply(InitRipas(par - 0x200000 + GRANULE, par + GRANULE))
    realm.apply(InitRipas(par - 0x200000, par))
    fresh = _realm("1.0-rel0", s2sz)
    fresh.apply(InitRipas(par - 0x200000, par))
    assert realm.trace[-1].descriptors == 1 == fresh.trace[-1].descriptors  # one 2 MiB block
    assert realm.measurements().rim == fresh.measurements().rim


def test_front_ends_keep_measuring_beyond_the_protected_half_as_the_reference_does() -> None:
    """Without enforce_ipa_space (VMM front-ends) the reference tool's RIM for RAM past
    2^(s2sz-1) is still computed: 4 GiB from 2 GiB at s2sz 33 in 2 MiB entries."""
    lenient = _realm("1.0-rel0", 33, enforce=False)
    lenient.apply(InitRipas(0x80000000, 0x180000000))
    assert lenient.trace[-1].descriptors == 2048
