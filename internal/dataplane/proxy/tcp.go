package proxy

import (
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/dataplane/proxy/proxyproto"
)

// listener is a TCP service's listening socket in one loop: the loop's
// own descriptor of the socket every loop shares (startListeners).
type listener struct {
	s  *service
	fd int
}

// tcpListen makes a non-blocking listening socket on ap, shareable
// (SO_REUSEPORT) and bindable before the address is the host's
// (IP_FREEBIND, IPV6_FREEBIND).
func tcpListen(ap netip.AddrPort) (int, error) {
	six := !ap.Addr().Is4()
	dom := unix.AF_INET
	if six {
		dom = unix.AF_INET6
	}
	fd, err := unix.Socket(dom, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	opts := [][3]int{
		{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
		// Accepted sockets inherit it: no Nagle delay on answers.
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
	}
	if six {
		opts = append(opts, [3]int{unix.SOL_IPV6, unix.IPV6_V6ONLY, 1}, [3]int{unix.SOL_IPV6, unix.IPV6_FREEBIND, 1})
	} else {
		opts = append(opts, [3]int{unix.SOL_IP, unix.IP_FREEBIND, 1})
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Bind(fd, sockaddr(ap)); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 4096); err != nil { // the kernel caps it at somaxconn
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Addr: a.Unmap().As4(), Port: int(ap.Port())}
	}
	return &unix.SockaddrInet6{Addr: a.As16(), Port: int(ap.Port())}
}

func fromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// acceptPause is how long a listener stops accepting after the process
// ran out of descriptors or memory (level-triggered, it would spin).
const acceptPause = 50 * time.Millisecond

// maxAccepts bounds the connections accepted per readiness of a listener.
const maxAccepts = 16

// listenEvents is a listening socket's interest in each loop: level-
// triggered (a connection left in the queue is reported again), and
// exclusive, so that a new connection wakes one waiting loop, not every
// loop (the event is still queued in every loop's set, where a busy
// loop finds it at its next poll, and takes it if no other loop has).
const listenEvents = unix.EPOLLIN | unix.EPOLLEXCLUSIVE

func (ln *listener) event(l *loop, fd int, ev uint32) {
	for range maxAccepts {
		nfd, from, err := accept4(fd)
		switch {
		case err == nil:
			ln.s.open(l, nfd, from)
		case err == unix.EINTR || err == unix.ECONNABORTED:
		case err == unix.EAGAIN:
			return
		default:
			// EMFILE and the like: pause the listener instead of spinning.
			ln.s.log.Warn("accept", "err", err)
			l.want(fd, 0)
			ps := &pause{ln: ln, timer: timer{idx: -1}}
			ps.f = ps
			l.arm(&ps.timer, l.now+int64(acceptPause))
			return
		}
	}
}

// pause re-enables a paused listener.
type pause struct {
	timer
	ln *listener
}

func (p *pause) expire(l *loop, now int64) {
	if l.byFd[p.ln.fd] == p.ln {
		l.want(p.ln.fd, listenEvents)
	}
}

// Connection states.
const (
	connecting = iota
	open
	dead
)

// Directions: bytes from the client to the real server, and back.
const (
	toReal = iota
	toClient
)

// conn is one proxied TCP connection, owned by its loop.
type conn struct {
	timer
	s     *service
	d     *dest
	t     *template
	l     *loop
	from  netip.AddrPort
	fd    [2]int // the client's socket, the real server's
	state uint8
	// Per direction: eof once its source has ended, shut once its
	// destination was shut down for writing after it, pend the bytes
	// its destination has not taken yet.
	eof, shut [2]bool
	pend      [2][]byte
	// Per direction: bulk while it splices (splice.go), pipe the pipe
	// it splices through (nil when it holds none). noSplice once a
	// socket refused splice(2).
	bulk     [2]bool
	pipe     [2]*pipe
	noSplice bool
	// Per direction: rdhup once an event said its source's peer has
	// shut its side down (EPOLLRDHUP: every byte before the FIN is in
	// the socket), queued while it is on the loop's ready list.
	rdhup, queued [2]bool
	start         int64 // unix nanoseconds
	last          int64 // unix nanoseconds of the last progress either way
	// gen counts the connections this struct has served (the loop
	// reuses it, newConn): what was queued or posted for one of them
	// carries its gen and does nothing to a later one. Written by the
	// loop only after the connection left its dest's set (release), and
	// read elsewhere only under the service's lock while it is in it
	// (cutter).
	gen uint32
}

// maxFree bounds the ended connections' structs a loop keeps for reuse.
const maxFree = 1024

// newConn is a connection struct for l: an ended one's when l has one
// (its gen already moved on), else a new one.
func (l *loop) newConn() *conn {
	if n := len(l.free); n > 0 {
		c := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		c.state = connecting
		return c
	}
	c := &conn{l: l, timer: timer{idx: -1}}
	c.f = c
	return c
}

// src and dst are the sockets a direction reads and writes.
func (c *conn) src(dir int) int { return c.fd[dir] }
func (c *conn) dst(dir int) int { return c.fd[1-dir] }

// cutter returns a function that closes the connection, for any
// goroutine to call; the caller holds the service's lock (c is in its
// dest's set, so gen is this connection's). If the connection ends
// meanwhile and its struct serves another, the call does nothing.
func (c *conn) cutter() func() {
	l, gen := c.l, c.gen
	return func() {
		l.post(func() {
			if c.gen == gen {
				c.kill(l, false)
			}
		})
	}
}

// open serves a connection just accepted on l: picks the real server
// and connects to it.
func (s *service) open(l *loop, cfd int, from netip.AddrPort) {
	now := time.Unix(0, l.now)
	c := l.newConn()
	c.s, c.from, c.fd, c.start, c.last = s, from, [2]int{cfd, -1}, l.now, l.now
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		unix.Close(cfd)
		return
	}
	d, t := s.pick(from, now)
	if d == nil {
		s.mu.Unlock()
		// As IPVS without a destination: the client is refused.
		reset(cfd)
		return
	}
	d.bind(true)
	d.track(c)
	c.d, c.t = d, t
	target := netip.AddrPortFrom(d.cfg.Key.Addr, d.cfg.Key.Port)
	s.mu.Unlock()
	l.set(cfd, c)

	dom := unix.AF_INET
	if !target.Addr().Unmap().Is4() {
		dom = unix.AF_INET6
	}
	ufd, err := unix.Socket(dom, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		c.failed(l, err)
		return
	}
	c.fd[1] = ufd
	l.set(ufd, c)
	unix.SetsockoptInt(ufd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(ufd, sockaddr(target))
	switch {
	case err == nil:
		if err := l.want(ufd, connEvents); err != nil {
			c.failed(l, err)
			return
		}
		c.connected(l, 0)
	case err == unix.EINPROGRESS:
		// Registered once for the connection's life: EPOLLOUT says the
		// connect is done, then EPOLLIN brings the answers.
		if err := l.want(ufd, connEvents); err != nil {
			c.failed(l, err)
			return
		}
		l.arm(&c.timer, l.now+int64(s.p.opts.DialTimeout))
	default:
		c.failed(l, err)
	}
}

// reset closes fd with an RST (SO_LINGER 0).
func reset(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// failed ends a connection whose real server could not be reached: the
// client gets an RST, as from the net package's dial path before.
func (c *conn) failed(l *loop, err error) {
	c.s.log.Warn("connect to real server", "real_server", c.d.cfg.Key.String(), "err", err)
	c.kill(l, true)
}

// connected starts relaying: the PROXY protocol header first, then both
// directions. The client has usually sent its first bytes already, so
// they are read now rather than after another epoll_wait; the client's
// socket joins the loop's set after that read, so that bytes it took
// are not reported again. ev is the real server's event that said the
// connect is done (it may bring its first bytes too).
func (c *conn) connected(l *loop, ev uint32) {
	c.state = open
	c.last = l.now
	if v := c.s.p.opts.ProxyProtocol; v != proxyproto.None {
		hdr, err := proxyproto.Append(nil, proxyproto.Header{Version: v, Stream: true,
			Source: c.from, Dest: netip.AddrPortFrom(c.s.key.Addr, c.s.key.Port)})
		if err != nil {
			c.kill(l, false)
			return
		}
		if !c.send(l, toReal, hdr, true) {
			return
		}
	}
	l.arm(&c.timer, c.last+c.limit())
	if c.pend[toReal] == nil {
		c.pump(l, toReal)
		if c.state != open {
			return
		}
	}
	if err := l.want(c.fd[0], clientEvents); err != nil {
		c.kill(l, false)
		return
	}
	if ev&unix.EPOLLRDHUP != 0 {
		c.rdhup[toClient] = true
	}
	if ev&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		c.pump(l, toClient)
	}
}

// limit is the idle time allowed in the connection's state: the TCP
// timeout, or the FIN timeout once either side has closed its half.
func (c *conn) limit() int64 {
	if c.eof[toReal] || c.eof[toClient] {
		return c.s.p.finTimeout.Load()
	}
	return c.s.p.tcpTimeout.Load()
}

// expire is the connection's timer: the connect timeout, then the idle
// timeouts. Progress only stamps last; the timer is moved when it falls
// due, to the last progress plus the limit in force.
func (c *conn) expire(l *loop, now int64) {
	switch c.state {
	case connecting:
		c.failed(l, unix.ETIMEDOUT)
	case open:
		if due := c.last + c.limit(); due > now {
			l.arm(&c.timer, due)
			return
		}
		c.kill(l, false)
	}
}

// retime applies new timeouts at once (lvs_timeouts changed).
func (c *conn) retime(l *loop) {
	if c.state == open {
		if due := c.last + c.limit(); due < c.due {
			l.arm(&c.timer, due)
		}
	}
}

func (c *conn) event(l *loop, fd int, ev uint32) {
	if c.state == dead {
		return
	}
	if c.state == connecting {
		if fd != c.fd[1] {
			return
		}
		if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			err, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if gerr != nil {
				c.failed(l, gerr)
			} else {
				c.failed(l, unix.Errno(err))
			}
			return
		}
		if ev&unix.EPOLLOUT != 0 {
			c.connected(l, ev)
		}
		return
	}
	// fd's side: 0 the client's, 1 the real server's. The direction
	// that reads it has the same number, the one that writes it the
	// other.
	side := 0
	if fd == c.fd[1] {
		side = 1
	}
	in, out := side, 1-side
	if ev&unix.EPOLLRDHUP != 0 {
		c.rdhup[in] = true
	}
	if c.held(out) && ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		if !c.flush(l, out) {
			return
		}
		if !c.held(out) {
			// The destination took every byte: its source was left
			// unread meanwhile, and no event will say it holds more.
			c.resume(l, out)
		}
	}
	if c.reading(in) && ev&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		if c.bulk[in] {
			c.splicePump(l, in)
		} else {
			c.pump(l, in)
		}
	}
}

// resume reads direction dir's source again, if it wants its bytes
// (edge-triggered: it may hold some no event will report again).
func (c *conn) resume(l *loop, dir int) {
	if !c.reading(dir) {
		return
	}
	if c.bulk[dir] {
		c.splicePump(l, dir)
	} else {
		c.pump(l, dir)
	}
}

// reading reports whether direction dir wants its source's bytes: not
// after its end, nor while its destination has not taken the last ones.
func (c *conn) reading(dir int) bool {
	return c.state == open && !c.eof[dir] && !c.held(dir)
}

// held reports whether direction dir holds bytes its destination has not
// taken: a partial write's, or in its pipe.
func (c *conn) held(dir int) bool {
	return c.pend[dir] != nil || (c.pipe[dir] != nil && c.pipe[dir].n > 0)
}

// waitOut makes sure direction dir's destination reports EPOLLOUT, now
// that it holds bytes it could not take: the real server's socket always
// does, the client's once this first happens. False if the connection
// died.
func (c *conn) waitOut(l *loop, dir int) bool {
	fd := c.dst(dir)
	if l.events[fd] == 0 || l.events[fd] == connEvents {
		// Not in the set yet (connected adds it, with EPOLLOUT then),
		// or asking already.
		return true
	}
	if err := l.want(fd, connEvents); err != nil {
		c.kill(l, false)
		return false
	}
	return true
}

// pump moves what direction dir's source holds to its destination: a
// read shorter than the buffer emptied the source, and if the peer's FIN
// was seen (rdhup) the direction has ended too, without a read to say
// so. A read that fills the buffer starts a bulk transfer, whose rest is
// spliced (splice.go). After maxReads full reads, the rest waits on the
// loop's ready list.
func (c *conn) pump(l *loop, dir int) {
	src := c.src(dir)
	for range maxReads {
		n, err := unix.Read(src, l.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			c.kill(l, false)
			return
		case n == 0:
			c.ended(l, dir)
			return
		}
		c.last = l.now
		if n == len(l.buf) && c.canSplice() {
			c.bulk[dir] = true
		}
		if !c.send(l, dir, l.buf[:n], false) || c.pend[dir] != nil {
			return
		}
		if n < len(l.buf) {
			if c.rdhup[dir] {
				c.ended(l, dir)
			}
			return
		}
		if c.bulk[dir] {
			c.splicePump(l, dir)
			return
		}
	}
	l.again(c, dir)
}

// send writes b to direction dir's destination; what it does not take
// is kept (copied unless own) until it is writable. False if the
// connection died.
func (c *conn) send(l *loop, dir int, b []byte, own bool) bool {
	dst := c.dst(dir)
	for len(b) > 0 {
		w, err := unix.Write(dst, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if !own {
				b = append([]byte(nil), b...)
			}
			c.pend[dir] = b
			return c.waitOut(l, dir)
		case err != nil:
			c.kill(l, false)
			return false
		}
		b = b[w:]
	}
	return true
}

// flush writes what direction dir holds (a partial write's bytes, or its
// pipe's); false if the connection died.
func (c *conn) flush(l *loop, dir int) bool {
	if b := c.pend[dir]; b != nil {
		c.pend[dir] = nil
		if !c.send(l, dir, b, true) {
			return false
		}
		c.last = l.now
	}
	if pp := c.pipe[dir]; pp != nil && pp.n > 0 {
		if !c.drain(l, dir) {
			return false
		}
		c.last = l.now
		if pp.n == 0 && c.pipe[dir] == pp {
			// Empty: back to the pool (a bulk direction takes one
			// again at its next readiness).
			c.putBack(l, dir)
		}
	}
	if !c.held(dir) && c.eof[dir] {
		return c.shutdown(l, dir)
	}
	return true
}

// ended handles the end of direction dir's source: its destination is
// shut down for writing once it has taken every byte, and the
// connection now lives on the FIN timeout.
func (c *conn) ended(l *loop, dir int) {
	first := !c.eof[1-dir]
	c.eof[dir] = true
	if first {
		// The FIN timeout may come before the timer's due time.
		if due := c.last + c.limit(); due < c.due {
			l.arm(&c.timer, due)
		}
	}
	if !c.held(dir) {
		c.shutdown(l, dir)
	}
}

// shutdown sends direction dir's FIN; once both directions have sent
// theirs, the connection is closed. False if the connection died.
func (c *conn) shutdown(l *loop, dir int) bool {
	c.shut[dir] = true
	if c.shut[1-dir] {
		// Both ended: the close sends this last FIN.
		c.kill(l, false)
		return false
	}
	if err := unix.Shutdown(c.dst(dir), unix.SHUT_WR); err != nil {
		c.kill(l, false)
		return false
	}
	return true
}

// kill closes both sockets (the client's with an RST if rst) and releases
// the connection.
func (c *conn) kill(l *loop, rst bool) {
	if c.state == dead {
		return
	}
	c.state = dead
	l.disarm(&c.timer)
	c.pend = [2][]byte{}
	c.dropPipe(l, toReal)
	c.dropPipe(l, toClient)
	if rst {
		unix.SetsockoptLinger(c.fd[0], unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	l.forget(c.fd[0])
	l.forget(c.fd[1])
	c.s.release(c.d, c.t, c, true, time.Unix(0, l.now))
	// Out of its dest's set: the struct may serve the next connection
	// (only an accept takes it, never while a method of this one runs).
	if len(l.free) < maxFree {
		*c = conn{l: l, timer: timer{idx: -1}, gen: c.gen + 1, state: dead}
		c.f = c
		l.free = append(l.free, c)
	}
}

// startListeners creates the service's listening socket, on its address
// (a port of 0 takes a free one), and registers it in every loop's set
// with EPOLLEXCLUSIVE: a new connection wakes one loop waiting in
// epoll_wait, not all, and the loop that accepts it is one that was idle
// (or the first to look, when all are busy) rather than the one a hash
// of the client's address picks, as with a SO_REUSEPORT socket per loop.
// Each loop holds a descriptor of its own for the socket (a dup), so that
// it takes it out of its set and closes it on its own, as any other.
func (s *service) startListeners(ls []*loop) error {
	fd, err := tcpListen(netip.AddrPortFrom(s.key.Addr, s.key.Port))
	if err != nil {
		return err
	}
	fds := []int{fd}
	for range ls[1:] {
		dfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return err
		}
		fds = append(fds, dfd)
	}
	for i, l := range ls {
		ln := &listener{s: s, fd: fds[i]}
		var err error
		if !l.call(func() {
			l.set(ln.fd, ln)
			err = l.want(ln.fd, listenEvents)
		}) {
			err = errors.New("proxy plane closed")
		}
		if err != nil {
			s.listeners = append(s.listeners, ln)
			s.loops = ls[:i+1]
			s.stopListeners()
			for _, fd := range fds[i+1:] {
				unix.Close(fd)
			}
			return err
		}
		s.listeners = append(s.listeners, ln)
	}
	s.loops = ls
	return nil
}

// stopListeners takes the service's listening socket out of every loop
// and closes it: each loop closes its own descriptor. The socket is
// shared (dup), so closing one descriptor does not take it out of an
// epoll set: each loop removes its own first.
func (s *service) stopListeners() {
	for i, ln := range s.listeners {
		l := s.loops[i]
		if !l.call(func() {
			if l.byFd[ln.fd] == ln {
				l.want(ln.fd, 0)
				l.forget(ln.fd)
			}
		}) {
			// The loop has ended and closed what it held.
			continue
		}
	}
	s.listeners = nil
}
