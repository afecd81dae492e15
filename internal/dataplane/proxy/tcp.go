package proxy

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"vigil/internal/dataplane/proxy/proxyproto"
)

func (s *service) acceptLoop(l *net.TCPListener) {
	defer s.wg.Done()
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait a little instead of spinning.
			s.log.Warn("accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go s.serveTCP(c)
	}
}

// tcpConn is one proxied TCP connection.
type tcpConn struct {
	client *net.TCPConn
	mu     sync.Mutex
	up     *net.TCPConn // nil until connected
	dead   bool
	half   atomic.Bool  // one direction has ended
	ends   atomic.Int32 // directions that have returned
	last   atomic.Int64 // unix nanoseconds of the last progress
}

// cut closes both sides; the copies then end.
func (c *tcpConn) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	c.client.Close()
	if c.up != nil {
		c.up.Close()
	}
}

func (s *service) serveTCP(client *net.TCPConn) {
	now := time.Now()
	from := addrPort(client.RemoteAddr())
	c := &tcpConn{client: client}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		client.Close()
		return
	}
	d, t := s.pick(from, now)
	if d == nil {
		s.mu.Unlock()
		// As IPVS without a destination: the client is refused.
		client.SetLinger(0)
		client.Close()
		return
	}
	d.bind(true)
	d.conns[c] = struct{}{}
	target := d.cfg.Key
	s.mu.Unlock()
	handed := false // to the two directions, the last of which releases
	defer func() {
		if !handed {
			s.release(d, t, c, true, time.Now())
		}
	}()

	// No TCP keep-alive probes on either side (IPVS sends none; the idle
	// timeouts end dead connections): they cost four setsockopt calls per
	// socket.
	dialer := net.Dialer{Timeout: s.p.opts.DialTimeout, KeepAlive: -1}
	uc, err := dialer.Dial("tcp", netip.AddrPortFrom(target.Addr, target.Port).String())
	if err != nil {
		s.log.Warn("connect to real server", "real_server", target.String(), "err", err)
		client.SetLinger(0)
		client.Close()
		return
	}
	up := uc.(*net.TCPConn)
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		up.Close()
		return
	}
	c.up = up
	c.mu.Unlock()
	if v := s.p.opts.ProxyProtocol; v != proxyproto.None {
		hdr, err := proxyproto.Append(nil, proxyproto.Header{Version: v, Stream: true,
			Source: from, Dest: addrPort(client.LocalAddr())})
		if err == nil {
			_, err = up.Write(hdr)
		}
		if err != nil {
			c.cut()
			return
		}
	}
	c.last.Store(now.UnixNano())
	// Each direction runs on a goroutine of its own, and this one ends:
	// its stack grew while dialing, and fresh goroutines idle on small
	// stacks (2 kB less Go memory per idle connection). The direction
	// that ends last closes both sockets and releases the connection, so
	// neither waits for the other.
	handed = true
	finish := func() {
		if c.ends.Add(1) == 2 {
			c.cut()
			s.release(d, t, c, true, time.Now())
		}
	}
	go func() {
		s.pipe(c, up, client)
		finish()
	}()
	go func() {
		s.pipe(c, client, up)
		finish()
	}()
}

// pipe relays src to dst until src ends, then half-closes dst. While both
// halves are open the idle limit is the TCP timeout, after either closed
// the TCP FIN timeout; a connection idle for it is cut.
//
// The read deadline is not moved on every read (a timer update per
// request costs as much as a system call): it is set to the last
// progress plus the idle limit, and when it fires with progress since, it
// is set again from there. A half-close moves the other direction's
// deadline to the FIN timeout; a new lvs_timeouts is applied at the next
// read or deadline.
func (s *service) pipe(c *tcpConn, dst, src *net.TCPConn) {
	r, err := newRelay(dst, src)
	if err != nil {
		c.cut()
		return
	}
	limit := func() time.Duration {
		if c.half.Load() {
			return time.Duration(s.p.finTimeout.Load())
		}
		return time.Duration(s.p.tcpTimeout.Load())
	}
	var idle time.Duration
	for {
		if l := limit(); l != idle {
			idle = l
			src.SetReadDeadline(time.Unix(0, c.last.Load()).Add(idle))
		}
		err := r.run(&c.last)
		switch {
		case err == errEOF:
			if c.half.Swap(true) {
				// The other direction ended first: the close of both
				// sockets, next, sends dst its FIN.
				return
			}
			dst.CloseWrite()
			// The other direction (reading dst) now has the FIN
			// timeout: move its deadline rather than wake it; when it
			// fires, it takes the new limit.
			dst.SetReadDeadline(time.Unix(0, c.last.Load()).Add(limit()))
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Progress since the deadline was set (either direction),
			// or the other direction's half-close moved it to the FIN
			// timeout: go on until the last progress plus the limit in
			// force, and cut the connection once that has passed.
			idle = limit()
			if next := time.Unix(0, c.last.Load()).Add(idle); time.Until(next) > 0 {
				src.SetReadDeadline(next)
				continue
			}
			c.cut()
			return
		default:
			c.cut()
			return
		}
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	if ua, ok := a.(*net.UDPAddr); ok {
		return ua.AddrPort()
	}
	return netip.AddrPort{}
}
