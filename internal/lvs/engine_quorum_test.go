package lvs

import (
	"fmt"
	"strings"
	"testing"
)

// TestQuorumMatchesSnapshot checks Engine.Quorum against Snapshot for
// virtual servers with different quorum and hysteresis (and the defaults),
// and that it knows no virtual server after Stop or one never configured.
func TestQuorumMatchesSnapshot(t *testing.T) {
	var b strings.Builder
	for i, q := range []string{"3", "5", "1"} {
		conf := fourReals(q, fmt.Sprint(i), "")
		b.WriteString(strings.Replace(conf, "10.0.0.1 80", fmt.Sprintf("10.0.0.%d 80", i+1), 1))
	}
	b.WriteString("virtual_server 10.0.9.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.9.2 80 {\n }\n}\n")
	cfg := load(t, b.String())
	e := New(cfg)
	e.Start()
	snap := e.Snapshot()
	if len(snap) != 4 {
		t.Fatalf("%d virtual servers in the snapshot, want 4", len(snap))
	}
	for _, s := range snap {
		q, h, ok := e.Quorum(s.ID)
		if !ok || q != s.Quorum || h != s.Hysteresis {
			t.Errorf("Quorum(%s) = %d, %d, %v; the snapshot says %d, %d", s.ID, q, h, ok, s.Quorum, s.Hysteresis)
		}
	}
	if q, h, _ := e.Quorum(snap[1].ID); q != 5 || h != 1 {
		t.Errorf("Quorum of the second virtual server = %d, %d; want 5, 1 as configured", q, h)
	}
	if _, _, ok := e.Quorum(VSID{}); ok {
		t.Errorf("Quorum of a virtual server never configured says ok")
	}
	e.Stop()
	if _, _, ok := e.Quorum(snap[0].ID); ok {
		t.Errorf("Quorum after Stop says ok")
	}
}
