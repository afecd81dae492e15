package status

import "testing"

// TestLVSOperationsMetric checks that the operations the LVS side reports
// in its status are the vigil_lvs_operations_total counter.
func TestLVSOperationsMetric(t *testing.T) {
	h := NewHub()
	h.SetLVSSource(func() *LVSJSON {
		l := lvsFixture()
		l.Operations = 2501
		return l
	})
	mfs, err := NewRegistry(h).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_lvs_operations_total" {
			continue
		}
		if ms := mf.GetMetric(); len(ms) != 1 || ms[0].GetCounter().GetValue() != 2501 {
			t.Fatalf("vigil_lvs_operations_total = %v, want one counter of 2501", ms)
		}
		return
	}
	t.Fatal("no vigil_lvs_operations_total")
}
