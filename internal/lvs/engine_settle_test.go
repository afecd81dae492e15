package lvs

import (
	"reflect"
	"testing"
)

// TestSettleForgetsAsChangesDoes checks that Settle leaves the Engine as
// Changes does, without building the entries: after a start nothing is
// pending; a virtual server not started yet stays marked; the keys a
// reload removed are forgotten.
func TestSettleForgetsAsChangesDoes(t *testing.T) {
	two := fourReals("1", "0", "") + `virtual_server 10.0.0.2 80 {
 lb_algo rr
 lb_kind NAT
 protocol TCP
 real_server 10.0.2.1 80 {
 }
}
`
	steps := []struct {
		name string
		do   func(e *Engine)
	}{
		{"before Start", func(e *Engine) {}},
		{"after Start", func(e *Engine) { e.Start() }},
		{"after a reload that removes a virtual server", func(e *Engine) { e.Start(); e.Changes(); e.Reload(load(t, fourReals("1", "0", ""))) }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			byChanges, bySettle := New(load(t, two)), New(load(t, two))
			st.do(byChanges)
			st.do(bySettle)
			byChanges.Changes()
			bySettle.Settle()
			// Whatever comes next sees the same pending changes.
			byChanges.Start()
			bySettle.Start()
			wt, wk := byChanges.Changes()
			gt, gk := bySettle.Changes()
			if !reflect.DeepEqual(gt, wt) || !reflect.DeepEqual(gk, wk) {
				t.Errorf("after Settle: Changes %v %v; after Changes: %v %v", gt, gk, wt, wk)
			}
		})
	}
	// Before Start nothing has started: both virtual servers stay pending.
	e := New(load(t, two))
	e.Settle()
	e.Start()
	if tab, keys := e.Changes(); len(tab) != 2 || len(keys) != 2 {
		t.Errorf("Settle before Start: then Changes has %d entries, %d keys; want 2 and 2", len(tab), len(keys))
	}
	// After Start everything is settled.
	e.Settle()
	if tab, keys := e.Changes(); len(tab) != 0 || len(keys) != 0 {
		t.Errorf("Settle after Start: Changes still has %d entries, %d keys", len(tab), len(keys))
	}
}
