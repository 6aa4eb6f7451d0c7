"""Log evidence for ``rmtool diagnose`` and ``rmtool compare``: the Realm's facts as its
event log states them, mapped onto the expected Realm's (issue 15).

The log is read the way replay reads it (docs/measurement-log.md sections 2-4;
:mod:`rmtool.replay._engine`): the VM VERSION event (VMM name, RAM size, vCPU count), the
tagged events on index 0 (REALM_CREATE parameters, INIT_RIPAS ranges, REC_CREATE) and
the image events (KERNEL, INITRD, DTB, FIRMWARE blobs with their Realm-algorithm
digests), decoded with :mod:`rmtool.replay._cca`; the REM events and their registers are
the replay's (:func:`rmtool.replay.replay_log`, its index map). The expected Realm's
facts come from the same shape (:func:`facts_of_build`: a VMM front-end's
:class:`~rmtool.measure.vmm.common.VmmBuild`, exactly what ``measure --emit-log``
would write), so the two are compared field by field by :func:`log_causes` — the one
function behind both commands' ``causes``.

Values follow docs/diagnose.md: ``memory_size`` bytes, ``cpus`` a count, REALM_CREATE
parameters in natural units (``ipa_bits`` is the stage-2 size ``s2sz``), images by the
file that has the digest (given in MEASURE_ARGS, or found under ``--images``) or else
the digest in hex, ``null`` for an image the Realm does not load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rmtool.diagnose.model import Cause
from rmtool.errors import RmtoolError
from rmtool.eventlog import _constants as c
from rmtool.eventlog import parse
from rmtool.measure.rmm.ops import RealmParams
from rmtool.measure.vmm.common import VmmBuild
from rmtool.measure.vmm.registry import find as find_frontend
from rmtool.replay import ReplayResult
from rmtool.replay import _cca as cca

IMAGE_EVENT_TYPES = (c.EV_POST_CODE2, c.EV_EFI_PLATFORM_FIRMWARE_BLOB2)
#: image kinds that are a vocabulary parameter (the DTB is diffed node by node instead)
IMAGE_PARAMETERS = {"KERNEL": "kernel", "INITRD": "initrd", "FIRMWARE": "firmware"}
#: REALM_CREATE parameters compared one by one (RealmParams field, vocabulary name)
REALM_FIELDS = (("s2sz", "ipa_bits"), ("num_bps", "num_bps"), ("num_wps", "num_wps"),
                ("sve_vl", "sve_vl"), ("pmu", "pmu"), ("pmu_num_ctrs", "pmu_num_ctrs"),
                ("lpa2", "lpa2"))
MAX_EVENTS = 50_000  # RIM facts are read from the first events (a VMM writes a handful)

#: digest -> file path under ``--images`` (or None): names the image a log loaded
Finder = Callable[[bytes], str | None]


@dataclass(frozen=True)
class VmFacts:
    """The VM VERSION event (or the expected Realm's, as ``--emit-log`` writes it)."""

    name: str
    ram_size: int
    cpus: int
    version: str = ""


@dataclass(frozen=True)
class LoadedImage:
    """A blob measured into the RIM (or, ``rem`` set, extended into a REM by firmware)."""

    kind: str
    base: int
    length: int
    digest: bytes | None  # the Realm-algorithm digest; None: loaded unmeasured
    event: int | None = None  # the log event (None: the expected Realm's)
    rem: int | None = None
    path: str | None = None  # the file it is (expected: the path given in MEASURE_ARGS)


@dataclass(frozen=True)
class RemEvent:
    """One extension of REM ``rem`` (RSI_MEASUREMENT_EXTEND or a firmware image event)."""

    rem: int
    digest: bytes
    event: int | None
    description: str


@dataclass
class RealmFacts:
    """What a Realm was built from, as one log (or one expected configuration) states it."""

    source: str  # "the log" / "the expected Realm"
    vm: VmFacts | None = None
    params: RealmParams | None = None
    params_event: int | None = None
    ripas: list[tuple[int, int]] = field(default_factory=list)  # (base, size)
    images: list[LoadedImage] = field(default_factory=list)
    recs: list[tuple[int | None, int]] = field(default_factory=list)  # (event, pc)
    rems: list[RemEvent] = field(default_factory=list)
    log_region: tuple[int, int] | None = None  # the unmeasured LOG blob (base, length)
    problems: list[str] = field(default_factory=list)

    def image(self, kind: str, rem: bool = False) -> LoadedImage | None:
        for img in self.images:
            if img.kind == kind and (img.rem is not None) == rem:
                return img
        return None

    @property
    def ripas_total(self) -> int:
        return sum(size for _, size in self.ripas)


# ---------------------------------------------------------------- the two sources


def facts_of_build(build: VmmBuild, paths: dict[str, str | None],
                   algo: str | None = None) -> RealmFacts:
    """The expected Realm's facts: what ``measure --emit-log`` writes for ``build``
    (``paths``: kind → the image path given in MEASURE_ARGS), image digests with ``algo``
    (the log's algorithm, so that digests compare; default the Realm's)."""
    algo = algo or build.params.hash_algo.name
    out = RealmFacts("the expected Realm", params=build.params,
                     ripas=sorted(build.ram), recs=[(None, build.rec_pc)],
                     log_region=build.log_region)
    frontend = find_frontend(build.vmm)
    if frontend is not None:
        vm = frontend.vm_version(build)
        out.vm = VmFacts(vm.name, vm.ram_size, vm.cpus, vm.version)
    for blob in sorted(build.blobs, key=lambda b: b.ipa):
        out.images.append(LoadedImage(blob.kind, blob.ipa, blob.image.size,
                                      blob.image.digest(algo), path=paths.get(blob.kind)))
    for rem, blob in build.rem_blobs:
        digest = blob.image.digest(algo)
        out.images.append(LoadedImage(blob.kind, blob.ipa, blob.image.size, digest, rem=rem,
                                      path=paths.get(blob.kind)))
        out.rems.append(RemEvent(rem, digest, None, blob.kind))
    return out


def facts_of_log(data: bytes, replay: ReplayResult) -> RealmFacts:
    """The log's facts: its RIM events decoded as replay decodes them, its REM events
    as replay mapped them (``replay`` is :func:`rmtool.replay.replay_log` of ``data``)."""
    out = RealmFacts("the log")
    if replay.vm_version is not None:
        vm = replay.vm_version
        out.vm = VmFacts(vm.name, vm.ram_size, vm.num_cpus, vm.version)
    registers = {row.number: row.register for row in replay.events}
    algo = replay.hash_algo.name if replay.hash_algo is not None else None
    for ev in parse(data).stream():
        if ev.number >= MAX_EVENTS:
            break
        reg = registers.get(ev.number)
        if reg is None or ev.event_type == c.EV_NO_ACTION:
            continue
        digest = ev.digests.get(algo) if algo is not None else None
        try:
            if reg == "RIM":
                _rim_event(out, ev.number, ev.event_type, ev.data, digest)
            elif reg.startswith("REM") and digest is not None:
                _rem_event(out, int(reg[3]), ev.number, ev.event_type, ev.data, digest)
        except RmtoolError as exc:
            out.problems.append(f"event {ev.number}: {exc}")
    return out


def _rim_event(out: RealmFacts, number: int, etype: int, data: bytes,
               digest: bytes | None) -> None:
    if etype == c.EV_EVENT_TAG:
        tag, payload = cca.read_tag(data)
        if tag == cca.TAG_REALM_CREATE and out.params is None:
            out.params = cca.read_realm_create(payload)
            out.params_event = number
        elif tag == cca.TAG_INIT_RIPAS:
            out.ripas.append(cca.read_init_ripas(payload))
        elif tag == cca.TAG_REC_CREATE:
            _flags, pc, _gprs = cca.read_rec_create(payload)
            out.recs.append((number, pc))
    elif etype in IMAGE_EVENT_TYPES:
        blob = cca.read_blob2(data)
        if blob.description == "LOG":
            out.log_region = (blob.base, blob.length)
        else:
            out.images.append(LoadedImage(blob.description, blob.base, blob.length, digest,
                                          event=number))


def _rem_event(out: RealmFacts, rem: int, number: int, etype: int, data: bytes,
               digest: bytes) -> None:
    description = ""
    if etype in IMAGE_EVENT_TYPES:
        blob = cca.read_blob2(data)
        description = blob.description
        out.images.append(LoadedImage(blob.description, blob.base, blob.length, digest,
                                      event=number, rem=rem))
    out.rems.append(RemEvent(rem, digest, number, description))


# ---------------------------------------------------------------- the comparison


def sizes(value: int) -> str:
    """512 MiB, 1 GiB, 1536 KiB: a size as people write it."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if value and value % (1 << shift) == 0:
            return f"{value >> shift} {unit}"
    return f"{value} bytes"


def image_value(img: LoadedImage | None, finder: Finder) -> str | None:
    """An image as a cause names it: its file, else its digest in hex; None: absent."""
    if img is None:
        return None
    if img.path is not None:
        return img.path
    if img.digest is None:
        return "unmeasured"
    return finder(img.digest) or img.digest.hex()


def _where(img: LoadedImage) -> str:
    if img.event is not None:
        head = f"the log's event {img.event} loads {img.kind}"
    else:
        head = f"the expected {img.kind}"
    reg = f" into REM{img.rem}" if img.rem is not None else ""
    digest = img.digest.hex() if img.digest is not None else "unmeasured"
    path = f" ({img.path})" if img.path else ""
    return f"{head}{path}{reg} at {img.base:#x}, {img.length:#x} bytes, digest {digest}"


def image_causes(expected: RealmFacts, actual: RealmFacts, finder: Finder) -> list[Cause]:
    """kernel / initrd / firmware: an image whose digest differs, or loaded by one only."""
    out: list[Cause] = []
    for kind, parameter in IMAGE_PARAMETERS.items():
        for rem in (False, True):
            want, got = expected.image(kind, rem), actual.image(kind, rem)
            if want is None and got is None:
                continue
            if want is not None and got is not None and want.digest == got.digest:
                continue
            if any(c.parameter == parameter for c in out):
                continue
            if got is not None and got.path is None and got.digest is not None:
                got = LoadedImage(got.kind, got.base, got.length, got.digest, got.event,
                                  got.rem, finder(got.digest))
            if want is None and got is not None:
                # loaded by firmware in one Realm, by the VMM in the other: same image?
                other = expected.image(kind, not rem)
                if other is not None and other.digest == got.digest:
                    continue
            parts = [_where(x) for x in (want, got) if x is not None]
            if got is not None and got.path is None and got.digest is not None:
                parts.append("no file under --images has this digest")
            out.append(Cause(parameter, image_value(want, finder), image_value(got, finder),
                             "log", "; ".join(parts)))
    return out


def memory_cause(expected: RealmFacts, actual: RealmFacts) -> Cause | None:
    """RAM size: the VM VERSION events, else the total of the INIT_RIPAS ranges."""
    if expected.vm is not None and actual.vm is not None:
        if expected.vm.ram_size == actual.vm.ram_size:
            return None
        ripas = ", ".join(f"[{b:#x}, {b + s:#x})" for b, s in actual.ripas)
        return Cause("memory_size", expected.vm.ram_size, actual.vm.ram_size, "log",
                     f"VM VERSION: {sizes(expected.vm.ram_size)} expected, the log's Realm "
                     f"had {sizes(actual.vm.ram_size)}"
                     + (f" (INIT_RIPAS {ripas})" if ripas else ""))
    if actual.ripas and expected.ripas and expected.ripas_total != actual.ripas_total:
        base = expected.vm.ram_size if expected.vm is not None else expected.ripas_total
        value = base + actual.ripas_total - expected.ripas_total
        return Cause("memory_size", base, value, "log",
                     f"INIT_RIPAS ranges total {sizes(actual.ripas_total)} in the log, "
                     f"{sizes(expected.ripas_total)} expected (the log has no VM VERSION)")
    return None


def cpus_cause(expected: RealmFacts, actual: RealmFacts) -> Cause | None:
    """vCPU count: the VM VERSION events, else the number of REC_CREATE events."""
    if expected.vm is not None and actual.vm is not None:
        if expected.vm.cpus == actual.vm.cpus:
            return None
        return Cause("cpus", expected.vm.cpus, actual.vm.cpus, "log",
                     f"VM VERSION: {expected.vm.cpus} vCPUs expected, the log's Realm had "
                     f"{actual.vm.cpus}")
    if actual.recs and expected.recs and len(actual.recs) != len(expected.recs):
        events = ", ".join(str(e) for e, _ in actual.recs)
        return Cause("cpus", len(expected.recs), len(actual.recs), "log",
                     f"{len(actual.recs)} REC_CREATE events (events {events}), "
                     f"{len(expected.recs)} expected")
    return None


def params_causes(expected: RealmFacts, actual: RealmFacts,
                  expected_value: Callable[[str], Any]) -> list[Cause]:
    """REALM_CREATE: hash_algo and every host capability, in natural units.
    ``expected_value(parameter)`` is the value MEASURE_ARGS set (diagnose) or the expected
    REALM_CREATE's (compare): a parameter only counts when the measured field differs."""
    want, got = expected.params, actual.params
    if want is None or got is None:
        return []
    where = f"REALM_CREATE (event {actual.params_event})"
    out: list[Cause] = []
    if want.hash_algo.name != got.hash_algo.name:
        out.append(Cause("hash_algo", want.hash_algo.name, got.hash_algo.name, "log",
                         f"{where} selects {got.hash_algo.name}"))
    for name, parameter in REALM_FIELDS:
        a, b = getattr(want, name), getattr(got, name)
        if a == b:
            continue
        if name == "pmu_num_ctrs" and not got.pmu:
            continue  # PMU off in the token's Realm: no counters (the VMM writes 0)
        exp = expected_value(parameter)
        if exp is None:
            exp = a
        if exp == b:
            continue  # measured differently, same setting (e.g. counters with PMU off)
        unit = " bits" if parameter == "sve_vl" else ""
        label = "s2sz" if name == "s2sz" else name
        out.append(Cause(parameter, exp, b, "log",
                         f"{where}: {label} {b}{unit} in the log, {a}{unit} expected"))
    return out


def rem_causes(expected: RealmFacts, actual: RealmFacts, token_rems: Iterable[bytes],
               expected_rems: Iterable[bytes], log_rems: Iterable[bytes | None],
               explained: Iterable[str]) -> list[Cause]:
    """``rem0``..``rem3``: a token REM that differs from the expected one and that the
    image causes (``explained``: parameters already named) do not account for."""
    out: list[Cause] = []
    named = set(explained)
    for i, (tok, want, log) in enumerate(zip(token_rems, expected_rems, log_rems,
                                             strict=False)):
        if tok == want:
            continue
        events = [r for r in actual.rems if r.rem == i]
        kinds = {r.description for r in events}
        if log == tok and any(IMAGE_PARAMETERS.get(k) in named for k in kinds):
            continue
        names = ", ".join(f"event {r.event}" + (f" ({r.description})" if r.description
                                                 else "") for r in events) or "no event"
        if log == tok:
            known = {r.digest for r in expected.rems if r.rem == i}
            odd = [r for r in events if r.digest not in known]
            first = odd[0] if odd else (events[-1] if events else None)
            what = (f"event {first.event} ({first.description or 'extension'}, digest "
                    f"{first.digest.hex()}) is not one the expected Realm makes"
                    if first is not None else "the log extends it differently")
            detail = f"the log explains the token's REM{i} ({names}); {what}"
        else:
            detail = (f"the log's REM{i} events ({names}) do not give the token's REM{i}: "
                      "an extension was not logged or a logged one was altered")
        out.append(Cause(f"rem{i}", want.hex(), tok.hex(), "log", detail))
    return out


def log_causes(expected: RealmFacts, actual: RealmFacts, finder: Finder,
               expected_value: Callable[[str], Any]) -> list[Cause]:
    """Every difference the log shows, in vocabulary order (docs/diagnose.md): memory size,
    vCPUs, images, REALM_CREATE parameters. REMs, DTB and RMM version need the token or a
    rebuild: :mod:`rmtool.diagnose.engine` adds them."""
    out: list[Cause] = []
    for cause in (memory_cause(expected, actual), cpus_cause(expected, actual)):
        if cause is not None:
            out.append(cause)
    out += image_causes(expected, actual, finder)
    out += params_causes(expected, actual, expected_value)
    return out
