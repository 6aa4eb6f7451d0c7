"""The CCA RIM-log payloads are declared once (rmtool.eventlog._cca_payloads).

Stops the readers and writers drifting apart: for random field values the packer
generated from the declaration equals the construct view generated from it, the
declared offsets are those of docs/measurement-log.md section 2 (written out here by
hand), the decoder and the strict replay reader read back what the one writer wrote,
and the writers ``rmtool.replay.emit`` uses today give the same bytes as
``rmtool.eventlog.build`` (so emit can switch to build without changing a byte).
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmtool.eventlog import _cca_payloads as P
from rmtool.eventlog import _constants as c
from rmtool.eventlog import build
from rmtool.eventlog._decode import decode_event_tag, decode_vm_version
from rmtool.measure.rmm.algorithms import SHA256, SHA384, SHA512, HashAlgo
from rmtool.measure.rmm.ops import RealmParams
from rmtool.replay import _cca as cca

_MAX = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFF_FFFF, "Q": (1 << 64) - 1}
U64 = st.integers(0, (1 << 64) - 1)


def _field_values(code: str, n: int) -> st.SearchStrategy[object]:
    if code.endswith("s"):
        return st.binary(min_size=n, max_size=n)
    item = st.integers(0, _MAX[code[-1]])
    return st.lists(item, min_size=n, max_size=n) if code[:-1] else item


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(P.LAYOUTS)), st.data())
def test_payload_packer_equals_construct_view(name: str, data: st.DataObject) -> None:
    layout = P.LAYOUTS[name]
    values = {f.name: data.draw(_field_values(f.code, f.repeat)) for f in layout.spec}
    fast = layout.build(**values)
    view = layout.construct()
    assert fast == view.build(values) and len(fast) == layout.size
    parsed = view.parse(fast)
    assert {k: parsed[k] for k in values} == values


def test_declared_offsets_are_the_published_ones() -> None:
    """docs/measurement-log.md section 2: QEMU ram_size at 88, num_cpus at 96, flags at
    104 (112 bytes); the doc layout log_start 88, log_size 96, ram_size 104, num_cpus 112
    (116 bytes); REALM_CREATE 14 packed bytes, INIT_RIPAS 16, REC_CREATE 80."""
    assert P.VM_VERSION_QEMU.offsets == {"signature": 0, "name": 16, "version": 48,
                                         "ram_size": 88, "num_cpus": 96, "flags": 104}
    assert P.VM_VERSION_DOC.offsets == {"signature": 0, "name": 16, "version": 48,
                                        "log_start": 88, "log_size": 96, "ram_size": 104,
                                        "num_cpus": 112}
    assert (P.VM_VERSION_QEMU.size, P.VM_VERSION_DOC.size) == (112, 116)
    assert [P.TAG_PAYLOADS[t][1].size for t in (1, 2, 3)] == [14, 16, 80]
    payload = P.write_realm_create(flags=5, s2sz=40, sve_vl=3, num_bps=5, num_wps=3,
                                   pmu_num_ctrs=7, hash_algo=1)
    assert payload == struct.pack("<Q", 5) + bytes([40, 3, 5, 3, 7, 1])


@settings(max_examples=200, deadline=None)
@given(U64, U64, U64, st.lists(U64, min_size=8, max_size=8))
def test_decoder_and_replay_read_what_the_writer_wrote(base: int, size: int, pc: int,
                                                       gprs: list[int]) -> None:
    ripas = build.init_ripas(base, size)
    assert decode_event_tag(ripas)["base"] == base and decode_event_tag(ripas)["size"] == size
    tag, payload = cca.read_tag(ripas)
    assert tag == c.CCA_TAG_INIT_RIPAS and cca.read_init_ripas(payload) == (base, size)
    rec = build.rec_create(flags=1, pc=pc, gprs=gprs)
    decoded = decode_event_tag(rec)
    assert (decoded["pc"], decoded["gprs"], decoded["size_beyond_minimum"]) == (pc, gprs, 0)
    assert cca.read_rec_create(cca.read_tag(rec)[1]) == (1, pc, tuple(gprs))


def test_vm_version_both_layouts_round_trip() -> None:
    qemu = build.vm_version("QEMU", "9.1.50", 1 << 30, 4, flags=2)
    doc = build.vm_version("kvmtool", "3.18", 2 << 30, 2, layout="doc", log_start=0x1000,
                           log_size=0x2000)
    assert decode_vm_version(qemu) | {"reference_parser": None} == {
        "signature": "VM VERSION", "name": "QEMU", "version": "9.1.50",
        "layout": "ram_size-first",
        "ram_size": 1 << 30, "num_cpus": 4, "flags": 2, "reference_parser": None,
        "size": 112}
    vm = cca.read_vm_version(doc)
    assert (vm.name, vm.ram_size, vm.num_cpus, vm.layout, vm.log_start, vm.log_size) == \
        ("kvmtool", 2 << 30, 2, cca.LAYOUT_DOC, 0x1000, 0x2000)


def test_overlong_vm_version_name_is_an_error_unless_clipped() -> None:
    """A 33-byte VMM name would run into the version field: refused, or clipped to keep
    its NUL when asked (QEMU's writer, and emit's)."""
    with pytest.raises(ValueError, match="longer than 32 bytes"):
        build.vm_version("Q" * 33, "1", 0, 1)
    clipped = build.qemu_vm_version("Q" * 33, "v" * 45, 0, 1)
    assert clipped[16:48] == b"Q" * 31 + b"\0" and clipped[48:88] == b"v" * 39 + b"\0"


@pytest.mark.parametrize("algo", [SHA256, SHA384, SHA512])
def test_replay_cca_writers_are_the_build_writers(algo: HashAlgo) -> None:
    """replay/_cca.py's write_* helpers are thin wrappers of the one writer."""
    params = RealmParams(algo, 44, 6, 4, sve_vl=512, pmu=True, pmu_num_ctrs=3, lpa2=True)
    assert cca.write_tag(cca.TAG_REALM_CREATE, cca.write_realm_create(params)) == \
        build.realm_create(flags=0b111, s2sz=44, sve_vl=3, num_bps=5, num_wps=3,
                           pmu_num_ctrs=3, hash_algo=params.hash_algo.rmi, struct_padding=2)
    assert cca.write_tag(cca.TAG_INIT_RIPAS, cca.write_init_ripas(0x80000000, 1 << 30)) == \
        build.init_ripas(0x80000000, 1 << 30)
    assert cca.write_tag(cca.TAG_REC_CREATE, cca.write_rec_create(1, 0x8000, (1, 2))) == \
        build.rec_create(flags=1, pc=0x8000, gprs=(1, 2))
    assert cca.write_blob2("KERNEL", 0x80000000, 4096) == \
        build.blob2(b"KERNEL", 0x80000000, 4096)
    assert cca.write_vm_version("QEMU", "9.1.50", 1 << 30, 2) == \
        build.qemu_vm_version("QEMU", "9.1.50", 1 << 30, 2)


# sha256 of the logs --emit-log wrote before it moved onto the one writer
# (rmtool/eventlog/build.py); the example inputs are deterministic.
EMITTED = {
    "kvmtool": ("c2a98b036ab4f69961526f6e3813e4eb99c622a192454b82b1b671888ef11beb",
                ["kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i",
                 "initrd.cpio", "--measurement-log"]),
    "qemu": ("3c076580aefd1199740291de8c6e8d8b98d7f9f372d0a3cdee195c9968493188",
             ["qemu", "-M", "confidential-guest-support=rme0", "-object", "rme-guest,id=rme0",
              "-kernel", "Image", "-initrd", "initrd.cpio", "-m", "1G", "-smp", "2"]),
    "cloud-hv": ("df105d77dc7a1fbbf427faee142741640ebe6f17ee21d138b79774ce10cf5d82",
                 ["cloud-hv", "--kernel", "Image", "--initramfs", "initrd.cpio", "--cpus",
                  "boot=2", "--memory", "size=512M"]),
}


@pytest.mark.parametrize("vmm", sorted(EMITTED))
def test_emit_log_bytes_unchanged_by_the_one_writer(vmm: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from rmtool.cli.main import run
    from rmtool.examples import write_inputs

    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    digest, argv = EMITTED[vmm]
    assert run(["measure", "-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "-k", "Image", "-i",
                "initrd.cpio", "--emit-log", "e.log", *argv]) == 0
    assert hashlib.sha256((tmp_path / "e.log").read_bytes()).hexdigest() == digest


def test_writing_and_replaying_a_rim_log_does_not_import_construct() -> None:
    code = ("import sys, rmtool.eventlog.build as b, rmtool.replay._cca; "
            "b.build_log(['sha256'], [b.LogEvent(0, 6, b.realm_create())]); "
            "print('construct' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
