package chaos

// The namespace side of the campaign: the lab, the daemons in it, the
// faults, and what is observed. The harness of test/e2e does the same for
// single tests; what the campaign needs of it is small and lives here, so
// the two can change apart.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"vigil/internal/netlab"
	"vigil/internal/status"
)

// keepalivedBin is where Debian's keepalived package installs the daemon.
const keepalivedBin = "/usr/sbin/keepalived"

// cmdTimeout bounds every command the campaign runs to look at a node.
const cmdTimeout = 10 * time.Second

// node is one VRRP node of the lab and its daemon.
type node struct {
	idx  int
	spec Node
	host *netlab.Host
	dir  string // config, pid files, state, logs
	port string // bridge-side end of its eth0
	base Snapshot

	proc *netlab.Proc // current run; nil before the first
	runs int
	log  string // current run's log file

	mu        sync.Mutex
	trs       []Transition
	connected bool // the current run's event stream is open
}

func (n *node) conf() string   { return filepath.Join(n.dir, "keepalived.conf") }
func (n *node) socket() string { return filepath.Join(n.dir, "state", "vigil.sock") }

// running reports whether the current run's process has not exited.
func (n *node) running() bool {
	if n.proc == nil {
		return false
	}
	select {
	case <-n.proc.Done():
		return false
	default:
		return true
	}
}

// transitions returns the transitions received so far.
func (n *node) transitions() []Transition {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Transition(nil), n.trs...)
}

func (n *node) streamOpen() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connected
}

// tail returns the last lines of the current run's log.
func (n *node) tail(lines int) string {
	b, err := os.ReadFile(n.log)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", n.log, err)
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// lab is the campaign's network: the nodes, a stranger that sprays
// malformed packets, and the bridge where faults drop frames.
type lab struct {
	t        *testing.T
	ctx      context.Context
	nl       *netlab.Lab
	w        *World
	nodes    []*node
	stranger *netlab.Host
}

// strangerAddr is the address of the host that sends malformed packets.
var strangerAddr = netip.MustParseAddr("10.77.0.9")

func newLab(t *testing.T, ctx context.Context, w *World) *lab {
	t.Helper()
	nl := netlab.New(t)
	l := &lab{t: t, ctx: ctx, nl: nl, w: w}
	for i, spec := range w.Nodes {
		h := nl.AddHost(spec.Name, spec.Addr.String()+"/24")
		port, err := h.Port("eth0")
		if err != nil {
			t.Fatal(err)
		}
		n := &node{idx: i, spec: spec, host: h, dir: t.TempDir(), port: port}
		if n.base, err = snapshot(h); err != nil {
			t.Fatal(err)
		}
		l.nodes = append(l.nodes, n)
	}
	l.stranger = nl.AddHost("x", strangerAddr.String()+"/24")
	return l
}

// start writes node n's file from the world and starts its daemon, its
// output in a log file of its own per run.
func (l *lab) start(n *node) {
	l.t.Helper()
	if err := os.WriteFile(n.conf(), []byte(l.w.Conf(n.idx)), 0o644); err != nil {
		l.t.Fatal(err)
	}
	n.runs++
	n.log = filepath.Join(n.dir, fmt.Sprintf("%s-%s-%d.log", n.spec.Kind, n.spec.Name, n.runs))
	argv := []string{"-c", `log="$1"; shift; exec "$@" >>"$log" 2>&1`, "sh", n.log, "env"}
	if n.spec.Kind == Vigil {
		state := filepath.Join(n.dir, "state")
		argv = append(argv, "VIGIL_STATE_DIR="+state, "VIGIL_SOCKET="+n.socket(),
			// A data race stops the daemon: the campaign sees a node
			// that should run and does not, and its log has the report.
			"GORACE=halt_on_error=1",
			vigilBin, "-f", n.conf(), "-l", "-p", filepath.Join(n.dir, "vigil.pid"))
	} else {
		argv = append(argv, keepalivedBin, "-n", "-l", "-G", "--vrrp", "-f", n.conf(),
			"-p", filepath.Join(n.dir, "keepalived.pid"), "-r", filepath.Join(n.dir, "vrrp.pid"),
			"-c", filepath.Join(n.dir, "checkers.pid"))
	}
	p, err := n.host.Start("sh", argv...)
	if err != nil {
		l.t.Fatal(err)
	}
	n.proc = p
	if n.spec.Kind == Vigil {
		n.mu.Lock()
		n.connected = false
		n.mu.Unlock()
		go l.follow(n, p)
	}
}

// follow reads the event stream of node n's run p until p exits or the
// campaign ends, reconnecting while the socket is not there yet.
func (l *lab) follow(n *node, p *netlab.Proc) {
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	go func() {
		select {
		case <-p.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", n.socket())
		},
		DisableKeepAlives: true,
	}}
	for ctx.Err() == nil {
		err := l.stream(ctx, hc, n)
		if ctx.Err() != nil {
			return
		}
		_ = err // not up yet, or the stream broke: try again
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *lab) stream(ctx context.Context, hc *http.Client, n *node) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vigil/events", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("events: %s", resp.Status)
	}
	n.mu.Lock()
	n.connected = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.connected = false
		n.mu.Unlock()
	}()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev status.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Instance == "" {
			// The server's last word ("events lost"): a gap the quiet
			// check must not miss.
			n.mu.Lock()
			n.trs = append(n.trs, Transition{Node: n.spec.Name, At: time.Now(), Instance: "?", From: "?", To: "?", Reason: "event stream: " + sc.Text()})
			n.mu.Unlock()
			continue
		}
		n.mu.Lock()
		n.trs = append(n.trs, Transition{Node: n.spec.Name, At: time.Now(), Instance: ev.Instance, From: ev.From, To: ev.To, Reason: ev.Reason})
		n.mu.Unlock()
	}
	return sc.Err()
}

// signal sends sig to the daemon's main process only, as a service manager
// does (keepalived's parent passes it on to its VRRP child).
func (n *node) signal(sig syscall.Signal) error {
	if !n.running() {
		return fmt.Errorf("%s: %s is not running", n.spec.Name, n.spec.Kind)
	}
	return syscall.Kill(n.proc.Pid(), sig)
}

// waitExit waits up to d for the current run to exit.
func (n *node) waitExit(d time.Duration) error {
	select {
	case <-n.proc.Done():
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s: %s still running %v after the signal", n.spec.Name, n.spec.Kind, d)
	}
}

// setFaults puts the world's network faults in place: Wire faults by
// taking the bridge end of the node's link down, the others as nftables
// rules in the bridge's namespace, rewritten as a whole each time.
func (l *lab) setFaults() error {
	var rules []string
	cut := make([]bool, len(l.nodes))
	for _, f := range l.w.Faults {
		a := l.nodes[f.A].port
		switch f.Kind {
		case Wire:
			cut[f.A] = true
		case Isolate:
			rules = append(rules, fmt.Sprintf("iifname %q drop", a), fmt.Sprintf("oifname %q drop", a))
		case Egress:
			rules = append(rules, fmt.Sprintf("iifname %q drop", a))
		case Ingress:
			rules = append(rules, fmt.Sprintf("oifname %q drop", a))
		case Partition:
			b := l.nodes[f.B].port
			rules = append(rules, fmt.Sprintf("iifname %q oifname %q drop", a, b), fmt.Sprintf("iifname %q oifname %q drop", b, a))
		}
	}
	var script strings.Builder
	script.WriteString("table bridge chaos\ndelete table bridge chaos\n")
	script.WriteString("table bridge chaos {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n")
	for _, r := range rules {
		script.WriteString("    " + r + "\n")
	}
	script.WriteString("  }\n}\n")
	ctx, cancel := context.WithTimeout(l.ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.nl.BridgeNS(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in the bridge: %v: %s", err, bytes.TrimSpace(out))
	}
	for i, n := range l.nodes {
		if err := n.host.CutWire("eth0", cut[i]); err != nil {
			return err
		}
	}
	return nil
}

// cpuBurst runs two busy loops per CPU in the root namespace for d.
func (l *lab) cpuBurst(d time.Duration) {
	ctx, cancel := context.WithTimeout(l.ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 * runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
			cmd.WaitDelay = time.Second
			_ = cmd.Run() // ends by the context, with an error
		}()
	}
	wg.Wait()
}

// sendGarbage sends ds from the stranger to the VRRP group.
func (l *lab) sendGarbage(ds []Datagram) error {
	var conn net.PacketConn
	err := l.stranger.Do(func() error {
		c, err := net.ListenPacket("ip4:112", strangerAddr.String())
		if err != nil {
			return err
		}
		conn = c
		return nil
	})
	if err != nil {
		return fmt.Errorf("raw socket on the stranger: %w", err)
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	dst := &net.IPAddr{IP: net.IP(vrrpGroup.AsSlice())}
	var errs []error
	for _, d := range ds {
		if err := pc.SetMulticastTTL(d.TTL); err != nil {
			return err
		}
		if _, err := conn.WriteTo(d.Data, dst); err != nil {
			errs = append(errs, fmt.Errorf("%s (%d bytes): %w", d.What, len(d.Data), err))
		}
		time.Sleep(garbagePace)
	}
	return errors.Join(errs...)
}

// observe looks at every node once.
func (l *lab) observe() Observed {
	o := Observed{Nodes: make([]NodeObs, len(l.nodes))}
	for i, n := range l.nodes {
		no := &o.Nodes[i]
		no.Running = n.running()
		items, err := held(n.host)
		if err != nil {
			// Nothing seen: the invariants on items fail and say so.
			no.Items = []string{"(unreadable: " + err.Error() + ")"}
		} else {
			no.Items = items
		}
		if n.spec.Kind == Vigil && no.Running {
			ctx, cancel := context.WithTimeout(l.ctx, time.Second)
			st, err := status.NewClient(n.socket()).Status(ctx)
			cancel()
			if err != nil {
				no.StatusErr = err.Error()
			} else {
				no.Status = map[string]InstanceObs{}
				for _, in := range st.Instances {
					no.Status[in.Name] = InstanceObs{State: in.State, BasePriority: int(in.BasePriority), VIPs: in.VIPs}
				}
			}
		}
		if !l.w.Running[i] && !no.Running {
			cur, err := snapshot(n.host)
			if err != nil {
				no.Leftovers = []string{err.Error()}
			} else {
				no.Leftovers = Leftovers(n.base, cur)
				if n.spec.Kind == Keepalived {
					// keepalived 2.2.7 leaves its nftables table behind
					// when it stops (it makes one for use_vmac); that is the
					// reference's habit, not Vigil's to answer for.
					no.Leftovers = slices.DeleteFunc(no.Leftovers, func(l string) bool {
						return l == "nft: table ip keepalived" || l == "nft: table ip6 keepalived"
					})
				}
			}
		}
	}
	return o
}

// held reads what node h carries that World.Items can name: the IPv4
// addresses of every interface (a VMAC's included), the IPv4 routes of every table and the IPv4 rules,
// with one command.
func held(h *netlab.Host) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", h.Name(), "sh", "-c",
		"ip -o -4 addr show && echo --- && ip -4 route show table all && echo --- && ip -4 rule show").Output()
	if err != nil {
		return nil, fmt.Errorf("addresses, routes and rules of %s: %w", h, err)
	}
	parts := strings.Split(string(out), "---\n")
	if len(parts) != 3 {
		return nil, fmt.Errorf("addresses, routes and rules of %s: unexpected output %q", h, out)
	}
	var items []string
	for _, l := range strings.Split(parts[0], "\n") {
		// "2: eth0    inet 10.77.0.2/24 brd ... scope global eth0"
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == "inet" {
			if p, err := netip.ParsePrefix(f[3]); err == nil {
				items = append(items, VIPItem(p.Addr()))
			}
		}
	}
	for _, l := range strings.Split(parts[1], "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			if p, err := netip.ParsePrefix(f[0]); err == nil {
				items = append(items, RouteItem(p))
			}
		}
	}
	for _, l := range strings.Split(parts[2], "\n") {
		// "32765:	from 10.77.0.101 lookup 101"
		f := strings.Fields(l)
		var from netip.Addr
		table := 0
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "from":
				from, _ = netip.ParseAddr(f[i+1])
			case "lookup":
				table, _ = strconv.Atoi(f[i+1])
			}
		}
		if from.IsValid() && table != 0 {
			items = append(items, RuleItem(from, table))
		}
	}
	return items, nil
}

// snapshot reads what a daemon may add to a host and must remove when it
// stops: links (VMACs), addresses, routes and rules of both families, and
// nftables tables.
func snapshot(h *netlab.Host) (Snapshot, error) {
	run := func(args ...string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name()}, args...)...).Output()
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", strings.Join(args, " "), h, err)
		}
		var ls []string
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				ls = append(ls, l)
			}
		}
		return ls, nil
	}
	s := Snapshot{}
	links, err := run("ip", "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		// "2: eth0@if5: <BROADCAST,...": the name is what matters.
		f := strings.Fields(l)
		if len(f) > 1 {
			s["link"] = append(s["link"], strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	addrs, err := run("ip", "-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	for _, l := range addrs {
		if f := strings.Fields(l); len(f) > 3 {
			s["addr"] = append(s["addr"], strings.Join(f[1:4], " "))
		}
	}
	for _, q := range [][]string{
		{"route", "ip", "-4", "route", "show", "table", "all"},
		{"route", "ip", "-6", "route", "show", "table", "all"},
		{"rule", "ip", "-4", "rule", "show"},
		{"rule", "ip", "-6", "rule", "show"},
		{"nft", "nft", "list", "tables"},
	} {
		ls, err := run(q[1:]...)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			// Carrier loss marks routes; that is the fault's doing.
			l = strings.ReplaceAll(l, " linkdown", "")
			s[q[0]] = append(s[q[0]], l)
		}
	}
	return s, nil
}
