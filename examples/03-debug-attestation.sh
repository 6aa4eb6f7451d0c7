#!/usr/bin/env bash
# Story 3: debug a failed attestation.
#
# The Realm owner provisioned reference values for a Realm; the Realm that actually
# started had one changed component (its initrd). Its attestation token (built and
# signed here with a TEST key made by rmtool's example code) no longer matches.
# `rmtool compare` verifies the token (with the platform key, the trust anchor) and says
# which claim differs; replaying the Realm's event log against
# the reference images says which component.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== 1. example inputs, plus a changed initrd"
python -m rmtool.examples inputs . --changed-initrd > /dev/null
mkdir reference
cp Image initrd.cpio reference/

HOST=(-c qemu-max-8.2.conf -c kvm.conf)
KVMTOOL_ARGS=(--realm -c 2 -m 512M -k Image -i initrd.cpio --measurement-log -p "console=hvc0")

echo "== 2. reference values of the intended Realm (CoRIM), and its trace for step 6"
rmtool measure "${HOST[@]}" -k Image -i initrd.cpio --corim-output reference.corim \
    kvmtool "${KVMTOOL_ARGS[@]}"
rmtool measure "${HOST[@]}" -k Image -i initrd.cpio --format json --trace \
    kvmtool "${KVMTOOL_ARGS[@]}" > reference-trace.json

echo
echo "== 3. the Realm that really started used initrd-changed.cpio: its measurements,"
echo "      its event log and its attestation token (signed with the rmtool TEST keys)"
# The VMM arguments still say `-i initrd.cpio` (the path on the host); the bytes measured
# are those of the global `-i` (docs/vmm-kvmtool.md), here initrd-changed.cpio.
rmtool measure "${HOST[@]}" -k Image -i initrd-changed.cpio --emit-log started.log \
    --format json kvmtool "${KVMTOOL_ARGS[@]}" > started.json
python -m rmtool.examples token --measurements started.json --out token.cbor \
    --key-out platform-key.pem
rmtool token verify token.cbor --platform-key platform-key.pem

echo
echo "== 4. compare the token with the reference values: which claim differs"
if rmtool compare token.cbor --platform-key platform-key.pem --corim reference.corim; then
    echo "unexpected: the token matches" >&2
    exit 1
fi

echo
echo "== 5. replay the Realm's log against the reference images: which component"
status=0
rmtool replay started.log --images reference || status=$?
echo "rmtool replay exit status: $status (1: the RIM cannot be rebuilt from the reference images;"
echo "the ERROR line names the event whose image is not one of them)"

echo
echo "== 6. or in one command: compare with the started Realm's log replayed against the"
echo "      reference images, and with the reference trace: the explanations name the event"
echo "      and the operation (INITRD) that differ"
if rmtool compare token.cbor --platform-key platform-key.pem --corim reference.corim \
        --log started.log --images reference \
        --measure-trace reference-trace.json; then
    echo "unexpected: the token matches" >&2
    exit 1
fi
