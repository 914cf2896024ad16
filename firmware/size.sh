#!/usr/bin/env bash
# size.sh: the stripped static ARMv7 binary's size and what each dependency
# costs. Run from the module root. It prints
#  1. the size of cmd/edgebridge as built by `make arm`;
#  2. its symbol bytes by module (go tool nm -size), i.e. what is linked now;
#  3. for each third-party module, the growth of a small probe program
#     (net/http + encoding/json + crypto/tls + slog, what the gateway links
#     anyway) when it also calls that module's main entry points: the
#     marginal cost of the dependency, also for those serve has not wired yet.
# It writes nothing to the tree but a temporary probe folder it removes.
set -euo pipefail
export CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7
out=$(mktemp -d)
probe=firmware/_sizeprobe
trap 'rm -rf "$out" "$probe"' EXIT
size() { stat -c %s "$1"; }

go build -trimpath -ldflags '-s -w' -o "$out/edgebridge" ./cmd/edgebridge
go build -trimpath -o "$out/edgebridge-syms" ./cmd/edgebridge
printf 'stripped static ARMv7 cmd/edgebridge: %d bytes (%.2f MiB); goal <= 15 MB\n\n' "$(size "$out/edgebridge")" "$(echo "$(size "$out/edgebridge")/1048576" | bc -l)"

echo "symbol bytes by module linked in cmd/edgebridge now (unstripped build):"
go tool nm -size "$out/edgebridge-syms" | awk '
  $3 ~ /^[bBU]$/ || $2 > 4000000 { next }   # bss is not in the file
  {
    n = $4; sub(/^(type:|go:itab\.)\**/, "", n); sub(/^\**\(?\**/, "", n)
    if (n ~ /^github.com\/edgebridge\/edgebridge\//) { split(n, p, "/"); sub(/\..*/, "", p[4]); m = "edgebridge/" p[4] }
    else if (n ~ /^(github.com|periph.io|golang.org)\//) { split(n, p, "/"); m = p[1] "/" p[2] "/" p[3]; sub(/\.[^\/]*$/, "", m) }
    else if (n ~ /^go.etcd.io\//) { m = "go.etcd.io/bbolt" }
    else if (n ~ /^go:/) { m = "(go:func tables)" }
    else { m = "std " n; sub(/[.(].*$/, "", m); sub(/\/.*$/, "", m) }
    sz[m] += $2
  }
  END { for (m in sz) printf "%9.0f KiB  %s\n", sz[m]/1024, m }' | sort -rn | head -30
echo

mkdir -p "$probe"
base_imports='"crypto/tls"; "encoding/json"; "log/slog"; "net/http"; "os"'
base_body='c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}; b, _ := json.Marshal(os.Args); slog.Info("x", "b", string(b)); _, _ = c.Get(os.Args[1]); _ = http.ListenAndServe(os.Args[1], nil)'
build_probe() { # name extra-imports extra-body
  printf 'package main\nimport (%s; %s)\nfunc main() {\n%s\nif len(os.Args) > 5 {\n%s\n}\n}\n' "$base_imports" "$2" "$base_body" "$3" >"$probe/main.go"
  go build -trimpath -ldflags '-s -w' -o "$out/$1" "./$probe"
}
build_probe base '' ''
base=$(size "$out/base")
printf 'probe baseline (http, tls, json, slog): %d bytes\n' "$base"
probe() { # label imports body
  build_probe p "$2" "$3"
  printf '%9.0f KiB  %s\n' "$(echo "($(size "$out/p") - $base)/1024" | bc -l)" "$1"
}
probe "github.com/emiago/sipgo (UA, server, client)" '"context"; "github.com/emiago/sipgo"; "github.com/emiago/sipgo/sip"' \
  'ua, _ := sipgo.NewUA(); srv, _ := sipgo.NewServer(ua); srv.OnInvite(func(r *sip.Request, tx sip.ServerTransaction) {}); cl, _ := sipgo.NewClient(ua); _ = cl.WriteRequest(sip.NewRequest(sip.INVITE, sip.Uri{Host: "x"})); _ = srv.ListenAndServe(context.Background(), "udp", os.Args[2])'
probe "github.com/pion/rtp + github.com/pion/srtp/v3" '"github.com/pion/rtp"; "github.com/pion/srtp/v3"' \
  'var p rtp.Packet; _ = p.Unmarshal([]byte(os.Args[2])); c, _ := srtp.CreateContext(make([]byte, 16), make([]byte, 14), srtp.ProtectionProfileAes128CmHmacSha1_80); out, _ := c.EncryptRTP(nil, []byte(os.Args[3]), &p.Header); _, _ = c.DecryptRTP(nil, out, nil)'
probe "go.etcd.io/bbolt" 'bolt "go.etcd.io/bbolt"' \
  'db, _ := bolt.Open(os.Args[2], 0o600, nil); _ = db.Update(func(tx *bolt.Tx) error { b, _ := tx.CreateBucketIfNotExists([]byte("x")); return b.Put([]byte("k"), []byte("v")) }); _ = db.View(func(tx *bolt.Tx) error { return tx.ForEach(func([]byte, *bolt.Bucket) error { return nil }) })'
probe "periph.io/x/conn/v3 + periph.io/x/host/v3/gpioioctl (as hal uses it)" '"periph.io/x/conn/v3/gpio"; "periph.io/x/conn/v3/gpio/gpioreg"; "periph.io/x/conn/v3/driver/driverreg"; _ "periph.io/x/host/v3/gpioioctl"' \
  '_, _ = driverreg.Init(); p := gpioreg.ByName(os.Args[2]); _ = p.Out(gpio.High); _ = p.In(gpio.PullUp, gpio.BothEdges)'
probe "github.com/tarm/serial" '"github.com/tarm/serial"' \
  'p, _ := serial.OpenPort(&serial.Config{Name: os.Args[2], Baud: 115200}); _, _ = p.Write([]byte("x"))'
probe "github.com/evanphx/json-patch/v5" 'jsonpatch "github.com/evanphx/json-patch/v5"' \
  'pt, _ := jsonpatch.DecodePatch([]byte(os.Args[2])); _, _ = pt.Apply([]byte(os.Args[3])); _, _ = jsonpatch.MergePatch([]byte(os.Args[2]), []byte(os.Args[3]))'
probe "github.com/golang-jwt/jwt/v5" '"github.com/golang-jwt/jwt/v5"' \
  '_, _ = jwt.Parse(os.Args[2], func(t *jwt.Token) (any, error) { return nil, nil }); _, _ = jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{}).SignedString(nil)'
probe "github.com/zaf/g711" '"github.com/zaf/g711"' \
  '_ = g711.EncodeAlaw(g711.DecodeUlaw([]byte(os.Args[2])))'
probe "github.com/getkin/kin-openapi (not used by the tree)" '"context"; "github.com/getkin/kin-openapi/openapi3"' \
  'd, _ := openapi3.NewLoader().LoadFromData([]byte(os.Args[2])); _ = d.Validate(context.Background())'
