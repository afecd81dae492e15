package vmlab

// Helpers of the daemon_*_test.go tests: they run the real Vigil daemon
// (VIGIL_BIN, bin/vmtest/vigil under make vmtest) in the lab's namespaces,
// read it with `vigil status --json`, and send real traffic through the
// IPVS table it programs.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/netlab"
	"vigil/internal/status"
)

// daemonWait bounds every wait for the daemon in these tests: starting a
// Go binary, its first table and a VRRP election take seconds in the
// emulated guest, more on a loaded machine; only a daemon that never gets
// there misses it.
const daemonWait = 60 * time.Second

// needDaemon skips the test outside the lab or without the daemon binary.
func needDaemon(t *testing.T, tools ...string) {
	t.Helper()
	needLab(t, tools...)
	if *vigilBin == "" {
		t.Skip("vmlab: the daemon tests run bin/vmtest/vigil (VIGIL_BIN or -vigil.bin); make vmtest sets it")
	}
}

// vigilDaemon is one Vigil daemon in a namespace, with its runtime files
// in a directory of its own.
type vigilDaemon struct {
	t     *testing.T
	h     *netlab.Host
	name  string
	dir   string
	conf  string
	args  []string
	proc  *netlab.Proc
	runs  int
	extra []string
}

// startDaemon writes conf and starts Vigil on it in h's namespace, with -C
// (the LVS side alone, as keepalived is run for LVS only) when checkOnly.
// Its log is kept in the results directory under name.
func startDaemon(t *testing.T, h *netlab.Host, name, conf string, checkOnly bool) *vigilDaemon {
	t.Helper()
	dir := t.TempDir()
	d := &vigilDaemon{t: t, h: h, name: name, dir: dir, conf: filepath.Join(dir, "keepalived.conf")}
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.args = []string{"-n", "-l", "-D", "--dataplane", "ipvs", "-f", d.conf,
		"-p", filepath.Join(dir, "vigil.pid"),
		"-c", filepath.Join(dir, "checkers.pid"),
		"-r", filepath.Join(dir, "vrrp.pid")}
	if checkOnly {
		d.args = append(d.args, "-C")
	}
	d.start()
	return d
}

// start runs the daemon (again), with the same flags and file.
func (d *vigilDaemon) start() {
	d.t.Helper()
	p, err := d.h.Start(*vigilBin, d.args...)
	if err != nil {
		d.t.Fatal(err)
	}
	d.proc = p
	d.runs++
	run := d.runs
	d.t.Cleanup(func() {
		_ = p.Stop()
		keepLog(d.t, fmt.Sprintf("%s.%s.%d.log", logName(d.t), d.name, run), p.Output())
	})
}

// logName is the test's name as a file name.
func logName(t *testing.T) string { return strings.ReplaceAll(t.Name(), "/", "_") }

// socket is the control socket: beside the -p pid file.
func (d *vigilDaemon) socket() string { return filepath.Join(d.dir, "vigil.sock") }

// status runs `vigil status --json` against the daemon and decodes it.
func (d *vigilDaemon) status() (status.StatusJSON, error) {
	var st status.StatusJSON
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, *vigilBin, "status", "--json", "--socket", d.socket())
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return st, fmt.Errorf("vigil status --json: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("vigil status --json: %v in %q", err, out)
	}
	return st, nil
}

// lvsRunning waits until the LVS side runs on IPVS with every virtual
// server of the file programmed (status says running and the table holds
// want services), and returns its status.
func (d *vigilDaemon) lvsRunning(want int) status.StatusJSON {
	d.t.Helper()
	var st status.StatusJSON
	eventually(d.t, daemonWait, d.name+": the LVS side runs on IPVS", func() (bool, error) {
		select {
		case <-d.proc.Done():
			return false, fmt.Errorf("the daemon exited:\n%s", d.proc.Output())
		default:
		}
		var err error
		if st, err = d.status(); err != nil {
			return false, err
		}
		if st.LVS == nil || st.LVS.State != "running" || st.LVS.Dataplane != "ipvs" {
			return false, fmt.Errorf("lvs %+v", st.LVS)
		}
		table, err := ipvsTable(d.h)
		if err != nil {
			return false, err
		}
		return services(table) == want, fmt.Errorf("%d services, want %d:\n%s", services(table), want, table)
	})
	return st
}

// eventually polls cond every pollEvery until it holds or timeout passes,
// then fails the test with what and cond's last error.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %v)", what, timeout, err)
		}
		time.Sleep(pollEvery)
	}
}

// serveEcho answers every line received on TCP port of h with h's name
// and the line, for as long as the connection stays open: the long-lived
// connections that must survive a restart.
func serveEcho(t *testing.T, h *netlab.Host, port int) {
	t.Helper()
	ln := listenTCP(t, h, port)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// A bound on the connection's life: no test keeps one
				// longer.
				_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, h.String()+" "+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// echoConn is a long-lived connection from the client to an echo service.
type echoConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialEcho opens a connection from h to addr.
func dialEcho(t *testing.T, h *netlab.Host, addr string) *echoConn {
	t.Helper()
	var c net.Conn
	if err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &echoConn{c: c, r: bufio.NewReader(c)}
}

// ask sends msg over the connection and returns the answer: "NAME msg".
func (e *echoConn) ask(msg string) (string, error) {
	_ = e.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(e.c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := e.r.ReadString('\n')
	return strings.TrimSpace(line), err
}

// localPort is the client side's port of the connection, to find its
// entry in the IPVS connection table.
func (e *echoConn) localPort() int { return e.c.LocalAddr().(*net.TCPAddr).Port }

// ipvsConn is the state of the IPVS connection entry from client port
// cport to vip (`ipvsadm -Lnc`), "" when there is none.
func ipvsConn(h *netlab.Host, cport int, vip string) (string, error) {
	out, err := ipvsadm(h, "-Lnc")
	if err != nil {
		return "", err
	}
	// "pro expire state       source             virtual            destination"
	for _, l := range nonEmpty(out) {
		f := strings.Fields(l)
		if len(f) >= 6 && strings.HasSuffix(f[3], ":"+strconv.Itoa(cport)) && f[4] == vip {
			return f[2], nil
		}
	}
	return "", nil
}

// ipvsStats is one line of `ipvsadm -Ln --stats --exact`: a service
// ("TCP 10.3.0.100:80") or a destination of it ("TCP 10.3.0.100:80 ->
// 10.1.0.11:80"), with its counters.
type ipvsStats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// readIPVSStats parses `ipvsadm -Ln --stats --exact` of h.
func readIPVSStats(h *netlab.Host) (map[string]ipvsStats, error) {
	out, err := ipvsadm(h, "-Ln", "--stats", "--exact")
	if err != nil {
		return nil, err
	}
	m := map[string]ipvsStats{}
	svc := ""
	for _, l := range nonEmpty(out) {
		f := strings.Fields(l)
		var key string
		var nums []string
		switch {
		case len(f) == 7 && (f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP"):
			svc = f[0] + " " + f[1]
			key, nums = svc, f[2:]
		case len(f) == 7 && f[0] == "->":
			key, nums = svc+" -> "+f[1], f[2:]
		default:
			continue
		}
		var v [5]uint64
		for i, s := range nums {
			if v[i], err = strconv.ParseUint(s, 10, 64); err != nil {
				return nil, fmt.Errorf("ipvsadm --stats line %q: %v", l, err)
			}
		}
		m[key] = ipvsStats{v[0], v[1], v[2], v[3], v[4]}
	}
	return m, nil
}

// vsNameRE is keepalived's name of an address virtual server.
var vsNameRE = regexp.MustCompile(`^\[(.+)\]:(?i:(tcp|udp|sctp)):(\d+)$`)

// statusStats turns the status's counters into readIPVSStats's keys.
func statusStats(l *status.LVSJSON) (map[string]ipvsStats, error) {
	m := map[string]ipvsStats{}
	conv := func(s *status.LVSStatsJSON) ipvsStats {
		return ipvsStats{s.Conns, s.InPackets, s.OutPackets, s.InBytes, s.OutBytes}
	}
	for _, vs := range l.VirtualServers {
		g := vsNameRE.FindStringSubmatch(vs.Name)
		if g == nil {
			return nil, fmt.Errorf("virtual server %q: not an address one", vs.Name)
		}
		svc := strings.ToUpper(g[2]) + " " + g[1] + ":" + g[3]
		if vs.Stats == nil {
			return nil, fmt.Errorf("virtual server %s has no counters in the status", vs.Name)
		}
		m[svc] = conv(vs.Stats)
		for _, rs := range vs.Reals {
			if rs.Stats == nil {
				return nil, fmt.Errorf("real server %s of %s has no counters in the status", rs.Addr, vs.Name)
			}
			m[svc+" -> "+rs.Addr] = conv(rs.Stats)
		}
	}
	return m, nil
}

// metricLine is one sample of the Prometheus text format.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$`)

// scrape reads the metrics endpoint at addr from inside h's namespace and
// returns each sample's value by "name{labels}".
func scrape(h *netlab.Host, addr string) (map[string]float64, error) {
	// The HTTP client dials on goroutines of its own, outside the
	// namespace: the connection is made in it and handed over.
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, address)
			return err
		})
		return c, err
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(body), "\n") {
		g := metricLine.FindStringSubmatch(l)
		if g == nil || strings.HasPrefix(l, "#") {
			continue
		}
		v, err := strconv.ParseFloat(g[3], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %v", l, err)
		}
		m[g[1]+g[2]] = v
	}
	return m, nil
}

// procIPVS reads h's IPVS table from /proc (net/ip_vs, net/ip_vs_conn of
// a thread inside the namespace): no process is started, so it can be
// read many times a second even in the emulated guest. It returns the
// services and destinations without their connection counts, and the
// state of the connection entry from client port cport (to any virtual
// address), "" when there is none.
func procIPVS(h *netlab.Host, cport int) (table []string, conn string, err error) {
	err = h.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/ip_vs")
		if err != nil {
			return err
		}
		for _, l := range nonEmpty(string(b)) {
			f := strings.Fields(l)
			switch {
			case len(f) >= 4 && f[0] == "->" && f[1] != "RemoteAddress:Port":
				table = append(table, strings.Join(f[:4], " ")) // address, method, weight
			case len(f) >= 3 && (f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP" || f[0] == "FWM"):
				table = append(table, l)
			}
		}
		b, err = os.ReadFile("/proc/thread-self/net/ip_vs_conn")
		if err != nil {
			return err
		}
		// "Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires ..." in hex.
		port := fmt.Sprintf("%04X", cport)
		for _, l := range nonEmpty(string(b)) {
			if f := strings.Fields(l); len(f) >= 8 && f[0] == "TCP" && f[2] == port {
				conn = f[7]
			}
		}
		return nil
	})
	return table, conn, err
}
