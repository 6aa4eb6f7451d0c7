"""Flattened Device Tree (FDT/DTB) model, writer and reader.

Implements the Devicetree Specification v0.4 chapter 5 ("Flattened Devicetree (DTB)
Format") with the exact byte conventions of the generators rmtool must reproduce
(``vm-fdt``, the writer the reference tool builds with):

* header (40 bytes, big-endian u32 fields), memory reservation block at 0x28 holding
  only the 16-byte terminator, structure block at 0x38, strings block right after it;
* structure tokens BEGIN_NODE/PROP/END_NODE/END, names and values zero padded to 4;
* the strings table is built by a :class:`StringTable` policy: vm-fdt appends each
  name the first time it is used, without suffix sharing (``first-use``); libfdt's
  read-write API appends with suffix sharing (``libfdt-rw``).

pyfdt (the user's design) cannot control the strings table order, so the writer is
our own; reading is shared with template surgery and DTB dumps.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rmtool.errors import DtbError

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 1
FDT_END_NODE = 2
FDT_PROP = 3
FDT_NOP = 4
FDT_END = 9
HEADER_SIZE = 40
MEM_RSVMAP_OFFSET = 0x28

_HEADER = struct.Struct(">10I")


# --------------------------------------------------------------------------- values

def u32(*values: int) -> bytes:
    """Big-endian u32 cells."""
    return b"".join(struct.pack(">I", v & 0xFFFFFFFF) for v in values)


def u64(*values: int) -> bytes:
    """Big-endian u64 values."""
    return b"".join(struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF) for v in values)


def string(value: str) -> bytes:
    """NUL-terminated string."""
    return value.encode() + b"\0"


def strings(*values: str) -> bytes:
    """String list: concatenated NUL-terminated strings."""
    return b"".join(string(v) for v in values)


NULL = b""


def unit_name(name: str, address: int) -> str:
    """``name@<hex>``: lower-case hex, no ``0x``, no leading zeros."""
    return f"{name}@{address:x}"


# --------------------------------------------------------------------------- tree

@dataclass
class Property:
    name: str
    value: bytes


@dataclass
class Node:
    """A device-tree node; properties and children keep insertion order."""

    name: str
    properties: list[Property] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def prop(self, name: str, value: bytes = NULL) -> Node:
        """Append a property (fluent)."""
        self.properties.append(Property(name, value))
        return self

    def child(self, name: str) -> Node:
        """Append and return a new child node."""
        node = Node(name)
        self.children.append(node)
        return node

    def find_property(self, name: str) -> Property | None:
        for p in self.properties:
            if p.name == name:
                return p
        return None

    def find_child(self, name: str) -> Node | None:
        for c in self.children:
            if c.name == name:
                return c
        return None

    def walk(self, path: str = "") -> Iterator[tuple[str, Node]]:
        """Yield (path, node) depth-first in document order."""
        here = path + "/" + self.name if path or self.name else "/"
        if here.startswith("//"):
            here = here[1:]
        yield here, self
        for c in self.children:
            yield from c.walk(here if here != "/" else "")


# --------------------------------------------------------------------------- strings

class StringTable:
    """Strings block builder.

    ``policy`` is ``"first-use"`` (vm-fdt: append each new name, no suffix sharing)
    or ``"libfdt-rw"`` (append, but reuse an existing NUL-terminated suffix).
    ``initial`` preloads a strings block (template mode) whose byte content is kept.
    """

    def __init__(self, policy: str = "first-use", initial: bytes = b"",
                 initial_offsets: dict[str, int] | None = None) -> None:
        if policy not in ("first-use", "libfdt-rw"):
            raise ValueError(f"unknown strings policy {policy}")
        self.policy = policy
        self.block = bytearray(initial)
        self.offsets: dict[str, int] = dict(initial_offsets or {})

    def offset(self, name: str) -> int:
        found = self.offsets.get(name)
        if found is not None:
            return found
        encoded = name.encode() + b"\0"
        if self.policy == "libfdt-rw":
            idx = _find_suffix(bytes(self.block), encoded)
            if idx is not None:
                self.offsets[name] = idx
                return idx
        off = len(self.block)
        self.block += encoded
        self.offsets[name] = off
        return off


def _find_suffix(block: bytes, encoded: bytes) -> int | None:
    """libfdt ``fdt_find_string_``: first occurrence of ``encoded`` (NUL included)."""
    idx = block.find(encoded)
    return idx if idx >= 0 else None


# --------------------------------------------------------------------------- writer

@dataclass
class Header:
    version: int = 17
    last_comp_version: int = 16
    boot_cpuid_phys: int = 0
    # raw bytes between the header and the structure block (reservation map + gap)
    mem_rsvmap: bytes = b"\0" * 16


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def build_struct(root: Node, table: StringTable) -> bytes:
    """Serialise the structure block (ends with FDT_END)."""
    out = bytearray()

    def emit(node: Node) -> None:
        out.extend(struct.pack(">I", FDT_BEGIN_NODE))
        out.extend(_pad4(node.name.encode() + b"\0"))
        for p in node.properties:
            out.extend(struct.pack(">III", FDT_PROP, len(p.value), table.offset(p.name)))
            out.extend(_pad4(p.value))
        for c in node.children:
            emit(c)
        out.extend(struct.pack(">I", FDT_END_NODE))

    emit(root)
    out.extend(struct.pack(">I", FDT_END))
    return bytes(out)


def to_dtb(root: Node, *, policy: str = "first-use", table: StringTable | None = None,
           header: Header | None = None) -> bytes:
    """Serialise a tree to a tight DTB (totalsize = end of strings block)."""
    table = table or StringTable(policy)
    header = header or Header()
    struct_block = build_struct(root, table)
    rsv = header.mem_rsvmap
    off_struct = HEADER_SIZE + len(rsv)
    off_strings = off_struct + len(struct_block)
    total = off_strings + len(table.block)
    hdr = _HEADER.pack(FDT_MAGIC, total, off_struct, off_strings, MEM_RSVMAP_OFFSET,
                       header.version, header.last_comp_version, header.boot_cpuid_phys,
                       len(table.block), len(struct_block))
    return hdr + rsv + struct_block + bytes(table.block)


# --------------------------------------------------------------------------- reader

@dataclass
class Fdt:
    """A parsed DTB: tree plus the raw pieces template surgery needs."""

    root: Node
    header: Header
    strings_block: bytes
    # property name -> offset used in the template; the last use wins, as in the
    # reference surgeon's BTreeMap (src/dtb_surgeon.rs ``string_offsets.insert``)
    name_offsets: dict[str, int]
    totalsize: int


MAX_DEPTH = 64


def parse_dtb(data: bytes, *, max_size: int = 64 << 20) -> Fdt:
    """Parse a DTB; every offset and length is checked before use."""
    if len(data) > max_size:
        raise DtbError(f"DTB larger than {max_size} bytes", field="totalsize", offset=4)
    if len(data) < HEADER_SIZE:
        raise DtbError("DTB shorter than its 40-byte header", field="header", offset=0)
    (magic, total, off_struct, off_strings, off_rsv, version, last_comp, boot_cpuid,
     size_strings, size_struct) = _HEADER.unpack_from(data, 0)
    if magic != FDT_MAGIC:
        raise DtbError(f"bad DTB magic {magic:#x}", field="magic", offset=0)
    if total > len(data) or total < HEADER_SIZE:
        raise DtbError(f"totalsize {total} exceeds the {len(data)} bytes given",
                       field="totalsize", offset=4)
    for name, off, size in (("off_dt_struct", off_struct, size_struct),
                            ("off_dt_strings", off_strings, size_strings)):
        if off < HEADER_SIZE or off + size > total:
            raise DtbError(f"{name} block [{off:#x}, +{size:#x}) outside the blob",
                           field=name, offset=8 if name == "off_dt_struct" else 12)
    if off_rsv < HEADER_SIZE or off_rsv > off_struct:
        raise DtbError(f"off_mem_rsvmap {off_rsv:#x} out of range", field="off_mem_rsvmap",
                       offset=16)
    strings_block = bytes(data[off_strings:off_strings + size_strings])
    name_offsets: dict[str, int] = {}

    def get_name(nameoff: int, at: int) -> str:
        if nameoff >= size_strings:
            raise DtbError(f"property name offset {nameoff} outside strings block",
                           field="nameoff", offset=at)
        end = strings_block.find(b"\0", nameoff)
        if end < 0:
            raise DtbError("unterminated property name", field="nameoff", offset=at)
        name = strings_block[nameoff:end].decode("utf-8", "replace")
        name_offsets[name] = nameoff
        return name

    end_struct = off_struct + size_struct
    pos = off_struct

    def token() -> int:
        nonlocal pos
        if pos + 4 > end_struct:
            raise DtbError("structure block ends without FDT_END", field="token", offset=pos)
        tok: int = struct.unpack_from(">I", data, pos)[0]
        pos += 4
        return tok

    def read_name() -> str:
        nonlocal pos
        end = data.find(b"\0", pos, end_struct)
        if end < 0:
            raise DtbError("unterminated node name", field="name", offset=pos)
        name = bytes(data[pos:end]).decode("utf-8", "replace")
        pos = end + 1
        pos += -pos % 4
        return name

    stack: list[Node] = []
    root: Node | None = None
    while True:
        at = pos
        tok = token()
        if tok == FDT_BEGIN_NODE:
            if len(stack) >= MAX_DEPTH:
                raise DtbError("nodes nested too deeply", field="BEGIN_NODE", offset=at)
            node = Node(read_name())
            if stack:
                stack[-1].children.append(node)
            elif root is None:
                root = node
            else:
                raise DtbError("second root node", field="BEGIN_NODE", offset=at)
            stack.append(node)
        elif tok == FDT_PROP:
            if not stack:
                raise DtbError("property outside a node", field="PROP", offset=at)
            if pos + 8 > end_struct:
                raise DtbError("truncated property header", field="PROP", offset=at)
            length, nameoff = struct.unpack_from(">II", data, pos)
            pos += 8
            if pos + length > end_struct:
                raise DtbError(f"property length {length} runs past the structure block",
                               field="len", offset=at + 4)
            value = bytes(data[pos:pos + length])
            pos += length + (-length % 4)
            stack[-1].properties.append(Property(get_name(nameoff, at + 8), value))
        elif tok == FDT_END_NODE:
            if not stack:
                raise DtbError("unbalanced END_NODE", field="END_NODE", offset=at)
            stack.pop()
        elif tok == FDT_NOP:
            continue
        elif tok == FDT_END:
            if stack:
                raise DtbError("FDT_END inside an open node", field="END", offset=at)
            break
        else:
            raise DtbError(f"unknown structure token {tok:#x}", field="token", offset=at)
    if root is None:
        raise DtbError("no root node", field="BEGIN_NODE", offset=off_struct)
    header = Header(version=version, last_comp_version=last_comp,
                    boot_cpuid_phys=boot_cpuid, mem_rsvmap=bytes(data[HEADER_SIZE:off_struct]))
    return Fdt(root=root, header=header, strings_block=strings_block,
               name_offsets=name_offsets, totalsize=total)


def format_value(value: bytes) -> str:
    """dtc-like rendering of a property value for dumps and diffs."""
    if not value:
        return ""
    parts = value.split(b"\0")
    if value.endswith(b"\0") and all(p and all(32 <= c < 127 for c in p) for p in parts[:-1]):
        return ", ".join('"' + p.decode() + '"' for p in parts[:-1])
    if len(value) % 4 == 0:
        cells = struct.unpack(f">{len(value) // 4}I", value)
        return "<" + " ".join(f"{c:#x}" for c in cells) + ">"
    return "[" + " ".join(f"{b:02x}" for b in value) + "]"


def dump(root: Node) -> Iterable[str]:
    """dtc-like text lines for a tree."""
    def rec(node: Node, depth: int) -> Iterator[str]:
        ind = "\t" * depth
        yield f"{ind}{node.name or '/'} {{"
        for p in node.properties:
            v = format_value(p.value)
            yield f"{ind}\t{p.name}" + (f" = {v};" if v else ";")
        for c in node.children:
            yield from rec(c, depth + 1)
        yield f"{ind}}};"
    return rec(root, 0)
