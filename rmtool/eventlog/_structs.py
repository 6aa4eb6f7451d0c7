"""Construct declarations of the TCG event-log structures (the single source of layout).

Follows TCG PC Client PFP 1.06 section 10 (TCG_PCClientPCREvent, TCG_PCR_EVENT2,
TCG_EfiSpecIDEvent, UEFI_* event data), the ACPI 6.5 CCEL table (section 5.2.34), the
proposed CCA RIM log (docs/measurement-log.md section 2) and the Linux EFI stub
tagged events.

The declarations are used to build logs (``rmtool.eventlog.build``) and as the reference
for the parser. The fixed-size CCA RIM-log payloads are declared once, as data, in
:mod:`rmtool.eventlog._cca_payloads`; their construct views here are generated from that
declaration. The parser's hot path reads the fixed-size headers with :mod:`struct`
formats of the same layouts (``FAST``, kept in :mod:`rmtool.eventlog._layouts` so that
parsing does not import construct); the test suite checks with hypothesis that both
readings agree (``FAST_REFERENCE``).
"""

from __future__ import annotations

from typing import Any, Final

from construct import (
    Bytes,
    Construct,
    GreedyBytes,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    Prefixed,
    PrefixedArray,
    Struct,
    Switch,
    this,
)

import rmtool.eventlog._cca_payloads as cca
from rmtool.eventlog._layouts import FAST as FAST  # re-exported: the fast-path formats

# --- log container -------------------------------------------------------------------

# TCG_EfiSpecIdEventAlgorithmSize
SpecIdAlgorithm: Final = Struct("algorithmId" / Int16ul, "digestSize" / Int16ul)

# TCG_EfiSpecIDEvent (event data of the first, legacy-format event)
SpecIdEvent: Final = Struct(
    "signature" / Bytes(16),
    "platformClass" / Int32ul,
    "specVersionMinor" / Int8ul,
    "specVersionMajor" / Int8ul,
    "specErrata" / Int8ul,
    "uintnSize" / Int8ul,
    "digestSizes" / PrefixedArray(Int32ul, SpecIdAlgorithm),
    "vendorInfo" / Prefixed(Int8ul, GreedyBytes),
)

# TCG_PCClientPCREvent (SHA-1 log format; also the first event of a crypto-agile log)
PCClientPCREvent: Final = Struct(
    "pcrIndex" / Int32ul,
    "eventType" / Int32ul,
    "digest" / Bytes(20),
    "event" / Prefixed(Int32ul, GreedyBytes),
)


def pcr_event2(digest_sizes: dict[int, int]) -> Construct:
    """TCG_PCR_EVENT2 for a log whose Spec ID event declares ``digest_sizes`` (alg -> size)."""
    ha = Struct(
        "hashAlg" / Int16ul,
        "digest" / Switch(this.hashAlg, {alg: Bytes(size) for alg, size in digest_sizes.items()}),
    )
    return Struct(
        "pcrIndex" / Int32ul,
        "eventType" / Int32ul,
        "digests" / PrefixedArray(Int32ul, ha),
        "event" / Prefixed(Int32ul, GreedyBytes),
    )


# Fixed part of TCG_PCR_EVENT2 up to the digest count.
PCREvent2Header: Final = Struct("pcrIndex" / Int32ul, "eventType" / Int32ul, "count" / Int32ul)
# Fixed part of TCG_PCClientPCREvent up to the event size.
PCClientPCREventHeader: Final = Struct(
    "pcrIndex" / Int32ul, "eventType" / Int32ul, "digest" / Bytes(20), "eventDataSize" / Int32ul
)

# ACPI 6.5 section 5.2.34: Confidential Computing Event Log table (56 bytes).
AcpiCcelTable: Final = Struct(
    "signature" / Bytes(4),
    "length" / Int32ul,
    "revision" / Int8ul,
    "checksum" / Int8ul,
    "oem_id" / Bytes(6),
    "oem_table_id" / Bytes(8),
    "oem_revision" / Int32ul,
    "creator_id" / Bytes(4),
    "creator_revision" / Int32ul,
    "cc_type" / Int8ul,
    "cc_subtype" / Int8ul,
    "reserved" / Int16ul,
    "laml" / Int64ul,
    "lasa" / Int64ul,
)

# --- event data ----------------------------------------------------------------------

# EV_NO_ACTION "StartupLocality" (TCG_EfiStartupLocalityEvent)
StartupLocalityEvent: Final = Struct("signature" / Bytes(16), "startupLocality" / Int8ul)

# CCA "VM VERSION" event, both layouts (docs/measurement-log.md section 2): generated from
# the one declaration in
# rmtool.eventlog._cca_payloads (text fields as NUL-padded Bytes).
VmVersionEventQemu: Final = cca.VM_VERSION_QEMU.construct()
VmVersionEventDoc: Final = cca.VM_VERSION_DOC.construct()

# TCG_PCClientTaggedEvent
TaggedEvent: Final = Struct("taggedEventID" / Int32ul, "taggedEventData" / Prefixed(Int32ul,
                                                                                    GreedyBytes))

# CCA tagged-event payloads (RMM encodings; packed, little-endian) and
# UEFI_PLATFORM_FIRMWARE_BLOB: generated from rmtool.eventlog._cca_payloads.
RealmCreateTag: Final = cca.REALM_CREATE.construct()
InitRipasTag: Final = cca.INIT_RIPAS.construct()
RecCreateTag: Final = cca.REC_CREATE.construct()
PlatformFirmwareBlob: Final = cca.PLATFORM_FIRMWARE_BLOB.construct()
# UEFI_PLATFORM_FIRMWARE_BLOB2
PlatformFirmwareBlob2: Final = Struct(
    "BlobDescription" / Prefixed(Int8ul, GreedyBytes),
    "BlobBase" / Int64ul,
    "BlobLength" / Int64ul,
)

# UEFI_VARIABLE_DATA (VariableName is a GUID; UnicodeName has UnicodeNameLength CHAR16)
UefiVariableData: Final = Struct(
    "VariableName" / Bytes(16),
    "UnicodeNameLength" / Int64ul,
    "VariableDataLength" / Int64ul,
    "UnicodeName" / Bytes(this.UnicodeNameLength * 2),
    "VariableData" / Bytes(this.VariableDataLength),
)

# UEFI_IMAGE_LOAD_EVENT
UefiImageLoadEvent: Final = Struct(
    "ImageLocationInMemory" / Int64ul,
    "ImageLengthInMemory" / Int64ul,
    "ImageLinkTimeAddress" / Int64ul,
    "DevicePath" / Prefixed(Int64ul, GreedyBytes),
)

# UEFI_HANDOFF_TABLE_POINTERS (entries: EFI_CONFIGURATION_TABLE)
ConfigurationTable: Final = Struct("VendorGuid" / Bytes(16), "VendorTable" / Int64ul)
HandoffTablePointers: Final = Struct("tables" / PrefixedArray(Int64ul, ConfigurationTable))
# UEFI_HANDOFF_TABLE_POINTERS2
HandoffTablePointers2: Final = Struct(
    "TableDescription" / Prefixed(Int8ul, GreedyBytes),
    "tables" / PrefixedArray(Int64ul, ConfigurationTable),
)

# UEFI_GPT_DATA header: EFI_PARTITION_TABLE_HEADER (92 bytes) then NumberOfPartitions.
GptHeader: Final = Struct(
    "Signature" / Bytes(8),
    "Revision" / Int32ul,
    "HeaderSize" / Int32ul,
    "HeaderCRC32" / Int32ul,
    "Reserved" / Int32ul,
    "MyLBA" / Int64ul,
    "AlternateLBA" / Int64ul,
    "FirstUsableLBA" / Int64ul,
    "LastUsableLBA" / Int64ul,
    "DiskGUID" / Bytes(16),
    "PartitionEntryLBA" / Int64ul,
    "NumberOfPartitionEntries" / Int32ul,
    "SizeOfPartitionEntry" / Int32ul,
    "PartitionEntryArrayCRC32" / Int32ul,
)
GptPartitionEntry: Final = Struct(
    "PartitionTypeGUID" / Bytes(16),
    "UniquePartitionGUID" / Bytes(16),
    "StartingLBA" / Int64ul,
    "EndingLBA" / Int64ul,
    "Attributes" / Int64ul,
    "PartitionName" / Bytes(72),
)

# TCG_DEVICE_SECURITY_EVENT_DATA_HEADER (EV_EFI_SPDM_*), fixed prefix.
SpdmEventHeader: Final = Struct(
    "Signature" / Bytes(16),
    "Version" / Int16ul,
    "Length" / Int16ul,
    "SpdmHashAlgo" / Int32ul,
    "DeviceType" / Int32ul,
)

# --- fast path -----------------------------------------------------------------------
# The struct formats live in rmtool.eventlog._layouts (no construct import on the parser's
# start-up path); each entry of FAST_REFERENCE is the construct declaration it mirrors.
# construct declaration matching each fast-path format (checked by the test suite).
FAST_REFERENCE: Final[dict[str, Any]] = {
    "PCREvent2Header": PCREvent2Header,
    "PCClientPCREventHeader": PCClientPCREventHeader,
    "PlatformFirmwareBlob": PlatformFirmwareBlob,
    "AcpiCcelTable": AcpiCcelTable,
    "RealmCreateTag": RealmCreateTag,
    "InitRipasTag": InitRipasTag,
    "RecCreateTag": RecCreateTag,
    "TaggedEventHeader": cca.TAGGED_EVENT_HEADER.construct(),
    "GptHeader": GptHeader,
    "GptPartitionEntry": GptPartitionEntry,
    "SpdmEventHeader": SpdmEventHeader,
}
