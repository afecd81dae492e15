package memtrim

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestReadOnlySpans(t *testing.T) {
	const maps = `00400000-00a8f000 r-xp 00000000 fe:00 9987856                            /usr/sbin/vigil
00a8f000-01193000 r--p 0068f000 fe:00 9987856                            /usr/sbin/vigil
01193000-011fb000 rw-p 00d93000 fe:00 9987856                            /usr/sbin/vigil
011fb000-03214000 rw-p 00000000 00:00 0 
1a5798000000-1a5798c00000 rw-p 00000000 00:00 0 
7f48a8e03000-7f48a8e97000 r--p 00000000 fe:00 1234                       /usr/lib/locale/C.utf8/LC_CTYPE
7ffd1c6e5000-7ffd1c706000 rw-p 00000000 00:00 0                          [stack]
garbage line
`
	got, err := readOnlySpans(strings.NewReader(maps), 9987856)
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{0x400000, 0xa8f000}, {0xa8f000, 0x1193000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spans %x, want %x (code and constants of the executable, never its data)", got, want)
	}
	if got, _ := readOnlySpans(strings.NewReader(maps), 0); len(got) != 0 {
		t.Errorf("inode 0 matched anonymous mappings: %x", got)
	}
}

// Settle sizes the limit from what the runtime holds: above it, by at
// most an eighth or 4 MB; Lift removes it; with GOMEMLIMIT in the
// environment neither touches the limit.
func TestSettleAndLift(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	keep := make([]byte, 16<<20) // something live to size from
	limit := Settle()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	held := int64(ms.Sys - ms.HeapReleased)
	if limit <= 0 || debug.SetMemoryLimit(-1) != limit {
		t.Fatalf("Settle: limit %d, runtime's %d", limit, debug.SetMemoryLimit(-1))
	}
	if limit < int64(len(keep)) || limit > held+max(held/limitHeadroom, limitFloor)+(8<<20) {
		t.Errorf("limit %d for %d bytes held: want held plus at most max(an eighth, 4 MB) (8 MB of slack for the runtime's own changes)", limit, held)
	}
	runtime.KeepAlive(keep)
	Lift()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after Lift: limit %d, want none", got)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := Settle(); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set: Settle returned %d and the limit is %d; want both untouched", got, debug.SetMemoryLimit(-1))
	}
}

// TestStrandedPages: a little free heap left after a forced scavenge is
// let be; more means stranded pages, and then every free or released
// page is taken once.
func TestStrandedPages(t *testing.T) {
	for _, tc := range []struct {
		name           string
		free, released uint64
		want           int
	}{
		{"nothing free", 0, 30 << 20, 0},
		{"at the bound", reclaimMin, 30 << 20, 0},
		{"a page over", reclaimMin + heapPage, 30 << 20, int((reclaimMin + heapPage + 30<<20) / heapPage)},
		{"5 MB stranded", 5 << 20, 30 << 20, (35 << 20) / heapPage},
		{"nothing released", 1 << 20, 0, (1 << 20) / heapPage},
	} {
		if got := strandedPages(tc.free, tc.released); got != tc.want {
			t.Errorf("%s: strandedPages(%d, %d) = %d, want %d", tc.name, tc.free, tc.released, got, tc.want)
		}
	}
}

// TestPressure: the collector's runs are counted against the time given,
// so a limit that makes it run back to back is seen, and a quiet process
// is not.
func TestPressure(t *testing.T) {
	var p Pressure
	t0 := time.Now()
	if p.Tight(t0) {
		t.Fatal("first look: nothing to compare with, want false")
	}
	if p.Tight(t0.Add(10 * time.Second)) {
		t.Fatal("no forced collection in 10 s: want false")
	}
	for range 6 {
		runtime.GC()
	}
	if !p.Tight(t0.Add(11 * time.Second)) {
		t.Fatal("6 collections in 1 s: want tight")
	}
	if p.Tight(t0.Add(21 * time.Second)) {
		t.Fatal("quiet again for 10 s: want false")
	}
}

// WriteHeapProfile writes the text profile, with the runtime's
// statistics, to the file the environment names.
func TestWriteHeapProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.txt")
	t.Setenv(HeapProfileEnv, path)
	WriteHeapProfile(slog.New(slog.DiscardHandler))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "heap profile:") || !strings.Contains(string(b), "\n# HeapInuse = ") {
		t.Errorf("not a text heap profile with the runtime's statistics:\n%.300s", b)
	}
}
