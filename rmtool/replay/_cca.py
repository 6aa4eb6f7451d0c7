"""Strict readers and writers of the VMM-written CCA RIM-log payloads.

Spec: docs/measurement-log.md section 2 — "VM VERSION" (both published layouts; section 5), the
EV_EVENT_TAG payloads REALM_CREATE / INIT_RIPAS / REC_CREATE  and the
UEFI_PLATFORM_FIRMWARE_BLOB2 image events. ``rmtool.eventlog`` frames the log
and decodes these payloads for display; replay needs them *checked* (unknown flag bits,
minimum sizes, hash algorithm encodings) and turned into RMM parameters: the fields are
read here with the packers generated from their one declaration
(:mod:`rmtool.eventlog._cca_payloads`, which also writes them) and every problem raises
:class:`CcaEventError` naming the field and its byte offset inside the event data.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmtool import _hashalgo as hashalgo
from rmtool._binlayout import Layout
from rmtool.errors import EventLogError, UsageError
from rmtool.eventlog import _cca_payloads as payloads
from rmtool.eventlog import _constants as c
from rmtool.measure.rmm.algorithms import HashAlgo, by_rmi
from rmtool.measure.rmm.ops import RealmParams
from rmtool.measure.rmm.profiles import (
    FLAG_DA,
    FLAG_LPA2,
    FLAG_MEC_POLICY_MASK,
    FLAG_MEC_POLICY_SHIFT,
    FLAG_PMU,
    FLAG_SVE,
)

# Names replay and its callers use; the numbers and layouts are declared once, in
# rmtool.eventlog._constants and rmtool.eventlog._cca_payloads.
VM_VERSION_SIGNATURE = c.VM_VERSION_SIGNATURE
TAG_REALM_CREATE = c.CCA_TAG_REALM_CREATE
TAG_INIT_RIPAS = c.CCA_TAG_INIT_RIPAS
TAG_REC_CREATE = c.CCA_TAG_REC_CREATE
TAG_NAMES = {tag: name for tag, (name, _) in payloads.TAG_PAYLOADS.items()}
IMAGE_KINDS = payloads.IMAGE_KINDS

# QEMU and the reference parser (docs/measurement-log.md section 5 table)
LAYOUT_QEMU = "ram_size-first"
LAYOUT_DOC = "log-first"  # the reference doc and test: log_start, log_size, ram_size, cpus
_VMV_QEMU = payloads.VM_VERSION_QEMU  # 112 bytes as QEMU writes it (100 read)
_VMV_DOC = payloads.VM_VERSION_DOC  # 116 bytes
_REALM_CREATE = payloads.REALM_CREATE.struct  # 14 bytes; QEMU pads to 16
_INIT_RIPAS = payloads.INIT_RIPAS.struct
_REC_CREATE = payloads.REC_CREATE.struct
_TAG_HDR = payloads.TAGGED_EVENT_HEADER.struct
_BLOB_TAIL = payloads.PLATFORM_FIRMWARE_BLOB.struct
# Flag bits rmtool accepts in REALM_CREATE: the RmiRealmParams bits (LPA2, SVE, PMU) of
# the proposal, plus DA and MEC_POLICY at their RmiRealmParams positions (rmtool
# extension so that RMM 1.1 / 2.0 realms round-trip; the reference rejects them).
KNOWN_FLAGS = FLAG_LPA2 | FLAG_SVE | FLAG_PMU | FLAG_DA | FLAG_MEC_POLICY_MASK


class CcaEventError(EventLogError):
    """A CCA payload that cannot be used (field and offset within the event data)."""


@dataclass(frozen=True)
class VmVersion:
    name: str
    version: str
    ram_size: int
    num_cpus: int
    layout: str
    log_start: int | None = None
    log_size: int | None = None


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def read_vm_version(data: bytes) -> VmVersion:
    """Both layouts (docs/measurement-log.md sections 2 and 5): 116 bytes = log-first
    (doc/test), otherwise ram_size first (QEMU, the reference parser; 100 bytes at least)."""
    if data[:16] != VM_VERSION_SIGNATURE:
        raise CcaEventError("unknown EV_NO_ACTION signature", field="signature", offset=0)
    if len(data) == _VMV_DOC.size:
        _, name, ver, log_start, log_size, ram, cpus = _VMV_DOC.struct.unpack(data)
        return VmVersion(_cstr(name), _cstr(ver), ram, cpus, LAYOUT_DOC, log_start, log_size)
    need = payloads.VM_VERSION_QEMU_MIN
    if len(data) < need:
        raise CcaEventError(f"VM VERSION event has {len(data)} bytes, needs {need}",
                            field="num_cpus", offset=_VMV_QEMU.offsets["num_cpus"])
    name, ver = (_text(data, _VMV_QEMU, f) for f in ("name", "version"))
    ram, cpus = (_VMV_QEMU.value(data, f) for f in ("ram_size", "num_cpus"))
    return VmVersion(_cstr(name), _cstr(ver), ram, cpus, LAYOUT_QEMU)


def _text(data: bytes, layout: Layout, name: str) -> bytes:
    f = layout.field(name)
    return data[f.offset:f.offset + f.size]


def write_vm_version(name: str, version: str, ram_size: int, num_cpus: int) -> bytes:
    """The QEMU layout (ram_size first, 112 bytes, flags 0); name and version clipped to
    keep a terminating NUL."""
    return payloads.write_qemu_vm_version(name, version, ram_size, num_cpus)


def read_tag(data: bytes) -> tuple[int, bytes]:
    """TCG_PCClientTaggedEvent: (taggedEventID, payload)."""
    if len(data) < 8:
        raise CcaEventError(f"tagged event has {len(data)} bytes, needs 8",
                            field="taggedEventDataSize", offset=4)
    tag, size = _TAG_HDR.unpack_from(data)
    if size != len(data) - 8:
        raise CcaEventError(f"taggedEventDataSize {size} != {len(data) - 8} bytes present",
                            field="taggedEventDataSize", offset=4)
    if tag not in TAG_NAMES:
        raise CcaEventError(f"unknown tag {tag}", field="taggedEventID", offset=0)
    return tag, data[8:]


def write_tag(tag: int, payload: bytes) -> bytes:
    return payloads.write_tagged_event(tag, payload)


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise CcaEventError(f"{what} payload has {len(payload)} bytes, needs {size}",
                            field="taggedEventData", offset=8)


def read_realm_create(payload: bytes, rpv: bytes = bytes(64)) -> RealmParams:
    """REALM_CREATE → RealmParams in natural units (LPA2 honoured, unlike the reference)."""
    _need(payload, _REALM_CREATE.size, "REALM_CREATE")
    flags, s2sz, vq, bps, wps, ctrs, algo = _REALM_CREATE.unpack_from(payload)
    if flags & ~KNOWN_FLAGS:
        raise CcaEventError(f"unknown REALM_CREATE flag bits {flags & ~KNOWN_FLAGS:#x}",
                            field="flags", offset=8)
    try:
        hash_algo: HashAlgo = by_rmi(algo)
    except UsageError:
        raise CcaEventError(f"unknown hash algorithm encoding {algo}", field="hash_algo",
                            offset=8 + 13) from None
    # sve_vl and pmu_num_ctrs stay raw with their flag clear: TF-RMM measures the fields
    sve = bool(flags & FLAG_SVE)
    return RealmParams(
        hash_algo=hash_algo, s2sz=s2sz, num_bps=bps + 1, num_wps=wps + 1,
        sve_vl=(vq + 1) * 128 if sve or vq else 0, sve=sve, pmu=bool(flags & FLAG_PMU),
        pmu_num_ctrs=ctrs, lpa2=bool(flags & FLAG_LPA2),
        da=bool(flags & FLAG_DA),
        mec_policy=(flags & FLAG_MEC_POLICY_MASK) >> FLAG_MEC_POLICY_SHIFT, rpv=rpv)


def write_realm_create(p: RealmParams) -> bytes:
    """16 bytes as QEMU writes them (14 packed + 2 bytes of struct padding)."""
    sve = bool(p.sve_vl) if p.sve is None else p.sve
    flags = ((FLAG_LPA2 if p.lpa2 else 0) | (FLAG_SVE if sve else 0)
             | (FLAG_PMU if p.pmu else 0) | (FLAG_DA if p.da else 0)
             | ((p.mec_policy & 0b11) << FLAG_MEC_POLICY_SHIFT))
    return payloads.write_realm_create(
        flags=flags, s2sz=p.s2sz, sve_vl=p.sve_vl // 128 - 1 if p.sve_vl else 0,
        num_bps=p.num_bps - 1, num_wps=p.num_wps - 1, pmu_num_ctrs=p.pmu_num_ctrs,
        hash_algo=p.hash_algo.rmi, struct_padding=payloads.REALM_CREATE_QEMU_PADDING)


def read_init_ripas(payload: bytes) -> tuple[int, int]:
    _need(payload, _INIT_RIPAS.size, "INIT_RIPAS")
    base, size = _INIT_RIPAS.unpack_from(payload)
    return base, size


def write_init_ripas(base: int, size: int) -> bytes:
    return payloads.write_init_ripas(base, size)


def read_rec_create(payload: bytes) -> tuple[int, int, tuple[int, ...]]:
    """(flags, pc, gprs x0..x7); flags other than bit 0 (runnable) are rejected."""
    _need(payload, _REC_CREATE.size, "REC_CREATE")
    values = _REC_CREATE.unpack_from(payload)
    if values[0] & ~1:
        raise CcaEventError(f"unknown REC_CREATE flag bits {values[0] & ~1:#x}",
                            field="flags", offset=8)
    return values[0], values[1], tuple(values[2:])


def write_rec_create(flags: int, pc: int, gprs: tuple[int, ...]) -> bytes:
    return payloads.write_rec_create(flags, pc, gprs)


@dataclass(frozen=True)
class Blob:
    description: str  # trailing NULs removed
    nul_terminated: bool
    base: int
    length: int


def read_blob2(data: bytes) -> Blob:
    """UEFI_PLATFORM_FIRMWARE_BLOB2; descriptions with or without a trailing NUL."""
    if not data:
        raise CcaEventError("empty image event", field="BlobDescriptionSize", offset=0)
    dsize = data[0]
    if len(data) != 1 + dsize + 16:
        raise CcaEventError(f"event size {len(data)} != 1 + {dsize} + 16",
                            field="BlobDescriptionSize", offset=0)
    raw = data[1:1 + dsize]
    base, length = _BLOB_TAIL.unpack_from(data, 1 + dsize)
    return Blob(raw.rstrip(b"\0").decode("ascii", "replace"), raw.endswith(b"\0"), base, length)


def write_blob2(description: str, base: int, length: int) -> bytes:
    """No trailing NUL, as QEMU writes it."""
    return payloads.write_blob2(description.encode("ascii"), base, length)


# --- is this an Arm CCA Realm log? ------------------------------------------------------

EV_NO_ACTION, EV_EVENT_TAG, EV_POST_CODE2 = c.EV_NO_ACTION, c.EV_EVENT_TAG, c.EV_POST_CODE2
EV_EFI_PLATFORM_FIRMWARE_BLOB2 = c.EV_EFI_PLATFORM_FIRMWARE_BLOB2
#: Event types only a TPM platform's firmware logs (PC Client PFP 1.06 sections 10.4.5,
#: 10.4.1): the S-CRTM version / contents and the H-CRTM event.
TPM_ONLY_TYPES = {t: c.event_type_name(t) for t in (
    c.EV_S_CRTM_CONTENTS, c.EV_S_CRTM_VERSION, c.EV_EFI_HCRTM_EVENT)}
STARTUP_LOCALITY_SIGNATURE = c.STARTUP_LOCALITY_SIGNATURE
#: The Realm algorithms EDK2's Arm CCA CC event log declares
#: (EDK2 MdePkg/Include/Protocol/CcMeasurement.h), as rows of the one hash-algorithm table
#: (their TCG bank names).
CCEL_REALM_BANKS = tuple(a.name for a in (hashalgo.SHA256, hashalgo.SHA512))
_MAX_INDICES = 64  # distinct indices remembered for the message


def _ranges(values: list[int]) -> str:
    """``0-7, 9, 14`` for [0..7, 9, 14]."""
    spans: list[list[int]] = []
    for v in sorted(values):
        if spans and spans[-1][1] == v - 1:
            spans[-1][1] = v
        else:
            spans.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


class RealmLogCheck:
    """Evidence, event by event, that a log is (or is not) an Arm CCA Realm log.

    A Realm log (docs/measurement-log.md sections 1-3) is either the VMM's RIM log — it carries a
    "VM VERSION" EV_NO_ACTION event, a REALM_CREATE / INIT_RIPAS / REC_CREATE tagged event
    on index 0, or an image event (UEFI_PLATFORM_FIRMWARE_BLOB2 "KERNEL", "INITRD",
    "DTB", ...) on index 0 — possibly followed by firmware REM events; or a firmware CC
    event log (UEFI CCEL, MR index in the header event) whose Spec ID declares the
    Realm algorithm, SHA-256 or SHA-512 (EDK2's Arm CCA log). Anything else — a TPM log
    whose firmware measures the CRTM into PCR 0 and extends PCRs 0-7 and up, a CC event
    log of another platform (Intel TDX logs declare SHA-384) — is not: replaying it would
    print REM values that no Realm reports.
    """

    def __init__(self, log_format: str, banks: list[str],
                 platform_class: int | None) -> None:
        self.log_format = log_format
        self.banks = banks
        self.platform_class = platform_class
        self.realm: list[str] = []  # what makes it a Realm log
        self.tpm: list[str] = []  # what makes it a TPM log
        self.indices: set[int] = set()
        self.firmware_on_zero = False

    def observe(self, index: int, event_type: int, data: bytes) -> bool:
        """Take one event into account; True if it is one of the VMM's RIM events."""
        if event_type == EV_NO_ACTION:
            if data[:16] == VM_VERSION_SIGNATURE and not self.realm:
                self.realm.append("a VM VERSION event")
            elif data[:16] == STARTUP_LOCALITY_SIGNATURE and "StartupLocality" not in self.tpm:
                self.tpm.append("StartupLocality")
            return False
        if len(self.indices) < _MAX_INDICES:
            self.indices.add(index)
        name = TPM_ONLY_TYPES.get(event_type)
        if name is not None and name not in self.tpm:
            self.tpm.append(name)
        if index != 0:
            return False
        if self.is_rim_event(event_type, data):
            if not self.realm:
                self.realm.append("a CCA RIM event on index 0")
            return True
        self.firmware_on_zero = True
        return False

    @staticmethod
    def is_rim_event(event_type: int, data: bytes) -> bool:
        """One of the VMM's RIM events (docs/measurement-log.md section 2), by type and payload."""
        if event_type == EV_EVENT_TAG:
            return len(data) >= 4 and int.from_bytes(data[:4], "little") in TAG_NAMES
        if event_type in (EV_POST_CODE2, EV_EFI_PLATFORM_FIRMWARE_BLOB2):
            try:
                return read_blob2(data).description in IMAGE_KINDS
            except CcaEventError:
                return False
        return False

    def problem(self) -> tuple[str, str] | None:
        """None for a Realm log; else (why it is not one, a one-line hint)."""
        if self.realm:
            return None
        if self.log_format == "ccel":
            if len(self.banks) == 1 and self.banks[0] in CCEL_REALM_BANKS:
                return None
            why = (f"a CC event log whose Spec ID declares {', '.join(self.banks) or 'nothing'}"
                   f" (an Arm CCA log declares one of {', '.join(CCEL_REALM_BANKS)}) and no "
                   "CCA VM VERSION / REALM_CREATE / RIM image event")
            return why, ("this looks like the CC event log of another platform (e.g. Intel "
                         "TDX); use rmtool log show")
        reasons = ["no CCA VM VERSION / REALM_CREATE / RIM image event"]
        if self.platform_class is not None:
            kind = {0: "PC Client", 1: "server"}.get(self.platform_class, "unknown")
            reasons.append(f"the Spec ID event names platform class {self.platform_class} "
                           f"({kind})")
        tpm_like = bool(self.tpm) or self.firmware_on_zero or any(
            i > 4 for i in self.indices)
        if self.indices:
            which = "index" if len(self.indices) == 1 else "indices"
            reasons.append(f"events extend {which} {_ranges(list(self.indices))}"
                           + (" as a TPM log (PCR numbers)" if tpm_like else ""))
        if self.firmware_on_zero:
            reasons.append("firmware events extend index 0 (a Realm's RIM is written by "
                           "the VMM's RIM events only)")
        if self.tpm:
            reasons.append(f"TPM-only events: {', '.join(self.tpm)}")
        hint = ("this looks like a TPM event log; use rmtool log show" if tpm_like
                else "use rmtool log show to list its events")
        return "; ".join(reasons), hint
