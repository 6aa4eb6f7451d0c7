"""``rmtool replay LOG``: the RIM and REMs a Realm should report, rebuilt from its log.

Calls :func:`rmtool.replay.replay_log` and prints one row per event (number, type,
register, description, short digest, matching image, register value after it), the
index map used and why, then the final RIM and REMs. ``--format json`` / ``yaml`` is the
stable contract documented in docs/measurement-log.md and docs/json.md
(``rmtool/replay/1``: the reason a RIM or REM is null is in its ``errors``). When no
``--images`` are given, the output says so and what to pass. ``--html FILE`` also writes
the report of :mod:`rmtool.report` (events, memory map, operations). Exit 0 when every
register was computed, 1 when the RIM (or a REM) cannot be rebuilt (naming the event), 2
for input that cannot be replayed at all.
"""

from __future__ import annotations

import click

from rmtool._files import LIMITS, read_bounded
from rmtool._filetype import check_kind
from rmtool.cli._option_groups import (
    OutputFormat,
    ReplaySettings,
    output_format,
    replay_options,
)
from rmtool.cli._output import Messages, emit
from rmtool.errors import InputFileError
from rmtool.replay import NotARealmLog, ReplayResult, replay_log
from rmtool.replay._engine import IMAGES_HINT

MAX_LOG_SIZE = LIMITS["event log"]


def _short(value: str | None, n: int = 16) -> str:
    if value is None:
        return "-"
    return value if len(value) <= n else value[:n] + "…"


def _read_log(path: str) -> bytes:
    data = read_bounded(path, MAX_LOG_SIZE, "event log", InputFileError)
    check_kind(data, "event log", path)
    return data


def _text(r: ReplayResult) -> str:
    from tabulate import tabulate  # only the text format needs it (start-up time)

    rows = [(e.number, e.type, e.register, e.description, _short(e.digest),
             e.image or "-", _short(e.value_after)) for e in r.events]
    lines = [tabulate(rows, headers=["#", "event type", "register", "description", "digest",
                                     "image", "value after"]), ""]
    lines.append(f"index map: {r.index_map} ({r.index_map_reason})")
    if r.vm_version is not None:
        lines.append(f"VM VERSION layout: {r.vm_version.layout}")
    algo = r.hash_algo.name if r.hash_algo else "-"
    lines.append(f"hash algorithm: {algo}; RMM version: {r.rmm_version}")
    lines.append(f"RIM: {r.rim.hex() if r.rim is not None else 'not rebuilt'}")
    for i, rem in enumerate(r.rems):
        lines.append(f"REM{i}: {rem.hex() if rem is not None else 'not computable'}")
    if r.unknown_digests:
        lines.append("unknown digests: " + ", ".join(r.unknown_digests))
    return "\n".join(lines)


def _write_html(path: str, log: str, settings: ReplaySettings, result: ReplayResult) -> None:
    """``--html FILE``: the replay's report (rmtool.report), from the JSON's data."""
    import sys

    from rmtool.report import input_files, replay_report, write_report

    named = [("event log", log), *(("image", i) for i in settings.images),
             *(("dtb template", d) for d in settings.dtb_templates)]
    write_report(path, replay_report(result, sys.argv, input_files(named)))


@click.command("replay")
@click.argument("log", type=click.Path(dir_okay=False))
@replay_options()
@output_format()
@click.option("--html", "html", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a self-contained HTML report (events, memory map, "
                   "operations, inputs) to FILE.")
def replay(log: str, replay_settings: ReplaySettings, output_format: OutputFormat,
           html: str | None) -> None:
    """Rebuild a Realm's RIM and REMs from its event LOG, event by event."""
    ctx = click.get_current_context()
    try:
        r = replay_settings
        result = replay_log(_read_log(log), list(r.images), index_map=r.index_map,
                            store=r.store, dtb_templates=list(r.dtb_templates),
                            rmm_version=r.rmm_version, hash_algo=r.hash_algo)
    except NotARealmLog as exc:  # nothing on stdout: no REM of a log that is not a Realm's
        click.echo(f"ERROR {log}: {exc}", err=True)
        click.echo(f"hint: {exc.hint}", err=True)
        ctx.exit(exc.exit_code)
    if output_format.structured:
        emit("replay", result.as_json(), output_format.fmt,
             replay_messages(result, bool(replay_settings.images), echo=False))
    else:
        click.echo(_text(result))
    if html is not None:
        _write_html(html, log, replay_settings, result)
    msgs = replay_messages(result, bool(replay_settings.images))
    if msgs.errors:
        ctx.exit(1)


def replay_messages(result: ReplayResult, images_given: bool, *,
                    echo: bool = True) -> Messages:
    """The replay's warnings and errors (``WARN`` / ``ERROR`` lines on stderr when
    ``echo``), with what to pass when no reference images were given: the errors say
    why the RIM or a REM is null."""
    msgs = Messages()
    for w in result.warnings:
        msgs.warn(w, echo=echo)
    if not images_given and result.unknown_digests:
        msgs.warn(f"no --images given: {IMAGES_HINT}", field="--images", echo=False)
        if echo:
            click.echo(f"hint: {IMAGES_HINT}", err=True)
    if result.rim is None:
        msgs.error(f"RIM cannot be rebuilt: {result.rim_error}", field="rim", echo=echo)
    for e in result.errors:
        msgs.error(e, echo=echo)
    return msgs
