"""The geometry of the memory-map SVG: the Realm's IPA space on a piecewise log scale.

Issue 17: "an SVG of the IPA space (log scale where it must be) with RAM, RIPAS ranges,
kernel, initrd, firmware, DTB, log region, addresses and sizes; expected and actual side by
side, differing regions highlighted". A Realm's IPA space is 2^s2sz bytes (8 GiB and more)
while a DTB is 64 KiB and an initrd may be 300 bytes, so one linear axis cannot show them
together. The axis is cut at every region edge; each span between two consecutive edges
gets a height that grows with log2 of its size (between ``MIN_SPAN`` and ``MAX_SPAN``
pixels), so every region is visible and larger spans stay taller. Several layouts share
one axis (the same edges), so side-by-side columns line up address for address.

Only numbers and the regions' own strings come out of here; the template escapes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rmtool.report._model import LANES, RealmLayout, Region

WIDTH = 700  # px: fits an A4 page (210 mm = 794 px at 96 dpi) with 10 mm margins
AXIS = 84  # the address column
LANE_W = 16
TOP = 30  # column titles
MIN_SPAN = 9.0
MAX_SPAN = 72.0
LABEL_GAP = 11.0
MAX_REGIONS = 256  # drawn per layout; all are listed in the table under the map
NAME_CHARS = 20
_KNOWN = {"RAM": "ram", "RIPAS": "ripas", "KERNEL": "kernel", "INITRD": "initrd",
          "FIRMWARE": "firmware", "DTB": "dtb", "LOG": "log", "BIOS": "firmware"}


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    css: str  # r-<kind> [diff] [unm]
    title: str  # name, range and size (the SVG <title>: shown on hover)


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    css: str
    # the leader line from the region's right edge to the label
    x1: float = 0.0
    y1: float = 0.0


@dataclass(frozen=True)
class Column:
    x: float
    title: str
    rects: tuple[Rect, ...]
    labels: tuple[Label, ...]
    hidden: int  # regions beyond MAX_REGIONS (listed in the table only)


@dataclass(frozen=True)
class MemoryMap:
    width: int
    height: float
    columns: tuple[Column, ...]
    axis: tuple[Label, ...]
    gaps: tuple[float, ...]  # y of the middle of spans no region covers (drawn as breaks)
    lane_x: tuple[float, ...]  # lane offsets inside a column (for the lane headers)


def size_text(size: int) -> str:
    """``0x30000 (192 KiB)``: exact hex, then a rounded binary unit."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / (1 << shift)
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            return f"{size:#x} ({text} {unit})"
    return f"{size:#x} ({size} B)"


def css_kind(region: Region) -> str:
    return _KNOWN.get(region.name.upper(), "data" if region.lane == "data" else region.lane)


def region_title(region: Region) -> str:
    text = f"{region.name} [{region.base:#x}, {region.end:#x}) size {size_text(region.size)}"
    return f"{text}; {region.note}" if region.note else text


def _span_height(size: int) -> float:
    return min(MAX_SPAN, MIN_SPAN + 3.5 * math.log2(1 + size / 4096))


def differing(layouts: Sequence[RealmLayout], divergence: int | None
              ) -> list[set[tuple[str, str, int, int]]]:
    """For each of two layouts, the keys of its regions the other lacks, plus the region
    made by the first diverging operation (same place, different content)."""
    if len(layouts) != 2:
        return [set() for _ in layouts]
    keys = [{r.key() for r in lay.regions} for lay in layouts]
    out: list[set[tuple[str, str, int, int]]] = []
    for i, lay in enumerate(layouts):
        other = keys[1 - i]
        out.append({r.key() for r in lay.regions
                    if r.key() not in other or (divergence is not None and r.op == divergence
                                                 and r.lane != "ram")})
    return out


def build(layouts: Sequence[RealmLayout], divergence: int | None = None) -> MemoryMap:
    """The map of one or more layouts on one shared axis (see the module docstring)."""
    drawn = [lay.regions[:MAX_REGIONS] for lay in layouts]
    edges: set[int] = set()
    for regions in drawn:
        for r in regions:
            edges.update((r.base, r.end))
    top_ipa = max((1 << lay.ipa_bits for lay in layouts
                   if lay.ipa_bits is not None and 0 < lay.ipa_bits <= 64), default=0)
    if edges:
        edges.add(0)
        if top_ipa > max(edges):
            edges.add(top_ipa)
    ordered = sorted(edges)
    ys: dict[int, float] = {}
    y = float(TOP)
    gaps: list[float] = []
    covered = [(r.base, r.end) for regions in drawn for r in regions]
    for i, edge in enumerate(ordered):
        ys[edge] = y
        if i + 1 < len(ordered):
            nxt = ordered[i + 1]
            h = _span_height(nxt - edge)
            if not any(b <= edge and nxt <= e for b, e in covered):
                gaps.append(y + h / 2)
            y += h
    height = y + 12
    axis: list[Label] = []
    last = -100.0
    for edge in ordered:
        if ys[edge] - last >= LABEL_GAP:
            axis.append(Label(AXIS - 6, ys[edge] + 3, f"{edge:#x}", "addr"))
            last = ys[edge]
    n = max(1, len(layouts))
    col_w = (WIDTH - AXIS) / n
    diffs = differing(layouts, divergence)
    lane_x = tuple(float(i * LANE_W) for i in range(len(LANES)))
    columns = []
    for ci, lay in enumerate(layouts):
        x0 = AXIS + ci * col_w
        rects: list[Rect] = []
        labels: list[Label] = []
        wanted: list[tuple[float, float, float, str, str]] = []
        for r in drawn[ci]:
            lane = LANES.index(r.lane)
            x = x0 + lane * LANE_W
            y0, y1 = ys[r.base], ys[r.end]
            css = f"r-{css_kind(r)}"
            if r.key() in diffs[ci]:
                css += " diff"
            if r.note:
                css += " note"
            rects.append(Rect(x + 1, y0, LANE_W - 2, max(y1 - y0, 2.0), css,
                              region_title(r)))
            name = r.name if len(r.name) <= NAME_CHARS else r.name[:NAME_CHARS - 1] + "\u2026"
            text = f"{name} {r.base:#x} +{r.size:#x}"
            wanted.append(((y0 + y1) / 2, x + LANE_W - 1, (y0 + y1) / 2, text,
                           "diff" if r.key() in diffs[ci] else ""))
        label_x = x0 + len(LANES) * LANE_W + 8
        prev = -100.0
        for want_y, lx, ly, text, css in sorted(wanted, key=lambda w: w[0]):
            at = max(want_y + 3, prev + LABEL_GAP)
            labels.append(Label(label_x, at, text, css, lx, ly))
            prev = at
        height = max(height, prev + 12)
        columns.append(Column(x0, lay.title, tuple(rects), tuple(labels),
                              max(0, len(lay.regions) - MAX_REGIONS)))
    return MemoryMap(WIDTH, height, tuple(columns), tuple(axis), tuple(gaps), lane_x)
