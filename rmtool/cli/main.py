"""rmtool command line: the click group and the error boundary.

Each sub-command lives in its own module under ``rmtool.cli`` and is registered
here. Library errors (``rmtool.errors.RmtoolError``) become one ``ERROR ...``
line on stderr and the error's exit code; nothing reaches the user as a
traceback unless ``RMTOOL_DEBUG=1`` is set.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from rmtool import __version__
from rmtool.cli import _help_examples as help_examples
from rmtool.errors import RmtoolError, UsageError

# (module, attribute) of every top-level command, in help order.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("rmtool.cli.measure", "measure"),
    ("rmtool.cli._dtb", "dtb"),
    ("rmtool.cli._token", "token"),
    ("rmtool.cli._replay", "replay"),
    ("rmtool.cli._compare", "compare"),
    ("rmtool.cli._diagnose", "diagnose"),
    ("rmtool.cli._log", "log"),
    ("rmtool.cli._corim", "corim"),
    ("rmtool.cli._appraise", "appraise"),
    ("rmtool.cli._launch", "launch"),
    ("rmtool.cli._demo", "demo"),
    ("rmtool.cli._completion", "completion"),
)


#: ``ctx.obj`` of a ``realm-measurements`` run (see ``run``).
REFERENCE_MODE = "realm-measurements"


class LazyGroup(click.Group):
    """Imports a sub-command's module only when that command runs (fast start-up)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [_name(attr) for _, attr in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module_name, attr in COMMANDS:
            if _name(attr) == cmd_name:
                command: click.Command = getattr(importlib.import_module(module_name), attr)
                return help_examples.attach(command, cmd_name)
        return None


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """`` Did you mean 'measure'?`` for a mistyped name (difflib), or None."""
    import difflib  # only on an error: keeps it off every start-up

    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    if not close:
        return None
    return "Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def _suggest_command(exc: click.UsageError) -> None:
    """Add "Did you mean ..." to click's "No such command 'x'." of a group when click
    did not (click >= 8.2 suggests from the sub-commands it has loaded; the lazy group
    has none loaded)."""
    ctx = exc.ctx
    prefix = "No such command "
    if ctx is None or not isinstance(ctx.command, click.Group) or \
            not exc.message.startswith(prefix) or "Did you mean" in exc.format_message():
        return
    word = exc.message[len(prefix):].rstrip(".").strip("'\"")
    hint = did_you_mean(word, ctx.command.list_commands(ctx))
    if hint is not None:
        exc.message = f"{exc.message} {hint}"


def _suggest_choice(exc: click.BadParameter) -> None:
    """Add "Did you mean ..." to click's "'qemuu' is not one of ..." of a choice option."""
    param_type = getattr(exc.param, "type", None)
    if not isinstance(param_type, click.Choice):
        return
    import re

    m = re.search(r"'([^']*)' is not one of", exc.message)
    if m is None:
        return
    hint = did_you_mean(m.group(1), [str(c) for c in param_type.choices])
    if hint is not None:
        exc.message = f"{exc.message} {hint}"


def _name(attr: str) -> str:
    return attr.replace("_", "-")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=help_examples.epilog(""))
@click.version_option(__version__, prog_name="rmtool")
def cli() -> None:
    """Arm CCA Realm attestation: measure, replay, compare and endorse."""


def run(argv: Sequence[str] | None = None, prog_name: str = "rmtool",
        command: click.Command | None = None, *, reference_exits: bool = False) -> int:
    """Run the CLI (or another click ``command``) and return its exit status; errors
    become one stderr line. rmtool's contract is 0 ok, 1 failed check, 2 unusable input
    (``rmtool.errors``). ``reference_exits`` is ``realm-measurements``: the reference
    tool's status 1 for its ``ERROR`` lines, and its leniencies where ``rmtool measure``
    refuses (the click context's ``obj`` is ``REFERENCE_MODE``; docs/cli.md)."""
    was_pacified = _pacified()
    try:
        rv = (command or cli).main(args=list(argv) if argv is not None else None,
                                   prog_name=prog_name, standalone_mode=False,
                                   obj=REFERENCE_MODE if reference_exits else None)
    except RmtoolError as exc:
        if os.environ.get("RMTOOL_DEBUG"):
            raise
        for warning in getattr(exc, "warnings", ()):  # printed before the error, as parsed
            click.echo(f"WARN {warning}", err=True)
        click.echo(f"ERROR {exc}", err=True)
        if exc.hint:  # what to do about it: a second line, the first stays the reference's
            click.echo(f"hint: {exc.hint}", err=True)
        if reference_exits and not isinstance(exc, UsageError):
            return 1  # anyhow's error exit; clap's usage errors stay 2
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        if isinstance(exc, click.BadParameter):
            _suggest_choice(exc)
        elif isinstance(exc, click.UsageError):
            _suggest_command(exc)
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except BrokenPipeError:
        return _closed_stdout()
    except SystemExit as exc:
        # click's main turns EPIPE into sys.exit(1) with stdout and stderr wrapped in its
        # PacifyFlushWrapper: that is a reader that went away, not a failed check
        if was_pacified or exc.code != 1 or not _pacified():
            raise
        return _closed_stdout()
    except Exception as exc:  # a bug: still one line for the user, details on request
        if os.environ.get("RMTOOL_DEBUG"):
            raise
        click.echo(f"ERROR internal error: {type(exc).__name__}: {exc} "
                   f"(set RMTOOL_DEBUG=1 for a traceback; please report it)", err=True)
        return 1
    return rv if isinstance(rv, int) else 0


#: The status of a writer whose reader went away: 128 + SIGPIPE (13), what the shell
#: reports for ``yes | head -1`` (POSIX sh, "Exit Status for Commands"). Not 0: a verdict
#: (compare, token verify...) may not have been reached when the reader stopped, and
#: ``set -o pipefail`` must not turn that into a pass.
EXIT_BROKEN_PIPE = 128 + 13


class _QuietFlush:
    """A stream whose ``flush`` ignores EPIPE (a reader that went away), every other
    attribute proxied: what click's own EPIPE wrapper does, kept here because click 8.5
    deprecates its public name."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.wrapped, attr)


def _pacified() -> bool:
    """Whether stdout is wrapped so that its flush ignores EPIPE, as click's main leaves
    it after a reader went away (click's wrapper, public or private name) or as
    :func:`_closed_stdout` does."""
    return isinstance(sys.stdout, _QuietFlush) or \
        "PacifyFlushWrapper" in type(sys.stdout).__name__


def _closed_stdout() -> int:
    """End quietly after standard output was closed by its reader (``| head -1``): wrap
    stdout and stderr so that the interpreter's final flush of the unwritten rest cannot
    print "Exception ignored ... BrokenPipeError"."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, _QuietFlush) and \
                "PacifyFlushWrapper" not in type(stream).__name__:
            setattr(sys, name, _QuietFlush(stream))
    return EXIT_BROKEN_PIPE


def _exit(status: int) -> None:
    """``sys.exit`` after flushing standard output here, where a reader that went away
    is still handled (the interpreter's own flush at exit would report it)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = _closed_stdout()
    sys.exit(status)


def main() -> None:
    _exit(run())


def realm_measurements(argv: Sequence[str]) -> int:
    """``realm-measurements ARGV``: ``rmtool measure ARGV`` with the reference tool's exit
    statuses, run as its own top-level command (its help and usage name
    ``realm-measurements``, not ``rmtool measure``)."""
    measure = cli.get_command(click.Context(cli), "measure")  # lazily, as every command
    return run(list(argv), prog_name="realm-measurements", command=measure,
               reference_exits=True)


def realm_measurements_main() -> None:
    """``realm-measurements``: the reference tool's argv, i.e. ``rmtool measure ...``."""
    _exit(realm_measurements(sys.argv[1:]))


if __name__ == "__main__":
    main()
