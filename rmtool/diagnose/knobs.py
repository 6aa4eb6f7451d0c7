"""The diagnose "knobs": each parameter of the vocabulary, read from and set in MEASURE_ARGS.

A cause names a parameter of :data:`rmtool.diagnose.model.PARAMETERS` with its value in
the expected Realm and in the token's. :func:`expected_value` reads that value from an
expected Realm (its request and build), :func:`with_parameter` writes a new value into
MEASURE_ARGS in the VMM's own syntax, so that a candidate configuration is always an
argv that ``rmtool measure`` accepts and ``reproduced_by`` is that argv.

Syntax per VMM (docs/vmm-kvmtool.md, docs/vmm-qemu.md, docs/vmm-cloud-hypervisor.md,
their front-ends in ``rmtool/measure/vmm/``) and the global options of ``rmtool measure``
(``rmtool/cli/_options_measure.py``):

========================  =====================  ======================  ======================
parameter                 kvmtool                QEMU                    cloud-hv
========================  =====================  ======================  ======================
memory_size (bytes)       ``-m 1G``              ``-m 1G`` (size item)   ``--memory size=1G``
cpus                      ``-c 4``               ``-smp 4``              ``--cpus boot=4``
kernel / initrd           global ``-k``/``-i`` and the line's ``-k``/``-i`` | ``-kernel``/
                          ``-initrd`` | ``--kernel``/``--initramfs``
firmware                  global ``-f`` + ``-f`` global ``-f`` + ``-bios``  (not expressible)
hash_algo                 ``--measurement-algo`` ``rme-guest,measurement-algorithm=``
                                                 ``--platform measurement_algo=``
personalization_value     ``--realm-pv`` (UTF-8)  ``personalization-value=`` (base64)
bootargs                  ``-p`` (after the reference prefix) | ``-append`` | ``--cmdline``
host capabilities         global ``--ipa-bits --num-bps --num-wps --sve-vl --pmu-num-ctrs
                          --pmu --lpa2`` (the line's own restrictions of that capability are
                          dropped: kvmtool ``--sve-max-vl --disable-sve --pmu-counters``, QEMU
                          ``-cpu num-breakpoints= num-watchpoints= num-pmu-counters= pmu=
                          sve*=``)
rmm_version               global ``--rmm-version``
========================  =====================  ======================  ======================

Values (docs/diagnose.md): ``memory_size`` bytes, ``cpus`` and host counts ints,
``sve_vl`` bits (0 = SVE off), ``pmu``/``lpa2`` bools, ``hash_algo`` a name,
``rmm_version`` a profile name, ``personalization_value`` 128 hex digits, ``bootargs``
the DTB's ``chosen/bootargs`` string (None: no property), ``ipa_bits`` the Realm's
measured IPA width (s2sz), images the path of the file measured (None: not loaded).
``dtb`` and ``rem0``..``rem3`` are never knobs (a search does not invent DTB content).

:func:`with_parameter` checks its own work: the new argv is not re-parsed here, but the
search (``rmtool.diagnose.search``) reads every parameter back from the candidate's build
and names only those whose value differs.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rmtool.diagnose.request import MeasureRequest
from rmtool.errors import RmtoolError
from rmtool.measure.rmm.profiles import PROFILES
from rmtool.measure.vmm._kvmtool_dtb import BOOTARGS_PREFIX
from rmtool.measure.vmm.common import VmmBuild
from rmtool.measure.vmm.registry import get as get_frontend

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


class KnobError(RmtoolError):
    """The VMM (or rmtool) has no way to express this parameter value in MEASURE_ARGS."""


#: parameters :func:`with_parameter` can set (for some VMM)
KNOBS: tuple[str, ...] = (
    "memory_size", "cpus", "kernel", "initrd", "firmware", "bootargs", "hash_algo",
    "personalization_value", "ipa_bits", "num_bps", "num_wps", "sve_vl", "pmu",
    "pmu_num_ctrs", "lpa2", "rmm_version",
)
#: parameters :func:`expected_value` reads (``dtb``: the SHA-256 of the measured DTB)
READABLE: tuple[str, ...] = (*KNOBS, "dtb")

HOST_KNOBS = ("ipa_bits", "num_bps", "num_wps", "sve_vl", "pmu_num_ctrs", "pmu", "lpa2")
IMAGE_KNOBS = ("kernel", "initrd", "firmware")
_BLOB_KIND = {"kernel": "KERNEL", "initrd": "INITRD", "firmware": "FIRMWARE"}


# --------------------------------------------------------------------------- reading

def expected_value(request: MeasureRequest, build: VmmBuild, parameter: str) -> Any:
    """The value of ``parameter`` in the Realm ``request`` describes (``build`` is
    ``request.build()``), in the units of docs/diagnose.md."""
    p = build.params
    facts = build.facts
    if parameter == "memory_size":
        if "mem_size" in facts:  # cloud-hv: --memory size (the ranges may be split)
            return int(facts["mem_size"])
        return get_frontend(build.vmm).vm_version(build).ram_size
    if parameter == "cpus":
        return get_frontend(build.vmm).vm_version(build).cpus
    if parameter in IMAGE_KNOBS:
        kind = _BLOB_KIND[parameter]
        loaded = any(b.kind == kind for b in build.blobs) or any(
            b.kind == kind for _, b in build.rem_blobs)
        return getattr(request.inputs, parameter) if loaded else None
    if parameter == "bootargs":
        value = facts.get("bootargs")
        return None if value is None else str(value)
    if parameter == "hash_algo":
        return p.hash_algo.name
    if parameter == "personalization_value":
        return p.rpv.hex()
    if parameter == "ipa_bits":
        return p.s2sz
    if parameter in ("num_bps", "num_wps", "sve_vl", "pmu_num_ctrs"):
        return int(getattr(p, parameter))
    if parameter in ("pmu", "lpa2"):
        return bool(getattr(p, parameter))
    if parameter == "rmm_version":
        return request.inputs.profile.name
    if parameter == "dtb":
        return hashlib.sha256(build.dtb).hexdigest() if build.dtb is not None else None
    raise KnobError(f"diagnose parameter {parameter!r} is not read from a VMM command line",
                    field=parameter)


# --------------------------------------------------------------------------- argv editing

@dataclass(frozen=True)
class OptSpec:
    """An option of a clap-style grammar: long and short names, whether it takes a value."""

    longs: tuple[str, ...] = ()
    shorts: tuple[str, ...] = ()
    takes_value: bool = True


# ``rmtool measure``'s global options (rmtool/cli/_options_measure.py), value-taking or not
_GLOBAL_VALUE = (
    ("output-dtb",), ("dtb-template",), ("dtb",), ("kernel", "k"), ("initrd", "i"),
    ("firmware", "f"), ("config", "c"), ("endorsements-template",), ("endorsements-output",),
    ("ipa-bits",), ("num-bps",), ("num-wps",), ("sve-vl",), ("pmu-num-ctrs",), ("pmu",),
    ("lpa2",), ("hash-algo",), ("rmm-version",), ("format",), ("jobs",), ("corim-output",),
    ("emit-log",),
)
_GLOBAL_FLAGS = (("verbose", "v"), ("no-measurements",), ("print-b64",), ("trace",))


def _spec(names: tuple[str, ...], takes_value: bool = True) -> OptSpec:
    return OptSpec(tuple(n for n in names if len(n) > 1), tuple(n for n in names if len(n) == 1),
                   takes_value)


GLOBAL_SPECS: dict[str, OptSpec] = {
    **{n[0]: _spec(n) for n in _GLOBAL_VALUE},
    **{n[0]: _spec(n, False) for n in _GLOBAL_FLAGS},
}
#: global options that only choose what ``measure`` prints or writes: left out of a
#: candidate's argv (``reproduced_by`` prints the RIM and REMs and writes no file)
OUTPUT_ONLY = ("output-dtb", "endorsements-template", "endorsements-output", "format",
               "jobs", "corim-output", "emit-log", "verbose", "print-b64", "trace")


@functools.lru_cache(maxsize=4)
def _clap_specs(vmm: str) -> dict[str, OptSpec]:
    """The clap grammar of kvmtool / cloud-hv (their front-ends' option tables)."""
    from rmtool.measure.vmm import _cloudhv as cloudhv
    from rmtool.measure.vmm import _kvmtool as kvmtool

    options = kvmtool.OPTIONS if vmm == "kvmtool" else cloudhv.ARGS
    return {o.dest: OptSpec(tuple(o.longs), tuple(o.shorts), o.takes_value) for o in options}


@dataclass
class Occurrence:
    """Where an option appears: word index, the value (None for a flag) and its form."""

    index: int
    count: int  # words used: 1 (flag, ``--x=v``, ``-xv``) or 2 (``--x v``)
    value: str | None
    form: str  # "sep", "eq", "attached", "flag"


def clap_find(words: Sequence[str], specs: dict[str, OptSpec], key: str) -> list[Occurrence]:
    """Occurrences of option ``key`` in ``words`` (clap rules: ``--long v``,
    ``--long=v``, ``-s v``, ``-sv``, ``-s=v``; a ``--`` ends the options)."""
    want = specs[key]
    found: list[Occurrence] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--":
            break
        spec, form, value = None, "flag", None
        if w.startswith("--"):
            name, eq, val = w[2:].partition("=")
            spec = next((s for s in specs.values() if name in s.longs), None)
            if spec is not None and spec.takes_value:
                form, value = ("eq", val) if eq else ("sep", None)
        elif w.startswith("-") and len(w) > 1:
            name, rest = w[1], w[2:]
            spec = next((s for s in specs.values() if name in s.shorts), None)
            if spec is not None and spec.takes_value:
                if rest:
                    form, value = "attached", rest.removeprefix("=")
                else:
                    form = "sep"
        count = 1
        if form == "sep":
            value = words[i + 1] if i + 1 < len(words) else ""
            count = 2
        if spec is want:
            found.append(Occurrence(i, count, value, form))
        i += count
    return found


def clap_remove(words: list[str], specs: dict[str, OptSpec], key: str) -> list[str]:
    drop: set[int] = set()
    for occ in clap_find(words, specs, key):
        drop.update(range(occ.index, occ.index + occ.count))
    return [w for i, w in enumerate(words) if i not in drop]


def clap_set(words: list[str], specs: dict[str, OptSpec], key: str,
             value: str | None) -> list[str]:
    """``words`` with option ``key`` set to ``value`` (None: a flag given, or the option
    removed for a value option): the first occurrence is rewritten in place, later ones
    removed; appended when absent."""
    spec = specs[key]
    occ = clap_find(words, specs, key)
    if value is None:
        return clap_remove(words, specs, key)
    name = f"--{spec.longs[0]}" if spec.longs else f"-{spec.shorts[0]}"
    new = [name] if not spec.takes_value else [name, str(value)]
    if occ and spec.takes_value:  # keep the form the user wrote (``-m 1G``, ``--mem=1G``)
        word = words[occ[0].index]
        if occ[0].form == "eq":
            new = [f"{word.partition('=')[0]}={value}"]
        elif occ[0].form == "attached":
            new = [f"{word[:2]}{value}"]
        else:
            new = [word, str(value)]
    if not occ:
        return [*words, *new]
    first = occ[0]
    out = clap_remove(words[first.index + first.count:], specs, key)
    return [*words[:first.index], *new, *out]


# QEMU: raw words; the measured options and those the reference reads with a value
_QEMU_VALUE = {"-kernel", "-initrd", "-bios", "-append", "-dtb", "-m", "-M", "-machine",
               "-smp", "-object", "-cpu", "-device", "-drive", "-fsdev", "-chardev",
               "-netdev", "-mon"}


def qemu_find(words: Sequence[str], option: str) -> list[int]:
    """Word indices of ``option`` (its value is the next word)."""
    found = []
    i = 0
    while i < len(words):
        if words[i] == option:
            found.append(i)
        i += 2 if words[i] in _QEMU_VALUE else 1
    return found


def qemu_set(words: list[str], option: str, value: str | None) -> list[str]:
    """``option value`` replacing every occurrence (the first in place); None removes."""
    found = qemu_find(words, option)
    drop = {j for i in found[1:] for j in (i, i + 1)}
    if value is None:
        drop |= {j for i in found[:1] for j in (i, i + 1)}
    out = list(words)
    if found and value is not None:
        if found[0] + 1 < len(out):
            out[found[0] + 1] = value
        else:
            out.append(value)
    elif not found and value is not None:
        return [*out, option, value]
    return [w for i, w in enumerate(out) if i not in drop]


def qemu_value(words: Sequence[str], option: str) -> str | None:
    found = qemu_find(words, option)
    if not found or found[-1] + 1 >= len(words):
        return None
    return words[found[-1] + 1]


def _edit_items(value: str, edit: Callable[[list[str]], list[str]]) -> str:
    return ",".join(edit(value.split(",")))


def _set_item(items: list[str], key: str, value: str | None) -> list[str]:
    """``key=value`` in a k=v list (first in place, others removed; None removes)."""
    out: list[str] = []
    done = False
    for item in items:
        if item.split("=", 1)[0] == key and "=" in item:
            if value is not None and not done:
                out.append(f"{key}={value}")
            done = True
            continue
        out.append(item)
    if not done and value is not None:
        out.append(f"{key}={value}")
    return out


# --------------------------------------------------------------------------- values

def size_text(n: int) -> str:
    """A memory size in the grammar every VMM front-end shares (``parse_memory_size``:
    ``<n>[B|K|M|G|T|P]``): the largest exact suffix."""
    if n <= 0:
        raise KnobError(f"memory size {n} is not expressible", field="memory_size")
    for suffix, unit in (("P", 1 << 50), ("T", TIB), ("G", GIB), ("M", MIB), ("K", KIB)):
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return f"{n}B"


def _rpv_bytes(value: Any) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise KnobError(f"personalization value {value!r} is not hex",
                        field="personalization_value") from None
    if len(raw) > 64:
        raise KnobError("personalization value longer than 64 bytes",
                        field="personalization_value")
    return raw.rstrip(b"\0")


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


# --------------------------------------------------------------------------- split argv

@dataclass
class SplitArgv:
    """MEASURE_ARGS as global options, the VMM word and the VMM's arguments."""

    globals: list[str]
    vmm_word: str
    args: list[str]

    @classmethod
    def of(cls, request: MeasureRequest) -> SplitArgv:
        argv = list(request.argv)
        n = len(request.vmm_args)
        head = argv[:len(argv) - n]
        if not head:
            raise KnobError("MEASURE_ARGS has no VMM name")
        return cls(head[:-1], head[-1], argv[len(argv) - n:])

    def join(self) -> list[str]:
        return [*self.globals, self.vmm_word, *self.args]

    def set_global(self, key: str, value: str | None) -> None:
        self.globals = clap_set(self.globals, GLOBAL_SPECS, key, value)


def split_argv(argv: Sequence[str]) -> SplitArgv:
    """MEASURE_ARGS split at the VMM word: the first word that is neither a global option
    (:data:`GLOBAL_SPECS`) nor the value of one (click stops there)."""
    i = 0
    while i < len(argv):
        w = argv[i]
        if w == "--":
            i += 1
            break
        if not w.startswith("-") or w == "-":
            break
        step = 1
        if w.startswith("--"):
            name, eq, _ = w[2:].partition("=")
            spec = next((s for s in GLOBAL_SPECS.values() if name in s.longs), None)
            if spec is not None and spec.takes_value and not eq:
                step = 2
        else:
            spec = next((s for s in GLOBAL_SPECS.values() if w[1] in s.shorts), None)
            if spec is not None and spec.takes_value and len(w) == 2:
                step = 2
        i += step
    if i >= len(argv):
        raise KnobError("MEASURE_ARGS has no VMM name")
    return SplitArgv(list(argv[:i]), argv[i], list(argv[i + 1:]))


def candidate_base(request: MeasureRequest) -> list[str]:
    """MEASURE_ARGS without the options that only choose outputs (:data:`OUTPUT_ONLY`)."""
    s = SplitArgv.of(request)
    for key in OUTPUT_ONLY:
        s.globals = clap_remove(s.globals, GLOBAL_SPECS, key)
    return s.join()


# --------------------------------------------------------------------------- writing

def with_parameter(request: MeasureRequest, parameter: str, value: Any) -> list[str]:
    """New MEASURE_ARGS in which ``parameter`` has ``value`` (docs/diagnose.md units), in
    the VMM's own syntax. Raises :class:`KnobError` when this VMM has no way to say it."""
    s = SplitArgv.of(request)
    vmm = request.vmm
    if parameter not in KNOBS:
        raise KnobError(f"diagnose parameter {parameter!r} cannot be set in MEASURE_ARGS",
                        field=parameter)
    if parameter == "rmm_version":
        if value not in PROFILES:
            raise KnobError(f"unknown RMM version {value!r}", field=parameter)
        s.set_global("rmm-version", str(value))
        return s.join()
    if parameter in HOST_KNOBS:
        _set_host(s, vmm, parameter, value)
        return s.join()
    if parameter in IMAGE_KNOBS:
        _set_image(s, vmm, parameter, value)
        return s.join()
    setter = {"kvmtool": _set_kvmtool, "qemu": _set_qemu, "cloud-hv": _set_cloudhv}.get(vmm)
    if setter is None:
        raise KnobError(f"no diagnose knobs for VMM {vmm!r}", field=parameter)
    setter(s, parameter, value)
    return s.join()


_HOST_GLOBAL = {"ipa_bits": "ipa-bits", "num_bps": "num-bps", "num_wps": "num-wps",
                "sve_vl": "sve-vl", "pmu_num_ctrs": "pmu-num-ctrs", "pmu": "pmu",
                "lpa2": "lpa2"}
# the VMM line's own restrictions of a capability (dropped when the global sets it)
_KVMTOOL_RESTRICT = {"sve_vl": ("sve-max-vl", "disable-sve"), "pmu_num_ctrs": ("pmu-counters",)}
_QEMU_CPU_RESTRICT = {"num_bps": ("num-breakpoints",), "num_wps": ("num-watchpoints",),
                      "pmu_num_ctrs": ("num-pmu-counters",), "pmu": ("pmu",)}


def _set_host(s: SplitArgv, vmm: str, parameter: str, value: Any) -> None:
    if parameter in ("pmu", "lpa2"):
        text = _bool_text(value)
    else:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise KnobError(f"{parameter} {value!r} is not a count", field=parameter)
        text = str(value)
    s.set_global(_HOST_GLOBAL[parameter], text)
    if vmm == "kvmtool":
        specs = _clap_specs("kvmtool")
        for key in _KVMTOOL_RESTRICT.get(parameter, ()):
            s.args = clap_remove(s.args, specs, key.replace("-", "_"))
    elif vmm == "qemu":
        drop = _QEMU_CPU_RESTRICT.get(parameter, ())
        cpu = qemu_value(s.args, "-cpu")
        if cpu is not None:
            def keep(item: str) -> bool:
                key = item.split("=", 1)[0]
                if parameter == "sve_vl":
                    return not (key.startswith("sve") and "=" in item)
                return key not in drop
            s.args = qemu_set(s.args, "-cpu", ",".join(i for i in cpu.split(",") if keep(i)))


_IMAGE_GLOBAL = {"kernel": "kernel", "initrd": "initrd", "firmware": "firmware"}
_LINE = {"kvmtool": {"kernel": "kernel", "initrd": "initrd", "firmware": "firmware"},
         "qemu": {"kernel": "-kernel", "initrd": "-initrd", "firmware": "-bios"},
         "cloud-hv": {"kernel": "kernel", "initrd": "initramfs"}}


def _set_image(s: SplitArgv, vmm: str, parameter: str, value: Any) -> None:
    """The global option gives the content, the line's option says it is loaded (the
    line keeps its own value, the path on the host, when it already has one)."""
    if value is not None and not isinstance(value, str):
        raise KnobError(f"{parameter} {value!r} is not a file path", field=parameter)
    line = _LINE.get(vmm, {}).get(parameter)
    if line is None:
        if value is None:
            return
        raise KnobError(f"the {vmm} command line cannot load a measured {parameter}",
                        field=parameter)
    s.set_global(_IMAGE_GLOBAL[parameter], value)
    if vmm == "qemu":
        present = qemu_value(s.args, line)
        s.args = qemu_set(s.args, line, None if value is None else present or value)
        return
    specs = _clap_specs(vmm)
    key = line
    occ = clap_find(s.args, specs, key)
    if value is None:
        s.args = clap_remove(s.args, specs, key)
    elif not occ:
        s.args = clap_set(s.args, specs, key, value)


def _set_kvmtool(s: SplitArgv, parameter: str, value: Any) -> None:
    specs = _clap_specs("kvmtool")
    if parameter == "memory_size":
        s.args = clap_set(s.args, specs, "mem", size_text(int(value)))
    elif parameter == "cpus":
        s.args = clap_set(s.args, specs, "cpus", str(_positive(value, parameter)))
    elif parameter == "hash_algo":
        s.args = clap_set(s.args, specs, "measurement_algo", str(value))
    elif parameter == "personalization_value":
        raw = _rpv_bytes(value)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KnobError("kvmtool --realm-pv takes UTF-8 text: this personalization value "
                            "is not", field=parameter) from None
        if "\0" in text:
            raise KnobError("kvmtool --realm-pv cannot carry a NUL byte", field=parameter)
        s.args = clap_set(s.args, specs, "realm_pv", text if text else None)
    elif parameter == "bootargs":
        if value == BOOTARGS_PREFIX:
            s.args = clap_remove(s.args, specs, "params")
        elif isinstance(value, str) and value.startswith(BOOTARGS_PREFIX + " ") and \
                len(value) > len(BOOTARGS_PREFIX) + 1:
            s.args = clap_set(s.args, specs, "params", value[len(BOOTARGS_PREFIX) + 1:])
        else:
            raise KnobError(f"kvmtool bootargs always start with {BOOTARGS_PREFIX!r}: "
                            f"{value!r} is not expressible", field=parameter)


def _positive(value: Any, parameter: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise KnobError(f"{parameter} {value!r} is not a positive count", field=parameter)
    return value


def _set_qemu(s: SplitArgv, parameter: str, value: Any) -> None:
    if parameter == "memory_size":
        size = size_text(int(value))
        cur = qemu_value(s.args, "-m")

        def put(items: list[str]) -> list[str]:
            out = [i for i in items if i and "=" in i and not i.startswith("size=")]
            return [size, *out]
        s.args = qemu_set(s.args, "-m", size if cur is None else _edit_items(cur, put))
    elif parameter == "cpus":
        s.args = qemu_set(s.args, "-smp", str(_positive(value, parameter)))
    elif parameter in ("hash_algo", "personalization_value"):
        key = "measurement-algorithm" if parameter == "hash_algo" else "personalization-value"
        text = str(value) if parameter == "hash_algo" else \
            base64.b64encode(_rpv_bytes(value)).decode() or None
        found = [i for i in qemu_find(s.args, "-object")
                 if i + 1 < len(s.args) and s.args[i + 1].split(",")[0] == "rme-guest"]
        if not found:
            if text is None:
                return
            s.args = [*s.args, "-object", f"rme-guest,id=rme0,{key}={text}"]
            return
        out = list(s.args)
        for i in found:
            out[i + 1] = _edit_items(out[i + 1], lambda items: _set_item(items, key, text))
        s.args = out
    elif parameter == "bootargs":
        s.args = qemu_set(s.args, "-append", None if value is None else str(value))


def _set_cloudhv(s: SplitArgv, parameter: str, value: Any) -> None:
    specs = _clap_specs("cloud-hv")

    def items(key: str, item: str, text: str | None) -> None:
        cur = [o.value for o in clap_find(s.args, specs, key)]
        base = cur[0] if cur and cur[0] else ""
        new = ",".join(_set_item([i for i in base.split(",") if i], item, text))
        s.args = clap_set(s.args, specs, key, new or None)

    if parameter == "memory_size":
        items("memory", "size", size_text(int(value)))
    elif parameter == "cpus":
        items("cpus", "boot", str(_positive(value, parameter)))
    elif parameter == "hash_algo":
        items("platform", "measurement_algo", str(value))
    elif parameter == "personalization_value":
        items("platform", "personalization_value",
              base64.b64encode(_rpv_bytes(value)).decode() or None)
    elif parameter == "bootargs":
        s.args = clap_set(s.args, specs, "cmdline", None if value is None else str(value))
