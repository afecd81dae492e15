package e2e

// Reload (SIGHUP) end to end: a master with three instances and a backup,
// and what a reload may and may not do to them. The acceptance is seen from
// outside the daemons: addresses on the hosts, state change lines in the
// logs, and the master's adverts as the backup's namespace receives them.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"vigil/internal/netlab"
)

// The reload lab: master m (.2) and backup k (.3) on 10.78.0.0/24.
const (
	rlMasterAddr = "10.78.0.2"
	rlBackupAddr = "10.78.0.3"
	// rlAdvertInt is every instance's advert_int; rlGapLimit is the longest
	// silence between two adverts of one VRID that still counts as "no gap":
	// one interval plus half of one for scheduling jitter under -race.
	rlAdvertInt = time.Second
	rlGapLimit  = rlAdvertInt + rlAdvertInt/2
	// rlDownWait is longer than a backup's master down interval (3 x 1 s +
	// skew) with a margin: a backup that was going to take over has done
	// so by then.
	rlDownWait = 4500 * time.Millisecond
)

// rlInstances returns the lab's three instances (VRIDs 61..63, two VIPs
// each) with the given state and priority.
func rlInstances(state string, prio int) []Instance {
	var ins []Instance
	for n := 1; n <= 3; n++ {
		ins = append(ins, Instance{
			Name:      fmt.Sprintf("VI_%d", n),
			State:     state,
			VRID:      60 + n,
			Priority:  prio,
			AdvertInt: "1",
			VIPs: []string{
				fmt.Sprintf("10.78.0.%d/24", 100+n),
				fmt.Sprintf("10.78.0.%d/24", 110+n),
			},
		})
	}
	return ins
}

// vipsOf returns the addresses (without prefix length) of the instances'
// virtual_ipaddress lines.
func vipsOf(ins ...Instance) []string {
	var res []string
	for _, in := range ins {
		for _, v := range in.VIPs {
			res = append(res, strings.SplitN(v, "/", 2)[0])
		}
	}
	return res
}

// reloadLab is a master and a backup running the three instances, the
// master holding every VIP.
type reloadLab struct {
	m, k    *netlab.Host
	hosts   []*netlab.Host
	mIns    []Instance // the master's instances, as first written
	kIns    []Instance // the backup's
	vm, vk  *Vigil
	capture *vrrpCapture // adverts as the backup's namespace receives them
	mAddr   netip.Addr
	allVIPs []string // every VIP of mIns
}

// newReloadLab starts the master alone, waits until it holds every VIP,
// then starts the backup and waits until each of its instances is BACKUP.
// The capture in the backup's namespace runs from before either starts.
func newReloadLab(t *testing.T) *reloadLab {
	t.Helper()
	needVigil(t)
	l := netlab.New(t)
	r := &reloadLab{
		m:     l.AddHost("m", rlMasterAddr+"/24"),
		k:     l.AddHost("k", rlBackupAddr+"/24"),
		mIns:  rlInstances("MASTER", 150),
		kIns:  rlInstances("BACKUP", 100),
		mAddr: netip.MustParseAddr(rlMasterAddr),
	}
	r.hosts = []*netlab.Host{r.m, r.k}
	r.allVIPs = vipsOf(r.mIns...)
	r.capture = startCapture(t, r.k, "eth0")
	r.vm = StartVigil(t, r.m, Conf(nil, r.mIns...))
	for _, vip := range r.allVIPs {
		WaitVIP(t, 10*time.Second, r.hosts, "eth0", vip, r.m)
	}
	r.vk = StartVigil(t, r.k, Conf(nil, r.kIns...))
	for _, in := range r.kIns {
		WaitVRRPState(t, 5*time.Second, r.vk.Label, r.vk, in.Name, "BACKUP")
	}
	return r
}

// holdsExactly reports nil when the master carries every one of want and
// the backup none of them, else an error saying what is wrong.
func (r *reloadLab) holdsExactly(want []string) error {
	for _, vip := range want {
		got, err := Holders(r.hosts, "eth0", vip)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0] != r.m.String() {
			return fmt.Errorf("%s held by %v, want [%s]", vip, got, r.m)
		}
	}
	return nil
}

// stateChanges counts v's state change lines, of the named instances only
// when names are given.
func stateChanges(v *Vigil, names ...string) int {
	if len(names) == 0 {
		return len(v.LogLines(transitionMsg))
	}
	n := 0
	for _, name := range names {
		n += len(v.LogLines(transitionMsg, "instance="+name+" "))
	}
	return n
}

// Outcome lines of a reload in Vigil's log.
const (
	logReloaded = "msg=reloaded "
	logRefused  = `msg="reload refused; the running configuration is unchanged"`
)

// sighup writes conf as v's configuration file and sends SIGHUP, without
// waiting. It returns how many reload outcome lines the log had before, for
// waitReload.
func sighup(t *testing.T, v *Vigil, conf string) int {
	t.Helper()
	before := len(v.LogLines(logReloaded)) + len(v.LogLines(logRefused))
	writeConf(t, v, conf)
	if err := v.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to %s: %v", v.Label, err)
	}
	return before
}

// waitReload waits for the outcome line of the reload sighup started and
// returns it: a "reloaded" line with the counts, or the refusal. Only one
// of them may be logged per reload.
func waitReload(t *testing.T, v *Vigil, before int) string {
	t.Helper()
	var first string
	Eventually(t, 5*time.Second, v.Label+" logs the outcome of the reload", func() (bool, error) {
		var ls []string
		for _, l := range v.LogLines() {
			if strings.Contains(l, logReloaded) || strings.Contains(l, logRefused) {
				ls = append(ls, l)
			}
		}
		if len(ls) > before {
			// The first one: a refusal must not follow a "reloaded".
			first = ls[before]
			return true, nil
		}
		return false, nil
	})
	if !v.Running() {
		t.Fatalf("%s exited during the reload", v.Label)
	}
	return first
}

// reload is sighup and waitReload.
func reload(t *testing.T, v *Vigil, conf string) string {
	t.Helper()
	return waitReload(t, v, sighup(t, v, conf))
}

// writeConf replaces v's configuration file.
func writeConf(t *testing.T, v *Vigil, conf string) {
	t.Helper()
	if err := os.WriteFile(v.ConfFile, []byte(conf), 0o644); err != nil {
		t.Fatalf("e2e: write config: %v", err)
	}
}

// wantCounts fails unless the reloaded line carries every key=value of want.
func wantCounts(t *testing.T, label, line string, want map[string]int) {
	t.Helper()
	if !strings.Contains(line, logReloaded) {
		t.Fatalf("%s: reload outcome = %q, want a %q line", label, line, strings.TrimSpace(logReloaded))
	}
	for k, n := range want {
		if !strings.Contains(line+" ", fmt.Sprintf(" %s=%d ", k, n)) {
			t.Errorf("%s: reload summary %q, want %s=%d", label, line, k, n)
		}
	}
}

// advert is one VRRP packet as the capture saw it.
type advert struct {
	at   time.Time
	src  netip.Addr
	vrid uint8
	prio uint8
}

// vrrpCapture records every VRRP packet (IP protocol 112) arriving in a
// host's namespace, with its arrival time, on a raw socket that joined the
// VRRP group itself so that it does not depend on what the daemons joined.
type vrrpCapture struct {
	conn net.PacketConn
	wg   sync.WaitGroup
	mu   sync.Mutex
	pkts []advert
}

// startCapture opens the raw socket inside h's namespace and reads until
// the test's cleanup closes it.
func startCapture(t *testing.T, h *netlab.Host, ifname string) *vrrpCapture {
	t.Helper()
	c := &vrrpCapture{}
	err := h.Do(func() error {
		conn, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			conn.Close()
			return err
		}
		if err := ipv4.NewPacketConn(conn).JoinGroup(ifi, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)}); err != nil {
			conn.Close()
			return err
		}
		c.conn = conn
		return nil
	})
	if err != nil {
		t.Fatalf("e2e: VRRP capture in %s: %v", h, err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 1500)
		// Ends when the socket is closed at cleanup.
		for {
			// For "ip4" sockets the IPv4 header is stripped: buf holds the
			// VRRP header, VRID in byte 1 and priority in byte 2.
			n, from, err := c.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			at := time.Now()
			ipa, ok := from.(*net.IPAddr)
			if n < 3 || !ok {
				continue
			}
			src, _ := netip.AddrFromSlice(ipa.IP)
			c.mu.Lock()
			c.pkts = append(c.pkts, advert{at: at, src: src.Unmap(), vrid: buf[1], prio: buf[2]})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.conn.Close()
		c.wg.Wait()
	})
	return c
}

// from returns the adverts of vrid sent by src, in arrival order.
func (c *vrrpCapture) from(src netip.Addr, vrid uint8) []advert {
	c.mu.Lock()
	defer c.mu.Unlock()
	var res []advert
	for _, p := range c.pkts {
		if p.src == src && p.vrid == vrid {
			res = append(res, p)
		}
	}
	return res
}

// waitAdverts waits until the capture holds at least n adverts of vrid
// from src that arrived after since.
func (c *vrrpCapture) waitAdverts(t *testing.T, src netip.Addr, vrid uint8, since time.Time, n int) {
	t.Helper()
	Eventually(t, time.Duration(n+3)*rlAdvertInt, fmt.Sprintf("%d adverts of VRID %d from %v", n, vrid, src), func() (bool, error) {
		got := 0
		for _, p := range c.from(src, vrid) {
			if p.at.After(since) {
				got++
			}
		}
		return got >= n, fmt.Errorf("%d so far", got)
	})
}

// maxGap returns the longest time between two consecutive adverts and
// where it ended.
func maxGap(ps []advert) (time.Duration, time.Time) {
	var gap time.Duration
	var at time.Time
	for i := 1; i < len(ps); i++ {
		if d := ps[i].at.Sub(ps[i-1].at); d > gap {
			gap, at = d, ps[i].at
		}
	}
	return gap, at
}

// TestReloadUnchanged: SIGHUP with the same file touches nothing: no
// transition on either node, every VIP stays, and the master's adverts go
// on at their pace with no gap the backup could notice.
func TestReloadUnchanged(t *testing.T) {
	t.Parallel()
	r := newReloadLab(t)
	// Some adverts before the reload, so the gap check covers both sides.
	base := time.Now()
	for _, in := range r.mIns {
		r.capture.waitAdverts(t, r.mAddr, uint8(in.VRID), base, 2)
	}
	mBefore, kBefore := stateChanges(r.vm), stateChanges(r.vk)

	sent := time.Now()
	line := reload(t, r.vm, Conf(nil, r.mIns...))
	done := time.Now()
	wantCounts(t, r.vm.Label, line, map[string]int{"unchanged": 3, "addresses_changed": 0, "restarted": 0, "added": 0, "removed": 0})
	// Watch the wire for a few intervals after it: until each VRID has had
	// two more adverts from the master, or long enough that a silence would
	// show (a silent master fails the gap check below, not this wait).
	for deadline := done.Add(4 * rlAdvertInt); time.Now().Before(deadline); time.Sleep(pollEvery) {
		enough := true
		for _, in := range r.mIns {
			n := 0
			for _, p := range r.capture.from(r.mAddr, uint8(in.VRID)) {
				if p.at.After(done) {
					n++
				}
			}
			enough = enough && n >= 2
		}
		if enough {
			break
		}
	}
	// The window: from up to three intervals before the signal (not before
	// the adverts waited for above) up to now. Its edges count as adverts,
	// so a master silent since the reload has a gap too.
	from, to := sent.Add(-3*rlAdvertInt), time.Now()
	if from.Before(base) {
		from = base
	}
	for _, in := range r.mIns {
		var ps []advert
		for _, p := range r.capture.from(r.mAddr, uint8(in.VRID)) {
			if p.at.After(from) && p.at.Before(to) {
				ps = append(ps, p)
				if p.prio != 150 {
					t.Errorf("VRID %d: advert with priority %d at %v, want 150 throughout", in.VRID, p.prio, p.at.Format(time.StampMilli))
				}
			}
		}
		gap, at := maxGap(slices.Concat([]advert{{at: from}}, ps, []advert{{at: to}}))
		t.Logf("VRID %d: %d adverts from %v to %v, longest gap %v", in.VRID, len(ps), from.Format(time.StampMilli), to.Format(time.StampMilli), gap)
		if gap >= rlGapLimit {
			t.Errorf("VRID %d: %v without an advert from the master, ending at %v (reload %v..%v); want < %v",
				in.VRID, gap, at.Format(time.StampMilli), sent.Format(time.StampMilli), done.Format(time.StampMilli), rlGapLimit)
		}
	}
	if err := r.holdsExactly(r.allVIPs); err != nil {
		t.Error(err)
	}
	if n := stateChanges(r.vm) - mBefore; n != 0 {
		t.Errorf("master: %d state changes after an unchanged reload, want 0", n)
	}
	if n := stateChanges(r.vk) - kBefore; n != 0 {
		t.Errorf("backup: %d state changes during the master's reload, want 0", n)
	}
}

// TestReloadAddVIP: a VIP added to one instance appears on the master while
// every other VIP stays, with no transition anywhere.
func TestReloadAddVIP(t *testing.T) {
	t.Parallel()
	r := newReloadLab(t)
	const added = "10.78.0.122"
	mBefore, kBefore := stateChanges(r.vm), stateChanges(r.vk)
	r.mIns[1].VIPs = append(slices.Clone(r.mIns[1].VIPs), added+"/24")
	r.kIns[1].VIPs = append(slices.Clone(r.kIns[1].VIPs), added+"/24")

	// The backup first, so that it knows the new list when the master
	// starts advertising it.
	wantCounts(t, r.vk.Label, reload(t, r.vk, Conf(nil, r.kIns...)),
		map[string]int{"unchanged": 2, "addresses_changed": 1, "restarted": 0})
	before := sighup(t, r.vm, Conf(nil, r.mIns...))
	// From the signal on, at every poll: every original VIP on the master
	// and nowhere else.
	Never(t, 2*time.Second, "an original VIP missing from the master (or on the backup)", func() (bool, error) {
		return r.holdsExactly(r.allVIPs) != nil, nil
	})
	wantCounts(t, r.vm.Label, waitReload(t, r.vm, before),
		map[string]int{"unchanged": 2, "addresses_changed": 1, "restarted": 0, "added": 0, "removed": 0})
	WaitVIP(t, 5*time.Second, r.hosts, "eth0", added, r.m)
	// Past a master down interval: the backup saw nothing to act on.
	Never(t, rlDownWait, "a VIP missing from the master (or on the backup)", func() (bool, error) {
		return r.holdsExactly(append(slices.Clone(r.allVIPs), added)) != nil, nil
	})
	if n := stateChanges(r.vm) - mBefore; n != 0 {
		t.Errorf("master: %d state changes after adding a VIP, want 0", n)
	}
	if n := stateChanges(r.vk) - kBefore; n != 0 {
		t.Errorf("backup: %d state changes, want 0", n)
	}
}

// TestReloadBrokenConfigRefused: a file with an error Vigil never runs past
// (a priority out of range; an unknown keyword would be run past, as
// keepalived does: TestTolerantStartAndReload) is refused with its
// file:line and changes nothing; a corrected file is then applied.
func TestReloadBrokenConfigRefused(t *testing.T) {
	t.Parallel()
	r := newReloadLab(t)
	mBefore, kBefore := stateChanges(r.vm), stateChanges(r.vk)

	const bogus = "priority 300"
	broken := slices.Clone(r.mIns)
	broken[1].Extra = []string{bogus}
	// Also a change that would be visible had the file been applied.
	broken[0].VIPs = []string{"10.78.0.131/24"}
	conf := Conf(nil, broken...)
	line := 0
	for i, l := range strings.Split(conf, "\n") {
		if strings.TrimSpace(l) == bogus {
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatalf("test bug: %q not in the rendered config", bogus)
	}

	out := reload(t, r.vm, conf)
	if !strings.Contains(out, logRefused) {
		t.Fatalf("reload of a broken file: outcome %q, want the refusal", out)
	}
	where := fmt.Sprintf("%s:%d", r.vm.ConfFile, line)
	if ls := r.vm.LogLines("level=ERROR", `priority: 300 is out of range`, where); len(ls) == 0 {
		t.Errorf("no ERROR line naming the bad priority at %s; log:\n%s", where, r.vm.Tail(20))
	}
	Never(t, rlDownWait, "a VIP change after a refused reload", func() (bool, error) {
		if err := r.holdsExactly(r.allVIPs); err != nil {
			return true, nil
		}
		return HasAddr(r.m, "eth0", "10.78.0.131")
	})
	if n := stateChanges(r.vm) - mBefore; n != 0 {
		t.Errorf("master: %d state changes after a refused reload, want 0", n)
	}
	if n := stateChanges(r.vk) - kBefore; n != 0 {
		t.Errorf("backup: %d state changes, want 0", n)
	}

	// A file that parses but cannot run (an instance on an interface this
	// host lacks: only a warning for the parser, but no address to send
	// from) is refused as a whole too, without claiming to have reloaded.
	missing := append(slices.Clone(broken), Instance{
		Name: "VI_9", State: "MASTER", Interface: "eth9", VRID: 69, Priority: 150,
		AdvertInt: "1", VIPs: []string{"10.78.0.109/24"},
	})
	missing[1].Extra = nil
	out = reload(t, r.vm, Conf(nil, missing...))
	if !strings.Contains(out, logRefused) || !strings.Contains(out, "eth9") {
		t.Errorf("reload with an instance on a missing interface: outcome %q, want the refusal naming eth9", out)
	}
	Never(t, 1500*time.Millisecond, "a VIP change after a refused reload", func() (bool, error) {
		if err := r.holdsExactly(r.allVIPs); err != nil {
			return true, nil
		}
		return HasAddr(r.m, "eth0", "10.78.0.131")
	})

	// The same change without the bad line is applied.
	fixed := slices.Clone(broken)
	fixed[1].Extra = nil
	r.kIns[0].VIPs = fixed[0].VIPs
	wantCounts(t, r.vk.Label, reload(t, r.vk, Conf(nil, r.kIns...)), map[string]int{"addresses_changed": 1})
	wantCounts(t, r.vm.Label, reload(t, r.vm, Conf(nil, fixed...)),
		map[string]int{"unchanged": 2, "addresses_changed": 1, "restarted": 0})
	WaitVIP(t, 5*time.Second, r.hosts, "eth0", "10.78.0.131", r.m)
	for _, vip := range vipsOf(r.mIns[0]) {
		WaitVIP(t, 5*time.Second, r.hosts, "eth0", vip, nil)
	}
	if err := r.holdsExactly(vipsOf(fixed...)); err != nil {
		t.Error(err)
	}
	if n := stateChanges(r.vm) - mBefore; n != 0 {
		t.Errorf("master: %d state changes after the fixed reload, want 0", n)
	}
}

// TestReloadRemoveInstance: an instance removed from both nodes' files is
// released by the master with a priority 0 advert, and the backup, which
// no longer has it either, does not take its VIPs. The others stay as
// they are.
func TestReloadRemoveInstance(t *testing.T) {
	t.Parallel()
	r := newReloadLab(t)
	gone := r.mIns[2]
	keep := r.mIns[:2]
	keepNames := []string{keep[0].Name, keep[1].Name}
	mBefore, kBefore := stateChanges(r.vm, keepNames...), stateChanges(r.vk, keepNames...)
	kGoneBefore := stateChanges(r.vk, gone.Name)

	// The backup first: had the master gone first, its priority 0 advert
	// would rightly make the backup master of an instance it still had.
	wantCounts(t, r.vk.Label, reload(t, r.vk, Conf(nil, r.kIns[:2]...)),
		map[string]int{"unchanged": 2, "removed": 1, "restarted": 0, "added": 0})
	sent := time.Now()
	wantCounts(t, r.vm.Label, reload(t, r.vm, Conf(nil, keep...)),
		map[string]int{"unchanged": 2, "removed": 1, "restarted": 0, "added": 0})
	for _, vip := range vipsOf(gone) {
		WaitVIP(t, 5*time.Second, r.hosts, "eth0", vip, nil)
	}
	// The release as the backup's namespace saw it.
	vrid := uint8(gone.VRID)
	Eventually(t, 3*time.Second, fmt.Sprintf("a priority 0 advert of VRID %d from the master", vrid), func() (bool, error) {
		for _, p := range r.capture.from(r.mAddr, vrid) {
			if p.prio == 0 && p.at.After(sent) {
				return true, nil
			}
		}
		return false, nil
	})
	// Past the backup's master down interval: the removed VIPs stay gone,
	// the others stay on the master.
	Never(t, rlDownWait, "a removed VIP back anywhere, or a kept one off the master", func() (bool, error) {
		for _, vip := range vipsOf(gone) {
			got, err := Holders(r.hosts, "eth0", vip)
			if err != nil || len(got) > 0 {
				return true, err
			}
		}
		return r.holdsExactly(vipsOf(keep...)) != nil, nil
	})
	// Nothing more for that VRID after the release, from either node.
	var last advert
	for _, p := range r.capture.from(r.mAddr, vrid) {
		last = p
	}
	if last.prio != 0 {
		t.Errorf("VRID %d: the master's last advert has priority %d at %v, want the priority 0 release last", vrid, last.prio, last.at.Format(time.StampMilli))
	}
	if ps := r.capture.from(netip.MustParseAddr(rlBackupAddr), vrid); len(ps) > 0 {
		t.Errorf("VRID %d: the backup sent %d adverts, first at %v; it no longer has the instance", vrid, len(ps), ps[0].at.Format(time.StampMilli))
	}
	if n := stateChanges(r.vk, gone.Name) - kGoneBefore; n > 1 {
		// Stopping a BACKUP instance may log its own exit, nothing more.
		t.Errorf("backup: %d state changes of the removed %s, want at most its stop: %q", n, gone.Name, r.vk.LogLines(transitionMsg, "instance="+gone.Name+" "))
	}
	if l := r.vk.LogLines(transitionMsg, "instance="+gone.Name+" ", "to=MASTER"); len(l) > 0 {
		t.Errorf("backup: the removed %s became MASTER: %q", gone.Name, l)
	}
	if n := stateChanges(r.vm, keepNames...) - mBefore; n != 0 {
		t.Errorf("master: %d state changes of the kept instances, want 0", n)
	}
	if n := stateChanges(r.vk, keepNames...) - kBefore; n != 0 {
		t.Errorf("backup: %d state changes of the kept instances, want 0", n)
	}
}

// TestReloadPriorityChangeKeepsState: a reload that changes only an
// instance's priority is applied in place, as keepalived keeps an
// instance's state across a reload: no restart, no transition, no VIP
// leaving, and the new priority on the wire from the next advert.
func TestReloadPriorityChangeKeepsState(t *testing.T) {
	t.Parallel()
	r := newReloadLab(t)
	changed := r.mIns[1]
	mBefore, kBefore := stateChanges(r.vm), stateChanges(r.vk)

	r.mIns[1].Priority = 200
	before := sighup(t, r.vm, Conf(nil, r.mIns...))
	Never(t, rlDownWait, "a VIP missing from the master (or on the backup)", func() (bool, error) {
		return r.holdsExactly(r.allVIPs) != nil, nil
	})
	wantCounts(t, r.vm.Label, waitReload(t, r.vm, before),
		map[string]int{"unchanged": 2, "addresses_changed": 0, "priority_changed": 1, "restarted": 0, "added": 0, "removed": 0})
	if lines := r.vm.LogLines(`msg="reload: instance changed; restarting it"`); len(lines) != 0 {
		t.Errorf("restart lines = %q, want none", lines)
	}
	if n := stateChanges(r.vm) - mBefore; n != 0 {
		t.Errorf("master: %d state changes, want 0", n)
	}
	if n := stateChanges(r.vk) - kBefore; n != 0 {
		t.Errorf("backup: %d state changes, want 0", n)
	}
	// The advert priority on the wire follows the new configuration.
	Eventually(t, 3*time.Second, "an advert of VRID 62 with priority 200", func() (bool, error) {
		ps := r.capture.from(r.mAddr, uint8(changed.VRID))
		return len(ps) > 0 && ps[len(ps)-1].prio == 200, nil
	})
}
