package proxy

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// Relaying is done with splice(2) through a pipe, by hand rather than by
// (*net.TCPConn).ReadFrom (which splices too): the standard library takes
// its pipe before waiting for data, so every idle connection would hold
// two pipes (four descriptors and their buffers). Here a direction waits
// for readability first, with no pipe, and takes one from a small pool
// only while bytes are moving.

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

// spliceBurst waits until src is readable (bounded by src's read
// deadline), then moves everything src has to dst, and returns once src
// would block. It returns errEOF when src has ended.
func spliceBurst(dst, src *net.TCPConn) (int64, error) {
	srcRC, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	dstRC, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	var peek [1]byte
	// Peek rather than wait blindly: the runtime forgets a readiness it
	// saw before this call, so it must find the socket empty itself.
	err = srcRC.Read(func(fd uintptr) bool {
		_, _, e := unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return e != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	p, err := getPipe()
	if err != nil {
		return 0, err
	}
	defer putPipe(p)
	var total int64
	for {
		var m int64
		var serr error
		if err := srcRC.Read(func(fd uintptr) bool {
			m, serr = unix.Splice(int(fd), nil, p.w, nil, spliceMax, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			return true
		}); err != nil {
			return total, err
		}
		switch {
		case serr == unix.EINTR:
			continue
		case serr == unix.EAGAIN:
			return total, nil // src is empty for now
		case serr != nil:
			return total, serr
		case m == 0:
			return total, errEOF
		}
		p.n += m
		for p.n > 0 {
			var w int64
			var werr error
			if err := dstRC.Write(func(fd uintptr) bool {
				w, werr = unix.Splice(p.r, nil, int(fd), nil, int(p.n), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				return werr != unix.EAGAIN // dst is full: wait until writable
			}); err != nil {
				return total, err
			}
			if werr == unix.EINTR {
				continue
			}
			if werr != nil {
				return total, werr
			}
			p.n -= w
			total += w
		}
	}
}
