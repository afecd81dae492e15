package status

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func lvsFixture() *LVSJSON {
	return &LVSJSON{Mode: "child", PID: 42, Restarts: 1, State: "running", Dataplane: "ipvs", DataplaneWhy: "auto",
		VirtualServers: []LVSVirtualServerJSON{{Name: "[10.0.0.1]:TCP:80", QuorumUp: true, WeightSum: 2, Quorum: 1,
			Reals: []LVSRealJSON{{Addr: "10.0.0.2:80", Alive: true, Weight: 2}, {Addr: "10.0.0.3:80", Alive: false, Weight: 0}}}}}
}

// lvsStatsFixture is lvsFixture with the counters of a plane that keeps
// them.
func lvsStatsFixture() *LVSJSON {
	l := lvsFixture()
	vs := &l.VirtualServers[0]
	vs.Protocol = "TCP"
	vs.Stats = &LVSStatsJSON{Conns: 30, InPackets: 300, OutPackets: 200, InBytes: 30000, OutBytes: 20000, CPS: 4, InPPS: 40, OutPPS: 30, InBPS: 4000, OutBPS: 3000}
	active, inactive := uint32(7), uint32(11)
	vs.Reals[0].ActiveConns, vs.Reals[0].InactiveConns = &active, &inactive
	vs.Reals[0].Stats = &LVSStatsJSON{Conns: 30, InPackets: 300, OutPackets: 200, InBytes: 30000, OutBytes: 20000, CPS: 4, InPPS: 40, OutPPS: 30}
	return l
}

// gatherLVS returns the LVS metrics of a hub reporting l, keyed by name and
// the values of the labels addr, vs and rs.
func gatherLVS(t *testing.T, l *LVSJSON) map[string]float64 {
	t.Helper()
	h := NewHub()
	h.SetLVSSource(func() *LVSJSON { return l })
	mfs, err := NewRegistry(h).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				key += " " + lp.GetName() + "=" + lp.GetValue()
			}
			got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return got
}

func TestLVSStatsMetricsAndText(t *testing.T) {
	got := gatherLVS(t, lvsStatsFixture())
	vip := " addr=[10.0.0.1]:TCP:80 proto=TCP"
	rs := " addr=10.0.0.2:80 proto=TCP vs=[10.0.0.1]:TCP:80"
	for k, want := range map[string]float64{
		"keepalived_lvs_vip_in_packets" + vip: 300, "keepalived_lvs_vip_out_packets" + vip: 200,
		"keepalived_lvs_vip_in_bytes" + vip: 30000, "keepalived_lvs_vip_out_bytes" + vip: 20000, "keepalived_lvs_vip_conn" + vip: 30,
		"keepalived_lvs_rs_in_packets" + rs: 300, "keepalived_lvs_rs_out_bytes" + rs: 20000, "keepalived_lvs_rs_conn" + rs: 30,
		"vigil_lvs_real_server_active_conns rs=10.0.0.2:80 vs=[10.0.0.1]:TCP:80":   7,
		"vigil_lvs_real_server_inactive_conns rs=10.0.0.2:80 vs=[10.0.0.1]:TCP:80": 11,
		"vigil_lvs_connections_per_second vs=[10.0.0.1]:TCP:80":                    4,
		"vigil_lvs_in_bytes_per_second vs=[10.0.0.1]:TCP:80":                       4000,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	// The real server without counters has no traffic series.
	for k := range got {
		if strings.Contains(k, "10.0.0.3:80") && (strings.HasPrefix(k, "keepalived_lvs_rs_") || strings.Contains(k, "_conns ")) {
			t.Errorf("series for a real server without counters: %s", k)
		}
	}
	// Without counters, none of the traffic series.
	for k := range gatherLVS(t, lvsFixture()) {
		if strings.HasPrefix(k, "keepalived_lvs_") || strings.Contains(k, "per_second") || strings.Contains(k, "_conns ") {
			t.Errorf("series without counters: %s", k)
		}
	}
	var b bytes.Buffer
	RenderLVS(&b, lvsStatsFixture())
	var rsLine, downLine string
	for _, line := range strings.Split(b.String(), "\n") {
		switch {
		case strings.Contains(line, "-> 10.0.0.2:80"):
			rsLine = line
		case strings.Contains(line, "-> 10.0.0.3:80"):
			downLine = line
		}
	}
	if f := strings.Fields(rsLine); len(f) != 9 || f[3] != "7" || f[4] != "11" || f[5] != "4" || f[6] != "40" || f[7] != "30" {
		t.Errorf("real server line %q, want ActiveConn 7, InActConn 11, CPS 4, InPPS 40, OutPPS 30", rsLine)
	}
	if f := strings.Fields(downLine); len(f) != 9 || f[3] != "-" || f[5] != "-" {
		t.Errorf("real server without counters %q, want -", downLine)
	}
	if !strings.Contains(b.String(), "ActiveConn") || !strings.Contains(b.String(), "OutPPS") {
		t.Errorf("header lacks the columns:\n%s", b.String())
	}
}

func TestLVSInStatusMetricsAndText(t *testing.T) {
	h := NewHub()
	if h.Status().LVS != nil {
		t.Fatal("LVS reported without a source")
	}
	h.SetLVSSource(lvsFixture)
	if got := h.Status().LVS; got == nil || got.PID != 42 || len(got.VirtualServers) != 1 {
		t.Fatalf("status LVS %+v", got)
	}
	var b bytes.Buffer
	RenderLVS(&b, lvsFixture())
	for _, want := range []string{"LVS: running (pid 42, child, restarts 1), data plane ipvs (auto)", "[10.0.0.1]:TCP:80", "quorum up (2 of 1)", "-> 10.0.0.3:80", "down"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	mfs, err := NewRegistry(h).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "rs" {
					key += " " + l.GetValue()
				}
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[key] = v
		}
	}
	for k, want := range map[string]float64{
		"vigil_lvs_up": 1, "vigil_lvs_process_restarts_total": 1, "vigil_lvs_quorum_up": 1,
		"vigil_lvs_real_server_up 10.0.0.2:80": 1, "vigil_lvs_real_server_up 10.0.0.3:80": 0,
		"vigil_lvs_real_server_weight 10.0.0.2:80": 2,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}

func TestLVSEventString(t *testing.T) {
	ev := Event{Time: time.Unix(0, 0).UTC(), Instance: "VS [10.0.0.1]:TCP:80", Kind: "real-down", RealServer: "10.0.0.2:80"}
	if got, want := ev.String(), "1970-01-01T00:00:00Z VS [10.0.0.1]:TCP:80 real-down 10.0.0.2:80"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// The text status names the checkers that cannot run, each with its
// file:line.
func TestRenderLVSCheckerProblems(t *testing.T) {
	l := lvsFixture()
	l.CheckerProblems = []string{"/etc/keepalived/keepalived.conf:12: MISC_CHECK: script /x cannot be accessed; the checker is not run"}
	var b bytes.Buffer
	RenderLVS(&b, l)
	if !strings.Contains(b.String(), "  checker not run: /etc/keepalived/keepalived.conf:12: MISC_CHECK") {
		t.Errorf("text lacks the checker problem:\n%s", b.String())
	}
}
