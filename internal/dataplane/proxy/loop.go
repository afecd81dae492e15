package proxy

import (
	"container/heap"
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TCP is served by event loops, HAProxy's way: one loop per P (at most
// maxLoops), each a goroutine around an epoll set of its own, on raw
// non-blocking sockets:
//   - every TCP service has one listening socket, in every loop's set
//     with EPOLLEXCLUSIVE (each loop through a descriptor of its own), so
//     a new connection wakes one waiting loop, whichever loop is free
//     accepts it, and a connection lives its whole life on that loop;
//   - the real server is reached with a non-blocking connect (EINPROGRESS,
//     then EPOLLOUT);
//   - a connection's sockets are registered once, edge-triggered
//     (EPOLLET), HAProxy's way: the real server's with EPOLLIN|EPOLLOUT
//     when the connect starts (EPOLLOUT says it is done), the client's
//     with EPOLLIN once connected (EPOLLOUT added only if a write to it is
//     ever partial). No EPOLL_CTL_MOD or DEL follows: two epoll_ctl per
//     connection. Edge-triggered means a socket is reported again only
//     when something new happens to it, so every read path goes on until
//     the socket is empty (a read shorter than the buffer, EAGAIN, or its
//     end); a path that stops short of that (the read bound below, a
//     partial write, a bulk hand-over) resumes the read itself, at once or
//     through the loop's ready list. A read shorter than the buffer means
//     the socket is empty, so a request costs one read and one write per
//     direction, and when the event also said EPOLLRDHUP the peer's FIN is
//     known to be behind those bytes: the end of stream needs no read of
//     its own. Bytes go through the loop's one buffer; a connection holds
//     a buffer of its own only while a write is partial;
//   - a read that fills the buffer starts a bulk transfer, whose rest is
//     spliced through a pipe from the loop's pool (splice.go);
//   - idle, FIN and connect timeouts are one heap per loop, moved only when
//     an entry falls due (progress only stamps the connection), so no Go
//     timer exists per connection.
// epoll_wait goes through the ordinary (not Raw) system call path, so a
// loop blocked in it never holds up the garbage collector; a loop passes
// through the scheduler every yieldEvery, so that the runtime's monitor
// leaves it alone.

// maxLoops bounds the loops of a plane (and so the descriptors of a TCP
// service's listening socket, one per loop). Measured on two CPUs only: docs/BENCHMARKS.md.
const maxLoops = 4

// loopBufSize is the size of a loop's relay buffer.
const loopBufSize = 64 << 10

// maxReads bounds the reads of one socket per readiness, so that a bulk
// transfer does not starve the loop's other connections; what is left is
// read again from the loop's ready list, after the other events.
const maxReads = 4

// yieldEvery is how often at most a loop passes through the Go scheduler
// (runtime.Gosched) at a wake-up. A busy loop never does by itself: it
// polls with a raw call and goes on, so its schedule tick does not move,
// and after 10 ms of that the runtime's monitor preempts it (a signal),
// or takes its P away if it is in the blocking wait, and then, having
// acted, goes back to waking every 20 µs instead of backing off to 10 ms.
// Those wake-ups and signals cost the two CPUs' neighbours (wrk, the real
// servers) and the loops more than a Gosched every 2 ms, which the
// monitor sees as progress (docs/BENCHMARKS.md, "Userspace proxy data
// plane").
const yieldEvery = 2 * time.Millisecond

// connEvents is the interest of a connection's sockets (edge-triggered);
// the client's has no EPOLLOUT until a write to it is partial.
const (
	connEvents   = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	clientEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET
)

// handler is what owns a descriptor in a loop's epoll set.
type handler interface {
	event(l *loop, fd int, ev uint32)
}

// timer is an entry of a loop's timer heap.
type timer struct {
	due int64 // unix nanoseconds
	idx int   // index in the heap, -1 when not in it
	f   expirer
}

// expirer is told when its timer falls due; it re-arms it or not.
type expirer interface {
	expire(l *loop, now int64)
}

type timerHeap []*timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// loop is one event loop. Everything below mu is its goroutine's alone;
// other goroutines reach it through post.
type loop struct {
	p    *Plane
	epfd int
	evfd int // eventfd: post wakes the loop with it

	mu     sync.Mutex
	cmds   []func()
	woken  bool
	closed bool

	byFd    []handler // indexed by descriptor
	events  []uint32  // the interest registered per descriptor (0: not in the set)
	buf     []byte
	pipes   []*pipe // idle, empty pipes for bulk transfers (splice.go)
	timers  timerHeap
	now     int64 // unix nanoseconds, read once per wake-up
	closing []int // descriptors to close once the current batch is done
	ready   []resume
	spare   []resume
	free    []*conn // ended connections' structs, for the next ones (newConn)
	yielded int64   // unix nanoseconds of the last pass through the scheduler (yieldDue)
	done    chan struct{}
	stop    bool
}

func newLoop(p *Plane) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	l := &loop{p: p, epfd: epfd, evfd: evfd, buf: make([]byte, loopBufSize), done: make(chan struct{})}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	return l, nil
}

// resume is an entry of a loop's ready list: a direction whose source
// may still hold bytes though no event will say so (edge-triggered).
type resume struct {
	c   *conn
	dir int
	gen uint32 // c's generation when queued: a reused struct's entry is stale
}

// again puts direction dir of c on the ready list: it is read again after
// the current batch of events, before the loop waits.
func (l *loop) again(c *conn, dir int) {
	if c.queued[dir] {
		return
	}
	c.queued[dir] = true
	l.ready = append(l.ready, resume{c, dir, c.gen})
}

// resumeReady reads again what the ready list holds (entries added
// meanwhile wait for the next turn).
func (l *loop) resumeReady() {
	rs := l.ready
	l.ready = l.spare[:0]
	for i, r := range rs {
		rs[i] = resume{}
		if r.c.gen != r.gen {
			continue // the connection ended, its struct serves another
		}
		r.c.queued[r.dir] = false
		r.c.resume(l, r.dir)
	}
	l.spare = rs[:0]
}

// loopPlan returns how many loops a plane runs with procs Ps (the
// GOMAXPROCS in force), and the GOMAXPROCS it then asks for: one loop per
// P up to maxLoops, plus one P that no loop holds, unless GOMAXPROCS was
// set in the environment (fixed: the plane leaves it as it is).
//
// Why the spare P: a loop waits in a blocking epoll_wait. When every P is
// in a system call and none is idle, the runtime's monitor takes the P
// of a wait that lasts over 20 µs and hands it off, polling every 20 µs to
// do so, and the loop must get a P back when epoll_wait returns; with an
// idle P the monitor leaves waiting Ps alone and backs off
// (docs/BENCHMARKS.md, "Userspace proxy data plane").
func loopPlan(procs int, fixed bool) (loops, want int) {
	loops = max(1, min(procs, maxLoops))
	if fixed || procs > loops {
		return loops, procs
	}
	return loops, loops + 1
}

// procs is the process's GOMAXPROCS as the planes with loops left it:
// the first raises it (loopPlan), the last to end puts it back. Planes
// made meanwhile plan from the value before the raise, so that two planes
// in one process (tests) do not raise it twice.
var procs struct {
	sync.Mutex
	users  int // planes with loops
	before int // GOMAXPROCS before the first of them
	set    int // what they set it to (0: they left it as it was)
}

// takeProcs counts a plane with loops and returns how many loops it runs,
// raising GOMAXPROCS for the first (loopPlan).
func takeProcs() int {
	procs.Lock()
	defer procs.Unlock()
	if procs.users == 0 {
		procs.before, procs.set = runtime.GOMAXPROCS(0), 0
	}
	procs.users++
	n, want := loopPlan(procs.before, os.Getenv("GOMAXPROCS") != "")
	if procs.set == 0 && want != procs.before {
		runtime.GOMAXPROCS(want)
		procs.set = want
	}
	return n
}

// dropProcs uncounts a plane with loops; the last puts GOMAXPROCS back
// to what it was before the first, unless someone changed it since.
func dropProcs() {
	procs.Lock()
	defer procs.Unlock()
	procs.users--
	if procs.users == 0 && procs.set != 0 {
		if runtime.GOMAXPROCS(0) == procs.set {
			runtime.GOMAXPROCS(procs.before)
		}
		procs.set = 0
	}
}

// newLoops makes the plane's loops (loopPlan) and starts them; the
// plane gives GOMAXPROCS back with dropProcs once they have ended.
func newLoops(p *Plane) ([]*loop, error) {
	n := takeProcs()
	var ls []*loop
	for range n {
		l, err := newLoop(p)
		if err != nil {
			for _, l := range ls {
				l.shutdown()
			}
			dropProcs()
			return nil, err
		}
		ls = append(ls, l)
		go l.run()
	}
	return ls, nil
}

// post runs f on the loop's goroutine, soon; false if the loop has ended
// (f is then not run).
func (l *loop) post(f func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.cmds = append(l.cmds, f)
	wake := !l.woken
	l.woken = true
	l.mu.Unlock()
	if wake {
		var one = [8]byte{1}
		unix.Write(l.evfd, one[:])
	}
	return true
}

// call runs f on the loop's goroutine and waits for it; false if the
// loop has ended.
func (l *loop) call(f func()) bool {
	done := make(chan struct{})
	if !l.post(func() { f(); close(done) }) {
		return false
	}
	<-done
	return true
}

// shutdown ends the loop and waits for it; the descriptors it still owns
// are closed.
func (l *loop) shutdown() {
	if l.post(func() { l.stop = true }) {
		<-l.done
	}
}

// set registers fd's handler.
func (l *loop) set(fd int, h handler) {
	for fd >= len(l.byFd) {
		l.byFd = append(l.byFd, nil)
		l.events = append(l.events, 0)
	}
	l.byFd[fd] = h
}

// want makes ev fd's interest: added to the set, modified, or removed
// from it when ev is 0 (a descriptor in the set is always told of errors
// and hang-ups, which level-triggered would report again and again).
func (l *loop) want(fd int, ev uint32) error {
	old := l.events[fd]
	if old == ev {
		return nil
	}
	var err error
	switch {
	case ev == 0:
		err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	case old == 0:
		err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)})
	default:
		err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)})
	}
	if err != nil {
		return err
	}
	l.events[fd] = ev
	return nil
}

// forget drops fd from the loop and closes it once the current batch of
// events is handled (so that no event of this batch reaches a new
// descriptor of the same number).
func (l *loop) forget(fd int) {
	if fd < 0 {
		return
	}
	// No EPOLL_CTL_DEL: closing the descriptor (never duplicated) takes
	// it out of the set, and no event of it is handled meanwhile.
	l.events[fd] = 0
	l.byFd[fd] = nil
	l.closing = append(l.closing, fd)
}

func (l *loop) arm(t *timer, due int64) {
	t.due = due
	if t.idx >= 0 {
		heap.Fix(&l.timers, t.idx)
	} else {
		heap.Push(&l.timers, t)
	}
}

func (l *loop) disarm(t *timer) {
	if t.idx >= 0 {
		heap.Remove(&l.timers, t.idx)
	}
}

func (l *loop) run() {
	defer close(l.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		wait := -1
		if len(l.ready) > 0 {
			wait = 0
		} else if len(l.timers) > 0 {
			d := l.timers[0].due - time.Now().UnixNano()
			wait = max(0, int((d+int64(time.Millisecond)-1)/int64(time.Millisecond)))
		}
		// First without blocking and without the runtime's system call
		// bookkeeping (a raw call that cannot block): when the loop is
		// busy, events are usually there already. Only an empty answer
		// leads to the wait proper, through the ordinary path that lets
		// the runtime use the P meanwhile.
		n, err := epollPoll(l.epfd, events)
		if n <= 0 && wait != 0 {
			n, err = syscall.EpollWait(l.epfd, events, wait)
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			l.p.log.Error("epoll_wait", "err", err)
			time.Sleep(10 * time.Millisecond)
		}
		l.now = time.Now().UnixNano()
		if l.yieldDue() {
			runtime.Gosched()
		}
		for i := range max(n, 0) {
			fd := int(events[i].Fd)
			if fd == l.evfd {
				l.commands()
				continue
			}
			if fd < len(l.byFd) {
				if h := l.byFd[fd]; h != nil {
					h.event(l, fd, events[i].Events)
				}
			}
		}
		if len(l.ready) > 0 {
			l.resumeReady()
		}
		for len(l.timers) > 0 && l.timers[0].due <= l.now {
			t := heap.Pop(&l.timers).(*timer)
			t.f.expire(l, l.now)
		}
		l.closeBatch()
		if l.stop {
			l.end()
			return
		}
	}
}

// yieldDue reports whether the loop should pass through the scheduler
// now (l.now), yieldEvery after it last did (see yieldEvery).
func (l *loop) yieldDue() bool {
	if l.now-l.yielded < int64(yieldEvery) {
		return false
	}
	l.yielded = l.now
	return true
}

// closeBatch closes the descriptors the batch let go.
func (l *loop) closeBatch() {
	for _, fd := range l.closing {
		unix.Close(fd)
	}
	l.closing = l.closing[:0]
}

func (l *loop) commands() {
	var b [8]byte
	unix.Read(l.evfd, b[:])
	l.mu.Lock()
	cmds := l.cmds
	l.cmds = nil
	l.woken = false
	l.mu.Unlock()
	for _, f := range cmds {
		f()
	}
}

// end closes what the loop still owns; commands posted meanwhile are run
// first (their connections are then closed here too).
func (l *loop) end() {
	l.mu.Lock()
	l.closed = true
	cmds := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for _, f := range cmds {
		f()
	}
	for fd, h := range l.byFd {
		if c, ok := h.(*conn); ok {
			c.kill(l, false)
		} else if h != nil {
			l.forget(fd)
		}
	}
	for _, fd := range l.closing {
		unix.Close(fd)
	}
	l.closePipes()
	unix.Close(l.epfd)
	unix.Close(l.evfd)
}

// epollPoll is epoll_wait with a timeout of 0, as a raw system call: it
// never blocks, so it need not tell the runtime it enters one
// (epoll_pwait without a signal mask is epoll_wait, on every
// architecture).
func epollPoll(epfd int, events []syscall.EpollEvent) (int, error) {
	r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
