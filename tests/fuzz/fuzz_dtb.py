"""Fuzz harness for device-tree blobs (run on demand; pytest does not collect it).

Each input goes through :func:`rmtool.measure.dtb.fdt.parse_dtb`,
:func:`rmtool.measure.dtb._dump.to_dts` (our bounds check, then pyfdt), and both
``--dtb-template`` surgeons with fixed Realm facts: kvmtool's
:func:`rmtool.measure.vmm._kvmtool_template.apply_template` and QEMU's
:func:`rmtool.measure.vmm._qemu_dtb.apply_template`; a surgeon's output must parse again.
Oracle and modes: see ``fuzzcommon``. Seeds: the shared reference DTBs
(``vectors/inputs/ref-dtbs``), DTBs from our generators and the QEMU-like template of
``tests/test_qemu_template.py``::

    python tests/fuzz/fuzz_dtb.py /tmp/dtbfuzz SEED_DIR -max_total_time=300
"""

from __future__ import annotations

from typing import Any

import fuzzcommon

_FACTS: dict[str, Any] = {}


def _facts() -> dict[str, Any]:
    if not _FACTS:
        from rmtool.measure.vmm._kvmtool import DtbFacts
        from rmtool.measure.vmm._qemu_dtb import QemuDtbFacts

        _FACTS["kvmtool"] = DtbFacts(cpus=2, ram_size=512 << 20, bootargs="console=hvc0",
                                     initrd=(0x88000000, 0x88001000), its=True, pmu=True,
                                     log=(0x90000000, 0x10000), virtio_mmio=2)
        _FACTS["qemu"] = QemuDtbFacts(cpus=2, ram_size=1 << 30, high_redist_base=1 << 38,
                                      high_pci_cfg_base=1 << 39, high_pci_mmio_base=1 << 40,
                                      its=True, pmu=True, bootargs="console=ttyAMA0",
                                      initrd=(0x48000000, 0x1000), log=(0x7FFF0000, 0x10000))
    return _FACTS


def check_one(data: bytes) -> None:
    from rmtool.errors import RmtoolError
    from rmtool.measure.dtb._dump import to_dts
    from rmtool.measure.dtb.fdt import dump, parse_dtb
    from rmtool.measure.vmm import _kvmtool_template as kvmtool_template
    from rmtool.measure.vmm import _qemu_dtb as qemu_dtb

    facts = _facts()
    for step in (
        lambda: list(dump(parse_dtb(data).root)),
        lambda: to_dts(data),
        lambda: parse_dtb(kvmtool_template.apply_template(data, facts["kvmtool"])),
        lambda: parse_dtb(qemu_dtb.apply_template(data, facts["qemu"])),
    ):
        try:
            step()
        except RmtoolError:
            pass


if __name__ == "__main__":
    fuzzcommon.main("dtb", check_one, ["rmtool.measure.dtb.fdt", "rmtool.measure.dtb._dump",
                                       "rmtool.measure.vmm._kvmtool_template",
                                       "rmtool.measure.vmm._kvmtool",
                                       "rmtool.measure.vmm._qemu_dtb"])
