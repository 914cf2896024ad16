#!/usr/bin/env bash
# arm-smoke.sh BINARY QEMU: the cross-built binary is static and runs under qemu-user.
set -euo pipefail
bin=$1 qemu=$2
file "$bin" | grep -q 'statically linked' || { echo "$bin: not statically linked"; file "$bin"; exit 1; }
out=$("$qemu" "$bin" version)
echo "$out" | grep -q '^edgebridge ' || { echo "$bin version: unexpected output: $out"; exit 1; }
echo "ok $bin: $out"
