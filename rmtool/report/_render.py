"""Render a :class:`rmtool.report._model.Report` to one self-contained HTML file.

Jinja2 (https://jinja.palletsprojects.com/) with autoescape on for every value, strict
undefined variables, and the one template ``templates/report.html.j2`` (package data).
The page has no script and loads nothing: a Content-Security-Policy meta tag forbids
scripts and every external resource, styles are inline, the memory map is inline SVG
(geometry from :mod:`rmtool.report._memmap`). Output goes through
:func:`rmtool._files.write_atomic` (never through a symlink, never half-written).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from functools import lru_cache

import jinja2

import rmtool.report._memmap as memmap
from rmtool._files import write_atomic
from rmtool.report._model import LANE_TITLES, Report
from rmtool.verify.compare._hexdiff import mark_first_difference


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rmtool.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, auto_reload=False)


def hexruns(value: bytes, other: bytes | None) -> list[tuple[str, bool]]:
    """VALUE's hex cut into runs of bytes equal to OTHER's (False) and differing (True);
    bytes past OTHER's end differ. One equal run when OTHER is None."""
    if other is None:
        return [(value.hex(), False)]
    runs: list[tuple[str, bool]] = []
    start = 0
    state = None
    for i, byte in enumerate(value):
        differs = i >= len(other) or other[i] != byte
        if state is None:
            state = differs
        elif differs != state:
            runs.append((value[start:i].hex(), state))
            start, state = i, differs
    if state is not None:
        runs.append((value[start:].hex(), state))
    return runs


def hexshort(value: bytes | None, other: bytes | None) -> str:
    """The timeline's short RIM: the first differing byte bracketed (as the terminal)."""
    return "-" if value is None else mark_first_difference(value, other)


def hexfull(value: bytes | None) -> str:
    return "-" if value is None else value.hex()


def command_line(argv: Sequence[str]) -> str:
    """ARGV as a shell would re-run it, the program named by its base name."""
    if not argv:
        return ""
    prog = os.path.basename(argv[0])
    if prog in ("main.py", "__main__.py", "python", "python3"):
        prog = "rmtool"
    return shlex.join([prog, *argv[1:]])


def render(report: Report) -> str:
    """The report as an HTML document (text)."""
    tl = report.timeline
    layouts = report.layouts
    divergence = tl.first_divergence if tl is not None else None
    mm = memmap.build(layouts, divergence) if any(lay.regions for lay in layouts) else None
    rows = max(len(tl.expected), len(tl.actual)) if tl is not None else 0
    return _environment().get_template("report.html.j2").render(
        r=report, mm=mm, tl=tl, rows=rows, layouts=layouts,
        diffs=memmap.differing(layouts, divergence), lane_titles=LANE_TITLES,
        size_text=memmap.size_text, hexruns=hexruns,
        hexshort=hexshort, hexfull=hexfull, cmdline=command_line(report.argv))


def write_report(path: str, report: Report) -> None:
    """Render REPORT and write it to PATH atomically (``rmtool._files.write_atomic``)."""
    write_atomic(path, render(report))
