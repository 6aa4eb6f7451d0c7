"""Numbers and names of TCG event logs.

Event types follow the TCG PC Client Platform Firmware Profile (PFP) 1.06, section 10.4.1
("Event Types"); algorithm identifiers follow the TCG Algorithm Registry (TPM_ALG_ID), as
declared once in ``rmtool._hashalgo``;
the CCA tag identifiers follow the proposed VMM-written RIM log (measurement-log facts,
section 2.2); the Linux tag identifiers follow the Linux EFI stub (``efistub``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final, Protocol

from rmtool import _hashalgo as hashalgo

EV_PREBOOT_CERT: Final = 0x00000000
EV_POST_CODE: Final = 0x00000001
EV_UNUSED: Final = 0x00000002
EV_NO_ACTION: Final = 0x00000003
EV_SEPARATOR: Final = 0x00000004
EV_ACTION: Final = 0x00000005
EV_EVENT_TAG: Final = 0x00000006
EV_S_CRTM_CONTENTS: Final = 0x00000007
EV_S_CRTM_VERSION: Final = 0x00000008
EV_CPU_MICROCODE: Final = 0x00000009
EV_PLATFORM_CONFIG_FLAGS: Final = 0x0000000A
EV_TABLE_OF_DEVICES: Final = 0x0000000B
EV_COMPACT_HASH: Final = 0x0000000C
EV_IPL: Final = 0x0000000D
EV_IPL_PARTITION_DATA: Final = 0x0000000E
EV_NONHOST_CODE: Final = 0x0000000F
EV_NONHOST_CONFIG: Final = 0x00000010
EV_NONHOST_INFO: Final = 0x00000011
EV_OMIT_BOOT_DEVICE_EVENTS: Final = 0x00000012
EV_POST_CODE2: Final = 0x00000013
EV_EFI_EVENT_BASE: Final = 0x80000000
EV_EFI_VARIABLE_DRIVER_CONFIG: Final = 0x80000001
EV_EFI_VARIABLE_BOOT: Final = 0x80000002
EV_EFI_BOOT_SERVICES_APPLICATION: Final = 0x80000003
EV_EFI_BOOT_SERVICES_DRIVER: Final = 0x80000004
EV_EFI_RUNTIME_SERVICES_DRIVER: Final = 0x80000005
EV_EFI_GPT_EVENT: Final = 0x80000006
EV_EFI_ACTION: Final = 0x80000007
EV_EFI_PLATFORM_FIRMWARE_BLOB: Final = 0x80000008
EV_EFI_HANDOFF_TABLES: Final = 0x80000009
EV_EFI_PLATFORM_FIRMWARE_BLOB2: Final = 0x8000000A
EV_EFI_HANDOFF_TABLES2: Final = 0x8000000B
EV_EFI_VARIABLE_BOOT2: Final = 0x8000000C
EV_EFI_GPT_EVENT2: Final = 0x8000000D
EV_EFI_HCRTM_EVENT: Final = 0x80000010
EV_EFI_VARIABLE_AUTHORITY: Final = 0x800000E0
EV_EFI_SPDM_FIRMWARE_BLOB: Final = 0x800000E1
EV_EFI_SPDM_FIRMWARE_CONFIG: Final = 0x800000E2
EV_EFI_SPDM_DEVICE_POLICY: Final = 0x800000E3
EV_EFI_SPDM_DEVICE_AUTHORITY: Final = 0x800000E4

EVENT_TYPE_NAMES: Final[dict[int, str]] = {
    value: name for name, value in dict(globals()).items()
    if name.startswith("EV_") and isinstance(value, int)
}


def event_type_name(event_type: int) -> str:
    """Name of an event type, or ``EV_UNKNOWN_<hex>`` for values the PFP does not define."""
    return EVENT_TYPE_NAMES.get(event_type) or f"EV_UNKNOWN_{event_type:08x}"


# TPM_ALG_ID -> (bank name, digest size): the TCG rows of the one table (rmtool._hashalgo).
# Names are the lower-case TCG names.
ALGORITHMS: Final[dict[int, tuple[str, int]]] = {
    a.tcg_id: (a.name, a.size) for a in hashalgo.TCG if a.tcg_id is not None
}
ALGORITHM_IDS: Final[dict[str, int]] = {name: alg for alg, (name, _) in ALGORITHMS.items()}
DIGEST_SIZES: Final[dict[str, int]] = {name: size for name, size in ALGORITHMS.values()}


def algorithm_name(alg_id: int) -> str:
    """Bank name of a TPM_ALG_ID (``alg_<hex>`` when the registry entry is not known here)."""
    known = ALGORITHMS.get(alg_id)
    return known[0] if known else f"alg_{alg_id:04x}"


class HashObject(Protocol):
    def digest(self) -> bytes: ...


class _CryptographySm3:
    """SM3 through ``cryptography`` when OpenSSL's hashlib has no SM3."""

    def __init__(self, data: bytes = b"") -> None:
        from cryptography.hazmat.primitives import hashes

        self._ctx = hashes.Hash(hashes.SM3())
        self._ctx.update(data)

    def digest(self) -> bytes:
        return self._ctx.finalize()


def _sm3_constructor() -> Callable[[bytes], HashObject]:
    try:
        hashlib.new("sm3", b"")
    except ValueError:
        return _CryptographySm3
    # Hot path (replay, digest checks): copying a fresh SM3 object skips the by-name
    # digest lookup that hashlib.new does on every call (about a third faster).
    fresh = hashlib.new("sm3")

    def sm3(data: bytes = b"") -> HashObject:
        obj = fresh.copy()
        obj.update(data)
        return obj

    return sm3


def _constructor(algo: hashalgo.HashAlgorithm) -> Callable[[bytes], HashObject]:
    if algo.hashlib_name == "sm3":
        return _sm3_constructor()
    ctor: Callable[[bytes], HashObject] = getattr(hashlib, algo.hashlib_name)
    return ctor


# Bank name -> hash constructor (data -> object with .digest()).
HASH_CONSTRUCTORS: Final[dict[str, Callable[[bytes], HashObject]]] = {
    a.name: _constructor(a) for a in hashalgo.TCG
}


def _one_shot(ctor: Callable[[bytes], HashObject]) -> Callable[[bytes], bytes]:
    def digest(data: bytes) -> bytes:
        return bytes(ctor(data).digest())

    return digest


# Bank name -> one-shot hash function (data -> digest).
HASHES: Final[dict[str, Callable[[bytes], bytes]]] = {
    name: _one_shot(ctor) for name, ctor in HASH_CONSTRUCTORS.items()
}

# EV_EVENT_TAG taggedEventID values.
CCA_TAG_REALM_CREATE: Final = 1
CCA_TAG_INIT_RIPAS: Final = 2
CCA_TAG_REC_CREATE: Final = 3
LINUX_EFI_INITRD_EVENT_TAG_ID: Final = 0x8F3B22EC
LINUX_EFI_LOAD_OPTIONS_EVENT_TAG_ID: Final = 0x8F3B22ED
TAG_NAMES: Final[dict[int, str]] = {
    CCA_TAG_REALM_CREATE: "REALM_CREATE",
    CCA_TAG_INIT_RIPAS: "INIT_RIPAS",
    CCA_TAG_REC_CREATE: "REC_CREATE",
    LINUX_EFI_INITRD_EVENT_TAG_ID: "LINUX_EFI_INITRD",
    LINUX_EFI_LOAD_OPTIONS_EVENT_TAG_ID: "LINUX_EFI_LOAD_OPTIONS",
}

SPEC_ID_EVENT03: Final = b"Spec ID Event03\x00"
STARTUP_LOCALITY_SIGNATURE: Final = b"StartupLocality\x00"
SP800_155_SIGNATURE: Final = b"SP800-155 Event\x00"
SP800_155_EVENT3_SIGNATURE: Final = b"SP800-155 Event3"
VM_VERSION_SIGNATURE: Final = b"VM VERSION" + b"\x00" * 6
NV_INDEX_INSTANCE_SIGNATURE: Final = b"NvIndexInstance\x00"
NV_INDEX_DYNAMIC_SIGNATURE: Final = b"NvIndexDynamic\x00\x00"

DEFAULT_MAX_EVENT_SIZE: Final = 16 * 1024 * 1024
