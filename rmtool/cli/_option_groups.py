"""Options declared once, handed to a command as one frozen settings object.

:func:`option_group` turns a list of ``click.option`` declarations into one decorator:
click parses the options as usual (names, defaults, help texts and their order in
``--help`` are the declarations'), and the command receives a single keyword holding a
frozen dataclass instead of one parameter per option (the shape of pip-tools' and
twine's option groups). This module also holds the groups shared by several commands:
``--format`` (:class:`OutputFormat`) and replay's options (:class:`ReplaySettings`, for
``replay`` and ``compare``). It imports nothing heavy: every command's start-up pays it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from rmtool.measure.rmm.algorithms import ALGORITHMS
from rmtool.measure.rmm.profiles import DEFAULT_PROFILE, PROFILES

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

FORMATS = ["table", "text", "json", "yaml"]


def _declared_names(options: Sequence[Decorator]) -> list[str]:
    """The parameter names the ``options`` declare (applied to a throw-away function)."""

    def probe() -> None:
        """Collects the declared parameters."""

    for option in options:
        option(probe)
    params: list[click.Parameter] = getattr(probe, "__click_params__", [])
    return [p.name for p in params if p.name is not None]


def option_group(settings: type[Any], keyword: str, options: Sequence[Decorator]) -> Decorator:
    """A decorator adding ``options`` (in this order in ``--help``) to a command, whose
    callback then receives ``keyword=settings(...)`` built from their values; a field of
    ``settings`` without an option here keeps its default."""
    names = _declared_names(options)
    fields = {f.name for f in dataclasses.fields(settings)}
    unknown = [n for n in names if n not in fields]
    if unknown:  # a programming error, found when the command module is imported
        raise TypeError(f"{settings.__name__} has no field for option(s) {unknown}")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            kwargs[keyword] = settings(**values)
            return func(*args, **kwargs)

        command: Callable[..., Any] = wrapper
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def format_option(help_text: str | None = None) -> Decorator:
    """``--format table|text|json|yaml`` (default table), the one output switch of every
    command with the human table / JSON contract (docs/design: Output); ``yaml`` is the
    JSON document in YAML (``rmtool.cli._output``, docs/json.md)."""
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True,
                        help=help_text or "Output format: a table, or the JSON / YAML "
                                          "document (docs/json.md).")


@dataclass(frozen=True)
class OutputFormat:
    """``--format``: ``table`` / ``text`` (the human table), or ``json`` / ``yaml`` (the
    structured document of ``rmtool.cli._output``)."""

    fmt: str = "table"

    @property
    def json(self) -> bool:
        return self.fmt == "json"

    @property
    def structured(self) -> bool:
        """``json`` or ``yaml``: print the command's document (``rmtool.cli._output``)."""
        return self.fmt in ("json", "yaml")


def output_format(help_text: str | None = None) -> Decorator:
    """``--format``; the command receives ``output_format=OutputFormat``."""
    return option_group(OutputFormat, "output_format", [format_option(help_text)])


@dataclass(frozen=True)
class ReplaySettings:
    """How a log is replayed (``rmtool.replay.replay_log``): by ``replay`` and by
    ``compare --log``."""

    images: tuple[str, ...] = ()
    store: str | None = None
    index_map: str = "auto"
    dtb_templates: tuple[str, ...] = ()
    rmm_version: str = DEFAULT_PROFILE
    hash_algo: str | None = None


# Each replay option once: its declaration, and its help text for ``replay`` and for
# ``compare`` (where each applies only with --log).
_REPLAY_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any], str, str]] = {
    "images": (("--images", "images"), {"multiple": True, "type": click.Path()},
               "Reference images: a sha256sum/sha512sum file or a directory (repeatable).",
               "With --log: reference images, a sha256sum/sha512sum file or a directory "
               "(repeatable); needed to rebuild the RIM."),
    "store": (("--store",), {"type": click.Path(dir_okay=False)},
              "Image-store database (default: in the user cache directory).",
              "With --log: image-store database (default: in the user cache directory)."),
    "index_map": (("--index-map",), {"type": click.Choice(["auto", "pcr", "mr"]),
                                     "default": "auto", "show_default": True},
                  "Event index to measurement register mapping.",
                  "With --log: event index to register mapping."),
    "dtb_templates": (("--dtb-templates", "dtb_templates"),
                      {"multiple": True, "type": click.Path()},
                      "DTB template, or a NAME<TAB>VERSION<TAB>FILE list (repeatable).",
                      "With --log: DTB template or NAME<TAB>VERSION<TAB>FILE list "
                      "(repeatable)."),
    "rmm_version": (("--rmm-version",), {"type": click.Choice(list(PROFILES)),
                                         "default": DEFAULT_PROFILE, "show_default": True},
                    "RMM version whose measurement rules apply.",
                    "With --log: RMM version whose rules the replay uses."),
    "hash_algo": (("--hash-algo",), {"type": click.Choice(list(ALGORITHMS))},
                  "Realm algorithm when the log has no REALM_CREATE event.", ""),
}
# (order in --help; compare takes the algorithm from the token, so no --hash-algo)
_REPLAY_ORDER = ("images", "store", "index_map", "dtb_templates", "rmm_version", "hash_algo")
_COMPARE_ORDER = ("images", "index_map", "store", "dtb_templates", "rmm_version")


def replay_options(for_compare: bool = False) -> Decorator:
    """Replay's options; the command receives ``replay_settings=ReplaySettings``."""
    options = []
    for name in _COMPARE_ORDER if for_compare else _REPLAY_ORDER:
        decls, attrs, replay_help, compare_help = _REPLAY_OPTIONS[name]
        options.append(click.option(*decls, **attrs,
                                    help=compare_help if for_compare else replay_help))
    return option_group(ReplaySettings, "replay_settings", options)
