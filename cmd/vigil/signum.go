package main

import (
	"fmt"
	"syscall"

	"vigil/internal/status"
)

// signalFuncs are the keepalived signal names of --signum that Vigil acts
// on, with the signal it catches for each. Scripts run
// `kill -s $(keepalived --signum=RELOAD) PID`; the numbers are keepalived's.
var signalFuncs = map[string]syscall.Signal{
	"STOP":   syscall.SIGTERM,                   // stop, releasing every address
	"RELOAD": syscall.SIGHUP,                    // reload as a diff
	"DATA":   syscall.SIGUSR1,                   // /tmp/keepalived.data
	"STATS":  syscall.SIGUSR2,                   // /tmp/keepalived.stats
	"JSON":   syscall.Signal(status.SignalJSON), // /tmp/keepalived.json
}

// unhandledFuncs are keepalived signal names Vigil knows but does not
// catch. Printing a number for them would be harmful: a real-time signal
// nobody catches terminates the process.
var unhandledFuncs = map[string]string{
	"STATS_CLEAR": "Vigil does not clear its statistics on a signal (its counters only grow, as Prometheus expects)",
	"TDUMP":       "Vigil has no thread dump signal",
}

// signum is --signum: the number for a keepalived signal name, or an error
// (exit 1, as keepalived's "Unknown sigfunc").
func signum(name string) (int, error) {
	if s, ok := signalFuncs[name]; ok {
		return int(s), nil
	}
	if why, ok := unhandledFuncs[name]; ok {
		return 0, fmt.Errorf("--signum=%s: %s", name, why)
	}
	return 0, fmt.Errorf("unknown sigfunc %s (known: STOP, RELOAD, DATA, STATS, JSON)", name)
}
