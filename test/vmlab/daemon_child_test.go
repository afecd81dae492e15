package vmlab

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/status"
)

// childConf is a VRRP instance on the director's client side, the
// connection sync daemon following it, and the echo service: the daemon
// runs VRRP in its main process and the LVS side (sync daemon included)
// in its supervised child.
const childConf = `global_defs {
    lvs_sync_daemon eth0 VI_1 id 5
}
vrrp_instance VI_1 {
    interface eth0
    state MASTER
    virtual_router_id 61
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.3.0.150/24
    }
}
virtual_server ` + vipNAT + ` 81 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 10.1.0.11 81 {
    }
    real_server 10.1.0.12 81 {
    }
}
`

// TestDaemonLVSChildKilled is the VM version of the e2e
// TestLVSChildKilledVRRPUndisturbed's IPVS branch, with traffic: with VRRP
// and virtual servers, SIGKILL to the LVS child leaves the VRRP instance
// MASTER with no transition, the IPVS service and its destinations stay
// in the table at every look while the child is down (nothing flushes
// it), an established connection through IPVS keeps working across the
// restart, the sync daemon stays master alone throughout (as with
// keepalived, whose VRRP process owns it), and the parent starts a new
// child, which adopts the table and the sync daemon (no change) and shows
// in status. Then the whole daemon (parent and child) is SIGKILLed and
// started again: the table is adopted and the connection goes on.
func TestDaemonLVSChildKilled(t *testing.T) {
	needDaemon(t)
	t.Parallel()
	l := newLVSLab(t)
	for _, h := range l.rs {
		serveEcho(t, h, echoPort)
	}
	d := startDaemon(t, l.dir, "dir", childConf, false)
	var st status.StatusJSON
	eventually(t, daemonWait, "VI_1 is MASTER", func() (bool, error) {
		var err error
		st, err = d.status()
		if err != nil {
			return false, err
		}
		return len(st.Instances) == 1 && st.Instances[0].State == "MASTER", fmt.Errorf("instances %+v", st.Instances)
	})
	st = d.lvsRunning(1)
	if st.LVS.Mode != "child" || st.LVS.PID == 0 || st.LVS.PID == d.proc.Pid() {
		t.Fatalf("LVS side: mode %q pid %d (daemon %d); want a child process", st.LVS.Mode, st.LVS.PID, d.proc.Pid())
	}
	before := st.Instances[0]
	if before.LastTransition == nil {
		t.Fatal("a MASTER instance without a last transition")
	}
	table, err := ipvsadm(l.dir, "-Sn")
	if err != nil {
		t.Fatal(err)
	}
	lines := nonEmpty(table)
	if len(lines) != 3 {
		t.Fatalf("table %q, want the echo service and its two real servers", table)
	}

	master := []string{"master"}
	eventually(t, daemonWait, "the sync daemon runs as master", func() (bool, error) {
		d, err := syncDaemons(l.dir)
		return err == nil && slices.Equal(syncRoles(d), master), fmt.Errorf("sync daemons %q (%v)", d, err)
	})

	conn := dialEcho(t, l.client, echoVIP)
	first, err := conn.ask("before")
	if err != nil {
		t.Fatal(err)
	}

	// Two lookers read the table, the connection's entry and the sync
	// daemons without pause from before the kill until the new child
	// reports: every look must find them intact. The table is read from
	// /proc (no process started, so many looks a second even in the
	// emulated guest), the sync daemons with ipvsadm (a process each
	// time). The parent waits its first backoff (0.5 s) before it starts
	// the new child, so the looks of the first half second after the kill
	// fall while no LVS process runs.
	type look struct {
		at    time.Duration // CLOCK_BOOTTIME, comparable with a process's start
		table []string
		conn  string
		syncd []string
		err   error
	}
	want, wantConn, err := procIPVS(l.dir, conn.localPort())
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 3 || wantConn != "ESTABLISHED" {
		t.Fatalf("/proc/net/ip_vs: %q, connection %q; want the service, its two real servers and an established connection", want, wantConn)
	}
	var tableLooks, syncLooks []look
	stopLooking := make(chan struct{})
	var lookers sync.WaitGroup
	looker := func(looks *[]look, every time.Duration, read func(*look)) {
		lookers.Add(1)
		go func() {
			defer lookers.Done()
			for {
				select {
				case <-stopLooking:
					return
				default:
				}
				lk := look{at: bootTime(t)}
				read(&lk)
				*looks = append(*looks, lk)
				time.Sleep(every)
			}
		}()
	}
	looker(&tableLooks, pollEvery/5, func(lk *look) { lk.table, lk.conn, lk.err = procIPVS(l.dir, conn.localPort()) })
	looker(&syncLooks, pollEvery, func(lk *look) {
		var d []string
		d, lk.err = syncDaemons(l.dir)
		lk.syncd = syncRoles(d)
	})
	oldPID := st.LVS.PID
	killed := bootTime(t)
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Looks of the test's own, right after the kill: the parent takes at
	// least half a second to start the next child.
	var ownLooks []look
	for range 3 {
		lk := look{at: bootTime(t)}
		lk.table, lk.conn, lk.err = procIPVS(l.dir, conn.localPort())
		ownLooks = append(ownLooks, lk)
	}
	eventually(t, daemonWait, "the parent restarts the LVS child", func() (bool, error) {
		var err error
		if st, err = d.status(); err != nil {
			return false, err
		}
		return st.LVS != nil && st.LVS.PID != 0 && st.LVS.PID != oldPID && st.LVS.Restarts == 1 && st.LVS.State == "running",
			fmt.Errorf("lvs %+v", st.LVS)
	})
	close(stopLooking)
	lookers.Wait()
	// The new child's start, from /proc: looks between the kill and it
	// were taken while no LVS process ran.
	childStart, err := procStartTime(st.LVS.PID)
	if err != nil {
		t.Fatal(err)
	}
	afterKill, down := 0, 0
	for i, lk := range append(ownLooks, tableLooks...) {
		if lk.err != nil {
			t.Fatalf("table look %d: %v", i, lk.err)
		}
		if !slices.Equal(lk.table, want) {
			t.Fatalf("table look %d of %d: the table is %q, want %q", i, len(tableLooks), lk.table, want)
		}
		if lk.conn != "ESTABLISHED" {
			t.Fatalf("table look %d of %d: the connection's entry is %q, want ESTABLISHED", i, len(tableLooks), lk.conn)
		}
		if lk.at > killed {
			afterKill++
			if lk.at < childStart {
				down++
			}
		}
	}
	for i, lk := range syncLooks {
		if lk.err != nil {
			t.Fatalf("sync daemon look %d: %v", i, lk.err)
		}
		if !slices.Equal(lk.syncd, master) {
			t.Fatalf("sync daemon look %d of %d: %q, want only master", i, len(syncLooks), lk.syncd)
		}
	}
	if down == 0 {
		t.Fatalf("no look at the table fell between the kill and the new child's start %v later (%d looks after the kill)", childStart-killed, afterKill)
	}
	t.Logf("the table and the connection's entry were intact at each of %d looks after the kill, %d of them while no LVS child ran (%v); the sync daemon master alone at each of %d looks (pid %d -> %d)",
		afterKill, down, (childStart - killed).Round(time.Millisecond), len(syncLooks), oldPID, st.LVS.PID)
	if syscall.Kill(oldPID, 0) != syscall.ESRCH {
		t.Errorf("the killed child %d still exists", oldPID)
	}
	// The new child changed nothing: the table matched (no operation),
	// and starting the master sync daemon once the parent's word came
	// found it running (one operation, answered "exists", adopted).
	if st.LVS.Operations > 1 {
		t.Errorf("the new child sent %d operations; it should adopt the table and the sync daemon as they are", st.LVS.Operations)
	}
	if d, err := syncDaemons(l.dir); err != nil || !slices.Equal(syncRoles(d), master) {
		t.Errorf("after the restart: sync daemons %q (%v), want only master", d, err)
	}
	after := st.Instances[0]
	if after.State != "MASTER" || after.LastTransition == nil || !after.LastTransition.Equal(*before.LastTransition) ||
		after.Counters.BecomeMaster != before.Counters.BecomeMaster || after.Counters.ReleaseMaster != before.Counters.ReleaseMaster {
		t.Errorf("VI_1 moved while the LVS child died: %s at %v (became master %d times) -> %s at %v (%d)",
			before.State, before.LastTransition, before.Counters.BecomeMaster, after.State, after.LastTransition, after.Counters.BecomeMaster)
	}
	if got, err := conn.ask("after"); err != nil || got != first[:len(first)-len("before")]+"after" {
		t.Errorf("after the child's restart: answer %q (%v), want the server of %q", got, err, first)
	}

	// Then the whole daemon: SIGKILL to the child first (its signal on
	// the parent's death is SIGTERM, a clean stop), then to the parent.
	// Started again on the same file, it adopts the table: the service
	// keeps its counters (a re-created one starts from zero) and the
	// connection goes on.
	eventually(t, 30*time.Second, "the service counts the connection", func() (bool, error) {
		stats, err := readIPVSStats(l.dir)
		if err != nil {
			return false, err
		}
		return stats[echoSvc].Conns == 1, fmt.Errorf("%d connections counted, want 1", stats[echoSvc].Conns)
	})
	if err := syscall.Kill(st.LVS.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := d.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.proc.Done():
	case <-time.After(daemonWait):
		t.Fatal("vigil did not die of SIGKILL")
	}
	childPID := st.LVS.PID
	eventually(t, 10*time.Second, "the killed LVS child is gone", func() (bool, error) {
		return syscall.Kill(childPID, 0) == syscall.ESRCH, nil
	})
	if got, _, err := procIPVS(l.dir, conn.localPort()); err != nil || !slices.Equal(got, want) {
		t.Fatalf("with the whole daemon dead the table is %q (%v), want %q", got, err, want)
	}
	d.start()
	eventually(t, daemonWait, "VI_1 is MASTER again", func() (bool, error) {
		var err error
		st, err = d.status()
		if err != nil {
			return false, err
		}
		return len(st.Instances) == 1 && st.Instances[0].State == "MASTER", fmt.Errorf("instances %+v", st.Instances)
	})
	st = d.lvsRunning(1)
	if got, _, err := procIPVS(l.dir, conn.localPort()); err != nil || !slices.Equal(got, want) {
		t.Errorf("after the daemon's restart the table is %q (%v), want %q", got, err, want)
	}
	if stats, err := readIPVSStats(l.dir); err != nil || stats[echoSvc].Conns != 1 {
		t.Errorf("after the daemon's restart the service counts %d connections (%v), 1 before: it was re-created", stats[echoSvc].Conns, err)
	}
	if got, err := conn.ask("again"); err != nil || got != first[:len(first)-len("before")]+"again" {
		t.Errorf("after the daemon's restart: answer %q (%v), want the server of %q", got, err, first)
	}
	eventually(t, daemonWait, "the sync daemon runs as master alone", func() (bool, error) {
		d, err := syncDaemons(l.dir)
		return err == nil && slices.Equal(syncRoles(d), master), fmt.Errorf("sync daemons %q (%v)", d, err)
	})

	// A clean stop stops the new child, which removes the service.
	newPID := st.LVS.PID
	if err := d.proc.Stop(); err != nil {
		t.Errorf("vigil exited with %v on SIGTERM", err)
	}
	eventually(t, 10*time.Second, "the LVS child is gone", func() (bool, error) {
		return syscall.Kill(newPID, 0) == syscall.ESRCH, nil
	})
	if table, err := ipvsTable(l.dir); err != nil || services(table) != 0 {
		t.Errorf("services left after a clean stop (%v):\n%s", err, table)
	}
	if d, err := syncDaemons(l.dir); err != nil || len(d) != 0 {
		t.Errorf("sync daemons left after a clean stop: %q (%v)", d, err)
	}
}

// bootTime is CLOCK_BOOTTIME, the clock of a process's start time in
// /proc/PID/stat.
func bootTime(t *testing.T) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// procStartTime is when process pid started, on CLOCK_BOOTTIME, to the
// kernel's 10 ms resolution (USER_HZ is 100 on Linux).
func procStartTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's closing parenthesis start at the
	// third; starttime is the 22nd.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b)[i+1:])
	if i < 0 || len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat starttime: %v", pid, err)
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
