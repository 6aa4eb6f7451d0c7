"""The human table of ``rmtool diagnose`` (docs/diagnose.md "Output"): the token
verification, the verdict, one line per cause ("memory size: expected 512 MiB, the
token's Realm had 1 GiB (-m 1G)") and the corrected command line. The JSON contract is
:meth:`rmtool.diagnose.model.Diagnosis.to_json`; this module only renders it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from rmtool.diagnose._log import sizes
from rmtool.diagnose.model import Cause, Diagnosis

LABELS = {
    "memory_size": "memory size", "cpus": "vCPUs", "kernel": "kernel", "initrd": "initrd",
    "firmware": "firmware", "bootargs": "kernel command line (bootargs)", "dtb": "DTB",
    "hash_algo": "measurement algorithm", "personalization_value": "personalization value",
    "ipa_bits": "IPA width (s2sz)", "num_bps": "breakpoints", "num_wps": "watchpoints",
    "sve_vl": "SVE vector length", "pmu": "PMU", "pmu_num_ctrs": "PMU counters",
    "lpa2": "LPA2", "rmm_version": "RMM version",
}
VERDICT_TEXT = {"match": "MATCH", "mismatch": "MISMATCH", "unexplained": "UNEXPLAINED"}


def value_text(parameter: str, value: Any) -> str:
    """A cause's value as people read it (units, absent images, truncated hex)."""
    if value is None:
        return "none" if parameter in ("kernel", "initrd", "firmware") else "absent"
    if parameter == "memory_size" and isinstance(value, int):
        return sizes(value)
    if parameter == "sve_vl" and isinstance(value, int):
        return f"{value} bits" if value else "off (0)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    text = str(value)
    if parameter in ("personalization_value", "dtb") or parameter.startswith("rem"):
        return text if len(text) <= 24 else text[:16] + "..."
    return repr(text) if parameter == "bootargs" else text


def changed_words(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """The words of ``after`` that differ from ``before`` (common prefix and suffix
    removed), with the option they belong to: ``-m 1G`` for ``-m 512M`` → ``-m 1G``."""
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end_b, end_a = len(before), len(after)
    while end_b > start and end_a > start and before[end_b - 1] == after[end_a - 1]:
        end_b -= 1
        end_a -= 1
    words = list(after[start:end_a])
    if words and not words[0].startswith("-") and start > 0 \
            and after[start - 1].startswith("-"):
        words.insert(0, after[start - 1])
    return words


def cause_line(cause: Cause, how: Sequence[str] = ()) -> str:
    """``memory size: expected 512 MiB, the token's Realm had 1 GiB (-m 1G)``."""
    label = LABELS.get(cause.parameter, cause.parameter.upper())
    flag = f" ({shlex.join(how)})" if how else ""
    return (f"{label}: expected {value_text(cause.parameter, cause.expected)}, the token's "
            f"Realm had {value_text(cause.parameter, cause.actual)}{flag} "
            f"[{cause.evidence}]")


def table(d: Diagnosis, verification_lines: Sequence[str], how: dict[int, list[str]],
          verdict_suffix: str = "") -> str:
    """The whole table output; ``how[i]``: the MEASURE_ARGS words of cause ``i``."""
    lines = ["token verification:", *verification_lines]
    ver = d.verification
    lines.append(f"verification: {str(ver.get('result', 'fail')).upper()}"
                 + (f" (UNVERIFIED: {', '.join(ver['unverified'])})"
                    if ver.get("unverified") else ""))
    lines.append("")
    lines.append(f"verdict: {VERDICT_TEXT[d.verdict]}{verdict_suffix}")
    if d.causes:
        lines.append("causes:")
    for i, cause in enumerate(d.causes):
        lines.append(f"- {cause_line(cause, how.get(i, ()))}")
        if cause.detail:
            lines.append(f"    {cause.detail}")
    if d.candidates_tried:
        lines.append(f"candidates tried: {d.candidates_tried}"
                     + (" (search space exhausted)" if d.exhausted else ""))
    if d.reproduced_by is not None:
        lines.append("reproduced by: rmtool measure " + shlex.join(d.reproduced_by))
    elif d.verdict != "match":
        lines.append("reproduced by: (no MEASURE_ARGS reproduce the token's measurements)")
    for w in d.warnings:
        lines.append(f"note: {w}")
    for e in d.errors:
        lines.append(f"error: {e}")
    return "\n".join(lines)
