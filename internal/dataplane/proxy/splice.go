package proxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A direction of a TCP connection is relayed by hand on the sockets' raw
// descriptors, in two ways:
//   - small transfers (a request, an answer) with read(2) and write(2)
//     through a buffer taken from a pool once data is there: three system
//     calls a request (read, write, the read that finds the socket empty);
//   - once a read fills the whole buffer (a bulk transfer), the rest of the
//     burst with splice(2) through a pipe from a pool, so the bytes stay in
//     the kernel. HAProxy, likewise, splices only large transfers.
// An idle direction holds neither a buffer nor a pipe: only its socket.
// (*net.TCPConn).ReadFrom splices too, but takes its pipe before waiting
// for data, so every idle connection would hold two pipes, and it splices
// small transfers, which costs more system calls than copying them.

// bufSize is the size of a relay buffer; a read that fills it switches
// the direction to splice(2) until the source is empty.
const bufSize = 16 << 10

var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// spliceMax is the most one splice call is asked to move; the pipe's
// capacity (64 KiB by default) bounds it in practice.
const spliceMax = 1 << 20

// pipe is a kernel pipe and how many bytes it holds.
type pipe struct {
	r, w int
	n    int64
}

// pipes is the pool of idle, empty pipes; beyond its size they are closed.
var pipes = make(chan *pipe, 512)

func getPipe() (*pipe, error) {
	select {
	case p := <-pipes:
		return p, nil
	default:
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	return &pipe{r: fds[0], w: fds[1]}, nil
}

func putPipe(p *pipe) {
	if p.n == 0 {
		select {
		case pipes <- p:
			return
		default:
		}
	}
	unix.Close(p.r)
	unix.Close(p.w)
}

// errEOF reports that src ended.
var errEOF = errors.New("end of stream")

// relay is one direction of a proxied TCP connection.
type relay struct {
	src, dst syscall.RawConn
}

func newRelay(dst, src *net.TCPConn) (*relay, error) {
	s, err := src.SyscallConn()
	if err != nil {
		return nil, err
	}
	d, err := dst.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &relay{src: s, dst: d}, nil
}

// run moves bytes from src to dst until src ends (errEOF), either socket
// fails, or src's read deadline passes. It stores the time of every
// progress in last (unix nanoseconds).
func (r *relay) run(last *atomic.Int64) error {
	for {
		var buf *[]byte
		var n int
		var rerr error
		err := r.src.Read(func(fd uintptr) bool {
			if buf == nil {
				buf = bufs.Get().(*[]byte)
			}
			for {
				n, rerr = unix.Read(int(fd), *buf)
				if rerr != unix.EINTR {
					break
				}
			}
			if rerr == unix.EAGAIN {
				// Nothing yet: wait without holding the buffer.
				bufs.Put(buf)
				buf = nil
				return false
			}
			return true
		})
		switch {
		case err != nil:
			if buf != nil {
				bufs.Put(buf)
			}
			return err
		case rerr != nil:
			bufs.Put(buf)
			return rerr
		case n == 0:
			bufs.Put(buf)
			return errEOF
		}
		last.Store(time.Now().UnixNano())
		werr := r.write((*buf)[:n])
		bufs.Put(buf)
		if werr != nil {
			return werr
		}
		if n == bufSize {
			if err := r.splice(last); err != nil {
				return err
			}
		}
	}
}

// write writes all of b to dst, waiting while dst is full.
func (r *relay) write(b []byte) error {
	for len(b) > 0 {
		var w int
		var werr error
		err := r.dst.Write(func(fd uintptr) bool {
			for {
				w, werr = unix.Write(int(fd), b)
				if werr != unix.EINTR {
					break
				}
			}
			return werr != unix.EAGAIN // dst is full: wait until writable
		})
		if err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		b = b[w:]
	}
	return nil
}

// splice moves what src has to dst through a pipe, and returns nil once
// src would block (errEOF when it has ended).
func (r *relay) splice(last *atomic.Int64) error {
	p, err := getPipe()
	if err != nil {
		return err
	}
	defer putPipe(p)
	for {
		var m int64
		var serr error
		if err := r.src.Read(func(fd uintptr) bool {
			for {
				m, serr = unix.Splice(int(fd), nil, p.w, nil, spliceMax, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				if serr != unix.EINTR {
					break
				}
			}
			return true
		}); err != nil {
			return err
		}
		switch {
		case serr == unix.EAGAIN:
			return nil // src is empty for now
		case serr != nil:
			return serr
		case m == 0:
			return errEOF
		}
		last.Store(time.Now().UnixNano())
		p.n += m
		for p.n > 0 {
			var w int64
			var werr error
			if err := r.dst.Write(func(fd uintptr) bool {
				w, werr = unix.Splice(p.r, nil, int(fd), nil, int(p.n), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				return werr != unix.EAGAIN // dst is full: wait until writable
			}); err != nil {
				return err
			}
			if werr == unix.EINTR {
				continue
			}
			if werr != nil {
				return werr
			}
			p.n -= w
		}
	}
}
