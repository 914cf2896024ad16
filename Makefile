# edgebridge: one static Go binary for ARM alarm gateways.
# A newcomer needs two targets: `make run` and `make test`.

BIN      := bin/edgebridge
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO       ?= go
STATIC   := CGO_ENABLED=0
# Debian packages the tests use: SIPp as SIP peer, espeak-ng for talk-off speech,
# qemu for the ARM smoke tests, spandsp for the side-by-side DTMF comparison, tshark to
# check the pcaps we write, chromium to drive the installer's web page headless,
# sipvicious (svwar, svcrack) to attack the SIP edge.
APT_PKGS := sip-tester espeak-ng qemu-user-static libspandsp-dev tshark sngrep file curl chromium kamailio baresip gcc libc6-dev sipvicious
FUZZTIME ?= 20s

.PHONY: all build run test unit bench bench-go fuzz lint arm arm64 deps smoke firmware clean

all: build

build:
	$(STATIC) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/edgebridge

# The daemon on its embedded defaults: data in ./data, REST on 127.0.0.1:8080,
# SIP on 127.0.0.1:5060, simulated hardware. SERVE_FLAGS adds serve's flags
# (make run SERVE_FLAGS='--fxs-number 600': the FXS line takes calls).
SERVE_FLAGS ?=
run: build
	./$(BIN) serve $(SERVE_FLAGS)

# Everything CI checks: packages the tests need, formatting and vet, the test
# suite, and the ARM binaries under qemu.
test: deps lint unit smoke

unit:
	$(GO) test -count=1 -timeout 20m ./...

# What a user sees, whole processes on real files and sockets (about 5 min
# on 2 cores; testdata/bench/userbench says how each figure is taken):
# `dtmf` on a generated 60-minute WAV against spandsp's dtmf_rx (CPU time
# and RSS), B2BUA goodput against SIPp direct at 500/s and 4000/s offered,
# the daemon's RSS idle, with 100 calls and after floods, and the media
# service's webhook round trip and RSS with 20 IVR sessions. gcc builds the
# spandsp harness; the WAV is generated once into bin/bench.
bench: deps build
	@mkdir -p bin/bench
	cc -O2 -Wall -o bin/spandsp-dtmf testdata/spandsp/dtmf_harness.c -lspandsp -lm
	@[ -f bin/bench/60min.wav ] || $(GO) run ./testdata/bench/genwav --minutes 60 --out bin/bench/60min.wav
	$(GO) run ./testdata/bench/userbench --bin $(BIN) --spandsp bin/spandsp-dtmf --wav bin/bench/60min.wav

# Every Go benchmark with -benchmem (the detectors, the RTP path, SIPp
# against the engine in process).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

# Each fuzz target for FUZZTIME; the corpus stays under testdata/fuzz of each package.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

arm:
	$(STATIC) GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/edgebridge-armv7 ./cmd/edgebridge

arm64:
	$(STATIC) GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/edgebridge-arm64 ./cmd/edgebridge

# The ARM builds must be static and must run (under qemu-user-static here):
# version, decode of the testdata recordings as on the host, serve /healthz;
# and an update that never confirms rolls back, with real processes.
smoke: build arm arm64
	./firmware/arm-smoke.sh bin/edgebridge-armv7 qemu-arm-static $(BIN)
	./firmware/arm-smoke.sh bin/edgebridge-arm64 qemu-aarch64-static $(BIN)
	./firmware/rollback-e2e.sh $(BIN)
	@# termios ioctls differ on MIPS and PowerPC: the console's raw-mode test runs there too.
	@for a in mips:qemu-mips-static ppc64le:qemu-ppc64le-static; do \
	  $(STATIC) GOOS=linux GOARCH=$${a%%:*} $(GO) test -c -o bin/console-$${a%%:*}.test ./api/console && \
	  (cd api/console && $${a##*:} ../../bin/console-$${a%%:*}.test -test.run '^TestStdio' -test.count=1) || exit 1; \
	done

# Signed A/B firmware images of the ARM builds. FW_KEY is the signing key;
# without one a development key is made in bin/ (never ship with it).
FW_KEY ?= bin/firmware-dev.key
firmware: build arm arm64
	@[ -f $(FW_KEY) ] || ./$(BIN) firmware keygen --out $(basename $(FW_KEY))
	./$(BIN) firmware build --arch arm --bin bin/edgebridge-armv7 --key $(FW_KEY) --version $(VERSION) --out bin/edgebridge-$(VERSION)-armv7.img
	./$(BIN) firmware build --arch arm64 --bin bin/edgebridge-arm64 --key $(FW_KEY) --version $(VERSION) --out bin/edgebridge-$(VERSION)-arm64.img
	./$(BIN) firmware verify --pub $(basename $(FW_KEY)).pub --arch arm --in bin/edgebridge-$(VERSION)-armv7.img
	./$(BIN) firmware verify --pub $(basename $(FW_KEY)).pub --arch arm64 --in bin/edgebridge-$(VERSION)-arm64.img

# Installs the Debian packages the tests need, only those that are missing;
# a failed apt step, or a package still missing after it, fails the target.
# The tests start Kamailio themselves: the service the package starts would
# hold port 5060, which make run takes, so it is stopped and disabled. The
# direct media tests watch RTP on the loopback with tshark: for a user other
# than root, dumpcap is allowed to capture (setcap, as Debian's own
# wireshark-common setup does).
deps:
	@set -e; missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq || { echo "make deps: apt-get update failed" >&2; exit 1; }; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || { echo "make deps: apt-get install$$missing failed" >&2; exit 1; }; \
	  for p in $$missing; do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || { echo "make deps: $$p is still not installed" >&2; exit 1; }; \
	  done; \
	  case "$$missing" in *kamailio*) $$SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true;; esac; \
	fi
	@if [ "$$(id -u)" != 0 ] && ! /usr/sbin/getcap /usr/bin/dumpcap 2>/dev/null | grep -q cap_net_raw; then \
	  echo "make deps: letting dumpcap capture (setcap cap_net_raw,cap_net_admin)"; \
	  sudo /usr/sbin/setcap cap_net_raw,cap_net_admin=eip /usr/bin/dumpcap || { echo "make deps: setcap on dumpcap failed" >&2; exit 1; }; \
	fi

clean:
	rm -rf bin

# spandsp side by side (issue 3): builds the C harness in testdata/spandsp
# against libspandsp-dev (only here), then compares spandsp's dtmf_rx with
# dsp.DTMFDetector on the same generated cases and measures both speeds.
.PHONY: spandsp-bench
spandsp-bench: deps
	@mkdir -p bin
	cc -O2 -Wall -o bin/spandsp-dtmf testdata/spandsp/dtmf_harness.c -lspandsp -lm
	$(GO) test -tags spandsp -count=1 -run Spandsp -v ./dsp -spandsp=$(CURDIR)/bin/spandsp-dtmf
