"""rmtool appraise: Veraison's arm-cca appraisal, offline, against Veraison's own vectors.

Each test names the upstream file it mirrors (veraison/services at 6b8810297050, the commit the
corpus was taken from; veraison/ear at 961756edf6d7). Tokens that upstream does not ship are
made here from the corpus token ``services_arm-cca_cca-good.cbor`` by changing one claim and
re-signing with the corpus test keys (the CPAK ``services_ec.p256.jwk`` and the RAK
``services_ec.p384.jwk`` that veraison/services signs its evidence with).
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.cli.main import run
from rmtool.errors import CorimError
from rmtool.verify import cose
from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.appraisal import AppraisePolicy, appraise
from rmtool.verify.appraise.endorsements import (
    Endorsements,
    endorsements_from_bytes,
    load_endorsements,
)
from rmtool.verify.token import _claims as C
from rmtool.verify.token.codec import build_cca_token, decode_token, read_token
from tests.conftest import CORPUS, need_shared

CBOR = CORPUS / "corim" / "cbor"
GOOD_TOKEN = CORPUS / "tokens" / "services_arm-cca_cca-good.cbor"
E2E_TOKEN = CORPUS / "tokens" / "services_e2e_cca-evidence.cbor"
PLATFORM = CBOR / "services_armcca_corim-cca-platform-valid.cbor"
REALM = CBOR / "services_armcca_corim-cca-realm-valid.cbor"
CPAK = CORPUS / "tokens" / "keys" / "services_ec.p256.jwk"
RAK = CORPUS / "tokens" / "keys" / "services_ec.p384.jwk"
# scheme/arm-cca/scheme_test.go testNonce: the realm challenge of cca-good.cbor.
NONCE = base64.b64decode("byTWuWNaLIu/WOkIuU4Ewb+zroDN6+gyQkV4SZ/jF2Hn9eHYvOASGET1Sr36UobaiPU6"
                         "ZXsVM1yTlrQyklS8XA==")
IMPL_ID = bytes(32)
INST_ID = b"\x01" + b"\x02" * 32
# integration-tests/data/results/cca.good.json (the expected EAR of cca-good with both CoRIMs)
GOOD_PLATFORM_TV = {"configuration": 2, "executables": 2, "file-system": 0, "hardware": 2,
                    "instance-identity": 2, "runtime-opaque": 2, "sourced-data": 0,
                    "storage-opaque": 2}
GOOD_REALM_TV = {"configuration": 0, "executables": 2, "file-system": 0, "hardware": 0,
                 "instance-identity": 2, "runtime-opaque": 0, "sourced-data": 0,
                 "storage-opaque": 0}


@pytest.fixture(autouse=True)
def _shared() -> None:
    need_shared()


def _key(path: Path) -> Any:
    return cose.load_any_key_bytes(path.read_bytes(), path.name)


def _endorsements(*paths: Path) -> Endorsements:
    return load_endorsements([str(p) for p in paths])


def _resigned(platform_edit: dict[int, Any] | None = None,
              realm_edit: dict[int, Any] | None = None, *,
              sw_edit: tuple[int, int, Any] | None = None) -> bytes:
    """cca-good with claims changed, both tokens re-signed with the corpus CPAK and RAK."""
    tok = read_token(str(GOOD_TOKEN))
    assert tok.platform is not None and tok.realm is not None
    plat = copy.deepcopy(tok.platform.raw_claims)
    realm = copy.deepcopy(tok.realm.raw_claims)
    plat.update(platform_edit or {})
    realm.update(realm_edit or {})
    if sw_edit is not None:
        index, label, value = sw_edit
        plat[C.P_SW_COMPONENTS][index][label] = value
    return build_cca_token(realm, rak=_key(RAK), cpak=_key(CPAK), platform=plat)


def _appraise(token: bytes, *corims: Path, challenge: bytes | None = NONCE,
              strict: bool = False) -> Any:
    return appraise(decode_token(token), _endorsements(*corims),
                    AppraisePolicy(challenge=challenge, strict=strict))


def _corim(profile: str, triples: dict[int, Any]) -> bytes:
    comid = {1: {0: b"rmtool-test-tag"}, 4: triples}
    return cbor2.dumps(cbor2.CBORTag(501, {0: "test", 1: [cbor2.CBORTag(506, cbor2.dumps(comid))],
                                           3: cbor2.CBORTag(32, profile)}))


def _ta_corim(key: cose.PublicKey, impl: bytes = IMPL_ID,
              inst: bytes = INST_ID) -> bytes:
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    env = {0: {0: cbor2.CBORTag(560, impl)}, 1: cbor2.CBORTag(550, inst)}
    return _corim("tag:arm.com,2025:cca_platform#1.0.0",
                  {3: [[env, [cbor2.CBORTag(554, pem)]]]})


# ---------------------------------------------------------------- CoRIM extraction

# scheme/arm-cca/corim_test.go TestProfile: each bad CoRIM and the error upstream expects.
UPSTREAM_BAD = [
    ("services_armcca_corim-cca-platform-bad-no-class.cbor", "environment.class is required"),
    ("services_armcca_corim-cca-platform-bad-ta-no-instance.cbor",
     "environment.instance (instance-id) is required"),
    ("services_armcca_corim-cca-platform-bad-ta-instance.cbor",
     "instance-id must be of type 'ueid', got 'bytes'"),
    ("services_armcca_corim-cca-platform-bad-ta-cert.cbor",
     "verification-key must be of type 'pkix-base64-key', got 'pkix-base64-cert'"),
    ("services_armcca_corim-cca-platform-bad-refval-no-mkey.cbor",
     "mkey is mandatory but not set"),
    ("services_armcca_corim-cca-platform-bad-refval-mkey.cbor",
     "mkey must be of type 'string', got 'uint'"),
    ("services_armcca_corim-cca-platform-bad-refval-mkey-string.cbor",
     'invalid mkey "cca.bad-component"'),
    ("services_armcca_corim-cca-platform-bad-refval-cryptokeys.cbor",
     "cryptokeys (signer-id) must be of type 'bytes'"),
    ("services_armcca_corim-cca-platform-bad-refval-no-digests.cbor",
     "digests field is mandatory but not set"),
    ("services_armcca_corim-cca-platform-bad-refval-no-raw-value.cbor",
     "raw-value is mandatory for cca.platform-config"),
    ("services_armcca_corim-cca-realm-bad-instance.cbor",
     "RIM must be of type 'bytes', got 'uuid'"),
    ("services_armcca_corim-cca-realm-bad-no-instance.cbor",
     "environment.class is required for CCA Realm profile"),
    ("services_armcca_corim-cca-realm-bad-no-rim.cbor",
     "RIM (cca.rim) measurement is mandatory but not found"),
    ("services_armcca_corim-cca-realm-bad-no-raw-value.cbor", "raw-value is mandatory for cca.rpv"),
    ("services_armcca_corim-cca-realm-bad-no-integ-regs.cbor",
     "digests field is mandatory but not set"),
    # veraison/corim profiles/cca/testcases (platform.go / realm.go / psa.go checks)
    ("corimlib_cca_cca-platform-invalid-impl-id.cbor",
     "implementation-id must be exactly 32 bytes (got 30)"),
    ("corimlib_cca_cca-platform-invalid-digests.cbor", "wrong hash digest size"),
    ("corimlib_cca_cca-realm-invalid-missing-rim.cbor",
     "RIM (cca.rim) measurement is mandatory but not found"),
    ("corimlib_cca_cca-realm-invalid-rim-size.cbor", "RIM must be 32, 48, or 64 bytes"),
    ("corimlib_cca_no-profile.cbor", "CoRIM has no profile"),
]


@pytest.mark.parametrize(("name", "reason"), UPSTREAM_BAD)
def test_bad_corim_is_refused_with_upstreams_reason(name: str, reason: str) -> None:
    with pytest.raises(CorimError) as exc:
        endorsements_from_bytes((CBOR / name).read_bytes(), name)
    assert reason in str(exc.value)


def test_bad_corim_makes_appraise_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A refused CoRIM is unusable input, never a verdict (scheme/arm-cca/corim_test.go)."""
    bad = CBOR / "services_armcca_corim-cca-platform-bad-ta-cert.cbor"
    assert run(["appraise", str(GOOD_TOKEN), "--corim", str(bad), "--corim", str(REALM)]) == 2
    assert "got 'pkix-base64-cert'" in capsys.readouterr().err


def test_platform_corim_values() -> None:
    """services_armcca_corim-cca-platform-valid (test/corim/src/comid-cca-platform-*.json)."""
    e = _endorsements(PLATFORM)
    assert len(e.trust_anchors) == 1
    ta = e.trust_anchors[0]
    assert (ta.implementation_id, ta.instance_id) == (IMPL_ID, INST_ID)
    cpak = cose.public_of(_key(CPAK))
    assert isinstance(ta.key, ec.EllipticCurvePublicKey)
    assert isinstance(cpak, ec.EllipticCurvePublicKey)
    assert ta.key.public_numbers() == cpak.public_numbers()
    [ref] = e.platform
    assert [c.label for c in ref.components] == ["BL", "M1", "M2", "M3"]
    assert [c.digests[0][1][:1].hex() for c in ref.components] == ["07", "0b", "0f", "13"]
    assert ref.config == b"\x01\x02\x03"
    assert ref.components[0].signer_id is not None
    assert ref.components[0].signer_id.hex()[:8] == "53787963"


def test_platform_corim_agrees_with_its_cocli_source() -> None:
    """The CBOR CoRIM read as the cocli template it was compiled from says
    (test/corim/src/comid-cca-platform-refval.json, -ta.json; compile-endorsements.sh)."""
    src = CORPUS / "corim" / "json"
    refval = json.loads((src / "services_armcca_src_comid-cca-platform-refval.json").read_text())
    [triple] = refval["triples"]["reference-values"]
    want = [(m["value"]["name"], base64.urlsafe_b64decode(m["value"]["digests"][0][1] + "=="),
             base64.b64decode(m["value"]["cryptokeys"][0]["value"]))
            for m in triple["measurements"] if m["key"]["value"] == "cca.software-component"]
    [ref] = _endorsements(PLATFORM).platform
    assert [(c.label, c.digests[0][1], c.signer_id) for c in ref.components] == want
    ta = json.loads((src / "services_armcca_src_comid-cca-platform-ta.json").read_text())
    [avk] = ta["triples"]["attester-verification-keys"]
    [anchor] = _endorsements(PLATFORM).trust_anchors
    assert anchor.key_pem().strip() == avk["verification-keys"][0]["value"].strip()
    assert anchor.instance_id == base64.b64decode(avk["environment"]["instance"]["value"])


def test_realm_corim_values() -> None:
    e = _endorsements(REALM)
    [ref] = e.realms
    assert ref.values.rim == b"C" * 64 and ref.lookup_id == b"C" * 64
    assert ref.values.rems == [b"C" * 64] * 4
    assert ref.values.rpv == b"AD" * 32


# ---------------------------------------------------------------- Veraison's outcomes

def test_good_token_affirming_as_in_cca_good_json() -> None:
    """integration-tests/data/results/cca.good.json; scheme_test.go
    TestImplementation_AppraiseClaims_Platform_Valid and _Realm_Valid."""
    r = _appraise(GOOD_TOKEN.read_bytes(), PLATFORM, REALM)
    subs = {s.name: s for s in r.submods}
    assert subs["CCA_SSD_PLATFORM"].vector == GOOD_PLATFORM_TV
    assert subs["CCA_REALM"].vector == GOOD_REALM_TV
    assert [s.status for s in r.submods] == ["affirming", "affirming"]
    assert r.status == "affirming" and r.exit_code == 0
    assert r.trust_anchor is not None and r.trust_anchor.instance_id == INST_ID
    assert r.waived == []


def test_end_to_end_legacy_corims_affirming() -> None:
    """end-to-end/input (cca-endorsements.cbor, cca-realm-endorsements.cbor, the earlier
    profiles) with cca-evidence.cbor: integration-tests/data/results/cca.end-to-end.json.
    Without a nonce the freshness check is named as not made."""
    r = appraise(read_token(str(E2E_TOKEN)),
                 _endorsements(CBOR / "services_e2e_cca-endorsements.cbor",
                               CBOR / "services_e2e_cca-realm-endorsements.cbor"))
    subs = {s.name: s for s in r.submods}
    assert subs["CCA_SSD_PLATFORM"].vector == GOOD_PLATFORM_TV
    assert subs["CCA_REALM"].vector == GOOD_REALM_TV
    assert r.status == "affirming"
    assert r.waived and r.waived[0].startswith("freshness: no --challenge")


def test_no_realm_endorsements_is_warning() -> None:
    """scheme_test.go TestImplementation_AppraiseClaims_Realm_NoEndorsements."""
    r = _appraise(GOOD_TOKEN.read_bytes(), PLATFORM)
    realm = {s.name: s for s in r.submods}["CCA_REALM"]
    assert realm.status == "warning"
    assert realm.vector[A.EXECUTABLES] == A.UNRECOGNIZED_RUNTIME == 33
    assert realm.vector[A.INSTANCE_IDENTITY] == 2
    assert realm.reasons[A.EXECUTABLES].startswith("realm RIM 43434343… matches no reference")
    assert r.exit_code == 1


def test_changed_rim_is_unrecognized_runtime() -> None:
    """A realm whose RIM changed (an extra page of image, another kernel): the RIM lookup of
    GetReferenceValueIDs finds nothing (scheme_test.go _Realm_MismatchRIM: warning, 33)."""
    token = _resigned(realm_edit={C.R_RIM: b"D" * 64})
    r = _appraise(token, PLATFORM, REALM)
    realm = {s.name: s for s in r.submods}["CCA_REALM"]
    assert realm.vector == {**GOOD_REALM_TV, "executables": 33}
    assert realm.reasons[A.EXECUTABLES] == ("realm RIM 44444444… matches no reference value "
                                            "(reference RIMs: 43434343…)")
    assert r.status == "warning" and r.exit_code == 1


def test_changed_rpv_is_contraindicated() -> None:
    """scheme.go AppraiseRealm: RIM found, RPV differs -> ContraindicatedRuntimeClaim (96)."""
    r = _appraise(_resigned(realm_edit={C.R_PERSONALIZATION: b"X" * 64}), PLATFORM, REALM)
    realm = {s.name: s for s in r.submods}["CCA_REALM"]
    assert realm.vector[A.EXECUTABLES] == 96
    assert "personalization value 58585858… differs from the reference 41444144…" in \
        realm.reasons[A.EXECUTABLES]
    assert r.status == "contraindicated"


def test_changed_rem_is_approved_boot_only() -> None:
    """scheme.go AppraiseRealm: RIM and RPV match, a REM differs -> ApprovedBootClaim (3),
    still affirming in Veraison; --strict makes it unrecognized (33)."""
    token = _resigned(realm_edit={C.R_REMS: [b"C" * 64, b"E" * 64, b"C" * 64, b"C" * 64]})
    realm = {s.name: s for s in _appraise(token, PLATFORM, REALM).submods}["CCA_REALM"]
    assert realm.vector[A.EXECUTABLES] == 3
    assert "REM1 45454545… differs from the reference 43434343…" in realm.reasons[A.EXECUTABLES]
    strict = {s.name: s for s in _appraise(token, PLATFORM, REALM, strict=True).submods}
    assert strict["CCA_REALM"].vector[A.EXECUTABLES] == 33


def test_swapped_platform_component_digest() -> None:
    """A firmware image replaced: matchPlatformClaimsToReferenceValues finds no reference
    for the digest -> UnrecognizedRuntimeClaim (33); the reason names the component."""
    token = _resigned(sw_edit=(1, C.SW_MEASUREMENT_VALUE, bytes.fromhex("7b8e" + "00" * 30)))
    plat = {s.name: s for s in _appraise(token, PLATFORM, REALM).submods}["CCA_SSD_PLATFORM"]
    assert plat.vector == {**GOOD_PLATFORM_TV, "executables": 33}
    assert plat.reasons[A.EXECUTABLES] == ("platform component M1 version 1.2.0 digest 7b8e0000… "
                                           "matches no reference value")


def test_swapped_component_types_do_not_match() -> None:
    """The BL digest reported as M1: the reference's measurement type must match."""
    token = _resigned(sw_edit=(0, C.SW_MEASUREMENT_TYPE, "M1"))
    plat = {s.name: s for s in _appraise(token, PLATFORM, REALM).submods}["CCA_SSD_PLATFORM"]
    assert plat.vector[A.EXECUTABLES] == 33
    assert "its digest is endorsed for measurement type BL" in plat.reasons[A.EXECUTABLES]


def test_changed_config_is_unsafe_configuration() -> None:
    plat = {s.name: s for s in _appraise(_resigned({C.P_CONFIG: b"\x01\x02\x04"}), PLATFORM,
                                         REALM).submods}["CCA_SSD_PLATFORM"]
    assert plat.vector == {**GOOD_PLATFORM_TV, "configuration": 32}
    assert plat.reasons[A.CONFIGURATION] == ("platform config 010204 differs from the reference "
                                             "value 010203")


def test_debug_lifecycle_is_contraindicated() -> None:
    """AppraisePlatform: a lifecycle other than secured / non-CCA-platform-debug."""
    r = _appraise(_resigned({C.P_LIFECYCLE: 0x5000}), PLATFORM, REALM)
    plat = {s.name: s for s in r.submods}["CCA_SSD_PLATFORM"]
    assert (plat.vector[A.INSTANCE_IDENTITY], plat.vector[A.RUNTIME_OPAQUE],
            plat.vector[A.STORAGE_OPAQUE]) == (96, 96, 96)
    assert r.status == "contraindicated"


def test_signer_ids_are_compared_only_when_strict() -> None:
    """Veraison keys reference values by digest and never reads the signer id (the valid
    platform CoRIM's signer id 5378… differs from the token's 0706…); --strict compares it."""
    plain = {s.name: s for s in _appraise(GOOD_TOKEN.read_bytes(), PLATFORM, REALM).submods}
    assert plain["CCA_SSD_PLATFORM"].vector[A.EXECUTABLES] == 2
    assert "Veraison does not compare signer ids" in \
        plain["CCA_SSD_PLATFORM"].reasons[A.EXECUTABLES]
    strict = _appraise(GOOD_TOKEN.read_bytes(), PLATFORM, REALM, strict=True)
    assert {s.name: s for s in strict.submods}["CCA_SSD_PLATFORM"].vector[A.EXECUTABLES] == 33
    assert strict.exit_code == 1


# ---------------------------------------------------------------- crypto failures (all 99)

def _failed(r: Any, problem: str) -> str:
    [sub] = r.submods
    assert sub.name == "ARM_CCA"
    assert sub.vector == dict.fromkeys(A.CLAIMS, 99)
    assert sub.status == "contraindicated" and r.exit_code == 1
    assert sub.problem.startswith(problem)
    return str(sub.reasons[A.HARDWARE])


def test_wrong_challenge_fails_integrity(tmp_path: Path) -> None:
    """scheme_test.go TestImplementation_ValidateEvidenceIntegrity_NonceMismatch; the
    pipeline then sets every claim to CryptoValidationFailedClaim (trustedservices_grpc.go)."""
    r = _appraise(GOOD_TOKEN.read_bytes(), PLATFORM, REALM, challenge=b"wrongnonce")
    reason = _failed(r, "integrity validation failed")
    assert "realm.challenge: realm challenge 6f24d6b9" in reason
    assert "!= expected 77726f6e676e6f6e6365" + "00" * 54 in reason


def test_short_challenge_is_zero_padded() -> None:
    """ValidateEvidenceIntegrity zero-pads a shorter nonce to 64 bytes, as the RMM pads it."""
    token = _resigned(realm_edit={C.CHALLENGE: b"\xab" * 32 + bytes(32)})
    r = _appraise(token, PLATFORM, REALM, challenge=b"\xab" * 32)
    assert r.status == "affirming"


def test_wrong_trust_anchor_fails_integrity(tmp_path: Path) -> None:
    """The CPAK endorsed for this instance is another key: the platform signature fails
    (scheme_test.go _ValidateEvidenceIntegrity_BadKey)."""
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = tmp_path / "ta.cbor"
    path.write_bytes(_ta_corim(other))
    r = _appraise(GOOD_TOKEN.read_bytes(), path, REALM)
    assert "platform.signature: no given key verifies it" in _failed(
        r, "integrity validation failed")


def test_unknown_implementation_id_has_no_trust_anchor(tmp_path: Path) -> None:
    """GetTrustAnchorIDs + store lookup: no attest-key triple for the token's
    implementation id -> "no trust anchor for evidence" (trustedservices_grpc.go)."""
    path = tmp_path / "ta.cbor"
    path.write_bytes(_ta_corim(cose.public_of(_key(CPAK)), impl=b"\x11" * 32))
    r = _appraise(GOOD_TOKEN.read_bytes(), path, REALM)
    reason = _failed(r, "no trust anchor for evidence")
    assert "unknown implementation id (endorsed: 1111111111111111…)" in reason


def test_other_instance_of_known_implementation(tmp_path: Path) -> None:
    path = tmp_path / "ta.cbor"
    path.write_bytes(_ta_corim(cose.public_of(_key(CPAK)), inst=b"\x01" + b"\x09" * 32))
    reason = _failed(_appraise(GOOD_TOKEN.read_bytes(), path, REALM),
                     "no trust anchor for evidence")
    assert "no trust anchor for this instance id" in reason


def test_two_keys_for_one_instance_is_verifier_malfunction(tmp_path: Path) -> None:
    """common.ExtractOneVerifKey: more than one trust anchor -> an error that is not bad
    evidence, i.e. VerifierMalfunctionClaim (-1) everywhere (status none, exit 1)."""
    path = tmp_path / "ta.cbor"
    path.write_bytes(_ta_corim(ec.generate_private_key(ec.SECP256R1()).public_key()))
    r = _appraise(GOOD_TOKEN.read_bytes(), PLATFORM, path, REALM)
    [sub] = r.submods
    assert sub.vector == dict.fromkeys(A.CLAIMS, -1)
    assert r.status == "none" and r.exit_code == 1


def test_platform_only_token_fails_identity() -> None:
    token = read_token(str(CORPUS / "tokens" / "platform" / "tfmtools_cca_platform_token.cbor"))
    r = appraise(token, _endorsements(PLATFORM, REALM))
    assert "the token has no realm token" in _failed(
        r, "could not establish identity from evidence")


# ---------------------------------------------------------------- CLI

def test_cli_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["appraise", str(GOOD_TOKEN), "--corim", str(PLATFORM), "--corim", str(REALM),
                "--challenge", NONCE.hex(), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["ear.status"] == "affirming"
    tv = out["submods"]["CCA_SSD_PLATFORM"]["trustworthiness-vector"]
    assert {k: v["value"] for k, v in tv.items()} == GOOD_PLATFORM_TV
    assert tv["hardware"]["reason"] == "the platform token is signed by the endorsed CPAK"
    assert out["trust_anchor"]["instance_id"] == INST_ID.hex()
    assert out["ear"] is None


def test_cli_warning_exit_1_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["appraise", str(GOOD_TOKEN), "--corim", str(PLATFORM),
                "--challenge", NONCE.hex()])
    out = capsys.readouterr().out
    assert code == 1
    assert "submod CCA_REALM: warning" in out
    assert "ear.status: warning" in out


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["appraise", str(GOOD_TOKEN)]) == 2
    assert "give the endorsements" in capsys.readouterr().err
    assert run(["appraise", str(GOOD_TOKEN), "--corim", str(PLATFORM), "--challenge", "zz"]) == 2
    assert "--challenge 'zz' is not hex" in capsys.readouterr().err
    assert run(["appraise", str(GOOD_TOKEN), "--corim", str(PLATFORM), "--ear-key",
                str(CPAK)]) == 2
    assert "give --ear" in capsys.readouterr().err
    junk = tmp_path / "junk.cbor"
    junk.write_bytes(b"\xa1")
    assert run(["appraise", str(junk), "--corim", str(PLATFORM)]) == 2


def test_mutated_corims_are_refused_not_crashed() -> None:
    """Hostile CoRIMs: every single-byte change of the valid platform and realm CoRIMs is
    either still readable or refused as one RmtoolError (exit 2), never another exception."""
    from rmtool.errors import RmtoolError

    outcomes = {"read": 0, "refused": 0}
    for path in (PLATFORM, REALM):
        data = path.read_bytes()
        for i in range(0, len(data), 3):
            mutated = bytearray(data)
            mutated[i] ^= 0x5A
            try:
                endorsements_from_bytes(bytes(mutated), path.name)
                outcomes["read"] += 1
            except RmtoolError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and outcomes["read"] > 0
