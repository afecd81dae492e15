package lvs

import (
	"testing"
	"unsafe"
)

// The Engine holds a real and an rsState per real server for as long as
// the LVS process runs (10,000 in the health check benchmark of
// docs/BENCHMARKS.md, whose goal is that process's memory). The bounds
// are the allocator's size classes they were laid out to fit: a real
// without the virtual server's id repeated (144, not 200) nor its own
// address beside its destination's key (112, not 144), and an
// rsState with its latest health in place, stored by value in its
// virtual server's slice (40 bytes, no allocation of its own, where it
// was a 48-byte object and a 24-byte Health per report).
func TestPerRealRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(real{}); n > 112 {
		t.Errorf("real is %d bytes, want at most 112 (one per real server)", n)
	}
	if n := unsafe.Sizeof(rsState{}); n > 40 {
		t.Errorf("rsState is %d bytes, want at most 40 (one per real server)", n)
	}
}
