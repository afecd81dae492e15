package vmlab

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoPort is the real servers' echo service (serveEcho) of the daemon
// tests: long-lived connections that must outlive the daemon.
const echoPort = 81

// echoConf is a NAT rr service on the echo port of both real servers;
// extra goes into global_defs.
func echoConf(extra string) string {
	return `global_defs {
` + extra + `
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
}

// echoService is the echo service's address and its ipvsadm key.
const (
	echoVIP = vipNAT + ":81"
	echoSvc = "TCP " + echoVIP
)

// TestDaemonCrashAdopt: with a long-lived connection through the VIP, the
// whole daemon (-C: one process) is SIGKILLed and started again on the
// same file. The table is adopted, not re-created: the restarted daemon
// sends no operation, the service keeps its counters (a re-created one
// starts from zero) and its connection entry, and the connection goes on
// working through the kill and after the restart, answered by the same
// real server. Then a service added by hand with ipvsadm, which the
// restarted daemon found and left alone, survives the daemon's clean stop,
// which removes everything Vigil added.
func TestDaemonCrashAdopt(t *testing.T) {
	needDaemon(t)
	t.Parallel()
	l := newLVSLab(t)
	for _, h := range l.rs {
		serveEcho(t, h, echoPort)
	}
	d := startDaemon(t, l.dir, "dir", echoConf(""), true)
	d.lvsRunning(1)

	conn := dialEcho(t, l.client, echoVIP)
	first, err := conn.ask("before")
	if err != nil {
		t.Fatal(err)
	}
	server, ok := strings.CutSuffix(first, " before")
	if !ok {
		t.Fatalf("answer %q, want NAME before", first)
	}
	if st, err := ipvsConn(l.dir, conn.localPort(), echoVIP); err != nil || st != "ESTABLISHED" {
		t.Fatalf("connection entry %q (%v), want ESTABLISHED", st, err)
	}
	// The kernel sums its per-CPU counters every 2 s: wait for the
	// connection to be counted.
	const conns = 1
	eventually(t, 30*time.Second, "the service counts the connection", func() (bool, error) {
		stats, err := readIPVSStats(l.dir)
		if err != nil {
			return false, err
		}
		return stats[echoSvc].Conns == conns, fmt.Errorf("%d connections counted, want %d", stats[echoSvc].Conns, conns)
	})
	tableBefore, err := ipvsadm(l.dir, "-Sn")
	if err != nil {
		t.Fatal(err)
	}

	// SIGKILL to the daemon: nothing runs its clean stop.
	if err := d.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.proc.Done():
	case <-time.After(daemonWait):
		t.Fatal("vigil did not die of SIGKILL")
	}
	// While no daemon runs, the kernel forwards on its own.
	if got, err := conn.ask("orphaned"); err != nil || got != server+" orphaned" {
		t.Fatalf("with the daemon dead: answer %q (%v), want %q", got, err, server+" orphaned")
	}
	// A service of someone else, which Vigil must never touch.
	l.ipvsadm(t,
		[]string{"-A", "-t", "10.3.0.200:9999", "-s", "rr"},
		[]string{"-a", "-t", "10.3.0.200:9999", "-r", "10.1.0.11:80", "-m"},
	)

	d.start()
	st := d.lvsRunning(2)
	if st.LVS.Operations != 0 {
		t.Errorf("the restarted daemon sent %d operations; it should adopt the table as it is", st.LVS.Operations)
	}
	if after, err := ipvsadm(l.dir, "-Sn"); err != nil {
		t.Fatal(err)
	} else {
		for _, line := range nonEmpty(tableBefore) {
			if !slices.Contains(nonEmpty(after), line) {
				t.Errorf("after the restart the table lacks %q:\n%s", line, after)
			}
		}
	}
	if stats, err := readIPVSStats(l.dir); err != nil {
		t.Fatal(err)
	} else if stats[echoSvc].Conns != conns {
		t.Errorf("the service counts %d connections after the restart, %d before: it was re-created", stats[echoSvc].Conns, conns)
	}
	if st, err := ipvsConn(l.dir, conn.localPort(), echoVIP); err != nil || st != "ESTABLISHED" {
		t.Errorf("after the restart the connection entry is %q (%v), want ESTABLISHED", st, err)
	}
	if got, err := conn.ask("after"); err != nil || got != server+" after" {
		t.Errorf("after the restart: answer %q (%v), want %q", got, err, server+" after")
	}

	// A clean stop removes what Vigil added, and only that.
	if err := d.proc.Stop(); err != nil {
		t.Errorf("vigil exited with %v on SIGTERM", err)
	}
	save, err := ipvsadm(l.dir, "-Sn")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-A -t 10.3.0.200:9999 -s rr", "-a -t 10.3.0.200:9999 -r 10.1.0.11:80 -m -w 1"}
	if got := nonEmpty(save); !slices.Equal(got, want) {
		t.Errorf("after a clean stop the table is\n%s\nwant only the service added by hand:\n%s", save, strings.Join(want, "\n"))
	}
}
