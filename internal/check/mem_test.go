package check

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"vigil/internal/config"
)

// The LVS process holds one of each of these records per check or per
// real server, for as long as it runs: 10,000 of them in the benchmark of
// docs/BENCHMARKS.md ("Health checks"), whose goal is the memory of the
// process. The bounds are the size classes the records were laid out to
// fit (the allocator rounds each object up to one); a field added to one
// of them must come with a reason to take the next class.
func TestPerCheckRecordSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		// The Runner's record of a check: its state, latest outcome,
		// start, and its Machine held in it (one object, not two: it was
		// 144 + 80 bytes apart). Flags last (Result's too), the times as
		// Stamps: 192-byte class (224 with two time.Time).
		{"probeState", unsafe.Sizeof(probeState{}), 192},
		// The Machine shares its configuration with every machine of an
		// equal one: 80, not 176.
		{"Machine", unsafe.Sizeof(Machine{}), 80},
		// A Server shares its ServerSpec's configuration, and its
		// checkers' states are one slice: 48, not 208.
		{"Server", unsafe.Sizeof(Server{}), 48},
		{"slot", unsafe.Sizeof(slot{}), 16},
		// TCPProber's connect-path address is built on first use (the
		// raw-socket path never needs it): 128, not 176.
		{"TCPProber", unsafe.Sizeof(TCPProber{}), 128},
		{"Result", unsafe.Sizeof(Result{}), 32},
		// A Probe points to its machine configuration, which Build
		// shares between equal ones: 112, not 176.
		{"Probe", unsafe.Sizeof(Probe{}), 112},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, want at most %d (one per check in the LVS process)", c.name, c.size, c.max)
		}
	}
}

// tcpBenchConf is the configuration of the TCP_CHECK benchmark of
// docs/BENCHMARKS.md: n real servers with a TCP_CHECK each, in virtual
// servers of 250.
func tcpBenchConf(n int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id checkbench\n}\n")
	for v := 0; v*250 < n; v++ {
		fmt.Fprintf(&b, "virtual_server 10.200.0.%d 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n", v+1)
		for i := v * 250; i < min(n, (v+1)*250); i++ {
			fmt.Fprintf(&b, "    real_server 10.201.%d.%d 8080 {\n        weight 1\n", i>>8, i&0xff)
			b.WriteString("        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The heap a Plan and a Runner of TCP_CHECKs keep, per check, measured
// on 2,000 checks: the records above and what they point to (names,
// keys, probers, feeds, specs). It was 1,072 bytes before the records
// shared their configuration, about 905 after, and is about 780 with the
// keys held by value (ProbeKey), the Runner's times as Stamps and the
// Probes' configurations shared; the bound leaves room for the
// allocator's noise but not for a record's copy of a configuration again,
// nor for the keys as strings.
func TestPlanAndRunnerHeapPerCheck(t *testing.T) {
	const n = 2000
	cfg, diags := config.LoadBytes("k.conf", []byte(tcpBenchConf(n)), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	before := liveHeap()
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := NewRunner(plan, RunnerOptions{})
	after := liveHeap()
	if len(r.probes) != n || len(r.servers) != n {
		t.Fatalf("%d checks and %d servers, want %d of each", len(r.probes), len(r.servers), n)
	}
	per := int64(after-before) / n
	t.Logf("plan and Runner: %d bytes per TCP_CHECK", per)
	const maxPerCheck = 820
	if per > maxPerCheck {
		t.Errorf("plan and Runner keep %d bytes per TCP_CHECK, want at most %d", per, maxPerCheck)
	}
	runtime.KeepAlive(r)
	runtime.KeepAlive(cfg)
}
