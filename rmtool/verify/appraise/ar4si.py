"""AR4SI trustworthiness claims and trust tiers, as veraison/ear encodes them.

Values and tier ranges follow draft-ietf-rats-ar4si §2.3 as implemented by veraison/ear
``trustclaim.go`` (claim values, ``GetTier``), ``trusttier.go`` (tier names and numbers),
``trustvector.go`` (the eight claim names) and ``ear_appraisal.go``
(``UpdateStatusFromTrustVector``: the status is the worst tier of the vector).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Trust vector claim names, in veraison/ear trustvector.go order.
INSTANCE_IDENTITY = "instance-identity"
CONFIGURATION = "configuration"
EXECUTABLES = "executables"
FILE_SYSTEM = "file-system"
HARDWARE = "hardware"
RUNTIME_OPAQUE = "runtime-opaque"
STORAGE_OPAQUE = "storage-opaque"
SOURCED_DATA = "sourced-data"
CLAIMS = (INSTANCE_IDENTITY, CONFIGURATION, EXECUTABLES, FILE_SYSTEM, HARDWARE,
          RUNTIME_OPAQUE, STORAGE_OPAQUE, SOURCED_DATA)

# Claim values (veraison/ear trustclaim.go).
VERIFIER_MALFUNCTION = -1
NO_CLAIM = 0
UNEXPECTED_EVIDENCE = 1
CRYPTO_VALIDATION_FAILED = 99
TRUSTWORTHY_INSTANCE = 2
UNTRUSTWORTHY_INSTANCE = 96
APPROVED_CONFIG = 2
UNSAFE_CONFIG = 32
APPROVED_RUNTIME = 2
APPROVED_BOOT = 3
UNRECOGNIZED_RUNTIME = 33
CONTRAINDICATED_RUNTIME = 96
GENUINE_HARDWARE = 2
VISIBLE_MEMORY_RUNTIME = 96
HW_KEYS_ENCRYPTED_SECRETS = 2
UNENCRYPTED_SECRETS = 96

# Trust tiers (veraison/ear trusttier.go).
NONE, AFFIRMING, WARNING, CONTRAINDICATED = "none", "affirming", "warning", "contraindicated"
TIER_VALUES = {NONE: 0, AFFIRMING: 2, WARNING: 32, CONTRAINDICATED: 96}


def tier_of(value: int) -> str:
    """The tier of a claim value (veraison/ear trustclaim.go IsNone/IsAffirming/...)."""
    if -1 <= value <= 1:
        return NONE
    if -32 <= value <= -2 or 2 <= value <= 31:
        return AFFIRMING
    if -96 <= value <= -33 or 32 <= value <= 95:
        return WARNING
    return CONTRAINDICATED


def worst(tiers: list[str]) -> str:
    """The highest tier (none < affirming < warning < contraindicated)."""
    return max(tiers, key=lambda t: TIER_VALUES[t], default=NONE)


@dataclass
class Submod:
    """One EAR appraisal: a trust vector, the reason each claim has its value, and the
    problems Veraison would put in ``ear.veraison.policy-claims``."""

    name: str
    vector: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLAIMS, NO_CLAIM))
    reasons: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    def set(self, claim: str, value: int, reason: str) -> None:
        self.vector[claim] = value
        self.reasons[claim] = reason

    def set_all(self, value: int, reason: str) -> None:
        for claim in CLAIMS:
            self.set(claim, value, reason)

    @property
    def status(self) -> str:
        return worst([tier_of(v) for v in self.vector.values()])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "trustworthiness-vector": {
                c: {"value": self.vector[c], "tier": tier_of(self.vector[c]),
                    "reason": self.reasons.get(c, "no claim made")} for c in CLAIMS},
        }
        if self.problem is not None:
            out["problem"] = self.problem
        if self.details:
            out["details"] = self.details
        return out
