"""The result of ``rmtool diagnose``: causes in one vocabulary, and the JSON contract.

docs/diagnose.md documents the contract::

    {"schema": "rmtool/diagnose/1",
     "verdict": "match" | "mismatch" | "unexplained",
     "verification": {...},            # the token verification (as ``token verify``)
     "causes": [{"parameter": P, "expected": E, "actual": A,
                 "evidence": "log" | "search" | "claim", "detail": "..."}],
     "reproduced_by": [MEASURE_ARGS...] | null,
     "candidates_tried": N, "exhausted": bool,
     "platform": {...} | null,         # with --corim: the platform comparison
     "errors": [{"message": ...}], "warnings": [{"message": ...}]}   # docs/json.md

``P`` is one of :data:`PARAMETERS`. ``reproduced_by``, given to ``rmtool measure``,
gives exactly the token's RIM and REMs. Exit status: 0 match, 1 mismatch explained by
causes, 3 mismatch not explained, 2 unusable input (``rmtool.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: The parameter vocabulary of a cause (issue 15). Values: ``memory_size`` in bytes,
#: ``cpus`` a count, images by SHA-256 digest or file name, ``sve_vl`` in bits,
#: ``hash_algo`` a name (sha256/sha384/sha512), booleans for ``pmu``/``lpa2``.
PARAMETERS: tuple[str, ...] = (
    "memory_size", "cpus", "kernel", "initrd", "firmware", "bootargs", "dtb", "hash_algo",
    "personalization_value", "ipa_bits", "num_bps", "num_wps", "sve_vl", "pmu",
    "pmu_num_ctrs", "lpa2", "rmm_version", "rem0", "rem1", "rem2", "rem3",
)

Evidence = Literal["log", "search", "claim"]
Verdict = Literal["match", "mismatch", "unexplained"]

EVIDENCE: tuple[str, ...] = ("log", "search", "claim")

#: Exit status per verdict (docs/cli.md): 3 says "failed, and rmtool cannot say why".
EXIT_MATCH, EXIT_MISMATCH, EXIT_UNEXPLAINED = 0, 1, 3
VERDICT_EXIT: dict[str, int] = {"match": EXIT_MATCH, "mismatch": EXIT_MISMATCH,
                                "unexplained": EXIT_UNEXPLAINED}

SCHEMA = "rmtool/diagnose/1"


@dataclass(frozen=True)
class Target:
    """What the token's Realm measured: the realm claims a candidate must reproduce."""

    rim: bytes
    rems: tuple[bytes, ...]
    #: the token's ``cca-realm-hash-algo-id`` as a Realm algorithm name (sha256/sha384/
    #: sha512), None when absent or not one of them
    hash_algo: str | None = None
    #: the token's ``cca-realm-personalization-value`` (64 bytes), None when absent
    rpv: bytes | None = None


@dataclass(frozen=True)
class Cause:
    """One parameter whose value in the token's Realm differs from the expected one."""

    parameter: str
    expected: Any
    actual: Any
    evidence: Evidence
    detail: str = ""
    #: ``dtb`` causes: the node path (also in ``detail``; not in the JSON), for the HTML
    #: report's DTB diff
    node: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.parameter not in PARAMETERS:
            raise ValueError(f"unknown diagnose parameter {self.parameter!r}")
        if self.evidence not in EVIDENCE:
            raise ValueError(f"unknown evidence {self.evidence!r}")

    def to_json(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "expected": self.expected,
                "actual": self.actual, "evidence": self.evidence, "detail": self.detail}


@dataclass
class Diagnosis:
    """What ``rmtool diagnose`` concluded; :meth:`to_json` is the contract above."""

    verdict: Verdict
    verification: dict[str, Any]
    causes: list[Cause] = field(default_factory=list)
    reproduced_by: list[str] | None = None
    candidates_tried: int = 0
    #: the search space was exhausted without an exact match (search mode only)
    exhausted: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: with ``--corim``: the platform comparison (``engine.PlatformCheck.to_json``), None
    #: when no CoRIM carries platform reference values
    platform: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return VERDICT_EXIT[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "verdict": self.verdict,
            "verification": self.verification,
            "causes": [c.to_json() for c in self.causes],
            "reproduced_by": self.reproduced_by,
            "candidates_tried": self.candidates_tried,
            "exhausted": self.exhausted,
            "platform": self.platform,
            "errors": [{"message": m} for m in self.errors],
            "warnings": [{"message": m} for m in self.warnings],
        }
