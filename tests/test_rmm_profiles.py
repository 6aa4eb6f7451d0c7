"""The Realm model validates and measures REALM_CREATE / INIT_RIPAS as the TF-RMM of its
profile does (docs/rmm-profiles.md; TF-RMM runtime/rmi/realm.c validate_realm_params,
rim.c measurement_realm_params_measure, runtime/rmi/rtt.c smc_rtt_init_ripas).

Each expected RIM is derived here without the code under test: hashlib over a 4096-byte
RmiRealmParams image or 256-byte RIPAS descriptors built by hand with ``struct`` at the
offsets of TF-RMM's ``struct rmi_realm_params`` / ``struct measurement_desc_ripas``, and RTT
entries listed by hand from TF-RMM's walk. Each test is the mismatch it stops: rmtool
printing a RIM that no TF-RMM of the chosen version computes, or a RIM for a realm that
TF-RMM refuses to create.
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from rmtool.errors import MeasurementError, UsageError
from rmtool.measure.rmm.algorithms import SHA256, SHA384, SHA512
from rmtool.measure.rmm.ops import (
    InitRipas,
    Operation,
    RealmCreate,
    RealmParams,
    RmiRealmFields,
)
from rmtool.measure.rmm.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    RealmRefused,
    profile_for_tf_rmm,
)
from rmtool.measure.rmm.realm import Realm
from rmtool.replay._cca import read_realm_create, write_realm_create

MIB = 1 << 20
GIB = 1 << 30
ALL = ("1.0-eac5", "1.0-rel0", "1.1", "2.0-v0.9.0", "2.0")
MEASURE_RIPAS = ("1.0-eac5", "1.0-rel0", "1.1")


def image(flags: int, s2sz: int, sve_vl: int, bps: int, wps: int, ctrs: int,
          algo: int) -> bytes:
    """RmiRealmParams as TF-RMM's zeroed measured copy: flags word at 0x0, then the
    32-bit s2sz/sve_vl/num_bps/num_wps/pmu_num_ctrs in 8-byte slots, hash_algo at 0x30."""
    img = bytearray(4096)
    struct.pack_into("<Q", img, 0x00, flags)
    for off, value in ((0x08, s2sz), (0x10, sve_vl), (0x18, bps), (0x20, wps), (0x28, ctrs)):
        struct.pack_into("<I", img, off, value & 0xFFFFFFFF)
    img[0x30] = algo
    return bytes(img)


def ripas_chain(name: str, rim: bytes, entries: list[tuple[int, int]]) -> bytes:
    """RIM after one RmmMeasurementDescriptorRipas per entry, built by hand."""
    for base, top in entries:
        desc = bytearray(256)
        desc[0] = 2
        struct.pack_into("<Q", desc, 0x08, 256)
        desc[0x10:0x10 + len(rim)] = rim
        struct.pack_into("<QQ", desc, 0x50, base, top)
        rim = hashlib.new(name, bytes(desc)).digest()
    return rim


def rim(profile: str, params: RealmParams, *ops: InitRipas) -> bytes:
    return Realm(profile).execute([RealmCreate(params), *ops]).rim


# ------------------------------------------------------------- the profiles as data

def test_profiles_keep_their_names_and_default() -> None:
    assert list(PROFILES) == ["1.0-eac5", "1.0-rel0", "1.1", "2.0", "2.0-v0.9.0"]
    assert DEFAULT_PROFILE == "1.0-rel0"


@pytest.mark.parametrize("tag, name", [
    ("rmm-spec-v1.0-eac5", "1.0-eac5"), ("tf-rmm-v0.4.0", "1.0-eac5"),
    ("v0.5.0", "1.0-eac5"), ("rmm-spec-v1.0-rel0", "1.0-rel0"), ("tf-rmm-v0.6.0", "1.0-rel0"),
    ("v0.7.0", "1.0-rel0"), ("tf-rmm-v0.8.0", "1.1"), ("rmm-spec-v1.x-aligned", "1.1"),
    ("tf-rmm-v0.9.0", "2.0-v0.9.0"), ("main", "2.0"),
])
def test_each_tf_rmm_version_has_its_profile(tag: str, name: str) -> None:
    assert profile_for_tf_rmm(tag).name == name


def test_unknown_tf_rmm_version_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown TF-RMM version 'v9.9'"):
        profile_for_tf_rmm("v9.9")


def test_profile_data_per_version() -> None:
    p = {n: PROFILES[n] for n in ALL}
    assert [p[n].measures_init_ripas for n in ALL] == [True, True, True, False, False]
    assert [tuple(a.name for a in p[n].hash_algos) for n in ALL] == [
        ("sha256", "sha512")] * 4 + [("sha256", "sha512", "sha384")]
    assert [p[n].mec_policies for n in ALL] == [None, None, None, (0, 1), (0, 1)]
    assert [p[n].flag_mask for n in ALL] == [0x7, 0x7, 0xF, 0x18F, 0x18F]
    assert [p[n].bps_wps_minus_one for n in ALL] == [False, True, True, True, True]
    assert [p[n].token_profiles for n in ALL] == [
        (), ("tag:arm.com,2023:realm#1.0.0",), ("tag:arm.com,2023:realm#1.0.0",),
        ("tag:arm.com,2023:realm#1.0.0",), ("tag:arm.com,2024:realm#2.0.0",)]


# ------------------------------------------- case 1: flag bits the version does not define

@pytest.mark.parametrize("profile", ["1.0-eac5", "1.0-rel0"])
def test_da_bit_before_rmm_1_1_is_measured_not_dropped(profile: str) -> None:
    """TF-RMM <= v0.7.0 copies the whole flags word (no reserved-bit check): bit 3 is in
    the RIM. rmtool used to drop it and print the RIM of a realm without it."""
    bps = 6 if profile == "1.0-eac5" else 5
    want = hashlib.sha256(image(0x8, 33, 0, bps, bps, 0, 0)).digest()
    assert rim(profile, RealmParams(SHA256, 33, 6, 6, da=True)) == want
    raw = RealmParams.from_rmi(RmiRealmFields(flags=0x8, s2sz=33, num_bps=bps, num_wps=bps))
    assert rim(profile, raw) == want
    assert want != hashlib.sha256(image(0, 33, 0, bps, bps, 0, 0)).digest()


@pytest.mark.parametrize("mec", [1, 2, 3])
def test_mec_policy_bits_under_rmm_1_1_are_measured(mec: int) -> None:
    """TF-RMM v0.8.0 defines no MEC_POLICY and validates nothing in bits 7-8: any value is
    measured as written."""
    want = hashlib.sha512(image(mec << 7, 41, 0, 1, 1, 0, 1)).digest()
    raw = RealmParams.from_rmi(RmiRealmFields(flags=mec << 7, s2sz=41, hash_algo=1))
    assert rim("1.1", raw) == want
    assert rim("1.1", RealmParams(SHA512, 41, 2, 2, mec_policy=mec)) == want


def test_undefined_flag_bit_under_2_0_is_measured() -> None:
    flags = (1 << 5) | (1 << 63) | 0x80
    want = hashlib.sha256(image(flags, 48, 0, 1, 1, 0, 0)).digest()
    for profile in ("2.0", "2.0-v0.9.0"):
        assert rim(profile, RealmParams.from_rmi(RmiRealmFields(flags=flags, s2sz=48))) == want


def test_trace_names_the_undefined_bits() -> None:
    m = Realm("1.0-rel0").execute([RealmCreate(RealmParams(SHA256, 33, 6, 6, da=True))])
    assert m.trace[0].detail.endswith(
        "flags=0x8 (bits 0x8 not defined by RMM 1.0-rel0, measured as TF-RMM does)")


# --------------------------------------------------- case 2: MEC_POLICY 2 and 3 under 2.0

@pytest.mark.parametrize("profile, tags", [("2.0", "main"), ("2.0-v0.9.0", "tf-rmm-v0.9.0")])
@pytest.mark.parametrize("mec", [2, 3])
def test_mec_policy_2_and_3_are_refused_under_2_0(profile: str, tags: str, mec: int) -> None:
    """runtime/rmi/realm.c (v0.9.0, main) accepts only RMI_MEC_POLICY_SHARED / PRIVATE."""
    params = RealmParams.from_rmi(RmiRealmFields(flags=mec << 7, s2sz=48))
    with pytest.raises(RealmRefused) as exc:
        rim(profile, params)
    assert str(exc.value) == (
        f"RMI_REALM_CREATE: flags MEC_POLICY (bits 7-8) value {mec} is not defined by RMM "
        f"{profile} (accepted: 0, 1; TF-RMM {tags} refuses the realm)")
    assert isinstance(exc.value, MeasurementError) and exc.value.exit_code == 2
    with pytest.raises(RealmRefused):
        rim(profile, RealmParams(SHA256, 48, 2, 2, mec_policy=mec))


@pytest.mark.parametrize("profile", ["2.0", "2.0-v0.9.0"])
def test_mec_policy_private_is_measured_under_2_0(profile: str) -> None:
    want = hashlib.sha256(image(0x80, 48, 0, 1, 1, 0, 0)).digest()
    assert rim(profile, RealmParams(SHA256, 48, 2, 2, mec_policy=1)) == want


def test_refused_realm_has_no_measurements() -> None:
    realm = Realm("2.0")
    with pytest.raises(RealmRefused):
        realm.apply(RealmCreate(RealmParams(SHA256, 48, 2, 2, mec_policy=2)))
    assert realm.params is None and realm.trace == []
    with pytest.raises(MeasurementError, match="REALM_CREATE must come first"):
        realm.measurements()


# --------------------------------------------------------------- case 3: SHA-384

@pytest.mark.parametrize("profile, tags", [
    ("2.0-v0.9.0", "tf-rmm-v0.9.0"), ("1.1", "tf-rmm-v0.8.0/rmm-spec-v1.x-aligned"),
    ("1.0-rel0", "rmm-spec-v1.0-rel0/tf-rmm-v0.6.0/tf-rmm-v0.7.0"),
    ("1.0-eac5", "rmm-spec-v1.0-eac5/tf-rmm-v0.4.0/tf-rmm-v0.5.0"),
])
def test_sha384_is_refused_before_main(profile: str, tags: str) -> None:
    """realm.c's algorithm switch lists SHA-384 only from commit 787b3558 (after v0.9.0)."""
    with pytest.raises(RealmRefused) as exc:
        rim(profile, RealmParams(SHA384, 48, 2, 2))
    assert str(exc.value) == (
        f"RMI_REALM_CREATE: hash_algo encoding 2 (sha384) is not accepted by RMM {profile} "
        f"(accepted: 0 (sha256), 1 (sha512); TF-RMM {tags} refuses the realm)")


def test_sha384_is_measured_on_main() -> None:
    want = hashlib.sha384(image(0, 48, 0, 1, 1, 0, 2)).digest()
    assert len(want) == 48
    assert rim("2.0", RealmParams(SHA384, 48, 2, 2)) == want
    assert rim("2.0", RealmParams.from_rmi(RmiRealmFields(flags=0, s2sz=48, hash_algo=2))) \
        == want


def test_undefined_hash_encoding_is_refused() -> None:
    with pytest.raises(RealmRefused, match="hash_algo encoding 3 is not defined by any RMM"):
        RealmParams.from_rmi(RmiRealmFields(flags=0, s2sz=48, hash_algo=3))


# ------------------------------------------- case 4: INIT_RIPAS over RTTs made earlier

def test_overlapping_ripas_walks_the_deeper_table_start_level_2() -> None:
    """s2sz 33 (levels 2, 3). The first range creates the level-3 table of
    [0x80000000, 0x80200000); the second range starts there, so TF-RMM measures that
    table's 512 4 KiB entries, then a 2 MiB entry (513 descriptors, not 2)."""
    first = [(0x80001000, 0x80002000)]
    second = [(0x80000000 + i * 4096, 0x80001000 + i * 4096) for i in range(512)]
    second.append((0x80200000, 0x80400000))
    for profile in MEASURE_RIPAS:
        bps = 6 if profile == "1.0-eac5" else 5
        start = hashlib.sha256(image(0, 33, 0, bps, bps, 0, 0)).digest()
        want = ripas_chain("sha256", start, first + second)
        m = Realm(profile).execute([RealmCreate(RealmParams(SHA256, 33, 6, 6)),
                                    InitRipas(0x80001000, 0x80002000),
                                    InitRipas(0x80000000, 0x80400000)])
        assert m.rim == want
        assert [t.descriptors for t in m.trace] == [1, 1, 513]


def test_overlapping_ripas_start_level_1_sha512() -> None:
    """s2sz 41 (levels 1, 2, 3): a 2 MiB range inside the first GiB creates the level-2
    table of [1 GiB, 2 GiB); a later range over that GiB is measured as its 512 2 MiB
    entries, not as one 1 GiB entry; the next GiB, never split, is one 1 GiB entry."""
    first = [(GIB + 2 * MIB, GIB + 4 * MIB)]
    second = [(GIB + i * 2 * MIB, GIB + (i + 1) * 2 * MIB) for i in range(512)]
    second.append((2 * GIB, 3 * GIB))
    start = hashlib.sha512(image(0, 41, 0, 1, 1, 0, 1)).digest()
    want = ripas_chain("sha512", start, first + second)
    ops: list[Operation] = [
        RealmCreate(RealmParams(SHA512, 41, 2, 2)),
        InitRipas(GIB + 2 * MIB, GIB + 4 * MIB),
        InitRipas(GIB, 3 * GIB)]
    assert Realm("1.1").execute(ops).rim == want


def test_ripas_overlap_reaches_a_level_3_table_inside_a_level_2_table() -> None:
    """s2sz 41: the first range (one granule) creates level-2 and level-3 tables; a range
    over the whole GiB measures 4 KiB entries in that 2 MiB, 2 MiB entries elsewhere."""
    g = GIB + 6 * MIB
    first = [(g + 4096, g + 8192)]
    second = [(GIB + i * 2 * MIB, GIB + (i + 1) * 2 * MIB) for i in range(3)]
    second += [(g + i * 4096, g + (i + 1) * 4096) for i in range(512)]
    second += [(GIB + i * 2 * MIB, GIB + (i + 1) * 2 * MIB) for i in range(4, 512)]
    start = hashlib.sha256(image(0, 41, 0, 1, 1, 0, 0)).digest()
    want = ripas_chain("sha256", start, first + second)
    ops: list[Operation] = [
        RealmCreate(RealmParams(SHA256, 41, 2, 2)),
        InitRipas(g + 4096, g + 8192),
        InitRipas(GIB, 2 * GIB)]
    assert Realm().execute(ops).rim == want


def test_disjoint_ranges_split_as_before() -> None:
    """Ranges that share no table keep the greedy split (the reference tool's vectors)."""
    start = hashlib.sha256(image(0, 33, 0, 5, 5, 0, 0)).digest()
    entries = [(0x80000000 + i * 2 * MIB, 0x80200000 + i * 2 * MIB) for i in range(4)]
    entries += [(0x90001000, 0x90002000)]
    ops: list[Operation] = [
        RealmCreate(RealmParams(SHA256, 33, 6, 6)),
        InitRipas(0x80000000, 0x80800000),
        InitRipas(0x90001000, 0x90002000)]
    assert Realm().execute(ops).rim == ripas_chain("sha256", start, entries)


@pytest.mark.parametrize("profile", ["2.0", "2.0-v0.9.0"])
def test_overlapping_ripas_is_not_measured_under_2_0(profile: str) -> None:
    start = hashlib.sha256(image(0, 33, 0, 5, 5, 0, 0)).digest()
    ops: list[Operation] = [
        RealmCreate(RealmParams(SHA256, 33, 6, 6)),
        InitRipas(0x80001000, 0x80002000),
        InitRipas(0x80000000, 0x80400000)]
    assert Realm(profile).execute(ops).rim == start


def test_failed_ripas_call_leaves_no_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused INIT_RIPAS (too many entries) must not leave tables that change how a
    later range is measured."""
    import rmtool.measure.rmm.realm as realm_module

    monkeypatch.setattr(realm_module, "MAX_MEASURE_RTT_ENTRIES", 4)
    realm = Realm()
    realm.apply(RealmCreate(RealmParams(SHA256, 33, 6, 6)))
    with pytest.raises(MeasurementError, match="more than 4 RTT entries"):
        realm.apply(InitRipas(0x80001000, 0x80010000))
    realm.apply(InitRipas(0x80000000, 0x80200000))
    start = hashlib.sha256(image(0, 33, 0, 5, 5, 0, 0)).digest()
    assert realm.measurements().rim == ripas_chain("sha256", start, [(0x80000000, 0x80200000)])


# ------------------------------------- case 5: sve_vl / pmu_num_ctrs with their flag clear

@pytest.mark.parametrize("profile", ALL[:4] + ("2.0",))
def test_sve_vl_and_pmu_counters_with_flag_clear_are_measured_raw(profile: str) -> None:
    """rim.c copies sve_vl and pmu_num_ctrs whatever the SVE / PMU flags say; rmtool
    wrote 0 and printed a RIM no RMM computes for such a host."""
    want = hashlib.sha256(image(0x1, 48, 3, 1, 1, 7, 0)).digest()
    raw = RealmParams.from_rmi(RmiRealmFields(flags=0x1, s2sz=48, sve_vl=3, pmu_num_ctrs=7))
    assert rim(profile, raw) == want
    if profile != "1.0-eac5":
        natural = RealmParams(SHA256, 48, 2, 2, sve_vl=512, sve=False, pmu=False,
                              pmu_num_ctrs=7, lpa2=True)
        assert rim(profile, natural) == want


def test_raw_fields_are_measured_as_32_bit_members() -> None:
    """struct rmi_realm_params holds s2sz..pmu_num_ctrs as unsigned int in 8-byte slots:
    bytes 4..7 of each slot are not copied into the measured image."""
    fields = RmiRealmFields(flags=0x6, s2sz=48, sve_vl=(1 << 32) | 2, num_bps=(5 << 32) | 1,
                            num_wps=1, pmu_num_ctrs=(1 << 40) | 4)
    want = hashlib.sha256(image(0x6, 48, 2, 1, 1, 4, 0)).digest()
    assert rim("1.0-rel0", RealmParams.from_rmi(fields)) == want


def test_raw_field_beyond_64_bits_is_refused() -> None:
    with pytest.raises(MeasurementError, match="RmiRealmParams.sve_vl .* does not fit"):
        RealmParams.from_rmi(RmiRealmFields(flags=0, s2sz=48, sve_vl=1 << 64))


def test_replayed_realm_create_keeps_raw_sve_and_pmu_fields() -> None:
    """A logged REALM_CREATE with SVE / PMU clear but VQ 3 and 7 counters replays to the
    RIM TF-RMM computed, and writes back the same bytes."""
    payload = struct.pack("<QBBBBBB", 0x0, 48, 3, 1, 1, 7, 0) + bytes(2)
    params = read_realm_create(payload)
    assert write_realm_create(params) == payload
    assert rim("1.0-rel0", params) == hashlib.sha256(image(0, 48, 3, 1, 1, 7, 0)).digest()


def test_front_end_parameters_measure_as_before() -> None:
    """VMM front-ends never set the new inputs: a kvmtool-like realm keeps the reference
    tool's value."""
    assert rim("1.0-rel0", RealmParams(SHA256, 48, 2, 2)).hex() == \
        "6739dfb22b75ee1268d08dfa8369f501bc0b066243553f069f560d1fa1172973"
    assert rim("1.0-rel0", RealmParams(SHA256, 48, 2, 2, sve_vl=512, pmu=True,
                                       pmu_num_ctrs=6)) == \
        hashlib.sha256(image(0x6, 48, 3, 1, 1, 6, 0)).digest()


def test_api_doc_realm_example_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/api.md's Realm example is the documented API: it must run and print the
    refusal it shows."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    section = text.split("### The Realm model", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/api.md", "exec"), {})  # noqa: S102 - our own documentation
    assert capsys.readouterr().out == (
        "RMI_REALM_CREATE: flags MEC_POLICY (bits 7-8) value 2 is not defined by RMM "
        "2.0-v0.9.0 (accepted: 0, 1; TF-RMM tf-rmm-v0.9.0 refuses the realm)\n")


@pytest.mark.parametrize("profile", ["1.0-eac5", "1.0-rel0", "1.1"])
@pytest.mark.parametrize(("base", "top"), [(0x80000000, 0x40000000), (0x80000000, 0x80000000)])
def test_empty_or_inverted_init_ripas_is_refused(profile: str, base: int, top: int) -> None:
    """TF-RMM smc_rtt_init_ripas (runtime/rmi/rtt.c, every tag from rmm-spec-v1.0-eac5 to
    main): ``if (top <= base) return RMI_ERROR_INPUT``. Before, the model measured nothing
    and went on, so a replayed log with a wrapped range still produced a RIM."""
    realm = Realm(PROFILES[profile])
    with pytest.raises(MeasurementError, match=r"is empty \(top <= base\)"):
        realm.execute([RealmCreate(RealmParams(SHA256, 48)), InitRipas(base, top)])
