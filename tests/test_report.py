"""HTML reports (rmtool.report, ``--html``): content, escaping, sizes, atomic writes.

The scenario is examples/03's failed attestation, made by rmtool's own example code: the
reference Realm (kvmtool, 512 MiB) and the Realm that started with a changed initrd, its
event log and its token signed with the example TEST keys. The browser checks (screenshots,
A4 width, scripts that must not run) are in test_report_browser.py; this file checks the
HTML text itself, parsed with the standard library's HTML parser.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from rmtool.cli.main import run
from rmtool.errors import RmtoolError
from rmtool.eventlog import _constants as EC
from rmtool.eventlog import build as B
from rmtool.replay import replay_log
from rmtool.report import (
    Claim,
    RealmLayout,
    Region,
    Report,
    Verdict,
    render,
    replay_report,
    write_report,
)
from rmtool.report._memmap import build as build_map
from rmtool.report._render import hexruns

HOST = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf"]
KVMTOOL = ["--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i", "initrd.cpio",
           "--measurement-log", "-p", "console=hvc0"]
MAX_REPORT = 2 << 20

# A payload that changes the DOM if it ever runs (test_report_browser.py looks for the
# attribute); here: it must never appear as markup.
PAYLOAD = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
SCRIPT_PAYLOAD = "<script>document.body.setAttribute('data-pwned','script')</script>"


@dataclass(frozen=True)
class Scenario:
    dir: Path
    reference_trace: Path
    started_log: Path
    token: Path
    key: Path


def make_scenario(base: Path) -> Scenario:
    """examples/03-debug-attestation.sh's inputs in BASE (rmtool's own example code)."""
    import contextlib
    import io

    from click.testing import CliRunner

    from rmtool.examples.__main__ import main as examples

    cwd = os.getcwd()
    os.chdir(base)
    try:
        res = CliRunner().invoke(examples, ["inputs", ".", "--changed-initrd"])
        assert res.exit_code == 0, res.output
        (base / "reference").mkdir()
        for name in ("Image", "initrd.cpio"):
            (base / "reference" / name).write_bytes((base / name).read_bytes())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert run(["measure", *HOST, "-k", "Image", "-i", "initrd.cpio", "--format",
                        "json", "--trace", "kvmtool", *KVMTOOL]) == 0
        (base / "reference-trace.json").write_text(out.getvalue())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert run(["measure", *HOST, "-k", "Image", "-i", "initrd-changed.cpio",
                        "--emit-log", "started.log", "--format", "json", "kvmtool",
                        *KVMTOOL]) == 0
        (base / "started.json").write_text(out.getvalue())
        res = CliRunner().invoke(examples, ["token", "--measurements", "started.json",
                                            "--out", "token.cbor", "--key-out", "key.pem"])
        assert res.exit_code == 0, res.output
    finally:
        os.chdir(cwd)
    return Scenario(base, base / "reference-trace.json", base / "started.log",
                    base / "token.cbor", base / "key.pem")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("report"))


class Dom(HTMLParser):
    """Text of elements by id and by class, the attributes of every element."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.by_id: dict[str, list[str]] = {}
        self.by_class: dict[str, list[list[str]]] = {}
        self.open_class: list[tuple[int, str, list[str]]] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag in ("td", "th", "br", "li", "div", "dd", "dt", "text", "tr"):
            self.handle_data(" ")  # cells read as words
        if tag in ("meta", "br", "col", "line", "input", "img", "link"):
            return
        self.stack.append((tag, a))
        for c in a.get("class", "").split():
            parts: list[str] = []
            self.by_class.setdefault(c, []).append(parts)
            self.open_class.append((len(self.stack), c, parts))
        if "id" in a:
            self.by_id[a["id"]] = []
            self.open_class.append((len(self.stack), "#" + a["id"], self.by_id[a["id"]]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("meta", "br", "col", "line", "input", "img", "link"):
            return
        depth = len(self.stack)
        self.open_class = [o for o in self.open_class if o[0] < depth]
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for _, _, parts in self.open_class:
            parts.append(data)

    def text(self, ident: str) -> str:
        return " ".join("".join(self.by_id.get(ident, [])).split())

    def texts(self, css: str) -> list[str]:
        return [" ".join("".join(p).split()) for p in self.by_class.get(css, [])]


def _html(path: Path) -> Dom:
    return Dom(path.read_text(encoding="utf-8"))


def _json(args: list[str], capsys: pytest.CaptureFixture[str], status: int) -> dict[str, Any]:
    capsys.readouterr()
    assert run(args) == status
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _in_dir(path: Path) -> str:
    cwd = os.getcwd()
    os.chdir(path)
    return cwd


# ---------------------------------------------------------------- per command


def test_compare_report_shows_every_cause_claim_region_and_operation(
        scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    s = scenario
    cwd = _in_dir(s.dir)
    try:
        args = ["compare", "token.cbor", "--platform-key", "key.pem", "--log", "started.log",
                "--images", "reference", "--measure-trace", "reference-trace.json"]
        doc = _json([*args, "--format", "json", "--html", "compare.html"], capsys, 1)
        text_out = capsys.readouterr()
        assert run(args) == 1
        table = capsys.readouterr().out
    finally:
        os.chdir(cwd)
    dom = _html(s.dir / "compare.html")
    assert dom.text("verdict-text") == "MISMATCH"
    causes = dom.texts("cause")
    expected_causes = list(doc["mismatches"]) + [e["message"] for e in doc["explanations"]]
    assert causes == [" ".join(c.split()) for c in expected_causes]
    assert any("operation 4 is the first that differs" in c for c in causes)
    # claims: every row of the JSON, the mismatching RIM bytes highlighted
    rows = dom.texts("claim")
    assert len(rows) == len(doc["claims"]) == 7
    for row, claim in zip(rows, doc["claims"], strict=True):
        assert claim["actual"] in row.replace(" ", "")
        assert claim["status"] in row
    marks = dom.texts("hex")
    assert marks[0] == "e4ca934a78bbe5e279f1e7ca3ca3ffd081bc80520bbf0fcb37223bd9622ce84e"
    # the terminal table brackets the first differing byte (the first byte here)
    assert "[e4]ca934a78\u2026" in table and "[11]beab6ca9\u2026" in table
    assert "e4ca934a78bbe5e279f1e7ca3ca3ffd081bc80520bbf0fcb37223bd9622ce84e" in table
    # timeline: the 7 expected operations and the log's 4 (the 4th does not replay)
    ops = dom.texts("op")
    trace = json.loads(s.reference_trace.read_text())["trace"]
    assert len(ops) == 7
    for row, step in zip(ops, trace, strict=True):
        assert step["operation"] in row and " ".join(step["detail"].split()) in row
    assert "first divergence" in ops[3] and "first divergence" not in ops[2]
    assert dom.texts("first-div") == [ops[3]]
    # memory map: every region of the expected configuration, drawn and listed
    regions = dom.texts("region")
    svg = " ".join(dom.texts("realm-column"))
    for step in trace:
        inp = step["inputs"]
        if step["operation"].startswith("DATA_CREATE"):
            name = step["origin"]
            assert f"{name} {inp['ipa']:#x} +{inp['size']:#x}" in svg
            assert any(f"[{inp['ipa']:#x}, {inp['ipa'] + inp['size']:#x})" in r for r in regions)
        if step["operation"] == "INIT_RIPAS":
            assert any(f"[{inp['base']:#x}, {inp['top']:#x})" in r for r in regions)
    # the changed initrd: a different place and size in the log, highlighted on both sides
    diff_rows = [r for r in regions if "differs" in r]
    assert any("INITRD [0x8fdffec8, 0x8fdffffc)" in r for r in diff_rows)
    assert any("INITRD [0x8fdffec0, 0x8fdffffc)" in r and "does not replay" in r
               for r in diff_rows)
    assert not any("KERNEL" in r for r in diff_rows)
    # provenance: the inputs' SHA-256 and the command line
    import hashlib

    inputs = dom.texts("input")
    assert any(hashlib.sha256(s.token.read_bytes()).hexdigest() in r for r in inputs)
    assert any(r.startswith("image reference") and "directory" in r for r in inputs)
    assert text_out.err == ""


def test_waived_check_is_not_shown_as_a_green_match(
        scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    """The mistake this stops: a report painting MATCH green although the platform
    signature was never checked (--skip-platform-signature): exit 0, verdict box amber."""
    started = json.loads((scenario.dir / "started.json").read_text())
    cwd = _in_dir(scenario.dir)
    try:
        doc = _json(["compare", "token.cbor", "--skip-platform-signature", "--rim",
                     started["rim"], "--format", "json", "--html", "waived.html"], capsys, 0)
        assert run(["compare", "token.cbor", "--platform-key", "key.pem", "--rim",
                    started["rim"], "--html", "verified.html"]) == 0
    finally:
        os.chdir(cwd)
    assert doc["unverified"] == ["platform.signature"]
    waived = _html(scenario.dir / "waived.html")
    header = [a for t, a in waived.tags if a.get("id") == "verdict"][0]
    assert header["class"] == "verdict warn"
    assert waived.text("verdict-text") == ("MATCH (UNVERIFIED: platform.signature waived by "
                                           "--skip-platform-signature)")
    verified = _html(scenario.dir / "verified.html")
    assert [a for t, a in verified.tags if a.get("id") == "verdict"][0]["class"] == \
        "verdict pass"
    assert verified.text("verdict-text") == "MATCH"


def test_replay_report_lists_every_event_and_the_cause(
        scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    s = scenario
    cwd = _in_dir(s.dir)
    try:
        doc = _json(["replay", "started.log", "--images", "reference", "--format", "json",
                     "--html", "replay.html"], capsys, 1)
    finally:
        os.chdir(cwd)
    dom = _html(s.dir / "replay.html")
    assert dom.text("verdict-text") == "NOT REBUILT"
    assert dom.texts("cause")[0].startswith("RIM cannot be rebuilt: event 5 (INITRD")
    events = dom.texts("ev")
    assert len(events) == len(doc["events"]) == 9
    for row, ev in zip(events, doc["events"], strict=True):
        assert row.startswith(f"{ev['number']} {ev['type']} {ev['register']}")
        assert " ".join(ev["description"].split()) in row
    ops = dom.texts("op")
    assert [o.split()[1] for o in ops] == ["REALM_CREATE", "INIT_RIPAS", "DATA_CREATE",
                                         "DATA_CREATE"]
    assert "does not replay" in ops[3]


def test_measure_report_of_a_realm(scenario: Scenario,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    s = scenario
    cwd = _in_dir(s.dir)
    try:
        doc = _json(["measure", *HOST, "-k", "Image", "-i", "initrd.cpio", "--format", "json",
                     "--trace", "--html", "measure.html", "kvmtool", *KVMTOOL], capsys, 0)
    finally:
        os.chdir(cwd)
    dom = _html(s.dir / "measure.html")
    assert dom.text("verdict-text") == "MEASURED"
    assert f"rim {doc['rim']}" in dom.text("summary")
    ops = dom.texts("op")
    assert len(ops) == len(doc["trace"]) == 7
    lanes = [r.split()[0] for r in dom.texts("region")]
    assert lanes == ["RAM", "RIPAS", "measured", "measured", "measured", "unmeasured"]
    assert "RAM [0x80000000, 0xa0000000) 0x20000000 (512 MiB)" in dom.texts("region")[0]


# ---------------------------------------------------------------- hostile strings


def test_hostile_strings_are_text_never_markup(tmp_path: Path) -> None:
    """A token string, an event string and a file name carrying markup come out escaped."""
    evil = PAYLOAD + SCRIPT_PAYLOAD + "</svg></table>"
    report = Report("compare", Verdict(f"FAIL ({evil})", "fail", (evil,)),
                    argv=("rmtool", "compare", evil), version="0",
                    layouts=[RealmLayout(evil, (Region("data", evil, 0x1000, 0x1000),))],
                    claims=[Claim("RIM", evil, b"\x01", b"\x02", "mismatch", evil)])
    text = render(report)
    for needle in ("<script>document", "<img src=x", "</svg></table>"):
        assert needle not in text
    assert str(markupsafe.escape(SCRIPT_PAYLOAD)) in text
    assert text.count("<script") == 0 and "onerror=\"" not in text
    dom = Dom(text)
    assert dom.text("verdict-text") == f"FAIL ({evil})"
    assert dom.text("argv") == " ".join(shlex.join(["rmtool", "compare", evil]).split())


def test_hostile_event_description_in_a_replay_report(tmp_path: Path) -> None:
    log = B.build_log(["sha256"], [
        B.LogEvent(0, EC.EV_NO_ACTION, B.vm_version("kvmtool", "1", 1 << 29, 1)),
        B.LogEvent(0, EC.EV_EVENT_TAG, B.realm_create(s2sz=33)),
        B.LogEvent(0, EC.EV_POST_CODE2, B.blob2(SCRIPT_PAYLOAD.encode(), 0x80000000, 0x1000)),
    ])
    result = replay_log(log, [])
    assert any(SCRIPT_PAYLOAD in e.description for e in result.events)
    text = render(replay_report(result, ["rmtool", "replay", "x.log"]))
    assert "<script" not in text
    assert str(markupsafe.escape(SCRIPT_PAYLOAD)) in text


# ---------------------------------------------------------------- pieces


def test_claim_bytes_are_highlighted_where_they_differ() -> None:
    exp = bytes.fromhex("00112233")
    act = bytes.fromhex("00ff2244")
    assert hexruns(exp, act) == [("00", False), ("11", True), ("22", False), ("33", True)]
    assert hexruns(exp, None) == [("00112233", False)]
    assert hexruns(exp, exp[:2]) == [("0011", False), ("2233", True)]


def test_memory_map_keeps_small_regions_visible_and_in_address_order() -> None:
    """A 308-byte initrd beside 512 MiB of RAM still gets a visible box (log scale),
    and boxes keep the address order."""
    lay = RealmLayout("x", (Region("ram", "RAM", 0x80000000, 0x20000000),
                            Region("data", "INITRD", 0x8fdffec8, 0x134),
                            Region("data", "DTB", 0x8fe00000, 0x10000)), ipa_bits=33)
    mm = build_map([lay])
    rects = {r.title.split()[0]: r for r in mm.columns[0].rects}
    assert rects["INITRD"].h >= 9 and rects["DTB"].h > rects["INITRD"].h
    assert rects["RAM"].y < rects["INITRD"].y < rects["DTB"].y
    assert rects["RAM"].y + rects["RAM"].h > rects["DTB"].y + rects["DTB"].h
    assert mm.axis[0].text == "0x0" and mm.axis[-1].text == "0x200000000"


# ---------------------------------------------------------------- sizes and writes


def test_report_of_a_4096_event_log_is_under_2_mb(tmp_path: Path) -> None:
    result = replay_log(B.minimal_rem_log(4096), [])
    assert len(result.events) == 4096 + 3
    path = tmp_path / "big.html"
    write_report(str(path), replay_report(result, ["rmtool", "replay", "big.log"]))
    size = path.stat().st_size
    assert 4096 * 100 < size < MAX_REPORT
    assert path.read_text().count('<tr class="ev') == 4099


def test_report_of_a_64_vcpu_realm_is_under_2_mb(scenario: Scenario, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """kvmtool with 64 vCPUs (rmtool measures the boot vCPU's REC), and a log of a Realm
    that creates all 64 RECs: 66 operations on the timeline."""
    cwd = _in_dir(scenario.dir)
    try:
        args = [a if a != "2" else "64" for a in KVMTOOL]
        doc = _json(["measure", *HOST, "-k", "Image", "-i", "initrd.cpio", "--format", "json",
                     "--trace", "--html", "cpus64.html", "kvmtool", *args], capsys, 0)
    finally:
        os.chdir(cwd)
    path = scenario.dir / "cpus64.html"
    assert len(_html(path).texts("op")) == len(doc["trace"]) == 7
    assert path.stat().st_size < MAX_REPORT
    log = B.build_log(["sha256"], recs64_events())
    result = replay_log(log, [])
    assert result.ok and len(result.records()) == 66
    path = tmp_path / "recs64.html"
    write_report(str(path), replay_report(result, ["rmtool", "replay", "recs64.log"]))
    ops = _html(path).texts("op")
    assert len(ops) == 66 and sum("REC_CREATE" in o for o in ops) == 64
    assert path.stat().st_size < MAX_REPORT


def recs64_events() -> list[B.LogEvent]:
    """A kvmtool Realm's log with 64 REC_CREATE events (vCPU 0 runnable)."""
    events = [B.LogEvent(0, EC.EV_NO_ACTION, B.vm_version("kvmtool", "1", 1 << 29, 64)),
              B.LogEvent(0, EC.EV_EVENT_TAG, B.realm_create(s2sz=33)),
              B.LogEvent(0, EC.EV_EVENT_TAG, B.init_ripas(0x80000000, 1 << 29))]
    events += [B.LogEvent(0, EC.EV_EVENT_TAG, B.rec_create(
        flags=1 if i == 0 else 0, pc=0x80000000, gprs=[0x8fe00000] + [0] * 7))
        for i in range(64)]
    return events


def test_report_is_written_atomically_never_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    write_report(str(link), Report("measure", Verdict("MEASURED", "info")))
    assert target.read_text() == "keep"  # the link was replaced, its target untouched
    assert not link.is_symlink() and "MEASURED" in link.read_text()
    with pytest.raises(RmtoolError):
        write_report(str(tmp_path), Report("measure", Verdict("MEASURED", "info")))


def test_html_option_on_each_command_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("measure", "replay", "compare", "diagnose", "appraise"):
        assert run([command, "--help"]) == 0
        assert "--html FILE" in capsys.readouterr().out


# ---------------------------------------------------------------- diagnose and appraise

# the expected Realm's MEASURE_ARGS (examples/03's reference); the started one had
# initrd-changed.cpio
EXPECTED_ARGS = [*HOST, "-k", "Image", "-i", "initrd.cpio", "kvmtool", *KVMTOOL]


def _diagnose_pair(d: Path, name: str, args: list[str], capsys: pytest.CaptureFixture[str],
                   status: int) -> tuple[dict[str, Any], Dom]:
    """diagnose's JSON and its report from the same run."""
    cwd = _in_dir(d)
    try:
        doc = _json(["diagnose", *args, "--format", "json", "--html", f"{name}.html", "--",
                     *EXPECTED_ARGS], capsys, status)
    finally:
        os.chdir(cwd)
    return doc, _html(d / f"{name}.html")


def _cause_texts(doc: dict[str, Any]) -> list[str]:
    from rmtool.diagnose._render import cause_line
    from rmtool.diagnose.model import Cause

    return [" ".join((cause_line(Cause(**c)) + (f" — {c['detail']}" if c["detail"] else ""))
                     .split()) for c in doc["causes"]]


def test_diagnose_report_with_a_log_shows_causes_claims_and_both_realms(
        scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    """diagnose --log: every cause of the JSON at the top, the claims with the RIM's
    differing bytes, the expected Realm (MEASURE_ARGS) and the log's side by side (the
    changed initrd highlighted), operations aligned with the first divergence marked."""
    doc, dom = _diagnose_pair(scenario.dir, "diagnose-log",
                              ["token.cbor", "--platform-key", "key.pem", "--log",
                               "started.log", "--images", "."], capsys, 1)
    assert doc["verdict"] == "mismatch" and [c["parameter"] for c in doc["causes"]] == \
        ["initrd"]
    assert dom.text("verdict-text") == "MISMATCH"
    assert dom.texts("cause") == _cause_texts(doc)
    assert "initrd-changed.cpio" in dom.texts("cause")[0]
    started = json.loads((scenario.dir / "started.json").read_text())
    rows = dom.texts("claim")
    assert rows[0].startswith("RIM expected Realm (MEASURE_ARGS)") and "mismatch" in rows[0]
    assert started["rim"] in rows[0].replace(" ", "")
    assert all("match" in r and "mismatch" not in r for r in rows[1:])
    assert len(rows) == 1 + 4 + 1  # RIM, REM0..3, RPV
    regions = dom.texts("region")
    assert any(r.startswith("expected: kvmtool (MEASURE_ARGS)") for r in regions)
    assert any(r.startswith("actual: log replay") for r in regions)
    diff_rows = [r for r in regions if "differs" in r]
    assert any("INITRD [0x8fdffec8, 0x8fdffffc)" in r for r in diff_rows)
    assert any("INITRD [0x8fdffec0, 0x8fdffffc)" in r for r in diff_rows)
    ops = dom.texts("op")
    trace = json.loads(scenario.reference_trace.read_text())["trace"]
    assert len(ops) == len(trace) == 7
    assert dom.texts("first-div") == [ops[3]] and "INITRD" in ops[3]
    assert len(dom.texts("ev")) == 9  # the log's events
    assert dom.texts("dtb-change") == [] and dom.texts("component") == []


@pytest.mark.parametrize("log", [False, True])
def test_diagnose_report_without_a_replayed_log_draws_the_reproduced_realm(
        scenario: Scenario, capsys: pytest.CaptureFixture[str], log: bool) -> None:
    """Without a log (search), or with a log whose images are not all given (it does not
    replay), the actual Realm is the ``reproduced_by`` measurement: its operations end
    with the token's RIM; the log's events are still listed."""
    extra = ["--log", "started.log"] if log else []
    doc, dom = _diagnose_pair(scenario.dir, f"diagnose-repro-{log}",
                              ["token.cbor", "--platform-key", "key.pem", *extra, "--images",
                               "initrd-changed.cpio"], capsys, 1)
    assert doc["reproduced_by"] is not None
    assert (doc["candidates_tried"] > 0) != log
    assert len(dom.texts("ev")) == (9 if log else 0)
    assert dom.texts("cause") == _cause_texts(doc)
    regions = dom.texts("region")
    assert any(r.startswith("actual: kvmtool (reproduced_by)") for r in regions)
    started = json.loads((scenario.dir / "started.json").read_text())
    rims = [a["title"] for t, a in dom.tags if t == "span" and a.get("class") == "h"]
    assert started["rim"] in rims  # the reproduced Realm's final RIM: the token's
    assert "INITRD" in dom.texts("first-div")[0]


def test_diagnose_report_shows_the_dtb_diff_of_changed_bootargs(
        scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Realm started with other kernel arguments; its DTB file under --images: the
    report's DTB diff has /chosen bootargs with both values."""
    from click.testing import CliRunner

    from rmtool.examples.__main__ import main as examples

    d = scenario.dir
    cwd = _in_dir(d)
    try:
        args = [*HOST, "-k", "Image", "-i", "initrd.cpio", "--output-dtb", "args.dtb",
                "--emit-log", "args.log", "--format", "json", "kvmtool",
                *KVMTOOL[:-1], "console=ttyAMA0 <blink>evil</blink>"]
        capsys.readouterr()
        assert run(["measure", *args]) == 0
        (d / "args.json").write_text(capsys.readouterr().out)
        res = CliRunner().invoke(examples, ["token", "--measurements", "args.json", "--out",
                                            "args.cbor", "--key-out", "args-key.pem"])
        assert res.exit_code == 0, res.output
    finally:
        os.chdir(cwd)
    doc, dom = _diagnose_pair(d, "diagnose-dtb", ["args.cbor", "--platform-key",
                                                  "args-key.pem", "--log", "args.log",
                                                  "--images", "args.dtb"], capsys, 1)
    assert [c["parameter"] for c in doc["causes"]] == ["bootargs"]
    changes = dom.texts("dtb-change")
    assert len(changes) == 1
    assert changes[0].startswith("/chosen bootargs")
    assert changes[0].endswith("console=ttyAMA0 <blink>evil</blink>")  # text, not markup
    assert not [t for t, _ in dom.tags if t == "blink"]


def test_dtb_node_causes_become_one_row_per_property() -> None:
    """A ``dtb`` cause (its node in ``Cause.node``): a row per differing property, an
    absent side shown as absent; a DTB known only by digest is one whole-blob row."""
    from rmtool.diagnose.model import Cause, Diagnosis
    from rmtool.report._sources import _dtb_changes

    d = Diagnosis("mismatch", {}, [
        Cause("dtb", {"reg": "<0x0 0x80000000 0x0 0x20000000>", "x": None},
              {"reg": "<0x0 0x80000000 0x0 0x40000000>", "x": "1"}, "log",
              "DTB (event 6): /memory@80000000: properties differ: reg, x", "/memory@80000000"),
        Cause("dtb", None, {"compatible": "evil"}, "log", "...: /evil: node only in the "
              "token's Realm", "/evil"),
        Cause("dtb", "aa" * 32, "bb" * 32, "log", "DTB (event 6): the log's DTB differs")])
    rows = [(c.path, c.prop, c.expected, c.actual) for c in _dtb_changes(d)]
    assert rows == [
        ("/memory@80000000", "reg", "<0x0 0x80000000 0x0 0x20000000>",
         "<0x0 0x80000000 0x0 0x40000000>"),
        ("/memory@80000000", "x", None, "1"),
        ("/evil", "compatible", None, "evil"),
        ("(whole DTB)", "digest", "aa" * 32, "bb" * 32)]


def _corpus() -> tuple[Path, Path, Path, Path]:
    from tests.conftest import CORPUS, need_shared

    need_shared()
    cbor = CORPUS / "corim" / "cbor"
    return (CORPUS / "tokens" / "services_arm-cca_cca-good.cbor",
            cbor / "services_armcca_corim-cca-platform-valid.cbor",
            cbor / "services_armcca_corim-cca-realm-valid.cbor",
            CORPUS / "tokens" / "keys" / "services_ec.p256.jwk")


def test_appraise_report_shows_submods_trust_vectors_components_and_claims(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """appraise --html on Veraison's cca-good with its CoRIMs and no challenge: every
    submod's eight claims with the reason of the JSON, every platform component, the
    realm claims against the realm CoRIM, and the waived freshness as a cause (the box
    amber: affirming, but a check was not made)."""
    token, platform, realm, _ = _corpus()
    page = tmp_path / "appraise.html"
    doc = _json(["appraise", str(token), "--corim", str(platform), "--corim", str(realm),
                 "--format", "json", "--html", str(page)], capsys, 0)
    dom = _html(page)
    assert doc["ear.status"] == "affirming"
    assert dom.text("verdict-text").startswith("AFFIRMING (UNVERIFIED: freshness")
    assert [a for t, a in dom.tags if a.get("id") == "verdict"][0]["class"] == "verdict warn"
    rows = dom.texts("trust")
    expected_rows = [f"{name} ({sub['status']}) {claim} {v['value']} {v['tier']} "
                     f"{' '.join(v['reason'].split())}"
                     for name, sub in doc["submods"].items()
                     for claim, v in sub["trustworthiness-vector"].items()]
    assert rows == expected_rows and len(rows) == 16
    comps = dom.texts("component")
    details = doc["submods"]["CCA_SSD_PLATFORM"]["details"]
    assert len(comps) == len(details) == 4
    for row, c in zip(comps, details, strict=True):
        assert row.startswith(f"{c['measurement_type']} {c['version']}")
        assert c["digest"] in row.replace(" ", "") and row.endswith("signer id differs")
    claims = dom.texts("claim")
    assert [r.split()[0] for r in claims] == ["RIM", "REM0", "REM1", "REM2", "REM3", "RPV"]
    assert all(r.endswith("match") and "mismatch" not in r for r in claims)
    assert dom.texts("cause") == [" ".join(("UNVERIFIED: " + doc["unverified"][0]).split())]


def test_appraise_report_names_a_swapped_component(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A firmware component swapped (the token re-signed with the corpus CPAK): the cause
    names it with appraise's reason and its row says it matches no reference value."""
    from rmtool.verify.token import _claims as C
    from tests.test_appraise import NONCE, _resigned

    _, platform, realm, _ = _corpus()
    token = tmp_path / "swapped.cbor"
    token.write_bytes(_resigned(sw_edit=(1, C.SW_MEASUREMENT_VALUE,
                                         bytes.fromhex("7b8e" + "00" * 30))))
    page = tmp_path / "swapped.html"
    doc = _json(["appraise", str(token), "--corim", str(platform), "--corim", str(realm),
                 "--challenge", NONCE.hex(), "--format", "json", "--html", str(page)],
                capsys, 1)
    dom = _html(page)
    assert dom.text("verdict-text") == "WARNING" == doc["ear.status"].upper()
    reason = doc["submods"]["CCA_SSD_PLATFORM"]["trustworthiness-vector"]["executables"][
        "reason"]
    assert reason == ("platform component M1 version 1.2.0 digest 7b8e0000… matches no "
                      "reference value")
    assert dom.texts("cause") == [f"CCA_SSD_PLATFORM executables: warning (33): {reason}"]
    comps = dom.texts("component")
    assert comps[1].startswith("M1 1.2.0") and comps[1].endswith("no reference value")
    assert "7b8e" + "00" * 30 in comps[1].replace(" ", "")


def test_compare_report_lists_diagnose_causes_and_platform(
        scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    """compare -- MEASURE_ARGS computes diagnose's causes: the report lists them after the
    mismatches and explanations, as the table does."""
    cwd = _in_dir(scenario.dir)
    try:
        args = ["compare", "token.cbor", "--platform-key", "key.pem", "--log", "started.log",
                "--images", ".", "--measure-trace", "reference-trace.json"]
        doc = _json([*args, "--format", "json", "--html", "compare-causes.html", "--",
                     *EXPECTED_ARGS], capsys, 1)
        assert run([*args, "--", *EXPECTED_ARGS]) == 1
        table = capsys.readouterr().out
    finally:
        os.chdir(cwd)
    assert [c["parameter"] for c in doc["causes"]] == ["initrd"]
    dom = _html(scenario.dir / "compare-causes.html")
    from rmtool.report._sources import cause_text

    texts = dom.texts("cause")
    assert texts[-1] == " ".join(cause_text(doc["causes"][0]).split())
    assert texts[:-1] == [" ".join(m.split()) for m in
                          [*doc["mismatches"], *(e["message"] for e in doc["explanations"])]]
    assert f"- {cause_text(doc['causes'][0])}" in table
