"""The run script ``rmtool launch`` writes: a bash script that starts the VMM with
exactly the arguments that were measured (docs/launch.md, run mode).

``run-<vmm>.sh`` starts the Realm; ``--print-args`` prints the VMM arguments one per
line and ``--print-measure-args`` the ``rmtool measure`` arguments that reproduce the
measurement, so anyone can check the script against the reference values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rmtool._files import write_atomic
from rmtool.launch._argv import RUNTIME_DEFAULTS, shell_word


@dataclass(frozen=True)
class ScriptSpec:
    vmm: str
    vmm_cmd: tuple[str, ...]
    args: tuple[str, ...]            # may hold ${TAP_INDEX} / ${TAP_MAC}
    measure_globals: tuple[str, ...]
    runtime_vars: tuple[str, ...]
    tap_iface: str
    open_tap_fd: bool                # qemu / cloud-hv read the tap through fd 3
    guest_tty: str | None            # --extcon
    header: tuple[str, ...]          # comment lines (without "# ")


def _array(name: str, words: Sequence[str]) -> list[str]:
    if not words:
        return [f"{name}=()"]
    lines = [f"{name}=("]
    for w in words:
        lines.append(f"    {shell_word(w)}")
    lines.append(")")
    return lines


def _pair_lines(name: str, words: Sequence[str]) -> list[str]:
    """Arguments grouped as ``-opt value`` per line, for a readable script."""
    lines = [f"{name}=("]
    i = 0
    while i < len(words):
        w = words[i]
        if (w.startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-")
                and "=" not in w):
            lines.append(f"    {shell_word(w)} {shell_word(words[i + 1])}")
            i += 2
        else:
            lines.append(f"    {shell_word(w)}")
            i += 1
    lines.append(")")
    return lines


def render(spec: ScriptSpec) -> str:
    out = ["#!/usr/bin/env bash"]
    out += [f"# {line}" if line else "#" for line in spec.header]
    out += ["set -euo pipefail", ""]
    out += _array("VMM_CMD", spec.vmm_cmd)
    out += [f"VMM_NAME={shell_word(spec.vmm)}"]
    out += _pair_lines("MEASURE_GLOBALS", spec.measure_globals)
    out += ["", 'case "${1:-}" in', "    --print-args|--print-measure-args)"]
    if spec.runtime_vars:
        out.append("        # run-time values do not change the measurement; these are the "
                   "ones rmtool used")
        for var in spec.runtime_vars:
            out.append(f"        {var}=\"${{{var}:-{RUNTIME_DEFAULTS[var]}}}\"")
    out += ["        ;;", '    "")']
    if spec.runtime_vars:
        out += [f"        TAP_IFACE={shell_word(spec.tap_iface)}",
                '        TAP_INDEX=$(cat "/sys/class/net/$TAP_IFACE/ifindex")',
                '        TAP_MAC=$(cat "/sys/class/net/$TAP_IFACE/address")']
        if spec.open_tap_fd:
            out.append('        exec 3<>"/dev/tap$TAP_INDEX"')
    out += ["        ;;", "    *)",
            '        echo "usage: $0 [--print-args | --print-measure-args]" >&2',
            "        exit 2", "        ;;", "esac", ""]
    out += ["# The VMM arguments: exactly those rmtool measured."]
    out += _pair_lines("VMM_ARGS", spec.args)
    out += ["", 'case "${1:-}" in',
            "    --print-args) printf '%s\\n' \"${VMM_ARGS[@]}\"; exit 0 ;;",
            "    --print-measure-args)",
            "        printf '%s\\n' measure \"${MEASURE_GLOBALS[@]}\" \"$VMM_NAME\" "
            "\"${VMM_ARGS[@]}\"",
            "        exit 0", "        ;;", "esac", ""]
    if spec.guest_tty is not None:
        out += [f"exec >{shell_word(spec.guest_tty)} <{shell_word(spec.guest_tty)}"]
    out += ["set -x", 'exec "${VMM_CMD[@]}" "${VMM_ARGS[@]}"', ""]
    return "\n".join(out)


def write_script(path: str, text: str) -> None:
    """Write the script with mode 0755 less the umask, atomically, replacing any previous
    one (or a symlink planted there) and never writing through a symlink
    (:func:`rmtool._files.write_atomic`)."""
    write_atomic(path, text, mode=0o755)
