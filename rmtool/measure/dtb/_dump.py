"""DTB dumps and diffs for people (pyfdt renders the DTS text).

A DTB given by a user is untrusted: it is first checked by our bounds-checked reader
(:func:`rmtool.measure.dtb.fdt.parse_dtb`), then rendered with pyfdt, the device-tree
library the project's design names for reading and dumping. Byte-exact writing stays
with our own writer (fdt.py), since pyfdt cannot reproduce the generators' string
tables.
"""

from __future__ import annotations

import difflib
import io

from pyfdt.pyfdt import FdtBlobParse

from rmtool.errors import DtbError
from rmtool.measure.dtb.fdt import parse_dtb


def to_dts(blob: bytes) -> str:
    """DTS text of a DTB (header fields as comments)."""
    parsed = parse_dtb(blob)
    try:
        tree = FdtBlobParse(io.BytesIO(blob[:parsed.totalsize])).to_fdt()
        text: str = tree.to_dts()
    except Exception as exc:  # pyfdt raises bare Exceptions on oddities
        raise DtbError(f"cannot render DTB: {exc}") from exc
    return text


def diff_dts(a: bytes, b: bytes, name_a: str = "a", name_b: str = "b") -> list[str]:
    """Unified diff of two DTBs' DTS text (empty when they describe the same tree)."""
    return list(difflib.unified_diff(to_dts(a).splitlines(), to_dts(b).splitlines(),
                                     fromfile=name_a, tofile=name_b, lineterm=""))
