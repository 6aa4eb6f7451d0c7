"""HTML reports (``--html FILE``): a failed attestation you can see (issue 17).

One self-contained HTML file per run: verdict and causes at the top (the data of
``--format json``), the Realm's memory map (inline SVG, piecewise log scale:
:mod:`rmtool.report._memmap`), the operation timeline (expected and actual aligned, first
divergence marked), the event table, the claims table with differing bytes highlighted,
platform components, DTB diff, and the provenance (rmtool version, exact command line,
inputs with their SHA-256). No script, no network, no external font: a CSP meta tag forbids
them; the page prints on A4. Rendering is Jinja2 with autoescape (every string may come from
a hostile token, log or file name); files are written with :func:`rmtool._files.write_atomic`.

API (how a command adds ``--html``)
-----------------------------------
A command fills a :class:`Report` (``rmtool.report._model``) and calls
``write_report(path, report)``. Every section is optional and drawn only when it has data:

``Report(command, verdict, argv=sys.argv, version, inputs, layouts, timeline, events,
claims, checks, components, dtb_diff, measurements, warnings)``

- ``verdict``: :class:`Verdict` ``(text, status, causes, summary)`` — ``text`` as the
  terminal prints it, ``status`` ``"pass"`` (every check ran and passed), ``"warn"`` (a
  check waived), ``"fail"`` or ``"info"`` (nothing checked), ``causes`` the strings
  the JSON lists (mismatches, explanations, errors), ``summary=summary_of(json_doc)``;
- ``layouts``: one :class:`RealmLayout` (a single Realm) or two (expected, actual: drawn on
  one shared axis, differing regions highlighted); build each with
  ``layout_of(title, trace_records, ram=build.ram)`` from
  :class:`rmtool.measure.rmm.trace.TraceRecord` s, or list :class:`Region` s yourself;
- ``timeline``: :class:`Timeline` ``(actual, expected=(), actual_title, expected_title,
  first_divergence)``, operations from ``operations(trace_records)``; compute the
  divergence with ``first_divergence(expected, actual)``;
- ``events``: :class:`Event` rows (``sources.events_of(replay_result)``); ``claims``:
  :class:`Claim` (expected/actual as bytes: highlighted byte by byte); ``checks``:
  :class:`Check` (token verification); ``components``: :class:`Component` (appraise's
  platform software components); ``dtb_diff``: :class:`DtbChange` (diagnose);
- ``inputs``: ``input_files([(role, path), ...])`` (streamed SHA-256, regular files only).

Ready-made builders for the existing commands are in :mod:`rmtool.report._sources`
(``measure_report``, ``replay_report``, ``compare_report``). Wiring a new command, e.g.
``diagnose``, is about twenty lines::

    @click.option("--html", "html", type=click.Path(dir_okay=False), help=HTML_HELP)
    ...
    if html is not None:
        report = compare_report(cmp_report, sys.argv, trace=expected_trace,
                                result=replay_result, inputs=input_files(named))
        report.command = "diagnose"
        report.dtb_diff = [DtbChange(path, prop, old, new) for ... in dtb_changes]
        write_report(html, report)

The report is written before the command exits with its status (a failed verdict still
writes its report; the exit status is unchanged). Input that cannot be used (exit 2) writes
no report: there is no result to show.
"""

from __future__ import annotations

from rmtool.report._model import (
    Check,
    Claim,
    Component,
    DtbChange,
    Event,
    InputFile,
    Operation,
    RealmLayout,
    Region,
    Report,
    Timeline,
    Verdict,
    first_divergence,
    layout_of,
    operations,
    summary_of,
)
from rmtool.report._render import render, write_report
from rmtool.report._sources import (
    compare_report,
    events_of,
    input_file,
    input_files,
    measure_report,
    replay_report,
)

#: ``--html``'s help text, the same on every command.
HTML_HELP = ("Also write a self-contained HTML report (verdict, Realm memory map, operation "
             "timeline, tables, inputs) to FILE.")

__all__ = ["HTML_HELP", "Check", "Claim", "Component", "DtbChange", "Event", "InputFile",
           "Operation", "RealmLayout", "Region", "Report", "Timeline", "Verdict",
           "compare_report", "events_of", "first_divergence", "input_file", "input_files",
           "layout_of", "measure_report", "operations", "render", "replay_report",
           "summary_of", "write_report"]
