package script

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNormalSchedulingResetsChild: a script started by a real-time Vigil
// runs on the normal scheduler, not with the inherited real-time policy.
func TestNormalSchedulingResetsChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to use SCHED_RR")
	}
	runtime.LockOSThread() // the policy is per thread; fork happens from this one
	defer runtime.UnlockOSThread()
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_RR, Priority: 1}
	if err := unix.SchedSetAttr(0, rr, 0); err != nil {
		t.Skipf("cannot switch to SCHED_RR here: %v", err)
	}
	defer unix.SchedSetAttr(0, old, 0)

	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	before, err := unix.SchedGetAttr(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if before.Policy != unix.SCHED_RR {
		t.Skipf("child did not inherit SCHED_RR (policy %d); nothing to reset", before.Policy)
	}
	normalScheduling(cmd.Process.Pid)
	after, err := unix.SchedGetAttr(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Policy != unix.SCHED_NORMAL {
		t.Errorf("child policy %d after reset, want SCHED_NORMAL", after.Policy)
	}
}
