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
// networks) writes the request, prebuilt once per url block. Only then
// does the check wait, on a worker, for the response: the socket goes to
// the runtime's poller as an os.File and every read feeds the incremental
// parser (respParser) straight from a pooled buffer. No dialer, no
// address string, no net.Conn, no per-check request, digest or buffer.

// httpExchange is one HTTP check in flight; they are pooled.
type httpExchange struct {
	resp   HTTPResponse
	parser respParser
}

var exchanges = sync.Pool{New: func() any { return new(httpExchange) }}

// maxPooledBody is the largest kept body an exchange returns to the pool
// with (a regex check may keep up to maxRegexKeep).
const maxPooledBody = 64 << 10

func putExchange(x *httpExchange) {
	if cap(x.resp.Body) > maxPooledBody {
		x.resp.Body = nil
	}
	x.parser.resp = nil
	exchanges.Put(x)
}

// httpStart begins check step on a raw socket. It never blocks; it
// returns the wait that finishes the check, or the outcome when the check
// failed at once.
func (p *HTTPProber) httpStart(step int) (Result, func(context.Context) Result) {
	u := &p.URLs[step]
	req := p.request(step)
	p.saOnce.Do(func() { p.sa, p.family, p.saErr = p.Conn.sockaddr() })
	if p.saErr != nil {
		return failure("connection to %s failed: %v", p.Conn.Target, p.saErr), nil
	}
	fd, connected, err := p.connect()
	if err != nil {
		return failure("connection to %s failed: %v", p.Conn.Target, err), nil
	}
	sent := 0
	if connected {
		n, err := unix.Write(fd, req)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			unix.Close(fd)
			return failure("%s%s: %v: %v", u.Host, u.Path, ErrSend, os.NewSyscallError("write", err)), nil
		}
		sent = max(n, 0)
	}
	return Result{}, func(ctx context.Context) Result {
		return p.httpWait(ctx, u, fd, connected, req[sent:])
	}
}

// connect opens a non-blocking socket with the source options and starts
// connecting it; connected says the handshake is already over.
func (p *HTTPProber) connect() (fd int, connected bool, err error) {
	fd, err = unix.Socket(p.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, false, os.NewSyscallError("socket", err)
	}
	if err := p.Conn.sourceOptions(fd, p.family); err != nil {
		unix.Close(fd)
		return -1, false, err
	}
	err = unix.Connect(fd, p.sa)
	switch {
	case err == nil:
		return fd, true, nil
	case !errors.Is(err, unix.EINPROGRESS):
		unix.Close(fd)
		return -1, false, os.NewSyscallError("connect", err)
	}
	// On loopback the handshake is over when connect returns: a poll
	// that does not wait says so.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if n, _ := unix.Poll(pfd, 0); n == 0 {
		return fd, false, nil
	}
	if err := soError(fd); err != nil {
		unix.Close(fd)
		return -1, false, err
	}
	return fd, true, nil
}

// httpWait finishes a check httpStart began: it waits for the connection
// when it is still in progress, sends what is left of the request and
// reads the response until the server closes, by ctx's deadline. It owns
// fd and closes it.
func (p *HTTPProber) httpWait(ctx context.Context, u *URLCheck, fd int, connected bool, req []byte) Result {
	f := os.NewFile(uintptr(fd), "http-check")
	defer f.Close()
	if d, ok := ctx.Deadline(); ok {
		f.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { f.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return failure("connection to %s failed: %v", p.Conn.Target, err)
	}
	timedOut := func(err error) bool {
		return ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)
	}
	if !connected {
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
			return failure("connection to %s failed: %v", p.Conn.Target, err)
		}
	}
	for len(req) > 0 {
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			n, e := unix.Write(int(fd), req)
			switch {
			case errors.Is(e, unix.EAGAIN):
				return false
			case errors.Is(e, unix.EINTR):
				return false
			case e != nil:
				werr = os.NewSyscallError("write", e)
			default:
				req = req[n:]
			}
			return true
		})
		if err = errors.Join(err, werr); err != nil {
			return failure("%s%s: %v: %v", u.Host, u.Path, ErrSend, err)
		}
	}

	x := exchanges.Get().(*httpExchange)
	defer putExchange(x)
	x.parser.reset(&x.resp, u.keep(), false)
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
				if rerr = x.parser.feed(buf[:n]); rerr != nil {
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
	if err := x.parser.finish(eof, rerr != nil && timedOut(rerr), rerr); err != nil {
		return failure("%s%s: %v", u.Host, u.Path, err)
	}
	return u.Judge(&x.resp)
}
