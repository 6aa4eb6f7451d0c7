"""``rmtool measure ... --emit-log FILE``: the event log a VMM would write for a Realm.

Spec: docs/measurement-log.md section 1 (TCG crypto-agile container; one Spec ID algorithm,
the Realm's, as QEMU writes it), section 2 (VM VERSION in the ram_size-first layout, tagged
events, image events without a trailing NUL, the unmeasured LOG region) and the QEMU event
order (docs/measurement-log.md section 2): Spec ID; VM VERSION; REALM_CREATE; INIT_RIPAS per
RAM range; one image event per measured blob in ascending IPA; REC_CREATE; LOG. That is the
order of :meth:`rmtool.measure.vmm.common.VmmBuild.operations`, so replaying the emitted log
feeds the Realm model the same operations and gives the same RIM.

Blobs that a firmware (not the VMM) measures into a REM (``VmmBuild.rem_blobs``) follow
as image events on their RSI index (REM n → index n + 1, EDK2's MR numbering), so the
REMs also round-trip under the ``mr`` map (and REM0 under both maps).

The VM VERSION event is the front-end's (``VmmFrontend.vm_version``, found in the
registry): its name, version, RAM size and vCPU count.
"""

from __future__ import annotations

import struct

from rmtool.eventlog import constants as c
from rmtool.measure.rmm.algorithms import HashAlgo
from rmtool.measure.rmm.realm import Measurements
from rmtool.measure.vmm.common import VmmBuild
from rmtool.measure.vmm.registry import get
from rmtool.replay import cca


def spec_id_event(algos: list[HashAlgo]) -> bytes:
    """The first, legacy-format event: TCG_EfiSpecIDEvent (uintnSize 2, no vendor info)."""
    body = (c.SPEC_ID_EVENT03 + struct.pack("<IBBBBI", 0, 0, 2, 106, 2, len(algos))
            + b"".join(struct.pack("<HH", a.tcg_id, a.size) for a in algos) + b"\0")
    return struct.pack("<II20sI", 0, c.EV_NO_ACTION, bytes(20), len(body)) + body


def event2(index: int, event_type: int, digests: list[tuple[int, bytes]], data: bytes) -> bytes:
    """TCG_PCR_EVENT2."""
    out = [struct.pack("<III", index, event_type, len(digests))]
    out += [struct.pack("<H", alg) + d for alg, d in digests]
    out.append(struct.pack("<I", len(data)) + data)
    return b"".join(out)


def emit_log(build: VmmBuild, m: Measurements) -> bytes:
    """The VMM-written RIM log for ``build`` (digests with the Realm algorithm)."""
    algo = m.hash_algo
    zero_no_action = [(0, bytes(algo.size))]  # QEMU: hashAlg 0, zero digest
    vm = get(build.vmm).vm_version(build)
    events = [spec_id_event([algo]),
              event2(0, c.EV_NO_ACTION, zero_no_action,
                     cca.write_vm_version(vm.name, vm.version, vm.ram_size, vm.cpus)),
              event2(0, c.EV_EVENT_TAG, [], cca.write_tag(
                  cca.TAG_REALM_CREATE, cca.write_realm_create(build.params)))]
    for base, size in sorted(build.ram):
        events.append(event2(0, c.EV_EVENT_TAG, [], cca.write_tag(
            cca.TAG_INIT_RIPAS, cca.write_init_ripas(base, size))))
    for blob in sorted(build.blobs, key=lambda b: b.ipa):
        etype = c.EV_EFI_PLATFORM_FIRMWARE_BLOB2 if blob.kind == "FIRMWARE" else c.EV_POST_CODE2
        events.append(event2(0, etype, [(algo.tcg_id, blob.image.digest(algo.name))],
                             cca.write_blob2(blob.kind, blob.ipa, blob.image.size)))
    events.append(event2(0, c.EV_EVENT_TAG, [], cca.write_tag(
        cca.TAG_REC_CREATE, cca.write_rec_create(1, build.rec_pc, build.rec_gprs))))
    if build.log_region is not None:
        base, size = build.log_region
        events.append(event2(0, c.EV_POST_CODE2, [], cca.write_blob2("LOG", base, size)))
    for rem, blob in build.rem_blobs:
        etype = c.EV_EFI_PLATFORM_FIRMWARE_BLOB2 if blob.kind == "FIRMWARE" else c.EV_POST_CODE2
        events.append(event2(rem + 1, etype, [(algo.tcg_id, blob.image.digest(algo.name))],
                             cca.write_blob2(blob.kind, blob.ipa, blob.image.size)))
    return b"".join(events)
