package check

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The system HTTP_GET check, on a raw non-blocking socket rather than the
// runtime's net.Conn: the Runner's goroutine opens the socket, connects
// and (when the handshake is over at once, as on loopback and local
// networks) writes the request, prebuilt once per url block. The check is
// then a Pending: at its next wakeups the Runner polls it, reading what
// has arrived without blocking and feeding it to the incremental parser
// (respParser) from a pooled buffer; a response on a local network is
// complete by the first poll, so the whole check costs no goroutine, no
// channel and no registration with the runtime's poller. A check that
// takes longer goes to a worker (Wait), where the socket joins the
// poller as an os.File, with the same parser state, until its deadline.

// httpExchange is one HTTP check in flight (the parser's state between
// polls); they are pooled.
type httpExchange struct {
	resp   HTTPResponse
	parser respParser
}

var exchanges = sync.Pool{New: func() any { return new(httpExchange) }}

// maxPooledBody is the largest kept body an exchange returns to the pool
// with (a regex check may keep up to maxRegexKeep).
const maxPooledBody = 64 << 10

// maxPollReads bounds the reads of one poll: a server that sends without
// end must not hold the Runner's goroutine.
const maxPollReads = 4

func putExchange(x *httpExchange) {
	if cap(x.resp.Body) > maxPooledBody {
		x.resp.Body = nil
	}
	x.parser.resp = nil
	exchanges.Put(x)
}

// httpPending is a system HTTP check between its start and its outcome.
type httpPending struct {
	p         *HTTPProber
	u         *URLCheck
	fd        int
	connected bool
	// req is what is left of the request to send.
	req []byte
	x   *httpExchange
}

// httpStart begins check step on a raw socket. It never blocks; it
// returns the outcome when the check failed at once, else the pending
// check.
func (p *HTTPProber) httpStart(step int) (Result, *httpPending) {
	u := &p.URLs[step]
	req := p.request(step)
	p.saOnce.Do(func() {
		p.sa, p.family, p.saErr = p.Conn.sockaddr()
		if s6, ok := p.sa.(*unix.SockaddrInet6); ok {
			p.rsa = newRawSockaddr(p.Conn.Target, s6.ZoneId)
		} else if p.saErr == nil {
			p.rsa = newRawSockaddr(p.Conn.Target, 0)
		}
	})
	if p.saErr != nil {
		return failure("connection to %s failed: %v", p.Conn.Target, p.saErr), nil
	}
	fd, connected, err := p.connect()
	if err != nil {
		return failure("connection to %s failed: %v", p.Conn.Target, err), nil
	}
	c := &httpPending{p: p, u: u, fd: fd, connected: connected, req: req}
	if r, failed := c.send(); failed {
		return r, nil
	}
	c.x = exchanges.Get().(*httpExchange)
	c.x.parser.reset(&c.x.resp, u.keep(), false)
	return Result{}, c
}

// connect opens a non-blocking socket with the source options and starts
// connecting it; connected says the handshake is already over.
func (p *HTTPProber) connect() (fd int, connected bool, err error) {
	fd = -1
	if p.reusable() {
		fd = takeSpare(p.family)
	}
	if fd < 0 {
		fd, err = rawSocket(p.family)
		if err != nil {
			return -1, false, os.NewSyscallError("socket", err)
		}
		if err := p.Conn.sourceOptions(fd, p.family); err != nil {
			rawClose(fd)
			return -1, false, err
		}
	}
	// No quick ACK (set on every connect: a reused socket's disconnect
	// resets it): the last ACK of the handshake is not sent on its own
	// but with the request that follows at once. The server's kernel
	// then queues the connection for accept(2) and its request in one
	// go, and the server wakes once rather than twice; the check's
	// thread, which does that work on loopback and local networks,
	// saves the wakeup of the server's accept (most of a check's CPU
	// on this path).
	if err := rawSetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
		rawClose(fd)
		return -1, false, os.NewSyscallError("TCP_QUICKACK", err)
	}
	err = rawConnect(fd, p.rsa)
	switch {
	case err == nil:
		return fd, true, nil
	case !errors.Is(err, unix.EINPROGRESS):
		rawClose(fd)
		return -1, false, os.NewSyscallError("connect", err)
	}
	// In progress: on loopback the handshake is over when connect
	// returns, which the first write (httpStart) finds out without a
	// poll.
	return fd, false, nil
}

// send writes what it can of the request without blocking; failed: the
// check is over (its socket closed) with r. On a socket still connecting
// the write fails with EAGAIN (and the check waits for the connection) or
// with the connection's error, which SO_ERROR tells apart from an error of
// the write itself.
func (c *httpPending) send() (r Result, failed bool) {
	for len(c.req) > 0 {
		n, err := rawWrite(c.fd, c.req)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return Result{}, false
		case err != nil && !c.connected:
			if cerr := soError(c.fd); cerr != nil {
				return c.end(failure("connection to %s failed: %v", c.p.Conn.Target, cerr)), true
			}
			return c.end(failure("connection to %s failed: %v", c.p.Conn.Target, os.NewSyscallError("connect", err))), true
		case err != nil:
			return c.end(failure("%s%s: %v: %v", c.u.Host, c.u.Path, ErrSend, os.NewSyscallError("write", err))), true
		}
		c.connected = true
		c.req = c.req[n:]
	}
	return Result{}, false
}

// reusable: the check's sockets have no source option, so they can be
// reset and used again (see spareSockets).
func (p *HTTPProber) reusable() bool {
	c := &p.Conn
	return c.BindIf == "" && c.Fwmark == 0 && !c.BindTo.IsValid() && c.BindPort == 0
}

// end ends the check's socket with a reset, as HAProxy ends its checks'
// (by then the server has closed its side, or the check failed): the
// server keeps no TIME_WAIT socket per check, and a socket without
// source options is kept, disconnected, for the next check (TCP_CHECK's
// spare sockets), saving socket(2) and close(2). Then it returns the
// exchange to the pool and gives r.
func (c *httpPending) end(r Result) Result {
	if c.fd >= 0 {
		if !(c.connected && c.p.reusable() && rawDisconnect(c.fd) == nil && putSpare(c.p.family, c.fd)) {
			resetOnClose(c.fd)
			unix.Close(c.fd)
		}
		c.fd = -1
	}
	if c.x != nil {
		putExchange(c.x)
		c.x = nil
	}
	return r
}

// judge ends the check on the parser's verdict.
func (c *httpPending) judge(eof, timedOut bool, rerr error) Result {
	if err := c.x.parser.finish(eof, timedOut, rerr); err != nil {
		return c.end(failure("%s%s: %v", c.u.Host, c.u.Path, err))
	}
	r := c.u.Judge(&c.x.resp)
	return c.end(r)
}

// Poll advances the check without blocking (see Pending).
func (c *httpPending) Poll() (Result, bool) {
	if len(c.req) > 0 {
		if r, failed := c.send(); failed {
			return r, true
		}
		if len(c.req) > 0 {
			return Result{}, false
		}
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	for range maxPollReads {
		n, err := rawRead(c.fd, buf)
		switch {
		case n > 0:
			if ferr := c.x.parser.feed(buf[:n]); ferr != nil {
				return c.judge(false, false, ferr), true
			}
		case err == nil:
			return c.judge(true, false, nil), true
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return Result{}, false
		default:
			return c.judge(false, false, os.NewSyscallError("read", err)), true
		}
	}
	return Result{}, false
}

// Abort drops the check.
func (c *httpPending) Abort() { c.end(Result{}) }

// Wait finishes the check on the runtime's poller: it waits for the
// connection when it is still in progress, sends what is left of the
// request and reads the response until the server closes, by ctx's
// deadline.
func (c *httpPending) Wait(ctx context.Context) Result {
	f := os.NewFile(uintptr(c.fd), "http-check")
	c.fd = -1 // the file owns it
	defer f.Close()
	defer func() {
		rc, err := f.SyscallConn()
		if err == nil {
			rc.Control(func(fd uintptr) { resetOnClose(int(fd)) })
		}
	}()
	if d, ok := ctx.Deadline(); ok {
		f.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { f.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return c.end(failure("connection to %s failed: %v", c.p.Conn.Target, err))
	}
	timedOut := func(err error) bool {
		return ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)
	}
	if !c.connected {
		var cerr error
		err := rc.Write(func(fd uintptr) bool {
			e, gerr := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
			switch {
			case gerr != nil:
				cerr = os.NewSyscallError("getsockopt", gerr)
			case e == 0:
				if _, perr := unix.Getpeername(int(fd)); errors.Is(perr, unix.ENOTCONN) {
					return false // a spurious wakeup: still connecting
				}
			case syscall.Errno(e) == unix.EINPROGRESS || syscall.Errno(e) == unix.EALREADY || syscall.Errno(e) == unix.EINTR:
				return false
			default:
				cerr = os.NewSyscallError("connect", syscall.Errno(e))
			}
			return true
		})
		if err != nil && timedOut(err) {
			err = context.DeadlineExceeded
		}
		if err = errors.Join(err, cerr); err != nil {
			return c.end(failure("connection to %s failed: %v", c.p.Conn.Target, err))
		}
		c.connected = true
	}
	for len(c.req) > 0 {
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			n, e := unix.Write(int(fd), c.req)
			switch {
			case errors.Is(e, unix.EAGAIN), errors.Is(e, unix.EINTR):
				return false
			case e != nil:
				werr = os.NewSyscallError("write", e)
			default:
				c.req = c.req[n:]
			}
			return true
		})
		if err = errors.Join(err, werr); err != nil {
			return c.end(failure("%s%s: %v: %v", c.u.Host, c.u.Path, ErrSend, err))
		}
	}

	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	var eof bool
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, e := unix.Read(int(fd), buf)
			switch {
			case n > 0:
				if rerr = c.x.parser.feed(buf[:n]); rerr != nil {
					return true
				}
				// A server that sends faster than this loop reads
				// would keep it from ever parking: the deadline is
				// checked here too (an endless body must time out).
				if rerr = ctx.Err(); rerr != nil {
					return true
				}
			case e == nil:
				eof = true
				return true
			case errors.Is(e, unix.EINTR):
			case errors.Is(e, unix.EAGAIN):
				return false
			default:
				rerr = os.NewSyscallError("read", e)
				return true
			}
		}
	})
	if err != nil && rerr == nil {
		rerr = err
	}
	return c.judge(eof, rerr != nil && timedOut(rerr), rerr)
}
