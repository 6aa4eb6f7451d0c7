"""rust-ccatoken TA / RV stores as appraisal inputs, and rust-ccatoken's own semantics.

Mirrors the tests of veraison/rust-ccatoken ``src/token/evidence.rs`` (dfe9ca2d949c) on its
test data in the corpus: ``tokens/refvals/rustccatoken_*.json``; cca-token-01 is
``tfmtools_cca_token_2022.cbor`` and cca-token-draft-ffm-00 is
``tfmtools_cca_example_token_2024-09.cbor`` (identical bytes, tokens/PROVENANCE.md).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rmtool.cli.main import run
from tests.conftest import CORPUS, need_shared

TOK = CORPUS / "tokens"
REFVALS = TOK / "refvals"
REALM_CORIM = CORPUS / "corim" / "cbor" / "services_armcca_corim-cca-realm-valid.cbor"


@pytest.fixture(autouse=True)
def _shared() -> None:
    need_shared()


def _run(capsys: pytest.CaptureFixture[str], token: str, *args: str) -> tuple[int, Any]:
    code = run(["appraise", str(TOK / token), *args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def _tv(out: Any, submod: str) -> dict[str, int]:
    tv = out["submods"][submod]["trustworthiness-vector"]
    return {k: v["value"] for k, v in tv.items() if v["value"] != 0}


def test_verify_legacy_token_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """evidence.rs verify_legacy_token_ok: cca-token-02 with ta-02-ok.json."""
    code, out = _run(capsys, "rustccatoken_cca-token-02.cbor", "--ta-store",
                     str(REFVALS / "rustccatoken_ta-02-ok.json"), "--semantics", "rust-ccatoken")
    assert _tv(out, "CCA_SSD_PLATFORM") == {"instance-identity": 2}
    assert _tv(out, "CCA_REALM") == {"instance-identity": 2}
    assert code == 0


def test_bug_33_regression(capsys: pytest.CaptureFixture[str]) -> None:
    """evidence.rs bug_33_regression: the binding fails -> realm instance-identity 99,
    platform instance-identity 2."""
    code, out = _run(capsys, "rustccatoken_bug-33-repro.cbor", "--ta-store",
                     str(REFVALS / "rustccatoken_ta-tfa.json"), "--semantics", "rust-ccatoken")
    assert _tv(out, "CCA_SSD_PLATFORM") == {"instance-identity": 2}
    realm = out["submods"]["CCA_REALM"]["trustworthiness-vector"]
    assert {v["value"] for v in realm.values()} == {99}
    assert realm["instance-identity"]["reason"].startswith("binding: platform challenge")
    assert code == 1


def test_verify_draft_ffm_00_token_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """evidence.rs verify_draft_ffm_00_token_ok: both instances trustworthy."""
    code, out = _run(capsys, "tfmtools_cca_example_token_2024-09.cbor", "--ta-store",
                     str(REFVALS / "rustccatoken_ta-tfa.json"), "--semantics", "rust-ccatoken")
    assert _tv(out, "CCA_SSD_PLATFORM") == {"instance-identity": 2}
    assert _tv(out, "CCA_REALM") == {"instance-identity": 2}
    assert code == 0


def test_appraise_ok_vectors(capsys: pytest.CaptureFixture[str]) -> None:
    """evidence.rs appraise_ok: cca-token-01 against rv.json (the appraisal pass only).
    Without trust anchors the signatures are not verified, so the exit is never 0."""
    code, out = _run(capsys, "tfmtools_cca_token_2022.cbor", "--rv-store",
                     str(REFVALS / "rustccatoken_rv.json"), "--semantics", "rust-ccatoken")
    assert _tv(out, "CCA_SSD_PLATFORM") == {"instance-identity": 2, "configuration": 2,
                                            "executables": 3, "hardware": 2,
                                            "runtime-opaque": 32}
    assert _tv(out, "CCA_REALM") == {"executables": 2}
    assert out["signatures_verified"] is False
    assert code == 1


def test_unknown_rim_is_rust_ccatoken_unrecognized_boot(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """evidence.rs appraise: the platform matches, no realm reference value has the RIM ->
    realm executables -97 (rust-ccatoken's own "unrecognized boot")."""
    store = json.loads((REFVALS / "rustccatoken_rv.json").read_text())
    store["realm"][0]["initial-measurement"] = "11" * 32
    path = tmp_path / "rv.json"
    path.write_text(json.dumps(store))
    code, out = _run(capsys, "tfmtools_cca_token_2022.cbor", "--rv-store", str(path),
                     "--ta-store", str(REFVALS / "rustccatoken_ta-tfa.json"),
                     "--semantics", "rust-ccatoken")
    assert _tv(out, "CCA_REALM") == {"instance-identity": 2, "executables": -97}
    assert code == 1


def test_unrecognized_platform_skips_the_realm(capsys: pytest.CaptureFixture[str]) -> None:
    """evidence.rs appraise: no reference value equals the platform -> hardware 97 and the
    realm vector left empty (all 0)."""
    code, out = _run(capsys, "tfmtools_cca_example_token_2024-09.cbor", "--rv-store",
                     str(REFVALS / "rustccatoken_rv.json"), "--ta-store",
                     str(REFVALS / "rustccatoken_ta-tfa.json"), "--semantics", "rust-ccatoken")
    assert _tv(out, "CCA_SSD_PLATFORM") == {"instance-identity": 2, "hardware": 97}
    assert _tv(out, "CCA_REALM") == {}
    assert code == 1


def test_ta_store_key_off_the_curve_is_unusable(capsys: pytest.CaptureFixture[str]) -> None:
    """ta-02-bad.json's CPAK x coordinate is not on P-256. rust-ccatoken loads it and fails
    the platform signature (verify_legacy_token_error: platform instance-identity 99);
    rmtool refuses the store as unusable input (exit 2) before any verdict."""
    code = run(["appraise", str(TOK / "rustccatoken_cca-token-02.cbor"), "--ta-store",
                str(REFVALS / "rustccatoken_ta-02-bad.json")])
    assert code == 2
    assert "EC point is not on secp256r1" in capsys.readouterr().err


def test_stores_under_veraison_semantics(capsys: pytest.CaptureFixture[str]) -> None:
    """ta-02-ok.json endorses Veraison's test CPAK for cca-good's instance: the store works
    as a trust anchor input for Veraison's semantics too."""
    nonce = ("6f24d6b9635a2c8bbf58e908b94e04c1bfb3ae80cdebe832424578499fe31761"
             "e7f5e1d8bce0121844f54abdfa5286da88f53a657b15335c9396b4329254bc5c")
    code, out = _run(capsys, "services_arm-cca_cca-good.cbor", "--ta-store",
                     str(REFVALS / "rustccatoken_ta-02-ok.json"), "--corim", str(REALM_CORIM),
                     "--challenge", nonce)
    assert out["trust_anchor"]["source"] == "rustccatoken_ta-02-ok.json[0]"
    assert _tv(out, "CCA_REALM") == {"instance-identity": 2, "executables": 2}
    # no platform reference values: the config cannot match and no component is endorsed
    assert _tv(out, "CCA_SSD_PLATFORM")["executables"] == 33
    assert code == 1


def test_malformed_store_is_unusable(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "ta.json"
    bad.write_text('[{"implementation-id": "00", "instance-id": "01", "pkey": {}}]')
    assert run(["appraise", str(TOK / "rustccatoken_cca-token-02.cbor"), "--ta-store",
                str(bad)]) == 2
    assert "'implementation-id' is 1 bytes, expected 32" in capsys.readouterr().err
