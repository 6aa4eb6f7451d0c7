"""Small, deterministic example inputs made by rmtool's own code.

Nothing here is downloaded or copied: a synthetic arm64 ``Image`` with a valid header
(Linux Documentation/arch/arm64/booting.rst: text_offset, image_size, magic ``ARM\\x64``
at byte 56), a
``newc`` cpio initrd, a firmware blob, the host-capability TOML files of the reference
tool's ``configs/`` (values in :mod:`rmtool.launch.hosts`) and a
launch configuration. The same call always gives the same bytes, so the example RIMs in
the documentation are stable.

``python -m rmtool.examples inputs DIR`` writes them; ``python -m rmtool.examples token``
builds a signed CCA test token and, with ``--platform-corim-out``, the platform CoRIM that
endorses it (for ``rmtool appraise``); ``python -m rmtool.examples corim-signer`` writes a
TEST CoRIM signing key (see :mod:`rmtool.examples.__main__`).
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from rmtool._files import write_atomic
from rmtool.errors import InputFileError
from rmtool.launch.hosts import HOST_PROFILES, toml_text

ARM64_MAGIC = 0x644D5241
KERNEL_SIZE = 192 * 1024
KERNEL_IMAGE_SIZE = 0x400000   # text + bss the kernel claims (4 MiB)
FIRMWARE_SIZE = 128 * 1024
FIRMWARE_MAGIC = b"RMTOOL-EXAMPLE-FIRMWARE\0"


def _stream(label: str, size: int) -> bytes:
    """Deterministic filler: SHA-256 in counter mode over *label*."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def arm64_image(size: int = KERNEL_SIZE, text_offset: int = 0,
                image_size: int = KERNEL_IMAGE_SIZE, label: str = "kernel") -> bytes:
    """A synthetic arm64 Linux ``Image``: a valid 64-byte boot header then filler.

    Header (Documentation/arch/arm64/booting.rst): code0 ``MZ`` + branch, code1, text_offset,
    image_size, flags (little-endian, 4K pages, placed anywhere = 0xa), res2-4, magic,
    res5 (PE header offset, 0: not an EFI stub)."""
    if size < 64:
        raise ValueError("an arm64 Image is at least 64 bytes")
    header = struct.pack("<IIQQQQQQII", 0x91005A4D, 0x14000000 | (size // 4 & 0x3FFFFFF),
                         text_offset, image_size, 0xA, 0, 0, 0, ARM64_MAGIC, 0)
    return header + _stream(label, size - 64)


def _cpio_entry(name: str, data: bytes, mode: int, ino: int) -> bytes:
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
    head = b"070701" + b"".join(f"{v:08X}".encode() for v in fields)
    body = head + name.encode() + b"\0"
    body += bytes(-len(body) % 4) + data
    return body + bytes(-len(body) % 4)


def initrd(message: str = "hello from an rmtool example Realm") -> bytes:
    """A ``newc`` cpio archive holding ``/init`` (a shell script) and the trailer."""
    script = f"#!/bin/sh\necho '{message}'\nexec /bin/sh\n".encode()
    return (_cpio_entry("init", script, 0o100755, 1) + _cpio_entry("TRAILER!!!", b"", 0, 0))


def firmware(size: int = FIRMWARE_SIZE) -> bytes:
    """A firmware blob (not executable): a magic string then filler."""
    return FIRMWARE_MAGIC + _stream("firmware", size - len(FIRMWARE_MAGIC))


HOST_FILES = {name: f"{name}.conf" for name in HOST_PROFILES}

LAUNCH_TOML = """\
# rmtool launch configuration (the variables of the reference gen-run-vmm.cfg)
kernel = "Image"            # KERNEL: measured content
initrd = "initrd.cpio"      # INITRD
firmware = "QEMU_EFI.fd"    # the EDK2 firmware file (instead of edk2_dir)
output_script_dir = "out"   # OUTPUT_SCRIPT_DIR
output_dtb_dir = "out"      # OUTPUT_DTB_DIR
# where the host finds the files when it runs the script
run_kernel = "/srv/realm/Image"
run_initrd = "/srv/realm/initrd.cpio"
run_firmware = "/srv/realm/QEMU_EFI.fd"
run_dtb_dir = "/srv/realm"
run_disk = "/srv/realm/disk.img"
"""


def write_inputs(directory: str | Path, *, changed_initrd: bool = False) -> dict[str, Path]:
    """Write every example input into *directory*; return name -> path.

    ``changed_initrd=True`` also writes ``initrd-changed.cpio`` (one word differs), the
    "one changed component" of the debugging story."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot create directory {d}: {exc.strerror or exc}") from None
    files: dict[str, bytes | str] = {
        "Image": arm64_image(), "initrd.cpio": initrd(), "QEMU_EFI.fd": firmware(),
        "launch.toml": LAUNCH_TOML,
    }
    for name, fname in HOST_FILES.items():
        files[fname] = toml_text(name)
    if changed_initrd:
        files["initrd-changed.cpio"] = initrd("hello from a modified rmtool example Realm")
    out: dict[str, Path] = {}
    for name, content in files.items():
        p = d / name
        write_atomic(p, content)  # never through a symlink planted in DIRECTORY
        out[name] = p
    return out


__all__ = ["HOST_FILES", "LAUNCH_TOML", "arm64_image", "firmware", "initrd", "write_inputs"]
