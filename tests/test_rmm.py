"""The RMM model: layouts, version profiles, RIPAS split, REM extension.

Expected values come from the reference tool's unit tests and from TF-RMM semantics
(``lib/measurement/src/rim.c``, docs/rmm-profiles.md).
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from rmtool.errors import MeasurementError, UsageError
from rmtool.measure.images import Image, ParallelGranuleHasher
from rmtool.measure.rmm._layouts import (
    DATA_DESC,
    data_descriptor,
    data_descriptor_layout,
    rec_descriptor,
    ripas_descriptor,
    ripas_descriptor_packer,
)
from rmtool.measure.rmm._structures import (
    FAST_REFERENCE,
    RmmMeasurementDescriptorData,
    RmmMeasurementDescriptorRipas,
    field_offset,
)
from rmtool.measure.rmm.algorithms import SHA256, SHA384, SHA512
from rmtool.measure.rmm.ops import (
    DataCreate,
    InitRipas,
    Operation,
    RealmCreate,
    RealmParams,
    RecCreate,
    RemExtend,
)
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.rmm.realm import Realm, realm_params_image, rec_params_image, ripas_split

GIB = 1 << 30
MIB = 1 << 20


def rim_of(params: RealmParams, profile: str = "1.0-rel0") -> str:
    return Realm(profile).execute([RealmCreate(params)]).rim.hex()


# ---------------------------------------------------------------- reference unit vectors

def test_empty_realm_sha256() -> None:
    assert rim_of(RealmParams(SHA256, 48, 2, 2)) == \
        "6739dfb22b75ee1268d08dfa8369f501bc0b066243553f069f560d1fa1172973"


def test_empty_realm_sha512() -> None:
    assert rim_of(RealmParams(SHA512, 48, 2, 2)) == (
        "799e434048fb57eb9d4f0e2a2b98158720377252deab2bdfcd69b5a8f82237f4"
        "34bd6bb1c75bf160a2d49382f733b3439a3ff769e4ea5dd9a6f72239d44bbbab")


def test_event_log_vector_realm_create() -> None:
    rim = Realm().execute([RealmCreate(RealmParams(SHA256, 48, 6, 4))]).rim
    assert base64.b64encode(rim).decode() == "iWDVaCY3CqpvybOgQdQkBolYK6QeKti7j5rfbSoM1ec="


def test_eac5_encoding_stores_raw_counts() -> None:
    # old eac5 vectors kept in the reference tool's history
    assert rim_of(RealmParams(SHA256, 48, 2, 2), "1.0-eac5") == \
        "3f377c61f1904ac32e500bfa4755fdaec5066d5998288b78bd6d63657800db50"
    assert rim_of(RealmParams(SHA512, 48, 2, 2), "1.0-eac5") == (
        "33d7e21767d822e2f9b15477e5e3c1bac7d768f68ed283400e5bd8cef52d23ae"
        "4addb057208017464a1387e0148d0bae8349cdf5179796c05a7dda821d9010ca")


# ---------------------------------------------------------------- layouts

def test_realm_params_image_offsets() -> None:
    p = RealmParams(SHA512, 41, num_bps=6, num_wps=4, sve_vl=512, pmu=True, pmu_num_ctrs=6,
                    lpa2=True)
    img = realm_params_image(p, get_profile("1.0-rel0"))
    assert len(img) == 4096
    assert img[0x00:0x08] == (0b111).to_bytes(8, "little")  # LPA2 | SVE | PMU
    assert img[0x08:0x10] == (41).to_bytes(8, "little")
    assert img[0x10:0x18] == (3).to_bytes(8, "little")  # VQ = 512/128 - 1
    assert img[0x18:0x20] == (5).to_bytes(8, "little")  # bps - 1
    assert img[0x20:0x28] == (3).to_bytes(8, "little")  # wps - 1
    assert img[0x28:0x30] == (6).to_bytes(8, "little")
    assert img[0x30] == 1
    assert img[0x31:] == bytes(4096 - 0x31)


def test_rpv_is_not_measured() -> None:
    a = RealmParams(SHA256, 33, 6, 6)
    b = RealmParams(SHA256, 33, 6, 6, rpv=b"\x01" * 64)
    assert rim_of(a) == rim_of(b)


def test_rec_params_image_offsets() -> None:
    img = rec_params_image(RecCreate(0x80000000, (0x8FE00000, 1, 2, 3, 4, 5, 6, 7)))
    assert len(img) == 4096
    assert img[0:8] == (1).to_bytes(8, "little")
    assert img[0x200:0x208] == (0x80000000).to_bytes(8, "little")
    assert img[0x300:0x308] == (0x8FE00000).to_bytes(8, "little")
    assert img[0x338:0x340] == (7).to_bytes(8, "little")
    assert img[8:0x200] == bytes(0x1F8) and img[0x340:] == bytes(4096 - 0x340)


def test_data_descriptor_layout_and_fast_path() -> None:
    rim = bytes(range(64))
    content = bytes(range(100, 164))
    fast = data_descriptor(rim, 0x80001000, 1, content)
    built = RmmMeasurementDescriptorData.build({"rim": rim, "ipa": 0x80001000, "flags": 1,
                                                "content": content})
    assert fast == built and len(fast) == 256 == DATA_DESC.size
    assert fast[0] == 0 and fast[8:16] == (256).to_bytes(8, "little")
    assert fast[0x10:0x50] == rim
    assert fast[0x50:0x58] == (0x80001000).to_bytes(8, "little")
    assert fast[0x58:0x60] == (1).to_bytes(8, "little")
    assert fast[0x60:0xA0] == content and fast[0xA0:] == bytes(96)


@pytest.mark.parametrize("name", sorted(FAST_REFERENCE))
def test_fast_mirror_equals_construct_declaration(name: str) -> None:
    """layouts.py mirrors structures.py: same size, same field offsets, same bytes."""
    decl, fast = FAST_REFERENCE[name]
    assert fast.size == decl.sizeof()
    named = [sub.name for sub in decl.subcons if sub.name]
    assert list(fast.offsets) == named
    for field_name, offset in fast.offsets.items():
        assert offset == field_offset(decl, field_name), field_name
    # distinct non-zero values in every field: the two must build the same bytes
    consts = {sub.name: sub.subcon.value for sub in decl.subcons
              if sub.name and type(sub.subcon).__name__ == "Const"}
    values: dict[str, object] = {}
    args: list[object] = []
    for k, (field_name, fmt) in enumerate(f for f in fast.fields if f[0]):
        if field_name in consts:
            args.append(consts[field_name])
        elif fmt.endswith("s"):
            values[field_name] = bytes([k + 1]) * int(fmt[:-1])
            args.append(values[field_name])
        elif fmt[0].isdigit():
            items = [k * 16 + i + 1 for i in range(int(fmt[:-1]))]
            values[field_name] = items
            args.extend(items)
        else:
            values[field_name] = k + 1
            args.append(k + 1)
    built = decl.build(values)
    assert fast.pack(*args) == built


def test_rec_and_ripas_descriptor_layout() -> None:
    rim = b"\xaa" * 64
    rec = rec_descriptor(rim, b"\xbb" * 64)
    assert rec[0] == 1 and rec[8:16] == (256).to_bytes(8, "little")
    assert rec[0x10:0x50] == rim and rec[0x50:0x90] == b"\xbb" * 64 and rec[0x90:] == bytes(112)
    rip = ripas_descriptor(rim, 0x80000000, 0x80200000)
    assert rip == RmmMeasurementDescriptorRipas.build({"rim": rim, "base": 0x80000000,
                                                       "top": 0x80200000})
    assert rip[0] == 2 and rip[0x10:0x50] == rim
    assert rip[0x50:0x58] == (0x80000000).to_bytes(8, "little")
    assert rip[0x58:0x60] == (0x80200000).to_bytes(8, "little") and rip[0x60:] == bytes(160)


def test_data_create_chain_by_hand() -> None:
    """One measured granule: RIM = H(desc(rim, ipa, 1, H(granule)))."""
    params = RealmParams(SHA256, 33, 6, 6)
    data = b"FW CONTENT"
    m = Realm().execute([RealmCreate(params), DataCreate(0x80000000, Image.from_bytes("fw", data))])
    rim0 = hashlib.sha256(realm_params_image(params, get_profile("1.0-rel0"))).digest()
    content = hashlib.sha256(data + bytes(4096 - len(data))).digest()
    desc = data_descriptor(rim0 + bytes(32), 0x80000000, 1, content + bytes(32))
    assert m.rim == hashlib.sha256(desc).digest()


def test_unaligned_image_is_preceded_by_zeros() -> None:
    params = RealmParams(SHA256, 33, 6, 6)
    blob = b"INITRD CONTENT" * 500
    m1 = Realm().execute([RealmCreate(params),
                          DataCreate(0x80000ffc, Image.from_bytes("i", blob))])
    m2 = Realm().execute([RealmCreate(params),
                          DataCreate(0x80000000, Image.from_bytes("i", bytes(0xffc) + blob))])
    assert m1.rim == m2.rim
    assert m1.trace[-1].descriptors == 3  # 0xffc + 7000 bytes span 3 granules


def test_unmeasured_data_still_extends_rim() -> None:
    params = RealmParams(SHA256, 33, 6, 6)
    base = Realm().execute([RealmCreate(params)]).rim
    m = Realm().execute([RealmCreate(params), DataCreate(0x8FFF0000, None, measured=False,
                                                          size=0x10000)])
    assert m.rim != base
    assert m.trace[-1].descriptors == 16


# ---------------------------------------------------------------- versions

def test_rmm_2_0_does_not_measure_init_ripas() -> None:
    params = RealmParams(SHA256, 33, 6, 6)
    ops: list[Operation] = [RealmCreate(params), InitRipas(0x80000000, 0xA0000000)]
    assert Realm("2.0").execute(ops).rim.hex() == rim_of(params, "2.0")
    assert Realm("1.0-rel0").execute(ops).rim.hex() != rim_of(params)
    assert Realm("1.1").execute(ops).rim == Realm("1.0-rel0").execute(ops).rim


def test_da_and_mec_bits_by_version() -> None:
    """TF-RMM copies the whole flags word into the measured image in every version
    (rim.c measurement_realm_params_measure): a DA bit under rel0 or a MEC_POLICY bit
    under 1.1 changes the RIM as it does on the RMM (it was dropped before; see
    tests/test_rmm_profiles.py for the exact values)."""
    plain = RealmParams(SHA256, 33, 6, 6)
    da = RealmParams(SHA256, 33, 6, 6, da=True)
    mec = RealmParams(SHA256, 33, 6, 6, mec_policy=1)
    assert rim_of(da, "1.0-rel0") != rim_of(plain, "1.0-rel0")
    assert rim_of(da, "1.1") != rim_of(plain, "1.1")
    assert rim_of(mec, "1.1") != rim_of(plain, "1.1")
    assert rim_of(mec, "2.0") != rim_of(plain, "2.0")
    img = realm_params_image(mec, get_profile("2.0"))
    assert img[0] == 0x80 and img[1] == 0  # bits 7..8 = 1


def test_sha384_only_from_rmm_2_0() -> None:
    p = RealmParams(SHA384, 33, 6, 6)
    with pytest.raises(UsageError, match="sha384"):
        rim_of(p, "1.0-rel0")
    rim = Realm("2.0").execute([RealmCreate(p)]).rim
    assert len(rim) == 48
    assert rim == hashlib.sha384(realm_params_image(p, get_profile("2.0"))).digest()


# ------------------------------------------------------ RIPAS split (TF-RMM smc_rtt_init_ripas)

@pytest.mark.parametrize("base, top, first", [
    (0x400000, 0x800000, 2 * MIB),
    (0x400000, 0x500000, 4096),
    (0x80001000, 0x80200000, 4096),
    (0x6300000, 0x70000000, 4096),
    (0x6400000, 0x70000000, 2 * MIB),
    (0x40000000, 0x80000000, GIB),
])
def test_ripas_first_piece(base: int, top: int, first: int) -> None:
    pieces = ripas_split(base, top, 41)  # start level 1: {1G, 2M, 4K}
    assert pieces[0][1] - pieces[0][0] == first
    assert pieces[0][0] == base and pieces[-1][1] == top


def test_ripas_split_start_level_2_and_counts() -> None:
    assert ripas_split(0x40000000, 0x80000000, 33)[0] == (0x40000000, 0x40200000)
    assert len(ripas_split(0x80000000, 0xA0000000, 33)) == 256  # kvmtool 512 MiB
    assert len(ripas_split(0x40000000, 0x48000000, 41)) == 64  # QEMU 128 MiB
    assert ripas_split(0x40000000, 0x80000000, 41) == [(0x40000000, 0x80000000)]


# ---------------------------------------------------------------- REM (RSI_MEASUREMENT_EXTEND)

def test_rem_first_extension_is_hash_of_zeros_and_digest() -> None:
    d = hashlib.sha256(b"kernel").digest()
    m = Realm().execute([RealmCreate(RealmParams(SHA256, 33, 6, 6)), RemExtend(0, d)])
    assert m.rems[0] == hashlib.sha256(bytes(32) + d).digest()
    assert m.rems[1:] == [bytes(32)] * 3


def test_rem_chain_and_short_data() -> None:
    d1, d2 = b"\x11" * 64, b"\x22" * 5
    m = Realm().execute([RealmCreate(RealmParams(SHA512, 33, 6, 6)), RemExtend(3, d1),
                         RemExtend(3, d2)])
    first = hashlib.sha512(bytes(64) + d1).digest()
    assert m.rems[3] == hashlib.sha512(first + d2).digest()


def test_rem_against_reference_q6b_value() -> None:
    # TF-RMM semantics for Q6b's kernel digest in REM0
    kernel_digest = bytes.fromhex(
        "1d996b14b5b5fcc2beb6abd2c6beb6d9ca8ae38e16542cdd83bbdb49213e7351")
    m = Realm().execute([RealmCreate(RealmParams(SHA256, 41, 6, 6)), RemExtend(0, kernel_digest)])
    assert m.rems[0].hex() == "c7f33e8bb0e50acac6ab7fa35a567f8a913ec37d245c73519cff128141b41ac1"


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("jobs", [1, 2, 3, 8])
def test_result_does_not_depend_on_threads(jobs: int) -> None:
    blob = hashlib.shake_256(b"threads").digest(3 * 1024 * 1024 + 123)
    params = RealmParams(SHA512, 33, 6, 6)
    ops: list[Operation] = [RealmCreate(params),
                            DataCreate(0x80000004, Image.from_bytes("k", blob))]
    m = Realm(hasher=ParallelGranuleHasher(jobs)).execute(ops)
    ref = Realm(hasher=ParallelGranuleHasher(1)).execute(ops)
    assert m.rim == ref.rim
    assert m.trace[-1].descriptors == (4 + len(blob) + 4095) // 4096


def test_file_and_bytes_images_agree(tmp_path: object) -> None:
    import pathlib
    assert isinstance(tmp_path, pathlib.Path)
    blob = hashlib.shake_256(b"file").digest(2 * 1024 * 1024 + 7)
    path = tmp_path / "blob.bin"
    path.write_bytes(blob)
    params = RealmParams(SHA256, 33, 6, 6)
    a = Realm(hasher=ParallelGranuleHasher(2)).execute(
        [RealmCreate(params), DataCreate(0x80000000, Image.from_file("f", str(path)))])
    b = Realm(hasher=ParallelGranuleHasher(1)).execute(
        [RealmCreate(params), DataCreate(0x80000000, Image.from_bytes("f", blob))])
    assert a.rim == b.rim


def test_worker_processes_agree_with_one_thread(tmp_path: object) -> None:
    """Files >= 16 MiB are hashed by forked worker processes; same RIM as one thread."""
    import pathlib

    from rmtool.measure.images import PROCESS_THRESHOLD

    assert isinstance(tmp_path, pathlib.Path)
    path = tmp_path / "big.bin"
    blob = hashlib.shake_256(b"big").digest(PROCESS_THRESHOLD + 5 * 4096 + 3)
    path.write_bytes(blob)
    params = RealmParams(SHA256, 33, 6, 6)
    for lead in (0, 0x3FC):
        ops: list[Operation] = [RealmCreate(params),
               DataCreate(0x80000000 + lead, Image.from_file("f", str(path)))]
        a = Realm(hasher=ParallelGranuleHasher(2)).execute(ops)
        b = Realm(hasher=ParallelGranuleHasher(1)).execute(ops)
        assert a.rim == b.rim
        assert a.trace[-1].descriptors == (lead + len(blob) + 4095) // 4096


def test_rtt_entry_bounds_differ_for_replay_and_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay (hostile logs) keeps the tight bound; a VMM command line may need more RTT
    entries (the reference measures -m 4T under a 33-bit cap: 2M entries)."""
    import rmtool.measure.rmm.realm as realm_module

    monkeypatch.setattr(realm_module, "MAX_RIPAS_ENTRIES", 4)
    monkeypatch.setattr(realm_module, "MAX_MEASURE_RTT_ENTRIES", 64)
    params = RealmParams(SHA256, 33, 6, 6)
    ops: list[Operation] = [RealmCreate(params), InitRipas(0x80000000, 0x80000000 + 10 * 4096)]
    m = Realm().execute(ops)
    assert m.trace[-1].descriptors == 10
    with pytest.raises(MeasurementError, match="more than 4 RTT entries"):
        Realm(enforce_ipa_space=True).execute(ops)
    with pytest.raises(MeasurementError, match="more than 64 RTT entries"):
        Realm().execute([RealmCreate(params), InitRipas(0x80000000, 0x80000000 + 65 * 4096)])


def test_empty_image_at_unaligned_ipa_measures_its_zero_granule() -> None:
    """src/realm.rs rim_data_create: the zero fill before the content is aligned up to a
    granule, so an empty blob at an unaligned address is one zero granule; at an aligned
    address it is nothing."""
    params = RealmParams(SHA256, 33, 6, 6)
    base = Realm().execute([RealmCreate(params)]).rim
    m = Realm().execute([RealmCreate(params), DataCreate(0x80000007, Image.from_bytes("e", b""))])
    desc = data_descriptor(base + bytes(32), 0x80000000, 1,
                           hashlib.sha256(bytes(4096)).digest() + bytes(32))
    assert m.rim == hashlib.sha256(desc).digest() and m.trace[-1].descriptors == 1
    m = Realm().execute([RealmCreate(params), DataCreate(0x80000000, Image.from_bytes("e", b""))])
    assert m.rim == base and m.trace[-1].descriptors == 0


@pytest.mark.parametrize("size", [32, 48, 64])
def test_hash_size_packers_equal_the_slot_layouts(size: int) -> None:
    rim = bytes(range(size))
    content = bytes(range(100, 100 + size))
    assert ripas_descriptor_packer(size).pack(2, 256, rim, 0x80000000, 0x80200000) == \
        ripas_descriptor(rim + bytes(64 - size), 0x80000000, 0x80200000)
    assert data_descriptor_layout(size, 1).pack(rim, 0x80001000, content) == \
        data_descriptor(rim + bytes(64 - size), 0x80001000, 1, content + bytes(64 - size))
