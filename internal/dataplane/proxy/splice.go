package proxy

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Bulk transfers are spliced. A direction whose read fills the loop's
// buffer is taken to be in a bulk transfer, and relays the rest of the
// burst with splice(2) through a pipe: socket to pipe, pipe to socket, the
// bytes never copied to user space (HAProxy, likewise, splices only large
// transfers). The direction stays in bulk mode until a splice moves less
// than the buffer (the burst is over: small reads again) or it ends; its
// pipe comes from the loop's pool for each readiness and goes back to it
// as soon as it is empty, so a loop needs one pipe for all its bulk
// connections plus one per connection whose destination is full. An idle
// connection, and a request/answer one, holds no pipe and pays nothing: a
// request still costs one read and one write per direction.
//
// Bytes a pipe holds are owed to the destination, as a partial write's
// buffer is: the direction stops reading its source and asks for EPOLLOUT
// on its destination until the pipe is drained, and its FIN is sent only
// after that. A socket that cannot splice (EINVAL) makes the connection
// fall back to read/write for good.

// pipeSize is the capacity asked of a pipe (F_SETPIPE_SZ): four times the
// loop's buffer, so one splice moves what four reads would.
const pipeSize = 256 << 10

// maxIdlePipes bounds the empty pipes a loop keeps for the next bulk
// transfer; beyond it they are closed.
const maxIdlePipes = 16

// spliceFlags: never block on the pipe (the sockets are non-blocking
// anyway); move pages rather than copy them where the kernel can.
const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

// splice moves up to n bytes from rfd to wfd (one of them a pipe's end).
func splice(rfd, wfd, n int) (int, error) {
	m, err := unix.Splice(rfd, nil, wfd, nil, n, spliceFlags)
	return int(m), err
}

// pipe is a kernel pipe and what it holds.
type pipe struct {
	r, w int
	size int // its capacity
	n    int // bytes in it
}

// spliceStats are the plane's splice counters (read by tests and the
// benchmarks).
type spliceStats struct {
	bytes atomic.Int64 // bytes spliced out to destinations
	waits atomic.Int64 // times a destination left bytes in a pipe (EPOLLOUT)
	held  atomic.Int64 // pipes connections hold now
	made  atomic.Int64 // pipes made
}

// getPipe takes an empty pipe from the loop's pool, or makes one.
func (l *loop) getPipe() (*pipe, error) {
	var pp *pipe
	if n := len(l.pipes); n > 0 {
		pp = l.pipes[n-1]
		l.pipes[n-1] = nil
		l.pipes = l.pipes[:n-1]
	} else {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			return nil, err
		}
		pp = &pipe{r: fds[0], w: fds[1], size: 64 << 10}
		// Failing (a user over fs.pipe-user-pages-soft) keeps the size
		// the kernel gave; F_GETPIPE_SZ says which.
		unix.FcntlInt(uintptr(pp.w), unix.F_SETPIPE_SZ, pipeSize)
		if sz, err := unix.FcntlInt(uintptr(pp.w), unix.F_GETPIPE_SZ, 0); err == nil && sz > 0 {
			pp.size = sz
		}
		l.p.splice.made.Add(1)
	}
	l.p.splice.held.Add(1)
	return pp, nil
}

// putPipe gives a pipe back to the pool: only an empty one, and only
// while the pool has room; otherwise it is closed.
func (l *loop) putPipe(pp *pipe) {
	l.p.splice.held.Add(-1)
	if pp.n == 0 && len(l.pipes) < maxIdlePipes {
		l.pipes = append(l.pipes, pp)
		return
	}
	unix.Close(pp.r)
	unix.Close(pp.w)
}

// closePipes closes the pool's pipes (the loop ends).
func (l *loop) closePipes() {
	for _, pp := range l.pipes {
		unix.Close(pp.r)
		unix.Close(pp.w)
	}
	l.pipes = nil
}

// canSplice reports whether the connection may splice: not when the
// plane was told not to, nor after a socket refused it.
func (c *conn) canSplice() bool {
	return !c.s.p.opts.NoSplice && !c.noSplice
}

// dropPipe gives direction dir's pipe back (or closes it, if it still
// holds bytes) and leaves bulk mode.
func (c *conn) dropPipe(l *loop, dir int) {
	c.bulk[dir] = false
	c.putBack(l, dir)
}

// putBack gives direction dir's pipe back (or closes it, if it still
// holds bytes); the direction stays in bulk mode if it was.
func (c *conn) putBack(l *loop, dir int) {
	if pp := c.pipe[dir]; pp != nil {
		c.pipe[dir] = nil
		l.putPipe(pp)
	}
}

// splicePump is pump in bulk mode: source to pipe, pipe to destination,
// until the source has less than a buffer's worth (back to reads), the
// destination is full (the pipe waits for EPOLLOUT), or the source ends.
func (c *conn) splicePump(l *loop, dir int) {
	pp := c.pipe[dir]
	if pp == nil {
		var err error
		if pp, err = l.getPipe(); err != nil {
			// No pipe (out of descriptors): reads, from the ready
			// list.
			c.bulk[dir] = false
			l.again(c, dir)
			return
		}
		c.pipe[dir] = pp
	}
	src := c.src(dir)
	for range maxReads {
		n, err := c.s.p.spliceFn(src, pp.w, pp.size)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// The source is empty: the burst is over.
			c.dropPipe(l, dir)
			return
		case err == unix.EINVAL:
			// This socket cannot splice: read/write from now on.
			c.noSplice = true
			c.dropPipe(l, dir)
			c.pump(l, dir)
			return
		case err != nil:
			c.kill(l, false)
			return
		case n == 0:
			c.dropPipe(l, dir)
			c.ended(l, dir)
			return
		}
		c.last = l.now
		pp.n += n
		if !c.drain(l, dir) || c.pipe[dir] != pp {
			// Dead, or the destination could not splice (what the
			// pipe held is then a partial write's).
			return
		}
		if pp.n > 0 {
			// The destination is full: the pipe waits for EPOLLOUT
			// (and goes back once drained).
			if n < len(l.buf) {
				c.bulk[dir] = false
			}
			return
		}
		if n < len(l.buf) {
			// Less than a read's worth: small reads again. The source
			// may not be empty (a pipe fills by its slots, one per
			// packet, before its bytes): the reads start from the
			// ready list.
			c.dropPipe(l, dir)
			l.again(c, dir)
			return
		}
		if n < pp.size {
			// Likely empty for now, but not surely (as above): the
			// ready list tries again.
			break
		}
	}
	// The pipe is empty: back to the pool; the ready list splices again
	// (edge-triggered, no event may come for what is left).
	c.putBack(l, dir)
	l.again(c, dir)
}

// drain splices what direction dir's pipe holds to its destination, as
// much as it takes; false if the connection died.
func (c *conn) drain(l *loop, dir int) bool {
	pp := c.pipe[dir]
	dst := c.dst(dir)
	for pp.n > 0 {
		w, err := c.s.p.spliceFn(pp.r, dst, pp.n)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			c.s.p.splice.waits.Add(1)
			return c.waitOut(l, dir)
		case err == unix.EINVAL:
			// The destination cannot splice: what the pipe holds is
			// read out and written as a partial write's would be.
			c.noSplice = true
			b := make([]byte, pp.n)
			r, rerr := unix.Read(pp.r, b)
			if rerr != nil || r != pp.n {
				c.kill(l, false)
				return false
			}
			pp.n = 0
			c.dropPipe(l, dir)
			return c.send(l, dir, b, true)
		case err != nil || w == 0:
			c.kill(l, false)
			return false
		}
		pp.n -= w
		c.s.p.splice.bytes.Add(int64(w))
	}
	return true
}
