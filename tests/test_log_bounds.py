"""Event logs are read bounded and replay refuses logs that are not Arm CCA Realm logs.

Each test is the attack or mistake it stops (docs/security.md, "Inputs"):

* a 1 GiB sparse file, a FIFO, ``/dev/zero`` or a missing file named as the log: exit 2
  with one ERROR line, without reading it (``rmtool._files.read_bounded``, 64 MiB cap);
* an x86 TPM event log (corpus, go-attestation) given to ``replay``: exit 2, a hint, and no
  REM value on stdout (it printed REMs no Realm reports);
* a log of 20,000 minimal REM extends (``build.minimal_rem_log``) replays to REM values
  computed here with hashlib (TF-RMM: REM = H(REM || digest)), every event listed;
* past ``MAX_ROWS`` events the lean path gives the same registers as the full path, and
  says that only the first rows are listed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.eventlog.build import MINIMAL_EVENT_SIZE, minimal_rem_log
from rmtool.replay import NotARealmLog, replay_log
from rmtool.replay import _engine as engine
from tests.conftest import CORPUS

ROOT = Path(__file__).resolve().parents[1]
TPM_LOG = CORPUS / "eventlogs" / "tpm2" / "goattest_crypto_agile_eventlog.bin"
TDX_LOG = CORPUS / "eventlogs" / "ccel" / "dstack_ccel.bin"
SHA1_LOG = CORPUS / "eventlogs" / "sha1" / "goattest_linux_tpm12.bin"
EMPTY = hashlib.sha256(b"").digest()


def _chain(count: int) -> bytes:
    value = bytes(32)
    for _ in range(count):
        value = hashlib.sha256(value + EMPTY).digest()
    return value


def _cli(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rmtool.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture()
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store.sqlite3")


# -- hostile files --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["log", "show"], ["replay"]])
def test_sparse_1gib_log_refused_unread(tmp_path: Path, command: list[str], store: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """log show read the whole file (Path.read_bytes: 2.1 GB RSS for a 1 GiB sparse file)."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"")
    os.truncate(big, 1 << 30)
    extra = ["--store", store] if command == ["replay"] else []
    assert run([*command, str(big), *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"ERROR event log {big} is larger than {64 << 20} bytes\n"


@pytest.mark.parametrize("command", [["log", "show"], ["replay"]])
def test_fifo_refused_without_hanging(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    extra = ["--store", str(tmp_path / "s.sqlite3")] if command == ["replay"] else []
    done = _cli([*command, str(fifo), *extra], timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"ERROR event log {fifo} is a FIFO; rmtool reads only regular "
                           "files\n")


@pytest.mark.parametrize("command", [["log", "show"], ["replay"]])
def test_dev_zero_refused(command: list[str], store: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--store", store] if command == ["replay"] else []
    assert run([*command, "/dev/zero", *extra]) == 2
    assert capsys.readouterr().err == ("ERROR event log /dev/zero is a character device; "
                                       "rmtool reads only regular files\n")


@pytest.mark.parametrize("command", [["log", "show"], ["replay"]])
def test_missing_log_is_exit_2(tmp_path: Path, command: list[str], store: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file was exit 1; unusable input is 2 (rmtool.errors contract)."""
    missing = tmp_path / "nope.bin"
    extra = ["--store", store] if command == ["replay"] else []
    assert run([*command, str(missing), *extra]) == 2
    assert capsys.readouterr().err == (f"ERROR cannot read event log {missing}: "
                                       "No such file or directory\n")


# -- logs that are not a Realm's -------------------------------------------------------------

def test_x86_tpm_log_is_not_replayed(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    """replay printed REM values for a PC's TPM log, as if a Realm had reported them."""
    if not TPM_LOG.is_file():
        pytest.skip("corpus log not available")
    assert run(["replay", str(TPM_LOG), "--store", store]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"ERROR {TPM_LOG}: not an Arm CCA Realm event log: no CCA "
                               "VM VERSION / REALM_CREATE / RIM image event;")
    assert "the Spec ID event names platform class 0 (PC Client)" in lines[0]
    assert "events extend indices 0-7 as a TPM log (PCR numbers)" in lines[0]
    assert "TPM-only events: EV_S_CRTM_CONTENTS, EV_S_CRTM_VERSION" in lines[0]
    assert lines[1] == "hint: this looks like a TPM event log; use rmtool log show"


def test_tdx_and_sha1_logs_are_not_replayed(store: str) -> None:
    if not (TDX_LOG.is_file() and SHA1_LOG.is_file()):
        pytest.skip("corpus logs not available")
    with pytest.raises(NotARealmLog, match="a CC event log whose Spec ID declares sha384") as tdx:
        replay_log(TDX_LOG.read_bytes(), [], store=store)
    assert tdx.value.hint is not None and "Intel TDX" in tdx.value.hint
    with pytest.raises(NotARealmLog, match="legacy SHA-1 format") as sha1:
        replay_log(SHA1_LOG.read_bytes(), [], store=store)
    assert sha1.value.hint == "this looks like a TPM event log; use rmtool log show"
    assert sha1.value.exit_code == 2


# -- minimal-event logs ------------------------------------------------------------------------

def test_minimal_event_log_layout() -> None:
    data = minimal_rem_log(8)
    assert data[-MINIMAL_EVENT_SIZE:] == (
        (4).to_bytes(4, "little") + (0x80000007).to_bytes(4, "little")
        + (1).to_bytes(4, "little") + (0x000B).to_bytes(2, "little") + EMPTY + bytes(4))
    assert len(minimal_rem_log(12)) - len(data) == 4 * MINIMAL_EVENT_SIZE


def test_20k_minimal_events_replay(tmp_path: Path, store: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "min.bin"
    log.write_bytes(minimal_rem_log(20_000))
    assert run(["replay", str(log), "--store", store, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rems"] == [_chain(5000).hex()] * 4
    assert doc["index_map"] == "mr" and doc["hash_algo"] == "sha256"
    assert doc["unknown_digests"] == [EMPTY.hex()]
    assert len(doc["events"]) == 3 + 20_000
    assert [e["register"] for e in doc["events"][3:7]] == ["REM0", "REM1", "REM2", "REM3"]
    assert doc["events"][3]["value_after"] == _chain(1).hex()
    assert doc["events"][-1]["value_after"] == _chain(5000).hex()


def test_rows_capped_registers_cover_every_event(monkeypatch: pytest.MonkeyPatch,
                                                 store: str) -> None:
    """Past MAX_ROWS nothing per event is kept; the lean REM path computes the same REMs."""
    data = minimal_rem_log(4002)
    full = replay_log(data, [], store=store)
    monkeypatch.setattr(engine, "MAX_ROWS", 100)
    capped = replay_log(data, [], store=store)
    assert capped.rems == full.rems == [_chain(1001)] * 2 + [_chain(1000)] * 2
    assert capped.rim == full.rim and capped.rim is not None
    assert len(capped.events) == 100 and len(full.events) == 4005
    assert capped.unknown_digests == full.unknown_digests == [EMPTY.hex()]
    assert len(capped.operations) == 1 + 97  # REALM_CREATE, then the REM extends listed
    assert capped.warnings[-1] == ("the log has 4005 events: only the first 100 are listed "
                                   "(rows, operations); the RIM and REMs cover all of them")


# -- the lean path past MAX_ROWS and the Realm's batch REM extend ---------------------------

@pytest.mark.parametrize("algo", ["sha256", "sha512"])
def test_rem_extend_chain_is_rem_extend_in_turn(algo: str) -> None:
    """The batch extend of the lean path computes REM = H(REM || item) for every item, as
    hashlib does and as one rem_extend per item does; a refused call changes nothing."""
    from rmtool.measure.rmm.algorithms import ALGORITHMS
    from rmtool.measure.rmm.ops import RealmCreate, RealmParams, RemExtend
    from rmtool.measure.rmm.realm import Realm

    items = [hashlib.new(algo, bytes([i])).digest() for i in range(7)] + [b"", b"\x01" * 64]
    one, batch = Realm(), Realm()
    for realm in (one, batch):
        realm.apply(RealmCreate(RealmParams(hash_algo=ALGORITHMS[algo], s2sz=48)))
    for item in items:
        one.apply(RemExtend(2, item))
    batch.rem_extend_chain(2, items[:4])
    batch.rem_extend_chain(2, [])
    batch.rem_extend_chain(2, items[4:])
    expected = bytes(hashlib.new(algo).digest_size)
    for item in items:
        expected = hashlib.new(algo, expected + item).digest()
    assert batch.measurements().rems == one.measurements().rems
    assert batch.measurements().rems[2] == expected
    assert len(batch.trace) == 1  # REALM_CREATE only: the batch leaves no trace entries
    with pytest.raises(Exception, match="REM index 4 out of range 0..3"):
        batch.rem_extend_chain(4, items)
    with pytest.raises(Exception, match="RSI_MEASUREMENT_EXTEND size 65 > 64"):
        batch.rem_extend_chain(1, [items[0], b"\x00" * 65])
    assert batch.measurements().rems == one.measurements().rems


def _mixed_log() -> bytes:
    """A Realm log whose body mixes plain REM extends with every event the lean path must
    hand to the full path: EV_NO_ACTION, an index naming no register (mr map), a REM0
    event without the Realm-algorithm digest (REM0 no longer computable), a second
    REALM_CREATE, a new unknown digest, an image event on a REM index."""
    from rmtool.eventlog import _constants as c
    from rmtool.eventlog import build

    def plain(index: int, text: bytes) -> build.LogEvent:
        return build.LogEvent(index, c.EV_EFI_ACTION, text)

    events = [build.LogEvent(0, c.EV_NO_ACTION, build.vm_version("QEMU", "9.1.50", 1 << 30, 1),
                             digests={"sha256": bytes(32), "sha512": bytes(64)}),
              build.LogEvent(0, c.EV_EVENT_TAG, build.realm_create(s2sz=40), digests={})]
    events += [plain(1 + i % 4, b"a%d" % (i % 3)) for i in range(40)]
    events += [build.LogEvent(0, c.EV_NO_ACTION, b"StartupLocality\0\0",
                              digests={"sha256": bytes(32), "sha512": bytes(64)}),
               plain(4, b"x"), plain(7, b"no register"), plain(3, b"y")]
    events += [plain(1 + i % 4, b"b%d" % (i % 5)) for i in range(30)]
    events += [build.LogEvent(1, c.EV_EFI_ACTION, b"sha512 only",
                              digests={"sha512": hashlib.sha512(b"sha512 only").digest()})]
    events += [plain(1 + i % 4, b"c%d" % i) for i in range(30)]
    events += [build.LogEvent(0, c.EV_EVENT_TAG, build.realm_create(s2sz=40), digests={}),
               build.LogEvent(2, c.EV_POST_CODE2, build.blob2(b"INITRD", 0x1000, 0x10)),
               plain(4, b"last")]
    return build.build_log(["sha256", "sha512"], events)


@pytest.mark.parametrize("rows", [3, 10, 45, 80])
def test_lean_path_hands_every_other_event_to_the_full_path(
        monkeypatch: pytest.MonkeyPatch, store: str, rows: int) -> None:
    """Whatever MAX_ROWS is, the registers, errors, unknown digests and warnings are those
    of the full replay, and the REMs are the chains computed here with hashlib."""
    data = _mixed_log()
    full = replay_log(data, [], store=store, index_map="mr")
    monkeypatch.setattr(engine, "MAX_ROWS", rows)
    capped = replay_log(data, [], store=store, index_map="mr")
    assert len(full.events) == 111 and len(capped.events) == rows
    assert capped.rems == full.rems and capped.rim == full.rim
    assert capped.rim_error == full.rim_error
    assert capped.errors == full.errors
    assert capped.unknown_digests == full.unknown_digests
    assert capped.warnings[:-1] == full.warnings
    assert capped.warnings[-1] == (f"the log has 111 events: only the first {rows} are "
                                   "listed (rows, operations); the RIM and REMs cover all "
                                   "of them")
    assert full.rems[0] is None and full.rim is None
    assert full.errors == ["event 45: index 7 names no register under the mr map",
                           "event 77 extends REM0 without a sha256 digest (the Realm "
                           "algorithm)"]
    assert full.rim_error == "event 108 (REALM_CREATE s2sz 40 sha256): second REALM_CREATE"
    # REM3 (index 4): every index-4 event of the log, in order, with its sha256 digest
    from rmtool.eventlog import parse

    chain = bytes(32)
    for event in parse(data):
        if event.index == 4 and event.event_type != 0x3:
            chain = hashlib.sha256(chain + event.digests["sha256"]).digest()
    assert full.rems[3] == chain
    # distinct digests of the replayed REM events: a0-a2, x, y, b0-b4, the 22 c events not
    # on the broken REM0, the INITRD blob, "last"
    assert len(full.unknown_digests) == 3 + 2 + 5 + 22 + 2
    assert full.unknown_digests[:4] == [hashlib.sha256(t).hexdigest()
                                        for t in (b"a0", b"a1", b"a2", b"x")]
