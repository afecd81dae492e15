package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// A stop that never finishes must still end the process: a second signal,
// or the deadline after the first, exits; one signal alone only cancels.
func TestStopOnSignal(t *testing.T) {
	tests := []struct {
		name string
		// second is sent after the context is done: a signal, the
		// deadline, or nothing (the stop finishes: release).
		second string
		exits  bool
	}{
		{name: "second signal forces the exit", second: "signal", exits: true},
		{name: "deadline forces the exit", second: "deadline", exits: true},
		{name: "a stop that finishes exits normally", second: "release", exits: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 1)
			tick := make(chan time.Time, 1)
			var asked time.Duration
			askedCh := make(chan struct{})
			after := func(d time.Duration) <-chan time.Time {
				asked = d
				close(askedCh)
				return tick
			}
			exited := make(chan int, 1)
			ctx, release := stopOnSignal(sigs, after, stopDeadline, func(code int) { exited <- code })
			select {
			case <-ctx.Done():
				t.Fatal("context done before any signal")
			default:
			}
			sigs <- syscall.SIGTERM
			<-ctx.Done()
			<-askedCh // the deadline runs from the first signal
			if asked != stopDeadline {
				t.Errorf("deadline %v, want %v", asked, stopDeadline)
			}
			switch tt.second {
			case "signal":
				sigs <- syscall.SIGTERM
			case "deadline":
				tick <- time.Time{}
			case "release":
				release()
				// The watcher has returned: a later signal is not acted on.
				select {
				case code := <-exited:
					t.Fatalf("exit(%d) after release", code)
				default:
				}
				return
			}
			if code := <-exited; code != exitForced {
				t.Errorf("exit(%d), want %d", code, exitForced)
			}
			release()
		})
	}
}

// Without a signal, release ends the watch and cancels the context.
func TestStopOnSignalRelease(t *testing.T) {
	sigs := make(chan os.Signal)
	ctx, release := stopOnSignal(sigs, time.After, stopDeadline, func(int) { t.Error("exit called") })
	release()
	release() // twice is harmless (deferred and explicit)
	<-ctx.Done()
}
