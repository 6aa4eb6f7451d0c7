"""struct formats of the fixed-size TCG event-log layouts (the parser's fast path).

Each format has exactly the layout of a construct declaration in
:mod:`rmtool.eventlog._structs` (TCG PC Client PFP 1.06 section 10, ACPI 6.5 section
5.2.34); ``structs.FAST_REFERENCE`` names the declaration and the test suite checks that
both read the same values. The CCA RIM-log payloads (VM VERSION, tagged events, firmware
blobs) are not written here: their packers are generated from their one declaration in
:mod:`rmtool.eventlog._cca_payloads`. Kept apart from ``structs`` so that parsing a log
does not import construct.
"""

from __future__ import annotations

import struct
from typing import Final

import rmtool.eventlog._cca_payloads as cca

# name of the construct declaration (or of its fixed-size prefix) -> struct format
FAST: Final[dict[str, struct.Struct]] = {
    "PCREvent2Header": struct.Struct("<III"),
    "PCClientPCREventHeader": struct.Struct("<II20sI"),
    "PlatformFirmwareBlob": cca.PLATFORM_FIRMWARE_BLOB.struct,
    "UefiVariableHeader": struct.Struct("<16sQQ"),
    "UefiImageLoadHeader": struct.Struct("<QQQQ"),
    "TaggedEventHeader": cca.TAGGED_EVENT_HEADER.struct,
    "AcpiCcelTable": struct.Struct("<4sIBB6s8sI4sIBBHQQ"),
    "RealmCreateTag": cca.REALM_CREATE.struct,
    "InitRipasTag": cca.INIT_RIPAS.struct,
    "RecCreateTag": cca.REC_CREATE.struct,
    "SpdmEventHeader": struct.Struct("<16sHHII"),
    "GptHeader": struct.Struct("<8sIIIIQQQQ16sQIII"),
    "GptPartitionEntry": struct.Struct("<16s16sQQQ72s"),
    "SpecIdFixed": struct.Struct("<16sIBBBBI"),
}
