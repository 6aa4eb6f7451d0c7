"""Event data decoders: raw event bytes -> dict of named fields.

Follows TCG PC Client PFP 1.06 section 10.4 (event types and their event data), UEFI 2.10
sections 3.1.3 (EFI_LOAD_OPTION) and 32.4.1 (EFI_SIGNATURE_LIST), NIST SP 800-155 /
PFP 10.4.5.2 (SP800-155 events), and the proposed CCA RIM log (docs/measurement-log.md
section 2: "VM VERSION", REALM_CREATE / INIT_RIPAS / REC_CREATE, image blobs).

Decoders read untrusted bytes: every length is checked against the bytes present before
use. A decoder that meets inconsistent data raises :class:`DecodeError` (field + offset in
the event data); :func:`decode_event` turns it into ``{"error": ..., "raw": hex}`` so one
odd event never stops the log. Hex is lower-case without ``0x``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import rmtool.eventlog._cca_payloads as cca
import rmtool.eventlog._constants as c
from rmtool import _hashalgo as hashalgo
from rmtool._binlayout import Field
from rmtool.eventlog._devicepath import device_path_text, guid_text, utf16_text
from rmtool.eventlog._layouts import FAST

Decoded = dict[str, Any]

MAX_LIST_ITEMS = 4096  # bound on decoded list entries (signatures, partitions, tables)

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_BLOB = cca.PLATFORM_FIRMWARE_BLOB.struct
_VAR_HDR = FAST["UefiVariableHeader"]
_IMG_HDR = FAST["UefiImageLoadHeader"]
_TAG_HDR = cca.TAGGED_EVENT_HEADER.struct
_SPEC_ID = FAST["SpecIdFixed"]
_REALM_CREATE = cca.REALM_CREATE.struct
_INIT_RIPAS = cca.INIT_RIPAS.struct
_REC_CREATE = cca.REC_CREATE.struct
_VMV_QEMU = cca.VM_VERSION_QEMU
_VMV_DOC = cca.VM_VERSION_DOC
_SPDM = FAST["SpdmEventHeader"]
_GPT_HDR = FAST["GptHeader"]
_GPT_ENTRY = FAST["GptPartitionEntry"]


class DecodeError(Exception):
    """Inconsistent event data: ``field`` and ``offset`` (within the event data)."""

    def __init__(self, field: str, offset: int, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.offset = offset
        self.message = message


def _need(data: bytes, offset: int, size: int, field: str) -> None:
    if size < 0 or offset + size > len(data):
        raise DecodeError(field, offset,
                          f"{field} needs {size} bytes, {max(len(data) - offset, 0)} left")


def _printable(text: str) -> bool:
    """Printable text, tabs and line breaks allowed."""
    return text.isprintable() or (
        text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable())


def _text(raw: bytes) -> str | None:
    """Printable ASCII/UTF-8 text (trailing NULs removed), or None if it is not text."""
    stripped = bytes(raw).rstrip(b"\x00")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() or _printable(text) else None


def _utf16(raw: bytes) -> str | None:
    """UTF-16LE text if ``raw`` looks like it (even length, printable), else None."""
    if len(raw) < 2 or len(raw) % 2:
        return None
    try:
        text = bytes(raw).decode("utf-16-le").rstrip("\x00")
    except UnicodeDecodeError:
        return None
    if text and _printable(text):
        return text
    return None


def _string_or_hex(data: bytes) -> Decoded:
    if not data:
        return {}
    text = _text(data)
    if text is not None and (text or not data.strip(b"\x00")):
        return {"string": text}
    wide = _utf16(data)
    if wide is not None:
        return {"string": wide, "encoding": "utf-16-le"}
    return {"raw": bytes(data).hex()}


# --- EV_NO_ACTION ----------------------------------------------------------------------

def decode_spec_id(data: bytes) -> Decoded:
    """TCG_EfiSpecIDEvent (PFP 10.4.5.1)."""
    _need(data, 0, _SPEC_ID.size, "specIdEvent")
    sig, pclass, minor, major, errata, uintn, count = _SPEC_ID.unpack_from(data)
    pos = _SPEC_ID.size
    _need(data, pos, 4 * count, "digestSizes")
    algs = []
    for i in range(count):
        alg, size = struct.unpack_from("<HH", data, pos + 4 * i)
        algs.append({"algorithm": c.algorithm_name(alg), "algorithm_id": alg, "digest_size": size})
    pos += 4 * count
    _need(data, pos, 1, "vendorInfoSize")
    vsize = data[pos]
    _need(data, pos + 1, vsize, "vendorInfo")
    return {
        "signature": bytes(sig).rstrip(b"\x00").decode("ascii", "replace"),
        "platform_class": pclass,
        "spec_version": f"{major}.{minor}",
        "spec_errata": errata,
        "uintn_size": uintn,
        "algorithms": algs,
        "vendor_info": bytes(data[pos + 1: pos + 1 + vsize]).hex(),
    }


def decode_vm_version(data: bytes) -> Decoded:
    """CCA "VM VERSION" (docs/measurement-log.md section 2). Both published layouts are reported.

    ``layout`` is ``"ram_size-first"`` (ram_size at 88, num_cpus at 96: QEMU and the
    reference parser) or ``"log-first"`` (log_start, log_size, ram_size, num_cpus from
    offset 88: the 116-byte event of docs/measurement-log.md), the names ``replay``
    prints (rmtool.replay._cca.LAYOUT_QEMU / LAYOUT_DOC); ``reference_parser`` is what the
    Rust parser reads whatever the layout. The raw bytes stay in ``Event.data``.
    """
    _need(data, 0, cca.VM_VERSION_QEMU_MIN, "vm_version")
    out: Decoded = {
        "signature": "VM VERSION",
        "name": _cstr(data, _VMV_QEMU.field("name")),
        "version": _cstr(data, _VMV_QEMU.field("version")),
    }
    ram_88 = _VMV_QEMU.value(data, "ram_size")
    cpus_96 = _VMV_QEMU.value(data, "num_cpus")
    if len(data) == _VMV_DOC.size:
        _, _, _, log_start, log_size, ram_size, num_cpus = _VMV_DOC.struct.unpack_from(data)
        out.update(layout="log-first", log_start=log_start, log_size=log_size, ram_size=ram_size,
                   num_cpus=num_cpus)
    else:
        out.update(layout="ram_size-first", ram_size=ram_88, num_cpus=cpus_96)
        if len(data) >= _VMV_QEMU.size:
            out["flags"] = _VMV_QEMU.value(data, "flags")
    out["reference_parser"] = {"ram_size": ram_88, "num_cpus": cpus_96}
    out["size"] = len(data)
    return out


def _cstr(data: bytes, f: Field) -> str:
    """A NUL-padded text field."""
    raw = bytes(data[f.offset: f.offset + f.size])
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace")


def _pascal(data: bytes, pos: int, field: str) -> tuple[str, int]:
    _need(data, pos, 1, field)
    size = data[pos]
    _need(data, pos + 1, size, field)
    raw = bytes(data[pos + 1: pos + 1 + size])
    return raw.rstrip(b"\x00").decode("utf-8", "replace"), pos + 1 + size


def decode_sp800_155(data: bytes) -> Decoded:
    """TCG_Sp800_155_PlatformId_Event (PFP 10.4.5.2), the fields common to Event/Event2."""
    _need(data, 0, 36, "sp800_155")
    out: Decoded = {
        "signature": bytes(data[:16]).rstrip(b"\x00").decode("ascii", "replace"),
        "vendor_id": _U32.unpack_from(data, 16)[0],
        "reference_manifest_guid": guid_text(data[20:36]),
    }
    pos = 36
    for field in ("platform_manufacturer", "platform_model", "platform_version",
                  "firmware_manufacturer"):
        out[field], pos = _pascal(data, pos, field)
    _need(data, pos, 4, "firmware_manufacturer_id")
    out["firmware_manufacturer_id"] = _U32.unpack_from(data, pos)[0]
    out["firmware_version"], pos = _pascal(data, pos + 4, "firmware_version")
    if pos < len(data):
        out["rest"] = bytes(data[pos:]).hex()
    return out


def decode_no_action(data: bytes) -> Decoded:
    sig = bytes(data[:16])
    if sig == c.SPEC_ID_EVENT03 or sig.startswith(b"Spec ID Event"):
        return decode_spec_id(data)
    if sig == c.STARTUP_LOCALITY_SIGNATURE:
        _need(data, 16, 1, "startupLocality")
        return {"signature": "StartupLocality", "startup_locality": data[16]}
    if sig == c.VM_VERSION_SIGNATURE:
        return decode_vm_version(data)
    if sig.startswith(b"SP800-155 Event"):
        return decode_sp800_155(data)
    text = sig.split(b"\x00", 1)[0]
    if len(data) >= 16 and _text(text) is not None:
        return {"signature": text.decode("ascii", "replace"), "raw": bytes(data[16:]).hex()}
    return {"raw": bytes(data).hex()}


# --- blobs, strings --------------------------------------------------------------------

def decode_blob(data: bytes) -> Decoded:
    """UEFI_PLATFORM_FIRMWARE_BLOB, or the text some firmware logs instead."""
    if len(data) == _BLOB.size:
        base, length = _BLOB.unpack_from(data)
        return {"blob_base": base, "blob_length": length}
    return _string_or_hex(data)


def decode_blob2(data: bytes) -> Decoded:
    """UEFI_PLATFORM_FIRMWARE_BLOB2 (docs/measurement-log.md section 2): description, base, length.

    ``description`` has trailing NULs removed; ``description_raw`` is the exact hex, and
    ``description_nul_terminated`` says whether the producer counted a NUL.
    """
    _need(data, 0, 1, "BlobDescriptionSize")
    dsize = data[0]
    if len(data) != 1 + dsize + 16:
        raise DecodeError("BlobDescriptionSize", 0,
                          f"event size {len(data)} != 1 + {dsize} + 16")
    raw = bytes(data[1: 1 + dsize])
    base, length = _BLOB.unpack_from(data, 1 + dsize)
    return {
        "description": raw.rstrip(b"\x00").decode("ascii", "replace"),
        "description_raw": raw.hex(),
        "description_nul_terminated": raw.endswith(b"\x00"),
        "blob_base": base,
        "blob_length": length,
    }


def decode_post_code2(data: bytes) -> Decoded:
    try:
        return decode_blob2(data)
    except DecodeError:
        text = _text(data)
        if text is not None:
            return {"string": text}
        raise


def decode_separator(data: bytes) -> Decoded:
    if len(data) == 4:
        value = _U32.unpack_from(data)[0]
        return {"value": f"{value:08x}", "error": value == 1}
    return _string_or_hex(data)


def decode_crtm_version(data: bytes) -> Decoded:
    wide = _utf16(data)
    if wide is not None:
        return {"string": wide, "encoding": "utf-16-le"}
    if len(data) == 16:
        return {"guid": guid_text(data)}
    return _string_or_hex(data)


def decode_ipl(data: bytes) -> Decoded:
    text = _text(data)
    if text is not None:
        return {"string": text}
    wide = _utf16(data)
    if wide is not None:
        return {"string": wide, "encoding": "utf-16-le"}
    return {"raw": bytes(data).hex()}


# --- EFI variables -----------------------------------------------------------------------

def _signature_lists(data: bytes) -> list[Decoded]:
    """EFI_SIGNATURE_LIST sequence (UEFI 32.4.1): type, owner and size of each entry."""
    out: list[Decoded] = []
    pos = 0
    while pos < len(data) and len(out) < MAX_LIST_ITEMS:
        _need(data, pos, 28, "EFI_SIGNATURE_LIST")
        sig_type = guid_text(data[pos: pos + 16])
        list_size, header_size, sig_size = struct.unpack_from("<III", data, pos + 16)
        if list_size < 28 + header_size or list_size > len(data) - pos:
            raise DecodeError("SignatureListSize", pos, f"bad SignatureListSize {list_size}")
        body = pos + 28 + header_size
        end = pos + list_size
        if sig_size < 16 or (end - body) % sig_size:
            raise DecodeError("SignatureSize", pos + 24, f"bad SignatureSize {sig_size}")
        for spos in range(body, end, sig_size):
            if len(out) >= MAX_LIST_ITEMS:
                break
            out.append({"type": sig_type, "owner": guid_text(data[spos: spos + 16]),
                        "size": sig_size - 16})
        pos = end
    return out


def _load_option(data: bytes) -> Decoded:
    """EFI_LOAD_OPTION (UEFI 3.1.3)."""
    _need(data, 0, 6, "EFI_LOAD_OPTION")
    attributes, fpl_len = struct.unpack_from("<IH", data)
    pos = 6
    end = pos
    while end + 1 < len(data) and data[end: end + 2] != b"\x00\x00":
        end += 2
    _need(data, end, 2, "Description")
    description = utf16_text(data[pos:end])
    pos = end + 2
    _need(data, pos, fpl_len, "FilePathList")
    out: Decoded = {
        "attributes": attributes,
        "description": description,
        "device_path": device_path_text(data[pos: pos + fpl_len]),
    }
    if pos + fpl_len < len(data):
        out["optional_data"] = bytes(data[pos + fpl_len:]).hex()
    return out


def _variable_value(name: str, value: bytes) -> Decoded:
    try:
        if name == "BootOrder" and len(value) % 2 == 0:
            return {"boot_order": [f"{x:04x}" for x in
                                   struct.unpack(f"<{len(value) // 2}H", value)]}
        if len(name) == 8 and name.startswith("Boot") and name[4:].isalnum():
            return {"load_option": _load_option(value)}
        if name in ("PK", "KEK", "db", "dbx", "dbt", "dbr", "MokList", "MokListX"):
            return {"signatures": _signature_lists(value)}
    except DecodeError as exc:
        return {"value_error": exc.message}
    if len(value) == 1:
        return {"value": value[0]}
    return {}


def decode_variable(data: bytes) -> Decoded:
    """UEFI_VARIABLE_DATA (PFP 10.4.4.1)."""
    _need(data, 0, _VAR_HDR.size, "UEFI_VARIABLE_DATA")
    guid, name_len, value_len = _VAR_HDR.unpack_from(data)
    pos = _VAR_HDR.size
    if name_len > (len(data) - pos) // 2:
        raise DecodeError("UnicodeNameLength", 16, f"UnicodeNameLength {name_len} too large")
    name = utf16_text(data[pos: pos + 2 * name_len])
    pos += 2 * name_len
    if value_len > len(data) - pos:
        raise DecodeError("VariableDataLength", 24, f"VariableDataLength {value_len} too large")
    value = bytes(data[pos: pos + value_len])
    out: Decoded = {
        "variable_guid": guid_text(guid),
        "unicode_name": name,
        "variable_data_length": value_len,
    }
    out.update(_variable_value(name, value))
    if "signatures" not in out and "load_option" not in out and value_len <= 4096:
        out["variable_data"] = value.hex()
    if pos + value_len != len(data):
        out["trailing"] = len(data) - pos - value_len
    return out


def variable_data_only(data: bytes) -> bytes | None:
    """VariableData of a UEFI_VARIABLE_DATA, or None if the structure is inconsistent."""
    if len(data) < _VAR_HDR.size:
        return None
    _, name_len, value_len = _VAR_HDR.unpack_from(data)
    pos = _VAR_HDR.size + 2 * name_len
    if pos > len(data) or value_len > len(data) - pos:
        return None
    return bytes(data[pos: pos + value_len])


# --- images, tables, GPT -------------------------------------------------------------------

def decode_image_load(data: bytes) -> Decoded:
    """UEFI_IMAGE_LOAD_EVENT (PFP 10.4.4.2)."""
    _need(data, 0, _IMG_HDR.size, "UEFI_IMAGE_LOAD_EVENT")
    location, length, link, dp_len = _IMG_HDR.unpack_from(data)
    if dp_len > len(data) - _IMG_HDR.size:
        raise DecodeError("LengthOfDevicePath", 24, f"LengthOfDevicePath {dp_len} too large")
    return {
        "image_location": location,
        "image_length": length,
        "image_link_time_address": link,
        "device_path": device_path_text(data[_IMG_HDR.size: _IMG_HDR.size + dp_len]),
    }


def _config_tables(data: bytes, pos: int) -> list[Decoded]:
    _need(data, pos, 8, "NumberOfTables")
    count = _U64.unpack_from(data, pos)[0]
    pos += 8
    if count > (len(data) - pos) // 24:
        raise DecodeError("NumberOfTables", pos - 8, f"NumberOfTables {count} too large")
    return [{"vendor_guid": guid_text(data[p: p + 16]),
             "vendor_table": _U64.unpack_from(data, p + 16)[0]}
            for p in range(pos, pos + 24 * min(count, MAX_LIST_ITEMS), 24)]


def decode_handoff_tables(data: bytes) -> Decoded:
    return {"tables": _config_tables(data, 0)}


def decode_handoff_tables2(data: bytes) -> Decoded:
    description, pos = _pascal(data, 0, "TableDescription")
    return {"description": description, "tables": _config_tables(data, pos)}


def decode_gpt(data: bytes) -> Decoded:
    """UEFI_GPT_DATA (PFP 10.4.4.3): header, NumberOfPartitions, partitions."""
    _need(data, 0, _GPT_HDR.size, "UEFIPartitionHeader")
    hdr = _GPT_HDR.unpack_from(data)
    entry_size = hdr[12]
    pos = max(_GPT_HDR.size, min(hdr[2], len(data)))  # HeaderSize (>= 92)
    _need(data, pos, 8, "NumberOfPartitions")
    count = _U64.unpack_from(data, pos)[0]
    pos += 8
    if entry_size < _GPT_ENTRY.size or count > (len(data) - pos) // entry_size:
        raise DecodeError("NumberOfPartitions", pos - 8,
                          f"{count} partitions of {entry_size} bytes do not fit")
    parts = []
    for i in range(min(count, MAX_LIST_ITEMS)):
        ptype, uniq, first, last, attrs, pname = _GPT_ENTRY.unpack_from(data, pos + i * entry_size)
        parts.append({"type_guid": guid_text(ptype), "unique_guid": guid_text(uniq),
                      "starting_lba": first, "ending_lba": last, "attributes": attrs,
                      "name": utf16_text(pname)})
    return {
        "signature": bytes(hdr[0]).decode("ascii", "replace"),
        "revision": hdr[1],
        "disk_guid": guid_text(hdr[9]),
        "number_of_partitions": count,
        "partitions": parts,
    }


# --- tagged events ---------------------------------------------------------------------

def _realm_create(payload: bytes) -> Decoded:
    """REALM_CREATE (docs/measurement-log.md section 2). The fields hold RmiRealmParams
    encodings (RMM specification: sve_vl is VQ - 1, num_bps and num_wps are count - 1,
    hash_algo an RmiHashAlgorithm); they are shown as ``rmi_<field>``, and beside them
    the natural values under the names ``rmtool measure`` and ``replay`` use (``sve_vl``
    in bits, ``num_bps`` / ``num_wps`` as counts, ``hash_algo`` by name), so that one key
    never means two things (docs/json.md)."""
    _need(payload, 0, _REALM_CREATE.size, "REALM_CREATE")
    flags, s2sz, vq, bps, wps, pmu_ctrs, algo = _REALM_CREATE.unpack_from(payload)
    sve = bool(flags & 2)
    known = [a.name for a in hashalgo.REALM if a.rmi == algo]
    return {"flags": flags, "lpa2": bool(flags & 1), "sve": sve,
            "pmu": bool(flags & 4), "s2sz": s2sz,
            # as replay reads them (rmtool.replay._cca.read_realm_create)
            "sve_vl": (vq + 1) * 128 if sve or vq else 0, "rmi_sve_vl": vq,
            "num_bps": bps + 1, "rmi_num_bps": bps, "num_wps": wps + 1, "rmi_num_wps": wps,
            "pmu_num_ctrs": pmu_ctrs,
            "hash_algo": known[0] if known else None, "rmi_hash_algo": algo}


def _init_ripas(payload: bytes) -> Decoded:
    _need(payload, 0, _INIT_RIPAS.size, "INIT_RIPAS")
    base, size = _INIT_RIPAS.unpack_from(payload)
    return {"base": base, "size": size}


def _rec_create(payload: bytes) -> Decoded:
    _need(payload, 0, _REC_CREATE.size, "REC_CREATE")
    values = _REC_CREATE.unpack_from(payload)
    return {"flags": values[0], "runnable": bool(values[0] & 1), "pc": values[1],
            "gprs": list(values[2:])}


_TAG_DECODERS: dict[int, Callable[[bytes], Decoded]] = {
    c.CCA_TAG_REALM_CREATE: _realm_create,
    c.CCA_TAG_INIT_RIPAS: _init_ripas,
    c.CCA_TAG_REC_CREATE: _rec_create,
}


def decode_event_tag(data: bytes) -> Decoded:
    """TCG_PCClientTaggedEvent (PFP 10.4.2.1) with CCA and Linux payloads decoded."""
    hdr = _TAG_HDR.size
    _need(data, 0, hdr, "TCG_PCClientTaggedEvent")
    tag_id, size = _TAG_HDR.unpack_from(data)
    if size != len(data) - hdr:
        raise DecodeError("taggedEventDataSize", 4,
                          f"taggedEventDataSize {size} != {len(data) - hdr} bytes present")
    payload = bytes(data[hdr:])
    out: Decoded = {"tagged_event_id": f"{tag_id:08x}", "tagged_event_data_size": size}
    if tag_id in c.TAG_NAMES:
        out["tag"] = c.TAG_NAMES[tag_id]
    decoder = _TAG_DECODERS.get(tag_id)
    if decoder is not None:
        out.update(decoder(payload))
        out["size_beyond_minimum"] = size - cca.TAG_PAYLOADS[tag_id][1].size
    else:
        out.update(_string_or_hex(payload))
    return out


def decode_spdm(data: bytes) -> Decoded:
    """TCG_DEVICE_SECURITY_EVENT_DATA header (PFP 10.4.7, EV_EFI_SPDM_*)."""
    _need(data, 0, _SPDM.size, "TCG_DEVICE_SECURITY_EVENT_DATA_HEADER")
    sig, version, length, hash_algo, dev_type = _SPDM.unpack_from(data)
    return {"signature": bytes(sig).rstrip(b"\x00").decode("ascii", "replace"),
            "version": version, "length": length, "spdm_hash_algo": hash_algo,
            "device_type": dev_type, "rest": bytes(data[_SPDM.size:]).hex()}


DECODERS: dict[int, Callable[[bytes], Decoded]] = {
    c.EV_NO_ACTION: decode_no_action,
    c.EV_SEPARATOR: decode_separator,
    c.EV_POST_CODE: decode_blob,
    c.EV_S_CRTM_CONTENTS: decode_blob,
    c.EV_EFI_PLATFORM_FIRMWARE_BLOB: decode_blob,
    c.EV_POST_CODE2: decode_post_code2,
    c.EV_EFI_PLATFORM_FIRMWARE_BLOB2: decode_blob2,
    c.EV_S_CRTM_VERSION: decode_crtm_version,
    c.EV_EFI_VARIABLE_DRIVER_CONFIG: decode_variable,
    c.EV_EFI_VARIABLE_BOOT: decode_variable,
    c.EV_EFI_VARIABLE_BOOT2: decode_variable,
    c.EV_EFI_VARIABLE_AUTHORITY: decode_variable,
    c.EV_EFI_BOOT_SERVICES_APPLICATION: decode_image_load,
    c.EV_EFI_BOOT_SERVICES_DRIVER: decode_image_load,
    c.EV_EFI_RUNTIME_SERVICES_DRIVER: decode_image_load,
    c.EV_EFI_ACTION: _string_or_hex,
    c.EV_ACTION: _string_or_hex,
    c.EV_OMIT_BOOT_DEVICE_EVENTS: _string_or_hex,
    c.EV_EFI_GPT_EVENT: decode_gpt,
    c.EV_EFI_GPT_EVENT2: decode_gpt,
    c.EV_IPL: decode_ipl,
    c.EV_EVENT_TAG: decode_event_tag,
    c.EV_EFI_HANDOFF_TABLES: decode_handoff_tables,
    c.EV_EFI_HANDOFF_TABLES2: decode_handoff_tables2,
    c.EV_PLATFORM_CONFIG_FLAGS: _string_or_hex,
    c.EV_COMPACT_HASH: _string_or_hex,
    c.EV_TABLE_OF_DEVICES: _string_or_hex,
    c.EV_NONHOST_CODE: _string_or_hex,
    c.EV_NONHOST_CONFIG: _string_or_hex,
    c.EV_NONHOST_INFO: _string_or_hex,
    c.EV_EFI_HCRTM_EVENT: _string_or_hex,
    c.EV_CPU_MICROCODE: _string_or_hex,
    c.EV_EFI_SPDM_FIRMWARE_BLOB: decode_spdm,
    c.EV_EFI_SPDM_FIRMWARE_CONFIG: decode_spdm,
    c.EV_EFI_SPDM_DEVICE_POLICY: decode_spdm,
    c.EV_EFI_SPDM_DEVICE_AUTHORITY: decode_spdm,
}


def decode_event(event_type: int, data: bytes) -> Decoded:
    """Named fields of one event's data; unknown types give ``{"raw": hex}``, never raise."""
    decoder = DECODERS.get(event_type)
    if decoder is None:
        return {"raw": bytes(data).hex()} if data else {}
    try:
        return decoder(data)
    except DecodeError as exc:
        return {"error": {"field": exc.field, "offset": exc.offset, "message": exc.message},
                "raw": bytes(data).hex()}
    except (struct.error, ValueError, IndexError) as exc:  # defensive: still no traceback
        return {"error": {"field": "event", "offset": 0, "message": str(exc)},
                "raw": bytes(data).hex()}


# Event types whose digest the PFP defines as the hash of the event data. For
# EV_EFI_VARIABLE_BOOT the PFP hashes VariableData only; for EV_EFI_VARIABLE_DRIVER_CONFIG
# firmware written to the older TCG EFI Platform spec also hashes VariableData only, so
# both forms match. EV_EFI_VARIABLE_AUTHORITY is not checked: shim and some firmware log
# the variable but extend the digest of something else (corpus: "Shim", "db").
DIGEST_OF_DATA: frozenset[int] = frozenset({
    c.EV_SEPARATOR, c.EV_ACTION, c.EV_EFI_ACTION, c.EV_S_CRTM_VERSION,
    c.EV_OMIT_BOOT_DEVICE_EVENTS, c.EV_EFI_VARIABLE_DRIVER_CONFIG, c.EV_EFI_VARIABLE_BOOT,
    c.EV_EFI_VARIABLE_BOOT2, c.EV_EFI_GPT_EVENT, c.EV_EFI_GPT_EVENT2, c.EV_IPL,
})
_VARIABLE_DATA_TOO = frozenset({c.EV_EFI_VARIABLE_BOOT, c.EV_EFI_VARIABLE_DRIVER_CONFIG})


def _ipl_candidates(index: int, data: bytes) -> list[bytes]:
    """EV_IPL conventions of boot loaders (as checked by tpm2-tools' verify_digests).

    PCR 8 (grub/shim command strings "<prefix>: <text>\0"): the text after the first space,
    without or with its NUL. PCR 12 (systemd-boot command line): the whole data. Other
    PCRs (9: kernel/initrd images, 14: MokList...): the digest is of something else.
    """
    if index == 12:
        return [data]
    if index != 8:
        return []
    space = data.find(b" ")
    if space < 0 or space + 1 >= len(data) or data[-1:] != b"\x00":
        return [data]  # unexpected format: only an exact hash of the data can match
    return [data[space + 1: -1], data[space + 1:]]


def digest_candidates(event_type: int, data: bytes, index: int = 0) -> list[bytes]:
    """Byte strings whose hash may legitimately be an event's digest (empty: not applicable)."""
    if event_type not in DIGEST_OF_DATA:
        return []
    if event_type == c.EV_IPL:
        return _ipl_candidates(index, data)
    if event_type in _VARIABLE_DATA_TOO:
        value = variable_data_only(data)
        return [data] if value is None else [value, data]
    return [data]
