"""arm64 Linux Image loading shared by all VMM front-ends (the reference tool's
``load_kernel``, cca-realm-measurements ``src/vmm.rs``).

The 64-byte header (Documentation/arch/arm64/booting.rst): code0, code1, text_offset
(@8), image_size (@16), flags, res2-4, magic "ARM\\x64" (@56), res5. A file without the
magic is gunzipped and the header re-read; the measured content is then the
decompressed bytes.

The file is opened with :func:`rmtool.measure.images.open_input`: a device or FIFO given as
the kernel is refused (``file F error: kernel is a character device, not a regular file``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rmtool.errors import ParametersError, os_error_text
from rmtool.measure.images import Image, open_input
from rmtool.measure.rmm._layouts import NamedStruct

ARM64_MAGIC = 0x644D5241
MAX_KERNEL_SIZE = 1 << 32  # decompression bound (4 GiB)

# The 64-byte arm64 Image header (Linux Documentation/arch/arm64/booting.rst)
ARM64_IMAGE_HEADER = NamedStruct([
    ("code0", "I"), ("code1", "I"), ("text_offset", "Q"), ("image_size", "Q"), ("flags", "Q"),
    ("res2", "Q"), ("res3", "Q"), ("res4", "Q"), ("magic", "I"), ("res5", "I"),
])


@dataclass(frozen=True)
class Kernel:
    image: Image
    text_offset: int
    image_size: int


def _header(data: bytes) -> tuple[int, int] | None:
    if len(data) < 64:
        return None
    hdr = data[:64]
    if int.from_bytes(hdr[56:60], "little") != ARM64_MAGIC:
        return None
    return (ARM64_IMAGE_HEADER.value(hdr, "text_offset"),
            ARM64_IMAGE_HEADER.value(hdr, "image_size"))


def load_kernel(path: str) -> Kernel:
    try:
        with os.fdopen(open_input(path, "kernel"), "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise ParametersError(os_error_text(path, exc).removeprefix("VMM: ")) from exc
    found = _header(head)
    if found is not None:
        return Kernel(Image.from_file("kernel", path), *found)
    if len(head) < 64:
        raise ParametersError(f"file {path} error: failed to fill whole buffer")
    if head[:2] != b"\x1f\x8b":
        raise ParametersError(f"file {path} error: invalid gzip header")
    import gzip  # only for a compressed kernel
    import zlib

    try:
        with os.fdopen(open_input(path, "kernel"), "rb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="rb") as g:
            data = g.read(MAX_KERNEL_SIZE + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParametersError(f"file {path} error: corrupt or truncated gzip stream "
                              f"({exc})") from exc
    if len(data) > MAX_KERNEL_SIZE:
        raise ParametersError(f"file {path} error: decompressed kernel exceeds 4 GiB")
    found = _header(data)
    if found is None:
        raise ParametersError("invalid Linux header")
    return Kernel(Image.from_bytes("kernel", data), *found)
