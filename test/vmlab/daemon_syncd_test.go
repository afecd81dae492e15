package vmlab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// syncdConf is the director's file: lvs_sync_daemon following VI_1, which
// starts as BACKUP at priority 100.
const syncdConf = `global_defs {
    lvs_sync_daemon eth0 VI_1 id 9
}
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 71
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.9.0.100/24
    }
}
virtual_server 10.9.0.100 80 {
    lvs_sched rr
    protocol TCP
    real_server 10.9.0.11 80 {
    }
}
`

// syncdPeerConf is the other node: the same instance at priority 200, so
// it is master whenever it runs.
const syncdPeerConf = `vrrp_instance VI_1 {
    interface eth0
    state MASTER
    virtual_router_id 71
    priority 200
    advert_int 1
    virtual_ipaddress {
        10.9.0.100/24
    }
}
`

// syncDaemons is `ipvsadm -Ln --daemon` of h, one line per running sync
// daemon, sorted.
func syncDaemons(h *netlab.Host) ([]string, error) {
	out, err := ipvsadm(h, "-Ln", "--daemon")
	if err != nil {
		return nil, err
	}
	d := nonEmpty(out)
	slices.Sort(d)
	return d, nil
}

// syncRoles is the roles of syncDaemons' lines ("master", "backup").
func syncRoles(lines []string) []string {
	var r []string
	for _, l := range lines {
		r = append(r, strings.Fields(l)[0])
	}
	return r
}

// directorPlane starts a daemon on the director's file: Vigil or keepalived,
// run as a node with VRRP and virtual servers is (both processes).
type directorPlane struct {
	name  string
	start func(t *testing.T, h *netlab.Host, conf string, checkOnly bool) *netlab.Proc
}

var directorPlanes = []directorPlane{
	{"vigil", func(t *testing.T, h *netlab.Host, conf string, checkOnly bool) *netlab.Proc {
		return startDaemon(t, h, "director", conf, checkOnly).proc
	}},
	{"keepalived", func(t *testing.T, h *netlab.Host, conf string, checkOnly bool) *netlab.Proc {
		dir := t.TempDir()
		path := filepath.Join(dir, "keepalived.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"-n", "-l", "-D", "-f", path,
			"-p", filepath.Join(dir, "keepalived.pid"),
			"-c", filepath.Join(dir, "checkers.pid"),
			"-r", filepath.Join(dir, "vrrp.pid")}
		if checkOnly {
			args = append(args, "-C")
		}
		p, err := h.Start("keepalived", args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = p.Stop()
			keepLog(t, logName(t)+".keepalived.log", p.Output())
		})
		return p
	}},
}

// TestDaemonSyncDaemonFollowsVRRP: with lvs_sync_daemon naming a VRRP
// instance, the kernel's sync daemon follows the instance's state, for
// Vigil as for keepalived 2.2.7 on the same file and the same events:
// backup while a higher-priority peer is master, master once the peer
// stops, backup again when it returns, none after a clean stop. At each
// step the daemon lines (role, interface, sync id, maxlen, group, port,
// ttl) must be the same for both. Under -C (no VRRP process) neither runs
// a sync daemon at all.
func TestDaemonSyncDaemonFollowsVRRP(t *testing.T) {
	needDaemon(t, "keepalived")
	t.Parallel()
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.9.0.1/24")
	b := lab.AddHost("b", "10.9.0.2/24")
	peer := startDaemon(t, b, "peer", syncdPeerConf, false)
	waitPeer := func(state string) {
		t.Helper()
		eventually(t, daemonWait, "the peer's VI_1 is "+state, func() (bool, error) {
			st, err := peer.status()
			if err != nil {
				return false, err
			}
			return len(st.Instances) == 1 && st.Instances[0].State == state, fmt.Errorf("instances %+v", st.Instances)
		})
	}
	waitPeer("MASTER")

	// want waits until a runs exactly the sync daemons of roles and
	// returns their lines.
	want := func(plane, step string, roles ...string) []string {
		t.Helper()
		var got []string
		eventually(t, daemonWait, plane+": "+step+": sync daemons "+strings.Join(roles, "+"), func() (bool, error) {
			var err error
			if got, err = syncDaemons(a); err != nil {
				return false, err
			}
			return slices.Equal(syncRoles(got), roles), fmt.Errorf("running %q", got)
		})
		return got
	}
	steps := map[string][][]string{}
	for _, p := range directorPlanes {
		t.Run(p.name, func(t *testing.T) {
			proc := p.start(t, a, syncdConf, false)
			eventually(t, daemonWait, p.name+" programs its service", func() (bool, error) {
				table, err := ipvsTable(a)
				return err == nil && services(table) == 1, err
			})
			var seen [][]string
			seen = append(seen, want(p.name, "peer master", "backup"))
			// The instance's master-down interval is about 3.6 s: past it,
			// a BACKUP that hears the peer stays BACKUP.
			time.Sleep(5 * time.Second)
			seen = append(seen, want(p.name, "peer master, 5 s later", "backup"))
			if err := peer.proc.Stop(); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, want(p.name, "peer stopped", "master"))
			peer.start()
			waitPeer("MASTER")
			seen = append(seen, want(p.name, "peer back", "backup"))
			if err := proc.Stop(); err != nil {
				t.Errorf("%s exited with %v on SIGTERM", p.name, err)
			}
			seen = append(seen, want(p.name, "clean stop"))
			steps[p.name] = seen
		})
	}
	if v, k := steps["vigil"], steps["keepalived"]; len(v) == len(k) && len(v) > 0 {
		for i := range v {
			if !slices.Equal(v[i], k[i]) {
				t.Errorf("step %d: Vigil runs %q, keepalived %q", i, v[i], k[i])
			}
		}
	}

	// Under -C there is no VRRP process to follow: keepalived's checker
	// process leaves such a sync daemon alone, and so does Vigil.
	if err := peer.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range directorPlanes {
		t.Run(p.name+"/-C", func(t *testing.T) {
			proc := p.start(t, a, syncdConf, true)
			eventually(t, daemonWait, p.name+" -C programs its service", func() (bool, error) {
				table, err := ipvsTable(a)
				return err == nil && services(table) == 1, err
			})
			// keepalived starts its sync daemons, when it does, right after
			// the table; look for a few seconds more.
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				got, err := syncDaemons(a)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 0 {
					t.Fatalf("%s -C with lvs_sync_daemon naming a VRRP instance runs %q, want none", p.name, got)
				}
				time.Sleep(pollEvery)
			}
			if err := proc.Stop(); err != nil {
				t.Errorf("%s exited with %v on SIGTERM", p.name, err)
			}
			if table, err := ipvsTable(a); err != nil || services(table) != 0 {
				t.Errorf("%s left services after a clean stop (%v):\n%s", p.name, err, table)
			}
		})
	}
}
