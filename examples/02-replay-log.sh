#!/usr/bin/env bash
# Story 2: replay a Realm's event log.
#
# A Realm started with a measurement log (kvmtool --measurement-log, QEMU
# measurement-log=on) records each RMM operation. `rmtool replay` rebuilds the RIM and
# REMs from the log, event by event, checking each image digest against known images.
# Here the log is the one the VMM would write, produced by `rmtool measure --emit-log`.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== 1. example inputs"
python -m rmtool.examples inputs . > /dev/null
ls

echo
echo "== 2. measure a kvmtool Realm and write the event log its VMM would write"
rmtool measure -c qemu-max-8.2.conf -c kvm.conf -k Image -i initrd.cpio \
    --emit-log realm.log \
    kvmtool --realm -c 2 -m 512M -k Image -i initrd.cpio --measurement-log -p "console=hvc0"

echo
echo "== 3. decode the log"
rmtool log show realm.log

echo
echo "== 4. replay it: the RIM must equal the one measured in step 2"
rmtool replay realm.log --images .
