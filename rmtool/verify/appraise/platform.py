"""Platform claims against platform reference values, as Veraison's arm-cca scheme compares them.

Mirrors veraison/services ``scheme/arm-cca/scheme.go`` ``matchPlatformClaimsToReferenceValues``
and ``AppraisePlatform``:

* the reference software components form one table keyed by digest (a later reference with
  the same digest replaces an earlier one); every token component must find its
  measurement value there, and the reference's measurement type (name) and version must
  equal the token's where the reference gives them;
* the platform config claim must equal the raw-value of ``cca.platform-config`` byte for
  byte (the raw-value-mask is not applied; no reference and no claim compare equal);
* the security lifecycle (PSA/CCA lifecycle, ``ccatoken`` ``LifeCycleToState``) "secured"
  or "non CCA platform debug" makes the instance trustworthy, runtime memory and storage
  hardware-protected; any other state makes all three contraindicated.

rmtool also compares the signer id, which Veraison does not: a difference is reported in
every mode, and lowers ``executables`` only with ``strict`` (docs/appraise.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.endorsements import PlatformReference, SwComponentRef
from rmtool.verify.token import _claims as C

#: Lifecycle states (``rmtool.verify.token._claims.lifecycle_state`` names) that Veraison
#: treats as a trustworthy platform: PSA "secured" and "non PSA RoT debug" (CCA: non CCA
#: platform debug).
TRUSTED_LIFECYCLES = ("secured", "non-psa-rot-debug")


def _short(value: bytes | None) -> str:
    return "-" if value is None else value.hex()[:8] + "…"


@dataclass
class ComponentResult:
    """How one token software component compares with the reference values."""

    index: int
    measurement_type: str | None
    version: str | None
    digest: bytes | None
    signer_id: bytes | None
    matched: bool
    reason: str
    reference: str | None = None
    signer_id_differs: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "measurement_type": self.measurement_type,
                "version": self.version, "digest": C.hexs(self.digest),
                "signer_id": C.hexs(self.signer_id), "matched": self.matched,
                "signer_id_differs": self.signer_id_differs, "reason": self.reason,
                "reference": self.reference}


@dataclass
class PlatformComparison:
    """Result of :func:`appraise_platform`: config, components and the tiers they earn."""

    config_matched: bool
    config_reason: str
    components: list[ComponentResult] = field(default_factory=list)
    strict: bool = False

    @property
    def sw_matched(self) -> bool:
        """Veraison's verdict: every component's digest, type and version match."""
        return bool(self.components) and all(c.matched for c in self.components)

    @property
    def signer_ids_match(self) -> bool:
        return not any(c.signer_id_differs for c in self.components)

    @property
    def executables_ok(self) -> bool:
        return self.sw_matched and (self.signer_ids_match or not self.strict)

    def executables_reason(self) -> str:
        bad = [c for c in self.components if not c.matched]
        if bad:
            return "; ".join(c.reason for c in bad)
        if not self.components:
            return "the token lists no software components"
        differs = [c for c in self.components if c.signer_id_differs]
        text = f"all {len(self.components)} platform components match reference values"
        if differs:
            mode = "strict mode: unrecognized" if self.strict else \
                "Veraison does not compare signer ids; --strict does"
            text += "; but " + "; ".join(c.reason for c in differs) + f" ({mode})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"config_matched": self.config_matched, "config_reason": self.config_reason,
                "sw_matched": self.sw_matched, "signer_ids_match": self.signer_ids_match,
                "components": [c.to_json() for c in self.components]}


def _reference_table(refs: Sequence[PlatformReference]) -> dict[bytes, SwComponentRef]:
    table: dict[bytes, SwComponentRef] = {}
    for ref in refs:
        for comp in ref.components:
            for _, digest in comp.digests[:1]:  # Veraison reads exactly one digest
                table[digest] = comp
    return table


def _reference_config(refs: Sequence[PlatformReference]) -> bytes | None:
    config: bytes | None = None
    for ref in refs:
        if ref.config is not None:
            config = ref.config  # the last one, as Veraison's loop keeps it
    return config


def _component(i: int, comp: C.SwComponent, table: dict[bytes, SwComponentRef]
               ) -> ComponentResult:
    label = comp.measurement_type or f"sw_components[{i}]"
    what = f"platform component {label} version {comp.version or '(none)'} digest " \
        f"{_short(comp.measurement_value)}"
    res = ComponentResult(i, comp.measurement_type, comp.version, comp.measurement_value,
                          comp.signer_id, False, "")
    if comp.measurement_value is None:
        res.reason = f"{what} has no measurement value"
        return res
    ref = table.get(comp.measurement_value)
    if ref is None:
        res.reason = f"{what} matches no reference value"
        return res
    res.reference = ref.source
    if ref.label and ref.label != comp.measurement_type:
        res.reason = f"{what}: its digest is endorsed for measurement type {ref.label}"
        return res
    if ref.version and ref.version != comp.version:
        res.reason = f"{what}: its digest is endorsed for version {ref.version}"
        return res
    res.matched = True
    res.reason = f"{what} matches {ref.describe()}"
    if ref.signer_id is not None and comp.signer_id != ref.signer_id:
        res.signer_id_differs = True
        res.reason = (f"{what}: signer id {_short(comp.signer_id)} differs from the "
                      f"reference signer id {_short(ref.signer_id)}")
    return res


def appraise_platform(claims: C.PlatformClaims, references: Sequence[PlatformReference],
                      *, strict: bool = False) -> PlatformComparison:
    """Compare the platform config and every software component of ``claims`` with the
    platform reference values ``references`` (those endorsed for the token's
    implementation id; :func:`references_for` selects them)."""
    ref_config = _reference_config(references)
    token_config = claims.config or b""
    if token_config == (ref_config or b""):
        config_reason = (f"platform config {token_config.hex() or '(empty)'} equals the "
                         "reference value" if ref_config is not None else
                         "neither the token nor the reference values give a platform config")
        matched = True
    else:
        matched = False
        config_reason = (f"platform config {token_config.hex() or '(empty)'} differs from the "
                         f"reference value {ref_config.hex()}" if ref_config is not None else
                         f"platform config {token_config.hex()} has no reference value "
                         f"({'cca.platform-config'} not endorsed)")
    table = _reference_table(references)
    comps = [_component(i, c, table) for i, c in enumerate(claims.sw_components or [])]
    return PlatformComparison(matched, config_reason, comps, strict)


def references_for(claims: C.PlatformClaims, references: Sequence[PlatformReference]
                   ) -> list[PlatformReference]:
    """The reference triples a store lookup by the token's implementation id returns."""
    return [r for r in references if r.implementation_id == claims.implementation_id]


def platform_submod(claims: C.PlatformClaims, references: Sequence[PlatformReference],
                    *, strict: bool = False, name: str = "CCA_SSD_PLATFORM"
                    ) -> tuple[A.Submod, PlatformComparison]:
    """The ``CCA_SSD_PLATFORM`` appraisal of a token whose signatures verified."""
    sub = A.Submod(name)
    sub.set(A.HARDWARE, A.GENUINE_HARDWARE,
            "the platform token is signed by the endorsed CPAK")
    state = C.lifecycle_state(claims.lifecycle) if claims.lifecycle is not None else "absent"
    lc = f"lifecycle {state} ({claims.lifecycle:#06x})" if claims.lifecycle is not None \
        else "lifecycle claim absent"
    if state in TRUSTED_LIFECYCLES:
        sub.set(A.INSTANCE_IDENTITY, A.TRUSTWORTHY_INSTANCE, f"{lc}: a trustworthy instance")
        sub.set(A.RUNTIME_OPAQUE, A.APPROVED_RUNTIME, f"{lc}: runtime memory protected")
        sub.set(A.STORAGE_OPAQUE, A.HW_KEYS_ENCRYPTED_SECRETS,
                f"{lc}: secrets protected by hardware keys")
    else:
        sub.set(A.INSTANCE_IDENTITY, A.UNTRUSTWORTHY_INSTANCE,
                f"{lc} is neither secured nor non-CCA-platform debug")
        sub.set(A.RUNTIME_OPAQUE, A.VISIBLE_MEMORY_RUNTIME, f"{lc}: runtime memory visible")
        sub.set(A.STORAGE_OPAQUE, A.UNENCRYPTED_SECRETS, f"{lc}: secrets not protected")
    selected = references_for(claims, references)
    cmp = appraise_platform(claims, selected, strict=strict)
    if not selected:
        none = (f"no platform reference values for implementation id "
                f"{C.hexs(claims.implementation_id)}")
        cmp.config_reason = f"{cmp.config_reason} ({none})"
    sub.set(A.CONFIGURATION, A.APPROVED_CONFIG if cmp.config_matched else A.UNSAFE_CONFIG,
            cmp.config_reason)
    sub.set(A.EXECUTABLES,
            A.APPROVED_RUNTIME if cmp.executables_ok else A.UNRECOGNIZED_RUNTIME,
            cmp.executables_reason())
    sub.details = [c.to_json() for c in cmp.components]
    return sub, cmp
