package daemon

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"vigil/internal/config"
)

func intp(n int) *int { return &n }

func TestPlanScheduling(t *testing.T) {
	tests := []struct {
		name string
		in   config.ProcessTuning
		want schedPlan
	}{
		// Vigil's default: the lowest real-time priority.
		{"nothing configured", config.ProcessTuning{}, schedPlan{rtPriority: DefaultRTPriority}},
		{"rt priority", config.ProcessTuning{RTPriority: 10}, schedPlan{rtPriority: 10}},
		{"rt priority with rttime", config.ProcessTuning{RTPriority: 10, RlimitRTTime: 20000}, schedPlan{rtPriority: 10, rttime: 20000}},
		// keepalived applies the rttime limit only to a real-time process.
		{"rttime with the default rt", config.ProcessTuning{RlimitRTTime: 20000}, schedPlan{rtPriority: DefaultRTPriority, rttime: 20000}},
		{"rttime with nice", config.ProcessTuning{Priority: intp(-5), RlimitRTTime: 20000}, schedPlan{nice: intp(-5)}},
		{"nice only", config.ProcessTuning{Priority: intp(-5)}, schedPlan{nice: intp(-5)}},
		// vrrp_priority opts out of the real-time default; 0 changes nothing.
		{"nice zero is no change", config.ProcessTuning{Priority: intp(0)}, schedPlan{}},
		// A nice value means nothing under SCHED_RR; keepalived ignores it too.
		{"rt wins over nice", config.ProcessTuning{RTPriority: 5, Priority: intp(-5)}, schedPlan{rtPriority: 5}},
		{"no swap", config.ProcessTuning{NoSwap: true}, schedPlan{rtPriority: DefaultRTPriority, lockMemory: true}},
		{"no swap, normal scheduler", config.ProcessTuning{NoSwap: true, Priority: intp(0)}, schedPlan{lockMemory: true}},
		{"affinity", config.ProcessTuning{CPUAffinity: []int{0, 1}, Priority: intp(0)}, schedPlan{cpus: []int{0, 1}}},
		{"all", config.ProcessTuning{RTPriority: 50, NoSwap: true, CPUAffinity: []int{1}}, schedPlan{rtPriority: 50, lockMemory: true, cpus: []int{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planScheduling(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("planScheduling(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.empty() != reflect.DeepEqual(tt.want, schedPlan{}) {
				t.Errorf("empty() = %v for %+v", got.empty(), got)
			}
		})
	}
}

func TestRTMessage(t *testing.T) {
	tests := []struct {
		in   config.ProcessTuning
		want string
	}{
		{config.ProcessTuning{RTPriority: 10}, "real-time scheduling on (vrrp_rt_priority)"},
		// Not set: the line says it is Vigil's default, not the keyword's.
		{config.ProcessTuning{}, "real-time scheduling on (Vigil's default: vrrp_rt_priority is not set; vrrp_priority opts out)"},
		{config.ProcessTuning{RlimitRTTime: 20000}, "real-time scheduling on (Vigil's default: vrrp_rt_priority is not set; vrrp_priority opts out)"},
	}
	for _, tt := range tests {
		if got := rtMessage(tt.in); got != tt.want {
			t.Errorf("rtMessage(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestApplySchedulingNothingConfigured(t *testing.T) {
	before := policies(t)
	// vrrp_priority 0: the normal scheduler, nothing to change.
	if err := applyScheduling(config.GlobalDefs{VRRPProcess: config.ProcessTuning{Priority: intp(0)}}, nil); err != nil {
		t.Fatalf("applyScheduling with no settings: %v", err)
	}
	for tid, p := range policies(t) {
		if b, ok := before[tid]; ok && b != p {
			t.Errorf("thread %d: policy changed from %d to %d with nothing configured", tid, b, p)
		}
	}
}

func TestForEachThreadSeesEveryThread(t *testing.T) {
	seen := map[int]int{}
	n, err := forEachThread(func(tid int) error { seen[tid]++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != len(seen) {
		t.Errorf("returned %d, handled %d threads", n, len(seen))
	}
	// The main thread's id is the process id; it lives as long as the process.
	if seen[os.Getpid()] != 1 {
		t.Errorf("the main thread (%d) was not handled: %v", os.Getpid(), seen)
	}
	for tid, c := range seen {
		if c != 1 {
			t.Errorf("thread %d handled %d times", tid, c)
		}
	}
}

// policies returns the scheduling policy of every thread of the process.
func policies(t *testing.T) map[int]uint32 {
	t.Helper()
	tids, err := threadIDs()
	if err != nil {
		t.Fatal(err)
	}
	res := map[int]uint32{}
	for _, tid := range tids {
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // the thread has exited
		}
		res[tid] = a.Policy
	}
	return res
}

// TestApplySchedulingRealTime switches this test process to SCHED_RR, checks
// every thread, including threads the runtime starts afterwards, and
// switches it back.
func TestApplySchedulingRealTime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("real-time scheduling and mlockall need root; skipping")
	}
	const prio = 3
	t.Cleanup(func() {
		if _, err := forEachThread(func(tid int) error {
			return unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_NORMAL}, 0)
		}); err != nil {
			t.Errorf("restoring SCHED_OTHER: %v", err)
		}
		if err := unix.Munlockall(); err != nil {
			t.Errorf("munlockall: %v", err)
		}
	})
	var g config.GlobalDefs
	g.VRRPProcess = config.ProcessTuning{RTPriority: prio, NoSwap: true}
	if err := applyScheduling(g, nil); err != nil {
		t.Fatalf("applyScheduling: %v", err)
	}
	check := func(when string) {
		t.Helper()
		tids, err := threadIDs()
		if err != nil {
			t.Fatal(err)
		}
		for _, tid := range tids {
			a, err := unix.SchedGetAttr(tid, 0)
			if err != nil {
				continue // exited
			}
			if a.Policy != unix.SCHED_RR || a.Priority != prio {
				t.Errorf("%s: thread %d has policy %d priority %d, want SCHED_RR (%d) priority %d", when, tid, a.Policy, a.Priority, unix.SCHED_RR, prio)
			}
		}
	}
	check("after applyScheduling")

	// Force the runtime to start new threads: each goroutine below holds
	// its thread until all have started.
	before := len(policies(t))
	const extra = 8
	var started, release sync.WaitGroup
	started.Add(extra)
	release.Add(1)
	for i := 0; i < extra; i++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			started.Done()
			release.Wait()
		}()
	}
	started.Wait()
	if after := len(policies(t)); after <= before {
		t.Logf("the runtime started no new thread (%d before, %d after); inheritance not exercised", before, after)
	}
	check("threads started later")
	release.Done()

	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if !containsLockedMemory(string(status)) {
		t.Errorf("vrrp_no_swap: /proc/self/status shows no locked memory (VmLck 0)")
	}
}

// containsLockedMemory reports whether a /proc/PID/status text has a
// non-zero VmLck line.
func containsLockedMemory(status string) bool {
	var kb int
	for _, line := range strings.Split(status, "\n") {
		if n, _ := fmt.Sscanf(line, "VmLck: %d kB", &kb); n == 1 {
			return kb > 0
		}
	}
	return false
}
