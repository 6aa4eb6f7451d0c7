"""Regression tests: minimized inputs found by the fuzz harnesses in tests/fuzz/.

Each input once ended in an exception that is not an RmtoolError, in more than 1 s or
in a huge allocation (the project rule for untrusted input). The bytes are inline; each
test asserts the typed outcome (the RmtoolError subclass and, where it applies, field and
offset), or, where the input is now accepted, the value that used to break.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rmtool.errors import ConfigError, DtbError, MeasurementError
from rmtool.launch._config import load_config as load_launch_config
from rmtool.measure.dtb.fdt import parse_dtb
from rmtool.measure.rmm.algorithms import SHA256
from rmtool.measure.rmm.ops import DataCreate, InitRipas, RealmCreate, RealmParams
from rmtool.measure.rmm.realm import Realm
from rmtool.measure.vmm import _qemu_dtb as qemu_dtb
from rmtool.measure.vmm._qemu_dtb import DtbSurgeryError, QemuDtbFacts
from rmtool.replay import ImageStore, replay_log
from rmtool.verify.corim.realm import describe, lint


@pytest.fixture()
def store() -> ImageStore:
    return ImageStore(":memory:", jobs=1)


# ----------------------------------------------------------------- CoRIM (fuzz_corim.py)

def test_corim_describe_bytes_tag_version_is_json() -> None:
    """A CoMID whose tag-version is a byte string (CoMID ``tag-version`` is an uint):
    ``describe`` returned raw bytes and ``rmtool corim show --format json`` died in
    json.dumps with TypeError."""
    # 506({1: {0: "t", 1: h'01'}, 4: {0: []}})
    comid = bytes.fromhex("d901faa201a200617401410104a10080")
    desc = describe(comid)
    assert desc["comids"][0]["tag-identity"] == {"tag-id": "t", "tag-version": "01"}
    json.dumps(desc)


def test_corim_lint_mval_keys_of_mixed_types() -> None:
    """An mval map with an int key and a text key next to its digests: lint sorted the
    keys for its warning and died with TypeError ('<' between str and int)."""
    comid = bytes.fromhex(
        "d901faa201a100617404a1008182a100a100d902305820" + "11" * 32
        + "81a200676363612e72696d01a3028182015820" + "11" * 32 + "6178000e00")
    findings = lint(comid, use_env=False)
    extra = [f for f in findings if f.rule == "realm.mval-extra"]
    assert [f.message for f in extra] == [
        "cca.rim: measurement values other than digests are ignored by the profile "
        "(keys [14, 'x'])"]
    assert extra[0].severity == "warning"


# ----------------------------------------------------------------- DTB (fuzz_dtb.py)

QEMU_FACTS = QemuDtbFacts(cpus=2, ram_size=1 << 30, high_redist_base=1 << 38,
                          high_pci_cfg_base=1 << 39, high_pci_mmio_base=1 << 40)

# a 94-byte DTB (root node, one "model" property) whose header totalsize says 0xffff043a
HUGE_TOTALSIZE_DTB = bytes.fromhex(
    "d00dfeedffff043a000000380000005800000028000000110000001000000000000000060000002000000000"
    "000000000000000000000000000001000000000000000300000002000000007800000000000002000000096d"
    "6f64656c00")


def test_qemu_template_totalsize_beyond_limit() -> None:
    """The QEMU surgeon keeps a template's totalsize and zero-pads its output to it: a
    header claiming 4 GiB allocated 4 GiB (MemoryError)."""
    with pytest.raises(DtbSurgeryError) as info:
        qemu_dtb.apply_template(HUGE_TOTALSIZE_DTB, QEMU_FACTS)
    assert info.value.field == "totalsize" and info.value.offset == 4
    assert "totalsize 4294902842 exceeds the 67108864-byte template limit" in str(info.value)
    with pytest.raises(DtbError) as err:  # the shared reader refuses it too
        parse_dtb(HUGE_TOTALSIZE_DTB)
    assert err.value.field == "totalsize" and err.value.offset == 4


# ----------------------------------------------------------------- configs (fuzz_config.py)

def test_launch_config_tilde_of_unknown_user(tmp_path: Path) -> None:
    """``~user`` of a user that does not exist: Path.expanduser raised RuntimeError."""
    path = tmp_path / "launch.toml"
    path.write_bytes(b'host_configs = ["~no-such-user-rmtool/a.conf"]\nvsock_id = 11\n')
    with pytest.raises(ConfigError) as info:
        load_launch_config(str(path))
    assert info.value.field == "host_configs"
    assert "cannot expand the ~ in '~no-such-user-rmtool/a.conf'" in str(info.value)


# ----------------------------------------------------------------- replay (fuzz_replay.py)

# emitted kvmtool log (sha256) cut to Spec ID + VM VERSION + DTB events, the VM VERSION
# patched to name "cloudhv" and num_cpus 1966082 (0x1e0002)
HUGE_CPUS_LOG = bytes.fromhex(
    "000000000300000000000000000000000000000000000000000000002100000053706563204944204576"
    "656e743033000000000000026a02010000000b0020000000000000030000000100000000000000000000"
    "00000000000000000000000000000000000000000000000000000070000000564d2056455253494f4e00"
    "0000000000636c6f75646876000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000010000000"
    "0002001e000000000000000000000000000000000013000000010000000b00a84069f917521cdb4de76a"
    "ee97eb1fdeef486942607ae70fe0c503356c82ec0c14000000034454420000e08f000000000000010000"
    "000000")

# emitted kvmtool log cut to Spec ID + VM VERSION + REALM_CREATE (s2sz 33) + INIT_RIPAS,
# the INIT_RIPAS size patched to 2^48 (1M RTT entries of 2 MiB: seconds of hashing)
HUGE_RIPAS_LOG = bytes.fromhex(
    "000000000300000000000000000000000000000000000000000000002100000053706563204944204576"
    "656e743033000000000000026a02010000000b0020000000000000030000000100000000000000000000"
    "00000000000000000000000000000000000000000000000000000070000000564d2056455253494f4e00"
    "00000000006b766d746f6f6c000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000010000000"
    "000100000000000000000000000000000000000000060000000000000018000000010000001000000000"
    "000000000000002100050500000000000000000600000000000000180000000200000010000000000000"
    "80000000000000000000000100")


# emitted kvmtool log cut to Spec ID + VM VERSION + REALM_CREATE (s2sz 33) + an event
# without digests (unmeasured DATA_CREATE) "LOG" at 0x7000fff6 of 0x8000000000010000 bytes
HUGE_UNMEASURED_LOG = bytes.fromhex(
    "000000000300000000000000000000000000000000000000000000002100000053706563204944204576"
    "656e743033000000000000026a02010000000b0020000000000000030000000100000000000000000000"
    "00000000000000000000000000000000000000000000000000000070000000564d2056455253494f4e00"
    "00000000006b766d746f6f6c000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000020000000"
    "000200000000000000000000000000000000000000060000000000000018000000010000001000000000"
    "00000000000000210005050000000000000000130000000000000014000000034c4f47f6ff0070000000"
    "000000010000000080")


# a fuzzed log: Spec ID + REALM_CREATE (s2sz 174) + INIT_RIPAS whose top is beyond 2^64
TOP_BEYOND_U64_LOG = bytes.fromhex(
    "000000000300000000000000000000000000000000000000000000002100000053706563204944204576"
    "656e743033000000000000026a02010000000b0020000000000000060000000000000018000000010000"
    "00100000000700000000000000ae030f0f08000000000000000600000000000000180000000200000010"
    "000000000000800000ffffffff000000000020")


def test_replay_huge_vcpu_count_no_dtb_regeneration(store: ImageStore) -> None:
    """A VM VERSION event claiming 1966082 cloud-hypervisor vCPUs: DTB regeneration built
    a tree with millions of nodes (MemoryError). Now no generator runs for a DTB that
    cannot hold that many cpu nodes."""
    start = time.perf_counter()
    result = replay_log(HUGE_CPUS_LOG, [], store=store)
    assert time.perf_counter() - start < 1.0
    dtb = result.events[2]
    assert dtb.image == "unknown"
    assert result.rim_error is not None
    assert "no cloudhv DTB of 65536 bytes can describe 1966082 vCPUs" in result.rim_error


def test_replay_init_ripas_beyond_ipa_space(store: ImageStore) -> None:
    """INIT_RIPAS [0x80000000, +2^48) in a 33-bit IPA space: 1M RTT entries hashed
    (> 1 s). The RMM rejects a range beyond the IPA space; so does the model now."""
    start = time.perf_counter()
    result = replay_log(HUGE_RIPAS_LOG, [], store=store)
    assert time.perf_counter() - start < 1.0
    assert result.rim is None
    assert result.rim_error == (
        "event 3 (INIT_RIPAS [0x80000000, 0x1000080000000)): RMI_RTT_INIT_RIPAS "
        "[0x80000000, 0x1000080000000): top is not below the 33-bit IPA size 0x200000000; "
        "TF-RMM rmm-spec-v1.0-rel0/tf-rmm-v0.6.0/tf-rmm-v0.7.0 answers RMI_ERROR_INPUT")


def test_realm_model_init_ripas_bound() -> None:
    """Replay enforces the RMM's IPA-space check; measure reproduces the reference tool,
    which has none, and is bounded by the RTT entry count instead."""
    realm = Realm("1.0-rel0", enforce_ipa_space=True)
    realm.apply(RealmCreate(RealmParams(SHA256, 33)))
    with pytest.raises(MeasurementError, match="top is not below the 33-bit IPA size"):
        realm.apply(InitRipas(0x80000000, 0x80000000 + (1 << 48)))
    # TF-RMM refuses a top at 2^33 (validate_map_addr) and anything past the protected
    # half 2^32 (addr_in_par); up to 2^32 is fine (was: up to 2^33)
    with pytest.raises(MeasurementError, match="top is not below the 33-bit IPA size"):
        realm.apply(InitRipas(0x80000000, 1 << 33))
    with pytest.raises(MeasurementError, match=r"leaves the protected IPA space \[0, "):
        realm.apply(InitRipas(0x80000000, (1 << 32) + 0x1000))
    realm.apply(InitRipas(0x80000000, 1 << 32))
    assert realm.trace[-1].descriptors == 1024  # 2 GiB in 2 MiB entries (start level 2)
    lenient = Realm("1.0-rel0")
    lenient.apply(RealmCreate(RealmParams(SHA256, 33)))
    lenient.apply(InitRipas(0x80000000, 0x180000000))  # beyond 2^33: measured anyway
    assert lenient.trace[-1].descriptors == 2048  # 4 GiB in 2 MiB entries (start level 2)
    with pytest.raises(MeasurementError, match="exceeds the 63-bit IPA space"):
        lenient.apply(InitRipas(0x80000000, 1 << 64))


def test_replay_unmeasured_data_create_beyond_ipa_space(store: ImageStore) -> None:
    """An unmeasured 2^63-byte DATA_CREATE: the model hashed 2^51 zero granules (hang)."""
    start = time.perf_counter()
    result = replay_log(HUGE_UNMEASURED_LOG, [], store=store)
    assert time.perf_counter() - start < 1.0
    assert result.rim is None
    assert result.rim_error == (
        "event 3 (LOG 0x7000fff6 +0x8000000000010000): DATA_CREATE [0x7000fff6, "
        "+0x8000000000010000) exceeds the 33-bit IPA space")


def test_realm_model_unmeasured_data_create_bound() -> None:
    realm = Realm("1.0-rel0")
    realm.apply(RealmCreate(RealmParams(SHA256, 52)))
    with pytest.raises(MeasurementError, match="more than 1048576"):
        realm.apply(DataCreate(0, None, measured=False, size=1 << 40))
    realm.apply(DataCreate(0, None, measured=False, size=1 << 16))  # 16 granules: fine
    assert realm.trace[-1].descriptors == 16


def test_replay_init_ripas_top_beyond_u64(store: ImageStore) -> None:
    """s2sz 174 and an INIT_RIPAS range ending beyond 2^64: struct.error ("argument out
    of range") while packing the 64-bit RIPAS descriptor."""
    result = replay_log(TOP_BEYOND_U64_LOG, [], store=store)
    assert result.rim is None
    assert result.rim_error is not None
    assert result.rim_error.endswith("exceeds the 63-bit IPA space")
