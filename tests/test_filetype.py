"""rmtool._filetype: each magic recognised on third-party samples, and no sample of a kind
refused by the reader of that kind (a hint must never turn a good input away)."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import cbor2
import pytest

from rmtool._filetype import WrongFileType, check_kind, hint_for, hinted, sniff
from rmtool.errors import TokenError
from rmtool.measure.dtb.fdt import Node, to_dtb
from tests.conftest import CORPUS, need_shared


def key_of(data: bytes) -> str | None:
    found = sniff(data)
    return found.key if found else None


def corpus(pattern: str) -> list[Path]:
    need_shared()
    files = sorted(p for p in CORPUS.glob(pattern) if p.is_file())
    assert files, pattern
    return files


def test_every_crypto_agile_and_cc_event_log_is_an_event_log() -> None:
    for path in corpus("eventlogs/tpm2/*.bin") + corpus("eventlogs/cca-realm/*.bin") + [
            p for p in corpus("eventlogs/ccel/*.bin") if "acpi-table" not in p.name]:
        assert key_of(path.read_bytes()) == "event-log", path.name


def test_acpi_ccel_tables_are_named() -> None:
    tables = corpus("eventlogs/ccel/*acpi-table.bin")
    assert [key_of(p.read_bytes()) for p in tables] == ["ccel-table"] * 2


def test_no_corpus_event_log_is_refused_by_log_show() -> None:
    """Legacy SHA-1 logs and the malformed samples carry no magic: they reach the parser."""
    for path in corpus("eventlogs/*/*.bin"):
        check_kind(path.read_bytes(), "event log", path.name)


def test_tokens_are_cca_tokens() -> None:
    kinds = {p.name: key_of(p.read_bytes()) for p in corpus("tokens/*.cbor")}
    assert kinds.pop("services_parsec-cca_evidence.cbor") is None  # the {kat, pat} map
    assert kinds.pop("tfmtools_cca_example_token.cbor") == "cca-token"  # tag 907
    assert set(kinds.values()) == {"cca-token"}


def test_no_corpus_token_is_refused_by_the_token_reader() -> None:
    for path in corpus("tokens/*.cbor") + corpus("tokens/platform/*"):
        check_kind(path.read_bytes(), "token", path.name)


def test_corims_by_tag() -> None:
    for path in corpus("corim/cbor/*.cbor"):
        data = path.read_bytes()
        if data[:3] == b"\xd9\x01\xf5":
            assert key_of(data) == "corim", path.name
        check_kind(data, "corim", path.name)  # none refused, whatever its form
    signed = CORPUS / "corim/cbor/corimlib_corim_signed-good-corim.cbor"
    assert key_of(signed.read_bytes()) == "signed-corim"


@pytest.mark.parametrize("tag,key", [(18, "cose-sign1"), (399, "cca-token"),
                                     (907, "cca-token"), (501, "corim"),
                                     (502, "signed-corim"), (506, "comid")])
def test_cbor_tags(tag: int, key: str) -> None:
    assert key_of(cbor2.dumps(cbor2.CBORTag(tag, [b"", {}, b"", b""]))) == key


def test_binary_magics() -> None:
    assert key_of(to_dtb(Node(""))) == "dtb"
    assert key_of(Path(sys.executable).resolve().read_bytes()[:4096]) == "elf"
    assert key_of(gzip.compress(b"kernel")) == "gzip"
    image = bytearray(64)
    image[0:2] = b"MZ"  # an EFI-stub kernel starts with the PE/COFF magic...
    image[56:60] = b"ARM\x64"  # ...but is named by its arm64 header
    assert key_of(bytes(image)) == "arm64-image"
    assert key_of(b"MZ" + bytes(100)) == "pe"
    assert key_of(b"\x89PNG\r\n\x1a\n" + bytes(20)) == "png"


def test_text_kinds() -> None:
    pems = corpus("tokens/keys/*.pem")
    assert {key_of(p.read_bytes()) for p in pems} == {"pem"}
    jwks = corpus("tokens/keys/*.json")
    assert {key_of(p.read_bytes()) for p in jwks} == {"json"}
    assert key_of(b"ipa_bits = 48\nnum_bps = 6\n") == "toml"
    assert key_of(b"[host]\nsve_vl = 512\n") == "toml"
    assert key_of(b"profile: cca\nclaims:\n  - 1\n") == "yaml"
    assert key_of(b"just some words\n") == "text"
    assert key_of(bytes(64)) is None
    assert key_of(b"") is None


def test_hint_names_the_command_with_the_path() -> None:
    log = corpus("eventlogs/tpm2/tpm2tools_event-postcode.bin")[0].read_bytes()
    assert hint_for("token", log, "boot.log") == (
        "boot.log is a TCG event log, not a CCA token; try rmtool log show boot.log")
    assert hint_for("corim", cbor2.dumps(cbor2.CBORTag(399, {})), "t.cbor") == (
        "t.cbor is a CCA token, not a CoRIM; try rmtool token show t.cbor")
    assert hint_for("event log", to_dtb(Node("")), "x") == (
        "x is a DTB (flattened device tree), not a TCG event log; try rmtool dtb show x")
    assert hint_for("token", b"\x7fELF" + bytes(60), "vmlinux") == (
        "vmlinux is an ELF executable, not a CCA token")


def test_no_hint_for_accepted_or_unknown() -> None:
    sign1 = cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""]))
    assert hint_for("token", sign1) is None  # a standalone platform token
    assert hint_for("corim", sign1) is None  # or a signed CoRIM
    assert hint_for("corim", b'{"tag-identity": {}}') is None  # CoMID JSON
    assert hint_for("token", b"\xa2\x01\x02") is None  # unknown: the parser says why


def test_weak_kinds_explain_failures_but_never_refuse() -> None:
    text = b'{"not": "a token"}'
    assert hint_for("token", text, "a.json") == "a.json is a JSON document, not a CCA token"
    assert hint_for("token", text, "a.json", strong_only=True) is None
    check_kind(text, "token", "a.json")


def test_check_kind_raises_the_typed_error() -> None:
    with pytest.raises(WrongFileType) as info:
        check_kind(cbor2.dumps(cbor2.CBORTag(506, b"")), "token", "c.cbor")
    assert info.value.exit_code == 2
    assert str(info.value) == "c.cbor is a CoMID, not a CCA token; try rmtool corim show c.cbor"


def test_hinted_replaces_only_a_parse_error_it_can_explain() -> None:
    with pytest.raises(WrongFileType, match="^p is a PNG image, not a CCA token$"), \
            hinted("token", b"\x89PNG\r\n\x1a\n", "p"):
        raise TokenError("CBOR: 9 items left")
    with pytest.raises(TokenError, match="^bad$"), hinted("token", b"\xa1\x01\x02", "t"):
        raise TokenError("bad")
