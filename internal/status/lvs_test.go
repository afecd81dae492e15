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
