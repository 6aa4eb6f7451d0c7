"""Realm claims against realm reference values, as Veraison's arm-cca scheme compares them.

Mirrors veraison/services ``scheme/arm-cca/scheme.go`` ``GetReferenceValueIDs`` (realm
reference values are looked up by the token's RIM as class-id) and ``AppraiseRealm``:
the instance is trustworthy once the token chain verified; for each reference whose RIM
equals the token's: an RPV given and different makes ``executables`` contraindicated (96)
and the next reference is tried; otherwise RIM and RPV match (approved boot, 3) and, when
every REM the reference gives equals the token's, the runtime is approved (2). No reference
for the RIM leaves ``executables`` unrecognized (33). A looked-up reference whose ``cca.rim``
differs from its class-id RIM is Veraison's "verifier malfunction" (-1 everywhere).

rmtool also compares the realm hash algorithm (claim 44236) with the digests' algorithm,
which Veraison does not: reported always, lowering ``executables`` only with ``strict``;
``strict`` also makes a REM mismatch unrecognized (33) instead of Veraison's approved boot
(3, an affirming value).
"""

from __future__ import annotations

from collections.abc import Sequence

from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.endorsements import RealmReference
from rmtool.verify.token import _claims as C


def _short(value: bytes | None) -> str:
    return "-" if value is None else value.hex()[:8] + "…"


def same_measurement(reference: bytes, token: bytes) -> bool:
    """Equal bytes, or a reference at hash size against the token's zero-padded 64-byte slot
    (rmtool.verify.corim.realm reads such a slot at hash size)."""
    if reference == token:
        return True
    n = len(reference)
    return len(token) > n and token[:n] == reference and not any(token[n:])


def _hash_note(claims: C.RealmClaims, ref: RealmReference) -> str | None:
    algo = ref.values.hash_algo
    token = claims.hash_algo
    if algo is None or token is None:
        return None
    if algo.replace("-", "") != token.replace("-", ""):
        return (f"realm hash algorithm {token} differs from the reference digests' "
                f"algorithm {algo} ({ref.source})")
    return None


def realm_submod(claims: C.RealmClaims, references: Sequence[RealmReference], *,
                 strict: bool = False, name: str = "CCA_REALM") -> A.Submod:
    """The ``CCA_REALM`` appraisal of a realm token whose signature and binding verified."""
    sub = A.Submod(name)
    sub.set(A.INSTANCE_IDENTITY, A.TRUSTWORTHY_INSTANCE,
            "the realm token is signed by the RAK the verified platform token binds")
    rim = claims.rim or b""
    rems = claims.rems or []
    rpv = claims.personalization_value
    looked_up = [r for r in references
                 if r.lookup_id is not None and same_measurement(r.lookup_id, rim)]
    if not looked_up:
        known = sorted({_short(r.values.rim) for r in references})
        sub.set(A.EXECUTABLES, A.UNRECOGNIZED_RUNTIME,
                f"realm RIM {_short(rim)} matches no reference value"
                + (f" (reference RIMs: {', '.join(known)})" if known else
                   " (no realm reference values given)"))
        return sub
    sub.set(A.EXECUTABLES, A.UNRECOGNIZED_RUNTIME, "no reference value applies")
    for ref in looked_up:
        rv = ref.values
        if rv.rim is None or not same_measurement(rv.rim, rim):
            sub.set_all(A.VERIFIER_MALFUNCTION,
                        f"{ref.source}: looked up by RIM {_short(rim)} but its cca.rim is "
                        f"{_short(rv.rim)} (Veraison: verifier malfunction)")
            return sub
        if rv.rpv is not None and rv.rpv != rpv:
            sub.set(A.EXECUTABLES, A.CONTRAINDICATED_RUNTIME,
                    f"realm RIM {_short(rim)} matches {ref.source} but personalization value "
                    f"{_short(rpv)} differs from the reference {_short(rv.rpv)}")
            continue
        bad = [i for i, want in enumerate(rv.rems) if want
               and (i >= len(rems) or not same_measurement(want, rems[i]))]
        extra = _hash_note(claims, ref)
        suffix = f"; {extra}" if extra else ""
        if bad:
            i = bad[0]
            got = rems[i] if i < len(rems) else None
            text = (f"realm RIM and RPV match {ref.source} but REM{i} {_short(got)} differs "
                    f"from the reference {_short(rv.rems[i])}{suffix}")
            if strict:
                sub.set(A.EXECUTABLES, A.UNRECOGNIZED_RUNTIME, f"{text} (strict mode)")
            else:
                sub.set(A.EXECUTABLES, A.APPROVED_BOOT,
                        f"{text} (Veraison: approved boot, still affirming; --strict: "
                        "unrecognized)")
        elif extra and strict:
            sub.set(A.EXECUTABLES, A.UNRECOGNIZED_RUNTIME, f"{extra} (strict mode)")
        else:
            given = sum(1 for r in rv.rems if r)
            sub.set(A.EXECUTABLES, A.APPROVED_RUNTIME,
                    f"realm RIM {_short(rim)}, RPV and {given} REM(s) match {ref.source}"
                    + (f"; {extra} (Veraison does not compare it; --strict does)"
                       if extra else ""))
        return sub
    return sub
