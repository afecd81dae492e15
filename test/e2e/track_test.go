package e2e

// Acceptance tests of tracking (vrrp_script, track_interface), sync groups
// and notifications (notify scripts, notify_fifo, SMTP alerts), each checked
// against what keepalived does in the same situation: the expected argument
// lines, FIFO lines and mails below are the ones keepalived 2.2.7 produces
// for the same configuration and the same sequence of events.

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"vigil/internal/netlab"
)

// The network of this file: a (.2) and b (.3) on 10.78.0.0/24 (eth0) and,
// for the tests that need a second link, on 10.78.1.0/24 (eth1).
const (
	trkVIP0   = "10.78.0.100"
	trkVIP1   = "10.78.1.100"
	trkWebPrt = 8080 // the tracked web server's port on every node
	// trkAdvert is advert_int of every instance here.
	trkAdvert = time.Second
)

// trkSkew is the VRRP skew time of priority prio with a 1 s advert:
// (256-prio)/256 s.
func trkSkew(prio int) time.Duration {
	return time.Duration(256-prio) * time.Second / 256
}

// trkLab builds a and b (and eth1 on each when second is set).
func trkLab(t *testing.T, second bool) (a, b *netlab.Host) {
	t.Helper()
	needVigil(t)
	l := netlab.New(t)
	a = l.AddHost("a", "10.78.0.2/24")
	b = l.AddHost("b", "10.78.0.3/24")
	if second {
		l.AddLink(a, "eth1", "10.78.1.2/24")
		l.AddLink(b, "eth1", "10.78.1.3/24")
	}
	return a, b
}

// trkGlobals are the global_defs lines of every test here: scripts must
// pass keepalived's script security checks and run as root (there is no
// keepalived_script user on a test machine).
var trkGlobals = []string{"enable_script_security", "script_user root"}

// trkConf renders global_defs, then the verbatim blocks (vrrp_script,
// vrrp_sync_group), then the instances.
func trkConf(globals []string, blocks string, ins ...Instance) string {
	var b strings.Builder
	b.WriteString(Conf(append(slices.Clone(trkGlobals), globals...)))
	b.WriteString(blocks)
	for _, in := range ins {
		b.WriteString(in.String())
	}
	return b.String()
}

// trkWriteScript writes an executable root-owned script under dir (made by
// t.TempDir: root-owned, mode 0700, under the sticky /tmp, which script
// security accepts) and returns its path.
func trkWriteScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask.
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// trkRecorder writes a script that appends its arguments, after the first
// (the output file), as one line to that file. notify "REC OUT tag" then
// records "tag" plus whatever the daemon appended.
func trkRecorder(t *testing.T, dir string) string {
	return trkWriteScript(t, dir, "rec.sh", "#!/bin/sh\nout=\"$1\"; shift\nprintf '%s\\n' \"$*\" >>\"$out\"\n")
}

// trkLines returns the lines of a file, none when it does not exist yet.
func trkLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// trkWaitLines waits until the file holds exactly want (a file that grows
// past want fails at once: a line too many is wrong, not early).
func trkWaitLines(t *testing.T, timeout time.Duration, path string, want []string) {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("%s = %q", filepath.Base(path), want), func() (bool, error) {
		got := trkLines(path)
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			t.Fatalf("%s = %q, want %q", filepath.Base(path), got, want)
		}
		return len(got) == len(want), fmt.Errorf("got %q", got)
	})
}

// trkLastState returns the target state of v's last state change of the
// named instance, or "".
func trkLastState(v *Vigil, instance string) string {
	ls := v.LogLines(transitionMsg, "instance="+instance+" ")
	if len(ls) == 0 {
		return ""
	}
	l := ls[len(ls)-1]
	i := strings.Index(l, " to=")
	if i < 0 {
		return ""
	}
	return strings.Fields(l[i+len(" to="):])[0]
}

// trkWaitState waits until the last state change of instance on v is to want.
func trkWaitState(t *testing.T, timeout time.Duration, v *Vigil, instance, want string) {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("%s of %s in %s", instance, v.Label, want), func() (bool, error) {
		got := trkLastState(v, instance)
		return got == want, fmt.Errorf("last state %q", got)
	})
}

// trkServer is a TCP server in a node's namespace that the test can stop
// and start again: the "web server" a vrrp_script checks.
type trkServer struct {
	t    *testing.T
	h    *netlab.Host
	port int
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

func newTrkServer(t *testing.T, h *netlab.Host, port int) *trkServer {
	s := &trkServer{t: t, h: h, port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start listens (again) and answers every connection with the node's name.
func (s *trkServer) start() {
	s.t.Helper()
	var ln net.Listener
	err := s.h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		return err
	})
	if err != nil {
		s.t.Fatalf("web server on %s: %v", s.h, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\n\r\n%s\n", s.h)
			c.Close()
		}
	}()
}

// stop closes the listener: connections are refused from now on.
func (s *trkServer) stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	s.wg.Wait()
}

// trkCheckScript is a vrrp_script that succeeds when something accepts a
// TCP connection on 127.0.0.1:port in the daemon's namespace. bash is named
// in the "#!" line: /dev/tcp is a bash feature.
func trkCheckScript(t *testing.T, dir string, port int) string {
	return trkWriteScript(t, dir, "chk_web.sh", fmt.Sprintf("#!/bin/bash\nexec 3<>/dev/tcp/127.0.0.1/%d || exit 1\nexit 0\n", port))
}

// TestTrackScriptWeight: a vrrp_script with weight -60 checks the web
// server on each node; killing it on the master (150) drops the master to
// 90 and the backup (100) takes the VIP within fall*interval plus one
// master down interval; restarting it brings the VIP back (preemption)
// within rise*interval plus a's master down interval.
func TestTrackScriptWeight(t *testing.T) {
	t.Parallel()
	const interval, fall, rise = time.Second, 2, 2
	a, b := trkLab(t, false)
	hosts := []*netlab.Host{a, b}
	dir := t.TempDir()
	chk := trkCheckScript(t, dir, trkWebPrt)
	webA := newTrkServer(t, a, trkWebPrt)
	newTrkServer(t, b, trkWebPrt)
	blocks := fmt.Sprintf("vrrp_script chk_web {\n    script %q\n    interval 1\n    fall %d\n    rise %d\n    weight -60\n}\n", chk, fall, rise)
	in := Instance{AdvertInt: "1", VIPs: []string{trkVIP0 + "/24"}, Extra: []string{"track_script {", "    chk_web", "}"}}
	hi, lo := in, in
	hi.Priority, lo.Priority = 150, 100
	va := StartVigil(t, a, trkConf(nil, blocks, hi))
	WaitVIP(t, 10*time.Second, hosts, "eth0", trkVIP0, a)
	vb := StartVigil(t, b, trkConf(nil, blocks, lo))
	trkWaitState(t, 10*time.Second, vb, "VI_1", "BACKUP")
	// Both checks must have succeeded before the test starts, or a late
	// first result could be taken for the effect of the kill.
	for _, v := range []*Vigil{va, vb} {
		Eventually(t, 5*time.Second, v.Label+": chk_web OK", func() (bool, error) {
			return len(v.LogLines(`msg="vrrp_script succeeded"`, "script=chk_web")) > 0, nil
		})
	}

	killed := time.Now()
	webA.stop()
	moved := WaitVIP(t, 15*time.Second, hosts, "eth0", trkVIP0, b)
	limit := interval*fall + 3*trkAdvert + trkSkew(100) + 2*time.Second
	if d := moved.Sub(killed); d >= limit {
		t.Errorf("VIP moved to b %v after the web server on a died; want < %v", d, limit)
	} else {
		t.Logf("VIP moved to b %v after the web server on a died (limit %v)", d, limit)
	}
	if ls := va.LogLines(`msg="effective priority changed"`, "from=150", "to=90"); len(ls) == 0 {
		t.Errorf("a's log has no change of effective priority from 150 to 90")
	}
	if s := trkLastState(va, "VI_1"); s != "BACKUP" {
		t.Errorf("a's state after its check failed = %q, want BACKUP (weight, not fault)", s)
	}

	restarted := time.Now()
	webA.start()
	back := WaitVIP(t, 15*time.Second, hosts, "eth0", trkVIP0, a)
	limit = interval*rise + 3*trkAdvert + trkSkew(150) + 2*time.Second
	if d := back.Sub(restarted); d >= limit {
		t.Errorf("VIP back on a %v after its web server restarted; want < %v", d, limit)
	} else {
		t.Logf("VIP back on a %v after its web server restarted (limit %v)", d, limit)
	}
	trkStopAll(t, hosts, []string{trkVIP0}, vb, va)
}

// TestTrackInterface: track_interface on a second link. With a weight,
// cutting it lowers the master's priority and the backup takes the VIP;
// without one (keepalived's default) the instance goes FAULT and drops the
// VIP. In both cases repairing the link brings the VIP back.
func TestTrackInterface(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		track     string
		wantState string // a's state while eth1 is cut
	}{
		{"weight", "eth1 weight -60", "BACKUP"},
		{"fault", "eth1", "FAULT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := trkLab(t, true)
			hosts := []*netlab.Host{a, b}
			in := Instance{AdvertInt: "1", VIPs: []string{trkVIP0 + "/24"},
				Extra: []string{"track_interface {", "    " + tt.track, "}"}}
			hi, lo := in, in
			hi.Priority, lo.Priority = 150, 100
			va := StartVigil(t, a, trkConf(nil, "", hi))
			WaitVIP(t, 10*time.Second, hosts, "eth0", trkVIP0, a)
			vb := StartVigil(t, b, trkConf(nil, "", lo))
			trkWaitState(t, 10*time.Second, vb, "VI_1", "BACKUP")

			cut := time.Now()
			if err := a.CutWire("eth1", true); err != nil {
				t.Fatal(err)
			}
			if tt.wantState == "FAULT" {
				// FAULT removes the VIP at once, before b has taken over.
				Eventually(t, 5*time.Second, "VIP gone from a", func() (bool, error) {
					ok, err := HasAddr(a, "eth0", trkVIP0)
					return !ok, err
				})
			}
			moved := WaitVIP(t, 15*time.Second, hosts, "eth0", trkVIP0, b)
			// a sends priority 0 (FAULT) or its lowered priority, which b
			// ignores; b then takes over at its master down interval.
			limit := 3*trkAdvert + trkSkew(100) + 2*time.Second
			if d := moved.Sub(cut); d >= limit {
				t.Errorf("VIP moved to b %v after the cut; want < %v", d, limit)
			}
			trkWaitState(t, 5*time.Second, va, "VI_1", tt.wantState)
			if tt.wantState == "BACKUP" {
				if ls := va.LogLines(`msg="effective priority changed"`, "from=150", "to=90"); len(ls) == 0 {
					t.Errorf("a's log has no change of effective priority from 150 to 90")
				}
				if ls := va.LogLines(transitionMsg, "to=FAULT"); len(ls) != 0 {
					t.Errorf("a went FAULT with a weighted track_interface: %q", ls)
				}
			}

			if err := a.CutWire("eth1", false); err != nil {
				t.Fatal(err)
			}
			WaitVIP(t, 15*time.Second, hosts, "eth0", trkVIP0, a)
			trkWaitState(t, 5*time.Second, va, "VI_1", "MASTER")
			trkStopAll(t, hosts, []string{trkVIP0}, vb, va)
		})
	}
}

// trkStopAll stops the vigils in order with SIGTERM, checks each exited
// cleanly, and that none of vips is left on any host's eth0 or eth1.
func trkStopAll(t *testing.T, hosts []*netlab.Host, vips []string, vigils ...*Vigil) {
	t.Helper()
	for _, v := range vigils {
		if err := v.Stop(); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", v.Label, err)
		}
	}
	for _, vip := range vips {
		for _, ifn := range []string{"eth0", "eth1"} {
			for _, h := range hosts {
				ok, err := HasAddr(h, ifn, vip)
				if err != nil {
					if ifn == "eth1" {
						continue // no second link in this lab
					}
					t.Fatal(err)
				}
				if ok {
					t.Errorf("%s still on %s of %s after every vigil stopped", vip, ifn, h)
				}
			}
		}
	}
}

// trkGroupConf is the sync group setup on one node: VI_1 on eth0 and VI_2
// on eth1 in group G1, with the group's and the instances' generic notify
// scripts recording into dir.
func trkGroupConf(rec, dir string, prio int) string {
	blocks := fmt.Sprintf("vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n"+
		"    notify %q\n    notify_master %q\n    notify_backup %q\n    notify_fault %q\n}\n",
		rec+" "+filepath.Join(dir, "group.log"),
		rec+" "+filepath.Join(dir, "group_state.log")+" master",
		rec+" "+filepath.Join(dir, "group_state.log")+" backup",
		rec+" "+filepath.Join(dir, "group_state.log")+" fault")
	notify := fmt.Sprintf("notify %q", rec+" "+filepath.Join(dir, "inst.log"))
	i1 := Instance{Name: "VI_1", Interface: "eth0", VRID: 51, Priority: prio, AdvertInt: "1",
		VIPs: []string{trkVIP0 + "/24"}, Extra: []string{notify}}
	i2 := Instance{Name: "VI_2", Interface: "eth1", VRID: 52, Priority: prio, AdvertInt: "1",
		VIPs: []string{trkVIP1 + "/24"}, Extra: []string{notify}}
	return trkConf(nil, blocks, i1, i2)
}

// trkWaitBothOn waits until h alone holds both VIPs and returns when each
// first arrived there.
func trkWaitBothOn(t *testing.T, timeout time.Duration, hosts []*netlab.Host, h *netlab.Host) (t0, t1 time.Time) {
	t.Helper()
	Eventually(t, timeout, "both VIPs on "+h.String()+" only", func() (bool, error) {
		g0, err := Holders(hosts, "eth0", trkVIP0)
		if err != nil {
			return false, err
		}
		g1, err := Holders(hosts, "eth1", trkVIP1)
		if err != nil {
			return false, err
		}
		now := time.Now()
		if t0.IsZero() && slices.Equal(g0, []string{h.String()}) {
			t0 = now
		}
		if t1.IsZero() && slices.Equal(g1, []string{h.String()}) {
			t1 = now
		}
		return slices.Equal(g0, []string{h.String()}) && slices.Equal(g1, []string{h.String()}),
			fmt.Errorf("%s on %v, %s on %v", trkVIP0, g0, trkVIP1, g1)
	})
	return t0, t1
}

// TestSyncGroupFailover: a vrrp_sync_group of two instances on two links.
// When either member's link is cut on the master, both VIPs move to the
// other node together, and come back together when it is repaired. The
// group's notify script receives keepalived's GROUP lines and the members'
// their INSTANCE lines.
func TestSyncGroupFailover(t *testing.T) {
	t.Parallel()
	for _, ifn := range []string{"eth0", "eth1"} {
		t.Run("cut "+ifn, func(t *testing.T) {
			t.Parallel()
			a, b := trkLab(t, true)
			hosts := []*netlab.Host{a, b}
			dir := t.TempDir()
			rec := trkRecorder(t, dir)
			da, db := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			for _, d := range []string{da, db} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			va := StartVigil(t, a, trkGroupConf(rec, da, 150))
			trkWaitBothOn(t, 10*time.Second, hosts, a)
			vb := StartVigil(t, b, trkGroupConf(rec, db, 100))
			trkWaitState(t, 10*time.Second, vb, "VI_1", "BACKUP")
			trkWaitState(t, 10*time.Second, vb, "VI_2", "BACKUP")

			if err := a.CutWire(ifn, true); err != nil {
				t.Fatal(err)
			}
			t0, t1 := trkWaitBothOn(t, 15*time.Second, hosts, b)
			if d := t0.Sub(t1).Abs(); d > time.Second {
				t.Errorf("the VIPs reached b %v apart; a sync group moves them together", d)
			}
			trkWaitState(t, 5*time.Second, va, "VI_1", "FAULT")
			trkWaitState(t, 5*time.Second, va, "VI_2", "FAULT")

			if err := a.CutWire(ifn, false); err != nil {
				t.Fatal(err)
			}
			t0, t1 = trkWaitBothOn(t, 15*time.Second, hosts, a)
			if d := t0.Sub(t1).Abs(); d > time.Second {
				t.Errorf("the VIPs came back to a %v apart; a sync group moves them together", d)
			}

			// What keepalived's scripts receive for the same story; the
			// group's priority is always 0.
			trkWaitLines(t, 5*time.Second, filepath.Join(da, "group.log"), []string{
				"GROUP G1 BACKUP 0", "GROUP G1 MASTER 0", "GROUP G1 FAULT 0", "GROUP G1 BACKUP 0", "GROUP G1 MASTER 0"})
			trkWaitLines(t, 5*time.Second, filepath.Join(da, "group_state.log"), []string{
				"backup", "master", "fault", "backup", "master"})
			trkWaitLines(t, 5*time.Second, filepath.Join(db, "group.log"), []string{
				"GROUP G1 BACKUP 0", "GROUP G1 MASTER 0", "GROUP G1 BACKUP 0"})
			// The members' own lines, per member (their relative order is
			// not defined).
			for _, st := range []struct {
				dir    string
				prio   int
				states []string
			}{
				{da, 150, []string{"BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER"}},
				{db, 100, []string{"BACKUP", "MASTER", "BACKUP"}},
			} {
				for _, name := range []string{"VI_1", "VI_2"} {
					var want []string
					for _, s := range st.states {
						want = append(want, fmt.Sprintf("INSTANCE %s %s %d", name, s, st.prio))
					}
					var got []string
					for _, l := range trkLines(filepath.Join(st.dir, "inst.log")) {
						if strings.HasPrefix(l, "INSTANCE "+name+" ") {
							got = append(got, l)
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s: notify lines of %s = %q, want %q", filepath.Base(st.dir), name, got, want)
					}
				}
			}

			trkStopAll(t, hosts, []string{trkVIP0, trkVIP1}, vb, va)
			// At shutdown keepalived reports the group stopping: the last
			// line is GROUP G1 STOP 0, on each node.
			for _, d := range []string{da, db} {
				ls := trkLines(filepath.Join(d, "group.log"))
				if len(ls) == 0 || ls[len(ls)-1] != "GROUP G1 STOP 0" {
					t.Errorf("%s: group notify lines after shutdown = %q; want the last to be %q", filepath.Base(d), ls, "GROUP G1 STOP 0")
				}
			}
		})
	}
}

// TestNotifyScripts: notify_master, notify_backup, notify_fault and
// notify_stop run on their transitions with no argument added, and the
// generic notify script gets INSTANCE, the name, the state and the
// priority, in that order, for every transition.
func TestNotifyScripts(t *testing.T) {
	t.Parallel()
	a, b := trkLab(t, false)
	hosts := []*netlab.Host{a, b}
	dir := t.TempDir()
	rec := trkRecorder(t, dir)
	conf := func(prio int, out string) string {
		in := Instance{AdvertInt: "1", Priority: prio, VIPs: []string{trkVIP0 + "/24"}, Extra: []string{
			fmt.Sprintf("notify_master %q", rec+" "+out+"_state.log master"),
			fmt.Sprintf("notify_backup %q", rec+" "+out+"_state.log backup"),
			fmt.Sprintf("notify_fault %q", rec+" "+out+"_state.log fault"),
			fmt.Sprintf("notify_stop %q", rec+" "+out+"_state.log stop"),
			fmt.Sprintf("notify %q", rec+" "+out+"_notify.log"),
		}}
		return trkConf(nil, "", in)
	}
	outA, outB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	va := StartVigil(t, a, conf(150, outA))
	WaitVIP(t, 10*time.Second, hosts, "eth0", trkVIP0, a)
	trkWaitLines(t, 5*time.Second, outA+"_notify.log", []string{"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150"})
	vb := StartVigil(t, b, conf(100, outB))
	trkWaitLines(t, 10*time.Second, outB+"_notify.log", []string{"INSTANCE VI_1 BACKUP 100"})

	if err := a.CutWire("eth0", true); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 15*time.Second, hosts, "eth0", trkVIP0, b)
	trkWaitLines(t, 5*time.Second, outA+"_notify.log", []string{
		"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 FAULT 150"})
	trkWaitLines(t, 5*time.Second, outB+"_notify.log", []string{"INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100"})

	if err := a.CutWire("eth0", false); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 15*time.Second, hosts, "eth0", trkVIP0, a)
	// b first, so a's stop does not make b master again.
	trkStopAll(t, hosts, []string{trkVIP0}, vb, va)
	trkWaitLines(t, 5*time.Second, outA+"_notify.log", []string{
		"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 FAULT 150",
		"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 STOP 150"})
	trkWaitLines(t, 5*time.Second, outA+"_state.log", []string{"backup", "master", "fault", "backup", "master", "stop"})
	trkWaitLines(t, 5*time.Second, outB+"_notify.log", []string{
		"INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100", "INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 STOP 100"})
	trkWaitLines(t, 5*time.Second, outB+"_state.log", []string{"backup", "master", "backup", "stop"})
}

// trkFIFOReader opens the FIFO read-write (so it never sees end of file
// while the daemon has it closed) and collects its lines until cleanup.
type trkFIFOReader struct {
	mu    sync.Mutex
	lines []string
}

func newTrkFIFOReader(t *testing.T, path string) *trkFIFOReader {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &trkFIFOReader{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		f.Close() // a FIFO is pollable: this ends the blocked read
		wg.Wait()
	})
	return r
}

func (r *trkFIFOReader) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// waitLines waits until the reader has exactly want.
func (r *trkFIFOReader) waitLines(t *testing.T, timeout time.Duration, want []string) {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("FIFO lines %q", want), func() (bool, error) {
		got := r.get()
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			t.Fatalf("FIFO lines = %q, want %q", got, want)
		}
		return len(got) == len(want), fmt.Errorf("got %q", got)
	})
}

// TestNotifyFIFO: global notify_fifo receives keepalived's lines,
// INSTANCE "VI_1" MASTER 150 and so on, for every transition and the stop.
func TestNotifyFIFO(t *testing.T) {
	t.Parallel()
	a, _ := trkLab(t, false)
	fifo := filepath.Join(t.TempDir(), "vrrp.fifo")
	r := newTrkFIFOReader(t, fifo)
	in := Instance{AdvertInt: "1", Priority: 150, VIPs: []string{trkVIP0 + "/24"}}
	va := StartVigil(t, a, trkConf([]string{"notify_fifo " + fifo}, "", in))
	want := []string{`INSTANCE "VI_1" BACKUP 150`, `INSTANCE "VI_1" MASTER 150`}
	r.waitLines(t, 10*time.Second, want)
	if err := a.CutWire("eth0", true); err != nil {
		t.Fatal(err)
	}
	want = append(want, `INSTANCE "VI_1" FAULT 150`)
	r.waitLines(t, 5*time.Second, want)
	if err := a.CutWire("eth0", false); err != nil {
		t.Fatal(err)
	}
	want = append(want, `INSTANCE "VI_1" BACKUP 150`, `INSTANCE "VI_1" MASTER 150`)
	r.waitLines(t, 10*time.Second, want)
	if err := va.Stop(); err != nil {
		t.Errorf("%s: exit after SIGTERM: %v", va.Label, err)
	}
	want = append(want, `INSTANCE "VI_1" STOP 150`)
	r.waitLines(t, 5*time.Second, want)
	// The daemon did not create the FIFO, so it must leave it in place.
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO made by the test is gone or changed after the stop: %v", err)
	}
}

// trkMail is one SMTP session as the test server saw it.
type trkMail struct {
	helo, from string
	rcpt       []string
	header     map[string]string
	body       []string
}

// trkSMTP is a minimal SMTP server: greeting, EHLO/HELO, MAIL, RCPT, DATA
// (dot-terminated), QUIT. It keeps every complete message.
type trkSMTP struct {
	mu    sync.Mutex
	mails []trkMail
}

func startTrkSMTP(t *testing.T, h *netlab.Host, addr string) *trkSMTP {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("SMTP server in %s: %v", h, err)
	}
	s := &trkSMTP{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.session(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

func (s *trkSMTP) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(c)
	reply := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	reply("220 test.example ESMTP")
	var m trkMail
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO "), strings.HasPrefix(cmd, "HELO "):
			m = trkMail{helo: line[5:], header: map[string]string{}}
			reply("250 test.example")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m.from = line
			reply("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			m.rcpt = append(m.rcpt, line)
			reply("250 OK")
		case cmd == "DATA":
			reply("354 go ahead")
			inBody := false
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "." {
					break
				}
				l = strings.TrimPrefix(l, ".") // dot-stuffing
				switch {
				case inBody:
					m.body = append(m.body, l)
				case l == "":
					inBody = true
				default:
					if k, v, ok := strings.Cut(l, ": "); ok {
						m.header[k] = v
					}
				}
			}
			s.mu.Lock()
			s.mails = append(s.mails, m)
			s.mu.Unlock()
			reply("250 OK queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		case cmd == "RSET" || cmd == "NOOP":
			reply("250 OK")
		default:
			reply("502 not implemented")
		}
	}
}

func (s *trkSMTP) get() []trkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// TestNotifySMTPAlert: with smtp_alert, the transitions are mailed through
// the smtp_server of global_defs: first "Entering BACKUP state" (the
// initial state), then "Entering MASTER state", with keepalived's
// envelope, headers and body.
func TestNotifySMTPAlert(t *testing.T) {
	t.Parallel()
	a, _ := trkLab(t, false)
	srv := startTrkSMTP(t, a, "127.0.0.1:2525")
	globals := []string{
		"router_id RT_A",
		"notification_email {", "    ops@example.org", "    oncall@example.org", "}",
		"notification_email_from vrrp@example.org",
		"smtp_server 127.0.0.1 2525",
		"smtp_connect_timeout 5",
	}
	in := Instance{AdvertInt: "1", Priority: 150, VIPs: []string{trkVIP0 + "/24"}, Extra: []string{"smtp_alert"}}
	va := StartVigil(t, a, trkConf(globals, "", in))
	WaitVIP(t, 10*time.Second, []*netlab.Host{a}, "eth0", trkVIP0, a)
	var mails []trkMail
	Eventually(t, 10*time.Second, "two mails", func() (bool, error) {
		mails = srv.get()
		return len(mails) >= 2, fmt.Errorf("%d so far", len(mails))
	})
	host, _ := os.Hostname()
	want := []struct{ subject, body string }{
		{"[RT_A] VRRP Instance VI_1 - Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="},
		{"[RT_A] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="},
	}
	for i, w := range want {
		m := mails[i]
		if m.header["Subject"] != w.subject {
			t.Errorf("mail %d: subject %q, want %q", i, m.header["Subject"], w.subject)
		}
		if len(m.body) == 0 || m.body[0] != w.body {
			t.Errorf("mail %d: body %q, want first line %q", i, m.body, w.body)
		}
		if m.from != "MAIL FROM:<vrrp@example.org>" || !slices.Equal(m.rcpt, []string{"RCPT TO:<ops@example.org>", "RCPT TO:<oncall@example.org>"}) {
			t.Errorf("mail %d: envelope %q %q", i, m.from, m.rcpt)
		}
		if m.header["From"] != "vrrp@example.org" || m.header["To"] != "ops@example.org, oncall@example.org" || m.header["X-Mailer"] != "Keepalived" {
			t.Errorf("mail %d: headers %q", i, m.header)
		}
		// smtp_helo_name defaults to the local host name.
		if m.helo != host {
			t.Errorf("mail %d: HELO/EHLO %q, want the host name %q", i, m.helo, host)
		}
	}
	if ls := va.LogLines(`msg="SMTP alert sent"`, "state=MASTER"); len(ls) != 1 {
		t.Errorf("log lines for the MASTER alert = %q, want one", ls)
	}
	if err := va.Stop(); err != nil {
		t.Errorf("%s: exit after SIGTERM: %v", va.Label, err)
	}
}

// trkPkt is one VRRP packet seen by trkCapture.
type trkPkt struct {
	at   time.Time
	src  netip.Addr
	vrid uint8
	prio uint8
}

// trkCapture records the VRRP packets (IPv4 protocol 112) reaching a
// node, on a raw socket of its own that joined the VRRP group itself.
type trkCapture struct {
	mu   sync.Mutex
	pkts []trkPkt
}

func startTrkCapture(t *testing.T, h *netlab.Host, ifname string) *trkCapture {
	t.Helper()
	var conn net.PacketConn
	err := h.Do(func() error {
		var err error
		conn, err = net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			err = ipv4.NewPacketConn(conn).JoinGroup(ifi, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)})
		}
		if err != nil {
			conn.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("VRRP capture in %s: %v", h, err)
	}
	c := &trkCapture{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			// The IPv4 header is stripped: VRID in byte 1, priority in 2.
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			ipa, ok := from.(*net.IPAddr)
			if n < 3 || !ok {
				continue
			}
			src, _ := netip.AddrFromSlice(ipa.IP)
			c.mu.Lock()
			c.pkts = append(c.pkts, trkPkt{at: time.Now(), src: src.Unmap(), vrid: buf[1], prio: buf[2]})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		wg.Wait()
	})
	return c
}

// from returns the packets of vrid sent by src since a time.
func (c *trkCapture) from(src netip.Addr, vrid uint8, since time.Time) []trkPkt {
	c.mu.Lock()
	defer c.mu.Unlock()
	var res []trkPkt
	for _, p := range c.pkts {
		if p.src == src && p.vrid == vrid && !p.at.Before(since) {
			res = append(res, p)
		}
	}
	return res
}

// trkProcsWith returns the pids of processes having arg among their
// command line arguments.
func trkProcsWith(arg string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(b), "\x00"), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestTrackScriptTimeout: a vrrp_script that never ends (timeout 2) is
// killed at its timeout, with the processes it started, and counts as a
// failure (weight -10: the master's adverts go down to 140); meanwhile the
// master's adverts keep their 1 s interval, and nothing is left running
// after the daemon stops.
func TestTrackScriptTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	a, b := trkLab(t, false)
	hosts := []*netlab.Host{a, b}
	dir := t.TempDir()
	n, err := rand.Int(rand.Reader, big.NewInt(900000))
	if err != nil {
		t.Fatal(err)
	}
	// A sleep argument no other process on the machine has, to find the
	// script's child.
	mark := fmt.Sprintf("86399.%06d", n.Int64()+100000)
	starts := filepath.Join(dir, "starts")
	// sleep runs as a child of the shell, not exec'ed: the kill must take
	// the script's whole process group.
	hang := trkWriteScript(t, dir, "hang.sh", fmt.Sprintf("#!/bin/sh\ndate +%%s.%%N >>%s\nsleep %s\necho never >>%s\n", starts, mark, starts))
	blocks := fmt.Sprintf("vrrp_script hang {\n    script %q\n    interval 1\n    timeout 2\n    fall 1\n    rise 1\n    weight -10\n}\n", hang)
	in := Instance{AdvertInt: "1", VIPs: []string{trkVIP0 + "/24"}, Priority: 150, Extra: []string{"track_script {", "    hang", "}"}}
	capB := startTrkCapture(t, b, "eth0")
	vb := StartVigil(t, b, trkConf(nil, "", Instance{AdvertInt: "1", Priority: 100, VIPs: []string{trkVIP0 + "/24"}}))
	va := StartVigil(t, a, trkConf(nil, blocks, in))
	WaitVIP(t, 15*time.Second, hosts, "eth0", trkVIP0, a)
	since := time.Now()

	// Four runs: three timeouts seen, with the master's adverts under
	// watch all along. At no moment may two of the script's sleeps run.
	seen := false // the search below does find the script's sleep
	Eventually(t, 20*time.Second, "four runs of the hanging script", func() (bool, error) {
		p := trkProcsWith(mark)
		if len(p) > 1 {
			t.Fatalf("%d sleeps of the script running at once (pids %v): a timed-out run was not killed", len(p), p)
		}
		seen = seen || len(p) == 1
		return len(trkLines(starts)) >= 4, fmt.Errorf("%d runs", len(trkLines(starts)))
	})
	if !seen {
		t.Fatalf("never saw the script's sleep %s running", mark)
	}
	var at []float64
	for _, l := range trkLines(starts) {
		if l == "never" {
			t.Fatal("the script's sleep ended by itself: it was not killed")
		}
		f, err := strconv.ParseFloat(l, 64)
		if err != nil {
			t.Fatalf("starts file: %v", err)
		}
		at = append(at, f)
	}
	for i := 1; i < len(at); i++ {
		d := time.Duration((at[i] - at[i-1]) * float64(time.Second))
		// Killed at the timeout; the next run starts at the next interval.
		if d < timeout-200*time.Millisecond || d > timeout+trkAdvert+time.Second {
			t.Errorf("runs %d and %d started %v apart; want the %v timeout plus at most one interval", i-1, i, d, timeout)
		}
	}
	if ls := va.LogLines(`msg="vrrp_script failed"`, "script=hang", `result="timed out"`); len(ls) == 0 {
		t.Errorf("no log line for the script's failure by timeout")
	}

	srcA := netip.MustParseAddr("10.78.0.2")
	ps := capB.from(srcA, 51, since)
	if len(ps) < 5 {
		t.Fatalf("only %d adverts from a captured on b in %v", len(ps), time.Since(since))
	}
	var gap time.Duration
	for i := 1; i < len(ps); i++ {
		gap = max(gap, ps[i].at.Sub(ps[i-1].at))
	}
	if gap >= trkAdvert+500*time.Millisecond {
		t.Errorf("longest gap between a's adverts while its script hung: %v; want < %v", gap, trkAdvert+500*time.Millisecond)
	}
	if last := ps[len(ps)-1].prio; last != 140 {
		t.Errorf("a advertises priority %d while its script fails; want 150-10 = 140", last)
	}
	if s := trkLastState(vb, "VI_1"); s != "BACKUP" {
		t.Errorf("b's state = %q, want BACKUP (a at 140 still wins)", s)
	}

	trkStopAll(t, hosts, []string{trkVIP0}, vb, va)
	Eventually(t, 5*time.Second, "no sleep of the script left", func() (bool, error) {
		p := trkProcsWith(mark)
		return len(p) == 0, fmt.Errorf("pids %v", p)
	})
}
