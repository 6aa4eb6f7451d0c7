"""HTML reports in a real browser: headless Chromium from the distribution's packages.

For each command's report: a screenshot whose memory-map and timeline regions are not
blank, a layout that fits an A4 page's printable width (190 mm = 718 CSS px) and prints
on A4, the DOM after load (``--dump-dom``), and scripts injected through a token claim, an
event string and a file name that never run. Where the boxes are comes from a test copy
of the page (its Content-Security-Policy removed, a measuring script added: that copy
also proves the escaping alone keeps the payloads inert, since scripts do run there).
Chromium missing: skipped locally, a failure in CI (``CI`` set; .ci/run installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from rmtool.eventlog import _constants as EC
from rmtool.eventlog import build as B
from tests.test_report import HOST, KVMTOOL, PAYLOAD, SCRIPT_PAYLOAD, Dom, Scenario, make_scenario

ROOT = Path(__file__).resolve().parents[1]
A4_PRINTABLE_PX = 718  # 210 mm - 2 x 10 mm margins, at 96 CSS px per inch
A4_PT = (595.0, 842.0)
# A file name cannot hold "/": the payload for names is the <img onerror> one.
NAME_PAYLOAD = PAYLOAD
MEASURE_JS = """<script>
function box(id) { var e = document.getElementById(id); if (!e) return null;
  var r = e.getBoundingClientRect();
  return [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round); }
document.body.setAttribute('data-layout', JSON.stringify({
  width: document.documentElement.scrollWidth, map: box('memory-map-svg'), ops: box('ops'),
  height: document.documentElement.scrollHeight}));
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: CI must run the browser tests "
                        "(.ci/run installs the distribution's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def browse(tmp: Path, url: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run headless Chromium on URL, no network: every host resolves to nothing."""
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--hide-scrollbars", "--disable-background-networking",
         "--host-resolver-rules=MAP * ~NOTFOUND",
         *args, url.as_uri()], capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc


def dump_dom(tmp: Path, page: Path, width: int = A4_PRINTABLE_PX) -> str:
    return browse(tmp, page, f"--window-size={width},1000", "--dump-dom").stdout.decode()


def screenshot(tmp: Path, page: Path, width: int, height: int) -> Png:
    out = tmp / (page.stem + ".png")
    browse(tmp, page, f"--window-size={width},{height}", f"--screenshot={out}")
    return Png(out.read_bytes())


def measured_copy(page: Path) -> Path:
    """PAGE without its CSP meta tag, with MEASURE_JS before </body> (scripts run there)."""
    text = page.read_text(encoding="utf-8")
    text, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    assert n == 1
    copy = page.with_name(page.stem + "-measured.html")
    copy.write_text(text.replace("</body>", MEASURE_JS + "</body>"), encoding="utf-8")
    return copy


# ---------------------------------------------------------------- a small PNG reader


def _add(a: int, b: int, n: int) -> int:
    """Bytewise (a + b) mod 256 of two n-byte big-endian integers (no carries)."""
    hi = int.from_bytes(b"\x80" * n, "big")
    lo = hi ^ ((1 << (8 * n)) - 1)
    return ((a & lo) + (b & lo)) ^ ((a ^ b) & hi)


class Png:
    """8-bit RGB / RGBA, non-interlaced (what Chromium writes): rows of pixels."""

    def __init__(self, data: bytes) -> None:
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        pos, idat = 8, []
        header = None
        while pos < len(data):
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            if kind == b"IHDR":
                header = struct.unpack(">IIBBBBB", body)
            elif kind == b"IDAT":
                idat.append(body)
            pos += 12 + length
        assert header is not None
        self.width, self.height, depth, ctype, _, _, interlace = header
        assert depth == 8 and ctype in (2, 6) and interlace == 0
        self.bpp = 3 if ctype == 2 else 4
        raw = zlib.decompress(b"".join(idat))
        stride = self.width * self.bpp
        prev = bytes(stride)
        self.rows: list[bytes] = []
        for y in range(self.height):
            start = y * (stride + 1)
            kind, line = raw[start], raw[start + 1:start + 1 + stride]
            cur = self._unfilter(kind, line, prev, stride)
            self.rows.append(cur)
            prev = cur

    def _unfilter(self, kind: int, line: bytes, prev: bytes, stride: int) -> bytes:
        bpp = self.bpp
        if kind == 0:
            return line
        if kind == 2:
            total = _add(int.from_bytes(line, "big"), int.from_bytes(prev, "big"), stride)
            return total.to_bytes(stride, "big")
        if kind == 1:  # prefix sums by doubling: x[i] += x[i - bpp], x[i - 2 bpp], ...
            x, shift = int.from_bytes(line, "big"), bpp * 8
            while shift < stride * 8:
                x = _add(x, x >> shift, stride)
                shift *= 2
            return x.to_bytes(stride, "big")
        out = bytearray(line)
        for i in range(stride):
            a = out[i - bpp] if i >= bpp else 0
            b = prev[i]
            if kind == 3:
                out[i] = (out[i] + ((a + b) >> 1)) & 255
                continue
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            out[i] = (out[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        return bytes(out)

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = x * self.bpp
        r, g, b = self.rows[y][i:i + 3]
        return r, g, b

    def ink(self, box: list[int]) -> tuple[float, int]:
        """Share of non-white pixels in BOX (x, y, w, h) and how many colours it has."""
        x0, y0, w, h = box
        colours: set[tuple[int, int, int]] = set()
        inked = total = 0
        for y in range(max(0, y0), min(self.height, y0 + h), 2):
            for x in range(max(0, x0), min(self.width, x0 + w), 2):
                px = self.pixel(x, y)
                total += 1
                if px != (255, 255, 255):
                    inked += 1
                    colours.add((px[0] >> 4, px[1] >> 4, px[2] >> 4))
        return inked / max(total, 1), len(colours)


# ---------------------------------------------------------------- the reports


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "rmtool.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    chromium()
    s: Scenario = make_scenario(tmp_path_factory.mktemp("browser"))
    d = s.dir
    assert _cli(d, "measure", *HOST, "-k", "Image", "-i", "initrd.cpio", "--html",
                "measure.html", "kvmtool", *KVMTOOL).returncode == 0
    assert _cli(d, "replay", "started.log", "--images", "reference", "--html",
                "replay.html").returncode == 1
    assert _cli(d, "compare", "token.cbor", "--platform-key", "key.pem", "--log",
                "started.log", "--images", "reference", "--measure-trace",
                "reference-trace.json", "--html", "compare.html").returncode == 1
    assert _cli(d, "diagnose", "token.cbor", "--platform-key", "key.pem", "--log",
                "started.log", "--images", ".", "--html", "diagnose.html", "--",
                *DIAGNOSE_ARGS).returncode == 1
    return {name: d / f"{name}.html" for name in ("measure", "replay", "compare", "diagnose")}


# diagnose's MEASURE_ARGS: the expected Realm (examples/03's reference configuration)
DIAGNOSE_ARGS = [*HOST, "-k", "Image", "-i", "initrd.cpio", "kvmtool", *KVMTOOL]


def _appraise_inputs() -> tuple[Path, Path, Path]:
    """Veraison's cca-good token and its platform and realm CoRIMs (shared corpus)."""
    from tests.conftest import CORPUS, need_shared

    need_shared()
    cbor = CORPUS / "corim" / "cbor"
    return (CORPUS / "tokens" / "services_arm-cca_cca-good.cbor",
            cbor / "services_armcca_corim-cca-platform-valid.cbor",
            cbor / "services_armcca_corim-cca-realm-valid.cbor")


@pytest.fixture(scope="module")
def appraise_page(reports: dict[str, Path]) -> tuple[Path, dict[str, Any]]:
    """appraise's report of cca-good with a swapped platform component (exit 1), and its
    JSON."""
    from rmtool.verify.token import _claims as C
    from tests.test_appraise import NONCE, _resigned

    _, platform, realm = _appraise_inputs()
    d = reports["compare"].parent
    (d / "swapped.cbor").write_bytes(_resigned(sw_edit=(
        1, C.SW_MEASUREMENT_VALUE, bytes.fromhex("7b8e" + "00" * 30))))
    args = ["appraise", "swapped.cbor", "--corim", str(platform), "--corim", str(realm),
            "--challenge", NONCE.hex()]
    assert _cli(d, *args, "--html", "appraise.html").returncode == 1
    proc = _cli(d, *args, "--format", "json")
    assert proc.returncode == 1
    return d / "appraise.html", json.loads(proc.stdout)


@pytest.mark.parametrize("command", ["measure", "replay", "compare", "diagnose"])
def test_report_renders_with_a_map_and_a_timeline_on_an_a4_width(
        command: str, reports: dict[str, Path], tmp_path: Path) -> None:
    page = reports[command]
    layout = json.loads(_layout(dump_dom(tmp_path, measured_copy(page))))
    assert layout["width"] <= A4_PRINTABLE_PX  # nothing wider than the printable A4 width
    mbox, obox = layout["map"], layout["ops"]
    assert mbox is not None and obox is not None
    assert mbox[2] >= 400 and mbox[3] >= 150 and obox[3] >= 60
    bottom = min(max(mbox[1] + mbox[3], obox[1] + obox[3]) + 10, 6000)
    png = screenshot(tmp_path, page, A4_PRINTABLE_PX, bottom)
    assert png.width == A4_PRINTABLE_PX
    for box in (mbox, obox):
        share, colours = png.ink(box)
        assert share > 0.02 and colours >= 4, (command, box, share, colours)
    # the verdict box at the top is coloured by the verdict
    expected = {"measure": (0xEE, 0xF5, 0xFD), "replay": (0xFD, 0xEC, 0xEA),
                "compare": (0xFD, 0xEC, 0xEA), "diagnose": (0xFD, 0xEC, 0xEA)}[command]
    assert png.pixel(A4_PRINTABLE_PX // 2, 14) == expected


def _layout(dom: str) -> str:
    m = re.search(r"data-layout=\"([^\"]*)\"", dom)
    assert m is not None, "the measuring script did not run"
    import html

    return html.unescape(m.group(1))


@pytest.mark.parametrize("command", ["measure", "compare", "diagnose", "appraise"])
def test_report_prints_on_a4(command: str, reports: dict[str, Path], tmp_path: Path,
                             request: pytest.FixtureRequest) -> None:
    page = request.getfixturevalue("appraise_page")[0] if command == "appraise" \
        else reports[command]
    pdf = tmp_path / "page.pdf"
    browse(tmp_path, page, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    data = pdf.read_bytes()
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes, "no page in the PDF"
    for w, h in boxes:
        assert abs(float(w) - A4_PT[0]) < 2 and abs(float(h) - A4_PT[1]) < 2


def test_png_reader_reads_what_chromium_draws(tmp_path: Path) -> None:
    """The reader's own check: a page of known colours."""
    page = tmp_path / "colours.html"
    page.write_text('<body style="margin:0;background:#fff"><div style="width:50px;'
                    'height:40px;background:#ff0000"></div><div style="margin-left:60px;'
                    'width:30px;height:30px;background:#0000ff"></div></body>')
    png = screenshot(tmp_path, page, 200, 100)
    assert png.pixel(10, 10) == (255, 0, 0) and png.pixel(49, 39) == (255, 0, 0)
    assert png.pixel(70, 50) == (0, 0, 255) and png.pixel(150, 90) == (255, 255, 255)
    assert png.ink([0, 0, 200, 100])[1] == 2  # red and blue: white is not ink


def test_dom_after_load_has_every_cause_region_and_operation(
        reports: dict[str, Path], tmp_path: Path) -> None:
    """What the browser built (not the file's text): compare's causes, the regions of both
    Realms, every aligned operation with the first divergence marked."""
    d = reports["compare"].parent
    doc = json.loads(_cli(d, "compare", "token.cbor", "--platform-key", "key.pem", "--log",
                          "started.log", "--images", "reference", "--measure-trace",
                          "reference-trace.json", "--format", "json").stdout)
    dom = Dom(dump_dom(tmp_path, reports["compare"]))
    causes = dom.texts("cause")
    for message in [*doc["mismatches"], *(e["message"] for e in doc["explanations"])]:
        assert " ".join(message.split()) in causes
    trace = json.loads((d / "reference-trace.json").read_text())["trace"]
    ops = dom.texts("op")
    assert len(ops) == len(trace)
    for row, step in zip(ops, trace, strict=True):
        assert step["operation"] in row and step["detail"] in row
    assert "first divergence" in dom.texts("first-div")[0]
    rects = [a for t, a in dom.tags if t == "rect"]
    assert len(rects) == len(dom.texts("region")) == 5 + 3
    assert sum("diff" in a.get("class", "") for a in rects) == 4  # INITRD x2, DTB, LOG
    assert "compare token.cbor --platform-key key.pem" in dom.text("argv")


def test_diagnose_dom_has_every_cause_claim_region_and_operation(
        reports: dict[str, Path], tmp_path: Path) -> None:
    """diagnose --log in the browser: every cause of the JSON (with its detail), every
    claim, both Realms' regions (the changed initrd highlighted on both sides), every
    aligned operation with the first divergence at the INITRD."""
    d = reports["diagnose"].parent
    doc = json.loads(_cli(d, "diagnose", "token.cbor", "--platform-key", "key.pem", "--log",
                          "started.log", "--images", ".", "--format", "json", "--",
                          *DIAGNOSE_ARGS).stdout)
    dom = Dom(dump_dom(tmp_path, reports["diagnose"]))
    causes = dom.texts("cause")
    assert len(causes) == len(doc["causes"]) == 1
    for cause, c in zip(causes, doc["causes"], strict=True):
        assert " ".join(c["detail"].split()) in cause
        assert cause.startswith(c["parameter"]) and str(c["actual"]) in cause
    claims = dom.texts("claim")
    assert [r.split()[0] for r in claims] == ["RIM", "REM0", "REM1", "REM2", "REM3", "RPV"]
    assert "mismatch" in claims[0]
    regions = dom.texts("region")
    rects = [a for t, a in dom.tags if t == "rect"]
    assert len(rects) == len(regions) == 6 + 5  # expected: RAM, RIPAS, 3 blobs, LOG
    diffs = [r for r in regions if "differs" in r and "INITRD" in r]
    assert len(diffs) == 2 and any(r.startswith("actual: log replay") for r in diffs)
    trace = json.loads((d / "reference-trace.json").read_text())["trace"]
    ops = dom.texts("op")
    assert len(ops) == len(trace)
    for row, step in zip(ops, trace, strict=True):
        assert step["operation"] in row
    assert "INITRD" in dom.texts("first-div")[0] == ops[3]
    assert "diagnose token.cbor --platform-key key.pem" in dom.text("argv")


def test_appraise_dom_has_every_submod_claim_and_component(
        appraise_page: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """appraise in the browser: each submod's eight trust claims with the JSON's value,
    tier and reason; each platform component (the swapped one says so); the realm claims;
    the cause naming the swapped component."""
    page, doc = appraise_page
    dom = Dom(dump_dom(tmp_path, page))
    rows = dom.texts("trust")
    assert len(rows) == 8 * len(doc["submods"]) == 16
    i = 0
    for name, sub in doc["submods"].items():
        for claim, v in sub["trustworthiness-vector"].items():
            assert rows[i] == (f"{name} ({sub['status']}) {claim} {v['value']} {v['tier']} "
                               f"{' '.join(v['reason'].split())}")
            i += 1
    comps = dom.texts("component")
    details = doc["submods"]["CCA_SSD_PLATFORM"]["details"]
    assert len(comps) == len(details) == 4
    for row, c in zip(comps, details, strict=True):
        assert row.startswith(f"{c['measurement_type']} {c['version']}")
    assert comps[1].endswith("no reference value")
    reason = doc["submods"]["CCA_SSD_PLATFORM"]["trustworthiness-vector"]["executables"][
        "reason"]
    assert dom.texts("cause") == [f"CCA_SSD_PLATFORM executables: warning (33): {reason}"]
    assert [r.split()[0] for r in dom.texts("claim")] == ["RIM", "REM0", "REM1", "REM2",
                                                           "REM3", "RPV"]
    assert dom.text("verdict-text") == "WARNING"


# ---------------------------------------------------------------- hostile inputs


def _hostile_token(d: Path) -> Path:
    from rmtool.examples.__main__ import TEST_CPAK_SCALAR, TEST_RAK_SCALAR, test_key
    from rmtool.verify.token.codec import build_cca_token, make_realm_claims

    rak = test_key(TEST_RAK_SCALAR)
    claims = make_realm_claims(rak, rim=bytes(32), profile=SCRIPT_PAYLOAD)
    path = d / f"{NAME_PAYLOAD}.cbor"
    path.write_bytes(build_cca_token(claims, rak=rak, cpak=test_key(TEST_CPAK_SCALAR)))
    return path


def _assert_inert(tmp: Path, page: Path, payload: str) -> None:
    for copy, scripts_run in ((page, False), (measured_copy(page), True)):
        dom_text = dump_dom(tmp, copy)
        dom = Dom(dom_text)
        body = [a for t, a in dom.tags if t == "body"][0]
        assert "data-pwned" not in body, f"an injected script ran in {copy.name}"
        assert ("data-layout" in body) == scripts_run
        assert not [a for t, a in dom.tags if t in ("img", "script") and "onerror" in a]
        assert payload in " ".join(dom.texts("verdict") + dom.texts("ev")
                                   + [dom.text("argv")] + dom.texts("input"))


def test_script_in_a_token_claim_and_a_file_name_is_inert(
        reports: dict[str, Path], tmp_path: Path) -> None:
    d = reports["compare"].parent
    token = _hostile_token(d)
    proc = _cli(d, "compare", token.name, "--rim", "00" * 32, "--skip-platform-signature",
                "--html", f"{NAME_PAYLOAD}.html")
    assert proc.returncode == 1  # the token fails verification: unknown profile
    page = d / f"{NAME_PAYLOAD}.html"
    assert page.is_file()
    _assert_inert(tmp_path, page, SCRIPT_PAYLOAD)
    _assert_inert(tmp_path, page, NAME_PAYLOAD)


def test_script_in_a_token_claim_is_inert_in_diagnose(
        reports: dict[str, Path], tmp_path: Path) -> None:
    """The hostile token (a ``<script>`` realm profile, an ``<img onerror>`` file name)
    given to diagnose (its verification fails: never a match) and appraise (next test):
    the payloads are shown as text and never run."""
    d = reports["compare"].parent
    token = _hostile_token(d)
    proc = _cli(d, "diagnose", token.name, "--skip-platform-signature", "--max-candidates",
                "1", "--html", f"diagnose-{NAME_PAYLOAD}.html", "--", *DIAGNOSE_ARGS)
    assert proc.returncode == 3, proc.stderr  # failed verification, nothing reproduces it
    page = d / f"diagnose-{NAME_PAYLOAD}.html"
    _assert_inert(tmp_path, page, SCRIPT_PAYLOAD)
    _assert_inert(tmp_path, page, NAME_PAYLOAD)


def test_script_in_a_token_claim_is_inert_in_appraise(
        reports: dict[str, Path], tmp_path: Path) -> None:
    _, platform, _ = _appraise_inputs()
    d = reports["compare"].parent
    token = _hostile_token(d)
    proc = _cli(d, "appraise", token.name, "--corim", str(platform), "--html",
                f"appraise-{NAME_PAYLOAD}.html")
    assert proc.returncode == 1, proc.stderr
    page = d / f"appraise-{NAME_PAYLOAD}.html"
    _assert_inert(tmp_path, page, SCRIPT_PAYLOAD)
    _assert_inert(tmp_path, page, NAME_PAYLOAD)


def test_script_in_an_event_string_is_inert(reports: dict[str, Path], tmp_path: Path) -> None:
    d = reports["replay"].parent
    log = d / "evil.log"
    log.write_bytes(B.build_log(["sha256"], [
        B.LogEvent(0, EC.EV_NO_ACTION, B.vm_version("kvmtool", "1", 1 << 29, 1)),
        B.LogEvent(0, EC.EV_EVENT_TAG, B.realm_create(s2sz=33)),
        B.LogEvent(0, EC.EV_POST_CODE2, B.blob2(SCRIPT_PAYLOAD.encode(), 0x80000000, 0x1000)),
        B.LogEvent(0, EC.EV_POST_CODE2, B.blob2(PAYLOAD.encode(), 0x80001000, 0x1000)),
    ]))
    assert _cli(d, "replay", log.name, "--html", "evil.html").returncode == 1
    _assert_inert(tmp_path, d / "evil.html", SCRIPT_PAYLOAD)
    _assert_inert(tmp_path, d / "evil.html", PAYLOAD)


def test_report_loads_nothing_from_outside(reports: dict[str, Path],
                                          request: pytest.FixtureRequest) -> None:
    """Self-contained: no src/href but in-page anchors, no url(), no @import (appraise's
    page too where the shared corpus is at hand)."""
    pages = list(reports.values())
    try:
        pages.append(request.getfixturevalue("appraise_page")[0])
    except pytest.skip.Exception:
        pass
    for page in pages:
        text = page.read_text(encoding="utf-8")
        refs = re.findall(r"""\b(?:src|href|action)\s*=\s*["']?([^"' >]*)""", text)
        assert all(r.startswith("#") for r in refs), refs
        assert "url(" not in text and "@import" not in text and "<script" not in text
        assert "default-src 'none'" in text
