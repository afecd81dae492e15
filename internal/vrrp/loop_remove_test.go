package vrrp

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ltManualClock is a clock that moves only when the test says: the loop's
// deadlines (a source's coalescing wait) come due exactly when the test
// advances it, never on their own.
type ltManualClock struct {
	mu  sync.Mutex
	now time.Time
	c   chan time.Time // the one timer's channel (the loop makes one)
}

func newManualClock() *ltManualClock {
	return &ltManualClock{now: time.Unix(1_000_000, 0), c: make(chan time.Time, 1)}
}

func (c *ltManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *ltManualClock) NewTimer(time.Duration) Timer { return ltManualTimer{c} }

// advance moves the clock on by d and fires the timer, so the loop looks
// at its deadlines; it returns once the loop has taken the firing.
func (c *ltManualClock) advance(t *testing.T, d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	c.c <- now
	ltWaitFor(t, "the loop to take the timer", func() bool { return len(c.c) == 0 })
}

type ltManualTimer struct{ c *ltManualClock }

func (m ltManualTimer) C() <-chan time.Time    { return m.c.c }
func (ltManualTimer) Stop() bool               { return true }
func (ltManualTimer) Reset(time.Duration) bool { return true }

// ltPipe makes a non-blocking pipe, closed at the end of the test.
func ltPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(p[0])
		unix.Close(p[1])
	})
	return p[0], p[1]
}

// ltPipeNoCleanup makes a non-blocking pipe the test closes itself.
func ltPipeNoCleanup(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

// ltCounting returns a delivery function that counts its packets.
func ltCounting() (func(Received) bool, func() int) {
	var mu sync.Mutex
	n := 0
	return func(Received) bool {
			mu.Lock()
			n++
			mu.Unlock()
			return true
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return n
		}
}

// ltReuseFd closes the descriptors of old (a pipe) and opens a new pipe
// whose read end has old's read descriptor number, as the next socket the
// daemon opens may: the loop must never read it on old's behalf.
func ltReuseFd(t *testing.T, old *ltPipeSource) (r, w int) {
	t.Helper()
	num := old.r
	unix.Close(old.r)
	unix.Close(old.w)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if p[0] != num {
		// The kernel chose another number: move the read end to old's.
		if err := unix.Dup3(p[0], num, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[0])
		if err := unix.SetNonblock(num, true); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		unix.Close(num)
		unix.Close(p[1])
	})
	return num, p[1]
}

// ltCoalescer is a pipe source that coalesces and says when the loop has
// seen it readable (Coalesce is asked right before the wait is armed).
type ltCoalescer struct {
	*ltPipeSource
	asked chan struct{}
}

func (s ltCoalescer) Coalesce() bool {
	select {
	case s.asked <- struct{}{}:
	default:
	}
	return true
}

// TestLoopRemoveSource: once RemoveSource has returned, nothing the loop
// had pending for the source (a readiness report not handled yet, a
// coalescing wait) touches its descriptor number again, even when a new
// socket has that number by then.
func TestLoopRemoveSource(t *testing.T) {
	t.Run("coalescing wait pending", func(t *testing.T) {
		clock := newManualClock()
		l := NewLoop(clock)
		oldDeliver, oldGot := ltCounting()
		r, w := ltPipeNoCleanup(t)
		old := ltCoalescer{&ltPipeSource{r: r, w: w, deliver: oldDeliver}, make(chan struct{}, 1)}
		if err := l.AddSource(old); err != nil {
			t.Fatal(err)
		}
		// A backup instance keeps a deadline of its own armed (its master
		// down timer, seconds away), so the loop always waits on the
		// clock's timer and takes each firing of it.
		h := &ltHost{net: &ltNet{}, addrs: &fakeAddrs{held: map[netip.Prefix]bool{}}, ann: &fakeAnnouncer{}}
		inst, err := NewInstance(ltCfg("B", addrB, 1, 100), Deps{Sender: h, Addresses: h.addrs, Announcer: h.ann, Clock: clock}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Start(t.Context(), inst); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			ltWaitClosed(t, done, "Loop.Run to return")
		})
		ltWaitFor(t, "the instance to begin", func() bool { return inst.Snapshot().State == StateBackup })

		// Readable: the loop arms the coalescing wait (the manual clock
		// keeps it pending) ...
		old.write(t, 1)
		select {
		case <-old.asked:
		case <-time.After(ltWait):
			t.Fatal("the loop never saw the source readable")
		}
		// ... and the source goes, its descriptor closed and reused.
		l.RemoveSource(old)
		nr, nw := ltReuseFd(t, old.ltPipeSource)
		newDeliver, newGot := ltCounting()
		fresh := &ltPipeSource{r: nr, w: nw, deliver: newDeliver}
		if err := l.AddSource(fresh); err != nil {
			t.Fatal(err)
		}
		fresh.write(t, 1)
		ltWaitFor(t, "the new source's datagram", func() bool { return newGot() == 1 })
		// The old wait would be due now: it must be gone.
		fresh.write(t, 1)
		clock.advance(t, 10*CoalesceWindow) // well short of the instance's timer
		ltWaitFor(t, "the new source's second datagram", func() bool { return newGot() == 2 })
		l.RemoveSource(fresh) // a round trip: the loop has handled the expiry
		if n := len(old.calls()); n != 0 || oldGot() != 0 {
			t.Errorf("the removed source was drained %d times (%d datagrams) after RemoveSource", n, oldGot())
		}
	})

	t.Run("readiness reported, not yet handled", func(t *testing.T) {
		l := NewLoop(SystemClock())
		oldDeliver, oldGot := ltCounting()
		r, w := ltPipeNoCleanup(t)
		old := &ltPipeSource{r: r, w: w, deliver: oldDeliver}
		if err := l.AddSource(old); err != nil {
			t.Fatal(err)
		}
		old.write(t, 1)
		ltWaitFor(t, "the watcher to report the source", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.ready) > 0
		})
		// The loop is not running yet: the removal waits for it, and its
		// first pass must drop the source before it handles the report.
		removed := make(chan struct{})
		go func() {
			defer close(removed)
			l.RemoveSource(old)
		}()
		ltWaitFor(t, "the removal to be queued", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.removals) == 1
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			ltWaitClosed(t, done, "Loop.Run to return")
		})
		ltWaitClosed(t, removed, "RemoveSource to return")
		nr, nw := ltReuseFd(t, old)
		newDeliver, newGot := ltCounting()
		fresh := &ltPipeSource{r: nr, w: nw, deliver: newDeliver}
		if err := l.AddSource(fresh); err != nil {
			t.Fatal(err)
		}
		fresh.write(t, 3)
		ltWaitFor(t, "the new source's datagrams", func() bool { return newGot() == 3 })
		if n := len(old.calls()); n != 0 || oldGot() != 0 {
			t.Errorf("the removed source was drained %d times (%d datagrams)", n, oldGot())
		}
	})

	t.Run("after the loop stopped, and unknown sources", func(t *testing.T) {
		l := NewLoop(SystemClock())
		r, w := ltPipe(t)
		s := &ltPipeSource{r: r, w: w}
		if err := l.AddSource(s); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.Run(ctx)
		}()
		l.RemoveSource(&ltPipeSource{r: r, w: w}) // not the one added: nothing happens
		l.mu.Lock()
		n := len(l.sources)
		l.mu.Unlock()
		if n != 1 {
			t.Errorf("%d sources after removing an unknown one, want 1", n)
		}
		cancel()
		ltWaitClosed(t, done, "Loop.Run to return")
		l.RemoveSource(s) // returns at once: the loop has stopped
		if len(l.sources) != 0 {
			t.Errorf("%d sources left after RemoveSource on a stopped loop", len(l.sources))
		}
	})
}
