"""The ``rmtool launch`` configuration file (TOML), after the reference script's variables.

The reference's ``scripts/gen-run-vmm.sh`` sources a shell file setting KERNEL, INITRD,
EDK2_DIR, OUTPUT_SCRIPT_DIR, OUTPUT_DTB_DIR, OUTPUT_DTB, CONFIGS_DIR, RUN_KERNEL,
RUN_INITRD, RUN_EDK2_DIR, RUN_DISK, SHARED_DIR, VSOCK_ID and CLOUDHV_BIN. rmtool reads the
same settings from TOML, with lower-case keys (``kernel``, ``run_kernel``...), plus a few
of its own (``firmware``, ``host_configs``, ``personalization_value``...). Unknown keys are
rejected. Relative build-time paths are taken relative to the file's directory; run-time
paths (``run_*``, ``shared_dir``) are host paths and are written to the run script as
given.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rmtool._files import read_bounded
from rmtool._filetype import hint_for
from rmtool.errors import ConfigError

# printf "%64s" "I'm a teapot" | base64 -w0  (the reference script's RPV)
DEFAULT_RPV = ("ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIEknbSBhIHRl"
               "YXBvdA==")


_BUILD_PATHS = ("kernel", "initrd", "edk2_dir", "firmware", "output_script_dir",
                "output_dtb_dir", "configs_dir")
MAX_CONFIG_SIZE = 1 << 20


@dataclass(frozen=True)
class LaunchConfig:
    """Settings of one Realm owner's set-up (all optional; ``None`` = not set)."""

    # build-time inputs (their contents are measured)
    kernel: str | None = None            # KERNEL
    initrd: str | None = None            # INITRD
    edk2_dir: str | None = None          # EDK2_DIR (firmware = EDK2_DIR/Build/.../*.fd)
    firmware: str | None = None          # rmtool: the firmware file itself
    configs_dir: str | None = None       # CONFIGS_DIR (host capability files)
    host_configs: tuple[str, ...] = ()   # rmtool: explicit -c files, in order
    # outputs
    output_script_dir: str = "."         # OUTPUT_SCRIPT_DIR
    output_dtb_dir: str = "."            # OUTPUT_DTB_DIR
    output_dtb: str | None = None        # OUTPUT_DTB (file name of the generated DTB)
    # run-time (host) paths, default to the build-time ones
    run_kernel: str | None = None        # RUN_KERNEL
    run_initrd: str | None = None        # RUN_INITRD
    run_edk2_dir: str | None = None      # RUN_EDK2_DIR
    run_firmware: str | None = None      # rmtool: the firmware file on the host
    run_disk: str = "guest_disk"         # RUN_DISK
    run_dtb_dir: str | None = None       # rmtool: where the host finds the DTB
    shared_dir: str = "/mnt/"            # SHARED_DIR (--share)
    vsock_id: int = 3                    # VSOCK_ID (--vsock)
    # VMM binaries
    cloudhv_bin: str = "cloud-hypervisor"  # CLOUDHV_BIN
    kvmtool_bin: str = "lkvm"
    qemu_bin: str = "qemu-system-aarch64"
    tap_iface: str = "macvtap0"          # the reference reads /sys/class/net/macvtap0
    # Realm
    personalization_value: str = DEFAULT_RPV  # base64 (QEMU, cloud-hypervisor)
    rmm_version: str | None = None
    source: str | None = field(default=None, compare=False)


_STR_KEYS = {f.name for f in fields(LaunchConfig)} - {"host_configs", "vsock_id", "source"}


def _resolve(base: Path, value: str, key: str) -> str:
    try:
        p = Path(value).expanduser()
    except RuntimeError:  # ~user of an unknown user, or no home directory
        raise ConfigError(f"{key}: cannot expand the ~ in {value!r}", field=key) from None
    return str(p if p.is_absolute() else (base / p))


def parse_config(doc: dict[str, Any], source: str, base: Path) -> LaunchConfig:
    """Validate a decoded TOML document (unknown keys and wrong types are errors)."""
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _STR_KEYS:
            if not isinstance(value, str):
                raise ConfigError(f"{source}: {key} must be a string", field=key)
            values[key] = _resolve(base, value, key) if key in _BUILD_PATHS else value
        elif key == "host_configs":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{source}: host_configs must be a list of file names",
                                  field=key)
            values[key] = tuple(_resolve(base, v, key) for v in value)
        elif key == "vsock_id":
            if not isinstance(value, int) or isinstance(value, bool) or not 3 <= value < 1 << 32:
                raise ConfigError(f"{source}: vsock_id must be an integer in 3..2^32-1",
                                  field=key)
            values[key] = value
        else:
            known = ", ".join(sorted(_STR_KEYS | {"host_configs", "vsock_id"}))
            raise ConfigError(f"{source}: unknown key {key!r} (known keys: {known})", field=key)
    return LaunchConfig(source=source, **values)


def load_config(path: str | None) -> LaunchConfig:
    """Read a launch TOML file; ``None`` gives the defaults."""
    if path is None:
        return LaunchConfig()
    p = Path(path)
    data = read_bounded(str(p), MAX_CONFIG_SIZE, "launch config", ConfigError)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # a CoRIM, DTB, kernel... given as the config: say what it is (rmtool._filetype),
        # not the codec's complaint about its first byte
        hint = hint_for("launch config", data, str(path))
        if hint is not None:
            raise ConfigError(f"invalid launch config: {hint}") from None
        if isinstance(exc, UnicodeDecodeError):
            raise ConfigError(f"invalid launch config {path}: not UTF-8 text (byte "
                              f"{exc.start}); a launch config is a TOML file") from None
        raise ConfigError(f"invalid launch config {path}: {exc}") from None
    return parse_config(doc, str(path), p.resolve().parent)


def with_overrides(cfg: LaunchConfig, **values: Any) -> LaunchConfig:
    """Command-line values win over the file (``None`` = keep)."""
    changes = {k: v for k, v in values.items() if v is not None}
    for key in ("kernel", "initrd", "firmware", "edk2_dir"):
        if key in changes:
            changes[key] = str(Path(changes[key]).expanduser().resolve())
    return replace(cfg, **changes) if changes else cfg
