package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"vigil/internal/netlab"
)

// keepalivedBin is the reference implementation: Debian's keepalived 2.2.7.
const keepalivedBin = "/usr/sbin/keepalived"

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 whatever the kernel's own tick rate.
const userHZ = 100

// Lab addresses: nodes a (higher priority) and b, client c, one VIP.
const (
	addrA  = "10.77.0.2/24"
	addrB  = "10.77.0.3/24"
	addrC  = "10.77.0.9/24"
	vipStr = "10.77.0.100"
)

// impl is one implementation with its settings, as measured.
type impl struct {
	name   string   // as shown in the results, e.g. "keepalived (rt)"
	vigil  bool     // Vigil, else keepalived
	global []string // extra global_defs lines
}

var (
	implVigil      = impl{name: "vigil", vigil: true}
	implKeepalived = impl{name: "keepalived"}
	// rtLines are the global_defs lines of the real-time variants: the same
	// for both implementations.
	rtLines = []string{"vrrp_rt_priority 10", "vrrp_no_swap"}
)

// instance is one vrrp_instance of a generated configuration.
type instance struct {
	name      string
	vrid      int
	priority  int
	advertInt string // keepalived syntax, seconds: "1", "0.05"
	version   int
	vips      []string
}

// render writes a keepalived.conf that both implementations read.
func render(global []string, ins []instance) string {
	var b strings.Builder
	b.WriteString("global_defs {\n")
	for _, l := range global {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("}\n")
	for _, in := range ins {
		fmt.Fprintf(&b, "vrrp_instance %s {\n    state BACKUP\n    interface eth0\n", in.name)
		fmt.Fprintf(&b, "    virtual_router_id %d\n    priority %d\n    advert_int %s\n", in.vrid, in.priority, in.advertInt)
		if in.version != 0 {
			fmt.Fprintf(&b, "    version %d\n", in.version)
		}
		b.WriteString("    virtual_ipaddress {\n")
		for _, v := range in.vips {
			fmt.Fprintf(&b, "        %s\n", v)
		}
		b.WriteString("    }\n}\n")
	}
	return b.String()
}

// node is one daemon of the implementation under test on a lab host. It
// can be stopped and started again with the same directory.
type node struct {
	b    testing.TB
	im   impl
	h    *netlab.Host
	dir  string
	conf string
	proc *netlab.Proc
	// logs holds the output of earlier runs of this node (restarts).
	logs strings.Builder
	note string // how the settings were applied, if not by the daemon
}

// newNode writes conf into a fresh directory; start runs the daemon.
func newNode(b testing.TB, im impl, h *netlab.Host, conf string) *node {
	b.Helper()
	n := &node{b: b, im: im, h: h, dir: b.TempDir()}
	n.conf = filepath.Join(n.dir, "keepalived.conf")
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	return n
}

// start runs the daemon in the foreground of its namespace, in a process
// group of its own (netlab kills the group at cleanup).
func (n *node) start() {
	n.b.Helper()
	var p *netlab.Proc
	var err error
	if n.im.vigil {
		// env(1) sets the per-run state directory and execs Vigil, so the
		// process started is Vigil itself.
		p, err = n.h.Start("env", "VIGIL_STATE_DIR="+filepath.Join(n.dir, "state"), vigilBin,
			"-f", n.conf, "-l", "-p", filepath.Join(n.dir, "vigil.pid"))
	} else {
		// -n: no fork, so the process started is keepalived's parent and
		// its VRRP child shares its process group. -P: VRRP only. -G: no
		// syslog, the console log is all we read.
		p, err = n.h.Start(keepalivedBin, "-n", "-l", "-G", "-P", "-f", n.conf,
			"-p", filepath.Join(n.dir, "keepalived.pid"),
			"-r", filepath.Join(n.dir, "vrrp.pid"),
			"-c", filepath.Join(n.dir, "checkers.pid"))
	}
	if err != nil {
		n.b.Fatal(err)
	}
	n.proc = p
	trackGroup(p.Pid(), true)
}

// stop sends SIGTERM and waits for the exit; the output is kept.
func (n *node) stop() {
	if n.proc == nil {
		return
	}
	if err := n.proc.Stop(); err != nil {
		n.b.Logf("%s on %s: exit: %v", n.im.name, n.h, err)
	}
	trackGroup(n.proc.Pid(), false)
	n.logs.WriteString(n.proc.Output())
	n.proc = nil
}

// output is everything the node's daemon wrote, over all its runs.
func (n *node) output() string {
	s := n.logs.String()
	if n.proc != nil {
		s += n.proc.Output()
	}
	return s
}

// exited fails the benchmark if the daemon is no longer running.
func (n *node) mustRun() {
	n.b.Helper()
	if n.proc == nil {
		n.b.Fatalf("%s on %s: not started", n.im.name, n.h)
	}
	select {
	case <-n.proc.Done():
		n.b.Fatalf("%s on %s exited early:\n%s", n.im.name, n.h, tail(n.output(), 40))
	default:
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// pair is a lab with two nodes of one implementation and a client.
type pair struct {
	b       testing.TB
	a, bk   *node
	client  *netlab.Host
	hosts   []*netlab.Host
	vip     netip.Addr // the VIP the client pings; invalid: none
	advert  time.Duration
	instCnt int
}

// newPair builds the lab and starts b then a (a has the higher priority),
// and waits until a holds every VIP and the client reaches the first one.
func newPair(b testing.TB, im impl, ins []instance, advert time.Duration) *pair {
	b.Helper()
	l := netlab.New(b)
	trackPrefix(l.Prefix(), true)
	b.Cleanup(func() { trackPrefix(l.Prefix(), false) })
	ha := l.AddHost("a", addrA)
	hb := l.AddHost("b", addrB)
	hc := l.AddHost("c", addrC)
	hi := make([]instance, len(ins))
	lo := make([]instance, len(ins))
	for i, in := range ins {
		hi[i], lo[i] = in, in
		hi[i].priority, lo[i].priority = 150, 100
	}
	p := &pair{
		b: b, client: hc, hosts: []*netlab.Host{ha, hb},
		advert: advert, instCnt: len(ins),
		a:  newNode(b, im, ha, render(im.global, hi)),
		bk: newNode(b, im, hb, render(im.global, lo)),
	}
	// The client is only on 10.77.0.0/24; a lab whose VIPs are elsewhere
	// is not pinged.
	if v, err := netip.ParsePrefix(ins[0].vips[0]); err == nil && netip.MustParsePrefix(addrC).Masked().Contains(v.Addr()) {
		p.vip = v.Addr()
	}
	p.bk.start()
	p.a.start()
	b.Cleanup(func() {
		// Stop the daemons before netlab removes the namespaces; show
		// their output if something went wrong.
		p.a.stop()
		p.bk.stop()
		if b.Failed() {
			b.Logf("--- %s on a ---\n%s", im.name, tail(p.a.output(), 40))
			b.Logf("--- %s on b ---\n%s", im.name, tail(p.bk.output(), 40))
		}
	})
	p.settle()
	return p
}

// settle waits until a alone holds the VIPs (so b has heard a and given
// them up) and a client ping is answered, then one more advert interval.
func (p *pair) settle() {
	p.b.Helper()
	p.a.mustRun()
	p.bk.mustRun()
	deadline := time.Now().Add(20*time.Second + 5*p.advert)
	for {
		na, errA := countVIPs(p.hosts[0])
		nb, errB := countVIPs(p.hosts[1])
		if err := errors.Join(errA, errB); err != nil {
			p.b.Fatal(err)
		}
		if na == p.instCnt && nb == 0 && (!p.vip.IsValid() || pingOnce(p.client, p.vip) == nil) {
			break
		}
		if time.Now().After(deadline) {
			p.b.Fatalf("%s: VIPs not settled on a (a has %d, b has %d of %d)\n--- a ---\n%s\n--- b ---\n%s",
				p.a.im.name, na, nb, p.instCnt, tail(p.a.output(), 30), tail(p.bk.output(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(p.advert + 100*time.Millisecond)
}

// countVIPs counts the lab's virtual addresses (10.77.0.100 and 10.77.1.x)
// on h's eth0.
func countVIPs(h *netlab.Host) (int, error) {
	as, err := h.Addrs("eth0")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range as {
		s := a.Addr().String()
		if s == vipStr || strings.HasPrefix(s, "10.77.1.") {
			n++
		}
	}
	return n, nil
}

// pingOnce sends one echo request to dst from h and waits up to a second.
func pingOnce(h *netlab.Host, dst netip.Addr) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := h.Exec(ctx, "ping", "-c", "1", "-W", "1", "-q", dst.String())
	return err
}

// probeResult is what one run of the prober saw.
type probeResult struct {
	sent, answered int
	gap            time.Duration // longest gap between consecutive replies
	recovered      bool          // replies came back after the event
}

// probe pings dst from h every interval with ICMP echo on a raw socket in
// h's namespace. After a short baseline it calls event (in a goroutine, as
// it may block), and it stops once replies have been steady for a while
// after at least minWindow, or after limit. It returns the longest gap
// between replies seen.
func probe(b testing.TB, h *netlab.Host, dst netip.Addr, interval, minWindow, limit time.Duration, event func()) probeResult {
	b.Helper()
	var c *icmp.PacketConn
	if err := h.Do(func() error {
		var err error
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		b.Fatalf("icmp socket in %s: %v", h, err)
	}
	defer c.Close()
	id := os.Getpid() & 0xffff

	var mu sync.Mutex
	var replies []time.Time
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, peer, err := c.ReadFrom(buf)
			now := time.Now()
			if err != nil {
				continue // deadline: look at done again
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			e, ok := m.Body.(*icmp.Echo)
			if !ok || e.ID != id {
				continue
			}
			if ip, ok := peer.(*net.IPAddr); !ok || !ip.IP.Equal(net.IP(dst.AsSlice())) {
				continue
			}
			mu.Lock()
			replies = append(replies, now)
			mu.Unlock()
		}
	}()

	const baseline = 200 * time.Millisecond
	steady := 500 * time.Millisecond
	var res probeResult
	start := time.Now()
	var eventAt time.Time
	tick := time.NewTicker(interval)
	defer tick.Stop()
	maxProbes := int((baseline+limit)/interval) + 1
	for seq := 0; seq < maxProbes; seq++ {
		now := <-tick.C
		if eventAt.IsZero() && now.Sub(start) >= baseline {
			eventAt = time.Now()
			go event()
		}
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq & 0xffff, Data: []byte("vigil-bench")}}
		wb, err := msg.Marshal(nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.WriteTo(wb, &net.IPAddr{IP: net.IP(dst.AsSlice())}); err == nil {
			res.sent++
		}
		if eventAt.IsZero() || now.Sub(eventAt) < minWindow {
			continue
		}
		// Steady: in the last 500 ms, replies arrived without a gap of
		// more than a few intervals.
		mu.Lock()
		ok := len(replies) > 0 && replies[len(replies)-1].After(eventAt)
		if ok {
			cut := now.Add(-steady)
			prev := cut
			for _, r := range replies {
				if r.Before(cut) {
					continue
				}
				if r.Sub(prev) > 4*interval {
					ok = false
					break
				}
				prev = r
			}
			if ok && now.Sub(prev) > 4*interval {
				ok = false
			}
		}
		mu.Unlock()
		if ok {
			break
		}
	}
	close(done)
	wg.Wait()
	res.answered = len(replies)
	res.gap = MaxGap(replies)
	res.recovered = len(replies) > 0 && !eventAt.IsZero() && replies[len(replies)-1].After(eventAt)
	if !res.recovered {
		// No reply since the event: the outage lasted at least the window.
		res.gap = time.Since(eventAt)
	}
	return res
}

// groupSample is the CPU time and memory of a process group at one moment.
type groupSample struct {
	ticks map[int]uint64 // pid -> utime+stime of all its threads
	rss   int64          // bytes, summed over the group
}

// sampleGroup reads /proc for every process in process group pgid.
func sampleGroup(pgid int) (groupSample, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return groupSample{}, err
	}
	s := groupSample{ticks: map[int]uint64{}}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited
		}
		ps, err := ParseStat(string(st))
		if err != nil || ps.Pgrp != pgid {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		rss, err := ParseRSS(string(status))
		if err != nil {
			continue // a zombie has no VmRSS
		}
		s.ticks[pid] = ps.Ticks
		s.rss += rss
	}
	if len(s.ticks) == 0 {
		return s, fmt.Errorf("no process in group %d", pgid)
	}
	return s, nil
}

// cpuBetween is the CPU percentage of one CPU used by the processes present
// in both samples, over wall.
func cpuBetween(s0, s1 groupSample, wall time.Duration) float64 {
	var d uint64
	for pid, t1 := range s1.ticks {
		if t0, ok := s0.ticks[pid]; ok && t1 >= t0 {
			d += t1 - t0
		}
	}
	return CPUPercent(d, userHZ, wall)
}

// threadsRR reports whether every thread of every process in group pgid
// runs under SCHED_RR.
func threadsRR(pgid int) (bool, error) {
	s, err := sampleGroup(pgid)
	if err != nil {
		return false, err
	}
	for pid := range s.ticks {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false, err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			a, err := unix.SchedGetAttr(tid, 0)
			if err != nil {
				continue
			}
			if a.Policy != unix.SCHED_RR {
				return false, nil
			}
		}
	}
	return true, nil
}

// spinners runs n busy loops in the root namespace until the returned
// function is called (also called at cleanup).
func spinners(b testing.TB, n int) (stop func()) {
	b.Helper()
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			b.Fatalf("busy loop: %v", err)
		}
		cmds = append(cmds, cmd)
		trackGroup(cmd.Process.Pid, true)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, c := range cmds {
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				_ = c.Wait()
				trackGroup(c.Process.Pid, false)
			}
		})
	}
	b.Cleanup(stop)
	return stop
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// startProfiler starts a profiler of a measured process (perf record or
// strace -c, the command line given) and returns what ends it: an
// interrupt, so that it writes its file, and the wait for it.
func startProfiler(b testing.TB, args ...string) (end func()) {
	b.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
}
