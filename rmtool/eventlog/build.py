"""Writers for TCG event logs: the one log writer of rmtool.

Follows TCG PC Client PFP 1.06 section 10.2 (a legacy-format Spec ID event, then
TCG_PCR_EVENT2 records) and the proposed CCA RIM log (docs/measurement-log.md section 2:
"VM VERSION", tagged REALM_CREATE / INIT_RIPAS / REC_CREATE events, image blobs). The
container and UEFI records are built with the construct declarations of ``structs``; the
CCA payloads with the packers of their one declaration (``cca_payloads``). Used by the
tests and by ``rmtool measure --emit-log``. Only the UEFI variable and StartupLocality
writers import construct (lazily): a CCA RIM log is written without it.

Example::

    log = build_log(["sha256"], [
        LogEvent(0, EV_NO_ACTION, vm_version("QEMU", "9.1.50", 1 << 30, 2), digests={}),
        LogEvent(0, EV_EVENT_TAG, realm_create(s2sz=48), digests={}),
        LogEvent(0, EV_POST_CODE2, blob2(b"KERNEL", 0x80000000, 0x1000),
                 digests={"sha256": kernel_sha256}),
    ])
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import rmtool.eventlog._cca_payloads as cca
import rmtool.eventlog._constants as c
from rmtool.eventlog._layouts import FAST

# the construct-free formats of the parser (rmtool.eventlog._layouts): writing a log does
# not import construct either
_HDR1 = FAST["PCClientPCREventHeader"]
_HDR2 = FAST["PCREvent2Header"]
_SPEC_ID = FAST["SpecIdFixed"]
_ALG_SIZE = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def _alg_id(alg: str | int) -> int:
    if isinstance(alg, int):
        return alg
    try:
        return c.ALGORITHM_IDS[alg]
    except KeyError:
        raise ValueError(f"unknown algorithm {alg!r}") from None


def spec_id_data(algorithms: Sequence[str | int], *, platform_class: int = 0,
                 uintn_size: int = 2, vendor_info: bytes = b"",
                 digest_sizes: Mapping[int, int] | None = None, spec_errata: int = 0) -> bytes:
    """TCG_EfiSpecIDEvent bytes ("Spec ID Event03", version 2.0, errata ``spec_errata``)."""
    sizes = dict(digest_sizes or {})
    algs = []
    for alg in algorithms:
        alg_id = _alg_id(alg)
        size = sizes.get(alg_id) or c.ALGORITHMS[alg_id][1]
        algs.append(_ALG_SIZE.pack(alg_id, size))
    if len(vendor_info) > 0xFF:
        raise ValueError(f"vendorInfo has {len(vendor_info)} bytes, at most 255")
    return b"".join([
        _SPEC_ID.pack(c.SPEC_ID_EVENT03, platform_class, 0, 2, spec_errata, uintn_size,
                      len(algs)),
        *algs, bytes([len(vendor_info)]), vendor_info])


def legacy_event(index: int, event_type: int, digest: bytes, data: bytes) -> bytes:
    """TCG_PCClientPCREvent (SHA-1 format; also the first event of a crypto-agile log)."""
    if len(digest) != 20:
        raise ValueError(f"a SHA-1 format event digest has 20 bytes, not {len(digest)}")
    return _HDR1.pack(index, event_type, digest, len(data)) + data


def spec_id_event(algorithms: Sequence[str | int], *, index: int = 0, **kwargs: object) -> bytes:
    """The whole first event of a crypto-agile log (``index`` 1 for a CCEL header)."""
    data = spec_id_data(algorithms, **kwargs)  # type: ignore[arg-type]
    return legacy_event(index, c.EV_NO_ACTION, b"\x00" * 20, data)


def event2(index: int, event_type: int, digests: Sequence[tuple[str | int, bytes]],
           data: bytes) -> bytes:
    """TCG_PCR_EVENT2 with the digests given in order (bank name or TPM_ALG_ID, bytes)."""
    entries = [_U16.pack(_alg_id(alg)) + digest for alg, digest in digests]
    return b"".join([_HDR2.pack(index, event_type, len(entries)), *entries,
                     _U32.pack(len(data)), data])


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
    import rmtool.eventlog._structs as s

    return bytes(s.StartupLocalityEvent.build({"signature": c.STARTUP_LOCALITY_SIGNATURE,
                                               "startupLocality": locality}))


def separator(value: int = 0) -> bytes:
    return value.to_bytes(4, "little")


def vm_version(name: str | bytes, version: str | bytes, ram_size: int, num_cpus: int, *,
               flags: int = 0, layout: str = "qemu", log_start: int = 0,
               log_size: int = 0) -> bytes:
    """CCA "VM VERSION" event data, ``layout`` "qemu" (112 bytes) or "doc" (116 bytes)."""
    return cca.write_vm_version(name, version, ram_size, num_cpus, flags=flags, layout=layout,
                                log_start=log_start, log_size=log_size)


def qemu_vm_version(name: str, version: str, ram_size: int, num_cpus: int) -> bytes:
    """"VM VERSION" as QEMU writes it (flags 0; name / version clipped to keep a NUL)."""
    return cca.write_qemu_vm_version(name, version, ram_size, num_cpus)


def tagged_event(tag_id: int, payload: bytes) -> bytes:
    return cca.write_tagged_event(tag_id, payload)


def realm_create(*, flags: int = 0, s2sz: int = 48, sve_vl: int = 0, num_bps: int = 0,
                 num_wps: int = 0, pmu_num_ctrs: int = 0, hash_algo: int = 0,
                 struct_padding: int = 0) -> bytes:
    """EV_EVENT_TAG data for REALM_CREATE (14 bytes; QEMU adds 2 bytes of padding)."""
    return tagged_event(c.CCA_TAG_REALM_CREATE, cca.write_realm_create(
        flags=flags, s2sz=s2sz, sve_vl=sve_vl, num_bps=num_bps, num_wps=num_wps,
        pmu_num_ctrs=pmu_num_ctrs, hash_algo=hash_algo, struct_padding=struct_padding))


def init_ripas(base: int, size: int) -> bytes:
    return tagged_event(c.CCA_TAG_INIT_RIPAS, cca.write_init_ripas(base, size))


def rec_create(*, flags: int = 1, pc: int = 0, gprs: Sequence[int] = (0,) * 8) -> bytes:
    """EV_EVENT_TAG data for REC_CREATE (``gprs`` x0..x7; missing ones are zero)."""
    return tagged_event(c.CCA_TAG_REC_CREATE, cca.write_rec_create(flags, pc, list(gprs)))


def blob2(description: bytes, base: int, length: int) -> bytes:
    """UEFI_PLATFORM_FIRMWARE_BLOB2 (description written exactly as given, no NUL added)."""
    return cca.write_blob2(description, base, length)


def blob(base: int, length: int) -> bytes:
    return cca.write_blob(base, length)


def efi_variable(guid: str, name: str, value: bytes) -> bytes:
    """UEFI_VARIABLE_DATA for variable ``name`` of vendor ``guid``."""
    import rmtool.eventlog._structs as s

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
    RIM events, docs/measurement-log.md section 2), then ``count`` EV_EFI_ACTION events
    with empty data
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
