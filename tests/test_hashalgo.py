"""The one hash-algorithm table (rmtool._hashalgo) and every view computed from it.

The registry values below are written by hand from the public registries, not from
rmtool: the TCG Algorithm Registry (TPM_ALG_ID constants), RFC 6920 §9.4 / the IANA
"Named Information Hash Algorithm Registry", and the RMM specification's RmiHashAlgorithm
encoding (DEN0137 B4.4.3). Each view is pinned to the exact mapping (and, where the
order shows in output, the order) it had before it became a view.
"""

from __future__ import annotations

import hashlib

import pytest

from rmtool import _hashalgo as hashalgo
from rmtool.cli.main import run
from rmtool.cli.measure import _parse_hash_algo
from rmtool.errors import UsageError
from rmtool.eventlog import _constants as c
from rmtool.measure.rmm import algorithms
from rmtool.measure.vmm._rustcompat import ValueRejected
from rmtool.replay import _store as store
from rmtool.verify.corim import _comid_json as comid_json
from rmtool.verify.corim import _lint as lint
from rmtool.verify.corim import _model as model
from rmtool.verify.token import _claims as claims

# TCG Algorithm Registry, Table "TPM_ALG_ID Constants": name -> (id, digest bytes).
TCG_REGISTRY = {
    "sha1": (0x0004, 20), "sha256": (0x000B, 32), "sha384": (0x000C, 48),
    "sha512": (0x000D, 64), "sm3_256": (0x0012, 32), "sha3_256": (0x0027, 32),
    "sha3_384": (0x0028, 48), "sha3_512": (0x0029, 64),
}
# IANA Named Information Hash Algorithm Registry (RFC 6920 §9.4): id -> (name, bits).
NAMED_INFORMATION = {
    1: ("sha-256", 256), 2: ("sha-256-128", 128), 3: ("sha-256-120", 120),
    4: ("sha-256-96", 96), 5: ("sha-256-64", 64), 6: ("sha-256-32", 32),
    7: ("sha-384", 384), 8: ("sha-512", 512), 9: ("sha3-224", 224),
    10: ("sha3-256", 256), 11: ("sha3-384", 384), 12: ("sha3-512", 512),
}
# RmiHashAlgorithm: RMI_HASH_SHA_256 = 0, RMI_HASH_SHA_512 = 1, RMI_HASH_SHA_384 = 2.
RMI = {"sha256": 0, "sha512": 1, "sha384": 2}


def test_tcg_ids_and_sizes_are_the_registry_values() -> None:
    got = {a.name: (a.tcg_id, a.size) for a in hashalgo.TCG}
    assert got == TCG_REGISTRY
    # nothing outside hashalgo.TCG claims a TPM_ALG_ID
    assert [a for a in hashalgo.TABLE if a.tcg_id is not None] == list(hashalgo.TCG)


def test_named_information_ids_are_the_rfc6920_values() -> None:
    got = {a.ni_id: (a.ni_name, a.size * 8) for a in hashalgo.NAMED_INFORMATION}
    assert got == NAMED_INFORMATION


def test_rmi_encodings_are_the_rmm_spec_values() -> None:
    assert {a.name: a.rmi for a in hashalgo.REALM} == RMI
    assert [a.name for a in hashalgo.REALM] == ["sha256", "sha384", "sha512"]
    assert [a.name for a in hashalgo.REALM_BY_RMI] == ["sha256", "sha512", "sha384"]
    assert {a.name: a.rmi_name for a in hashalgo.REALM} == {
        "sha256": "RmiHashSha256", "sha384": "RmiHashSha384", "sha512": "RmiHashSha512"}


def test_names_are_unique_across_every_identifier() -> None:
    for field in ("name", "tcg_id", "rmi", "rmi_name", "ni_id", "ni_name"):
        values = [getattr(a, field) for a in hashalgo.TABLE if getattr(a, field) is not None]
        assert len(values) == len(set(values)), field
    assert hashalgo.BY_NAME == {a.name: a for a in hashalgo.TABLE}


@pytest.mark.parametrize("algo", [a for a in hashalgo.TABLE if a.hashlib_name != "sm3"],
                         ids=lambda a: a.name)
def test_digest_is_the_hashlib_function_truncated_to_size(algo: hashalgo.HashAlgorithm) -> None:
    data = b"rmtool hash table"
    full = hashlib.new(algo.hashlib_name, data).digest()
    assert algo.digest(data) == full[:algo.size]
    assert len(algo.digest(data)) == algo.size
    if algo.ni_name is not None and algo.ni_name.startswith("sha-256-"):
        assert algo.hashlib_name == "sha256"  # RFC 6920: SHA-256 truncated to N bits
    else:
        assert len(full) == algo.size


def test_realm_view_equals_the_old_declarations() -> None:
    # The HashAlgo rows as they were written before the table existed.
    old = [algorithms.HashAlgo("sha256", 0, 32, "sha-256", 0x000B),
           algorithms.HashAlgo("sha512", 1, 64, "sha-512", 0x000D),
           algorithms.HashAlgo("sha384", 2, 48, "sha-384", 0x000C)]
    assert list(algorithms.ALGORITHMS.values()) == old
    assert (algorithms.SHA256, algorithms.SHA512, algorithms.SHA384) == tuple(old)
    for a in algorithms.ALGORITHMS.values():
        row = hashalgo.BY_NAME[a.name]
        assert (a.rmi, a.size, a.token_name, a.tcg_id) == (row.rmi, row.size, row.ni_name,
                                                            row.tcg_id)


def test_by_name_accepts_exactly_the_old_spellings() -> None:
    for spelling, name in [("sha256", "sha256"), ("SHA-256", "sha256"),
                           ("RmiHashSha256", "sha256"), (" sha512 ", "sha512"),
                           ("sha-384", "sha384"), ("rmihashsha384", "sha384")]:
        assert algorithms.by_name(spelling).name == name
    # table names that are not Realm algorithms, and near-misses, stay refused
    for spelling in ("sha1", "sha3_256", "sha3-256", "sha-256-128", "sm3_256", "sha_256",
                     "RmiHashSha1"):
        with pytest.raises(UsageError, match="unknown hash algorithm"):
            algorithms.by_name(spelling)
    assert algorithms.by_rmi(2) is algorithms.SHA384
    with pytest.raises(UsageError):
        algorithms.by_rmi(3)


def test_eventlog_views_equal_the_table() -> None:
    assert c.ALGORITHMS == {tcg: (name, size) for name, (tcg, size) in TCG_REGISTRY.items()}
    assert list(c.ALGORITHMS) == [0x0004, 0x000B, 0x000C, 0x000D, 0x0012, 0x0027, 0x0028,
                                  0x0029]
    assert c.ALGORITHM_IDS == {name: tcg for name, (tcg, _) in TCG_REGISTRY.items()}
    assert c.DIGEST_SIZES == {name: size for name, (_, size) in TCG_REGISTRY.items()}
    assert list(c.HASH_CONSTRUCTORS) == list(TCG_REGISTRY)
    for name in ("sha1", "sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512"):
        assert c.HASH_CONSTRUCTORS[name] is getattr(hashlib, name)
    # SM3 (GB/T 32905-2016, Appendix A.1 example 1): SM3("abc")
    assert c.HASHES["sm3_256"](b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    assert c.algorithm_name(0x000B) == "sha256"
    assert c.algorithm_name(0x002C) == "alg_002c"


def test_token_claim_texts_keep_their_exact_spellings() -> None:
    assert claims.HASH_SIZES == {"sha-256": 32, "sha-384": 48, "sha-512": 64}
    assert list(claims.HASH_SIZES) == ["sha-256", "sha-384", "sha-512"]
    assert claims.hash_digest("sha-384", b"x") == hashlib.sha384(b"x").digest()
    # claim 44236 values are exact: no case folding, no rmtool names, no other registry rows
    for spelling in ("SHA-256", "sha256", "Sha-512", "sha3-256", "sha-256-128", "sha1"):
        assert spelling not in claims.HASH_SIZES
        with pytest.raises(ValueError, match="unknown hash algorithm"):
            claims.hash_digest(spelling, b"x")


def test_corim_views_equal_the_table() -> None:
    assert model.HASH_ALG_IDS == {"sha256": 1, "sha384": 7, "sha512": 8}
    assert model.HASH_ALG_BY_ID == {1: "sha256", 7: "sha384", 8: "sha512"}
    assert model.HASH_ALG_BY_TEXT == {"sha-256": "sha256", "sha-384": "sha384",
                                      "sha-512": "sha512", "sha256": "sha256",
                                      "sha384": "sha384", "sha512": "sha512"}
    assert model.HASH_SIZES == {"sha256": 32, "sha384": 48, "sha512": 64}
    assert model.HASH_BY_SIZE == {32: "sha256", 48: "sha384", 64: "sha512"}
    assert lint.DIGEST_SIZES == (32, 48, 64)
    assert model.hash_algo_name("SHA-384") == "sha384"
    assert model.hash_algo_name(8) == "sha512"
    # registry rows that are not Realm algorithms stay unknown to the Realm reader
    assert model.hash_algo_name(10) is None
    assert model.hash_algo_name("sha3-256") is None
    assert model.hash_algo_name(True) is None
    assert comid_json.DIGEST_ALG_TEXT == {name: ni for ni, (name, _) in
                                          NAMED_INFORMATION.items()}


def test_comid_json_digest_text_maps_to_registry_ids() -> None:
    assert comid_json.digest_from_json("SHA3-512;AAAA", "d") == [12, b"\x00\x00\x00"]
    assert comid_json.digest_from_json(["sha-256-32", "AAAA"], "d") == [6, b"\x00\x00\x00"]
    with pytest.raises(Exception, match="is not '<alg>;<base64>'"):
        comid_json.digest_from_json("sha256;AAAA", "d")  # rmtool's name is not registry text


def test_checksum_file_lengths() -> None:
    assert store.DIGEST_LENGTHS == {64: "sha256", 96: "sha384", 128: "sha512"}


def test_replay_hash_algo_choices_are_the_realm_algorithms_by_rmi(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["replay", "--help"]) == 0
    assert "--hash-algo [sha256|sha512|sha384]" in capsys.readouterr().out
    # a TCG bank that is not a Realm algorithm is still a usage error
    assert run(["replay", "--hash-algo", "sha1", "x.log"]) == 2
    assert "'sha1' is not one of 'sha256', 'sha512', 'sha384'" in capsys.readouterr().err


@pytest.mark.parametrize(("spelling", "accepted"), [
    ("sha256", True), ("sha512", True), ("sha384", False), ("SHA256", False), ("sha-256", False)])
def test_reference_hash_algo_parser_keeps_the_reference_enum(spelling: str,
                                                             accepted: bool) -> None:
    if accepted:
        assert _parse_hash_algo(spelling) == spelling
    else:
        with pytest.raises(ValueRejected, match="unknown hash algorithm"):
            _parse_hash_algo(spelling)
