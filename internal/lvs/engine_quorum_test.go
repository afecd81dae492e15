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

// TestChangesTracksDirty checks that the Engine keeps the list of what
// changed, so that Changes never walks every virtual server (the checkers
// report each real server at start: a walk per report made a start with
// 5,000 virtual servers n²): one health change leaves one virtual server
// to report, Changes empties the list, a reload of the file loaded afresh
// lists them all (a reload of the very same values none), and the keys
// come back in configuration order whatever the order of marking.
func TestChangesTracksDirty(t *testing.T) {
	var b strings.Builder
	for i := range 5 {
		b.WriteString(strings.Replace(fourReals("1", "0", ""), "10.0.0.1 80", fmt.Sprintf("10.0.0.%d 80", i+1), 1))
	}
	cfg := load(t, b.String())
	e := New(cfg)
	e.Start()
	if tbl, keys := e.Changes(); len(tbl) != 5 || len(keys) != 5 {
		t.Fatalf("after Start: %d entries, %d keys, want 5", len(tbl), len(keys))
	}
	if len(e.dirtyList) != 0 {
		t.Fatalf("%d virtual servers still listed after Changes", len(e.dirtyList))
	}
	e.SetHealth(rid(cfg, 3, "10.0.1.2:80"), Health{Up: false})
	e.SetHealth(rid(cfg, 1, "10.0.1.2:80"), Health{Up: false})
	e.SetHealth(rid(cfg, 3, "10.0.1.3:80"), Health{Up: false})
	if len(e.dirtyList) != 2 {
		t.Fatalf("%d virtual servers listed after changes to two, want 2", len(e.dirtyList))
	}
	tbl, keys := e.Changes()
	if len(tbl) != 2 || len(keys) != 2 || keys[0].Addr.String() != "10.0.0.2" || keys[1].Addr.String() != "10.0.0.4" {
		t.Fatalf("Changes = %v, want the services of 10.0.0.2 and 10.0.0.4 in that order", keys)
	}
	if n := len(tbl[keys[1]].Dests); n != 2 {
		t.Errorf("10.0.0.4 has %d destinations after two went down, want 2", n)
	}
	if tbl, _ := e.Changes(); len(tbl) != 0 {
		t.Errorf("a second Changes reports %d entries, want none", len(tbl))
	}
	e.Reload(cfg)
	if tbl, keys := e.Changes(); len(tbl) != 0 || len(keys) != 0 {
		t.Errorf("after a Reload of the same values: %d entries, %d keys, want none", len(tbl), len(keys))
	}
	e.Reload(load(t, b.String()))
	if tbl, keys := e.Changes(); len(tbl) != 5 || len(keys) != 5 {
		t.Errorf("after a Reload of the file loaded again: %d entries, %d keys, want 5", len(tbl), len(keys))
	}
}
