"""Writers for TCG event logs, built with the construct declarations of ``structs``.

Follows TCG PC Client PFP 1.06 section 10.2 (a legacy-format Spec ID event, then
TCG_PCR_EVENT2 records) and the proposed CCA RIM log (measurement-log facts section 2:
"VM VERSION", tagged REALM_CREATE / INIT_RIPAS / REC_CREATE events, image blobs). Used by
the tests and by ``rmtool replay --emit-log``.

Example::

    log = build_log(["sha256"], [
        LogEvent(0, EV_NO_ACTION, vm_version("QEMU", "9.1.50", 1 << 30, 2), digests={}),
        LogEvent(0, EV_EVENT_TAG, realm_create(s2sz=48), digests={}),
        LogEvent(0, EV_POST_CODE2, blob2(b"KERNEL", 0x80000000, 0x1000),
                 digests={"sha256": kernel_sha256}),
    ])
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rmtool.eventlog import constants as c
from rmtool.eventlog import structs as s


def _alg_id(alg: str | int) -> int:
    if isinstance(alg, int):
        return alg
    try:
        return c.ALGORITHM_IDS[alg]
    except KeyError:
        raise ValueError(f"unknown algorithm {alg!r}") from None


def spec_id_data(algorithms: Sequence[str | int], *, platform_class: int = 0,
                 uintn_size: int = 2, vendor_info: bytes = b"",
                 digest_sizes: Mapping[int, int] | None = None) -> bytes:
    """TCG_EfiSpecIDEvent bytes ("Spec ID Event03", version 2.0 errata 0)."""
    sizes = dict(digest_sizes or {})
    algs = []
    for alg in algorithms:
        alg_id = _alg_id(alg)
        size = sizes.get(alg_id) or c.ALGORITHMS[alg_id][1]
        algs.append({"algorithmId": alg_id, "digestSize": size})
    return bytes(s.SpecIdEvent.build({
        "signature": c.SPEC_ID_EVENT03, "platformClass": platform_class,
        "specVersionMinor": 0, "specVersionMajor": 2, "specErrata": 0,
        "uintnSize": uintn_size, "digestSizes": algs, "vendorInfo": vendor_info,
    }))


def legacy_event(index: int, event_type: int, digest: bytes, data: bytes) -> bytes:
    """TCG_PCClientPCREvent (SHA-1 format; also the first event of a crypto-agile log)."""
    return bytes(s.PCClientPCREvent.build({"pcrIndex": index, "eventType": event_type,
                                           "digest": digest, "event": data}))


def spec_id_event(algorithms: Sequence[str | int], *, index: int = 0, **kwargs: object) -> bytes:
    """The whole first event of a crypto-agile log (``index`` 1 for a CCEL header)."""
    data = spec_id_data(algorithms, **kwargs)  # type: ignore[arg-type]
    return legacy_event(index, c.EV_NO_ACTION, b"\x00" * 20, data)


def event2(index: int, event_type: int, digests: Sequence[tuple[str | int, bytes]],
           data: bytes) -> bytes:
    """TCG_PCR_EVENT2 with the digests given in order (bank name or TPM_ALG_ID, bytes)."""
    entries = [{"hashAlg": _alg_id(alg), "digest": digest} for alg, digest in digests]
    sizes = {_alg_id(alg): len(digest) for alg, digest in digests}
    return bytes(s.pcr_event2(sizes).build({"pcrIndex": index, "eventType": event_type,
                                           "digests": entries, "event": data}))


@dataclass(frozen=True)
class LogEvent:
    """One event to write. ``digests=None``: hash ``data`` with every bank of the log."""

    index: int
    event_type: int
    data: bytes
    digests: Mapping[str, bytes] | None = None


def build_log(algorithms: Sequence[str], events: Iterable[LogEvent], *, header_index: int = 0,
              padding: int = 0, padding_byte: int = 0) -> bytes:
    """A crypto-agile log: Spec ID header, the events, then optional padding bytes."""
    parts = [spec_id_event(algorithms, index=header_index)]
    for event in events:
        if event.digests is None:
            digests = [(bank, c.HASHES[bank](event.data)) for bank in algorithms]
        else:
            digests = list(event.digests.items())
        parts.append(event2(event.index, event.event_type, digests, event.data))
    parts.append(bytes([padding_byte]) * padding)
    return b"".join(parts)


def build_sha1_log(events: Iterable[LogEvent]) -> bytes:
    """A legacy SHA-1 log (digest computed from the data unless given as ``{"sha1": ...}``)."""
    parts = []
    for event in events:
        digest = (event.digests or {}).get("sha1") or c.HASHES["sha1"](event.data)
        parts.append(legacy_event(event.index, event.event_type, digest, event.data))
    return b"".join(parts)


# --- event data ------------------------------------------------------------------------

def startup_locality(locality: int) -> bytes:
    return bytes(s.StartupLocalityEvent.build({"signature": c.STARTUP_LOCALITY_SIGNATURE,
                                               "startupLocality": locality}))


def separator(value: int = 0) -> bytes:
    return value.to_bytes(4, "little")


def vm_version(name: str, version: str, ram_size: int, num_cpus: int, *, flags: int = 0,
               layout: str = "qemu", log_start: int = 0, log_size: int = 0) -> bytes:
    """CCA "VM VERSION" event data, ``layout`` "qemu" (112 bytes) or "doc" (116 bytes)."""
    common = {"signature": "VM VERSION", "name": name, "version": version,
              "ram_size": ram_size, "num_cpus": num_cpus}
    if layout == "doc":
        return bytes(s.VmVersionEventDoc.build({**common, "log_start": log_start,
                                                "log_size": log_size}))
    return bytes(s.VmVersionEventQemu.build({**common, "flags": flags}))


def tagged_event(tag_id: int, payload: bytes) -> bytes:
    return bytes(s.TaggedEvent.build({"taggedEventID": tag_id, "taggedEventData": payload}))


def realm_create(*, flags: int = 0, s2sz: int = 48, sve_vl: int = 0, num_bps: int = 0,
                 num_wps: int = 0, pmu_num_ctrs: int = 0, hash_algo: int = 0,
                 struct_padding: int = 0) -> bytes:
    """EV_EVENT_TAG data for REALM_CREATE (14 bytes; QEMU adds 2 bytes of padding)."""
    payload = bytes(s.RealmCreateTag.build({
        "flags": flags, "s2sz": s2sz, "sve_vl": sve_vl, "num_bps": num_bps,
        "num_wps": num_wps, "pmu_num_ctrs": pmu_num_ctrs, "hash_algo": hash_algo,
    })) + b"\x00" * struct_padding
    return tagged_event(c.CCA_TAG_REALM_CREATE, payload)


def init_ripas(base: int, size: int) -> bytes:
    return tagged_event(c.CCA_TAG_INIT_RIPAS,
                        bytes(s.InitRipasTag.build({"base": base, "size": size})))


def rec_create(*, flags: int = 1, pc: int = 0, gprs: Sequence[int] = (0,) * 8) -> bytes:
    return tagged_event(c.CCA_TAG_REC_CREATE, bytes(s.RecCreateTag.build(
        {"flags": flags, "pc": pc, "gprs": list(gprs)})))


def blob2(description: bytes, base: int, length: int) -> bytes:
    """UEFI_PLATFORM_FIRMWARE_BLOB2 (description written exactly as given, no NUL added)."""
    return bytes(s.PlatformFirmwareBlob2.build({"BlobDescription": description,
                                                "BlobBase": base, "BlobLength": length}))


def blob(base: int, length: int) -> bytes:
    return bytes(s.PlatformFirmwareBlob.build({"BlobBase": base, "BlobLength": length}))


def efi_variable(guid: str, name: str, value: bytes) -> bytes:
    """UEFI_VARIABLE_DATA for variable ``name`` of vendor ``guid``."""
    return bytes(s.UefiVariableData.build({
        "VariableName": uuid.UUID(guid).bytes_le, "UnicodeNameLength": len(name),
        "VariableDataLength": len(value), "UnicodeName": name.encode("utf-16-le"),
        "VariableData": value,
    }))


# --- synthetic logs (tests, benchmarks) -------------------------------------------------

#: Bytes of the smallest REM-extending event of a one-algorithm (SHA-256) log:
#: TCG_PCR_EVENT2 header (12) + one digest (2 + 32) + eventSize (4) + empty data.
MINIMAL_EVENT_SIZE = 50


def minimal_rem_log(count: int, *, vmm: str = "QEMU") -> bytes:
    """A CCA Realm log whose body is ``count`` minimal REM extends.

    Spec ID declaring SHA-256 only, a "VM VERSION" event and a REALM_CREATE tag (the VMM's
    RIM events, facts section 2), then ``count`` EV_EFI_ACTION events with empty data
    extending MR indices 1, 2, 3, 4 in turn (REM0..REM3 under the MR map), each with the
    SHA-256 digest of its (empty) data: 50 bytes per event. Deterministic.
    """
    head = b"".join([
        spec_id_event(["sha256"]),
        event2(0, c.EV_NO_ACTION, [(0, bytes(32))], vm_version(vmm, "9.1.50", 1 << 30, 1)),
        event2(0, c.EV_EVENT_TAG, [], realm_create(s2sz=40, hash_algo=0, struct_padding=2)),
    ])
    empty = c.HASHES["sha256"](b"")
    cycle = b"".join(event2(index, c.EV_EFI_ACTION, [("sha256", empty)], b"")
                     for index in (1, 2, 3, 4))
    whole, rest = divmod(count, 4)
    return head + cycle * whole + cycle[: rest * MINIMAL_EVENT_SIZE]
