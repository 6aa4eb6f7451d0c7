"""UEFI device paths to text, for image-load and Boot#### events.

Follows UEFI 2.10 section 10.3 (device path nodes) and section 10.6 (text representation)
for the common node types; other nodes are printed as ``Path(type,subtype,hex)``. The
input is untrusted: every node length is checked against the bytes left, and the walk is
bounded by the input length, so a malformed path yields text ending in ``<malformed ...>``
rather than an exception.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable

_NODE = struct.Struct("<BBH")
MAX_NODES = 4096


_GUID = struct.Struct("<IHH")


def guid_text(raw: bytes) -> str:
    """EFI_GUID (mixed-endian, 16 bytes) in registry format (as ``uuid.UUID(bytes_le=)``)."""
    raw = bytes(raw)
    if len(raw) != 16:
        return str(uuid.UUID(bytes_le=raw))  # raises uuid's ValueError
    data1, data2, data3 = _GUID.unpack_from(raw)
    return f"{data1:08x}-{data2:04x}-{data3:04x}-{raw[8:10].hex()}-{raw[10:].hex()}"


def utf16_text(raw: bytes) -> str:
    """UTF-16LE text up to the first NUL character (bad code units replaced)."""
    text = bytes(raw[: len(raw) - len(raw) % 2]).decode("utf-16-le", errors="replace")
    cut = text.find("\x00")
    return text if cut < 0 else text[:cut]


def _pci(b: bytes) -> str:
    return f"Pci({b[1]:#x},{b[0]:#x})" if len(b) >= 2 else ""


def _acpi(b: bytes) -> str:
    if len(b) < 8:
        return ""
    hid, uid = struct.unpack_from("<II", b)
    if hid == 0x0A0341D0:
        return f"PciRoot({uid:#x})"
    if hid == 0x0A0841D0:
        return f"PcieRoot({uid:#x})"
    return f"Acpi({_eisa(hid)},{uid:#x})"


def _eisa(hid: int) -> str:
    if hid & 0xFFFF != 0x41D0:
        return f"{hid:#x}"
    return f"PNP{hid >> 16:04X}"


def _vendor(prefix: str) -> Callable[[bytes], str]:
    def text(b: bytes) -> str:
        if len(b) < 16:
            return ""
        extra = b[16:].hex()
        return f"{prefix}({guid_text(b[:16])}{',' + extra if extra else ''})"

    return text


def _memory_mapped(b: bytes) -> str:
    if len(b) < 20:
        return ""
    mtype, start, end = struct.unpack_from("<IQQ", b)
    return f"MemoryMapped({mtype:#x},{start:#x},{end:#x})"


def _scsi(b: bytes) -> str:
    return "Scsi({:#x},{:#x})".format(*struct.unpack_from("<HH", b)) if len(b) >= 4 else ""


def _usb(b: bytes) -> str:
    return f"USB({b[0]:#x},{b[1]:#x})" if len(b) >= 2 else ""


def _sata(b: bytes) -> str:
    return "Sata({:#x},{:#x},{:#x})".format(*struct.unpack_from("<HHH", b)) if len(b) >= 6 else ""


def _nvme(b: bytes) -> str:
    if len(b) < 12:
        return ""
    nsid = struct.unpack_from("<I", b)[0]
    eui = "-".join(f"{x:02X}" for x in b[4:12])
    return f"NVMe({nsid:#x},{eui})"


def _mac(b: bytes) -> str:
    return f"MAC({b[:6].hex()},{b[32]:#x})" if len(b) >= 33 else ""


def _uri(b: bytes) -> str:
    return f"Uri({bytes(b).decode('ascii', errors='replace')})"


def _hard_drive(b: bytes) -> str:
    if len(b) < 38:
        return ""
    number, start, size = struct.unpack_from("<IQQ", b)
    sig, mbr_type, sig_type = b[20:36], b[36], b[37]
    if sig_type == 2:
        signature, kind = guid_text(sig), "GPT"
    elif sig_type == 1:
        signature, kind = f"{struct.unpack_from('<I', sig)[0]:#x}", "MBR"
    else:
        signature, kind = "0", f"{sig_type:#x}"
    del mbr_type
    return f"HD({number},{kind},{signature},{start:#x},{size:#x})"


def _cdrom(b: bytes) -> str:
    if len(b) < 20:
        return ""
    entry, start, size = struct.unpack_from("<IQQ", b)
    return f"CDROM({entry:#x},{start:#x},{size:#x})"


def _file_path(b: bytes) -> str:
    return utf16_text(b)


def _guid_node(prefix: str) -> Callable[[bytes], str]:
    def text(b: bytes) -> str:
        return f"{prefix}({guid_text(b[:16])})" if len(b) >= 16 else ""

    return text


def _offset(b: bytes) -> str:
    if len(b) < 20:
        return ""
    _, start, end = struct.unpack_from("<IQQ", b)
    return f"Offset({start:#x},{end:#x})"


def _bbs(b: bytes) -> str:
    if len(b) < 4:
        return ""
    dev_type, status = struct.unpack_from("<HH", b)
    desc = bytes(b[4:]).split(b"\x00", 1)[0].decode("ascii", errors="replace")
    return f"BBS({dev_type:#x},{desc},{status:#x})"


_DECODERS: dict[tuple[int, int], Callable[[bytes], str]] = {
    (0x01, 0x01): _pci,
    (0x01, 0x03): _memory_mapped,
    (0x01, 0x04): _vendor("VenHw"),
    (0x02, 0x01): _acpi,
    (0x03, 0x02): _scsi,
    (0x03, 0x05): _usb,
    (0x03, 0x0A): _vendor("VenMsg"),
    (0x03, 0x0B): _mac,
    (0x03, 0x12): _sata,
    (0x03, 0x17): _nvme,
    (0x03, 0x18): _uri,
    (0x04, 0x01): _hard_drive,
    (0x04, 0x02): _cdrom,
    (0x04, 0x03): _vendor("VenMedia"),
    (0x04, 0x04): _file_path,
    (0x04, 0x06): _guid_node("FvFile"),
    (0x04, 0x07): _guid_node("Fv"),
    (0x04, 0x08): _offset,
    (0x05, 0x01): _bbs,
}


def device_path_text(raw: bytes) -> str:
    """Text form of an EFI_DEVICE_PATH_PROTOCOL byte string (possibly several instances)."""
    parts: list[str] = []
    instance: list[str] = []
    pos, end = 0, len(raw)
    for _ in range(MAX_NODES):
        if pos == end:
            break
        if end - pos < 4:
            instance.append(f"<malformed node at {pos}: {end - pos} bytes left>")
            break
        ntype, subtype, length = _NODE.unpack_from(raw, pos)
        if length < 4 or length > end - pos:
            instance.append(f"<malformed node at {pos}: length {length}>")
            break
        body = raw[pos + 4: pos + length]
        pos += length
        if ntype == 0x7F:
            parts.append("/".join(instance))
            instance = []
            if subtype == 0xFF:
                break
            continue
        decoder = _DECODERS.get((ntype, subtype))
        text = decoder(body) if decoder else ""
        instance.append(text or f"Path({ntype},{subtype},{bytes(body).hex()})")
    if instance:
        parts.append("/".join(instance))
    return ",".join(parts)
