"""End-to-end tests of `rmtool compare TOKEN --log LOG --images ...` and its explanations.

No hardware: a kvmtool Realm is measured with `rmtool measure --emit-log` (small kernel
and initrd written here), firmware REM events are appended to the emitted log with the
replay's own event writer, and a realm token is signed with the published tf-m-tools
test keys (../shared/corpus/tokens/keys, PROVENANCE.md) carrying the RIM measure computed
and REM values computed here with hashlib (TF-RMM's extend: H(REM || digest)). Then the
log, the token or the references are changed one way at a time and the explanation must
name the register, the event or the operation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.cli.main import run
from rmtool.eventlog import _constants as c
from rmtool.eventlog.build import event2
from rmtool.replay import _cca as cca
from rmtool.verify import cose
from rmtool.verify.token.codec import build_cca_token, make_realm_claims

KEYS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "tokens" / "keys"
PK = ("--platform-key", str(KEYS / "tfmtools_cca_platform.pem"))  # the CPAK that signs token()
pytestmark = pytest.mark.skipif(not KEYS.is_dir(), reason="shared token keys not present")

HOST = ["--num-wps", "6", "--num-bps", "6", "--ipa-bits", "52", "--pmu-num-ctrs", "6"]
SHA256_TCG = 0x000B
FW_BASE = 0x7000_0000


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def extend(value: bytes, digest: bytes) -> bytes:
    return H(value + digest)


def chain(digests: Sequence[bytes]) -> bytes:
    value = bytes(32)
    for d in digests:
        value = extend(value, d)
    return value


@dataclass
class Setup:
    dir: Path
    images: Path  # the reference images (--images)
    vmm_log: bytes  # what `measure --emit-log` wrote (events 0..7)
    rim: bytes
    trace_a: Path  # measure --format json --trace, the deployed configuration
    trace_b: Path  # same, with another initrd
    fw: dict[str, bytes]  # name -> content
    store: str
    capsys: pytest.CaptureFixture[str]


def _measure(initrd: Path, kernel: Path, out_json: Path, log: Path | None,
             capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    extra = ["--emit-log", str(log)] if log is not None else []
    status = run(["measure", *HOST, "--format", "json", "--trace", *extra, "-k", str(kernel),
                  "-i", str(initrd), "kvmtool", "--realm", "-c", "1", "-m", "256M",
                  "-k", "Image", "-i", "initrd"])
    out = capsys.readouterr().out
    assert status == 0
    out_json.write_text(out)
    doc: dict[str, Any] = json.loads(out)
    return doc


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Setup:
    images = tmp_path / "images"
    images.mkdir()
    kernel = images / "Image"
    kernel.write_bytes(b"\0" * 0x38 + b"ARM\x64" + bytes(range(256)) * 80)
    (images / "initrd-a").write_bytes(b"initrd A " * 500)
    other = tmp_path / "initrd-b"
    other.write_bytes(b"initrd B " * 500)  # same size, other content
    fw = {"uefi.fd": b"UEFI firmware" * 100, "grub.efi": b"GRUB" * 300,
          "vmlinuz-cfg": b"kernel command line", "app.bin": b"workload" * 50,
          "extra.bin": b"a component nobody logged"}
    for name, data in fw.items():
        (images / name).write_bytes(data)
    log = tmp_path / "vmm.log"
    doc = _measure(images / "initrd-a", kernel, tmp_path / "trace-a.json", log, capsys)
    _measure(other, kernel, tmp_path / "trace-b.json", None, capsys)
    return Setup(tmp_path, images, log.read_bytes(), bytes.fromhex(doc["rim"]),
                 tmp_path / "trace-a.json", tmp_path / "trace-b.json", fw,
                 str(tmp_path / "store.sqlite3"), capsys)


def rem_event(rem: int, digest: bytes, length: int, base: int = FW_BASE) -> bytes:
    """A firmware image event on RSI index rem+1 (EDK2's MR numbering)."""
    return event2(rem + 1, c.EV_EFI_PLATFORM_FIRMWARE_BLOB2, [(SHA256_TCG, digest)],
                  cca.write_blob2("FIRMWARE", base, length))


# The firmware events appended to the VMM log: event 8 REM0 uefi.fd, 9 REM1 grub.efi,
# 10 REM1 vmlinuz-cfg, 11 REM2 app.bin.
BOOT = [(0, "uefi.fd"), (1, "grub.efi"), (1, "vmlinuz-cfg"), (2, "app.bin")]


def boot_log(s: Setup, boot: Sequence[tuple[int, bytes]] | None = None) -> Path:
    events = boot if boot is not None else [(r, H(s.fw[n])) for r, n in BOOT]
    path = s.dir / "boot.log"
    path.write_bytes(s.vmm_log + b"".join(rem_event(r, d, 0x1000) for r, d in events))
    return path


def realm_rems(events: Sequence[tuple[int, bytes]]) -> list[bytes]:
    return [chain([d for r, d in events if r == reg]) for reg in range(4)]


def boot_digests(s: Setup) -> list[tuple[int, bytes]]:
    return [(r, H(s.fw[n])) for r, n in BOOT]


def token(s: Setup, rems: list[bytes], rim: bytes | None = None) -> Path:
    rak = cose.load_key(KEYS / "tfmtools_cca_realm.pem")
    cpak = cose.load_key(KEYS / "tfmtools_cca_platform.pem")
    assert isinstance(rak, ec.EllipticCurvePrivateKey)
    assert isinstance(cpak, ec.EllipticCurvePrivateKey)
    claims = make_realm_claims(rak, rim=rim if rim is not None else s.rim, rems=rems)
    path = s.dir / "token.cbor"
    path.write_bytes(build_cca_token(claims, rak=rak, cpak=cpak))
    return path


def compare(s: Setup, tok: Path, log: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """`rmtool compare TOKEN --log LOG --images DIR ... --format json`: (status, JSON)."""
    s.capsys.readouterr()
    status = run(["compare", str(tok), *PK, "--log", str(log), "--images", str(s.images),
                  "--store", s.store, "--format", "json", *extra])
    out = s.capsys.readouterr()
    assert status in (0, 1), out.err
    doc: dict[str, Any] = json.loads(out.out)
    return status, doc


def one(doc: dict[str, Any], register: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for e in doc["explanations"] if e["register"] == register]
    assert len(found) == 1, doc["explanations"]
    return found[0]


def statuses(doc: dict[str, Any], source: str) -> dict[str, str]:
    return {r["claim"]: r["status"] for r in doc["claims"] if r["source"] == source}


# ---------------------------------------------------------------- the log explains


def test_matching_log_exit_0(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    status, doc = compare(s, token(s, realm_rems(events)), boot_log(s))
    assert status == 0
    assert doc["result"] == "match" and doc["explanations"] == []
    assert statuses(doc, "log replay") == {"rim": "match", "rem0": "match", "rem1": "match",
                                           "rem2": "match", "rem3": "match"}


def test_unlogged_extension_names_register_and_last_event(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    rems = realm_rems(events)
    rems[1] = extend(rems[1], H(b"measured by the kernel, never logged"))
    status, doc = compare(s, token(s, rems), boot_log(s))
    assert status == 1
    assert statuses(doc, "log replay")["rem1"] == "mismatch"
    assert [e["register"] for e in doc["explanations"]] == ["REM1"]
    e = one(doc, "REM1")
    assert e["event"] == 10  # the last REM1 event of the log
    logged = chain([H(s.fw["grub.efi"]), H(s.fw["vmlinuz-cfg"])])
    assert f"ends at event 10 with {logged.hex()}" in e["message"]
    assert "an extension after event 10 that the log does not record" in e["message"]


def test_unlogged_extension_of_known_image_is_found(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    rems = realm_rems(events)
    rems[1] = extend(rems[1], H(s.fw["extra.bin"]))
    status, doc = compare(s, token(s, rems), boot_log(s))
    assert status == 1
    e = one(doc, "REM1")
    assert e["event"] == 10
    assert ("one extension that the log does not record, after event 10, with "
            f"{H(s.fw['extra.bin']).hex()} (reference image extra.bin)") in e["message"]


def test_altered_digest_names_event(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    rems = realm_rems(events)  # what the Realm extended
    altered = list(events)
    altered[1] = (1, H(b"someone rewrote this event"))  # event 9
    status, doc = compare(s, token(s, rems), boot_log(s, altered))
    assert status == 1
    e = one(doc, "REM1")
    assert e["event"] == 9
    assert (f"event 9 (FIRMWARE) was altered: the Realm extended {H(s.fw['grub.efi']).hex()} "
            "(reference image grub.efi)") in e["message"]


def test_altered_digest_unknown_content_names_suspect(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    realm = list(events)
    realm[1] = (1, H(b"grub built on another day"))  # not a reference image
    altered = list(events)
    altered[1] = (1, H(b"and logged as something else"))
    status, doc = compare(s, token(s, realm_rems(realm)), boot_log(s, altered))
    assert status == 1
    e = one(doc, "REM1")
    assert e["event"] == 10
    assert "the likeliest to be altered: 9" in e["message"]


def test_token_before_later_events(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    rems = realm_rems(events[:2])  # REM1 only extended with grub.efi so far
    rems[2] = realm_rems(events)[2]
    status, doc = compare(s, token(s, rems), boot_log(s))
    assert status == 1
    e = one(doc, "REM1")
    assert e["event"] == 10
    assert "the token's value is the log's REM1 after event 9" in e["message"]
    assert "1 later extension(s) (events 10)" in e["message"]


def test_extra_and_swapped_events(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    # the log has an event the Realm never extended (event 9)
    status, doc = compare(s, token(s, realm_rems([events[0], events[2], events[3]])),
                          boot_log(s))
    assert status == 1
    e = one(doc, "REM1")
    assert e["event"] == 9 and "the Realm did not extend it" in e["message"]
    # the Realm extended events 9 and 10 the other way round
    status, doc = compare(s, token(s, realm_rems([events[0], events[2], events[1],
                                                  events[3]])), boot_log(s))
    e = one(doc, "REM1")
    assert e["event"] == 9
    assert "events 9 and 10 were extended in the other order" in e["message"]


# ---------------------------------------------------------------- references differ


def test_changed_component_names_first_unknown_event(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    reference = realm_rems(events)
    booted = list(events)
    booted[1] = (1, H(b"GRUB, updated"))  # event 9: not among the reference images
    status, doc = compare(s, token(s, realm_rems(booted)), boot_log(s, booted),
                          "--rem1", reference[1].hex(), "--rem0", reference[0].hex())
    assert status == 1
    assert statuses(doc, "log replay")["rem1"] == "match"
    assert statuses(doc, "command line") == {"rem0": "match", "rem1": "mismatch"}
    e = one(doc, "REM1")
    assert e["event"] == 9
    assert (f"event 9 (FIRMWARE) extended {H(b'GRUB, updated').hex()}, which is not a known "
            "reference image: the component that changed") in e["message"]


def test_changed_component_with_endorsements(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    reference = realm_rems(events)
    booted = [events[0], events[1], events[2], (2, H(b"workload v2"))]  # event 11
    ends = s.dir / "endorsements.json"
    b64 = __import__("base64").b64encode
    regs = {"rim": s.rim, **{f"rem{i}": r for i, r in enumerate(reference)}}
    ends.write_text(json.dumps({"triples": {"reference-values": [{"measurements": [{
        "value": {"integrity-registers": {
            k: {"key-type": "text", "value": ["sha-256;" + b64(v).decode()]}
            for k, v in regs.items()}}}]}]}}))
    status, doc = compare(s, token(s, realm_rems(booted)), boot_log(s, booted),
                          "--endorsements", str(ends))
    assert status == 1
    e = one(doc, "REM2")
    assert e["event"] == 11 and "the component that changed" in e["message"]


# ---------------------------------------------------------------- RIM


def test_rim_diff_against_measure_trace_names_operation(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    status, doc = compare(s, token(s, realm_rems(events)), boot_log(s),
                          "--measure-trace", str(s.trace_b))
    assert status == 1
    assert statuses(doc, "log replay")["rim"] == "match"
    assert statuses(doc, "measure-trace trace-b.json")["rim"] == "mismatch"
    trace_b = json.loads(s.trace_b.read_text())["trace"]
    initrd = next(t for t in trace_b if t["origin"] == "INITRD")
    ipa = initrd["detail"].split(" at ")[1].split()[0]
    e = one(doc, "RIM")
    assert e["event"] == 5  # KERNEL is event 4, INITRD event 5
    assert "operation 4 is the first that differs" in e["message"]
    assert f"INITRD at {ipa} differs: same address and size" in e["message"]
    # the deployed configuration's own trace matches: no explanation
    status, doc = compare(s, token(s, realm_rems(events)), boot_log(s),
                          "--measure-trace", str(s.trace_a))
    assert status == 0 and doc["explanations"] == []


def test_rim_not_rebuilt_names_event(setup: Setup) -> None:
    s = setup
    (s.images / "initrd-a").rename(s.dir / "initrd-a")  # the image the log names is gone
    events = boot_digests(s)
    status, doc = compare(s, token(s, realm_rems(events)), boot_log(s),
                          "--measure-trace", str(s.trace_a))
    assert status == 1
    assert statuses(doc, "log replay")["rim"] == "mismatch"
    rim = [e for e in doc["explanations"] if e["register"] == "RIM"]
    assert rim[0]["event"] == 5 and "cannot be rebuilt at event 5 (INITRD" in rim[0]["message"]
    assert rim[1]["event"] == 5
    assert ("operation 4 is the first that differs between the log and measure-trace "
            "trace-a.json (the log agrees with measure-trace trace-a.json up to operation 3 "
            "(event 4))") in rim[1]["message"]
    assert "has the expected address and size (0x1194) but its content cannot be compared" \
        in rim[1]["message"]


def test_rim_reference_without_trace(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    other = json.loads(s.trace_b.read_text())["rim"]
    status, doc = compare(s, token(s, realm_rems(events)), boot_log(s), "--rim", other)
    assert status == 1
    e = one(doc, "RIM")
    assert e["event"] is None and "give --measure-trace" in e["message"]
    assert f"command line expects {other}, which is not the RIM after any log event" \
        in e["message"]
    # with the deployed configuration's trace (which agrees with the log) no advice
    status, doc = compare(s, token(s, realm_rems(events)), boot_log(s), "--rim", other,
                          "--measure-trace", str(s.trace_a))
    assert status == 1
    e = one(doc, "RIM")
    assert e["message"].endswith("the Realm was built from another configuration")


def test_token_rim_not_from_log(setup: Setup) -> None:
    s = setup
    events = boot_digests(s)
    status, doc = compare(s, token(s, realm_rems(events), rim=H(b"elsewhere")), boot_log(s))
    assert status == 1
    e = one(doc, "RIM")
    assert e["event"] == 7 and "is not the log's RIM after any event" in e["message"]


# ---------------------------------------------------------------- CLI details


def test_table_output_and_usage(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    s = setup
    events = boot_digests(s)
    rems = realm_rems(events)
    rems[3] = extend(rems[3], H(b"x"))
    tok = token(s, rems)
    capsys.readouterr()
    status = run(["compare", str(tok), *PK, "--log", str(boot_log(s)), "--images",
                  str(s.images), "--store", s.store])
    out = capsys.readouterr().out
    assert status == 1
    assert "explanations:\n- REM3: the log records no extension of REM3" in out
    assert run(["compare", str(tok), "--images", str(s.images), "--rim", "00"]) == 2


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"rim": "zz", "trace": []}',
                                     b'{"rim": "00", "trace": [{"operation": 5}]}',
                                     b'{"rim": "00"}'])
def test_bad_measure_trace_exit_2(setup: Setup, content: bytes) -> None:
    s = setup
    bad = s.dir / "bad.json"
    bad.write_bytes(content)
    tok = token(s, realm_rems(boot_digests(s)))
    s.capsys.readouterr()
    assert run(["compare", str(tok), "--measure-trace", str(bad)]) == 2
    err = s.capsys.readouterr().err
    assert err.startswith("ERROR ") and err.count("\n") == 1


def test_measure_trace_alone_is_a_rim_reference(setup: Setup) -> None:
    s = setup
    tok = token(s, realm_rems(boot_digests(s)))
    s.capsys.readouterr()
    assert run(["compare", str(tok), *PK, "--measure-trace", str(s.trace_a)]) == 0
    assert run(["compare", str(tok), *PK, "--measure-trace", str(s.trace_b)]) == 1
    out = s.capsys.readouterr().out
    assert "RIM mismatch: token " in out and "measure-trace trace-b.json expects" in out


# ---------------------------------------------------------------- the search, as a property


def _result(digests: Sequence[bytes]) -> Any:
    """A ReplayResult whose REM1 chain is ``digests`` (events 1..n)."""
    from rmtool.measure.rmm.algorithms import SHA256
    from rmtool.replay import EventRow, ReplayResult

    rows, value = [], bytes(32)
    for n, d in enumerate(digests, 1):
        value = extend(value, d)
        rows.append(EventRow(n, 0, 2, "REM1", "EV_POST_CODE2", "FIRMWARE", d.hex(), "unknown",
                             value.hex(), operation="RemExtend"))
    return ReplayResult(None, [bytes(32), value, bytes(32), bytes(32)], SHA256, "mr", "",
                        rows, [])


@pytest.mark.parametrize("seed", range(12))
def test_single_change_found_at_random_place(seed: int) -> None:
    import random

    from rmtool.verify.compare._explain import explain_rem

    rng = random.Random(seed)
    known = [H(bytes([i])) for i in range(20)]
    logged = [rng.choice(known) for _ in range(rng.randint(1, 12))]
    n = len(logged)
    candidates = {d: f"image {i}" for i, d in enumerate(known)}
    at = rng.randint(0, n)
    new = rng.choice(known)
    realm = logged[:at] + [new] + logged[at:]  # one unlogged extension at ``at``
    e = explain_rem("sha256", 1, _result(logged), chain(realm), candidates)
    assert e.register == "REM1"
    assert "does not record" in e.message or "altered" in e.message, e.message
    # whatever single change it names, applying it to the log gives the token
    if "altered" in e.message:
        j = e.event
        assert j is not None
        fixed = logged[:j - 1] + [bytes.fromhex(e.message.split("extended ")[1][:64])] + \
            logged[j:]
    else:
        digest = bytes.fromhex(e.message.split(", with ")[1][:64])
        k = 0 if "before the first" in e.message else int(e.message.split(
            "does not record, after event ")[1].split(",")[0].split(" ")[0])
        fixed = logged[:k] + [digest] + logged[k:]
    assert chain(fixed) == chain(realm)
