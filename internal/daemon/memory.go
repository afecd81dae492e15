package daemon

import (
	"log/slog"
	"time"

	"vigil/internal/memtrim"
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

// trimMemory returns the free heap and the executable's read-only pages
// to the system (memtrim.Trim).
func trimMemory(log *slog.Logger) { memtrim.Trim(log) }
