#!/usr/bin/env bash
# Story 4: a failed attestation you can see (an HTML report).
#
# Story 3's Realm, started with a changed initrd: its token no longer matches the
# reference values. `rmtool compare --html` writes one self-contained HTML file (no
# script, nothing loaded from the network; prints on A4) with the verdict and its causes,
# the claims with the differing bytes highlighted, the expected and the actual Realm's
# memory maps side by side (the changed initrd highlighted), the two operation streams
# aligned with the first divergence marked, the event log, and the inputs' digests.
# The report is the file to attach to a bug. Usage: 04-failed-attestation.sh [REPORT.html]
set -euo pipefail

report=$(realpath -m "${1:-failed-attestation.html}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== 1. example inputs, plus a changed initrd"
python -m rmtool.examples inputs . --changed-initrd > /dev/null
mkdir reference
cp Image initrd.cpio reference/

HOST=(-c qemu-max-8.2.conf -c kvm.conf)
KVMTOOL_ARGS=(--realm -c 2 -m 512M -k Image -i initrd.cpio --measurement-log -p "console=hvc0")

echo "== 2. the intended Realm's trace (the expected operations and layout)"
rmtool measure "${HOST[@]}" -k Image -i initrd.cpio --format json --trace \
    kvmtool "${KVMTOOL_ARGS[@]}" > reference-trace.json

echo "== 3. the Realm that started (changed initrd): its event log and its token"
rmtool measure "${HOST[@]}" -k Image -i initrd-changed.cpio --emit-log started.log \
    --format json kvmtool "${KVMTOOL_ARGS[@]}" > started.json
python -m rmtool.examples token --measurements started.json --out token.cbor \
    --key-out platform-key.pem

echo
echo "== 4. compare, and write the report"
status=0
rmtool compare token.cbor --platform-key platform-key.pem \
    --log started.log --images reference --measure-trace reference-trace.json \
    --html "$report" || status=$?
echo "rmtool compare exit status: $status (1: MISMATCH)"
[ "$status" -eq 1 ]
echo "wrote report: $(basename "$report") ($(wc -c < "$report") bytes); open it in a browser"
