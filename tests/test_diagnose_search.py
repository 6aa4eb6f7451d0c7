"""The no-log diagnose search (rmtool/diagnose/search.py) and its knobs (knobs.py).

Each scenario is a mistake someone makes when starting a Realm: the token's Realm is
measured from a command line written here by hand in the VMM's own syntax (not by
``with_parameter``), and the search, given only the expected command line and the
token's values, must name exactly the parameter that changed, with both values, and
give MEASURE_ARGS that ``rmtool measure`` turns into the token's RIM and REMs.
Images are small (rmtool.examples); every search runs in this process (jobs=1) unless
the test is about workers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rmtool.cli.main import cli
from rmtool.cli.measure import parse_measure_args
from rmtool.diagnose.knobs import KnobError, expected_value, with_parameter
from rmtool.diagnose.model import Target
from rmtool.diagnose.search import (
    Evaluator,
    PrefixMeasurer,
    SearchSettings,
    apply_changes,
    rems_of,
    search,
)
from rmtool.errors import RmtoolError
from rmtool.examples import arm64_image, firmware, initrd

MIB = 1 << 20
HOST = {"num-bps": "6", "num-wps": "6", "ipa-bits": "40", "sve-vl": "512", "pmu": "true",
        "pmu-num-ctrs": "6"}
ONE = SearchSettings(jobs=1)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("diag-search")
    images = d / "images"
    images.mkdir()
    out = {"dir": str(images)}
    content = {
        "kernel": arm64_image(),
        "initrd": initrd(),
        "firmware": firmware(),
        "kernel2": arm64_image(label="kernel, rebuilt with another config"),
        "initrd2": initrd("a rebuilt initrd"),
    }
    for name, data in content.items():
        # the expected images beside the --images directory; alternatives inside it
        p = (images if name.endswith("2") else d) / name
        p.write_bytes(data)
        out[name] = str(p)
    fw2 = images / "firmware.fd"
    fw2.write_bytes(content["firmware"])  # the firmware the token's Realm loaded
    out["firmware2"] = str(fw2)
    return out


def argv(vmm: str, f: dict[str, str], *, mem: str = "512M", cpus: int = 2,
         algo: str = "sha256", host: dict[str, str] | None = None,
         kernel: str = "kernel", initrd_: str | None = "initrd", fw: str | None = None,
         rmm: str | None = None) -> list[str]:
    """MEASURE_ARGS written by hand for each VMM (docs/vmm-*.md)."""
    g: list[str] = []
    for key, value in {**HOST, **(host or {})}.items():
        g += [f"--{key}", value]
    if rmm is not None:
        g += ["--rmm-version", rmm]
    k, i, fwp = f[kernel], f[initrd_] if initrd_ else None, f[fw] if fw else None
    g += ["-k", k] + (["-i", i] if i else []) + (["-f", fwp] if fwp else [])
    if vmm == "kvmtool":
        line = ["kvmtool", "--realm", "-c", str(cpus), "-m", mem, "-k", k]
        line += (["-i", i] if i else [])
        line += (["-f", fwp, "--firmware-address", str(0x82000000)] if fwp else [])
        line += ["-p", "console=hvc0", "--measurement-algo", algo]
    elif vmm == "qemu":
        line = ["qemu", "-M", "confidential-guest-support=rme0", "-object",
                f"rme-guest,id=rme0,measurement-algorithm={algo}", "-cpu", "host", "-M",
                "virt", "-enable-kvm", "-smp", str(cpus), "-m", mem, "-nographic"]
        line += (["-bios", fwp] if fwp else []) + ["-kernel", k]
        line += (["-initrd", i] if i else []) + ["-append", "console=hvc0"]
    else:
        line = ["cloud-hv", "--cpus", f"boot={cpus}", "--memory", f"size={mem}",
                "--kernel", k] + (["--initramfs", i] if i else [])
        line += ["--cmdline", "console=hvc0", "--platform",
                 f"arm_rme=on,measurement_algo={algo}"]
    return g + line


def target_of(args: Sequence[str]) -> Target:
    m = parse_measure_args(list(args)).measure().measurements
    return Target(m.rim, tuple(m.rems), m.hash_algo.name)


def measure_cli(args: Sequence[str]) -> tuple[str, list[str]]:
    """What ``rmtool measure ARGS`` prints: RIM and REMs (hex)."""
    res = CliRunner().invoke(cli, ["measure", *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rim = re.search(r"^RIM: ([0-9a-f]+)$", res.output, re.M)
    rems = re.findall(r"^REM\d: ([0-9a-f]+)$", res.output, re.M)
    assert rim is not None
    return rim.group(1), rems


def check_reproduces(reproduced_by: list[str] | None, target: Target) -> None:
    assert reproduced_by is not None
    rim, rems = measure_cli(reproduced_by)
    assert rim == target.rim.hex()
    assert rems == [r.hex() for r in target.rems]


def diagnose(expected: list[str], actual: list[str], settings: SearchSettings = ONE,
             fixed: Sequence[tuple[str, Any]] = ()) -> Any:
    target = target_of(actual)
    result = search(parse_measure_args(expected), target, parse_measure_args, settings, fixed)
    return result, target


# (parameter, expected-argv changes, actual-argv changes, expected value, actual value);
# values of a parameter per VMM where they differ (ipa_bits: kvmtool's IPA width follows
# the RAM size, 33 bits for 512 MiB; QEMU and cloud-hv take the host's 40)
SCENARIOS: list[tuple[str, str, dict[str, Any], Any, Any]] = []
for _vmm in ("kvmtool", "qemu", "cloud-hv"):
    SCENARIOS += [
        (_vmm, "memory_size", {"mem": "1G"}, 512 * MIB, 1024 * MIB),
        (_vmm, "cpus", {"cpus": 3}, 2, 3),
        (_vmm, "hash_algo", {"algo": "sha512"}, "sha256", "sha512"),
        (_vmm, "num_bps", {"host": {"num-bps": "4"}}, 6, 4),
        (_vmm, "num_wps", {"host": {"num-wps": "8"}}, 6, 8),
        (_vmm, "sve_vl", {"host": {"sve-vl": "256"}}, 512, 256),
        (_vmm, "pmu", {"host": {"pmu": "false"}}, True, False),
        (_vmm, "pmu_num_ctrs", {"host": {"pmu-num-ctrs": "3"}}, 6, 3),
        (_vmm, "lpa2", {"host": {"lpa2": "true"}}, False, True),
        (_vmm, "rmm_version", {"rmm": "2.0"}, "1.0-rel0", "2.0"),
        (_vmm, "initrd", {"initrd_": None}, "initrd", None),
    ]
SCENARIOS += [
    ("kvmtool", "ipa_bits", {"host": {"ipa-bits": "32"}}, 33, 32),
    ("qemu", "ipa_bits", {"host": {"ipa-bits": "39"}}, 40, 39),
    ("cloud-hv", "ipa_bits", {"host": {"ipa-bits": "39"}}, 40, 39),
]


@pytest.mark.parametrize(("vmm", "parameter", "change", "want_expected", "want_actual"),
                         SCENARIOS, ids=[f"{s[0]}-{s[1]}" for s in SCENARIOS])
def test_one_changed_parameter_is_named_and_reproduced(
        files: dict[str, str], vmm: str, parameter: str, change: dict[str, Any],
        want_expected: Any, want_actual: Any) -> None:
    result, target = diagnose(argv(vmm, files), argv(vmm, files, **change))
    if parameter == "initrd":
        want_expected = files["initrd"]
    assert [(c.parameter, c.expected, c.actual, c.evidence) for c in result.causes] == \
        [(parameter, want_expected, want_actual, "search")]
    assert result.exhausted is False
    if parameter == "hash_algo":  # the token's values have that size: applied at once
        assert result.candidates_tried == 1
    else:  # the expected configuration itself came first
        assert result.candidates_tried >= 2
    if parameter in ("memory_size", "cpus"):  # the likeliest causes are tried first
        assert result.candidates_tried <= 20
    check_reproduces(result.reproduced_by, target)


@pytest.mark.parametrize("vmm", ["kvmtool", "qemu", "cloud-hv"])
@pytest.mark.parametrize("kind", ["kernel", "initrd"])
def test_a_rebuilt_image_is_found_under_images(files: dict[str, str], vmm: str,
                                              kind: str) -> None:
    """The token's Realm booted another build of the kernel / initrd; --images holds it."""
    change: dict[str, Any] = {"kernel": "kernel2"} if kind == "kernel" else {"initrd_": "initrd2"}
    result, target = diagnose(argv(vmm, files), argv(vmm, files, **change),
                              SearchSettings(jobs=1, images=(files["dir"],)))
    [cause] = result.causes
    assert (cause.parameter, cause.expected, cause.actual) == \
        (kind, files[kind], files[f"{kind}2"])
    digest = hashlib.sha256(Path(files[f"{kind}2"]).read_bytes()).hexdigest()
    assert files[f"{kind}2"] in cause.detail and digest in cause.detail
    check_reproduces(result.reproduced_by, target)


def test_without_images_a_rebuilt_kernel_is_unexplained(files: dict[str, str]) -> None:
    """No --images: the search must not invent a kernel; bounded, nothing named."""
    result, _ = diagnose(argv("qemu", files), argv("qemu", files, kernel="kernel2"),
                         SearchSettings(jobs=1, parameters=("kernel", "cpus")))
    assert result.causes == [] and result.reproduced_by is None
    # the expected configuration, absence of the kernel, 63 vCPU counts, and the pairs
    # of no kernel with the 32 nearest vCPU counts (PAIR_RANKS)
    assert (result.candidates_tried, result.exhausted) == (1 + 1 + 63 + 32, True)


@pytest.mark.parametrize("vmm", ["kvmtool", "qemu"])
def test_firmware_absent_from_the_token_realm(files: dict[str, str], vmm: str) -> None:
    result, target = diagnose(argv(vmm, files, fw="firmware"), argv(vmm, files))
    assert [(c.parameter, c.expected, c.actual) for c in result.causes] == \
        [("firmware", files["firmware"], None)]
    check_reproduces(result.reproduced_by, target)


def test_firmware_present_in_the_token_realm_found_under_images(files: dict[str, str]
                                                                ) -> None:
    """QEMU started with -bios although the owner expected a direct kernel boot."""
    result, target = diagnose(argv("qemu", files), argv("qemu", files, fw="firmware2"),
                              SearchSettings(jobs=1, images=(files["dir"],)))
    assert [(c.parameter, c.expected, c.actual) for c in result.causes] == \
        [("firmware", None, files["firmware2"])]
    check_reproduces(result.reproduced_by, target)


@pytest.mark.parametrize("vmm", ["kvmtool", "qemu", "cloud-hv"])
def test_two_simultaneous_changes(files: dict[str, str], vmm: str) -> None:
    result, target = diagnose(argv(vmm, files), argv(vmm, files, mem="1G", cpus=4))
    assert sorted((c.parameter, c.expected, c.actual) for c in result.causes) == \
        [("cpus", 2, 4), ("memory_size", 512 * MIB, 1024 * MIB)]
    check_reproduces(result.reproduced_by, target)


def test_a_change_and_a_host_capability(files: dict[str, str]) -> None:
    result, target = diagnose(argv("kvmtool", files),
                              argv("kvmtool", files, cpus=3, host={"num-wps": "3"}))
    assert sorted((c.parameter, c.expected, c.actual) for c in result.causes) == \
        [("cpus", 2, 3), ("num_wps", 6, 3)]
    check_reproduces(result.reproduced_by, target)


def test_fixed_claims_are_applied_not_reported(files: dict[str, str]) -> None:
    """diag-core passes the hash algorithm read from the token's claims: it is applied to
    every candidate and only the searched parameter is named."""
    result, target = diagnose(argv("cloud-hv", files),
                              argv("cloud-hv", files, algo="sha512", cpus=3),
                              fixed=[("hash_algo", "sha512")])
    assert [(c.parameter, c.expected, c.actual) for c in result.causes] == [("cpus", 2, 3)]
    check_reproduces(result.reproduced_by, target)


def test_matching_token_needs_no_cause(files: dict[str, str]) -> None:
    result, target = diagnose(argv("kvmtool", files), argv("kvmtool", files))
    assert (result.causes, result.candidates_tried) == ([], 1)
    check_reproduces(result.reproduced_by, target)


def test_unreachable_target_exhausts_the_space(files: dict[str, str]) -> None:
    """A token no nearby configuration gives (a forged RIM): nothing is named, the
    space is exhausted and every candidate counted: the expected Realm, 63 vCPU counts."""
    target = Target(bytes(32), (bytes(32),) * 4, "sha256")
    for jobs in (1, 2):
        r = search(parse_measure_args(argv("qemu", files)), target, parse_measure_args,
                   SearchSettings(jobs=jobs, parameters=("cpus",)))
        assert (r.causes, r.reproduced_by, r.candidates_tried, r.exhausted) == \
            ([], None, 64, True)
    r = search(parse_measure_args(argv("qemu", files)), target, parse_measure_args,
               SearchSettings(jobs=1, parameters=("pmu", "lpa2")))
    assert (r.candidates_tried, r.exhausted) == (4, True)  # base, pmu, lpa2, both
    for bound, exhausted in ((4, True), (3, False)):  # a bound at the end of the space
        r = search(parse_measure_args(argv("qemu", files)), target, parse_measure_args,
                   SearchSettings(jobs=1, parameters=("pmu", "lpa2"), max_candidates=bound))
        assert (r.candidates_tried, r.exhausted) == (bound, exhausted)


def test_hostile_target_is_bounded(files: dict[str, str]) -> None:
    target = Target(bytes(32), (bytes(32),) * 4, "sha256")
    r = search(parse_measure_args(argv("kvmtool", files)), target, parse_measure_args,
               SearchSettings(jobs=1, max_candidates=10))
    assert (r.causes, r.candidates_tried, r.exhausted) == ([], 10, False)
    r = search(parse_measure_args(argv("kvmtool", files)), target, parse_measure_args,
               SearchSettings(jobs=1, deadline_s=0.0))
    assert (r.candidates_tried, r.exhausted) == (0, False)


def test_workers_find_the_same_candidate(files: dict[str, str]) -> None:
    """Forked workers, batches: the first match in candidate order, same count."""
    expected, actual = argv("kvmtool", files), argv("kvmtool", files, cpus=40)
    one, target = diagnose(expected, actual)
    assert one.candidates_tried > 64  # past the first batches
    assert [(c.parameter, c.actual) for c in one.causes] == [("cpus", 40)]
    for workers in ("processes", "threads"):
        two, _ = diagnose(expected, actual, SearchSettings(jobs=2, workers=workers))
        assert (two.causes, two.candidates_tried, two.reproduced_by) == \
            (one.causes, one.candidates_tried, one.reproduced_by)
        check_reproduces(two.reproduced_by, target)


SAMPLE: list[tuple[tuple[str, Any], ...]] = [
    (), (("memory_size", 1 << 30),), (("cpus", 5),), (("num_bps", 3),), (("sve_vl", 0),),
    (("pmu", False),), (("rmm_version", "2.0"),), (("initrd", None),),
    (("hash_algo", "sha512"),), (("memory_size", 3 * MIB),), (("cpus", 5),),
    (("cpus", 5), ("memory_size", 1 << 30)), (("lpa2", True), ("num_wps", 2)),
    (("ipa_bits", 36),), (("pmu_num_ctrs", 0),), (("hash_algo", "sha384"),),
    (("hash_algo", "sha384"), ("rmm_version", "2.0")), (("cpus", 2),),
]


@pytest.mark.parametrize("vmm", ["kvmtool", "qemu", "cloud-hv", "qemu-bios"])
def test_fast_path_equals_full_measurement(files: dict[str, str], vmm: str) -> None:
    """The evaluator (derived inputs, prefix memo, cached granules and digests) gives
    exactly what ``MeasureRequest.measure()`` gives for the same argv, or refuses when it
    refuses (qemu-bios: the kernel and initrd extended into REM0 by the firmware)."""
    base = argv("qemu", files, fw="firmware") if vmm == "qemu-bios" else argv(vmm, files)
    ev = Evaluator(parse_measure_args, base, Target(b"", ()),
                   PrefixMeasurer(None, 1))
    resumed = 0
    images: list[tuple[tuple[str, Any], ...]] = [
        (("kernel", files["kernel2"]),), (("initrd", files["initrd2"]),),
        (("kernel", files["kernel2"]), ("cpus", 3)), (("firmware", None),)]
    for changes in [*SAMPLE, *images]:
        fast = ev.measure(changes)
        try:
            m = apply_changes(parse_measure_args, base, changes).measure().measurements
            full: tuple[bytes, tuple[bytes, ...]] | None = (m.rim, tuple(m.rems))
        except RmtoolError:
            full = None
        assert (None if fast is None else (fast.rim, fast.rems)) == full, changes
        if full is not None:  # the REM pre-check computes the same REMs
            build = apply_changes(parse_measure_args, base, changes).build()
            profile = ev.request(changes).inputs.profile.name
            assert rems_of(build.operations(), profile) == full[1], changes
        if fast is not None and fast.hashed_ops < 6:
            resumed += 1
    assert resumed >= 3  # the memo was used (a vCPU change resumes, a repeat re-runs nothing)


# ------------------------------------------------------------------ knobs

def test_knobs_write_each_vmm_syntax(files: dict[str, str]) -> None:
    kvm = parse_measure_args(["-k", files["kernel"], "kvmtool", "--mem=512M", "-c2",
                              "-k", "k"])
    assert with_parameter(kvm, "memory_size", 3 << 30)[-4:] == ["--mem=3G", "-c2", "-k", "k"]
    assert with_parameter(kvm, "cpus", 4)[-4:] == ["--mem=512M", "-c4", "-k", "k"]
    assert with_parameter(kvm, "bootargs", " console=hvc0 root=/dev/vda rw  quiet")[-2:] == \
        ["--params", "quiet"]
    q = parse_measure_args(["--num-bps", "2", "--num-wps", "2", "--ipa-bits", "40",
                            "qemu", "-m", "1G,maxmem=4G,slots=2", "-smp", "2",
                            "-cpu", "host,num-breakpoints=4,pmu=on"])
    out = with_parameter(q, "memory_size", 1536 * MIB)
    assert out[out.index("-m") + 1] == "1536M,maxmem=4G,slots=2"
    out = with_parameter(q, "num_bps", 6)
    assert out[:2] == ["--num-bps", "6"] and out[out.index("-cpu") + 1] == "host,pmu=on"
    out = with_parameter(q, "hash_algo", "sha512")
    assert out[-2:] == ["-object", "rme-guest,id=rme0,measurement-algorithm=sha512"]
    chv = parse_measure_args(["-k", files["kernel"], "cloud-hv", "--memory",
                              "size=512M,shared=on", "--kernel", "k"])
    out = with_parameter(chv, "memory_size", 1 << 30)
    assert out[out.index("--memory") + 1] == "size=1G,shared=on"
    out = with_parameter(chv, "personalization_value", (b"realm-1" + bytes(57)).hex())
    assert out[-2:] == ["--platform", "personalization_value=cmVhbG0tMQ=="]
    with pytest.raises(KnobError):
        with_parameter(chv, "firmware", files["firmware"])
    with pytest.raises(KnobError):
        with_parameter(chv, "dtb", "00")


def test_reproduced_by_writes_no_file(files: dict[str, str], tmp_path: Path) -> None:
    """Options that only write outputs are left out of the candidates: running
    ``reproduced_by`` must not overwrite the user's DTB or CoRIM."""
    dtb = tmp_path / "out.dtb"
    expected = ["--output-dtb", str(dtb), "--format", "json", *argv("qemu", files)]
    result, target = diagnose(expected, argv("qemu", files, cpus=3))
    assert result.reproduced_by is not None
    assert "--output-dtb" not in result.reproduced_by and "--format" not in \
        result.reproduced_by
    assert not dtb.exists()
    check_reproduces(result.reproduced_by, target)


def test_expected_values_read_back(files: dict[str, str]) -> None:
    req = parse_measure_args(argv("qemu", files, fw="firmware"))
    build = req.build()
    got = {p: expected_value(req, build, p) for p in (
        "memory_size", "cpus", "kernel", "initrd", "firmware", "bootargs", "hash_algo",
        "ipa_bits", "num_bps", "num_wps", "sve_vl", "pmu", "pmu_num_ctrs", "lpa2",
        "rmm_version")}
    assert got == {"memory_size": 512 * MIB, "cpus": 2, "kernel": files["kernel"],
                   "initrd": files["initrd"], "firmware": files["firmware"],
                   "bootargs": "console=hvc0", "hash_algo": "sha256", "ipa_bits": 40,
                   "num_bps": 6, "num_wps": 6, "sve_vl": 512, "pmu": True,
                   "pmu_num_ctrs": 6, "lpa2": False, "rmm_version": "1.0-rel0"}


def test_token_values_in_64_byte_slots(files: dict[str, str]) -> None:
    """A token that carries SHA-256 values zero padded to 64 bytes, without an algorithm
    claim: still SHA-256 (not a reason to try SHA-512), compared at the token's size."""
    t = target_of(argv("qemu", files, mem="1G"))
    padded = Target(t.rim + bytes(32), tuple(r + bytes(32) for r in t.rems))
    r = search(parse_measure_args(argv("qemu", files)), padded, parse_measure_args, ONE)
    assert [(c.parameter, c.actual) for c in r.causes] == [("memory_size", 1 << 30)]
    check_reproduces(r.reproduced_by, t)


def test_workers_with_an_image_store(files: dict[str, str], tmp_path: Path) -> None:
    """Granule hashes from the image store, in forked workers (each opens its own
    connection); a second, warm run gives the same answer."""
    settings = SearchSettings(jobs=2, images=(files["dir"],),
                              store_path=str(tmp_path / "store.sqlite"))
    expected, actual = argv("cloud-hv", files), argv("cloud-hv", files, kernel="kernel2")
    first, target = diagnose(expected, actual, settings)
    second, _ = diagnose(expected, actual, settings)
    for r in (first, second):
        assert [(c.parameter, c.actual) for c in r.causes] == [("kernel", files["kernel2"])]
        check_reproduces(r.reproduced_by, target)
    assert first.candidates_tried == second.candidates_tried


def test_kernel_loaded_by_firmware_is_found_through_rem0(files: dict[str, str]) -> None:
    """QEMU -bios -kernel: the kernel is not in the RIM but extended into REM0 by the
    firmware; a rebuilt kernel changes REM0 only, and the search still names it."""
    expected = argv("qemu", files, fw="firmware")
    actual = argv("qemu", files, fw="firmware", kernel="kernel2")
    t_exp, t_act = target_of(expected), target_of(actual)
    assert t_exp.rim == t_act.rim and t_exp.rems != t_act.rems
    result, target = diagnose(expected, actual, SearchSettings(jobs=1, images=(files["dir"],)))
    assert [(c.parameter, c.expected, c.actual) for c in result.causes] == \
        [("kernel", files["kernel"], files["kernel2"])]
    check_reproduces(result.reproduced_by, target)


@pytest.mark.parametrize("algo", ["sha256", "sha512"])
def test_remembered_ripas_plan_gives_the_packers_rim(algo: str) -> None:
    """Realm.init_ripas on fresh tables splices the RIM into remembered descriptor bytes
    (rmm/realm.py ``ripas_plan``): the RIM equals the chain over the packer's descriptors,
    a second Realm (plan remembered) gives it again, and the tables created are the same."""
    import hashlib as h

    from rmtool.measure.rmm._layouts import DESC_SIZE, DESC_TYPE_RIPAS, ripas_descriptor_packer
    from rmtool.measure.rmm.algorithms import ALGORITHMS
    from rmtool.measure.rmm.ops import InitRipas, RealmCreate, RealmParams
    from rmtool.measure.rmm.realm import Realm, iter_ripas_entries

    params = RealmParams(hash_algo=ALGORITHMS[algo], s2sz=40)
    for base, top in ((0x80000000, 0xC0000000), (0x40000000, 0x40000000 + 1536 * MIB + 8192)):
        rims = []
        for _ in range(2):
            realm = Realm("1.0-rel0")
            realm.apply(RealmCreate(params))
            rim = realm.snapshot().rim_slot[:ALGORITHMS[algo].size]
            realm.apply(InitRipas(base, top))
            rims.append(realm.snapshot())
        created: list[int] = []
        pack = ripas_descriptor_packer(len(rim)).pack
        for b, t in iter_ripas_entries(base, top, 40, set(), created, 1 << 24):
            rim = h.new(algo, pack(DESC_TYPE_RIPAS, DESC_SIZE, rim, b, t)).digest()
        assert rims[0] == rims[1]
        assert rims[0].rim_slot[:len(rim)] == rim
        assert rims[0].rtt_tables == frozenset(created)
