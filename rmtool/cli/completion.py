"""``rmtool completion bash|zsh|fish``: print the shell completion script (click).

``eval "$(rmtool completion bash)"`` in ~/.bashrc (zsh: ~/.zshrc) completes commands,
options and file names. It is the script click generates for ``_RMTOOL_COMPLETE``.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; enable with eval "$(rmtool completion SHELL)"."""
    from rmtool.cli.main import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion support for {shell}")
    click.echo(cls(cli, {}, "rmtool", "_RMTOOL_COMPLETE").source())
