package status

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"vigil/internal/vrrp"
)

func TestStatusJSONShape(t *testing.T) {
	b, err := json.Marshal(fixtureHub().Status())
	if err != nil {
		t.Fatal(err)
	}
	// Decode generically: the field names are the API.
	var got struct {
		Time      time.Time        `json:"time"`
		Instances []map[string]any `json:"instances"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("time = %v", got.Time)
	}
	if len(got.Instances) != 2 {
		t.Fatalf("%d instances, want 2", len(got.Instances))
	}
	vi1, vi6 := got.Instances[0], got.Instances[1]
	checks := []struct {
		inst map[string]any
		key  string
		want any
	}{
		{vi1, "name", "VI_1"},
		{vi1, "interface", "eth0"},
		{vi1, "vrid", 51.0},
		{vi1, "state", "MASTER"},
		{vi1, "base_priority", 150.0},
		{vi1, "effective_priority", 140.0},
		{vi1, "vips", []any{"10.77.0.100/24", "10.77.0.101/32 dev eth1"}},
		{vi1, "excluded_vips", []any{"fd00:77::100/64"}},
		{vi1, "last_transition", t0.Format(time.RFC3339Nano)},
		{vi1, "last_reason", "master down timer expired on eth0"},
		{vi6, "name", "VI_6"},
		{vi6, "state", "BACKUP"},
		{vi6, "master_addr", "fd00:77::2"},
		{vi6, "master_priority", 200.0},
		{vi6, "family", 6.0},
		{vi6, "version", 3.0},
	}
	for _, c := range checks {
		if got := c.inst[c.key]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v.%s = %#v, want %#v", c.inst["name"], c.key, got, c.want)
		}
	}
	if _, ok := vi1["master_addr"]; ok {
		t.Error("VI_1 has heard no master but has master_addr")
	}
	if _, ok := vi6["last_transition"]; ok {
		t.Error("VI_6 never changed state but has last_transition")
	}
	if strings.Contains(string(b), "secret") {
		t.Error("the status shows the auth_pass")
	}
	counters := vi1["counters"].(map[string]any)
	if counters["adverts_tx"] != 1234.0 || counters["addr_list_errors"] != 4.0 {
		t.Errorf("counters = %v", counters)
	}
	drops := vi1["drops"].(map[string]any)
	if drops["ttl"] != 3.0 || drops["auth"] != 9.0 {
		t.Errorf("drops = %v", drops)
	}
	// Every reason is listed, zero or not.
	for _, r := range vrrp.DropReasons() {
		if _, ok := vi6["drops"].(map[string]any)[string(r)]; !ok {
			t.Errorf("VI_6 drops lack %q", r)
		}
	}
	tr := vi1["trackers"].([]any)[0].(map[string]any)
	if tr["name"] != "chk_nginx" || tr["state"] != "BAD" || tr["weight"] != -10.0 {
		t.Errorf("tracker = %v", tr)
	}
}

func TestHubWithoutSource(t *testing.T) {
	h := NewHub()
	if ins := h.Instances(); ins != nil {
		t.Fatalf("Instances = %v, want none", ins)
	}
	b, _ := json.Marshal(h.Status())
	if !strings.Contains(string(b), `"instances":[]`) {
		t.Fatalf("status without a source: %s", b)
	}
}

func TestEventFromVRRP(t *testing.T) {
	ev := EventFromVRRP(vrrp.StateChange{
		Instance: "VI_1", From: vrrp.StateBackup, To: vrrp.StateMaster,
		Reason: "higher priority", At: t0, Priority: 150,
	})
	want := Event{Time: t0, Instance: "VI_1", From: "BACKUP", To: "MASTER", Reason: "higher priority", Priority: 150}
	if ev != want {
		t.Fatalf("got %+v, want %+v", ev, want)
	}
	if s := ev.String(); s != "2026-03-14T15:09:26.535897Z VI_1 BACKUP -> MASTER prio 150 (higher priority)" {
		t.Fatalf("String = %q", s)
	}
}

func TestPublishFanOutAndSlowReader(t *testing.T) {
	h := NewHub()
	fast, slow := h.Subscribe(), h.Subscribe()
	defer fast.Close()
	defer slow.Close()
	for i := 0; i < subscriptionBuffer+1; i++ {
		h.Publish(Event{Instance: "VI_1", Priority: uint8(i)})
		select {
		case ev := <-fast.Events():
			if ev.Priority != uint8(i) {
				t.Fatalf("event %d: priority %d", i, ev.Priority)
			}
		default:
			t.Fatalf("event %d not delivered to the reader that keeps up", i)
		}
	}
	if fast.Lost() {
		t.Fatal("the reader that keeps up was cut off")
	}
	// The slow reader got a full buffer, then was cut off.
	n := 0
	for range slow.Events() {
		n++
	}
	if n != subscriptionBuffer || !slow.Lost() {
		t.Fatalf("slow reader: %d events, lost=%v; want %d, true", n, slow.Lost(), subscriptionBuffer)
	}
	if got := h.Subscribers(); got != 1 {
		t.Fatalf("%d subscribers, want 1", got)
	}
	fast.Close()
	fast.Close() // twice is fine
	if got := h.Subscribers(); got != 0 {
		t.Fatalf("%d subscribers after Close, want 0", got)
	}
}

func TestVIPLabel(t *testing.T) {
	tests := map[string]string{
		"10.0.0.1/24": "10.0.0.1/24",
		"10.0.0.1/32": "10.0.0.1",
		"fd00::1/64":  "fd00::1/64",
		"fd00::1/128": "fd00::1",
	}
	for in, want := range tests {
		p := netip.MustParsePrefix(in)
		if got := vipLabel(p); got != want {
			t.Errorf("vipLabel(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestSnapshotOnlySource(t *testing.T) {
	// A source that knows only snapshots still reports where the instance
	// runs and what it holds.
	h := NewHub()
	h.SetSource(func() []Instance {
		return []Instance{{Snapshot: vrrp.Snapshot{
			Name: "VI_9", Interface: "bond0", VRID: 9, Version: 3, Family: 4,
			VIPs:  []netip.Prefix{netip.MustParsePrefix("10.9.0.1/32")},
			State: vrrp.StateMaster,
		}}}
	})
	got := h.Status().Instances[0]
	if got.Name != "VI_9" || got.Interface != "bond0" || got.VRID != 9 || got.Version != 3 || got.Family != 4 {
		t.Errorf("identity = %+v", got)
	}
	if !reflect.DeepEqual(got.VIPs, []string{"10.9.0.1/32"}) {
		t.Errorf("VIPs = %v", got.VIPs)
	}
	if n := testutil.CollectAndCount(collector{h}, "keepalived_vrrp_state"); n != 1 {
		t.Errorf("%d state series, want 1", n)
	}
}
