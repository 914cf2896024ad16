#!/usr/bin/env bash
# arm-smoke.sh BINARY QEMU [HOST_BINARY]: the cross-built binary is static and,
# under qemu-user, prints its version, decodes a testdata recording exactly as
# the host build does, and serves /healthz.
set -euo pipefail
bin=$1 qemu=$2 host=${3:-bin/edgebridge}
command -v "$qemu" >/dev/null || { echo "$qemu not found: install qemu-user-static (make deps)"; exit 1; }
file "$bin" | grep -q 'statically linked' || { echo "$bin: not statically linked"; file "$bin"; exit 1; }

# 1. version
out=$("$qemu" "$bin" version)
echo "$out" | grep -q '^edgebridge ' || { echo "$bin version: unexpected output: $out"; exit 1; }
echo "ok $bin version: $out"

# 2. decode and dtmf: the same JSON lines as the host build, for every
#    Contact ID recording and every DTMF recording in testdata/audio.
[ -x "$host" ] || { echo "decode check needs the host build $host (make build)"; exit 1; }
same() { # label args...: run under qemu and on the host, compare
  local label=$1; shift
  local want got
  want=$("$host" "$@" 2>/dev/null) || { echo "$label: host build failed: $host $*"; exit 1; }
  got=$("$qemu" "$bin" "$@" 2>/dev/null) || { echo "$label: failed under $qemu"; exit 1; }
  [ -n "$want" ] || { echo "$label: the host build printed nothing"; exit 1; }
  [ "$got" = "$want" ] || { echo "$label differs under $qemu:"; diff <(echo "$want") <(echo "$got") || true; exit 1; }
  echo "ok $bin $label: $(echo "$got" | wc -l) line(s), same as host"
}
recdir=${SMOKE_RECORDINGS:-testdata/audio}
mapfile -t recs < <(find "$recdir" -type f \( -iname '*contactid*.wav' -o -iname '*contactid*.pcap' \) | sort)
[ ${#recs[@]} -gt 0 ] || { echo "no Contact ID recording (*contactid*.wav|pcap) under $recdir"; exit 1; }
for rec in "${recs[@]}"; do same "decode $rec" decode --protocol contactid --in "$rec"; done
mapfile -t digs < <(find "$recdir" -type f \( -iname 'digits*' -o -iname '*rfc4733*' \) | sort)
for rec in "${digs[@]+"${digs[@]}"}"; do same "dtmf $rec" dtmf --in "$rec"; done

# 3. serve answers /healthz.
data=$(mktemp -d)
http_port=$((20000 + RANDOM % 20000)); sip_port=$((http_port + 1))
"$qemu" "$bin" serve --data "$data" --http "127.0.0.1:$http_port" --sip "127.0.0.1:$sip_port" \
  --console off --hw sim --admin-key smoke-test-admin-key-0001 >"$data/serve.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
health=""
for _ in $(seq 1 120); do
  if health=$(curl -sf "http://127.0.0.1:$http_port/healthz" 2>/dev/null); then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "$bin serve exited:"; cat "$data/serve.log"; exit 1; }
  sleep 0.25
done
echo "$health" | grep -q '"success":true' || { echo "$bin serve: no /healthz answer in 30 s:"; cat "$data/serve.log"; exit 1; }
kill -TERM "$pid"
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "$bin serve: still running 4 s after SIGTERM"; exit 1; fi
echo "ok $bin serve: /healthz $health, stopped on SIGTERM"
