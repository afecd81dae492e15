package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The benchmarks' cleanups run through testing's Cleanup, which an
// interrupted test binary never reaches; and the daemons and busy loops run
// in process groups of their own, so a Ctrl-C on the terminal does not reach
// them either. What they started is therefore also recorded here, and
// removed by a signal handler before the binary exits.
var emergency = struct {
	mu       sync.Mutex
	groups   map[int]bool    // process groups to SIGKILL
	prefixes map[string]bool // network namespace name prefixes to delete
}{groups: map[int]bool{}, prefixes: map[string]bool{}}

func trackGroup(pgid int, on bool) {
	emergency.mu.Lock()
	defer emergency.mu.Unlock()
	if on {
		emergency.groups[pgid] = true
	} else {
		delete(emergency.groups, pgid)
	}
}

func trackPrefix(p string, on bool) {
	emergency.mu.Lock()
	defer emergency.mu.Unlock()
	if on {
		emergency.prefixes[p] = true
	} else {
		delete(emergency.prefixes, p)
	}
}

// cleanupOnSignal installs the handler: on SIGINT or SIGTERM it kills the
// recorded process groups, deletes the recorded namespaces and exits.
// also is called last, for the benchmark binary's own files.
func cleanupOnSignal(also func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "bench: %v: removing busy loops, daemons and namespaces\n", sig)
		emergency.mu.Lock()
		for g := range emergency.groups {
			_ = syscall.Kill(-g, syscall.SIGKILL)
		}
		prefixes := make([]string, 0, len(emergency.prefixes))
		for p := range emergency.prefixes {
			prefixes = append(prefixes, p)
		}
		emergency.mu.Unlock()
		if len(prefixes) > 0 {
			deleteNamespaces(prefixes)
		}
		also()
		os.Exit(130)
	}()
}

// deleteNamespaces removes every network namespace whose name starts with
// one of prefixes.
func deleteNamespaces(prefixes []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: ip netns list: %v\n", err)
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(f[0], p+"-") {
				if err := exec.CommandContext(ctx, "ip", "netns", "del", f[0]).Run(); err != nil {
					fmt.Fprintf(os.Stderr, "bench: ip netns del %s: %v\n", f[0], err)
				}
			}
		}
	}
}
