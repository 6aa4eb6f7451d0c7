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

import rmtool.replay._cca as cca
from rmtool.eventlog import _constants as c
from rmtool.eventlog import build as log
from rmtool.measure.rmm.realm import Measurements
from rmtool.measure.vmm.common import LoadedBlob, VmmBuild
from rmtool.measure.vmm.registry import get

#: The Spec ID errata QEMU writes.
SPEC_ERRATA = 106


def emit_log(build: VmmBuild, m: Measurements) -> bytes:
    """The VMM-written RIM log for ``build`` (digests with the Realm algorithm), written
    with the one log writer (:mod:`rmtool.eventlog.build`), one event per operation of
    ``build.operations()`` in its order."""
    algo = m.hash_algo
    zero_no_action = [(0, bytes(algo.size))]  # QEMU: hashAlg 0, zero digest
    vm = get(build.vmm).vm_version(build)

    def image(index: int, blob: LoadedBlob) -> bytes:
        etype = c.EV_EFI_PLATFORM_FIRMWARE_BLOB2 if blob.kind == "FIRMWARE" \
            else c.EV_POST_CODE2
        return log.event2(index, etype, [(algo.tcg_id, blob.image.digest(algo.name))],
                          log.blob2(blob.kind.encode("ascii"), blob.ipa, blob.image.size))

    def tag(data: bytes) -> bytes:
        return log.event2(0, c.EV_EVENT_TAG, [], data)

    events = [log.spec_id_event([algo.tcg_id], spec_errata=SPEC_ERRATA),
              log.event2(0, c.EV_NO_ACTION, zero_no_action,
                         log.qemu_vm_version(vm.name, vm.version, vm.ram_size, vm.cpus)),
              # RealmParams -> RMI encoding needs measure: replay/_cca.py converts
              tag(log.tagged_event(c.CCA_TAG_REALM_CREATE,
                                   cca.write_realm_create(build.params)))]
    events += [tag(log.init_ripas(base, size)) for base, size in sorted(build.ram)]
    events += [image(0, blob) for blob in sorted(build.blobs, key=lambda b: b.ipa)]
    events.append(tag(log.rec_create(flags=1, pc=build.rec_pc, gprs=build.rec_gprs)))
    if build.log_region is not None:
        base, size = build.log_region
        events.append(log.event2(0, c.EV_POST_CODE2, [], log.blob2(b"LOG", base, size)))
    events += [image(rem + 1, blob) for rem, blob in build.rem_blobs]
    return b"".join(events)
