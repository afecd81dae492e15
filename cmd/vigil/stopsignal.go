package main

import (
	"context"
	"os"
	"time"
)

// stopDeadline bounds a clean stop: past it the process exits without
// finishing. A stop of hundreds of instances takes well under a second;
// one that takes this long is stuck (a log write to a pipe nobody reads, a
// host call that never returns), and an operator's SIGTERM must still end
// the process. What a forced exit leaves behind (addresses, a VMAC) is
// removed from the state file at the next start.
const stopDeadline = 30 * time.Second

// exitForced is the exit status when the stop was cut short.
const exitForced = exitFatal

// stopOnSignal returns a context that the first signal on sigs cancels, as
// signal.NotifyContext does, and then keeps reading sigs, which
// NotifyContext does not (it swallows every later signal, so a stuck stop
// could not be interrupted): a second signal, or the stop deadline passing
// after the first (after(deadline) fires), calls exit(exitForced) at once,
// without logging, since the log may be what is stuck. release ends the
// watch for a process that stops on its own.
func stopOnSignal(sigs <-chan os.Signal, after func(time.Duration) <-chan time.Time, deadline time.Duration, exit func(int)) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
		case <-after(deadline):
		case <-done:
			return
		}
		exit(exitForced)
	}()
	var once bool
	return ctx, func() {
		if !once {
			once = true
			close(done)
			cancel()
		}
	}
}
