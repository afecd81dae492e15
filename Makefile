# Vigil build, test and demo targets. `make test` is the whole test suite
# (unit tests, race detector, the namespace tests and the IPVS lab in a
# qemu guest when run as root).
GO ?= go
BIN := bin/vigil
PKGS := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test unit lint fuzz bench bench-dataplane chaos demo package package-check vmtest vmtest-update vmtest-bench clean

# build: the same static binary as the Debian package's (scripts/build.sh).
build:
	GO=$(GO) scripts/build.sh $(BIN) $(VERSION)

# test: everything, with the race detector. Namespace tests need root and
# skip with a message without it; so does the IPVS lab (vmtest), which
# runs last because it boots a guest.
test: lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory vmtest; \
	else echo "vmtest: the IPVS lab needs root (qemu, the kernel image); skipping"; fi

unit:
	$(GO) test -short -count=1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# fuzz: every fuzz target of the module, each for FUZZTIME (default 30s);
# the issue's long runs use FUZZTIME=5m.
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

# bench: the measurements of docs/BENCHMARKS.md, Vigil and keepalived side
# by side (root; keepalived installed; HAProxy for BenchmarkCheckers, whose
# short version is VIGIL_BENCH_QUICK=1). They report, they never gate.
# BenchmarkDataplanes, in the same package, is bench-dataplane's: a new
# benchmark of bench/ must be added to the list here.
bench:
	$(GO) test -run '^$$' -bench '^BenchmarkParse$$' -benchtime 10x ./internal/config
	VIGIL_BENCH_NORACE=1 $(GO) test -run '^$$' -bench '^Benchmark(CheckTCP|Checkers|ConfigCheck|Failover|Idle200|Spurious)' -benchmem -timeout 60m ./bench/...

# bench-dataplane: the data planes' own measurements (root; nftables in the
# kernel; apt-get install nginx-light haproxy wrk): wrk through a VIP to
# nginx real servers in namespaces, the nftables and proxy planes in the
# real daemon side by side with hand-written nft DNAT and HAProxy, the
# memory of idle proxied connections (bench/dataplane_test.go), then the
# time to apply a change to a 5,000-service nftables table.
# VIGIL_BENCH_REPORT=FILE writes the wrk tables as markdown.
bench-dataplane:
	VIGIL_BENCH_NORACE=1 $(GO) test -run '^$$' -bench '^BenchmarkDataplanes$$' -benchtime 1x -timeout 30m ./bench
	$(GO) test -run '^$$' -bench . -benchtime 20x -benchmem -timeout 30m ./internal/dataplane/nft

# chaos: the long chaos campaign (test/chaos): CHAOS_EVENTS random events
# (default 500) against two Vigils (built with -race) and a keepalived in
# network namespaces. Root, keepalived and nft needed. CHAOS_SEED=N replays
# a run (the seed is printed at the start and on a failure); `make test`
# runs the same test with 60 events.
CHAOS_EVENTS ?= 500
CHAOS_SEED ?= 0
chaos:
	$(GO) test -count=1 -timeout 120m -run '^TestChaos$$' -v ./test/chaos -chaos.events=$(CHAOS_EVENTS) -chaos.seed=$(CHAOS_SEED)

demo: build
	./demo/demo.sh

# package: the Debian package, dist/vigil_<version>_<arch>.deb (dpkg-deb).
# The script makes a Debian version from git describe; `make package
# VERSION=1.2.3` sets one (the build target's VERSION is not one: it may
# start with a letter).
package:
	GO=$(GO) packaging/build-deb.sh

# package-check: build the package, then install it, run it, verify the
# unit and purge it again. Needs root; refuses to run when a vigil package
# is already installed.
package-check:
	GO=$(GO) packaging/build-deb.sh --install-check

# vmtest: the tests that need a kernel with IPVS (test/vmlab, the IPVS
# plane's kernel test, and the data planes' conformance suite on IPVS), run in a qemu guest (TCG, no KVM needed) with
# Debian's kernel and this machine's root file system
# (scripts/vmlab/vmlab.sh). Root. The test binaries are built here: the
# emulated guest is slow; so is bin/vmtest/vigil, the daemon that
# TestVigilGolden compares with keepalived (VIGIL_BIN). The lab checks
# itself first (scripts/vmlab/selftest.sh). Logs: bin/vmlab-out. It takes about
# 5 minutes on two idle cores; the limits leave room for a loaded machine
# (17.6 minutes of guest time seen at a load average of 18 with the
# daemon_*_test.go tests, which take about 3 of them). The conformance
# suite (test/conformance) takes 1.5 to 2.5 minutes of it (92 s alone at a
# load average of 4 to 8; 2m09s of a full run at 13 to 20).
VMTEST_PKGS = test/vmlab internal/dataplane/ipvs test/conformance
# VMTEST_BENCH: the side-by-side benchmark's short version (TestVMBench,
# 500 services, 40 checks: about a minute and a half of guest time) runs
# in make vmtest and prints its table; it asserts only that a reload
# changing one real server costs Vigil one operation. VMTEST_BENCH= skips
# it; make vmtest-bench runs the full one.
VMTEST_BENCH ?= short
VMTEST_TIMEOUT ?= 1800
VMLAB = scripts/vmlab/vmlab.sh --timeout $(VMTEST_TIMEOUT) --out bin/vmlab-out \
	--install ipvsadm --install keepalived --install iproute2
vmtest:
	@mkdir -p bin/vmtest
	for p in $(VMTEST_PKGS); do \
		$(GO) test -c -o bin/vmtest/$$(echo $$p | tr / _).test ./$$p || exit 1; \
	done
	CGO_ENABLED=0 $(GO) build -o bin/vmtest/vigil ./cmd/vigil
	scripts/vmlab/selftest.sh
	$(VMLAB) -- env VIGIL_BIN=$(CURDIR)/bin/vmtest/vigil VIGIL_VMBENCH=$(VMTEST_BENCH) scripts/vmlab/gotests.sh bin/vmtest $(VMTEST_PKGS) -- -test.parallel 4 -test.timeout 28m

# vmtest-update: record keepalived's tables as the goldens of
# test/vmlab/testdata/ipvs-golden (the guest writes them through a
# writable share). Review the diff before committing it.
vmtest-update:
	@mkdir -p bin/vmtest
	$(GO) test -c -o bin/vmtest/test_vmlab.test ./test/vmlab
	$(VMLAB) --rw test/vmlab/testdata/ipvs-golden -- scripts/vmlab/gotests.sh bin/vmtest test/vmlab -- \
		-test.parallel 4 -test.timeout 18m -test.run '^TestKeepalivedGolden$$' -update

# vmtest-bench: Vigil's LVS process next to keepalived's checker process in
# the IPVS lab, on the same files, one after the other in one guest
# (test/vmlab/vmbench_test.go, TestVMBench): time to a complete table of
# 5,000 services x 4 real servers, a reload that changes one real server
# (and the operations Vigil sends for it, which must be 1), memory, and
# 1,000 TCP_CHECKs every second. VMBENCH=short is the small version
# (500 services, 100 checks). It prints a markdown table, also left in
# bin/vmlab-bench/vmbench.md; see docs/BENCHMARKS.md. It reports, it does
# not gate, except for the operation count.
VMBENCH ?= full
VMBENCH_TIMEOUT ?= 3600
vmtest-bench:
	@mkdir -p bin/vmtest
	$(GO) test -c -o bin/vmtest/test_vmlab.test ./test/vmlab
	CGO_ENABLED=0 $(GO) build -o bin/vmtest/vigil ./cmd/vigil
	@echo "vmtest-bench: host load average before: $$(cat /proc/loadavg)"
	scripts/vmlab/vmlab.sh --timeout $(VMBENCH_TIMEOUT) --out bin/vmlab-bench \
		--install ipvsadm --install keepalived --install iproute2 -- \
		env VIGIL_BIN=$(CURDIR)/bin/vmtest/vigil VIGIL_VMBENCH=$(VMBENCH) \
		scripts/vmlab/gotests.sh bin/vmtest test/vmlab -- -test.run '^TestVMBench$$' -test.timeout 55m
	@echo "vmtest-bench: host load average after: $$(cat /proc/loadavg)"

clean:
	rm -rf bin dist
