"""What kind of file is this? Magic numbers of the inputs rmtool meets, and the hint that
names the right command when a file is given to the wrong one.

Each known type is declared once in ``TYPES`` (checked in order). The magics and where they
are specified:

* TCG event log: the first event is a TCG_PCClientPCREvent with EventType EV_NO_ACTION (3),
  a zero SHA-1 digest and the TCG_EfiSpecIDEvent whose signature "Spec ID Event03" (crypto
  agile; "Spec ID Event00" for TPM 1.2) starts at byte 32 (TCG PC Client Platform Firmware
  Profile, section 10.4.5.1). The PCR index is 0 for a TPM log and 1 (MR index) for a
  confidential-computing event log (UEFI 2.10 section 38.4.2).
* ACPI CCEL table: the 4-byte signature "CCEL" of the ACPI table header (ACPI 6.5 section
  5.2.34); ``rmtool log show`` decodes the table.
* CBOR tags (RFC 8949 section 3.4; an initial byte 0xd9 is a tag with a 2-byte number):
  399, the CCA attestation token collection (draft-ffm-rats-cca-token; the corpus
  samples of veraison/ccatoken and veraison/evcli), and 907, its CMW collection
  form (tf-m-tools ``cca_example_token.cbor``; rmtool.verify.token.codec reads both);
  18, COSE_Sign1 (RFC 9052; IANA CBOR tags registry): a single signed token or a signed
  CoRIM (draft-ietf-rats-corim ``signed-corim = #6.18(COSE-Sign1-corim)``; its protected
  header's content type is "application/rim+cbor"); 501, tagged-unsigned-corim-map, and
  506, tagged-concise-mid-tag (draft-ietf-rats-corim, ``cbor-tags.txt`` of the CoRIM CDDL);
  502, the signed CoRIM of early CoRIM drafts (``#6.502(signed-corim)``, still used by
  some vendors' manifests).
* DTB: the big-endian magic 0xd00dfeed of the FDT header (Devicetree Specification v0.4,
  section 5.2).
* arm64 Linux Image: "ARM\\x64" at byte 56 of the header (Linux
  Documentation/arch/arm64/booting.rst); PE/COFF "MZ"; ELF "\\x7fELF"; gzip 1f 8b
  (RFC 1952); PNG's 8-byte signature (RFC 2083 section 3.1); PEM "-----BEGIN " (RFC 7468).
* JSON, YAML, TOML and other text: a heuristic on the first bytes (weak: used only to explain a
  parse that failed, never to refuse a file before parsing).

``sniff(data)`` names the type; ``hint_for(expected, data, path)`` gives the one-line
message when ``data`` is a known type that a reader of ``expected`` does not accept;
``check_kind`` raises it (``WrongFileType``, exit 2) before parsing, for types whose magic
is unambiguous; ``hinted`` turns a parse error into the hint when there is one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rmtool._files import open_regular, read_bounded
from rmtool.errors import InputFileError, ParseError, RmtoolError


class WrongFileType(InputFileError):
    """A file of another known kind was given (exit 2); the message names the command."""


@dataclass(frozen=True)
class FileType:
    key: str            # stable identifier
    name: str           # "a TCG event log": reads after "FILE is"
    command: str | None  # the rmtool command that reads it, if any
    strong: bool        # the magic is unambiguous: may refuse a file before parsing
    test: Callable[[bytes], bool]


def _cbor_tag(data: bytes) -> int | None:
    """The number of a CBOR tag at byte 0 (RFC 8949 section 3), else None."""
    if not data:
        return None
    first = data[0]
    if first >> 5 != 6:
        return None
    info = first & 0x1F
    if info < 24:
        return info
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None or len(data) < 1 + width:
        return None
    return int.from_bytes(data[1:1 + width], "big")


def _tag(*numbers: int) -> Callable[[bytes], bool]:
    return lambda d: _cbor_tag(d) in numbers


def _is_signed_corim(d: bytes) -> bool:
    if _cbor_tag(d) == 502:
        return True
    return _cbor_tag(d) == 18 and b"application/rim+cbor" in d[:256]


def _is_event_log(d: bytes) -> bool:
    return (len(d) >= 48 and int.from_bytes(d[0:4], "little") in (0, 1)
            and int.from_bytes(d[4:8], "little") == 3 and d[8:28] == bytes(20)
            and d[32:46] == b"Spec ID Event0")


def _head_text(d: bytes) -> str | None:
    """The first bytes as text when they look like text (UTF-8, no NUL, printable)."""
    head = d[:4096]
    if not head or b"\x00" in head:
        return None
    text = head.decode("utf-8", "ignore")
    if len(text.encode("utf-8")) < len(head) - 3:  # more than a cut multi-byte tail
        return None
    printable = sum(c.isprintable() or c in "\r\n\t" for c in text)
    return text if printable >= 0.95 * len(text) else None


_JSON_START = re.compile(r'\s*(\{\s*["}]|\[\s*[\[{"\]0-9tfn-])')
_YAML_LINE = re.compile(r'^(---\s*$|[A-Za-z0-9_."-]+:(\s|$))', re.M)
_TOML_LINE = re.compile(r'^\s*(\[[A-Za-z0-9_."\' -]+\]|[A-Za-z0-9_."-]+\s*=)', re.M)


def _is_json(d: bytes) -> bool:
    text = _head_text(d)
    return text is not None and _JSON_START.match(text) is not None


def _is_yaml(d: bytes) -> bool:
    text = _head_text(d)
    return text is not None and _YAML_LINE.search(text) is not None


def _is_toml(d: bytes) -> bool:
    text = _head_text(d)
    return text is not None and _TOML_LINE.search(text) is not None


TYPES: tuple[FileType, ...] = (
    FileType("event-log", "a TCG event log", "rmtool log show", True, _is_event_log),
    FileType("ccel-table", "an ACPI CCEL table", "rmtool log show", True,
             lambda d: d[:4] == b"CCEL"),
    FileType("cca-token", "a CCA token", "rmtool token show", True, _tag(399, 907)),
    FileType("signed-corim", "a signed CoRIM", "rmtool corim show", True, _is_signed_corim),
    FileType("cose-sign1", "a COSE_Sign1 message", None, True, _tag(18)),
    FileType("corim", "a CoRIM", "rmtool corim show", True, _tag(501)),
    FileType("comid", "a CoMID", "rmtool corim show", True, _tag(506)),
    FileType("dtb", "a DTB (flattened device tree)", "rmtool dtb show", True,
             lambda d: d[:4] == b"\xd0\x0d\xfe\xed"),
    FileType("png", "a PNG image", None, True, lambda d: d[:8] == b"\x89PNG\r\n\x1a\n"),
    FileType("elf", "an ELF executable", None, True, lambda d: d[:4] == b"\x7fELF"),
    FileType("gzip", "a gzip-compressed file", None, True, lambda d: d[:2] == b"\x1f\x8b"),
    FileType("arm64-image", "an arm64 Linux kernel Image", None, True,
             lambda d: d[56:60] == b"ARM\x64"),
    FileType("pe", "a PE/COFF executable", None, False, lambda d: d[:2] == b"MZ"),
    FileType("pem", "a PEM key or certificate", None, True,
             lambda d: d.lstrip()[:11] == b"-----BEGIN "),
    FileType("json", "a JSON document", None, False, _is_json),
    FileType("yaml", "a YAML document", None, False, _is_yaml),
    FileType("toml", "a TOML configuration", None, False, _is_toml),
    FileType("text", "a text file", None, False, lambda d: _head_text(d) is not None),
)


@dataclass(frozen=True)
class Expected:
    name: str                 # "a CCA token": reads after "not"
    accepts: frozenset[str]   # FileType keys a reader of this kind parses


EXPECTED: dict[str, Expected] = {
    "token": Expected("a CCA token", frozenset({"cca-token", "cose-sign1"})),
    "corim": Expected("a CoRIM", frozenset({"corim", "signed-corim", "comid", "cose-sign1",
                                            "json"})),
    "event log": Expected("a TCG event log", frozenset({"event-log", "ccel-table"})),
    "dtb": Expected("a DTB", frozenset({"dtb"})),
    "key": Expected("a key", frozenset({"pem", "json"})),
    # rmtool launch --config (rmtool.launch._config) and measure -c host files: TOML text
    "launch config": Expected("a TOML launch configuration", frozenset({"toml", "text"})),
}


def sniff(data: bytes) -> FileType | None:
    """The first type of ``TYPES`` whose magic ``data`` carries, or None."""
    for t in TYPES:
        if t.test(data):
            return t
    return None


def hint_for(expected: str, data: bytes, path: str = "FILE", *,
             strong_only: bool = False) -> str | None:
    """``PATH is a TCG event log, not a CCA token; try rmtool log show PATH`` when ``data``
    is a known type that a reader of ``expected`` (a key of ``EXPECTED``) does not accept;
    None when it is accepted or unknown (then the parser's own error is the best one)."""
    want = EXPECTED[expected]
    found = sniff(data)
    if found is None or found.key in want.accepts or (strong_only and not found.strong):
        return None
    message = f"{path} is {found.name}, not {want.name}"
    if found.command is not None:
        message += f"; try {found.command} {path}"
    return message


def check_kind(data: bytes, expected: str, path: str) -> None:
    """Raise ``WrongFileType`` before parsing when the magic of ``data`` says it is another
    known kind (unambiguous magics only)."""
    hint = hint_for(expected, data, path, strong_only=True)
    if hint is not None:
        raise WrongFileType(hint)


def _head(path: str | os.PathLike[str], size: int = 4096) -> bytes | None:
    """The first ``size`` bytes of the regular file ``path``, or None if it cannot be read."""
    try:
        fd = open_regular(path, "file")
    except RmtoolError:
        return None
    try:
        with os.fdopen(fd, "rb", closefd=True) as f:
            return f.read(size)
    except OSError:
        return None


def read_expected(path: str | os.PathLike[str], expected: str, limit: int, what: str,
                  error: type[RmtoolError] = InputFileError) -> bytes:
    """``rmtool._files.read_bounded``, naming a file of another known kind (unambiguous
    magics only) as ``error`` "PATH is X, not Y": also when it is over the cap, where the
    size alone would hide the mistake (a kernel Image given as a key is "an arm64 Linux
    kernel Image, not a key", not "larger than 65536 bytes")."""
    try:
        data = read_bounded(path, limit, what, error)
    except RmtoolError:
        head = _head(path)
        hint = None if head is None else hint_for(expected, head, os.fspath(path),
                                                   strong_only=True)
        if hint is None:
            raise
        raise error(hint) from None
    hint = hint_for(expected, data, os.fspath(path), strong_only=True)
    if hint is not None:
        raise error(hint)
    return data


@contextmanager
def hinted(expected: str, data: bytes, path: str) -> Iterator[None]:
    """Run a parse of ``data``; if it fails and ``data`` is a known other kind, raise the
    hint (``WrongFileType``) in place of the parser's error."""
    try:
        yield
    except ParseError:
        hint = hint_for(expected, data, path)
        if hint is None:
            raise
        raise WrongFileType(hint) from None
