package conformance

// The plane-agnostic driver: which planes run, the lab (client, director,
// real servers), the daemon on the director, its status, and the client's
// view. Scenarios (scenarios_test.go) use nothing plane-specific but the
// plane's Capabilities and whether its schedulers claim the kernel's picks.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/ipvs"
	"vigil/internal/dataplane/nft"
	"vigil/internal/dataplane/proxy"
	"vigil/internal/netlab"
)

var planesFlag = flag.String("conformance.planes", os.Getenv("VIGIL_CONFORMANCE_PLANES"),
	"comma-separated data planes to test (ipvs, nftables, proxy); default: ipvs with IPVS in the kernel, else nftables,proxy")

// Plane is a data plane under test as the suite knows it: its name for
// --dataplane and what it says it can express.
type Plane struct {
	Name string
	Caps dataplane.Capabilities
	// KernelPicks is whether the plane's schedulers choose what the
	// kernel's IPVS chooses for the same destination list (IPVS itself,
	// and the proxy, whose package sched is written to do so), so that
	// the model in package sched predicts each connection exactly. The
	// nftables plane documents its own hashes and list order
	// (nft/caps.go): it is held to the shares, within a tolerance.
	KernelPicks bool
	// StallsRemoved is whether the open connections of a removed real
	// server stall (IPVS drops their packets once the destination is
	// gone; docs/COMPATIBILITY.md): a connection in flight to it when a
	// reload removes it fails there, and only there.
	StallsRemoved bool
}

// planes is every plane the suite knows.
var planes = map[string]Plane{
	"ipvs":     {Name: "ipvs", Caps: ipvs.New(nil, 0).Capabilities(), KernelPicks: true, StallsRemoved: true},
	"nftables": {Name: "nftables", Caps: nft.Caps, KernelPicks: false},
	"proxy":    {Name: "proxy", Caps: proxy.Capabilities, KernelPicks: true},
}

func haveIPVS() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

// selectedPlanes is the planes of this run, from the flag or the default.
func selectedPlanes(t *testing.T) []Plane {
	spec := *planesFlag
	if spec == "" {
		spec = "nftables,proxy"
		if haveIPVS() {
			spec = "ipvs"
		}
	}
	var res []Plane
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		p, ok := planes[n]
		if !ok {
			t.Fatalf("conformance: unknown plane %q in %q (ipvs, nftables, proxy)", n, spec)
		}
		res = append(res, p)
	}
	return res
}

// Timing: the VM lab's guest is emulated and much slower than this
// machine; every bound is multiplied there.
var slow = time.Duration(1)

// vigilBin is the daemon under test: $VIGIL_BIN (the VM lab's, built
// CGO_ENABLED=0), else one built by TestMain with -race.
var (
	vigilBin string
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if haveIPVS() {
		slow = 4
		labs = make(chan struct{}, 2)
	}
	if b := os.Getenv("VIGIL_BIN"); b != "" {
		vigilBin = b
		return m.Run()
	}
	if os.Geteuid() != 0 {
		return m.Run() // every test skips
	}
	dir, err := os.MkdirTemp("", "vigil-conformance-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// -race, as the e2e tests: a race in the daemon is a defect the suite
	// must catch (see the check at each daemon's stop).
	vigilBin, buildErr = netlab.BuildDaemon(dir, true, 5*time.Minute)
	return m.Run()
}

// The lab's addresses. The client and the real servers are on one bridge
// but in different subnets, each routed through the director, so replies
// of NAT'd connections go back through it.
const (
	vip4 = "10.3.0.100"
	vip6 = "fd03::100"
)

// realAddr is the address of real server i (1-based) of a family.
func realAddr(i int, v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr(fmt.Sprintf("fd01::%d", 10+i))
	}
	return netip.MustParseAddr(fmt.Sprintf("10.1.0.%d", 10+i))
}

// sorryAddr is the sorry server's address.
func sorryAddr(v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr("fd01::9")
	}
	return netip.MustParseAddr("10.1.0.9")
}

// sourceAddr is the client's extra source address i (0-based), all in the
// client's /24, for schedulers that hash the client's address.
func sourceAddr(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.3.0.%d", 10+i)) }

// Real servers listen on namePort (TCP and UDP) and their checkers probe
// checkPort, a listener the test turns off and on.
const (
	namePort  = 80
	checkPort = 8080
)

// Lab is one scenario's network: a client, a director running Vigil, real
// servers rs1..rsN (and a sorry server if asked).
type Lab struct {
	t      *testing.T
	Plane  Plane
	Client *netlab.Host
	Dir    *netlab.Host
	Reals  []*netlab.Host // Reals[i] is rs(i+1)
	Sorry  *netlab.Host
	checks map[string]*netlab.Switch
}

// LabOpts shape a lab.
type LabOpts struct {
	Reals   int
	Sorry   bool
	Sources int // extra client source addresses (sourceAddr)
}

// NewLab builds the lab of one scenario for plane p.
func NewLab(t *testing.T, p Plane, o LabOpts) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("conformance: needs root for network namespaces; skipping")
	}
	if p.Name == "ipvs" && !haveIPVS() {
		t.Skip("conformance: this kernel has no IPVS (no /proc/net/ip_vs); run the ipvs plane with `make vmtest`")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	labs <- struct{}{}
	t.Cleanup(func() { <-labs })
	nl := netlab.New(t)
	l := &Lab{t: t, Plane: p, checks: map[string]*netlab.Switch{}}
	l.Client = nl.AddHost("client", "10.3.0.2/24", "fd03::2/64")
	l.Dir = nl.AddHost("dir", "10.3.0.1/24", "10.1.0.1/24", "fd03::1/64", "fd01::1/64")
	for i := 1; i <= o.Reals; i++ {
		l.Reals = append(l.Reals, nl.AddHost(fmt.Sprintf("rs%d", i),
			netip.PrefixFrom(realAddr(i, false), 24).String(), netip.PrefixFrom(realAddr(i, true), 64).String()))
	}
	if o.Sorry {
		l.Sorry = nl.AddHost("sorry", netip.PrefixFrom(sorryAddr(false), 24).String(), netip.PrefixFrom(sorryAddr(true), 64).String())
	}
	// One shell per host: every exec is slow in the emulated guest.
	noRedirects := []string{
		"echo 0 > /proc/sys/net/ipv4/conf/all/accept_redirects",
		"echo 0 > /proc/sys/net/ipv4/conf/eth0/accept_redirects",
		"echo 0 > /proc/sys/net/ipv6/conf/all/accept_redirects",
		"echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_redirects",
	}
	// ip -batch: one process for every address and route (each exec
	// costs a good fraction of a second in the emulated guest).
	batch := []string{"route add default via 10.3.0.1", "route add ::/0 via fd03::1"}
	for i := range o.Sources {
		batch = append(batch, fmt.Sprintf("addr add %s/24 dev eth0", sourceAddr(i)))
	}
	l.script(l.Client, append([]string{ipBatch(batch...)}, noRedirects...)...)
	l.script(l.Dir,
		ipBatch("addr add "+vip4+"/32 dev eth0", "addr add "+vip6+"/128 dev eth0"),
		"echo 1 > /proc/sys/net/ipv4/ip_forward",
		"echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
		// The director routes between two subnets on one link: it must
		// not redirect the hosts past itself (NAT replies must come back).
		"echo 0 > /proc/sys/net/ipv4/conf/all/send_redirects",
		"echo 0 > /proc/sys/net/ipv4/conf/eth0/send_redirects",
	)
	servers := l.Reals
	if l.Sorry != nil {
		servers = append(slices.Clone(servers), l.Sorry)
	}
	for _, h := range servers {
		l.script(h, append([]string{ipBatch("route add default via 10.1.0.1", "route add ::/0 via fd01::1")}, noRedirects...)...)
		h.ServeName(t, namePort)
		l.checks[h.String()] = h.CheckPort(t, checkPort)
	}
	return l
}

// ipBatch is a shell command running the ip(8) commands in one process.
func ipBatch(cmds ...string) string {
	return "ip -batch - <<'EOF'\n" + strings.Join(cmds, "\n") + "\nEOF"
}

func (l *Lab) script(h *netlab.Host, cmds ...string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*slow)
	defer cancel()
	if _, err := h.Exec(ctx, "sh", "-ec", strings.Join(cmds, "\n")); err != nil {
		l.t.Fatal(err)
	}
}

// SetCheck turns real server name's checker port on or off.
func (l *Lab) SetCheck(name string, on bool) {
	l.t.Helper()
	if err := l.checks[name].Set(on); err != nil {
		l.t.Fatal(err)
	}
}

// connectTimeout is the checkers' connect_timeout in seconds: 2 here, 5
// in the emulated guest.
func connectTimeout() int {
	if slow > 1 {
		return 5
	}
	return 2
}

// pollEvery is the interval of status polls: each is a process, and in
// the emulated guest one costs a good part of a second of CPU that the
// daemons need.
func pollEvery() time.Duration {
	if slow > 1 {
		return time.Second
	}
	return 100 * time.Millisecond
}

// labs bounds how many labs run at once: in the emulated guest (two
// virtual CPUs) more than two only make each slower (four at once took
// longer in all than one after the other); here the test's -test.parallel
// decides.
var labs = make(chan struct{}, 64)

// ioTimeout bounds one client exchange.
func ioTimeout() time.Duration { return 3 * time.Second * slow }

// Ask makes one short TCP connection to vip:port from src (invalid: the
// default address) and returns who answered.
func (l *Lab) Ask(src netip.Addr, vip string, port int) (string, error) {
	return l.Client.AskName(src, netip.AddrPortFrom(netip.MustParseAddr(vip), uint16(port)), ioTimeout())
}

// MustAsk is Ask that fails the test on an error.
func (l *Lab) MustAsk(src netip.Addr, vip string, port int) string {
	l.t.Helper()
	n, err := l.Ask(src, vip, port)
	if err != nil {
		l.t.Fatalf("connection to %s port %d: %v", vip, port, err)
	}
	return n
}

// AskN makes n sequential short connections and returns who answered each.
func (l *Lab) AskN(n int, vip string, port int) []string {
	l.t.Helper()
	res := make([]string, 0, n)
	for range n {
		res = append(res, l.MustAsk(netip.Addr{}, vip, port))
	}
	return res
}

// Hold opens a connection and keeps it.
func (l *Lab) Hold(vip string, port int) *netlab.NameConn {
	l.t.Helper()
	c, err := l.Client.DialName(netip.Addr{}, netip.AddrPortFrom(netip.MustParseAddr(vip), uint16(port)), ioTimeout())
	if err != nil {
		l.t.Fatalf("connection to %s port %d: %v", vip, port, err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c
}

// Status is what the suite reads of `vigil status --json`.
type Status struct {
	LVS *struct {
		State          string `json:"state"`
		Error          string `json:"error"`
		Dataplane      string `json:"dataplane"`
		Operations     int    `json:"operations"`
		Reloads        int    `json:"reloads"`
		VirtualServers []VS   `json:"virtual_servers"`
	} `json:"lvs"`
}

// VS is one virtual server in the status.
type VS struct {
	Name       string `json:"name"`
	QuorumUp   bool   `json:"quorum_up"`
	SorryInUse bool   `json:"sorry_server_in_use"`
	Reals      []Real `json:"real_servers"`
}

// Real is one real server in the status.
type Real struct {
	Addr   string `json:"addr"`
	Alive  bool   `json:"alive"`
	Weight int    `json:"weight"`
}

// VS returns the virtual server whose name has addr:port (IPv6 addresses
// in brackets, as the status names them).
func (s Status) VS(addr string, port int) (VS, bool) {
	if s.LVS == nil {
		return VS{}, false
	}
	want := fmt.Sprintf("[%s]:", addr)
	for _, v := range s.LVS.VirtualServers {
		if strings.HasPrefix(v.Name, want) && strings.HasSuffix(v.Name, fmt.Sprintf(":%d", port)) {
			return v, true
		}
	}
	return VS{}, false
}

// Real returns the real server of v at addr (an address without port).
func (v VS) Real(addr netip.Addr) (Real, bool) {
	for _, r := range v.Reals {
		if ap, err := netip.ParseAddrPort(r.Addr); err == nil && ap.Addr() == addr {
			return r, true
		}
	}
	return Real{}, false
}

// Director is Vigil's LVS side (vigil -C) running in the lab's director.
type Director struct {
	l       *Lab
	dir     string
	conf    string
	sock    string
	proc    *netlab.Proc
	reloads int
}

// Start writes conf and runs the daemon on it with the lab's plane.
func (l *Lab) Start(conf string) *Director {
	l.t.Helper()
	d := &Director{l: l, dir: l.t.TempDir()}
	d.conf = filepath.Join(d.dir, "keepalived.conf")
	state := filepath.Join(d.dir, "state")
	d.sock = filepath.Join(state, "vigil.sock")
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		l.t.Fatal(err)
	}
	p, err := l.Dir.Start("env", "VIGIL_STATE_DIR="+state, vigilBin,
		"-C", "-n", "-l", "--dataplane", l.Plane.Name, "-f", d.conf,
		"-p", filepath.Join(d.dir, "vigil.pid"), "-c", filepath.Join(d.dir, "checkers.pid"),
		"-r", filepath.Join(d.dir, "vrrp.pid"))
	if err != nil {
		l.t.Fatal(err)
	}
	d.proc = p
	l.t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			l.t.Errorf("vigil exit: %v", err)
		}
		if n := strings.Count(p.Output(), "WARNING: DATA RACE"); n > 0 {
			l.t.Errorf("the race detector reported %d data race(s) in the daemon", n)
		}
		if l.t.Failed() || os.Getenv("VIGIL_E2E_LOGS") != "" {
			l.t.Logf("--- vigil (%s) log ---\n%s", l.Plane.Name, tail(p.Output(), 80))
		}
	})
	return d
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Status runs `vigil status --json`. The control socket is a file, so the
// client runs in the test's own namespace.
func (d *Director) Status() (Status, error) {
	var st Status
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*slow)
	defer cancel()
	cmd := exec.CommandContext(ctx, vigilBin, "status", "--json", "--socket", d.sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return st, fmt.Errorf("vigil status --json: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("vigil status --json: %v in %q", err, out)
	}
	if st.LVS == nil {
		return st, fmt.Errorf("no lvs part in %q", out)
	}
	return st, nil
}

// Wait polls the status until cond holds, and fails the test after
// timeout (multiplied in the emulated guest) saying what it waited for.
func (d *Director) Wait(timeout time.Duration, what string, cond func(Status) bool) Status {
	d.l.t.Helper()
	deadline := time.Now().Add(timeout * slow)
	var last error
	var st Status
	for {
		var err error
		st, err = d.Status()
		if err == nil && cond(st) {
			return st
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(st.LVS)
			d.l.t.Fatalf("%s: not true after %v (last error %v; last status %s)", what, timeout*slow, last, b)
		}
		select {
		case <-d.proc.Done():
			d.l.t.Fatalf("%s: the daemon exited: %s", what, tail(d.proc.Output(), 30))
		case <-time.After(pollEvery()):
		}
	}
}

// WaitReady waits until the daemon runs on its plane with every virtual
// server's real servers as alive says: startup bound 20 s (the daemon
// builds under -race; the checkers' first round takes a delay_loop).
func (d *Director) WaitReady(alive func(vs VS, r Real) bool) Status {
	d.l.t.Helper()
	return d.Wait(20*time.Second, "the LVS side runs with the real servers expected", func(s Status) bool {
		if s.LVS.State != "running" || s.LVS.Dataplane != d.l.Plane.Name || len(s.LVS.VirtualServers) == 0 {
			return false
		}
		for _, v := range s.LVS.VirtualServers {
			for _, r := range v.Reals {
				if r.Alive != alive(v, r) {
					return false
				}
			}
		}
		return true
	})
}

// allAlive is WaitReady's usual condition.
func allAlive(VS, Real) bool { return true }

// Reload writes conf, sends SIGHUP and waits until the LVS side counted the
// reload.
func (d *Director) Reload(conf string) Status {
	d.l.t.Helper()
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		d.l.t.Fatal(err)
	}
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		d.l.t.Fatal(err)
	}
	d.reloads++
	n := d.reloads
	return d.Wait(10*time.Second, fmt.Sprintf("reload %d applied", n), func(s Status) bool { return s.LVS.Reloads == n })
}

// Conf is a keepalived.conf of virtual servers.
type Conf []VSConf

// VSConf is one virtual_server block.
type VSConf struct {
	V6    bool
	Port  int
	UDP   bool
	Algo  string
	Lines []string // further lines of the block, verbatim
	Reals []RSConf
	Sorry bool // sorry_server: the lab's sorry server
}

// RSConf is one real_server block: real server Index (1-based) with its
// weight and, if Check, a TCP_CHECK on checkPort.
type RSConf struct {
	Index  int
	Weight int
	Check  bool
	Lines  []string
}

// VIP is the block's virtual address.
func (v VSConf) VIP() string {
	if v.V6 {
		return vip6
	}
	return vip4
}

func (c Conf) String() string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id conformance\n}\n")
	for _, v := range c {
		proto := "TCP"
		if v.UDP {
			proto = "UDP"
		}
		fmt.Fprintf(&b, "virtual_server %s %d {\n    delay_loop 1\n    lb_algo %s\n    lb_kind NAT\n    protocol %s\n", v.VIP(), v.Port, v.Algo, proto)
		for _, l := range v.Lines {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		if v.Sorry {
			fmt.Fprintf(&b, "    sorry_server %s %d\n", sorryAddr(v.V6), namePort)
		}
		for _, r := range v.Reals {
			w := r.Weight
			if w == 0 {
				w = 1
			}
			fmt.Fprintf(&b, "    real_server %s %d {\n        weight %d\n", realAddr(r.Index, v.V6), namePort, w)
			for _, l := range r.Lines {
				fmt.Fprintf(&b, "        %s\n", l)
			}
			if r.Check {
				// A refused port fails at once; the connect timeout only
				// matters on a machine too busy to answer, where a short one
				// fails a live real server (seen in the emulated guest).
				fmt.Fprintf(&b, "        TCP_CHECK {\n            connect_port %d\n            connect_timeout %d\n            retry 1\n            delay_before_retry 1\n        }\n", checkPort, connectTimeout())
			}
			b.WriteString("    }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// Service is the dataplane view of the block, for the plane's
// Capabilities to judge.
func (v VSConf) Service() dataplane.Service {
	s := dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP,
		Addr: netip.MustParseAddr(v.VIP()), Port: uint16(v.Port)}, Scheduler: v.Algo}
	if v.V6 {
		s.Key.Family = dataplane.IPv6
	}
	if v.UDP {
		s.Key.Protocol = dataplane.ProtoUDP
	}
	for _, l := range v.Lines {
		if strings.HasPrefix(l, "persistence_timeout") {
			s.Persistence = time.Minute // any non-zero value: the capability is the point
		}
	}
	return s
}

// needService skips the test when the plane's Capabilities refuse v, with
// the plane's own reason.
func needService(t *testing.T, p Plane, v VSConf) {
	t.Helper()
	if err := p.Caps.CheckService(v.Service()); err != nil {
		t.Skipf("unsupported by the %s plane (its Capabilities): %v", p.Name, err)
	}
}
