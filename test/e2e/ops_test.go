package e2e

// Acceptance tests of the operations features as an operator meets them:
// `vigil status` (table and JSON), `vigil events`, `vigil reload`, the
// Prometheus endpoint, the systemd notifications and watchdog, and
// keepalived's dump signals. The clients are the built vigil binary run
// inside the node's namespace, as an operator on that node would run them.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/netlab"
)

const (
	// opsMetricsPort is where every node of these tests serves metrics, on
	// the loopback of its own namespace.
	opsMetricsPort = 9165
	// opsVRID6 is the VRID of the IPv6 instance (VI_6) beside VI_1 (51).
	opsVRID6 = 52
	// opsHostVIP is VI_1's second address, a host address: keepalived's
	// dumps, and so the exporter's ip_address label, leave its prefix
	// length off.
	opsHostVIP = "10.77.0.101"
	// opsVIPs1 and opsVIPs6 are the VIPS cells of `vigil status`.
	opsVIPs1 = vip4 + "/24," + opsHostVIP + "/32"
	opsVIPs6 = vip6 + "/64"
)

// opsPair is a master a (priority 150, initial state MASTER) and a backup
// b (100), each running VI_1 (IPv4, VRRPv2) and VI_6 (IPv6, VRRPv3), with
// metrics on.
type opsPair struct {
	a, b   *netlab.Host
	va, vb *Vigil
}

// opsInstances returns the two instances with the given state and priority.
func opsInstances(state string, prio int) []Instance {
	return []Instance{
		{Name: "VI_1", State: state, Priority: prio, AdvertInt: "1", VIPs: []string{vip4 + "/24", opsHostVIP}},
		{Name: "VI_6", State: state, VRID: opsVRID6, Priority: prio, Version: 3, AdvertInt: "0.5", VIPs: []string{vip6 + "/64"}},
	}
}

// startOpsPair starts the pair and waits until a holds both addresses and
// b reports both instances as BACKUP, following a.
func startOpsPair(t *testing.T) opsPair {
	t.Helper()
	hs := lab(t, "a", "b")
	p := opsPair{a: hs["a"], b: hs["b"]}
	metrics := []string{fmt.Sprintf("vigil_metrics_listen 127.0.0.1:%d", opsMetricsPort)}
	p.va = StartVigil(t, p.a, Conf(metrics, opsInstances("MASTER", 150)...))
	p.vb = StartVigil(t, p.b, Conf(metrics, opsInstances("BACKUP", 100)...))
	hosts := []*netlab.Host{p.a, p.b}
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, p.a)
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip6, p.a)
	opsWaitStates(t, 10*time.Second, p.a, p.va, map[string]string{"VI_1": "MASTER", "VI_6": "MASTER"})
	opsWaitStates(t, 10*time.Second, p.b, p.vb, map[string]string{"VI_1": "BACKUP", "VI_6": "BACKUP"})
	return p
}

// ---- status ----

// opsStatus is the reply of `vigil status --json`, decoded with the field
// names docs/OPERATIONS.md promises (not through the status package's
// types), so that a renamed field fails here.
type opsStatus struct {
	Time      time.Time     `json:"time"`
	Instances []opsInstance `json:"instances"`
}

type opsInstance struct {
	Name              string            `json:"name"`
	Interface         string            `json:"interface"`
	VRID              int               `json:"vrid"`
	Version           int               `json:"version"`
	Family            int               `json:"family"`
	State             string            `json:"state"`
	BasePriority      int               `json:"base_priority"`
	EffectivePriority int               `json:"effective_priority"`
	VIPs              []string          `json:"vips"`
	MasterAddr        string            `json:"master_addr"`
	MasterPriority    int               `json:"master_priority"`
	LastTransition    *time.Time        `json:"last_transition"`
	LastReason        string            `json:"last_reason"`
	Counters          map[string]uint64 `json:"counters"`
	Drops             map[string]uint64 `json:"drops"`
}

// opsCounterNames are the counters the JSON reply documents.
var opsCounterNames = []string{
	"adverts_rx", "adverts_tx", "priority_zero_rx", "priority_zero_tx", "become_master",
	"release_master", "addr_list_errors", "send_errors", "address_errors", "announce_errors",
	"changes_dropped",
}

func (s opsStatus) find(name string) (opsInstance, bool) {
	for _, in := range s.Instances {
		if in.Name == name {
			return in, true
		}
	}
	return opsInstance{}, false
}

// opsSocket is the control socket of a Vigil started by the harness: the
// default name inside its own state directory.
func opsSocket(v *Vigil) string { return filepath.Join(v.StateDir, "vigil.sock") }

// opsCLI runs the vigil binary with args inside h's namespace, env(1)
// adding env, and returns its standard output.
func opsCLI(h *netlab.Host, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, "env", slices.Concat(env, []string{vigilBin}, args)...)
	return string(out), err
}

// statusInto runs `vigil status --json --socket ...` in h and decodes it
// into into, which names the fields its test reads; it returns the text too,
// for the test's messages.
func statusInto(h *netlab.Host, v *Vigil, into any) (string, error) {
	out, err := opsCLI(h, nil, "status", "--json", "--socket", opsSocket(v))
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal([]byte(out), into); err != nil {
		return out, fmt.Errorf("vigil status --json: %v in %q", err, out)
	}
	return out, nil
}

// opsStatusJSON runs `vigil status --json --socket ...` in h.
func opsStatusJSON(h *netlab.Host, v *Vigil) (opsStatus, error) {
	var st opsStatus
	_, err := statusInto(h, v, &st)
	return st, err
}

// opsWaitStates polls `vigil status --json` until every named instance is
// in its wanted state, and returns that reply.
func opsWaitStates(t *testing.T, timeout time.Duration, h *netlab.Host, v *Vigil, want map[string]string) opsStatus {
	t.Helper()
	var st opsStatus
	Eventually(t, timeout, fmt.Sprintf("%s: states %v", v.Label, want), func() (bool, error) {
		var err error
		if st, err = opsStatusJSON(h, v); err != nil {
			return false, err
		}
		var got []string
		ok := true
		for name, state := range want {
			in, found := st.find(name)
			got = append(got, name+"="+in.State)
			if !found || in.State != state {
				ok = false
			}
		}
		return ok, fmt.Errorf("states %v", got)
	})
	return st
}

// opsWant is what one instance must show in `vigil status`.
type opsWant struct {
	state        string
	prio         int
	vips         string // comma-separated, as in the table
	masterAddr   string // "" for a master (shown as "self") or when not checked
	masterPrio   int
	vrid, family int
	version      int
}

// checkStatusJSON checks st's instances against want.
func checkStatusJSON(t *testing.T, who string, st opsStatus, want map[string]opsWant) {
	t.Helper()
	if len(st.Instances) != len(want) {
		t.Errorf("%s: status --json lists %d instances, want %d", who, len(st.Instances), len(want))
	}
	if st.Time.IsZero() {
		t.Errorf("%s: status --json has no time", who)
	}
	for name, w := range want {
		in, ok := st.find(name)
		if !ok {
			t.Errorf("%s: status --json has no %s", who, name)
			continue
		}
		if in.State != w.state || in.BasePriority != w.prio || in.EffectivePriority != w.prio {
			t.Errorf("%s: %s: state %s prio %d/%d, want %s %d/%d", who, name, in.State, in.BasePriority, in.EffectivePriority, w.state, w.prio, w.prio)
		}
		if in.Interface != "eth0" || in.VRID != w.vrid || in.Family != w.family || in.Version != w.version {
			t.Errorf("%s: %s: interface %q vrid %d family %d version %d, want eth0 %d %d %d", who, name, in.Interface, in.VRID, in.Family, in.Version, w.vrid, w.family, w.version)
		}
		if !slices.Equal(in.VIPs, strings.Split(w.vips, ",")) {
			t.Errorf("%s: %s: vips %q, want %s", who, name, in.VIPs, w.vips)
		}
		if w.masterAddr != "" && (in.MasterAddr != w.masterAddr || in.MasterPriority != w.masterPrio) {
			t.Errorf("%s: %s: master %q prio %d, want %s prio %d", who, name, in.MasterAddr, in.MasterPriority, w.masterAddr, w.masterPrio)
		}
		if in.LastTransition == nil || in.LastTransition.After(st.Time) || in.LastReason == "" {
			t.Errorf("%s: %s: last transition %v (%q), want a time before %v and a reason", who, name, in.LastTransition, in.LastReason, st.Time)
		}
		for _, c := range opsCounterNames {
			if _, ok := in.Counters[c]; !ok {
				t.Errorf("%s: %s: counter %q missing from %v", who, name, c, in.Counters)
			}
		}
		if len(in.Drops) == 0 {
			t.Errorf("%s: %s: no drop reasons listed (every reason must be, zeros included)", who, name)
		}
	}
}

// opsRow is one line of the human `vigil status` table.
type opsRow struct{ state, prio, vips, master, last string }

var opsColumns = regexp.MustCompile(`\s{2,}`)

// opsStatusTable runs `vigil status` in h and parses its table; columns are
// separated by at least two spaces (the MASTER and LAST TRANSITION cells
// contain single ones).
func opsStatusTable(h *netlab.Host, v *Vigil) (map[string]opsRow, string, error) {
	out, err := opsCLI(h, nil, "status", "--socket", opsSocket(v))
	if err != nil {
		return nil, out, err
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := opsColumns.Split(strings.TrimSpace(lines[0]), -1)
	if want := []string{"INSTANCE", "STATE", "PRIO/EFF", "VIPS", "MASTER", "LAST TRANSITION"}; !slices.Equal(header, want) {
		return nil, out, fmt.Errorf("header %q, want %q", header, want)
	}
	rows := map[string]opsRow{}
	for _, l := range lines[1:] {
		f := opsColumns.Split(strings.TrimSpace(l), -1)
		if len(f) != 6 {
			return nil, out, fmt.Errorf("row %q has %d columns, want 6", l, len(f))
		}
		rows[f[0]] = opsRow{f[1], f[2], f[3], f[4], f[5]}
	}
	return rows, out, nil
}

var opsAge = regexp.MustCompile(`^\d+s ago: \S`)

// checkStatusTable checks `vigil status` on h against want.
func checkStatusTable(t *testing.T, who string, h *netlab.Host, v *Vigil, want map[string]opsWant) {
	t.Helper()
	rows, out, err := opsStatusTable(h, v)
	if err != nil {
		t.Errorf("%s: vigil status: %v\n%s", who, err, out)
		return
	}
	if len(rows) != len(want) {
		t.Errorf("%s: vigil status shows %d instances, want %d:\n%s", who, len(rows), len(want), out)
	}
	for name, w := range want {
		r, ok := rows[name]
		if !ok {
			t.Errorf("%s: vigil status has no %s:\n%s", who, name, out)
			continue
		}
		master := "self"
		if w.state != "MASTER" {
			master = fmt.Sprintf("%s (prio %d)", w.masterAddr, w.masterPrio)
		}
		prio := fmt.Sprintf("%d/%d", w.prio, w.prio)
		if r.state != w.state || r.prio != prio || r.vips != w.vips || (w.masterAddr != "" || w.state == "MASTER") && r.master != master {
			t.Errorf("%s: vigil status row %s = %+v, want state %s prio %s vips %s master %q:\n%s", who, name, r, w.state, prio, w.vips, master, out)
		}
		// A transition happened seconds ago in these tests.
		if !opsAge.MatchString(r.last) {
			t.Errorf("%s: %s: last transition %q, want \"<n>s ago: <reason>\"", who, name, r.last)
		}
	}
}

// linkLocal returns h's IPv6 link-local address on ifname, the source of
// its VRRPv3 IPv6 adverts.
func linkLocal(t *testing.T, h *netlab.Host, ifname string) string {
	t.Helper()
	ps, err := h.Addrs(ifname)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			return p.Addr().String()
		}
	}
	t.Fatalf("%s has no link-local address on %s: %v", h, ifname, ps)
	return ""
}

// ---- events ----

// opsEvent is one transition line of `vigil events` (either form).
type opsEvent struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Reason   string    `json:"reason"`
	Priority int       `json:"priority"`
}

// e.g. 2026-03-14T15:09:26.535897Z VI_1 BACKUP -> MASTER prio 150 (master down timer expired)
var opsEventLine = regexp.MustCompile(`^(\S+) (\S+) ([A-Z]+) -> ([A-Z]+) prio (\d+)(?: \((.+)\))?$`)

// parseEvents parses the output of `vigil events` (jsonOut: --json).
func parseEvents(out string, jsonOut bool) ([]opsEvent, error) {
	var evs []opsEvent
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var ev opsEvent
		if jsonOut {
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				return nil, fmt.Errorf("event line %q: %v", l, err)
			}
		} else {
			m := opsEventLine.FindStringSubmatch(l)
			if m == nil {
				return nil, fmt.Errorf("event line %q does not read \"TIME INSTANCE FROM -> TO prio N (REASON)\"", l)
			}
			tm, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				return nil, fmt.Errorf("event line %q: %v", l, err)
			}
			prio, _ := strconv.Atoi(m[5])
			ev = opsEvent{Time: tm, Instance: m[2], From: m[3], To: m[4], Priority: prio, Reason: m[6]}
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// opsFollower is a `vigil events` client running in a node's namespace.
type opsFollower struct {
	p       *netlab.Proc
	jsonOut bool
}

// followEvents starts `vigil events` against v in h and waits until the
// daemon holds its connection, so that no transition after this call is
// missed.
func followEvents(t *testing.T, h *netlab.Host, v *Vigil, jsonOut bool) *opsFollower {
	t.Helper()
	before, err := opsStreams(v)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"events", "--socket", opsSocket(v)}
	if jsonOut {
		args = append(args, "--json")
	}
	p, err := h.Start(vigilBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	f := &opsFollower{p: p, jsonOut: jsonOut}
	Eventually(t, 5*time.Second, "vigil events connected to "+v.Label, func() (bool, error) {
		select {
		case <-p.Done():
			return false, fmt.Errorf("vigil events exited: %s", p.Output())
		default:
		}
		n, err := opsStreams(v)
		return n > before, err
	})
	return f
}

// opsStreams counts the connections to v's control socket in v's network
// namespace (/proc/PID/net/unix): the accepted end of a connection carries
// the socket's path and state 03 (connected).
func opsStreams(v *Vigil) (int, error) {
	b, err := os.ReadFile(v.PidFile)
	if err != nil {
		return 0, err
	}
	pid := strings.TrimSpace(string(b))
	tab, err := os.ReadFile(filepath.Join("/proc", pid, "net", "unix"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range strings.Split(string(tab), "\n") {
		f := strings.Fields(l)
		// Num RefCount Protocol Flags Type St Inode Path
		if len(f) == 8 && f[5] == "03" && f[7] == opsSocket(v) {
			n++
		}
	}
	return n, nil
}

// waitEvent waits until the follower has printed a transition of instance
// from -> to, and returns it.
func (f *opsFollower) waitEvent(t *testing.T, timeout time.Duration, instance, from, to string) opsEvent {
	t.Helper()
	var found opsEvent
	Eventually(t, timeout, fmt.Sprintf("vigil events prints %s %s -> %s", instance, from, to), func() (bool, error) {
		evs, err := parseEvents(f.p.Output(), f.jsonOut)
		if err != nil {
			return false, err
		}
		for _, ev := range evs {
			if ev.Instance == instance && ev.From == from && ev.To == to {
				found = ev
				return true, nil
			}
		}
		return false, fmt.Errorf("events so far: %+v", evs)
	})
	return found
}

// ---- metrics ----

// opsSample is one sample of the Prometheus text format.
type opsSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

var (
	opsSampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	opsLabelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape fetches http://127.0.0.1:port/metrics from inside h's namespace.
// The connection is dialled in the namespace (Host.Do) and the request
// written on it by hand: net/http's transport would dial from a goroutine
// of its own, outside the namespace.
func scrape(h *netlab.Host, port int) ([]opsSample, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var c net.Conn
	if err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Close = true
	if err := req.Write(c); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	var out []opsSample
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := opsSampleLine.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("metrics line %q", l)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %v", l, err)
		}
		s := opsSample{Name: m[1], Labels: map[string]string{}, Value: v}
		for _, p := range opsLabelPair.FindAllStringSubmatch(m[2], -1) {
			s.Labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out, nil
}

// series returns the samples called name whose labels include match.
func series(ss []opsSample, name string, match map[string]string) []opsSample {
	var out []opsSample
next:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for k, v := range match {
			if s.Labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// one returns the value of the single series called name with exactly the
// labels want, failing the test when there is not exactly one such series
// or it carries other labels.
func one(t *testing.T, who string, ss []opsSample, name string, want map[string]string) float64 {
	t.Helper()
	got := series(ss, name, want)
	if len(got) != 1 {
		t.Errorf("%s: %d series %s%v, want 1", who, len(got), name, want)
		return -1
	}
	if len(got[0].Labels) != len(want) {
		t.Errorf("%s: %s has labels %v, want exactly %v", who, name, got[0].Labels, want)
	}
	return got[0].Value
}

// opsInstLabels are the exporter's labels of a per-instance series.
func opsInstLabels(name string, vrid int) map[string]string {
	return map[string]string{"iname": name, "intf": "eth0", "vrid": strconv.Itoa(vrid)}
}

// opsStateLabels are the exporter's labels of keepalived_vrrp_state.
func opsStateLabels(name string, vrid int, vip string) map[string]string {
	m := opsInstLabels(name, vrid)
	m["ip_address"] = vip
	return m
}

// opsScrapeOK scrapes h or fails the test.
func opsScrapeOK(t *testing.T, h *netlab.Host) []opsSample {
	t.Helper()
	ss, err := scrape(h, opsMetricsPort)
	if err != nil {
		t.Fatalf("scrape %s: %v", h, err)
	}
	return ss
}

// ---- the tests ----

// TestOpsStatusEventsMetricsFailover follows a failover and the failback
// through `vigil status` (table and JSON), `vigil events` and the metrics.
func TestOpsStatusEventsMetricsFailover(t *testing.T) {
	t.Parallel()
	p := startOpsPair(t)
	a, b, va, vb := p.a, p.b, p.va, p.vb
	hosts := []*netlab.Host{a, b}
	aLL := linkLocal(t, a, "eth0")
	const aAddr = "10.77.0.2"

	// --- before: a master, b backup following a ---
	// b's view of the master comes with a's first advert after b started;
	// wait for it rather than for the state alone.
	Eventually(t, 5*time.Second, "b knows a as master of both instances", func() (bool, error) {
		st, err := opsStatusJSON(b, vb)
		if err != nil {
			return false, err
		}
		i1, _ := st.find("VI_1")
		i6, _ := st.find("VI_6")
		return i1.MasterAddr == aAddr && i6.MasterAddr == aLL, fmt.Errorf("masters %q, %q", i1.MasterAddr, i6.MasterAddr)
	})
	wantA := map[string]opsWant{
		"VI_1": {state: "MASTER", prio: 150, vips: opsVIPs1, vrid: 51, family: 4, version: 2},
		"VI_6": {state: "MASTER", prio: 150, vips: opsVIPs6, vrid: opsVRID6, family: 6, version: 3},
	}
	wantB := map[string]opsWant{
		"VI_1": {state: "BACKUP", prio: 100, vips: opsVIPs1, masterAddr: aAddr, masterPrio: 150, vrid: 51, family: 4, version: 2},
		"VI_6": {state: "BACKUP", prio: 100, vips: opsVIPs6, masterAddr: aLL, masterPrio: 150, vrid: opsVRID6, family: 6, version: 3},
	}
	stA, err := opsStatusJSON(a, va)
	if err != nil {
		t.Fatal(err)
	}
	checkStatusJSON(t, "a before", stA, wantA)
	// VIGIL_SOCKET instead of --socket reaches the same daemon.
	out, err := opsCLI(b, []string{"VIGIL_SOCKET=" + opsSocket(vb)}, "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var stB opsStatus
	if err := json.Unmarshal([]byte(out), &stB); err != nil {
		t.Fatalf("b: status --json with VIGIL_SOCKET: %v in %q", err, out)
	}
	checkStatusJSON(t, "b before", stB, wantB)
	// So does VIGIL_STATE_DIR, the daemon's own rule for its socket.
	out, err = opsCLI(b, []string{"VIGIL_STATE_DIR=" + vb.StateDir}, "status")
	if err != nil || !strings.Contains(out, "VI_1") {
		t.Errorf("b: vigil status with VIGIL_STATE_DIR: %v: %q", err, out)
	}
	checkStatusTable(t, "a before", a, va, wantA)
	checkStatusTable(t, "b before", b, vb, wantB)

	// Metrics before. Advertisements flow: a sends, b receives.
	mA0, mB0 := opsScrapeOK(t, a), opsScrapeOK(t, b)
	for _, m := range []struct {
		who   string
		ss    []opsSample
		state float64
		prio  float64
	}{{"a before", mA0, 2, 150}, {"b before", mB0, 1, 100}} {
		if v := one(t, m.who, m.ss, "keepalived_up", map[string]string{}); v != 1 {
			t.Errorf("%s: keepalived_up = %v, want 1", m.who, v)
		}
		if v := one(t, m.who, m.ss, "keepalived_vrrp_state", opsStateLabels("VI_1", 51, vip4+"/24")); v != m.state {
			t.Errorf("%s: keepalived_vrrp_state VI_1 = %v, want %v", m.who, v, m.state)
		}
		if v := one(t, m.who, m.ss, "keepalived_vrrp_state", opsStateLabels("VI_1", 51, opsHostVIP)); v != m.state {
			t.Errorf("%s: keepalived_vrrp_state VI_1 %s = %v, want %v", m.who, opsHostVIP, v, m.state)
		}
		if v := one(t, m.who, m.ss, "keepalived_vrrp_state", opsStateLabels("VI_6", opsVRID6, vip6+"/64")); v != m.state {
			t.Errorf("%s: keepalived_vrrp_state VI_6 = %v, want %v", m.who, v, m.state)
		}
		if v := one(t, m.who, m.ss, "vigil_vrrp_effective_priority", opsInstLabels("VI_1", 51)); v != m.prio {
			t.Errorf("%s: vigil_vrrp_effective_priority VI_1 = %v, want %v", m.who, v, m.prio)
		}
		if n := len(series(m.ss, "keepalived_vrrp_state", nil)); n != 3 {
			t.Errorf("%s: %d keepalived_vrrp_state series, want 3 (one per VIP)", m.who, n)
		}
	}
	vi1 := opsInstLabels("VI_1", 51)
	aSent0 := one(t, "a before", mA0, "keepalived_advertisements_sent_total", vi1)
	bRcvd0 := one(t, "b before", mB0, "keepalived_advertisements_received_total", vi1)
	bSent0 := one(t, "b before", mB0, "keepalived_advertisements_sent_total", vi1)
	if aSent0 <= 0 || bRcvd0 <= 0 {
		t.Errorf("before: a sent %v, b received %v adverts; want both > 0", aSent0, bRcvd0)
	}
	aBecame0 := one(t, "a before", mA0, "keepalived_become_master_total", vi1)
	bBecame0 := one(t, "b before", mB0, "keepalived_become_master_total", vi1)
	if aBecame0 != 1 || bBecame0 != 0 {
		t.Errorf("before: become_master a=%v b=%v, want 1 and 0", aBecame0, bBecame0)
	}
	// The counters move while the pair runs.
	Eventually(t, 5*time.Second, "advert counters increase", func() (bool, error) {
		mA, err := scrape(a, opsMetricsPort)
		if err != nil {
			return false, err
		}
		mB, err := scrape(b, opsMetricsPort)
		if err != nil {
			return false, err
		}
		s := series(mA, "keepalived_advertisements_sent_total", vi1)
		r := series(mB, "keepalived_advertisements_received_total", vi1)
		return len(s) == 1 && len(r) == 1 && s[0].Value > aSent0 && r[0].Value > bRcvd0, nil
	})

	// --- failover: a's cable is pulled ---
	evB := followEvents(t, b, vb, false)
	evA := followEvents(t, a, va, true)
	cut := time.Now()
	if err := a.CutWire("eth0", true); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, b)
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip6, b)
	opsWaitStates(t, 5*time.Second, b, vb, map[string]string{"VI_1": "MASTER", "VI_6": "MASTER"})
	opsWaitStates(t, 5*time.Second, a, va, map[string]string{"VI_1": "FAULT", "VI_6": "FAULT"})
	wantB2 := map[string]opsWant{
		"VI_1": {state: "MASTER", prio: 100, vips: opsVIPs1, vrid: 51, family: 4, version: 2},
		"VI_6": {state: "MASTER", prio: 100, vips: opsVIPs6, vrid: opsVRID6, family: 6, version: 3},
	}
	wantA2 := map[string]opsWant{
		"VI_1": {state: "FAULT", prio: 150, vips: opsVIPs1, vrid: 51, family: 4, version: 2},
		"VI_6": {state: "FAULT", prio: 150, vips: opsVIPs6, vrid: opsVRID6, family: 6, version: 3},
	}
	if st, err := opsStatusJSON(b, vb); err != nil {
		t.Fatal(err)
	} else {
		checkStatusJSON(t, "b after", st, wantB2)
		for _, in := range st.Instances {
			if in.LastTransition.Before(cut) {
				t.Errorf("b after: %s: last transition %v is before the cut at %v", in.Name, in.LastTransition, cut)
			}
		}
	}
	if st, err := opsStatusJSON(a, va); err != nil {
		t.Fatal(err)
	} else {
		checkStatusJSON(t, "a after", st, wantA2)
	}
	checkStatusTable(t, "b after", b, vb, wantB2)
	checkStatusTable(t, "a after", a, va, wantA2)

	for _, name := range []string{"VI_1", "VI_6"} {
		ev := evB.waitEvent(t, 5*time.Second, name, "BACKUP", "MASTER")
		if ev.Priority != 100 || ev.Reason == "" || ev.Time.Before(cut.Add(-time.Second)) {
			t.Errorf("b: event %+v, want prio 100, a reason, a time after the cut (%v)", ev, cut)
		}
		ev = evA.waitEvent(t, 5*time.Second, name, "MASTER", "FAULT")
		if ev.Priority != 150 || ev.Reason == "" {
			t.Errorf("a: event %+v, want prio 150 and a reason", ev)
		}
	}

	mA1, mB1 := opsScrapeOK(t, a), opsScrapeOK(t, b)
	for _, c := range []struct {
		who   string
		ss    []opsSample
		state float64
	}{{"a after", mA1, 3}, {"b after", mB1, 2}} {
		if v := one(t, c.who, c.ss, "keepalived_vrrp_state", opsStateLabels("VI_1", 51, vip4+"/24")); v != c.state {
			t.Errorf("%s: keepalived_vrrp_state VI_1 = %v, want %v", c.who, v, c.state)
		}
		if v := one(t, c.who, c.ss, "keepalived_vrrp_state", opsStateLabels("VI_6", opsVRID6, vip6+"/64")); v != c.state {
			t.Errorf("%s: keepalived_vrrp_state VI_6 = %v, want %v", c.who, v, c.state)
		}
	}
	if v := one(t, "b after", mB1, "keepalived_become_master_total", vi1); v != bBecame0+1 {
		t.Errorf("b after: become_master_total = %v, want %v", v, bBecame0+1)
	}
	if v := one(t, "a after", mA1, "keepalived_release_master_total", vi1); v != 1 {
		t.Errorf("a after: release_master_total = %v, want 1", v)
	}
	if v := one(t, "b after", mB1, "keepalived_advertisements_sent_total", vi1); v <= bSent0 {
		t.Errorf("b after: advertisements_sent_total = %v, want more than %v", v, bSent0)
	}

	// --- failback: the cable is back, a preempts ---
	if err := a.CutWire("eth0", false); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 15*time.Second, hosts, "eth0", vip4, a)
	WaitVIP(t, 15*time.Second, hosts, "eth0", vip6, a)
	opsWaitStates(t, 5*time.Second, b, vb, map[string]string{"VI_1": "BACKUP", "VI_6": "BACKUP"})
	Eventually(t, 5*time.Second, "b follows a again", func() (bool, error) {
		st, err := opsStatusJSON(b, vb)
		if err != nil {
			return false, err
		}
		i1, _ := st.find("VI_1")
		return i1.MasterAddr == aAddr && i1.MasterPriority == 150, fmt.Errorf("master %q prio %d", i1.MasterAddr, i1.MasterPriority)
	})
	checkStatusTable(t, "b failback", b, vb, wantB)
	evB.waitEvent(t, 5*time.Second, "VI_1", "MASTER", "BACKUP")
	evA.waitEvent(t, 5*time.Second, "VI_1", "BACKUP", "MASTER")
	mA2 := opsScrapeOK(t, a)
	if v := one(t, "a failback", mA2, "keepalived_become_master_total", vi1); v != aBecame0+1 {
		t.Errorf("a failback: become_master_total = %v, want %v", v, aBecame0+1)
	}

	for _, f := range []*opsFollower{evA, evB} {
		if err := f.p.Stop(); err != nil {
			t.Errorf("vigil events: exit after SIGTERM: %v\n%s", err, f.p.Output())
		}
	}
	opsStop(t, va, vb)
}

// opsStop stops every vigil with SIGTERM and checks each exited cleanly.
func opsStop(t *testing.T, vs ...*Vigil) {
	t.Helper()
	for _, v := range vs {
		if err := v.Stop(); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", v.Label, err)
		}
	}
}

// opsStartVigil is StartVigil with env added to the daemon's environment.
func opsStartVigil(t *testing.T, h *netlab.Host, conf string, env ...string) *Vigil {
	t.Helper()
	needVigil(t)
	dir := t.TempDir()
	v := &Vigil{
		ConfFile: filepath.Join(dir, "keepalived.conf"),
		PidFile:  filepath.Join(dir, "vigil.pid"),
		StateDir: filepath.Join(dir, "state"),
	}
	if err := os.WriteFile(v.ConfFile, []byte(conf), 0o644); err != nil {
		t.Fatalf("write config: %v", err)
	}
	env = append([]string{"VIGIL_STATE_DIR=" + v.StateDir}, env...)
	v.Daemon = StartDaemon(t, h, "vigil@"+h.String(), dir, env, vigilBin, "-f", v.ConfFile, "-l", "-p", v.PidFile)
	return v
}

// notifySink is a fake systemd notification socket: a unixgram socket in
// the test's directory, reachable by path from any network namespace.
type notifySink struct {
	path string
	mu   sync.Mutex
	msgs []string
	at   []time.Time // when each message arrived
}

func newNotifySink(t *testing.T) *notifySink {
	t.Helper()
	s := &notifySink{path: filepath.Join(t.TempDir(), "notify.sock")}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(buf[:n]))
			s.at = append(s.at, time.Now())
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return s
}

// since returns the messages from index i on.
func (s *notifySink) since(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i > len(s.msgs) {
		return nil
	}
	return slices.Clone(s.msgs[i:])
}

// arrivals returns when the messages from index i on arrived.
func (s *notifySink) arrivals(i int) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i > len(s.at) {
		return nil
	}
	return slices.Clone(s.at[i:])
}

func (s *notifySink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// kind is the first assignment of a message ("READY=1", "WATCHDOG=1", ...).
func kind(msg string) string {
	k, _, _ := strings.Cut(msg, "\n")
	return k
}

// nonWatchdog drops the keep-alives, which may come between any two others.
func nonWatchdog(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if kind(m) != "WATCHDOG=1" {
			out = append(out, m)
		}
	}
	return out
}

func kinds(msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = kind(m)
	}
	return out
}

// assignment returns the value of key in msg.
func assignment(msg, key string) (string, bool) {
	for _, l := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// waitReload waits until the messages from index i on (keep-alives aside)
// are RELOADING=1, with a plausible MONOTONIC_USEC, and then READY=1.
func (s *notifySink) waitReload(t *testing.T, i int, how string) {
	t.Helper()
	Eventually(t, 5*time.Second, how+": RELOADING=1 then READY=1", func() (bool, error) {
		got := nonWatchdog(s.since(i))
		return slices.Equal(kinds(got), []string{"RELOADING=1", "READY=1"}), fmt.Errorf("got %q", got)
	})
	msg := nonWatchdog(s.since(i))[0]
	v, ok := assignment(msg, "MONOTONIC_USEC")
	us, err := strconv.ParseUint(v, 10, 64)
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	now := uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
	if !ok || err != nil || us > now || now-us > 10e6 {
		t.Errorf("%s: RELOADING message %q: MONOTONIC_USEC should be the monotonic clock of the last seconds (now %d)", how, msg, now)
	}
}

// TestOpsSdNotify runs vigil under a fake service manager: READY=1 once the
// instances run, keep-alives every half WATCHDOG_USEC, RELOADING=1 and
// READY=1 around each reload (control socket and SIGHUP), STOPPING=1 on
// SIGTERM and nothing after it; and no keep-alives when WATCHDOG_PID names
// another process.
func TestOpsSdNotify(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a")
	a := hs["a"]
	sink := newNotifySink(t)
	conf := Conf(nil, Instance{State: "MASTER", Priority: 150, AdvertInt: "1", VIPs: []string{vip4 + "/24"}})
	// Unset WATCHDOG_PID means "this process" (sd_watchdog_enabled(3)).
	v := opsStartVigil(t, a, conf, "NOTIFY_SOCKET="+sink.path, "WATCHDOG_USEC=200000")

	Eventually(t, 10*time.Second, "READY=1", func() (bool, error) { return sink.len() > 0, nil })
	first := sink.since(0)[0]
	if kind(first) != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", first)
	}
	if st, ok := assignment(first, "STATUS"); !ok || st == "" {
		t.Errorf("READY=1 without a STATUS line: %q", first)
	}
	// READY means started: the control socket answers and lists the
	// instance.
	if st, err := opsStatusJSON(a, v); err != nil {
		t.Errorf("status right after READY=1: %v", err)
	} else if _, ok := st.find("VI_1"); !ok {
		t.Errorf("status right after READY=1 lists %+v, want VI_1", st.Instances)
	}

	// Keep-alives every WATCHDOG_USEC/2 = 100 ms. A keep-alive that is
	// skipped leaves a gap of the whole WATCHDOG_USEC, after which systemd
	// kills the service: the typical gap must be the half, with room for
	// scheduling delays, and never close to the whole.
	const pings = 16
	Eventually(t, 5*time.Second, fmt.Sprintf("%d WATCHDOG=1", pings), func() (bool, error) {
		return len(sink.since(1)) >= pings, nil
	})
	for _, m := range sink.since(1)[:pings] {
		if m != "WATCHDOG=1\n" {
			t.Fatalf("after READY=1: %q, want only WATCHDOG=1 keep-alives", sink.since(1)[:pings])
		}
	}
	at := sink.arrivals(1)[:pings]
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]))
	}
	sorted := slices.Sorted(slices.Values(gaps))
	if med := sorted[len(sorted)/2]; med < 70*time.Millisecond || med > 140*time.Millisecond {
		t.Errorf("keep-alive gaps %v: median %v, want about 100 ms (half of WATCHDOG_USEC=200ms)", gaps, med)
	}
	if long := sorted[len(sorted)-1]; long >= 180*time.Millisecond {
		t.Errorf("keep-alive gaps %v: one of %v, close to WATCHDOG_USEC=200ms: a keep-alive was skipped", gaps, long)
	}

	// Reload over the control socket, then by SIGHUP.
	n := sink.len()
	out, err := opsCLI(a, nil, "reload", "--socket", opsSocket(v))
	if err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("vigil reload: %v: %q", err, out)
	}
	sink.waitReload(t, n, "vigil reload")
	n = sink.len()
	if err := v.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sink.waitReload(t, n, "SIGHUP")
	// The loop keeps pinging after the reloads.
	n = sink.len()
	Eventually(t, 3*time.Second, "keep-alives after the reloads", func() (bool, error) {
		return len(sink.since(n)) >= 3, nil
	})
	if got := nonWatchdog(sink.since(n)); len(got) != 0 {
		t.Errorf("unexpected notifications while idle: %q", got)
	}

	n = sink.len()
	if err := v.Stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	Eventually(t, 3*time.Second, "STOPPING=1", func() (bool, error) {
		return len(nonWatchdog(sink.since(n))) > 0, nil
	})
	got := sink.since(n)
	i := slices.IndexFunc(got, func(m string) bool { return kind(m) != "WATCHDOG=1" })
	if !slices.Equal(kinds(got[i:]), []string{"STOPPING=1"}) {
		t.Errorf("after SIGTERM: %q, want STOPPING=1 and nothing after it", got)
	}

	// WATCHDOG_PID naming another process: the watchdog is not ours.
	n = sink.len()
	v2 := opsStartVigil(t, a, conf, "NOTIFY_SOCKET="+sink.path, "WATCHDOG_USEC=200000", "WATCHDOG_PID=1")
	Eventually(t, 10*time.Second, "READY=1 of the second daemon", func() (bool, error) {
		return slices.Contains(kinds(sink.since(n)), "READY=1"), nil
	})
	Never(t, time.Second, "WATCHDOG=1 with WATCHDOG_PID=1", func() (bool, error) {
		return slices.Contains(kinds(sink.since(n)), "WATCHDOG=1"), nil
	})
	opsStop(t, v2)
}

// The keepalived dump files, which cannot be redirected per daemon:
// TestOpsDumpSignals is the only test in this package that writes them,
// and it signals one daemon at a time.
var opsDumpFiles = []string{"/tmp/keepalived.data", "/tmp/keepalived.stats", "/tmp/keepalived.json"}

// dumpAfter sends sig to v and returns the dump it writes to path (which
// must not exist before).
func dumpAfter(t *testing.T, v *Vigil, sig syscall.Signal, path string) string {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := v.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var b []byte
	Eventually(t, 5*time.Second, fmt.Sprintf("%s written after %v to %s", path, sig, v.Label), func() (bool, error) {
		var err error
		b, err = os.ReadFile(path)
		return err == nil, err
	})
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	if !v.Running() {
		t.Fatalf("%s exited after %v", v.Label, sig)
	}
	return string(b)
}

// dumpCounter returns the number after the first line of dump that reads
// "<indent>key: N" after the line containing section ("" for anywhere).
func dumpCounter(t *testing.T, dump, section, key string) uint64 {
	t.Helper()
	rest := dump
	if section != "" {
		i := strings.Index(rest, section)
		if i < 0 {
			t.Fatalf("no %q in dump:\n%s", section, dump)
		}
		rest = rest[i:]
	}
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(key) + `: (\d+)$`).FindStringSubmatch(rest)
	if m == nil {
		t.Fatalf("no %q counter in dump:\n%s", key, dump)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// counterAround reads a counter of VI_1 from `vigil status --json` before
// and after fn, so that a dump written in between can be checked against
// the live values without guessing them.
func counterAround(t *testing.T, h *netlab.Host, v *Vigil, counter string, fn func()) (lo, hi uint64) {
	t.Helper()
	get := func() uint64 {
		st, err := opsStatusJSON(h, v)
		if err != nil {
			t.Fatal(err)
		}
		in, ok := st.find("VI_1")
		if !ok {
			t.Fatalf("%s: no VI_1 in status", v.Label)
		}
		return in.Counters[counter]
	}
	lo = get()
	fn()
	return lo, get()
}

// TestOpsDumpSignals checks keepalived's dump signals on a master and a
// backup: SIGUSR1 (data), SIGUSR2 (stats) and 36 (JSON) write the
// instance's state, and the daemon runs on.
func TestOpsDumpSignals(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	for _, f := range opsDumpFiles {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, f := range opsDumpFiles {
			os.Remove(f)
		}
	})
	in := Instance{AdvertInt: "1", VIPs: []string{vip4 + "/24"}}
	hi, lo := in, in
	hi.State, hi.Priority = "MASTER", 150
	lo.Priority = 100
	va := StartVigil(t, a, Conf(nil, hi))
	vb := StartVigil(t, b, Conf(nil, lo))
	WaitVIP(t, 10*time.Second, []*netlab.Host{a, b}, "eth0", vip4, a)
	opsWaitStates(t, 10*time.Second, a, va, map[string]string{"VI_1": "MASTER"})
	Eventually(t, 10*time.Second, "b backup following a", func() (bool, error) {
		st, err := opsStatusJSON(b, vb)
		if err != nil {
			return false, err
		}
		in, _ := st.find("VI_1")
		return in.State == "BACKUP" && in.MasterAddr == "10.77.0.2", fmt.Errorf("%+v", in)
	})

	// SIGUSR1: the data dump.
	data := map[string]string{
		"a": dumpAfter(t, va, syscall.SIGUSR1, opsDumpFiles[0]),
		"b": dumpAfter(t, vb, syscall.SIGUSR1, opsDumpFiles[0]),
	}
	for who, want := range map[string][]string{
		"a": {"VRRP Instance = VI_1", "State = MASTER", "Interface = eth0", "Virtual Router ID = 51",
			"Priority = 150", "Effective priority = 150", "Virtual IP (1):", vip4 + "/24 dev eth0 scope global set"},
		"b": {"VRRP Instance = VI_1", "State = BACKUP", "Interface = eth0", "Virtual Router ID = 51",
			"Priority = 100", "Effective priority = 100", "Master router = 10.77.0.2", "Master priority = 150",
			"Virtual IP (1):"},
	} {
		lines := strings.Split(data[who], "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		for _, w := range want {
			if !slices.Contains(lines, w) {
				t.Errorf("%s: data dump has no line %q:\n%s", who, w, data[who])
			}
		}
	}
	if !strings.Contains(data["b"], vip4+"/24 dev eth0 scope global\n") {
		t.Errorf("b: data dump should list the VIP as not set:\n%s", data["b"])
	}

	// SIGUSR2: the statistics, against the live counters around the signal.
	var statsA, statsB string
	txLo, txHi := counterAround(t, a, va, "adverts_tx", func() { statsA = dumpAfter(t, va, syscall.SIGUSR2, opsDumpFiles[1]) })
	rxLo, rxHi := counterAround(t, b, vb, "adverts_rx", func() { statsB = dumpAfter(t, vb, syscall.SIGUSR2, opsDumpFiles[1]) })
	if !strings.HasPrefix(statsA, "VRRP Instance: VI_1\n") || !strings.HasPrefix(statsB, "VRRP Instance: VI_1\n") {
		t.Errorf("stats dumps do not start with the instance:\n%s\n%s", statsA, statsB)
	}
	if n := dumpCounter(t, statsA, "Advertisements:", "Sent"); n < txLo || n > txHi || n == 0 {
		t.Errorf("a: stats dump: %d adverts sent, want within [%d, %d] and > 0", n, txLo, txHi)
	}
	if n := dumpCounter(t, statsB, "Advertisements:", "Received"); n < rxLo || n > rxHi || n == 0 {
		t.Errorf("b: stats dump: %d adverts received, want within [%d, %d] and > 0", n, rxLo, rxHi)
	}
	if n := dumpCounter(t, statsA, "", "Became master"); n != 1 {
		t.Errorf("a: stats dump: became master %d, want 1", n)
	}
	if n := dumpCounter(t, statsB, "", "Became master"); n != 0 {
		t.Errorf("b: stats dump: became master %d, want 0", n)
	}

	// Signal 36: the JSON dump.
	var dump []struct {
		Data struct {
			IName          string   `json:"iname"`
			Ifname         string   `json:"ifp_ifname"`
			VRID           int      `json:"vrid"`
			State          int      `json:"state"`
			BasePriority   int      `json:"base_priority"`
			MasterPriority int      `json:"master_priority"`
			VIPs           []string `json:"vips"`
		} `json:"data"`
		Stats struct {
			AdvertRcvd   uint64 `json:"advert_rcvd"`
			BecomeMaster uint64 `json:"become_master"`
		} `json:"stats"`
	}
	var js string
	rxLo, rxHi = counterAround(t, b, vb, "adverts_rx", func() { js = dumpAfter(t, vb, syscall.Signal(36), opsDumpFiles[2]) })
	if err := json.Unmarshal([]byte(js), &dump); err != nil {
		t.Fatalf("JSON dump: %v:\n%s", err, js)
	}
	if len(dump) != 1 {
		t.Fatalf("JSON dump has %d instances, want 1:\n%s", len(dump), js)
	}
	d := dump[0]
	if d.Data.IName != "VI_1" || d.Data.Ifname != "eth0" || d.Data.VRID != 51 || d.Data.State != 1 ||
		d.Data.BasePriority != 100 || d.Data.MasterPriority != 150 || !slices.Equal(d.Data.VIPs, []string{vip4 + "/24 dev eth0 scope global"}) {
		t.Errorf("b: JSON dump data = %+v, want VI_1 on eth0, VRID 51, BACKUP (1), prio 100, master prio 150, the VIP unset", d.Data)
	}
	if d.Stats.AdvertRcvd < rxLo || d.Stats.AdvertRcvd > rxHi || d.Stats.BecomeMaster != 0 {
		t.Errorf("b: JSON dump stats = %+v, want advert_rcvd within [%d, %d] and become_master 0", d.Stats, rxLo, rxHi)
	}

	opsStop(t, va, vb)
}
