package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Loop runs many instances on one goroutine, as keepalived runs all of its
// VRRP instances on one thread. It owns their timers (one heap, one clock
// timer for the earliest deadline) and takes the packets the transport reads
// for them in batches.
//
// Why not a goroutine per instance: with hundreds of instances at short
// advert intervals, the cost of a daemon is not its protocol code but its
// wake-ups. A goroutine per instance pays a park and a wake, a select over
// its channels and a timer of its own for every advert sent or received;
// the loop pays one wake for a whole burst of received adverts, and, since
// masters send on a shared grid (Machine.nextAdvert), one timer for all the
// adverts due at the same instant.
//
// Everything an instance does runs on the loop's goroutine, so one instance
// that blocks (a slow netlink call) delays the others, as in keepalived.
// Other goroutines talk to instances only through their methods, which
// post to mailboxes the loop drains.
type Loop struct {
	clock Clock
	wake  chan struct{} // capacity 1: "there is work queued"

	mu      sync.Mutex
	adds    []loopAdd
	pending []*Instance // instances with mail
	pkts    []loopPacket
	stops   []*Instance
	closed  bool
	// The sources: an epoll set of their descriptors, each registered
	// one-shot, watched through the runtime's poller (epoll); ready lists
	// the ids of the sources the watcher saw readable. Ids are never
	// reused, so a readiness report that arrives after its source was
	// removed names no source at all, never a newer one.
	epoll   *os.File
	sources map[int]*loopSource
	nextID  int
	ready   []int
	// removals are RemoveSource's requests, for the loop's goroutine.
	removals []sourceRemoval

	// Owned by the loop's goroutine.
	timers  deadlines
	timer   Timer
	armedAt time.Time // the deadline timer is armed for; zero: disarmed
	spare   []loopPacket
	running map[*Instance]func() bool // running instances; each value ends the AfterFunc that stops it
}

// maxQueuedPackets bounds the packets waiting for the loop, so that a flood
// costs packets, not memory; a full socket buffer would drop them too.
const maxQueuedPackets = 8192

type loopAdd struct {
	inst *Instance
	ctx  context.Context
}

type loopPacket struct {
	inst *Instance
	r    Received
}

// Source is a socket the loop reads itself (a transport.Receiver behind a
// transport.Mux): Fd is its non-blocking descriptor; Drain reads what is
// queued, at most about limit datagrams, without blocking, and hands each
// packet to its instance's delivery function: OnLoop's, since Drain runs
// on the loop's goroutine.
type Source interface {
	Fd() int
	Drain(limit int) (int, error)
	// Coalesce reports whether the source serves many instances, whose
	// adverts come in bursts: then the loop waits CoalesceWindow after the
	// first datagram wakes it and reads the whole burst at once.
	Coalesce() bool
}

// CoalesceWindow is how long the loop lets a burst of adverts gather on a
// coalescing Source before reading it. Masters of many instances send in
// bursts (their adverts share a grid, see Machine.nextAdvert); reading the
// burst at once costs one wake-up instead of one per advert or so. It
// delays what such a socket receives by at most this much, small beside
// the shortest master down interval (3 x 10 ms).
const CoalesceWindow = 1 * time.Millisecond

// maxDrain bounds what one read of a source takes, so that a flood on one
// socket cannot starve the others or the timers.
const maxDrain = 1024

// loopSource is a Source and its state in the loop.
type loopSource struct {
	src  Source
	id   int
	slot timerSlot // the coalescing wait
}

// sourceRemoval is one RemoveSource call waiting for the loop.
type sourceRemoval struct {
	src  Source
	done chan struct{}
}

// AddSource has the loop read src itself, from now until RemoveSource or
// the loop stops; the caller keeps src open until then. Sources are for
// the daemon's sockets; a loop without any (tests) only gets packets
// through Start's delivery functions.
func (l *Loop) AddSource(src Source) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrLoopStopped
	}
	if l.epoll == nil {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("vrrp: loop: epoll: %w", err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return fmt.Errorf("vrrp: loop: epoll: %w", err)
		}
		// Non-blocking, so the runtime's poller watches it: it is readable
		// when one of the sources is.
		l.epoll = os.NewFile(uintptr(fd), "vrrp-loop-epoll")
		go l.watch(l.epoll)
	}
	s := &loopSource{src: src, id: l.nextID}
	s.slot = timerSlot{src: s, index: -1}
	if err := l.ctlSource(s, unix.EPOLL_CTL_ADD); err != nil {
		return err
	}
	l.nextID++
	if l.sources == nil {
		l.sources = map[int]*loopSource{}
	}
	l.sources[s.id] = s
	return nil
}

// RemoveSource stops the loop reading src, and returns once the loop has
// let go of it: no read, no re-arm, no coalescing wait of src happens
// after, so the caller may close src's descriptor, and a socket that gets
// the same descriptor number later is never touched on src's behalf. The
// loop must be running (or have returned); RemoveSource must not be called
// from the loop's own goroutine. Removing a source the loop does not read
// does nothing.
func (l *Loop) RemoveSource(src Source) {
	l.mu.Lock()
	if l.closed {
		// Run has returned: nothing reads the sources any more.
		l.dropSourceLocked(src)
		l.mu.Unlock()
		return
	}
	r := sourceRemoval{src: src, done: make(chan struct{})}
	l.removals = append(l.removals, r)
	l.mu.Unlock()
	l.signal()
	<-r.done
}

// dropSourceLocked takes src out of the epoll set and the source table and
// cancels its coalescing wait; l.mu is held, and the caller is the loop's
// goroutine or the loop has stopped.
func (l *Loop) dropSourceLocked(src Source) {
	for id, s := range l.sources {
		if s.src != src {
			continue
		}
		if l.epoll != nil {
			// Before the caller closes the descriptor: a closed one leaves
			// the set by itself only once no other copy of it is open.
			_ = l.ctlSource(s, unix.EPOLL_CTL_DEL)
		}
		l.disarm(&s.slot)
		delete(l.sources, id)
		return
	}
}

// ctlSource (re)arms s in the epoll set for one readiness report.
func (l *Loop) ctlSource(s *loopSource, op int) error {
	rc, err := l.epoll.SyscallConn()
	if err != nil {
		return fmt.Errorf("vrrp: loop: epoll: %w", err)
	}
	var cerr error
	err = rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(s.id)}
		cerr = epollCtl(int(fd), op, s.src.Fd(), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vrrp: loop: epoll: source %d: %w", s.id, err)
	}
	return nil
}

// watch waits, through the runtime's poller, for the epoll set to report
// readable sources and queues them for the loop. It ends when the loop
// closes the set.
func (l *Loop) watch(ep *os.File) {
	rc, err := ep.SyscallConn()
	if err != nil {
		return
	}
	evs := make([]unix.EpollEvent, 16)
	for {
		var n int
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			n, werr = epollPoll(int(fd), evs)
			return n > 0 || werr != nil
		})
		if err != nil || werr != nil {
			return
		}
		l.mu.Lock()
		for _, ev := range evs[:n] {
			l.ready = append(l.ready, int(ev.Fd))
		}
		l.mu.Unlock()
		l.signal()
	}
}

// sourceReady handles a readiness report: read now, or after the
// coalescing window.
func (l *Loop) sourceReady(s *loopSource) {
	if !s.src.Coalesce() {
		l.readSource(s)
		return
	}
	if s.slot.index < 0 {
		s.slot.at = l.clock.Now().Add(CoalesceWindow)
		l.arm(&s.slot)
	}
}

// sourceErrorPause is how long a source whose read failed outright is left
// alone before it is read again: a socket in a lasting error state is
// readable at once, and re-arming it at once would spin.
const sourceErrorPause = 100 * time.Millisecond

// readSource reads what s has queued and re-arms it. Errors are the
// source's to count and report; the loop goes on.
func (l *Loop) readSource(s *loopSource) {
	if n, err := s.src.Drain(maxDrain); err != nil && n == 0 {
		s.slot.at = l.clock.Now().Add(sourceErrorPause)
		l.arm(&s.slot)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoll != nil {
		_ = l.ctlSource(s, unix.EPOLL_CTL_MOD)
	}
}

// NewLoop returns a loop using clock for its timers. It does nothing until
// Run.
func NewLoop(clock Clock) *Loop {
	return &Loop{
		clock:   clock,
		wake:    make(chan struct{}, 1),
		running: map[*Instance]func() bool{},
	}
}

// ErrLoopStopped is returned by Loop.Start once the loop's Run has returned.
var ErrLoopStopped = errors.New("vrrp: loop stopped")

// Start hands i to the loop, which runs it until ctx is done or the loop
// stops, then leaves the MASTER role cleanly (priority 0 advert, addresses
// removed); Done is closed then. It returns the function the transport
// calls with each packet for i: it never blocks, and reports false when the
// packet was dropped because the loop is behind or stopped. An instance can
// be started once, in one loop.
func (l *Loop) Start(ctx context.Context, i *Instance) (deliver func(Received) bool, err error) {
	i.mu.Lock()
	if !i.running.CompareAndSwap(false, true) {
		i.mu.Unlock()
		return nil, fmt.Errorf("vrrp instance %q: Run called twice", i.cfg.Name)
	}
	i.mu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		i.finish()
		return nil, ErrLoopStopped
	}
	i.boxMu.Lock()
	i.loop = l
	i.boxMu.Unlock()
	l.adds = append(l.adds, loopAdd{inst: i, ctx: ctx})
	l.mu.Unlock()
	l.signal()
	return func(r Received) bool { return l.deliver(i, r) }, nil
}

// OnLoop returns the delivery function for i's packets when they come from
// one of the loop's own Sources: Drain runs on the loop's goroutine, so the
// packet is handled at once rather than queued (no lock, no hand-over). It
// must not be called from anywhere else; use Start's for that.
func (l *Loop) OnLoop(i *Instance) func(Received) bool {
	return func(r Received) bool {
		if !i.live {
			return false // not begun yet, or stopped: counted by the caller
		}
		i.receive(r)
		return true
	}
}

func (l *Loop) signal() {
	select {
	case l.wake <- struct{}{}:
	default: // already signalled: the loop will see this work too
	}
}

// deliver queues one packet for i.
func (l *Loop) deliver(i *Instance, r Received) bool {
	l.mu.Lock()
	if l.closed || len(l.pkts) >= maxQueuedPackets {
		l.mu.Unlock()
		return false
	}
	l.pkts = append(l.pkts, loopPacket{inst: i, r: r})
	l.mu.Unlock()
	l.signal()
	return true
}

// poke tells the loop that i has mail.
func (l *Loop) poke(i *Instance) {
	l.mu.Lock()
	if !i.queued {
		i.queued = true
		l.pending = append(l.pending, i)
	}
	l.mu.Unlock()
	l.signal()
}

// stop asks the loop to stop i.
func (l *Loop) stop(i *Instance) {
	l.mu.Lock()
	l.stops = append(l.stops, i)
	l.mu.Unlock()
	l.signal()
}

// Run runs the loop until ctx is done, then stops every instance still
// running (each leaves the MASTER role cleanly) and returns. Run once.
func (l *Loop) Run(ctx context.Context) { l.run(ctx, nil, nil) }

// run is Run; with single set it also reads in for that instance and
// returns as soon as that instance has stopped (Instance.Run).
func (l *Loop) run(ctx context.Context, single *Instance, in <-chan Received) {
	l.timer = l.clock.NewTimer(time.Hour)
	l.timer.Stop()
	defer l.timer.Stop()
	defer l.shutdown()
	for {
		l.drain()
		if single != nil && single.stopped() {
			return
		}
		l.rearm()
		var tc <-chan time.Time
		if !l.armedAt.IsZero() {
			tc = l.timer.C()
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case r, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			if single.live {
				single.receive(r)
			}
		case <-tc:
			l.armedAt = time.Time{}
			l.expire()
		}
	}
}

// drain does all the queued work: new instances first, then mail, packets
// and stops, until nothing is left.
func (l *Loop) drain() {
	for {
		l.mu.Lock()
		adds, pending, pkts, stops, ready, removals := l.adds, l.pending, l.pkts, l.stops, l.ready, l.removals
		l.adds, l.pending, l.stops, l.ready, l.removals = nil, nil, nil, nil, nil
		// Removals first: a readiness report taken with them must not
		// lead to a read of a source that is going away.
		for _, r := range removals {
			l.dropSourceLocked(r.src)
			close(r.done)
		}
		var srcs []*loopSource
		for _, id := range ready {
			if s, ok := l.sources[id]; ok {
				srcs = append(srcs, s)
			}
		}
		l.pkts = l.spare[:0]
		for _, i := range pending {
			i.queued = false
		}
		l.mu.Unlock()
		if len(adds)+len(pending)+len(pkts)+len(stops)+len(srcs)+len(removals) == 0 {
			l.spare = pkts
			return
		}
		for _, a := range adds {
			l.begin(a)
		}
		for _, i := range pending {
			if i.live {
				i.mail()
			}
		}
		// After the new instances: a source read now may hold their
		// first adverts.
		for _, s := range srcs {
			l.sourceReady(s)
		}
		for _, p := range pkts {
			if p.inst.live {
				p.inst.receive(p.r)
			}
		}
		clear(pkts) // let the payloads go
		l.spare = pkts[:0]
		for _, i := range stops {
			l.end(i)
		}
	}
}

// begin starts one instance: the events queued before it started are
// applied first, so it starts in the right state (interface down, faults)
// rather than passing through BACKUP.
func (l *Loop) begin(a loopAdd) {
	i := a.inst
	if a.ctx.Err() != nil {
		// Cancelled before it started: never take the master role only to
		// drop it again.
		i.handle(Shutdown{})
		i.finish()
		return
	}
	l.running[i] = context.AfterFunc(a.ctx, func() { l.stop(i) })
	i.live = true
	i.advSlot = timerSlot{inst: i, index: -1}
	i.garpSlot = timerSlot{inst: i, garp: true, index: -1}
	for _, w := range i.m.warnings {
		i.log.Warn(w)
	}
	i.warned = len(i.m.warnings)
	i.mail()
	if i.member != nil {
		// Like keepalived, which sets a group's initial state from all its
		// members before any starts: wait until every member has applied
		// what was queued before it started (a fault of one holds all), so
		// that none starts in BACKUP only to be put in FAULT at once. The
		// last member to get here posts groupStart to all.
		i.waiting = true
		i.member.group.prepared(i.member)
		return
	}
	i.handle(Start{})
}

// end stops one instance.
func (l *Loop) end(i *Instance) {
	release, ok := l.running[i]
	if !ok {
		return
	}
	release()
	i.handle(Shutdown{})
	l.disarm(&i.advSlot)
	l.disarm(&i.garpSlot)
	delete(l.running, i)
	i.live = false
	i.finish()
}

// shutdown stops every instance when Run returns; instances handed over
// later are refused.
func (l *Loop) shutdown() {
	l.mu.Lock()
	l.closed = true
	adds := l.adds
	l.adds = nil
	for _, r := range l.removals {
		l.dropSourceLocked(r.src)
		close(r.done)
	}
	l.removals = nil
	if l.epoll != nil {
		l.epoll.Close() // ends the watcher
	}
	l.mu.Unlock()
	for _, a := range adds {
		a.inst.handle(Shutdown{})
		a.inst.finish()
	}
	for i := range l.running {
		l.end(i)
	}
}

// expire runs the handlers of every deadline that has passed.
func (l *Loop) expire() {
	now := l.clock.Now()
	for len(l.timers) > 0 && !l.timers[0].s.at.After(now) {
		s := l.timers.pop()
		if s.src != nil {
			l.readSource(s.src)
		} else if s.garp {
			s.inst.garpDue(now)
		} else {
			s.inst.handle(TimerExpired{})
		}
	}
}

// rearm points the clock timer at the earliest deadline.
func (l *Loop) rearm() {
	if len(l.timers) == 0 {
		if !l.armedAt.IsZero() {
			l.timer.Stop()
			l.armedAt = time.Time{}
		}
		return
	}
	at := l.timers[0].s.at
	if !l.armedAt.IsZero() && !at.Before(l.armedAt) {
		// Armed for earlier: leave it. A backup pushes its deadlines back
		// with every advert; moving a runtime timer later still wakes the
		// process at the old time (the runtime re-sorts its heap lazily),
		// so resetting it would cost a wake-up per advert instead of one
		// per master down interval. When it fires early, expire finds
		// nothing due and the timer moves to the real deadline.
		return
	}
	l.timer.Stop()
	l.timer.Reset(max(at.Sub(l.clock.Now()), 0))
	l.armedAt = at
}

// arm (re)schedules s at s.at.
func (l *Loop) arm(s *timerSlot) {
	if s.index >= 0 {
		l.timers.fix(s.index)
		return
	}
	l.timers.push(s)
}

// disarm removes s from the schedule.
func (l *Loop) disarm(s *timerSlot) {
	if s.index >= 0 {
		l.timers.remove(s.index)
	}
}

// timerSlot is one of an instance's two deadlines, the protocol timer
// (advert or master down) and the gratuitous ARP schedule, or the end of a
// source's coalescing wait (src set).
type timerSlot struct {
	inst  *Instance
	garp  bool
	src   *loopSource
	at    time.Time
	index int // in the loop's heap; -1 when not scheduled
}

// deadlines is a min-heap of timer slots by deadline. Each entry carries
// its deadline as a number, so that ordering reads only the heap's own
// array: a backup reorders it with every advert, and comparisons that
// followed pointers into two hundred instances' memory cost more in cache
// misses than all the rest of its timer work.
type deadlines []deadline

type deadline struct {
	when int64 // s.at as nanoseconds on the monotonic clock (UnixNano without one)
	s    *timerSlot
}

// whenOf is t as a number that orders like t: the monotonic reading when t
// has one (every time taken from a running clock does), so that a step of
// the wall clock does not reorder deadlines.
func whenOf(t time.Time) int64 { return int64(t.Sub(monoEpoch)) }

// monoEpoch is the origin of whenOf; taken once, with a monotonic reading.
var monoEpoch = time.Now()

func (d deadlines) less(a, b int) bool { return d[a].when < d[b].when }

func (d deadlines) swap(a, b int) {
	d[a], d[b] = d[b], d[a]
	d[a].s.index, d[b].s.index = a, b
}

func (d deadlines) up(k int) {
	for k > 0 {
		p := (k - 1) / 2
		if !d.less(k, p) {
			return
		}
		d.swap(k, p)
		k = p
	}
}

// down sifts k down and reports whether it moved.
func (d deadlines) down(k int) bool {
	start := k
	for {
		c := 2*k + 1
		if c >= len(d) {
			break
		}
		if r := c + 1; r < len(d) && d.less(r, c) {
			c = r
		}
		if !d.less(c, k) {
			break
		}
		d.swap(k, c)
		k = c
	}
	return k > start
}

func (d *deadlines) push(s *timerSlot) {
	s.index = len(*d)
	*d = append(*d, deadline{when: whenOf(s.at), s: s})
	d.up(s.index)
}

// fix restores the order after the deadline of the slot at k changed.
func (d deadlines) fix(k int) {
	d[k].when = whenOf(d[k].s.at)
	if !d.down(k) {
		d.up(k)
	}
}

func (d *deadlines) remove(k int) *timerSlot {
	h := *d
	n := len(h) - 1
	s := h[k].s
	if k != n {
		h.swap(k, n)
	}
	h[n] = deadline{}
	*d = h[:n]
	if k != n {
		if !d.down(k) {
			d.up(k)
		}
	}
	s.index = -1
	return s
}

func (d *deadlines) pop() *timerSlot { return d.remove(0) }

// epollPoll and epollCtl are epoll_wait with a zero timeout and epoll_ctl
// as raw system calls: neither blocks, and going through the runtime's
// system call entry would wake its monitor thread each time the process
// comes out of idleness, which at a hundred bursts a second is a good part
// of a backup's CPU.
func epollPoll(epfd int, evs []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	switch {
	case e == unix.EINTR:
		return 0, nil
	case e != 0:
		return 0, e
	}
	return int(n), nil
}

func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
