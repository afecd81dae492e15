package proxy

import (
	"testing"
	"unsafe"
)

// TestDestRecordSize: the plane holds one dest per real server for as long
// as the service lives, 10,000 of them in the health-check benchmark of
// docs/BENCHMARKS.md, whose goal is the LVS process's memory. The
// scheduler's record is held in it and the connections' table is made at
// the first connection: one 144-byte object per destination (it was a
// 96-byte one, a 64-byte sched.Real and a 48-byte empty map).
func TestDestRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(dest{}); n > 144 {
		t.Errorf("dest is %d bytes, want at most 144", n)
	}
	var d dest
	d.track(nil)
	if len(d.conns) != 1 {
		t.Errorf("track: %d connections, want 1", len(d.conns))
	}
}
