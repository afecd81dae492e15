package ipvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
)

// The pipelined path (Plane.Pipeline): many requests are written to the
// kernel in one system call, each with its own sequence number and without
// NLM_F_ACK, so the kernel answers only the ones it refuses (an NLMSG_ERROR
// naming the request's sequence number), and a final NLMSG_NOOP request
// with NLM_F_ACK is the barrier: the kernel handles a write's messages in
// order before the write returns, so once the barrier's acknowledgement is
// read every refusal of that write has been read before it. A write is one
// sendmsg and, when nothing is refused, one recvmsg, where Execute costs a
// sendmsg, a peeking recvmsg and a recvmsg per request.
//
// The kernel drops an answer that does not fit the socket's receive buffer
// (and reports ENOBUFS), so a write carries at most as many requests as
// the buffer holds refusals (pipeWindow), and a lost answer makes the
// write's outcome unknown rather than wrongly successful.

// pipeConn writes and reads whole buffers of netlink messages, one system
// call each: the socket under the plane's Conn.
type pipeConn interface {
	// WriteMsgs sends b, one or more netlink messages, in one sendmsg.
	WriteMsgs(b []byte) error
	// ReadMsgs reads one datagram (one or more netlink messages) into b,
	// waiting until the deadline the Conn was given.
	ReadMsgs(b []byte) (int, error)
	// Drain discards every datagram waiting, without waiting.
	Drain()
	// Window is how many requests may be outstanding: their refusals
	// all fit the receive buffer.
	Window() int
}

const (
	nlmsgHdrLen = 16
	genlHdrLen  = 4
	nlmsgNoop   = 1 // NLMSG_NOOP
	nlmsgError  = 2 // NLMSG_ERROR
	nlmsgDone   = 3 // NLMSG_DONE

	// pipeMaxWrite bounds one write: the kernel copies it into one buffer.
	pipeMaxWrite = 128 << 10
	// pipeReadBuf holds any one answer: a refusal echoes its request,
	// a few hundred bytes.
	pipeReadBuf = 64 << 10
	// pipeAckBudget is what one refusal may take of the receive buffer
	// (the kernel counts a buffer's true size: the message, about 250
	// bytes with the echoed request, plus the socket buffer's own
	// overhead, under a kilobyte).
	pipeAckBudget = 2048
	// pipeRcvBuf is the receive buffer asked for (the kernel doubles it).
	pipeRcvBuf = 1 << 20
	// Bounds of the window.
	pipeMinWindow = 16
	pipeMaxWindow = 1024
)

// windowFor returns how many requests may be outstanding with a receive
// buffer of rcvbuf bytes (as SO_RCVBUF reports it).
func windowFor(rcvbuf int) int {
	return min(max(rcvbuf/pipeAckBudget, pipeMinWindow), pipeMaxWindow)
}

// sockPipe is pipeConn on the netlink socket of a *genetlink.Conn.
type sockPipe struct {
	rc     syscall.RawConn
	window int
}

// newSockPipe sizes c's receive buffer for the pipelined path and returns
// the pipe. The Conn's own calls keep working beside it: the pipe reads
// every answer of its requests before it returns.
func newSockPipe(c *genetlink.Conn) (*sockPipe, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	rcvbuf := 0
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		// FORCE passes net.core.rmem_max with CAP_NET_ADMIN, which
		// changing IPVS needs anyway; without it the plain option
		// gets what the limit allows, and the window follows.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, pipeRcvBuf) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, pipeRcvBuf)
		}
		// A write larger than the send buffer is refused whole
		// (EMSGSIZE): make room for the largest one.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 2*pipeMaxWrite) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 2*pipeMaxWrite)
		}
		rcvbuf, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if cerr != nil {
		return nil, cerr
	}
	if serr != nil {
		return nil, serr
	}
	return &sockPipe{rc: rc, window: windowFor(rcvbuf)}, nil
}

func (s *sockPipe) Window() int { return s.window }

func (s *sockPipe) WriteMsgs(b []byte) error {
	var werr error
	err := s.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

func (s *sockPipe) ReadMsgs(b []byte) (int, error) {
	var (
		n, flags int
		rerr     error
	)
	err := s.rc.Read(func(fd uintptr) bool {
		n, _, flags, _, rerr = unix.Recvmsg(int(fd), b, nil, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if flags&unix.MSG_TRUNC != 0 {
		return 0, fmt.Errorf("netlink answer longer than %d bytes", len(b))
	}
	return n, nil
}

func (s *sockPipe) Drain() {
	b := make([]byte, pipeReadBuf)
	for {
		var rerr error
		s.rc.Read(func(fd uintptr) bool {
			_, _, _, _, rerr = unix.Recvmsg(int(fd), b, nil, unix.MSG_DONTWAIT)
			return true
		})
		if rerr != nil && rerr != unix.EINTR && rerr != unix.ENOBUFS {
			return // EAGAIN: nothing left
		}
	}
}

// changeCmd is c's IPVS command.
func changeCmd(c dataplane.Change) uint8 {
	switch c.Kind {
	case dataplane.ChangeAddService:
		return cmdNewService
	case dataplane.ChangeUpdateService:
		return cmdSetService
	case dataplane.ChangeDeleteService:
		return cmdDelService
	case dataplane.ChangeAddDest:
		return cmdNewDest
	case dataplane.ChangeUpdateDest:
		return cmdSetDest
	case dataplane.ChangeDeleteDest:
		return cmdDelDest
	}
	return 0
}

// changeWhat names c's object as the Plane calls name it in errors.
func changeWhat(c dataplane.Change) string {
	switch c.Kind {
	case dataplane.ChangeAddDest, dataplane.ChangeUpdateDest, dataplane.ChangeDeleteDest:
		return c.Dest.Key.String() + " of " + c.Service.Key.String()
	}
	return c.Service.Key.String()
}

// applyChange is the Plane call of c.
func (p *Plane) applyChange(ctx context.Context, c dataplane.Change) error {
	k := c.Service.Key
	switch c.Kind {
	case dataplane.ChangeAddService:
		return p.AddService(ctx, c.Service)
	case dataplane.ChangeUpdateService:
		return p.UpdateService(ctx, c.Service)
	case dataplane.ChangeDeleteService:
		return p.DeleteService(ctx, k)
	case dataplane.ChangeAddDest:
		return p.AddDestination(ctx, k, c.Dest)
	case dataplane.ChangeUpdateDest:
		return p.UpdateDestination(ctx, k, c.Dest)
	case dataplane.ChangeDeleteDest:
		return p.DeleteDestination(ctx, k, c.Dest.Key)
	}
	return fmt.Errorf("unknown change kind %d", c.Kind)
}

// appendChange appends c's request, numbered seq, to the IPVS family's
// type: the same bytes as its Plane call's, without NLM_F_ACK. On an error
// (a name too long for the kernel) b is returned as it was.
func appendChange(b []byte, family uint16, seq uint32, c dataplane.Change) ([]byte, error) {
	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // the length, once known
	b = binary.NativeEndian.AppendUint16(b, family)
	b = binary.NativeEndian.AppendUint16(b, uint16(netlink.Request))
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // the kernel is port 0; it answers to the socket's
	b = append(b, changeCmd(c), familyVersion, 0, 0)
	var err error
	k := c.Service.Key
	switch c.Kind {
	case dataplane.ChangeAddService, dataplane.ChangeUpdateService:
		b, err = appendServiceBody(b, c.Service)
	case dataplane.ChangeDeleteService:
		b = appendServiceKeyBody(b, k)
	case dataplane.ChangeAddDest, dataplane.ChangeUpdateDest:
		b = appendDestBody(b, k, c.Dest, true)
	case dataplane.ChangeDeleteDest:
		b = appendDestBody(b, k, dataplane.Destination{Key: c.Dest.Key}, false)
	default:
		err = fmt.Errorf("unknown change kind %d", c.Kind)
	}
	if err != nil {
		return b[:start], err
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

// appendBarrier appends the NLMSG_NOOP request whose acknowledgement ends
// a write's answers.
func appendBarrier(b []byte, seq uint32) []byte {
	b = binary.NativeEndian.AppendUint32(b, nlmsgHdrLen)
	b = binary.NativeEndian.AppendUint16(b, nlmsgNoop)
	b = binary.NativeEndian.AppendUint16(b, uint16(netlink.Request|netlink.Acknowledge))
	b = binary.NativeEndian.AppendUint32(b, seq)
	return binary.NativeEndian.AppendUint32(b, 0)
}

// answer is one netlink message of a datagram the kernel sent.
type answer struct {
	typ   uint16
	seq   uint32
	errno int32 // of an NLMSG_ERROR: 0 for an acknowledgement
}

// parseAnswers splits a datagram into its messages; only NLMSG_ERROR's
// payload is read.
func parseAnswers(b []byte, out []answer) ([]answer, error) {
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return out, fmt.Errorf("%w: netlink message of %d bytes", errMalformed, len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return out, fmt.Errorf("%w: netlink message length %d of %d bytes", errMalformed, l, len(b))
		}
		a := answer{typ: binary.NativeEndian.Uint16(b[4:]), seq: binary.NativeEndian.Uint32(b[8:])}
		if a.typ == nlmsgError {
			if l < nlmsgHdrLen+4 {
				return out, fmt.Errorf("%w: netlink error message of %d bytes", errMalformed, l)
			}
			a.errno = int32(binary.NativeEndian.Uint32(b[nlmsgHdrLen:]))
		}
		out = append(out, a)
		al := (l + 3) &^ 3
		if al > len(b) {
			al = len(b)
		}
		b = b[al:]
	}
	return out, nil
}

// pipeState is the pipelined path's reusable memory.
type pipeState struct {
	wbuf, rbuf []byte
	answers    []answer
	// errs[j] is the result of the write's j-th change.
	errs []error
	seq  uint32
}

// Pipeline implements dataplane.Pipeliner: the changes go to the kernel
// in writes of up to the pipe's window (each with its barrier), and their
// results come back in order; a refusal is the error the Plane call gives
// (the command, the object, the kernel's errno and its hint). Without a
// pipe (a Conn that has no socket under it), each change is its Plane
// call.
func (p *Plane) Pipeline(ctx context.Context, n int, change func(i int) dataplane.Change, result func(i int, err error)) (int, error) {
	if p.pipe == nil {
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return i, err
			}
			result(i, p.applyChange(ctx, change(i)))
		}
		return n, nil
	}
	st := &p.pstate
	if st.wbuf == nil {
		st.wbuf = make([]byte, 0, pipeMaxWrite+4096)
		st.rbuf = make([]byte, pipeReadBuf)
	}
	window := p.pipe.Window()
	for start := 0; start < n; {
		if err := ctx.Err(); err != nil {
			return start, err
		}
		deadline := time.Now().Add(Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if err := p.conn.SetDeadline(deadline); err != nil {
			return start, fmt.Errorf("ipvs: set deadline: %w", err)
		}
		// One write: as many changes as the window and the write's size
		// allow. The j-th change has sequence number base+j.
		base := st.seq + 1
		st.wbuf, st.errs = st.wbuf[:0], st.errs[:0]
		end := start
		for end < n && end-start < window && len(st.wbuf) < pipeMaxWrite {
			c := change(end)
			var err error
			st.wbuf, err = appendChange(st.wbuf, p.family, base+uint32(end-start), c)
			if err != nil {
				// Not encodable (a name too long): refused here,
				// as the Plane call refuses it, and not sent.
				err = fmt.Errorf("ipvs %s %s: %w", cmdNames[changeCmd(c)], changeWhat(c), err)
			}
			st.errs = append(st.errs, err)
			end++
		}
		barrier := base + uint32(end-start)
		st.seq = barrier
		st.wbuf = appendBarrier(st.wbuf, barrier)
		if err := p.pipe.WriteMsgs(st.wbuf); err != nil {
			return start, fmt.Errorf("ipvs: send %d requests: %w", end-start, err)
		}
		if err := p.readAnswers(st, start, base, barrier, change); err != nil {
			p.pipe.Drain()
			return start, err
		}
		for j, err := range st.errs {
			result(start+j, err)
		}
		start = end
	}
	return n, nil
}

// readAnswers reads the answers of one write up to its barrier's, and puts
// each refusal in st.errs.
func (p *Plane) readAnswers(st *pipeState, start int, base, barrier uint32, change func(i int) dataplane.Change) error {
	for {
		n, err := p.pipe.ReadMsgs(st.rbuf)
		if err != nil {
			if errors.Is(err, syscall.ENOBUFS) {
				return fmt.Errorf("ipvs: answers to %d requests lost (the receive buffer overran): %w", barrier-base, err)
			}
			return fmt.Errorf("ipvs: read the answers to %d requests: %w", barrier-base, err)
		}
		st.answers, err = parseAnswers(st.rbuf[:n], st.answers[:0])
		if err != nil {
			return fmt.Errorf("ipvs: read the answers to %d requests: %w", barrier-base, err)
		}
		for _, a := range st.answers {
			switch {
			case a.seq == barrier:
				if a.typ == nlmsgError && a.errno == 0 {
					return nil
				}
				return fmt.Errorf("ipvs: unexpected answer (type %d, error %d) to the barrier request", a.typ, a.errno)
			case a.seq-base < barrier-base && a.typ == nlmsgError && a.errno != 0:
				// (Unsigned: right across the numbers' wrap too.)
				j := int(a.seq - base)
				c := change(start + j)
				st.errs[j] = &opError{cmd: changeCmd(c), what: changeWhat(c),
					err: &netlink.OpError{Op: "receive", Err: syscall.Errno(-a.errno)}}
			}
			// Anything else (a stale answer of an earlier call) is
			// not this write's.
		}
	}
}

var _ dataplane.Pipeliner = (*Plane)(nil)
