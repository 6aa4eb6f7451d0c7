"""Regenerating a logged DTB that is not among the reference images.

Spec: measurement-log facts §4 (pass 1: the reference regenerates the DTB from the
"VM VERSION" facts, the INITRD and LOG events and the REALM_CREATE PMU flag) and §5.7
(its limits). The log does not carry everything a generator needs (bootargs, ITS,
virtio-mmio devices), so rmtool tries a small set of candidates — the reference's choice
first — with the VMM front-end's own generator (or a ``--dtb-templates`` template), and
accepts a candidate only if its digest equals the logged one. Nothing is trusted blindly.

Front-ends: kvmtool (``rmtool.measure.vmm.kvmtool.generate_dtb`` / template surgery);
QEMU and cloud-hypervisor when their modules expose a generator (looked up by name).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rmtool.errors import RmtoolError, UsageError
from rmtool.files import read_bounded
from rmtool.replay.cca import VmVersion

DTB_MAGIC = b"\xd0\x0d\xfe\xed"
MAX_TEMPLATE = 16 << 20
MAX_VIRTIO_MMIO = 32
MAX_CPUS = 4096  # KVM arm64 allows 512 vCPUs; bounds regeneration time of hostile logs
# smallest cpu@<i> node any generator writes: BEGIN_NODE + name (8) + reg (16) +
# enable-method (20) + compatible (24) + device_type (16) + END_NODE
MIN_CPU_NODE = 92
REFERENCE_BOOTARGS = "console=hvc0"  # what the reference tool passes to its generators


@dataclass(frozen=True)
class DtbInputs:
    """What the log says about the DTB's inputs."""

    vm: VmVersion
    pmu: bool
    initrd: tuple[int, int] | None  # (base, length) of the INITRD event
    log: tuple[int, int] | None  # (base, length) of the LOG event
    dtb_base: int
    dtb_length: int


@dataclass(frozen=True)
class Regenerated:
    data: bytes
    how: str  # e.g. "kvmtool generator (bootargs ..., its on)"


def load_templates(items: tuple[str, ...] | list[str]) -> list[tuple[str | None, bytes, str]]:
    """``--dtb-templates``: a DTB file (any VMM version) or a list file whose lines are
    ``NAME<TAB>VERSION<TAB>FILE`` (relative paths from the list file). Returns
    (``"NAME VERSION"`` or None, bytes, file)."""
    out: list[tuple[str | None, bytes, str]] = []
    for item in items:
        data = _read(item)
        if data[:4] == DTB_MAGIC:
            out.append((None, data, item))
            continue
        base = Path(item).resolve().parent
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise UsageError(f"--dtb-templates {item} line {number}: expected "
                                 "NAME<TAB>VERSION<TAB>FILE")
            path = str(base / parts[2])
            out.append((f"{parts[0]} {parts[1]}", _read(path), path))
    return out


def _read(path: str) -> bytes:
    return read_bounded(path, MAX_TEMPLATE, "--dtb-templates", UsageError)


def _kvmtool(d: DtbInputs, templates: list[tuple[bytes, str]]) -> Iterator[Regenerated]:
    from rmtool.measure.vmm import kvmtool

    initrd = (d.initrd[0], d.initrd[0] + d.initrd[1]) if d.initrd else None
    bootargs = [(kvmtool.bootargs(REFERENCE_BOOTARGS), "reference bootargs"),
                (kvmtool.bootargs(None), "no -p")]
    for virtio in range(MAX_VIRTIO_MMIO + 1):
        for its in (True, False):
            for text, label in bootargs:
                facts = kvmtool.DtbFacts(cpus=d.vm.num_cpus, ram_size=d.vm.ram_size,
                                         bootargs=text, initrd=initrd, its=its, pmu=d.pmu,
                                         log=d.log, virtio_mmio=virtio)
                how = (f"{label}, its {'on' if its else 'off'}, "
                       f"{virtio} virtio-mmio devices")
                for data, path in templates:
                    from rmtool.measure.vmm.kvmtool_template import apply_template

                    yield Regenerated(kvmtool.pad_dtb(apply_template(data, facts)),
                                      f"kvmtool template {path} ({how})")
                yield Regenerated(kvmtool.generate_dtb(facts), f"kvmtool generator ({how})")


def _optional(module: str, name: str) -> Callable[..., object] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    found = getattr(mod, name, None)
    return found if callable(found) else None


def _qemu(d: DtbInputs, templates: list[tuple[bytes, str]]) -> Iterator[Regenerated]:
    """``rmtool.measure.vmm.qemu.regenerate_dtb(facts)`` (high regions recomputed from
    the RAM size) and ``qemu_dtb.apply_template`` for templates."""
    gen = _optional("rmtool.measure.vmm.qemu", "regenerate_dtb")
    to_facts = _optional("rmtool.measure.vmm.qemu", "dtb_facts_from")
    surgery = _optional("rmtool.measure.vmm.qemu_dtb", "apply_template")
    if gen is None:
        return
    initrd = (d.initrd[0], d.initrd[0] + d.initrd[1]) if d.initrd else None
    for its in (True, False):
        for bootargs in (None, REFERENCE_BOOTARGS):
            facts = {"ram_size": d.vm.ram_size, "cpus": d.vm.num_cpus, "its": its,
                     "pmu": d.pmu, "bootargs": bootargs, "initrd": initrd, "log": d.log}
            how = f"bootargs {bootargs!r}, its {'on' if its else 'off'}"
            if to_facts is not None and surgery is not None:
                for tpl, path in templates:
                    data = surgery(tpl, to_facts(facts))
                    if isinstance(data, bytes):
                        yield Regenerated(data, f"QEMU template {path} ({how})")
            data = gen(facts)
            if isinstance(data, bytes):
                yield Regenerated(data, f"QEMU generator ({how})")


def _cloudhv(d: DtbInputs, templates: list[tuple[bytes, str]]) -> Iterator[Regenerated]:
    """``rmtool.measure.vmm.cloudhv.dtb_from_facts`` (no template mode)."""
    del templates
    gen = _optional("rmtool.measure.vmm.cloudhv", "dtb_from_facts")
    ranges = _optional("rmtool.measure.vmm.cloudhv", "ram_ranges")
    gic = _optional("rmtool.measure.vmm.cloudhv", "gic_layout")
    if gen is None or ranges is None or gic is None:
        return
    initrd = {"start": d.initrd[0], "size": d.initrd[1]} if d.initrd else None
    for layout in ("reference", "upstream"):
        for serial in (True, False):
            for pmu_node in sorted({d.pmu, True}, reverse=True):
                for bootargs in (None, REFERENCE_BOOTARGS):
                    facts = {"num_cpus": d.vm.num_cpus, "ram": ranges(d.vm.ram_size, layout),
                             "bootargs": bootargs, "initrd": initrd, "serial": serial,
                             "pmu_node": pmu_node, "gic": gic(d.vm.num_cpus)}
                    data = gen(facts)
                    if isinstance(data, bytes):
                        yield Regenerated(data, f"cloud-hypervisor generator ({layout} RAM "
                                                f"layout, serial {'on' if serial else 'off'}, "
                                                f"bootargs {bootargs!r})")


GENERATORS: dict[str, Callable[[DtbInputs, list[tuple[bytes, str]]], Iterator[Regenerated]]] = {
    "kvmtool": _kvmtool, "QEMU": _qemu, "QEMU virt": _qemu, "cloudhv": _cloudhv,
    "cloud-hypervisor": _cloudhv,
}


def regenerate(d: DtbInputs, algo_name: str, digest: bytes,
               templates: list[tuple[str | None, bytes, str]]) -> tuple[Regenerated | None, str]:
    """The first candidate whose digest is ``digest``, and a sentence on what was tried."""
    gen = GENERATORS.get(d.vm.name)
    if gen is None:
        return None, f"no DTB generator for VMM {d.vm.name!r}"
    if d.vm.num_cpus > MAX_CPUS or d.vm.num_cpus * MIN_CPU_NODE > d.dtb_length:
        return None, (f"no {d.vm.name} DTB of {d.dtb_length} bytes can describe "
                      f"{d.vm.num_cpus} vCPUs (limit {MAX_CPUS})")
    key = f"{d.vm.name} {d.vm.version}"
    chosen = [(data, path) for name, data, path in templates if name in (None, key)]
    tried = 0
    try:
        for cand in gen(d, chosen):
            tried += 1
            if len(cand.data) == d.dtb_length and \
                    hashlib.new(algo_name, cand.data).digest() == digest:
                return cand, f"regenerated by the {cand.how}; digest checked"
    except RmtoolError as exc:
        return None, f"DTB regeneration failed after {tried} candidates: {exc}"
    if tried == 0:
        return None, f"no DTB generator available for VMM {d.vm.name!r} in this rmtool"
    return None, (f"none of {tried} regenerated {d.vm.name} DTBs (and templates) has the "
                  "logged digest")
