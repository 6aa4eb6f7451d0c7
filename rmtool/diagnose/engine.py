"""``rmtool diagnose``: from a verified token and the expected Realm to causes (issue 15).

The steps (docs/diagnose.md): measure the expected Realm (MEASURE_ARGS, as ``rmtool
measure``), compare every realm claim (RIM, REM0..REM3 at the token's size, hash
algorithm, personalization value); on a difference name the causes — claim evidence
(:mod:`rmtool.diagnose.claims`), then log evidence (:mod:`rmtool.diagnose._log`, then the
DTB diffed node by node, REMs and the RMM version) or, without a log, the search of
:mod:`rmtool.diagnose.search`. Every cause that has a knob is written into MEASURE_ARGS
(:func:`rmtool.diagnose.knobs.with_parameter`) and the result is measured again:
``reproduced_by`` is only set when that argv gives exactly the token's RIM and REMs.

The verdict is earned (docs/security.md): ``match`` only when the token verified (the
checks of ``token verify``, a waived check named) and every claim equals the expected
Realm's; a token that fails verification never has verdict ``match`` and its causes are
listed as resting on unverified claims (``errors``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmtool._files import open_regular, read_bounded
from rmtool.diagnose import knobs
from rmtool.diagnose._log import (
    IMAGE_PARAMETERS,
    REALM_FIELDS,
    Finder,
    LoadedImage,
    RealmFacts,
    facts_of_build,
    facts_of_log,
    log_causes,
    rem_causes,
)
from rmtool.diagnose.claims import claim_causes
from rmtool.diagnose.model import Cause, Diagnosis, Target
from rmtool.diagnose.request import MeasureRequest, ParseMeasureArgs
from rmtool.errors import DtbError, RmtoolError, UsageError
from rmtool.measure import MeasureResult
from rmtool.measure.dtb.fdt import Node, format_value, parse_dtb
from rmtool.measure.rmm.algorithms import ALGORITHMS
from rmtool.measure.rmm.profiles import PROFILES
from rmtool.replay import ImageStore, ReferenceImages, replay_log
from rmtool.replay import _dtbgen as dtbgen
from rmtool.replay._cca import VmVersion
from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.endorsements import Endorsements
from rmtool.verify.appraise.platform import (
    PlatformComparison,
    platform_submod,
    references_for,
)
from rmtool.verify.compare.compare import equal_at_token_size
from rmtool.verify.token._claims import PlatformClaims
from rmtool.verify.token.checks import Verification

MAX_LOG_SIZE = 64 << 20  # as ``rmtool compare --log``
MAX_DTB_SIZE = 16 << 20
#: causes that are not knobs: written into MEASURE_ARGS otherwise (dtb) or not at all
NOT_KNOBS = frozenset({"dtb", "rem0", "rem1", "rem2", "rem3"})


@dataclass(frozen=True)
class DiagnoseSettings:
    """How to look for causes: the log (and its images), or the search's limits."""

    log: str | None = None
    images: tuple[str, ...] = ()
    store: str | None = None
    index_map: str = "auto"
    jobs: int | None = None
    max_candidates: int = 100_000
    deadline_s: float | None = None
    #: ``--corim``: CoRIMs whose platform reference values the token's platform claims are
    #: compared with (:func:`platform_check`)
    corims: tuple[str, ...] = ()


# ---------------------------------------------------------------- measurements


def reproduces(m: MeasureResult, target: Target) -> bool:
    """The measured RIM and REMs equal the token's (compared at the token's size)."""
    got = m.measurements
    if not target.rim or not equal_at_token_size(got.rim, target.rim)[0]:
        return False
    if len(target.rems) != len(got.rems):
        return False
    return all(equal_at_token_size(a, b)[0] for a, b in zip(got.rems, target.rems,
                                                               strict=True))


def _differs(m: MeasureResult, target: Target) -> list[str]:
    got = m.measurements
    out = [] if target.rim and equal_at_token_size(got.rim, target.rim)[0] else ["RIM"]
    for i, rem in enumerate(target.rems):
        if i >= len(got.rems) or not equal_at_token_size(got.rems[i], rem)[0]:
            out.append(f"REM{i}")
    return out


def writable(cause: Cause) -> str | None:
    """Why ``cause`` cannot be written into MEASURE_ARGS (None: it can be tried): a DTB
    node or REM is no VMM option, an image known only by its digest is no file."""
    if cause.parameter in NOT_KNOBS:
        return f"{cause.parameter} is not a VMM option"
    if cause.parameter in IMAGE_PARAMETERS.values() and cause.actual is not None \
            and not os.path.isfile(str(cause.actual)):
        return (f"no file has the token's {cause.parameter} (digest {cause.actual}): give "
                "it under --images")
    return None


def apply_causes(request: MeasureRequest, causes: Sequence[Cause],
                 parse: ParseMeasureArgs) -> tuple[MeasureRequest, list[str]]:
    """MEASURE_ARGS with every cause's actual value written in (the VMM's syntax), and
    the causes that could not be written (a sentence each)."""
    problems: list[str] = []
    for cause in causes:
        why = writable(cause)
        if why is not None:
            if cause.parameter not in NOT_KNOBS:
                problems.append(why)
            continue
        try:
            request = parse(knobs.with_parameter(request, cause.parameter, cause.actual))
        except RmtoolError as exc:
            if cause.parameter != "personalization_value":  # not measured: no RIM change
                problems.append(f"{cause.parameter} {_short(cause.actual)} cannot be written "
                                f"into MEASURE_ARGS: {exc}")
    return request, problems


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------- DTB


def _nodes(root: Node) -> dict[str, Node]:
    return dict(root.walk())


def _props(node: Node | None) -> dict[str, str]:
    if node is None:
        return {}
    return {p.name: format_value(p.value) for p in node.properties}


def _bootargs(root: Node) -> str | None:
    chosen = root.find_child("chosen")
    prop = chosen.find_property("bootargs") if chosen is not None else None
    if prop is None:
        return None
    return prop.value.rstrip(b"\0").decode("utf-8", "replace")


def dtb_causes(expected: bytes, actual: bytes, expected_bootargs: Any,
               where: str, explained: frozenset[tuple[str, str]] = frozenset()
               ) -> list[Cause]:
    """The DTB ``actual`` against ``expected`` node by node: ``bootargs`` for
    ``/chosen/bootargs``, one ``dtb`` cause per other node that differs (its path in
    ``detail``; values: the node's differing properties, None for an absent node).
    ``explained``: (node, property) pairs another cause accounts for."""
    a, b = parse_dtb(expected).root, parse_dtb(actual).root
    out: list[Cause] = []
    want_args, got_args = _bootargs(a), _bootargs(b)
    if want_args != got_args:
        exp = expected_bootargs if expected_bootargs is not None else want_args
        out.append(Cause("bootargs", exp, got_args, "log",
                         f"{where}: /chosen bootargs {got_args!r}, expected {want_args!r}"))
    na, nb = _nodes(a), _nodes(b)
    for path in [*na, *(p for p in nb if p not in na)]:
        pa, pb = _props(na.get(path)), _props(nb.get(path))
        for node, prop in (("/chosen", "bootargs"), *explained):
            if node == path:
                pa.pop(prop, None)
                pb.pop(prop, None)
        if pa == pb and (path in na) == (path in nb):
            continue
        keys = [k for k in dict.fromkeys([*pa, *pb]) if pa.get(k) != pb.get(k)]
        exp_v = None if path not in na else {k: pa.get(k) for k in keys}
        act_v = None if path not in nb else {k: pb.get(k) for k in keys}
        if path not in na:
            what = "node only in the token's Realm"
        elif path not in nb:
            what = "node missing from the token's Realm"
        else:
            what = "properties differ: " + ", ".join(keys)
        out.append(Cause("dtb", exp_v, act_v, "log", f"{where}: {path}: {what}", path))
    return out


def _find_dtb(log_dtb: LoadedImage, facts: RealmFacts, algo: str,
              finder: Finder) -> tuple[bytes | None, str | None, str]:
    """The log's DTB bytes: a file under --images with its digest (returned as path), or
    a DTB regenerated from the log's facts whose digest matches (rmtool.replay._dtbgen)."""
    assert log_dtb.digest is not None
    path = finder(log_dtb.digest)
    if path is not None:
        return (read_bounded(path, MAX_DTB_SIZE, "DTB"), path,
                f"the log's DTB (event {log_dtb.event}) is {path}")
    if facts.vm is None:
        return None, None, "the log has no VM VERSION event to regenerate its DTB from"
    initrd = facts.image("INITRD")
    inputs = dtbgen.DtbInputs(
        vm=VmVersion(facts.vm.name, facts.vm.version, facts.vm.ram_size, facts.vm.cpus,
                     "diagnose"),
        pmu=bool(facts.params and facts.params.pmu),
        initrd=(initrd.base, initrd.length) if initrd is not None else None,
        log=facts.log_region, dtb_base=log_dtb.base, dtb_length=log_dtb.length)
    found, how = dtbgen.regenerate(inputs, ALGORITHMS[algo], log_dtb.digest, [])
    if found is None:
        return None, None, how
    return found.data, None, f"the log's DTB (event {log_dtb.event}) {how}"


# ---------------------------------------------------------------- the two modes


@dataclass
class _Run:
    """One diagnosis in progress."""

    request: MeasureRequest
    parse: ParseMeasureArgs
    target: Target
    settings: DiagnoseSettings
    expected: MeasureResult

    def expected_value(self, parameter: str) -> Any:
        try:
            return knobs.expected_value(self.request, self.expected.build, parameter)
        except RmtoolError:
            return None


def _paths(run: _Run) -> dict[str, str | None]:
    return {kind: run.expected_value(param) for kind, param in IMAGE_PARAMETERS.items()}


_CHECKSUM_LINE = re.compile(rb"^[0-9a-fA-F]{64}(?:[0-9a-fA-F]{32}){0,2} [ *]\S")


def split_images(specs: Sequence[str]) -> tuple[list[str], list[str]]:
    """``--images``: directories and sha256sum/sha512sum files (the replay's image set),
    and single image files (a kernel, initrd, firmware or DTB named directly)."""
    sets: list[str] = []
    files: list[str] = []
    for spec in specs:
        if os.path.isfile(spec):
            fd = open_regular(spec, "--images file", UsageError)
            try:
                head = os.read(fd, 4096)
            finally:
                os.close(fd)
            lines = [ln for ln in head.splitlines()[:4] if ln.strip()
                     and not ln.startswith(b"#")]
            if not lines or not all(_CHECKSUM_LINE.match(ln) for ln in lines):
                files.append(spec)
                continue
        sets.append(spec)
    return sets, files


def _replay_profile(run: _Run) -> str:
    """The RMM version the log is replayed under: the expected one, unless it refuses the
    token's algorithm (SHA-384 needs 2.0): then the first version that accepts it."""
    current = run.request.inputs.profile
    algo = ALGORITHMS.get(run.target.hash_algo or "")
    if algo is None or algo in current.hash_algos:
        return current.name
    return next((p.name for p in PROFILES.values() if algo in p.hash_algos), current.name)


def _log_mode(run: _Run, claims: list[Cause], out: Diagnosis, data: bytes) -> None:
    settings = run.settings
    build = run.expected.build
    algo = build.params.hash_algo.name
    store = ImageStore(settings.store)
    sets, files = split_images(settings.images)
    try:
        replay = replay_log(data, sets, index_map=settings.index_map,
                            store=store, rmm_version=_replay_profile(run),
                            hash_algo=run.target.hash_algo)
        log_algo = replay.hash_algo.name if replay.hash_algo is not None else algo
        refs = ReferenceImages(sets, store)
        expected = facts_of_build(build, _paths(run), log_algo)
        known = {img.digest: img.path for img in expected.images
                 if img.digest is not None and img.path is not None}

        for path in files:  # single files: hashed (and cached) by the image store
            digest = store.digest(path, log_algo)
            if digest is not None:
                known.setdefault(digest, os.path.realpath(path))

        def finder(digest: bytes) -> str | None:
            if digest in known:
                return known[digest]
            match = refs.find(log_algo, digest)
            return match.path if match is not None else None

        actual = facts_of_log(data, replay)
        out.warnings += actual.problems
        causes = log_causes(expected, actual, finder, run.expected_value)
        if any(c.parameter == "hash_algo" for c in claims):
            causes = [c for c in causes if c.parameter != "hash_algo"]
        if replay.rim is not None and run.target.rim \
                and not equal_at_token_size(replay.rim, run.target.rim)[0]:
            out.warnings.append("the log's replay gives RIM " + replay.rim.hex() + ", not the "
                                "token's: the log may not be this Realm's")
        all_causes = _prune([*claims, *causes], actual, run.request, run.parse)
        corrected, problems = apply_causes(run.request, all_causes, run.parse)
        dtb_extra, dtb_file = _dtb_step(run, corrected, actual, log_algo, finder, out)
        all_causes += dtb_extra
        if dtb_extra:
            corrected, more = apply_causes(corrected, dtb_extra, run.parse)
            problems += more
            if dtb_file is not None and any(c.parameter == "dtb" for c in dtb_extra):
                corrected = _with_dtb(corrected, dtb_file, run.parse, problems)
            elif any(c.parameter == "dtb" for c in dtb_extra):
                problems.append("the token's DTB content is not known as a file: "
                                "MEASURE_ARGS cannot load it")
    finally:
        store.close()
    measured = _measure(corrected, out, quiet=True)
    if measured is None or not reproduces(measured, run.target):
        profile = _rmm_version(run, corrected, measured)
        if profile is not None:
            cause, corrected, measured = profile
            all_causes.append(cause)
        elif measured is None:
            measured = _measure(corrected, out)
    if measured is not None:
        rems = rem_causes(expected, actual, run.target.rems,
                          run.expected.measurements.rems, replay.rems,
                          [c.parameter for c in all_causes])
        still = _differs(measured, run.target)
        all_causes += [c for c in rems if c.parameter.upper() in still]
    out.causes = all_causes
    out.errors += problems
    if measured is not None and reproduces(measured, run.target) and not problems:
        out.reproduced_by = list(corrected.argv)
    elif measured is not None:
        out.warnings.append("MEASURE_ARGS with every cause applied give "
                            + ", ".join(_differs(measured, run.target))
                            + " other than the token's: reproduced_by is null")
    out.verdict = "mismatch" if out.causes else "unexplained"


def _prune(causes: list[Cause], actual: RealmFacts, request: MeasureRequest,
           parse: ParseMeasureArgs) -> list[Cause]:
    """Drop a REALM_CREATE cause that the other causes already account for (PMU turned
    on brings its counters): the parameter did not change in MEASURE_ARGS."""
    if actual.params is None:
        return causes
    fields = {param: name for name, param in REALM_FIELDS}
    out = list(causes)
    for cause in causes:
        name = fields.get(cause.parameter)
        if name is None:
            continue
        others = [c for c in out if c is not cause]
        try:
            build = apply_causes(request, others, parse)[0].build()
        except RmtoolError:
            continue
        if getattr(build.params, name) == getattr(actual.params, name):
            out = others
    return out


def _measure(request: MeasureRequest, out: Diagnosis, quiet: bool = False
             ) -> MeasureResult | None:
    try:
        return request.measure()
    except RmtoolError as exc:
        if not quiet:
            out.errors.append(f"the corrected MEASURE_ARGS cannot be measured: {exc}")
        return None


def _dtb_step(run: _Run, corrected: MeasureRequest, actual: RealmFacts, algo: str,
              finder: Finder, out: Diagnosis) -> tuple[list[Cause], str | None]:
    """When the corrected Realm's DTB still differs from the log's: find the log's DTB
    and diff it node by node (bootargs and dtb causes)."""
    log_dtb = actual.image("DTB")
    if log_dtb is None or log_dtb.digest is None:
        return [], None
    try:
        build = corrected.build()
    except RmtoolError:
        return [], None  # measuring it says why (or another RMM version builds it)
    if build.dtb is None:
        return [], None
    if hashlib.new(algo, build.dtb).digest() == log_dtb.digest:
        return [], None
    data, path, how = _find_dtb(log_dtb, actual, algo, finder)
    where = f"DTB (event {log_dtb.event})"
    if data is None:
        return [Cause("dtb", hashlib.new(algo, build.dtb).hexdigest(), log_dtb.digest.hex(),
                      "log", f"{where}: the log's DTB differs from the expected one with "
                             f"the other causes applied; {how}; give the Realm's DTB file "
                             "under --images to name the node")], None
    explained: set[tuple[str, str]] = set()
    initrd = actual.image("INITRD")
    built = next(((b.ipa, b.image.size) for b in build.blobs if b.kind == "INITRD"), None)
    logged = (initrd.base, initrd.length) if initrd is not None else None
    if logged != built:
        # an initrd the corrected command line could not load (no file): its range
        explained |= {("/chosen", "linux,initrd-start"), ("/chosen", "linux,initrd-end")}
    try:
        causes = dtb_causes(build.dtb, data, run.expected_value("bootargs"),
                            f"{where}, {how}", frozenset(explained))
    except DtbError as exc:
        out.errors.append(f"the log's DTB cannot be read: {exc}")
        return [], None
    return causes, path


def _with_dtb(request: MeasureRequest, path: str, parse: ParseMeasureArgs,
              problems: list[str]) -> MeasureRequest:
    """MEASURE_ARGS loading the token's DTB file (global ``--dtb``) instead of generating."""
    try:
        return parse(["--dtb", path, *request.argv])
    except RmtoolError as exc:
        problems.append(f"--dtb {path} cannot be added to MEASURE_ARGS: {exc}")
        return request


def _rmm_version(run: _Run, corrected: MeasureRequest, measured: MeasureResult | None
                 ) -> tuple[Cause, MeasureRequest, MeasureResult] | None:
    """An RMM version under whose measurement rules the corrected Realm gives the token's
    RIM (the log's operations are the same bytes; the RMM measures them differently)."""
    current = corrected.inputs.profile.name
    for name in PROFILES:
        if name == current:
            continue
        try:
            request = run.parse(knobs.with_parameter(corrected, "rmm_version", name))
            m = request.measure()
        except RmtoolError:
            continue
        if measured is not None and m.measurements.rim == measured.measurements.rim:
            continue
        if equal_at_token_size(m.measurements.rim, run.target.rim)[0]:
            return (Cause("rmm_version", run.expected_value("rmm_version") or current, name,
                          "log", f"the log's operations give the token's RIM when measured "
                                 f"by RMM {name} ({PROFILES[name].description}), not by "
                                 f"RMM {current}"), request, m)
    return None


def _profile_for_algo(run: _Run) -> Cause | None:
    """The token's algorithm is one the expected RMM version refuses (SHA-384 before 2.0):
    the RMM version that accepts it, as a claim cause the search keeps fixed."""
    current = run.request.inputs.profile
    algo = ALGORITHMS.get(run.target.hash_algo or "")
    if algo is None or algo in current.hash_algos:
        return None
    name = _replay_profile(run)
    if name == current.name:
        return None
    return Cause("rmm_version", current.name, name, "claim",
                 f"the token's algorithm {algo.name} is not accepted by RMM {current.name}; "
                 f"RMM {name} accepts it")


def _search_mode(run: _Run, claims: list[Cause], out: Diagnosis) -> None:
    from rmtool.diagnose.search import SearchSettings, search

    s = run.settings
    needed = _profile_for_algo(run)
    if needed is not None:
        claims = [*claims, needed]
    fixed: list[tuple[str, Any]] = []
    for c in claims:
        try:  # the RPV is not measured: a VMM that cannot express it still searches
            knobs.with_parameter(run.request, c.parameter, c.actual)
        except RmtoolError:
            if c.parameter == "personalization_value":
                continue
            raise
        fixed.append((c.parameter, c.actual))
    result = search(run.request, run.target, run.parse,
                    SearchSettings(images=s.images, jobs=s.jobs,
                                   max_candidates=s.max_candidates, deadline_s=s.deadline_s,
                                   store_path=s.store),
                    fixed)
    out.causes = [*claims, *result.causes]
    out.reproduced_by = result.reproduced_by
    out.candidates_tried = result.candidates_tried
    out.exhausted = result.exhausted
    out.warnings += result.notes
    if result.reproduced_by is not None:
        out.verdict = "mismatch"
    else:
        out.verdict = "unexplained"
        out.warnings.append(f"no configuration among {result.candidates_tried} candidates "
                            "gives the token's RIM and REMs"
                            + (" (search space exhausted)" if result.exhausted else ""))


def diagnose(target: Target, verification: Verification, request: MeasureRequest,
             parse: ParseMeasureArgs, settings: DiagnoseSettings) -> Diagnosis:
    """Why the token's Realm is not the one MEASURE_ARGS describe (docs/diagnose.md)."""
    data = read_bounded(settings.log, MAX_LOG_SIZE, "event log") \
        if settings.log is not None else None
    expected = request.measure(settings.jobs)
    run = _Run(request, parse, target, settings, expected)
    out = Diagnosis("match", verification.to_json())
    claims = claim_causes(target, expected.build.params)
    if reproduces(expected, target):
        out.causes = claims
        if claims:
            out.verdict = "mismatch"
            corrected, _ = apply_causes(request, claims, parse)
            m = _measure(corrected, out)
            ok = m is not None and reproduces(m, target)
            out.reproduced_by = list(corrected.argv if ok else request.argv)
        else:
            out.reproduced_by = list(request.argv)
    elif data is not None:
        _log_mode(run, claims, out, data)
    else:
        _search_mode(run, claims, out)
    if not verification.ok:
        out.errors.insert(0, "token verification failed (" + verification.failure_text()
                          + "): the claims above are not authenticated, the verdict is "
                            "not a match")
        if out.verdict == "match":
            out.verdict = "mismatch"
    return out


# ---------------------------------------------------------------- platform (issue 16)


@dataclass
class PlatformCheck:
    """The token's platform claims against the platform reference values of ``--corim``
    (``rmtool appraise``'s comparison, :mod:`rmtool.verify.appraise.platform`): the
    components, the config and the lifecycle; ``problems`` are ``appraise``'s reason
    sentences for each one that fails. Platform problems are not realm causes (issue 15's
    vocabulary): diagnose and compare list them apart, and neither says ``match`` when
    there is one."""

    implementation_id: bytes | None
    references: int
    problems: list[str]
    lifecycle: str
    lifecycle_ok: bool
    comparison: PlatformComparison | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        cmp = self.comparison
        return {
            "result": "match" if self.ok else "mismatch",
            "implementation_id": None if self.implementation_id is None
            else self.implementation_id.hex(),
            "references": self.references,
            "config": None if cmp is None else {"matched": cmp.config_matched,
                                                "reason": cmp.config_reason},
            "lifecycle": {"ok": self.lifecycle_ok, "reason": self.lifecycle},
            "components": [] if cmp is None else [c.to_json() for c in cmp.components],
            "problems": [{"message": m} for m in self.problems],
        }


def platform_check(claims: PlatformClaims | None, endorsements: Endorsements, *,
                   strict: bool = False) -> PlatformCheck | None:
    """The platform part of ``diagnose`` and ``compare``: None when the CoRIMs carry no
    platform reference values (nothing to compare); else every software component that
    matches no reference value (with ``strict``, also a differing signer id), a config
    that differs and a lifecycle that is not trustworthy, each with the sentence
    ``appraise`` gives (``platform_submod``'s reasons)."""
    if not endorsements.platform:
        return None
    if claims is None:
        return PlatformCheck(None, 0, ["the token has no platform token to compare with the "
                                       "platform reference values"], "no platform token", False)
    sub, cmp = platform_submod(claims, endorsements.platform, strict=strict)
    problems: list[str] = []
    lifecycle = sub.reasons[A.INSTANCE_IDENTITY]
    lifecycle_ok = A.tier_of(sub.vector[A.INSTANCE_IDENTITY]) == A.AFFIRMING
    if not lifecycle_ok:
        problems.append(lifecycle)
    if not cmp.config_matched:
        problems.append(sub.reasons[A.CONFIGURATION])
    if not cmp.components:
        problems.append(cmp.executables_reason())
    problems += [c.reason for c in cmp.components
                 if not c.matched or (strict and c.signer_id_differs)]
    return PlatformCheck(claims.implementation_id,
                         len(references_for(claims, endorsements.platform)), problems,
                         lifecycle, lifecycle_ok, cmp)


def with_platform(out: Diagnosis, check: PlatformCheck | None) -> Diagnosis:
    """``out`` with the platform part (JSON ``platform``); a platform that fails makes a
    ``match`` a ``mismatch`` (the realm causes stay as they are: the platform is no realm
    parameter)."""
    out.platform = None if check is None else check.to_json()
    if check is not None and not check.ok and out.verdict == "match":
        out.verdict = "mismatch"
    return out


__all__ = ["DiagnoseSettings", "PlatformCheck", "apply_causes", "diagnose", "dtb_causes",
           "platform_check", "reproduces", "split_images", "with_platform", "writable"]
