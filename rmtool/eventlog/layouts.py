"""struct formats of the fixed-size TCG event-log layouts (the parser's fast path).

Each format has exactly the layout of a construct declaration in
:mod:`rmtool.eventlog.structs` (TCG PC Client PFP 1.06 section 10, ACPI 6.5 section
5.2.34, the CCA RIM-log tag payloads); ``structs.FAST_REFERENCE`` names the declaration
and the test suite checks that both read the same values. Kept apart from ``structs`` so
that parsing a log does not import construct.
"""

from __future__ import annotations

import struct
from typing import Final

# name of the construct declaration (or of its fixed-size prefix) -> struct format
FAST: Final[dict[str, struct.Struct]] = {
    "PCREvent2Header": struct.Struct("<III"),
    "PCClientPCREventHeader": struct.Struct("<II20sI"),
    "PlatformFirmwareBlob": struct.Struct("<QQ"),
    "UefiVariableHeader": struct.Struct("<16sQQ"),
    "UefiImageLoadHeader": struct.Struct("<QQQQ"),
    "TaggedEventHeader": struct.Struct("<II"),
    "AcpiCcelTable": struct.Struct("<4sIBB6s8sI4sIBBHQQ"),
    "RealmCreateTag": struct.Struct("<QBBBBBB"),
    "InitRipasTag": struct.Struct("<QQ"),
    "RecCreateTag": struct.Struct("<QQ8Q"),
    "SpdmEventHeader": struct.Struct("<16sHHII"),
    "GptHeader": struct.Struct("<8sIIIIQQQQ16sQIII"),
    "GptPartitionEntry": struct.Struct("<16s16sQQQ72s"),
    "SpecIdFixed": struct.Struct("<16sIBBBBI"),
}
