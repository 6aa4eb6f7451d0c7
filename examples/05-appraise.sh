#!/usr/bin/env bash
# Story 5: appraise a token the way a verifier (Veraison) would.
#
# The verifier knows the platform from its vendor's CoRIM (the platform attestation key,
# CPAK, for its implementation and instance id, and reference values of its firmware
# components and config) and the Realm from the Realm owner's CoRIM (RIM, REMs, RPV).
# `rmtool appraise` selects the trust anchor, verifies the token, compares the claims with
# the reference values and prints each claim's AR4SI tier with its reason (docs/appraise.md).
# Token, platform CoRIM and CoRIM signing key are made by rmtool's example code with
# TEST keys (never use them for anything real).
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== 1. example inputs"
python -m rmtool.examples inputs . > /dev/null

HOST=(-c qemu-max-8.2.conf -c kvm.conf)
KVMTOOL_ARGS=(--realm -c 2 -m 512M -k Image -i initrd.cpio -p "console=hvc0")
NONCE=0123456789abcdef  # the verifier's challenge

echo "== 2. the Realm owner's reference values (realm.corim), the Realm's token (with the"
echo "      verifier's nonce) and the platform vendor's CoRIM (platform.corim)"
rmtool measure "${HOST[@]}" -k Image -i initrd.cpio --corim-output realm.corim \
    --format json kvmtool "${KVMTOOL_ARGS[@]}" > realm.json
python -m rmtool.examples token --measurements realm.json --challenge "$NONCE" \
    --out token.cbor --platform-corim-out platform.corim

echo
echo "== 3. endorsements are signed by whoever made them: sign the Realm's CoRIM with a"
echo "      TEST key and check the signature as a verifier would before trusting it"
python -m rmtool.examples corim-signer --key-out signer-TEST.pem \
    --public-out signer-TEST.pub.pem
rmtool corim create realm.json --key signer-TEST.pem --output realm-signed.corim > /dev/null
rmtool corim verify realm-signed.corim --key signer-TEST.pub.pem

echo
echo "== 4. appraise the token against both CoRIMs: affirming, with an EAR"
rmtool appraise token.cbor --corim platform.corim --corim realm-signed.corim \
    --challenge "$NONCE" --ear ear.json
python - <<'EOF'
import json
ear = json.load(open("ear.json"))
for name, sub in sorted(ear["submods"].items()):
    print(f"EAR {name}: {sub['ear.status']}")
EOF

echo
echo "== 5. the vendor endorses another build of the RMM (a firmware update this platform"
echo "      has not installed): a token with the same claims against that CoRIM"
python -m rmtool.examples token --measurements realm.json --challenge "$NONCE" \
    --out token.cbor --platform-corim-out platform-rmm.corim --changed-component RMM
status=0
rmtool appraise token.cbor --corim platform-rmm.corim --corim realm-signed.corim \
    --challenge "$NONCE" || status=$?
echo "rmtool appraise exit status: $status (1: not affirming; the reason names the component)"
[ "$status" -eq 1 ]

echo
echo "== 6. a stale token: the verifier's nonce is not the one the token carries"
status=0
rmtool appraise token.cbor --corim platform.corim --corim realm-signed.corim \
    --challenge 00112233 > stale.txt || status=$?
grep "^reason" stale.txt
echo "rmtool appraise exit status: $status"
[ "$status" -eq 1 ]
