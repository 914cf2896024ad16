#!/usr/bin/env bash
# rollback-e2e.sh [BINARY]: the A/B update path with real processes on this
# PC. The launcher (`firmware run`) starts v1 from slot a, which comes up
# healthy and confirms itself; then v2 is uploaded over REST, the launcher
# starts it on trial, it never becomes healthy, and the next start (the
# service manager's restart) is back on v1, which still serves /healthz.
set -euo pipefail
bin=$(realpath "${1:-bin/edgebridge}")
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "rollback-e2e: $*"; for f in "$work"/*.log; do echo "== $f"; tail -20 "$f"; done; exit 1; }
root=$work/fw data=$work/data
port=$((20000 + RANDOM % 20000)); sip=$((port + 1))
key=rollback-e2e-admin-key-0001
mkdir -p "$root"

"$bin" firmware keygen --out "$work/k" >/dev/null
cp "$work/k.pub" "$root/trusted.pub"
arch=$(go env GOARCH)
"$bin" firmware build --arch "$arch" --bin "$bin" --key "$work/k.key" --version v1 --out "$work/v1.img" >/dev/null
# v2: a static program that starts and exits, so it never confirms.
printf 'package main\nimport "os"\nfunc main() { println("v2: broken build"); os.Exit(1) }\n' >"$work/broken.go"
(cd "$work" && CGO_ENABLED=0 GO111MODULE=off go build -o broken broken.go)
"$bin" firmware build --arch "$arch" --bin "$work/broken" --key "$work/k.key" --version v2 --out "$work/v2.img" >/dev/null
"$bin" firmware apply --root "$root" --in "$work/v1.img" >/dev/null

start() { # log: the launcher, as systemd's ExecStart runs it
  "$bin" firmware run --root "$root" -- serve --data "$data" --http "127.0.0.1:$port" --sip "127.0.0.1:$sip" \
    --console off --hw sim --admin-key "$key" >"$work/$1.log" 2>&1 &
  pid=$!
}
healthy() {
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}
pending() { grep -q '"pending": true' "$root/boot.json"; }
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""; }

start v1
healthy || fail "v1 did not come up"
for _ in $(seq 1 40); do pending || break; sleep 0.25; done
pending && fail "v1 did not confirm itself"
echo "ok v1 runs from slot a and confirmed itself"

code=$(curl -s -o "$work/upload.json" -w '%{http_code}' -H "Authorization: Bearer $key" --data-binary "@$work/v2.img" "http://127.0.0.1:$port/firmware") || true
[ "$code" = 200 ] || fail "upload answered $code: $(cat "$work/upload.json")"
echo "ok v2 uploaded over REST into slot b"
stop

start v2
wait "$pid" 2>/dev/null && fail "v2 exited 0" || true
pid=""
grep -q 'v2: broken build' "$work/v2.log" || fail "the launcher did not start v2"
pending || fail "v2 is not on trial"
echo "ok v2 started on trial and died without confirming"

start restart
healthy || fail "after the failed trial the gateway did not come back"
grep -q 'v2 did not confirm itself; back on slot a (v1)' "$work/restart.log" || fail "no rollback message"
grep -q '"active": "a"' "$root/boot.json" || fail "boot pointer not back on slot a"
stop
echo "ok the next start returned to v1 on slot a, serving /healthz"
