package daemon

import (
	"bufio"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Memory of a running daemon (docs/BENCHMARKS.md, "Where the memory goes").
// Once the instances run, most of what the process has touched is not used
// again: the pages of the executable that reading the configuration, opening
// sockets and setting addresses up ran through, and the heap garbage of
// those steps. With 200 instances the executable's pages were half of the
// resident set (12 MB, of which about 1.3 MB is used in steady state) and
// the free heap most of the rest. trimMemory hands both back once the daemon
// has been quiet (no start, reload or transition) for trimAfterQuiet; a page
// needed again is read back from the page cache on first use.

// trimAfterQuiet is how long after a start, a reload or the last state
// transition the daemon trims its memory: long enough for the work that
// follows a transition (the gratuitous ARPs of a new master, 5 s later by
// default) to be over.
const trimAfterQuiet = 10 * time.Second

// trimMemory returns the free heap to the system and drops the process's
// mappings of the executable's read-only pages (code and constant data),
// which stay in the page cache. Under vrrp_no_swap (locked memory) the
// kernel refuses the second part, which is then skipped: nothing must fault
// then. Failures only cost memory, so they are logged at debug level.
func trimMemory(log *slog.Logger) {
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
