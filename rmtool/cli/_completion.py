"""``rmtool completion bash|zsh|fish``: print the shell completion script (click), and
what ``rmtool measure`` completes.

``eval "$(rmtool completion bash)"`` in ~/.bashrc (zsh: ~/.zshrc) completes commands,
options, choices and file names. It is the script click generates for
``_RMTOOL_COMPLETE`` (click.shell_completion). Completion parses the command line with
click's resilient parsing and prints nothing on stderr: ``rmtool measure -c host.conf
<TAB>`` offers the VMM names (the front-end registry), a word starting with ``-`` after
the VMM name that VMM's options (from its help text, the reference tool's clap table;
QEMU's raw words from ``rmtool.measure.vmm._qemu_args``), any other word a file name.
"""

from __future__ import annotations

import re

import click
from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")

# an option in a clap help text: "  -c, --cpus <CPUS>", "      --realm"
_HELP_OPTION = re.compile(r"^\s+(?:(-[A-Za-z]),\s+)?(--[A-Za-z0-9][\w-]*)?", re.M)


def complete_vmm(ctx: click.Context, param: click.Parameter,
                 incomplete: str) -> list[CompletionItem]:
    """The VMM names of ``rmtool measure`` (registry order) that start with ``incomplete``."""
    from rmtool.measure.vmm.registry import names

    return [CompletionItem(n) for n in names() if n.startswith(incomplete)]


def complete_files(ctx: click.Context, param: click.Parameter,
                   incomplete: str) -> list[CompletionItem]:
    """A file name (the shell lists them)."""
    return [CompletionItem(incomplete, type="file")]


def vmm_options(vmm: str) -> list[str]:
    """The option names a VMM's arguments accept (long and short), [] if unknown."""
    from rmtool.measure.vmm.registry import find

    frontend = find(vmm)
    if frontend is None:
        return []
    found: list[str] = []
    for m in _HELP_OPTION.finditer(frontend.help_text()):
        found += [w for w in m.groups() if w and w not in found]
    if not found:  # raw-word VMMs (QEMU) have no clap table
        from rmtool.measure.vmm import _qemu_args as qemu_args

        if frontend.name == "qemu":
            found = sorted({*qemu_args.MEASURED_OPTIONS, *qemu_args.VALUE_OPTIONS_SILENT,
                            *qemu_args.FLAG_OPTIONS_SILENT})
    return found


def vmm_option_items(vmm: str, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(o) for o in vmm_options(vmm) if o.startswith(incomplete)]


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; enable with eval "$(rmtool completion SHELL)"."""
    root = click.get_current_context().find_root().command  # the rmtool group
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion support for {shell}")
    click.echo(cls(root, {}, "rmtool", "_RMTOOL_COMPLETE").source())
