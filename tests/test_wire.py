"""The platform comparison of ``rmtool appraise`` reused by ``compare`` and ``diagnose``
(issue 16: "a platform-side failure is named there too").

Endorsements are Veraison's own vectors in the shared corpus (the arm-cca platform and realm
CoRIMs of veraison/services, tests/test_appraise.py reads the same); tokens are the corpus
token ``services_arm-cca_cca-good.cbor`` or a Realm measured here (examples/03's failed
attestation, tests/test_report.py) whose platform claims are cca-good's, re-signed with the
corpus CPAK ``services_ec.p256.jwk`` and a RAK generated here. The attacks: a firmware
component swapped, a debug lifecycle, a changed platform config, each with realm claims that
match, so only the platform comparison can stop a MATCH.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.cli.main import run
from rmtool.verify import cose
from rmtool.verify.token import _claims as C
from rmtool.verify.token.codec import (
    build_cca_token,
    make_platform_claims,
    make_realm_claims,
    read_token,
)
from tests.conftest import CORPUS, need_shared
from tests.test_report import HOST, KVMTOOL, Scenario, make_scenario

CBOR = CORPUS / "corim" / "cbor"
GOOD_TOKEN = CORPUS / "tokens" / "services_arm-cca_cca-good.cbor"
PLATFORM = CBOR / "services_armcca_corim-cca-platform-valid.cbor"
REALM = CBOR / "services_armcca_corim-cca-realm-valid.cbor"
CPAK = CORPUS / "tokens" / "keys" / "services_ec.p256.jwk"
SWAPPED = bytes.fromhex("7b8e" + "00" * 30)
SWAPPED_REASON = ("platform component M1 version 1.2.0 digest 7b8e0000… matches no reference "
                  "value")
# the Realm that was started (examples/03: the changed initrd) and the one expected
STARTED = [*HOST, "-k", "Image", "-i", "initrd-changed.cpio", "kvmtool", *KVMTOOL]
EXPECTED = [*HOST, "-k", "Image", "-i", "initrd.cpio", "kvmtool", *KVMTOOL]


@pytest.fixture(autouse=True)
def _shared() -> None:
    need_shared()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("wire"))


@pytest.fixture()
def in_scenario(scenario: Scenario) -> Iterator[Path]:
    cwd = os.getcwd()
    os.chdir(scenario.dir)
    try:
        yield scenario.dir
    finally:
        os.chdir(cwd)


def _cpak() -> Any:
    return cose.load_any_key_bytes(CPAK.read_bytes(), CPAK.name)


def _good_platform() -> C.PlatformClaims:
    tok = read_token(str(GOOD_TOKEN))
    assert tok.platform is not None
    return copy.deepcopy(tok.platform.claims)


def _token(path: Path, measured: dict[str, Any], *, swap: bytes | None = None,
           **platform: Any) -> Path:
    """A token of the MEASURED Realm whose platform claims are cca-good's (CHANGES
    applied, component 1's digest replaced by SWAP), bound to a fresh RAK."""
    rak = ec.generate_private_key(ec.SECP384R1())
    realm = make_realm_claims(rak, rim=bytes.fromhex(measured["rim"]),
                              rems=[bytes.fromhex(r) for r in measured["rems"]])
    good = _good_platform()
    plat = make_platform_claims(realm, implementation_id=good.implementation_id or b"",
                                instance_id=good.instance_id or b"")
    plat.config, plat.lifecycle, plat.sw_components = good.config, good.lifecycle, \
        good.sw_components
    assert plat.sw_components is not None
    if swap is not None:
        plat.sw_components[1].measurement_value = swap
    for name, value in platform.items():
        setattr(plat, name, value)
    path.write_bytes(build_cca_token(realm, rak=rak, cpak=_cpak(), platform=plat))
    return path


def _json(capsys: pytest.CaptureFixture[str], args: list[str], status: int) -> dict[str, Any]:
    capsys.readouterr()
    assert run(args) == status
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _started(d: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((d / "started.json").read_text())
    return doc


# ---------------------------------------------------------------- compare


def test_compare_good_token_with_both_corims_is_a_match(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Control: cca-good against Veraison's valid platform and realm CoRIMs (--corim is
    repeatable): every component matches, exit 0, the platform part in the JSON."""
    doc = _json(capsys, ["compare", str(GOOD_TOKEN), "--platform-key", str(CPAK), "--corim",
                         str(PLATFORM), "--corim", str(REALM), "--format", "json"], 0)
    assert doc["result"] == "match"
    plat = doc["platform"]
    assert plat["result"] == "match" and plat["problems"] == []
    assert plat["implementation_id"] == "00" * 32 and plat["references"] == 1
    assert [(c["measurement_type"], c["version"], c["matched"]) for c in plat["components"]] \
        == [("BL", "3.4.2", True), ("M1", "1.2.0", True), ("M2", "1.2.3", True),
            ("M3", "1.0.0", True)]
    assert plat["config"] == {"matched": True,
                              "reason": "platform config 010203 equals the reference value"}
    assert plat["lifecycle"] == {"ok": True,
                                 "reason": "lifecycle secured (0x3000): a trustworthy instance"}


def test_compare_swapped_firmware_component_is_a_mismatch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The attack: the realm claims match their references, one platform firmware image
    was replaced. Before, compare said MATCH (exit 0); now MISMATCH (exit 1), the
    component named with appraise's sentence in the JSON and the table."""
    tok = read_token(str(GOOD_TOKEN))
    assert tok.realm is not None
    realm = tok.realm.claims
    measured = {"rim": (realm.rim or b"").hex(), "rems": [r.hex() for r in realm.rems or []]}
    token = _token(tmp_path / "swapped.cbor", measured, swap=SWAPPED)
    rim = (realm.rim or b"").hex()
    base = ["compare", str(token), "--platform-key", str(CPAK), "--corim", str(PLATFORM),
            "--rim", rim]
    doc = _json(capsys, [*base, "--format", "json"], 1)
    assert doc["claims_result"] == "match" and doc["result"] == "mismatch"
    assert doc["platform"]["result"] == "mismatch"
    assert doc["platform"]["problems"] == [{"message": SWAPPED_REASON}]
    assert [c["matched"] for c in doc["platform"]["components"]] == [True, False, True, True]
    assert run(base) == 1
    out = capsys.readouterr().out
    assert "platform: MISMATCH" in out and f"- {SWAPPED_REASON}" in out
    assert "verdict: MISMATCH (platform: 1 problem)" in out


def test_compare_platform_only_corim_without_realm_reference_is_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A platform CoRIM gives no realm reference: with nothing else, no reference at all
    (exit 2, as before), never a vacuous match."""
    assert run(["compare", str(GOOD_TOKEN), "--platform-key", str(CPAK), "--corim",
                str(PLATFORM)]) == 2
    assert "no reference values given" in capsys.readouterr().err


def test_compare_debug_lifecycle_and_changed_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tok = read_token(str(GOOD_TOKEN))
    assert tok.realm is not None
    realm = tok.realm.claims
    measured = {"rim": (realm.rim or b"").hex(), "rems": [r.hex() for r in realm.rems or []]}
    token = _token(tmp_path / "debug.cbor", measured, lifecycle=0x5000, config=b"\x01\x02\x04")
    doc = _json(capsys, ["compare", str(token), "--platform-key", str(CPAK), "--corim",
                         str(PLATFORM), "--rim", (realm.rim or b"").hex(), "--format",
                         "json"], 1)
    assert [p["message"] for p in doc["platform"]["problems"]] == [
        "lifecycle recoverable-psa-rot-debug (0x5000) is neither secured nor "
        "non-CCA-platform debug",
        "platform config 010204 differs from the reference value 010203"]
    assert doc["platform"]["lifecycle"]["ok"] is False


# ---------------------------------------------------------------- diagnose


def test_diagnose_matching_realm_and_platform_is_a_match(
        in_scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Control: the started Realm, its platform cca-good's: verdict match, exit 0."""
    token = _token(in_scenario / "plat-good.cbor", _started(in_scenario))
    doc = _json(capsys, ["diagnose", token.name, "--platform-key", str(CPAK), "--corim",
                         str(PLATFORM), "--format", "json", "--", *STARTED], 0)
    assert doc["verdict"] == "match" and doc["causes"] == []
    assert doc["platform"]["result"] == "match" and doc["platform"]["problems"] == []


def test_diagnose_swapped_component_is_never_a_match(
        in_scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The realm part matches, the platform firmware was swapped: verdict mismatch (exit
    1) with no realm cause (the cause vocabulary is the Realm's), the component named in
    ``platform`` and in the table."""
    token = _token(in_scenario / "plat-swapped.cbor", _started(in_scenario), swap=SWAPPED)
    args = ["diagnose", token.name, "--platform-key", str(CPAK), "--corim", str(PLATFORM)]
    doc = _json(capsys, [*args, "--format", "json", "--", *STARTED], 1)
    assert doc["verdict"] == "mismatch" and doc["causes"] == []
    assert doc["platform"]["problems"] == [{"message": SWAPPED_REASON}]
    assert run([*args, "--", *STARTED]) == 1
    out = capsys.readouterr().out
    assert "verdict: MISMATCH (platform: 1 problem(s))" in out
    assert f"- {SWAPPED_REASON}" in out


def test_diagnose_names_realm_cause_and_platform_problem_together(
        in_scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two failures at once: the changed initrd (a realm cause, from the log) and the
    swapped firmware (platform)."""
    token = _token(in_scenario / "plat-both.cbor", _started(in_scenario), swap=SWAPPED)
    doc = _json(capsys, ["diagnose", token.name, "--platform-key", str(CPAK), "--corim",
                         str(PLATFORM), "--log", "started.log", "--images",
                         "initrd-changed.cpio", "--format", "json", "--", *EXPECTED], 1)
    assert [c["parameter"] for c in doc["causes"]] == ["initrd"]
    assert doc["causes"][0]["actual"].endswith("initrd-changed.cpio")
    assert doc["platform"]["problems"] == [{"message": SWAPPED_REASON}]


def test_diagnose_without_corim_has_platform_null(
        in_scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["diagnose", "token.cbor", "--platform-key", "key.pem", "--format",
                         "json", "--", *STARTED], 0)
    assert doc["verdict"] == "match" and doc["platform"] is None


def test_diagnose_realm_only_corim_says_the_platform_was_not_compared(
        in_scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["diagnose", "token.cbor", "--platform-key", "key.pem", "--corim",
                         str(REALM), "--format", "json", "--", *STARTED], 0)
    assert doc["platform"] is None
    assert any("no platform reference values" in w["message"] for w in doc["warnings"])


def test_diagnose_bad_corim_is_unusable_input(
        in_scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A CoRIM its profile refuses is exit 2 before any measuring (appraise's reason)."""
    bad = CBOR / "services_armcca_corim-cca-platform-bad-refval-no-digests.cbor"
    assert run(["diagnose", "token.cbor", "--platform-key", "key.pem", "--corim", str(bad),
                "--", *STARTED]) == 2
    assert "digests field is mandatory but not set" in capsys.readouterr().err


def test_non_psa_rot_debug_lifecycle_is_trusted_as_veraison_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The mistake this stops: the trusted-lifecycle list spelt ``non_psa_rot_debug`` while
    ``lifecycle_state`` says ``non-psa-rot-debug``, so a platform in non-CCA-platform
    debug (0x4000), which Veraison's AppraisePlatform accepts, was named a problem."""
    tok = read_token(str(GOOD_TOKEN))
    assert tok.realm is not None
    realm = tok.realm.claims
    measured = {"rim": (realm.rim or b"").hex(), "rems": [r.hex() for r in realm.rems or []]}
    token = _token(tmp_path / "npd.cbor", measured, lifecycle=0x4000)
    doc = _json(capsys, ["compare", str(token), "--platform-key", str(CPAK), "--corim",
                         str(PLATFORM), "--rim", (realm.rim or b"").hex(), "--format",
                         "json"], 0)
    assert doc["platform"]["lifecycle"] == {
        "ok": True, "reason": "lifecycle non-psa-rot-debug (0x4000): a trustworthy instance"}


def test_compare_says_when_a_corims_platform_values_were_not_read(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A CoRIM compare reads for its realm values but appraise refuses (upstream's
    realm-bad-no-rim): used as before, with a warning that its platform reference values
    were not read (a silent skip would look like a platform that was checked)."""
    bad = CBOR / "services_armcca_corim-cca-realm-bad-no-rim.cbor"
    capsys.readouterr()
    run(["compare", str(GOOD_TOKEN), "--platform-key", str(CPAK), "--corim", str(bad),
         "--format", "json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["platform"] is None
    warned = [w for w in doc["warnings"] if w.get("field") == "corim"]
    assert len(warned) == 1
    assert warned[0]["message"].startswith(f"--corim {bad}: its platform reference values "
                                           "(if any) were not read, as appraise refuses it:")
    assert "RIM (cca.rim) measurement is mandatory but not found" in warned[0]["message"]
    assert f"WARN --corim {bad}" in captured.err
