"""``rmtool measure`` (and ``realm-measurements``): the reference tool's CLI.

``rmtool measure [GLOBAL OPTIONS] <kvmtool|qemu|cloud-hv> [VMM ARGS...]`` — global
options as the reference's Args, src/command_line.rs (accepted verbatim for scripts),
plus rmtool's own: ``--rmm-version``, ``--format``, ``--trace``, ``--jobs``,
``--corim-output``, ``--emit-log``, ``--html`` (rmtool.report). Measurements are printed at
the hash size the token carries (the reference prints 64-byte slots).
"""

from __future__ import annotations

import base64
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click
from click.shell_completion import CompletionItem

from rmtool import _hashalgo as hashalgo
from rmtool._files import write_atomic
from rmtool.cli._completion import complete_files, complete_vmm
from rmtool.cli._options_measure import MeasureSettings, measure_options
from rmtool.diagnose.request import MeasureRequest
from rmtool.errors import (
    ConfigError,
    InvalidArguments,
    ParametersError,
    RmtoolError,
    os_error_text,
)
from rmtool.measure import MeasureResult, build_vmm
from rmtool.measure._hashcore import core_name
from rmtool.measure.host import (
    HostCaps,
    check_bps,
    check_pmu_ctrs,
    check_sve_vl,
    check_wps,
    load_config,
)
from rmtool.measure.images import ParallelGranuleHasher
from rmtool.measure.rmm.profiles import get_profile
from rmtool.measure.rmm.realm import Measurements, Realm
from rmtool.measure.vmm._rustcompat import (
    STOP_KEY,
    ClapError,
    HelpRequested,
    Opt,
    ValueRejected,
    parse_bool,
    parse_u8,
    parse_u16,
    scan,
)
from rmtool.measure.vmm.common import MeasureInputs, ReferencePanic, Stage, VmmBuild
from rmtool.measure.vmm.registry import get as get_frontend
from rmtool.measure.vmm.registry import is_name as is_vmm_name
from rmtool.measure.vmm.registry import names as vmm_names

PROGRESS_THRESHOLD = 64 << 20
def _parse_hash_algo(text: str) -> str:
    """``RmiHashAlgorithm::from_str`` (the value is then ignored by the reference).

    The reference's enum has SHA-256 and SHA-512 only (no SHA-384)."""
    if text not in (hashalgo.SHA256.name, hashalgo.SHA512.name):
        raise ValueRejected(f"unknown hash algorithm `{text}`")
    return text


# The reference's global options as clap sees them (src/command_line.rs ``Args`` and
# src/realm_params.rs ``RealmParams``), plus rmtool's own (validated by click).
GLOBAL_OPTIONS = (
    Opt("verbose", ("verbose",), ("v",), takes_value=False, repeat=True),
    Opt("output_dtb", ("output-dtb",), value_name="file"),
    Opt("dtb_template", ("dtb-template",), value_name="file"),
    Opt("no_measurements", ("no-measurements",), takes_value=False),
    Opt("print_b64", ("print-b64",), takes_value=False),
    Opt("kernel", ("kernel",), ("k",), value_name="file"),
    Opt("initrd", ("initrd",), ("i",), value_name="file"),
    Opt("firmware", ("firmware",), ("f",), value_name="file"),
    Opt("dtb", ("dtb",), value_name="file"),
    Opt("config", ("config",), ("c",), repeat=True, value_name="file"),
    Opt("endorsements_template", ("endorsements-template",), value_name="file"),
    Opt("endorsements_output", ("endorsements-output",), value_name="file"),
    Opt("ipa_bits", ("ipa-bits",), value_name="N", parser=parse_u8),
    Opt("num_bps", ("num-bps",), value_name="N", parser=parse_u8),
    Opt("num_wps", ("num-wps",), value_name="N", parser=parse_u8),
    Opt("sve_vl", ("sve-vl",), value_name="N", parser=parse_u16),
    Opt("pmu_num_ctrs", ("pmu-num-ctrs",), value_name="N", parser=parse_u8),
    Opt("pmu", ("pmu",), parser=parse_bool),
    Opt("lpa2", ("lpa2",), parser=parse_bool),
    Opt("hash_algo", ("hash-algo",), parser=_parse_hash_algo),
    # rmtool extensions
    Opt("rmm_version", ("rmm-version",)),
    Opt("fmt", ("format",)),
    Opt("trace", ("trace",), takes_value=False),
    Opt("jobs", ("jobs",)),
    Opt("corim_output", ("corim-output",)),
    Opt("emit_log", ("emit-log",)),
    Opt("html", ("html",)),
)


# clap's generated flags of the top-level command (they react like any flag: a pending
# option before them is checked first)
_CLAP_GLOBALS = (*GLOBAL_OPTIONS,
                 Opt("help", ("help",), ("h",), takes_value=False),
                 Opt("help", ("version",), ("V",), takes_value=False))


def clap_check(args: list[str]) -> None:
    """The reference's clap pass over the whole argv (global options, subcommand and,
    for kvmtool, its arguments): every clap error comes before any tool error. The last
    global option, if its value is the next word, is only checked after the subcommand's
    arguments (clap resolves it at the end of ``get_matches_with``)."""
    deferred: list[Callable[[], None]] = []
    try:
        opts = scan(args, _CLAP_GLOBALS, "", stop_at=lambda word: True, deferred=deferred)
    except HelpRequested:
        return  # help / version: click's
    except ClapError as exc:
        exc.hint = _global_option_hint(exc.message)
        raise
    if STOP_KEY not in opts:
        if args:
            raise ClapError("error: 'realm-measurements' requires a subcommand but one was "
                            "not provided")
        return
    index = int(opts[STOP_KEY][0])
    vmm = args[index]
    if vmm == "help":
        return
    if not is_vmm_name(vmm):
        raise unknown_vmm(vmm)
    frontend = get_frontend(vmm)
    try:  # clap's pass over the VMM's arguments (a no-op for qemu: raw words)
        frontend.scan_args(args[index + 1:])
    except HelpRequested:
        # clap prints the subcommand's help and exits 0 before anything else
        click.echo(frontend.help_text(), nl=False)
        raise click.exceptions.Exit(0) from None
    for check in deferred:
        check()


def unknown_vmm(word: str) -> ClapError:
    """clap's ``unrecognized subcommand`` (the reference's line), with "did you mean" as
    a hint line when a VMM name is close."""
    import os

    error = ClapError(f"error: unrecognized subcommand '{word}'")
    error.hint = did_you_mean(word, vmm_names())
    if error.hint is None and os.path.lexists(word):  # "-c a.conf b.conf kvmtool"
        error.hint = (f"{word} is a file, not a VMM name ({', '.join(vmm_names())}): each "
                      f"file needs its own option before the VMM name, e.g. -c {word}")
    return error


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """``did you mean 'kvmtool'?`` (difflib), or None when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    return ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else None


def _global_option_hint(message: str) -> str | None:
    """For clap's ``unexpected argument '-m' found`` before the VMM name: that it is a
    VMM's option (it goes after the VMM name), or the global option it is close to."""
    import re

    from rmtool.cli._completion import vmm_options

    m = re.fullmatch(r"error: unexpected argument '(-[^']*)' found", message)
    if m is None:
        return None
    word = m.group(1)
    owners = [name for name in vmm_names() if word in vmm_options(name)]
    if owners:
        return (f"{word} is an option of {' and '.join(owners)}: put it after the VMM name "
                f"(rmtool measure [OPTIONS] VMM {word} ...)")
    if word.startswith("--"):
        return did_you_mean(word, [f"--{name}" for o in _CLAP_GLOBALS for name in o.longs])
    return None


def _reference_mode_name() -> str:
    from rmtool.cli.main import REFERENCE_MODE

    return REFERENCE_MODE


#: the VMM option words a user writes for another one (not an edit away)
_VMM_ALIASES = {"cloud-hv": {"--initrd": "--initramfs", "-i": "--initramfs",
                             "-k": "--kernel", "-m": "--memory", "-c": "--cpus"}}


def _measure_clap_error(exc: ClapError, args: list[str]) -> None:
    """A clap error of ``rmtool measure`` (not ``realm-measurements``, whose text is the
    reference's): the usage line under this command's name, and a hint line for a
    global option given after the VMM name or a misspelt VMM option."""
    exc.message = exc.message.replace("Usage: realm-measurements ", "Usage: rmtool measure ")
    if exc.hint is None:
        exc.hint = _vmm_args_hint(exc.message.split("\n", 1)[0], args)


def _vmm_args_hint(first: str, args: list[str]) -> str | None:
    """The hint for clap's first line about the VMM's arguments: ``--format`` after the
    VMM name (a global option), ``-c FILE`` after it (kvmtool's ``-c`` is ``--cpus``),
    or the VMM option an unknown word misspells (``--kernal``)."""
    import os
    import re

    from rmtool.cli._completion import vmm_options
    from rmtool.measure.vmm.common import near_miss

    vmm = next((a for a in args if is_vmm_name(a)), None)
    if vmm is None:
        return None
    name = get_frontend(vmm).name
    m = re.fullmatch(r"error: unexpected argument '(-[^'=]*)(=[^']*)?' found", first)
    if m is not None:
        word = m.group(1)
        globals_ = {f"--{long}" for o in GLOBAL_OPTIONS for long in o.longs}
        alias = _VMM_ALIASES.get(name, {}).get(word)
        if alias is None and word in globals_:
            return (f"{word} is a global option of rmtool measure: put it before the VMM "
                    f"name")
        target = alias or near_miss(word, vmm_options(name))
        return f"did you mean '{target}'?" if target else None
    m = re.fullmatch(r"error: invalid value '([^']*)' for '(--cpus|-c)[ <]?[^']*'.*", first)
    if m is not None and os.path.lexists(m.group(1)):
        return (f"-c {m.group(1)}: -c FILE (host capabilities) is a global option of "
                f"rmtool measure: put it before the VMM name (after it, -c is the "
                f"{name} vCPU count)")
    return None


def _clap_exit(exc: ClapError) -> click.exceptions.Exit:
    click.echo(exc.message, err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    return click.exceptions.Exit(exc.exit_code)


class _MeasureCommand(click.Command):
    """Checks the argv the way the reference's clap parser does before click sees it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.resilient_parsing:  # shell completion: no checks, nothing on stderr
            return super().parse_args(ctx, args)
        try:
            clap_check(list(args))
        except ClapError as exc:
            if ctx.find_root().obj != _reference_mode_name():
                _measure_clap_error(exc, list(args))
            raise _clap_exit(exc) from exc
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise _clap_exit(ClapError(f"error: unexpected argument '{exc.option_name}' "
                                       f"found")) from exc

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The examples (rmtool.cli._help_examples), under the name this run was given
        (``realm-measurements`` shows ``realm-measurements ...``)."""
        from rmtool.cli._help_examples import epilog

        self.epilog = epilog("measure", prog=ctx.command_path)
        super().format_epilog(ctx, formatter)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """After the VMM name an option-looking word is the VMM's own option; before it,
        one of measure's global options (click's default)."""
        vmm = ctx.params.get("vmm")
        if vmm and incomplete.startswith("-"):
            from rmtool.cli._completion import vmm_option_items

            return vmm_option_items(vmm, incomplete)
        return super().shell_complete(ctx, incomplete)


class _Progress:
    """A one-line progress bar on stderr (only when it is a terminal)."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0

    def __call__(self, n: int) -> None:
        self.done += n
        pct = min(100, self.done * 100 // self.total)
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\rhashing [{bar:<25}] {pct:3d}% "
                         f"{self.done >> 20}/{self.total >> 20} MiB")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def _config_hint(path: str, exc: ConfigError) -> str | None:
    """``Image is not a host-capability TOML file`` when ``path`` could not be read as
    TOML at all (not UTF-8, or a TOML syntax error), naming what it looks like."""
    if "stream did not contain valid UTF-8" not in exc.message and \
            "TOML parse error" not in exc.message:
        return None
    if "unknown field" in exc.message or "\ninvalid" in exc.message:
        return None  # a TOML file with a wrong key or value: the message says which
    import os

    from rmtool._files import open_regular
    from rmtool._filetype import sniff

    hint = f"{path} is not a host-capability TOML file"
    try:  # its first bytes, from a regular file only (rmtool._files)
        with os.fdopen(open_regular(path, "config"), "rb") as f:
            found = sniff(f.read(4096))
    except (OSError, RmtoolError):
        found = None
    if found is not None and found.strong:
        hint += f" (it looks like {found.name})"
    return hint + ("; -c takes files such as qemu-max-8.2.conf or kvm.conf "
                   "(python -m rmtool.examples inputs DIR writes them)")


def _caps_from_globals(configs: tuple[str, ...], o: dict[str, Any]) -> HostCaps:
    """Reference ``RealmConfig::from_args`` (first thing in every ``build_params``, so
    its errors read ``Cannot build parameters: ...``): config overlays in order, then
    the global options *set* (``RealmParams::udpate``), checked in field order."""
    caps = HostCaps()
    for path in configs:
        try:
            caps = load_config(path, caps)
        except ConfigError as exc:
            error = ParametersError(exc.message)
            error.hint = _config_hint(path, exc)
            raise error from exc
    try:
        values: dict[str, Any] = {}
        if o["ipa_bits"] is not None:
            values["ipa_bits"] = parse_u8(o["ipa_bits"])
        if o["num_bps"] is not None:
            values["num_bps"] = check_bps(parse_u8(o["num_bps"]))
        if o["num_wps"] is not None:
            values["num_wps"] = check_wps(parse_u8(o["num_wps"]))
        if o["pmu_num_ctrs"] is not None:
            values["pmu_num_ctrs"] = check_pmu_ctrs(parse_u8(o["pmu_num_ctrs"]))
        if o["sve_vl"] is not None:
            values["sve_vl"] = check_sve_vl(parse_u16(o["sve_vl"]))
        if o["pmu"] is not None:
            values["pmu"] = parse_bool(o["pmu"])
        if o["lpa2"] is not None:
            values["lpa2"] = parse_bool(o["lpa2"])
    except ConfigError as exc:
        raise ParametersError(exc.message) from exc
    return caps.set(**values)


def _dtb_write_error(path: str, exc: OSError) -> RmtoolError:
    """The reference's ``write_dtb`` error inside ``add_dtb`` (context "while generating
    DTB"): ``file PATH error: REASON (os error N)``."""
    return ParametersError("while generating DTB: "
                           + os_error_text(path, exc).removeprefix("VMM: "))


def _write_dtb(path: str, data: bytes) -> None:
    """``write_dtb`` inside ``add_dtb``, atomically: the whole DTB or the old file (a
    truncated DTB still looks like one), never through a symlink (rmtool._files)."""
    write_atomic(path, data, error=_dtb_write_error)


def _image_bytes(build: VmmBuild) -> int:
    total = 0
    for blob in build.blobs:
        try:
            total += blob.image.size
        except RmtoolError:
            pass
    return total


def _hex_or_b64(value: bytes, b64: bool) -> str:
    return base64.b64encode(value).decode() if b64 else value.hex()


def measurements_json(m: Measurements, build: VmmBuild) -> dict[str, Any]:
    """The ``--format json`` contract."""
    import hashlib

    return {
        "rim": m.rim.hex(),
        "rems": [r.hex() for r in m.rems],
        "hash_algo": m.hash_algo.name,
        "personalization_value": m.rpv.hex(),
        "rmm_version": m.profile.name,
        "vmm": build.vmm,
        "realm_params": {
            "s2sz": build.params.s2sz, "num_bps": build.params.num_bps,
            "num_wps": build.params.num_wps, "sve_vl": build.params.sve_vl,
            "pmu": build.params.pmu, "pmu_num_ctrs": build.params.pmu_num_ctrs,
            "lpa2": build.params.lpa2,
        },
        "dtb_sha256": hashlib.sha256(build.dtb).hexdigest() if build.dtb else None,
        "dtb_ipa": build.dtb_ipa,
    }


def trace_rows(m: Measurements) -> list[dict[str, Any]]:
    """The trace records in their JSON form (``TraceRecord.to_json``, the one codec)."""
    return [r.to_json() for r in m.records()]


@click.command("measure", cls=_MeasureCommand,
               context_settings={"allow_interspersed_args": False,
                                 "help_option_names": ["-h", "--help"]})
@measure_options
@click.argument("vmm", required=False, shell_complete=complete_vmm)
@click.argument("vmm_args", nargs=-1, type=click.UNPROCESSED, shell_complete=complete_files)
def measure(settings: MeasureSettings, vmm: str | None, vmm_args: tuple[str, ...]) -> None:
    """Compute the RIM and REMs of a Realm from a VMM command line.

    VMM is one of kvmtool, qemu, cloud-hv; VMM_ARGS are that VMM's own arguments.
    """
    # settings.hash_algo was validated by clap_check; it is ignored as by the reference tool
    ctx = click.get_current_context()
    if vmm is None:
        click.echo(ctx.get_usage(), err=True)
        click.echo(f"VMM is one of: {', '.join(vmm_names())} (then that VMM's own "
                   f"arguments)", err=True)
        click.echo(f"Try '{ctx.command_path} --help' for help.", err=True)
        ctx.exit(2)
    if vmm == "help":
        click.echo(ctx.get_help())
        return
    if not is_vmm_name(vmm):
        raise _clap_exit(unknown_vmm(vmm))
    try:
        _measure(settings, vmm, vmm_args)
    except ClapError as exc:
        raise _clap_exit(exc) from exc
    except ReferencePanic as exc:
        # the reference aborts with a Rust panic here: same text, same exit status
        click.echo(exc.panic_text(), err=True)
        raise click.exceptions.Exit(exc.exit_code) from exc
    except RmtoolError as exc:
        if exc.hint is None:
            exc.hint = measure_hint(exc, settings, reference_mode=_as_realm_measurements(),
                                    vmm_args=vmm_args)
        raise


#: host capabilities ``finalize`` needs, in the order it checks them, and their options
_NEEDED_CAPS = (("ipa_bits", "--ipa-bits"), ("num_wps", "--num-wps"),
                ("num_bps", "--num-bps"), ("pmu_num_ctrs", "--pmu-num-ctrs"))


def missing_caps_hint(missing: Sequence[str]) -> str:
    """What to pass when host capabilities are unknown. rmtool never guesses them: a
    measurement with a guessed capability is a wrong reference value (docs/cli.md)."""
    options = " ".join(f"{opt} N" for name, opt in _NEEDED_CAPS if name in missing)
    names = " and ".join(missing)
    return (f"the host's {names} {'is' if len(missing) == 1 else 'are'} not known (rmtool "
            f"does not guess: a guessed value gives a wrong reference value); pass the "
            f"host's capability files, e.g. -c qemu-max-8.2.conf -c kvm.conf (written by "
            f"python -m rmtool.examples inputs DIR), or {options}, before the VMM name")


def measure_hint(exc: RmtoolError, s: MeasureSettings, *, reference_mode: bool = False,
                 vmm_args: Sequence[str] = ()) -> str | None:
    """The second line of an error in the user's terms: which host capabilities to pass,
    or that the global ``-k`` file is not an arm64 Image. None when there is nothing to
    add. ``reference_mode`` (``realm-measurements``): only the hints it always had."""
    import re

    m = re.fullmatch(r"(ipa_bits|num_wps|num_bps|pmu_num_ctrs) is not known", exc.message)
    if m is not None:
        try:
            caps = _caps_from_globals(s.configs, s.host_options())
        except RmtoolError:
            caps = HostCaps()
        names = [name for name, _ in _NEEDED_CAPS]
        first = names.index(m.group(1))
        # the one reported, and those checked after it that are still unknown (the PMU
        # counters only matter with a PMU: reported on their own when they do)
        missing = [m.group(1)] + [n for n in names[first + 1:] if n != "pmu_num_ctrs"
                                  and getattr(caps, n) is None]
        return missing_caps_hint(missing)
    kernel = s.kernel
    if kernel is not None and exc.message in (
            f"file {kernel} error: invalid gzip header", "invalid Linux header",
            f"file {kernel} error: failed to fill whole buffer"):
        return f"-k {kernel}: not an arm64 Linux Image (no ARM\\x64 magic)"
    if reference_mode:
        pass
    elif exc.message == "RMM: unknown hash algorithm `sha384`":
        return (f"sha384 needs an RMM that has it: pass --rmm-version 2.0 before the VMM "
                f"name (rmtool measure --rmm-version 2.0 ...; this run models RMM "
                f"{s.rmm_version})")
    elif exc.message == "need firmware image":
        words = list(vmm_args)
        fw = next((words[i + 1] for i in range(len(words) - 1)
                   if words[i] in ("-bios", "-f", "--firmware")), "FILE")
        return (f"the VMM loads a firmware: pass its content with the global -f {fw}, "
                f"before the VMM name (rmtool measure -f {fw} VMM ...)")
    if exc.message in ("need kernel image", "need initrd image"):
        what, opt = ("kernel", "-k") if "kernel" in exc.message else ("initrd", "-i")
        return (f"the VMM loads a {what}: pass its content with the global {opt} FILE, "
                f"before the VMM name (rmtool measure {opt} FILE VMM ...)")
    return None


def measure_inputs(s: MeasureSettings, *, reference_mode: bool = False) -> MeasureInputs:
    """The global options as the inputs of every front-end (reference ``check_args`` and
    ``RealmConfig::from_args``)."""
    if s.dtb is not None and s.dtb_template is not None:
        raise InvalidArguments("either --dtb or --dtb-template can be set but not both")
    caps = _caps_from_globals(s.configs, s.host_options())
    if s.no_measurements:
        # The reference writes the DTB before it needs these; they do not change the DTB.
        caps = HostCaps(**{**caps.as_dict(), **{k: v for k, v in (
            ("num_bps", 2), ("num_wps", 2), ("pmu_num_ctrs", 0), ("ipa_bits", 52))
            if getattr(caps, k) is None}})
    return MeasureInputs(caps=caps, profile=get_profile(s.rmm_version), kernel=s.kernel,
                         initrd=s.initrd, firmware=s.firmware, dtb=s.dtb,
                         dtb_template=s.dtb_template, reference_mode=reference_mode)


def parse_measure_args(argv: Sequence[str]) -> MeasureRequest:
    """MEASURE_ARGS (``rmtool measure``'s global options, VMM name, VMM arguments) as a
    :class:`rmtool.diagnose.request.MeasureRequest`, with the command's own checks: a
    usage error is an ``InvalidArguments`` (exit 2) carrying the message ``measure``
    prints."""
    args = list(argv)
    try:
        clap_check(args)
        ctx = measure.make_context("measure", list(args), resilient_parsing=False)
    except ClapError as exc:
        raise InvalidArguments(f"MEASURE_ARGS: {exc.message.removeprefix('error: ')}") from exc
    except click.exceptions.Exit as exc:
        raise InvalidArguments("MEASURE_ARGS: no VMM command line (e.g. -- kvmtool "
                               "--realm -m 512M -k Image)") from exc
    except click.ClickException as exc:
        raise InvalidArguments(f"MEASURE_ARGS: {exc.format_message()}") from exc
    params = dict(ctx.params)
    vmm, vmm_args = params.pop("vmm"), tuple(params.pop("vmm_args"))
    if vmm is None or not is_vmm_name(vmm):
        raise InvalidArguments(f"MEASURE_ARGS: expected a VMM name (kvmtool, qemu, "
                               f"cloud-hv), got {vmm!r}")
    fields = {f.name for f in dataclasses.fields(MeasureSettings)}
    settings = MeasureSettings(**{k: v for k, v in params.items() if k in fields})
    return MeasureRequest(tuple(args), measure_inputs(settings), get_frontend(vmm).name,
                          vmm_args)


def _measure(s: MeasureSettings, vmm: str, vmm_args: tuple[str, ...]) -> None:
    """src/main.rs: check_args, build_params (DTB written at its end), then the
    measurements unless --no-measurements."""
    inputs = measure_inputs(s, reference_mode=_as_realm_measurements())
    build = build_vmm(vmm, list(vmm_args), inputs)
    if s.hash_algo is not None and not inputs.reference_mode:
        option = _ALGO_OPTION.get(build.vmm, "its own option")
        build.result_warnings.append(
            f"--hash-algo {s.hash_algo} is ignored (as by the reference tool): the Realm's "
            f"algorithm is the VMM's, set with {option} after the VMM name")
    for w in build.warnings:
        click.echo(f"WARN {w}", err=True)
    if s.verbose:
        from rmtool.cli._output import fields_text  # the RPV in hex, not a bytes repr

        click.echo(f"realm parameters: {fields_text(build.params)}", err=True)
        click.echo(f"granule hashing: {core_name(build.params.hash_algo.name)} core, "
                   f"{ParallelGranuleHasher(s.jobs).jobs} workers", err=True)
    if s.output_dtb is not None and build.dtb is not None:
        _write_dtb(s.output_dtb, build.dtb)
    build.raise_deferred(Stage.AFTER_DTB)
    if s.no_measurements:
        _print_result_warnings(build)
        return
    progress = None
    if sys.stderr.isatty() and _image_bytes(build) > PROGRESS_THRESHOLD:
        progress = _Progress(_image_bytes(build))
    realm = Realm(inputs.profile, hasher=ParallelGranuleHasher(s.jobs, progress))
    try:
        m = realm.execute(build.operations())
    finally:
        if progress is not None:
            progress.close()
    result = MeasureResult(build, m)
    _write_side_outputs(result, s.endorsements_template, s.endorsements_output,
                        s.corim_output, s.emit_log)
    if s.html is not None:
        _write_html(s.html, s, result)
    if s.endorsements_output is None:
        _print(result, s.fmt, s.trace, s.print_b64)
    _print_result_warnings(build)


#: the VMM option that sets the Realm's measurement algorithm
_ALGO_OPTION = {"kvmtool": "--measurement-algo",
                "qemu": "-object rme-guest,measurement-algorithm=",
                "cloud-hv": "--platform measurement_algo="}


def _write_html(path: str, s: MeasureSettings, result: MeasureResult) -> None:
    """``--html FILE``: the report of this run (rmtool.report), from the JSON's data."""
    from rmtool.report import input_files, measure_report, write_report

    named = [("kernel", s.kernel), ("initrd", s.initrd), ("firmware", s.firmware),
             ("dtb", s.dtb), ("dtb template", s.dtb_template),
             *(("config", c) for c in s.configs)]
    build = result.build
    report = measure_report(result, measurements_json(result.measurements, build), sys.argv,
                            input_files(named), [*build.warnings, *build.result_warnings])
    write_report(path, report)


def _print_result_warnings(build: VmmBuild) -> None:
    """What the measurements mean (kvmtool without ``--realm``): after the results, so
    that an error keeps the reference's first stderr line."""
    for w in build.result_warnings:
        click.echo(f"WARN {w}", err=True)


def _as_realm_measurements() -> bool:
    """Whether this run is ``realm-measurements`` (``rmtool.cli.main.run``), the drop-in
    entry point that keeps the reference's leniencies."""
    from rmtool.cli.main import REFERENCE_MODE

    return bool(click.get_current_context().find_root().obj == REFERENCE_MODE)


def _write_side_outputs(result: MeasureResult, endorsements_template: str | None,
                        endorsements_output: str | None, corim_output: str | None,
                        emit_log: str | None) -> None:
    """Build every side output, then write each atomically (rmtool._files): a failure
    while building one leaves none written, a failed write leaves its target unchanged."""
    m = result.measurements
    outputs: list[tuple[str, bytes | str]] = []
    if endorsements_output is not None:
        from rmtool.measure.endorsements import comid_json

        outputs.append((endorsements_output, comid_json(m, endorsements_template)))
    if corim_output is not None:
        from rmtool.verify.corim.realm import build_realm_corim

        outputs.append((corim_output,
                        build_realm_corim(m.rim, list(m.rems), m.hash_algo.name, m.rpv)))
    if emit_log is not None:
        from rmtool.replay.emit import emit_log as write_log

        outputs.append((emit_log, write_log(result.build, m)))
    for path, content in outputs:
        write_atomic(path, content)


def _print(result: MeasureResult, fmt: str, trace: bool, print_b64: bool) -> None:
    m = result.measurements
    if fmt in ("json", "yaml"):  # the document of rmtool.cli._output (docs/json.md)
        from rmtool.cli._output import Messages, emit

        doc = measurements_json(m, result.build)
        if trace:
            doc["trace"] = trace_rows(m)
        msgs = Messages()
        for w in (*result.build.warnings, *result.build.result_warnings):
            msgs.warn(w, echo=False)  # on stderr too, as they are found
        emit("measure", doc, fmt, msgs)
        return
    if trace:
        from tabulate import tabulate

        rows = [(t["number"], t["operation"], t["origin"], t["detail"], t["descriptors"],
                 t["rim_after"]) for t in trace_rows(m)]
        click.echo(tabulate(rows, headers=["#", "operation", "origin", "detail", "descs",
                                           "RIM after"]))
        click.echo("")
    click.echo(f"RIM: {_hex_or_b64(m.rim, print_b64)}")
    for i, rem in enumerate(m.rems):
        click.echo(f"REM{i}: {_hex_or_b64(rem, print_b64)}")
