// Package memtrim hands back to the system the memory a long-running
// process touched once and does not use again: the free heap, and the
// process's mappings of its executable's read-only pages (code and
// constant data: a process that has read its configuration and set up
// its sockets has run through most of its binary, and keeps using a small
// part). The pages stay in the page cache; one needed again is read back
// on first use. The VRRP process trims after quiet periods
// (internal/daemon), the LVS process some seconds after a start or reload
// (internal/lvsproc).
package memtrim

import (
	"bufio"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Trim returns the free heap to the system and drops the process's
// mappings of the executable's read-only pages. Under locked memory
// (vrrp_no_swap) the kernel refuses the second part, which is then
// skipped: nothing must fault then. Failures only cost memory, so they
// are logged at debug level.
func Trim(log *slog.Logger) {
	debug.FreeOSMemory()
	spans, err := executableSpans()
	if err != nil {
		log.Debug("memory trim: reading the mappings", "err", err)
		return
	}
	for _, s := range spans {
		// A raw madvise of the mapping's address range: the range is not
		// Go memory, so it is not turned into a slice.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(s.start), uintptr(s.end-s.start), unix.MADV_DONTNEED); e != 0 {
			log.Debug("memory trim: madvise", "err", e)
			return
		}
	}
}

// span is an address range [start, end).
type span struct{ start, end uint64 }

// executableSpans returns the read-only mappings of the running executable.
func executableSpans() ([]span, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readOnlySpans(f, st.Ino)
}

// readOnlySpans parses /proc/PID/maps and returns the mappings of the file
// with inode ino that are private and not writable ("r-xp", "r--p"): those
// whose pages are the file's own, never modified by the process, so that
// dropping them loses nothing. Writable mappings (the data section) are
// never included.
func readOnlySpans(maps io.Reader, ino uint64) ([]span, error) {
	var out []span
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || (f[1] != "r-xp" && f[1] != "r--p") {
			continue
		}
		if n, err := strconv.ParseUint(f[4], 10, 64); err != nil || n != ino || ino == 0 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, span{start, end})
	}
	return out, sc.Err()
}

// limitHeadroom is the share of the settled memory the limit leaves for
// growth (with limitFloor at least): a steady process allocates little,
// so a collection comes seconds apart. The room is a few MB, a third of
// what GOGC 50 alone would leave a 30 MB heap: a steady source of garbage
// collects three times as often under the limit, which is why the
// Runner's TCP checks make none (10,000 checks a second boxing 64 bytes
// each were a collection every 7 s, about 5 % of the LVS process's CPU).
const (
	limitHeadroom = 8 // an eighth
	limitFloor    = 4 << 20
)

// Settle collects, returns the free heap to the system (stranded pages
// included, see reclaimStranded) and sets the Go runtime's memory limit
// to what the runtime then holds plus an eighth (at least 4 MB): the
// collector runs when the heap grows by that much, rather than by GOGC's
// share of the live heap, which for a process whose heap is its
// configuration is tens of MB of garbage kept for nothing. GOGC still
// applies below the limit. It does nothing when GOMEMLIMIT is in the
// environment (the operator's choice wins) and returns the limit set (0:
// none).
func Settle() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	// No limit meanwhile: a settle when the limit became tight (Pressure)
	// must not collect against it while reclaimStranded takes the free
	// heap for a moment.
	debug.SetMemoryLimit(math.MaxInt64)
	runtime.GC()
	debug.FreeOSMemory()
	reclaimStranded()
	v, ok := readUint64("/memory/classes/total:bytes", "/memory/classes/heap/released:bytes")
	if !ok {
		return 0
	}
	held := int64(v[0] - v[1])
	limit := held + max(held/limitHeadroom, limitFloor)
	debug.SetMemoryLimit(limit)
	return limit
}

// reclaimStranded gives back the free heap that debug.FreeOSMemory
// leaves behind. Go's scavenger keeps, per 4 MB chunk of the heap, a mark
// that the chunk has nothing left to give back; its background pass sets
// it when it finds nothing below its search point, even if pages above
// that point were freed meanwhile, and no scavenge, forced or not, looks
// at the chunk again until something in it is freed. In the LVS process,
// whose start frees tens of MB while that pass runs, up to 5 MB of its
// 30 MB stayed held that way for good (docs/BENCHMARKS.md, "Health
// checks": the stranded pages). Freeing anything in the chunk clears the
// mark, and the allocator hands out the lowest free pages first: so when
// more than reclaimMin of the heap is still free after a forced scavenge,
// every free page is taken once by a page-sized object (the pages a
// processor's page cache holds, up to 512 KB each and also out of the
// scavenger's sight, go the same way), the objects are dropped and the
// heap is scavenged again. At most twice. The allocator zeroes the pages
// it handed out before, released ones included, so for those milliseconds
// the process holds its whole free heap again, no more than its start or
// reload held just before; it must run before a memory limit is set.
func reclaimStranded() {
	for range 2 {
		v, ok := readUint64("/memory/classes/heap/free:bytes", "/memory/classes/heap/released:bytes")
		if !ok {
			return
		}
		n := strandedPages(v[0], v[1])
		if n == 0 {
			return
		}
		hold := make([][]byte, n)
		for i := range hold {
			hold[i] = make([]byte, heapPage)
		}
		runtime.KeepAlive(hold)
		hold = nil
		debug.FreeOSMemory()
	}
}

// readUint64 reads runtime metrics of integer kind, in the order named;
// ok is false when one is not (a metric this Go does not have).
func readUint64(names ...string) (v []uint64, ok bool) {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	v = make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return nil, false
		}
		v[i] = s[i].Value.Uint64()
	}
	return v, true
}

// heapPage is the Go heap's page (8 KB); reclaimMin the free heap left
// after a forced scavenge that reclaimStranded lets be (a processor's page
// cache holds up to 64 pages).
const (
	heapPage   = 8 << 10
	reclaimMin = 32 * heapPage
)

// strandedPages says how many page-sized objects reclaimStranded
// allocates after a forced scavenge that left free bytes of the heap
// unreleased, with released bytes given back: none for reclaimMin or
// less, else one per free or released page.
func strandedPages(free, released uint64) int {
	if free <= reclaimMin {
		return 0
	}
	return int((free + released) / heapPage)
}

// Lift removes the limit Settle set, before work that grows the live heap
// (a reload: the new configuration next to the old one); Settle again once
// it is over. Without GOMEMLIMIT in the environment only.
func Lift() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(math.MaxInt64)
	}
}

// Pressure tells when a limit Settle set has become too tight: the live
// heap has grown into the limit's headroom (a proxy plane's connections,
// checks that hold more) and the collector runs back to back to stay
// under it. Settle sizes the limit once, from what the process held then;
// a process that grows since must not pay for that with its CPU.
type Pressure struct {
	cycles uint64
	at     time.Time
}

// pressureRate is the collections a second above which a limit is too
// tight: a settled process collects every few seconds (its checks'
// garbage against an eighth of its memory), one squeezed by its limit
// many times a second.
const pressureRate = 2

// Tight reports whether the collector ran more than pressureRate times a
// second since the previous call (false on the first). The caller then
// calls Settle again, which sizes the limit from what the process holds
// now.
func (p *Pressure) Tight(now time.Time) bool {
	v, ok := readUint64("/gc/cycles/total:gc-cycles")
	if !ok {
		return false
	}
	c := v[0]
	prev, since := p.cycles, now.Sub(p.at)
	p.cycles, p.at = c, now
	if prev == 0 || since <= 0 {
		return false
	}
	return float64(c-prev) > pressureRate*since.Seconds()
}

// HeapProfileEnv names the environment variable that asks a process for
// a heap profile each time its memory settles: the file it names is
// written (replaced) with the live heap then, in the text form that
// ends with the runtime's memory statistics (HeapInuse, Sys, ...), for
// `go tool pprof -sample_index=inuse_space` and for reading. The benchmarks of the LVS process's memory
// (docs/BENCHMARKS.md) read where its heap goes from it.
const HeapProfileEnv = "VIGIL_HEAP_PROFILE"

// WriteHeapProfile writes the heap profile HeapProfileEnv asks for, if
// any; a failure is logged and costs nothing else.
func WriteHeapProfile(log *slog.Logger) {
	path := os.Getenv(HeapProfileEnv)
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 1)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Warn("writing the heap profile", "file", path, "err", err)
	}
}
