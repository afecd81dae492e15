package lvsproc

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// processAge returns how long ago this process was started (exec'd), to
// the kernel's clock tick, from /proc/self/stat and /proc/uptime; false
// where they cannot be read. The start's log line carries it, so that
// the time before the LVS loop runs (the runtime's start, the file's
// parse) can be told from the loop's own.
func processAge() (time.Duration, bool) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, false
	}
	return parseAge(stat, up, 100) // USER_HZ is 100 on every Linux ABI Go supports
}

// parseAge is processAge's arithmetic: stat is /proc/PID/stat (its 22nd
// field the start time in ticks since boot), up is /proc/uptime.
func parseAge(stat, up []byte, hz int) (time.Duration, bool) {
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it follow its last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22: starttime
	if err != nil {
		return 0, false
	}
	u := strings.Fields(string(up))
	if len(u) == 0 {
		return 0, false
	}
	secs, err := strconv.ParseFloat(u[0], 64)
	if err != nil {
		return 0, false
	}
	age := time.Duration(math.Round(secs*1000))*time.Millisecond - time.Duration(ticks)*time.Second/time.Duration(hz)
	return max(age, 0), true
}
