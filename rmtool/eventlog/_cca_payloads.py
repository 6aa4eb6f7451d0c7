"""The VMM-written CCA RIM-log payloads, each declared once.

Spec: docs/measurement-log.md section 2 — "VM VERSION" (both published layouts; section 5), the
TCG_PCClientTaggedEvent (PC Client PFP 1.06 section 10.4.2.1) payloads REALM_CREATE /
INIT_RIPAS / REC_CREATE (RMM encodings, packed little-endian) and the
UEFI_PLATFORM_FIRMWARE_BLOB / BLOB2 image events (PFP 10.4.2.2).

Each payload is a :class:`~rmtool._binlayout.Layout` (name, struct code and offset of
every field). The decoder (:mod:`rmtool.eventlog._decode`), the strict replay readers
(:mod:`rmtool.replay._cca`), the construct views (:mod:`rmtool.eventlog._structs`) and the
one log writer (the ``write_*`` functions below, used by :mod:`rmtool.eventlog.build`)
are all generated from or built on these declarations. Construct-free: parsing and
replaying a log never import construct.
"""

from __future__ import annotations

from typing import Final

from rmtool._binlayout import Field, Layout
from rmtool.eventlog._constants import (
    CCA_TAG_INIT_RIPAS,
    CCA_TAG_REALM_CREATE,
    CCA_TAG_REC_CREATE,
    VM_VERSION_SIGNATURE,
)

# "VM VERSION" (docs/measurement-log.md section 2), as QEMU writes it and the reference
# parser reads it:
# ram_size first, 112 bytes (the reference reads 100: up to num_cpus).
VM_VERSION_QEMU: Final = Layout("VmVersionEventQemu", 112, (
    Field("signature", "16s", 0),
    Field("name", "32s", 16),
    Field("version", "40s", 48),
    Field("ram_size", "Q", 88),
    Field("num_cpus", "I", 96),
    Field("flags", "Q", 104),
))
VM_VERSION_QEMU_MIN: Final = 100  # bytes up to num_cpus: what the reference parser needs
# "VM VERSION" of docs/measurement-log.md and tests/event_log.rs: log_start first, 116 bytes.
VM_VERSION_DOC: Final = Layout("VmVersionEventDoc", 116, (
    Field("signature", "16s", 0),
    Field("name", "32s", 16),
    Field("version", "40s", 48),
    Field("log_start", "Q", 88),
    Field("log_size", "Q", 96),
    Field("ram_size", "Q", 104),
    Field("num_cpus", "I", 112),
))

# TCG_PCClientTaggedEvent header; taggedEventData (taggedEventDataSize bytes) follows.
TAGGED_EVENT_HEADER: Final = Layout("TaggedEventHeader", 8, (
    Field("taggedEventID", "I", 0),
    Field("taggedEventDataSize", "I", 4),
))

# REALM_CREATE (docs/measurement-log.md section 2): 14 bytes packed; QEMU writes 2 bytes
# of struct padding.
REALM_CREATE: Final = Layout("RealmCreateTag", 14, (
    Field("flags", "Q", 0),
    Field("s2sz", "B", 8),
    Field("sve_vl", "B", 9),  # VQ = VL/128 - 1
    Field("num_bps", "B", 10),  # breakpoints - 1
    Field("num_wps", "B", 11),  # watchpoints - 1
    Field("pmu_num_ctrs", "B", 12),
    Field("hash_algo", "B", 13),  # RMI encoding: 0 SHA-256, 1 SHA-512, 2 SHA-384
))
REALM_CREATE_QEMU_PADDING: Final = 2
# INIT_RIPAS (docs/measurement-log.md section 2): one RAM range.
INIT_RIPAS: Final = Layout("InitRipasTag", 16, (
    Field("base", "Q", 0),
    Field("size", "Q", 8),
))
# REC_CREATE (docs/measurement-log.md section 2): flags (bit 0 runnable), pc, x0..x7.
REC_CREATE: Final = Layout("RecCreateTag", 80, (
    Field("flags", "Q", 0),
    Field("pc", "Q", 8),
    Field("gprs", "8Q", 16),
))

# UEFI_PLATFORM_FIRMWARE_BLOB; also the tail of UEFI_PLATFORM_FIRMWARE_BLOB2, which
# starts with BlobDescriptionSize (u8) and BlobDescription.
PLATFORM_FIRMWARE_BLOB: Final = Layout("PlatformFirmwareBlob", 16, (
    Field("BlobBase", "Q", 0),
    Field("BlobLength", "Q", 8),
))

#: tag id -> (name, payload layout)
TAG_PAYLOADS: Final[dict[int, tuple[str, Layout]]] = {
    CCA_TAG_REALM_CREATE: ("REALM_CREATE", REALM_CREATE),
    CCA_TAG_INIT_RIPAS: ("INIT_RIPAS", INIT_RIPAS),
    CCA_TAG_REC_CREATE: ("REC_CREATE", REC_CREATE),
}
#: every declaration here, by its construct name
LAYOUTS: Final[dict[str, Layout]] = {
    layout.name: layout for layout in (VM_VERSION_QEMU, VM_VERSION_DOC, TAGGED_EVENT_HEADER,
                                       REALM_CREATE, INIT_RIPAS, REC_CREATE,
                                       PLATFORM_FIRMWARE_BLOB)
}
#: the image descriptions of the RIM log (docs/measurement-log.md section 2)
IMAGE_KINDS: Final = ("KERNEL", "INITRD", "DTB", "FIRMWARE", "ACPI DATA", "LOG")


# --- the one writer of these payloads ---------------------------------------------------

def _fixed_text(text: str | bytes, layout: Layout, name: str) -> bytes:
    size = layout.field(name).size
    raw = text.encode("ascii") if isinstance(text, str) else text
    if len(raw) > size:
        raise ValueError(f"VM VERSION {name} {text!r} is longer than {size} bytes")
    return raw


def write_vm_version(name: str | bytes, version: str | bytes, ram_size: int, num_cpus: int,
                     *, flags: int = 0, layout: str = "qemu", log_start: int = 0,
                     log_size: int = 0) -> bytes:
    """"VM VERSION" event data, ``layout`` "qemu" (112 bytes) or "doc" (116 bytes).

    Name and version are NUL-padded (text as ASCII), an error past 32 / 40 bytes."""
    lay = VM_VERSION_DOC if layout == "doc" else VM_VERSION_QEMU
    common = {"signature": VM_VERSION_SIGNATURE, "name": _fixed_text(name, lay, "name"),
              "version": _fixed_text(version, lay, "version"),
              "ram_size": ram_size, "num_cpus": num_cpus}
    if layout == "doc":
        return VM_VERSION_DOC.build(**common, log_start=log_start, log_size=log_size)
    return VM_VERSION_QEMU.build(**common, flags=flags)


def write_qemu_vm_version(name: str, version: str, ram_size: int, num_cpus: int) -> bytes:
    """"VM VERSION" as QEMU writes it: ram_size-first layout, flags 0, name and version
    (UTF-8) clipped to 31 / 39 bytes so that a NUL always ends them."""
    clip = {f: VM_VERSION_QEMU.field(f).size - 1 for f in ("name", "version")}
    return write_vm_version(name.encode()[:clip["name"]], version.encode()[:clip["version"]],
                            ram_size, num_cpus)


def write_tagged_event(tag_id: int, payload: bytes) -> bytes:
    """TCG_PCClientTaggedEvent: header then ``payload``."""
    return TAGGED_EVENT_HEADER.pack(tag_id, len(payload)) + payload


def write_realm_create(*, flags: int = 0, s2sz: int = 48, sve_vl: int = 0, num_bps: int = 0,
                       num_wps: int = 0, pmu_num_ctrs: int = 0, hash_algo: int = 0,
                       struct_padding: int = 0) -> bytes:
    """REALM_CREATE payload in its RMM encoding (14 bytes + ``struct_padding`` zeros)."""
    return REALM_CREATE.pack(flags, s2sz, sve_vl, num_bps, num_wps, pmu_num_ctrs,
                             hash_algo) + bytes(struct_padding)


def write_init_ripas(base: int, size: int) -> bytes:
    return INIT_RIPAS.pack(base, size)


def write_rec_create(flags: int, pc: int, gprs: tuple[int, ...] | list[int]) -> bytes:
    """REC_CREATE payload; ``gprs`` beyond x7 are dropped, missing ones are zero."""
    regs = list(gprs[:8]) + [0] * (8 - min(len(gprs), 8))
    return REC_CREATE.pack(flags, pc, *regs)


def write_blob(base: int, length: int) -> bytes:
    """UEFI_PLATFORM_FIRMWARE_BLOB."""
    return PLATFORM_FIRMWARE_BLOB.pack(base, length)


def write_blob2(description: bytes, base: int, length: int) -> bytes:
    """UEFI_PLATFORM_FIRMWARE_BLOB2, description written exactly as given (QEMU: no NUL)."""
    if len(description) > 0xFF:
        raise ValueError(f"blob description has {len(description)} bytes, at most 255")
    return bytes([len(description)]) + description + PLATFORM_FIRMWARE_BLOB.pack(base, length)
