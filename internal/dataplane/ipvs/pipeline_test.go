package ipvs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"vigil/internal/dataplane"
)

// fakeKernel is a Conn with a pipe that answers as the kernel's
// netlink_rcv_skb does: each request of a write in order, an NLMSG_ERROR
// for a refused one or one that asks for an acknowledgement, none for the
// others; control messages (NLMSG_NOOP) only acknowledged. Its receive
// queue holds capacity answers (0: any number) and drops the rest,
// reporting ENOBUFS on the next read, as a full socket buffer does.
type fakeKernel struct {
	fakeConn
	window   int
	capacity int
	// refuse is the kernel's verdict on a request (0: applied).
	refuse func(m genetlink.Message) syscall.Errno
	// writes holds each write's requests; reads counts the reads.
	writes  [][]netlink.Message
	reads   int
	queue   [][]byte
	overrun bool
	drained int
}

// nlMarshal encodes m with its length filled in.
func nlMarshal(m netlink.Message) []byte {
	m.Header.Length = uint32(nlmsgHdrLen + len(m.Data))
	b, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

func (k *fakeKernel) Window() int { return k.window }

func (k *fakeKernel) WriteMsgs(b []byte) error {
	var msgs []netlink.Message
	for len(b) > 0 {
		l := int(binary.NativeEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return fmt.Errorf("fake kernel: bad message length %d of %d", l, len(b))
		}
		var m netlink.Message
		if err := m.UnmarshalBinary(b[:l]); err != nil {
			return fmt.Errorf("fake kernel: %v", err)
		}
		msgs = append(msgs, m)
		b = b[min((l+3)&^3, len(b)):]
	}
	k.writes = append(k.writes, msgs)
	for _, m := range msgs {
		errno := syscall.Errno(0)
		if m.Header.Flags&netlink.Request != 0 && m.Header.Type >= 16 {
			if m.Header.Type != netlink.HeaderType(k.family) {
				errno = syscall.ENOENT
			} else {
				var gm genetlink.Message
				if err := gm.UnmarshalBinary(m.Data); err != nil {
					errno = syscall.EINVAL
				} else if k.refuse != nil {
					errno = k.refuse(gm)
				}
			}
		}
		if errno == 0 && m.Header.Flags&netlink.Acknowledge == 0 {
			continue
		}
		hdr := nlMarshal(m)
		ans := netlink.Message{
			Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence},
			Data:   append(binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno))), hdr...),
		}
		raw := nlMarshal(ans)
		if k.capacity > 0 && len(k.queue) >= k.capacity {
			k.overrun = true
			continue
		}
		k.queue = append(k.queue, raw)
	}
	return nil
}

func (k *fakeKernel) ReadMsgs(b []byte) (int, error) {
	k.reads++
	if k.overrun {
		k.overrun = false
		return 0, syscall.ENOBUFS
	}
	if len(k.queue) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(b, k.queue[0])
	k.queue = k.queue[1:]
	return n, nil
}

func (k *fakeKernel) Drain() { k.drained++; k.queue = nil }

// requests are the genetlink requests of a write, without its barrier.
func (k *fakeKernel) requests(t *testing.T, w int) []genetlink.Message {
	t.Helper()
	var out []genetlink.Message
	for _, m := range k.writes[w] {
		if m.Header.Type == nlmsgNoop {
			continue
		}
		var gm genetlink.Message
		if err := gm.UnmarshalBinary(m.Data); err != nil {
			t.Fatal(err)
		}
		out = append(out, gm)
	}
	return out
}

// results collects what Pipeline reports, checking the order.
type results struct {
	t    *testing.T
	errs []error
}

func (r *results) add(i int, err error) {
	if i != len(r.errs) {
		r.t.Errorf("result for change %d after %d results", i, len(r.errs))
	}
	r.errs = append(r.errs, err)
}

func svcKey(i int) dataplane.ServiceKey {
	return dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP,
		Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80}
}

func destOf(i int) dataplane.Destination {
	return dataplane.Destination{Key: dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), Port: 8080}, Weight: 1}
}

// startChanges is a start's changes: n services, each added and given
// two destinations.
func startChanges(n int) []dataplane.Change {
	var cs []dataplane.Change
	for i := 0; i < n; i++ {
		k := svcKey(i)
		cs = append(cs, dataplane.Change{Kind: dataplane.ChangeAddService, Service: dataplane.Service{Key: k, Scheduler: "wrr", PersistenceBits: 32}})
		for d := 0; d < 2; d++ {
			cs = append(cs, dataplane.Change{Kind: dataplane.ChangeAddDest, Service: dataplane.Service{Key: k}, Dest: destOf(2*i + d)})
		}
	}
	return cs
}

func pipeline(t *testing.T, p *Plane, cs []dataplane.Change) (int, error, []error) {
	r := &results{t: t}
	n, err := p.Pipeline(context.Background(), len(cs), func(i int) dataplane.Change { return cs[i] }, r.add)
	if len(r.errs) != n {
		t.Errorf("Pipeline returned %d but gave %d results", n, len(r.errs))
	}
	return n, err, r.errs
}

// TestPipelineRequests: every kind of change goes out as the request its
// Plane call sends (same command and body), without NLM_F_ACK, each with a
// sequence number of its own, all in one write ended by an acknowledged
// NLMSG_NOOP; a write with no refusal costs one read.
func TestPipelineRequests(t *testing.T) {
	k := &fakeKernel{fakeConn: fakeConn{family: 42}, window: 64}
	p := New(k, 42)
	svc := dataplane.Service{Key: tcp4, Scheduler: "wrr", PersistenceBits: 32}
	cs := []dataplane.Change{
		{Kind: dataplane.ChangeAddService, Service: persistent},
		{Kind: dataplane.ChangeAddDest, Service: dataplane.Service{Key: tcp4}, Dest: gue},
		{Kind: dataplane.ChangeUpdateDest, Service: dataplane.Service{Key: tcp4}, Dest: gue},
		{Kind: dataplane.ChangeUpdateService, Service: svc},
		{Kind: dataplane.ChangeDeleteDest, Service: dataplane.Service{Key: tcp4}, Dest: dataplane.Destination{Key: gue.Key}},
		{Kind: dataplane.ChangeDeleteService, Service: dataplane.Service{Key: tcp4}},
	}
	n, err, errs := pipeline(t, p, cs)
	if n != len(cs) || err != nil {
		t.Fatalf("Pipeline: %d, %v", n, err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("change %d: %v", i, e)
		}
	}
	if len(k.writes) != 1 || k.reads != 1 || len(k.sent) != 0 {
		t.Fatalf("%d writes, %d reads, %d Execute calls; want 1, 1, 0", len(k.writes), k.reads, len(k.sent))
	}
	w := k.writes[0]
	if len(w) != len(cs)+1 {
		t.Fatalf("write of %d messages, want %d and the barrier", len(w), len(cs))
	}
	single := &fakeConn{family: 42}
	sp := New(single, 42)
	for i, c := range cs {
		if err := sp.applyChange(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		m := w[i]
		if m.Header.Type != 42 || m.Header.Flags != netlink.Request {
			t.Errorf("request %d: type %d flags %v, want 42 and Request alone", i, m.Header.Type, m.Header.Flags)
		}
		want, _ := single.sent[i].MarshalBinary()
		if !bytes.Equal(m.Data, want) {
			t.Errorf("request %d (%v) differs from its Plane call's:\ngot  %x\nwant %x", i, c.Kind, m.Data, want)
		}
		if i > 0 && m.Header.Sequence != w[i-1].Header.Sequence+1 {
			t.Errorf("request %d: sequence %d after %d", i, m.Header.Sequence, w[i-1].Header.Sequence)
		}
	}
	b := w[len(cs)]
	if b.Header.Type != nlmsgNoop || b.Header.Flags != netlink.Request|netlink.Acknowledge || len(b.Data) != 0 ||
		b.Header.Sequence != w[len(cs)-1].Header.Sequence+1 {
		t.Errorf("barrier %+v, want an empty NOOP with Request|Acknowledge and the next sequence number", b.Header)
	}
	// The next call's numbers follow on: a late answer to this one can
	// never be taken for the next one's.
	pipeline(t, p, cs[:1])
	if got := k.writes[1][0].Header.Sequence; got != b.Header.Sequence+1 {
		t.Errorf("next write starts at sequence %d, want %d", got, b.Header.Sequence+1)
	}
}

// TestPipelineRefusals: the kernel refuses changes k of n; each refusal
// is reported for exactly its change, as its Plane call reports it (the
// command, the object, the errno with its hint), and every other change is
// applied: the pipeline goes on past a refusal.
func TestPipelineRefusals(t *testing.T) {
	cs := startChanges(5) // 15 changes
	// The second service exists already; so does a destination of the
	// fourth.
	k := &fakeKernel{fakeConn: fakeConn{family: 29}, window: 4, refuse: func(m genetlink.Message) syscall.Errno {
		switch m.Header.Command {
		case cmdNewService:
			if s, _ := decodeServiceReply(m.Data); s.Key == svcKey(1) {
				return syscall.EEXIST
			}
		case cmdNewDest:
			if d, _ := decodeDestReply(m.Data, dataplane.IPv4); d.Key == destOf(7).Key {
				return syscall.EEXIST
			}
		}
		return 0
	}}
	p := New(k, 29)
	n, err, errs := pipeline(t, p, cs)
	if n != len(cs) || err != nil {
		t.Fatalf("Pipeline: %d, %v", n, err)
	}
	// 15 changes in writes of at most 4: 4, 4, 4, 3.
	if len(k.writes) != 4 {
		t.Errorf("%d writes, want 4 (window 4)", len(k.writes))
	}
	for w := range k.writes {
		if got := len(k.requests(t, w)); got > 4 {
			t.Errorf("write %d has %d requests, more than the window", w, got)
		}
	}
	// Change 3 is service 1's add; change 11 is destination 7's (service 3).
	for i, e := range errs {
		switch i {
		case 3:
			if !errors.Is(e, syscall.EEXIST) || !strings.Contains(e.Error(), "add service TCP 10.1.0.1:80") ||
				!strings.Contains(e.Error(), "(the service exists)") {
				t.Errorf("change 3: %v, want the add of TCP 10.1.0.1:80 refused with EEXIST and its hint", e)
			}
		case 11:
			if !errors.Is(e, syscall.EEXIST) || !strings.Contains(e.Error(), "add destination 10.2.0.7:8080 of TCP 10.1.0.3:80") {
				t.Errorf("change 11: %v, want the add of 10.2.0.7:8080 of TCP 10.1.0.3:80 refused", e)
			}
		default:
			if e != nil {
				t.Errorf("change %d (%v %s): %v, want applied", i, cs[i].Kind, changeWhat(cs[i]), e)
			}
		}
	}
	// The text is the Plane call's.
	single := New(&fakeConn{family: 29, reply: func(genetlink.Message) ([]genetlink.Message, error) {
		return nil, &netlink.OpError{Op: "receive", Err: syscall.EEXIST}
	}}, 29)
	if want := single.applyChange(context.Background(), cs[3]); want.Error() != errs[3].Error() {
		t.Errorf("pipelined refusal %q, the Plane call's %q", errs[3], want)
	}
}

// TestPipelineLostAnswers: answers that overrun the receive buffer make
// the write's outcome unknown: Pipeline stops at that write's first change
// with the reason, the results before it stand, and the socket is drained.
func TestPipelineLostAnswers(t *testing.T) {
	cs := startChanges(4) // 12 changes
	k := &fakeKernel{fakeConn: fakeConn{family: 29}, window: 6, capacity: 2}
	k.refuse = func(m genetlink.Message) syscall.Errno {
		if len(k.writes) == 2 && m.Header.Command == cmdNewDest {
			return syscall.ESRCH // the second write's four destinations
		}
		return 0
	}
	p := New(k, 29)
	n, err, errs := pipeline(t, p, cs)
	if n != 6 || !errors.Is(err, syscall.ENOBUFS) || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("Pipeline: %d, %v; want 6 results and the lost answers reported", n, err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("change %d of the first write: %v", i, e)
		}
	}
	if k.drained != 1 {
		t.Errorf("drained %d times, want 1", k.drained)
	}
}

// TestPipelineNotEncodable: a change that cannot be encoded is refused as
// its Plane call refuses it, is not sent, and the others are.
func TestPipelineNotEncodable(t *testing.T) {
	k := &fakeKernel{fakeConn: fakeConn{family: 33}, window: 16}
	p := New(k, 33)
	cs := startChanges(2)
	cs[3].Service.Scheduler = "a-scheduler-name-too-long"
	n, err, errs := pipeline(t, p, cs)
	if n != len(cs) || err != nil {
		t.Fatalf("Pipeline: %d, %v", n, err)
	}
	if errs[3] == nil || !strings.Contains(errs[3].Error(), "add service TCP 10.1.0.1:80") || !strings.Contains(errs[3].Error(), "longer than") {
		t.Errorf("change 3: %v", errs[3])
	}
	if got := len(k.requests(t, 0)); got != len(cs)-1 {
		t.Errorf("%d requests sent, want %d (all but the bad one)", got, len(cs)-1)
	}
}

// TestPipelineCancelled: a context that has ended sends nothing.
func TestPipelineCancelled(t *testing.T) {
	k := &fakeKernel{fakeConn: fakeConn{family: 33}, window: 16}
	p := New(k, 33)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cs := startChanges(1)
	n, err := p.Pipeline(ctx, len(cs), func(i int) dataplane.Change { return cs[i] }, func(int, error) { t.Error("a result") })
	if n != 0 || !errors.Is(err, context.Canceled) || len(k.writes) != 0 {
		t.Errorf("Pipeline: %d, %v, %d writes", n, err, len(k.writes))
	}
}

// TestPipelineWithoutPipe: a Conn with no socket under it gets each change
// as its Plane call, acknowledged one by one.
func TestPipelineWithoutPipe(t *testing.T) {
	c := &fakeConn{family: 5, reply: func(m genetlink.Message) ([]genetlink.Message, error) {
		if m.Header.Command == cmdNewDest {
			return nil, &netlink.OpError{Op: "receive", Err: syscall.ESRCH}
		}
		return nil, nil
	}}
	p := New(c, 5)
	cs := startChanges(1)
	n, err, errs := pipeline(t, p, cs)
	if n != 3 || err != nil || len(c.sent) != 3 || errs[0] != nil || !errors.Is(errs[1], syscall.ESRCH) || !errors.Is(errs[2], syscall.ESRCH) {
		t.Errorf("Pipeline: %d, %v, %v; %d sent", n, err, errs, len(c.sent))
	}
	for i, f := range c.flags {
		if f != netlink.Request|netlink.Acknowledge {
			t.Errorf("request %d flags %v", i, f)
		}
	}
}

// TestWindowFor: the window follows the receive buffer, within bounds.
func TestWindowFor(t *testing.T) {
	for _, tt := range []struct{ rcvbuf, want int }{
		{0, pipeMinWindow}, {425984, 208}, {2 << 20, 1024}, {64 << 20, pipeMaxWindow},
	} {
		if got := windowFor(tt.rcvbuf); got != tt.want {
			t.Errorf("windowFor(%d) = %d, want %d", tt.rcvbuf, got, tt.want)
		}
	}
}

// TestAppendChangeGolden: a pipelined request is the netlink library's
// encoding of its Plane call's message, without NLM_F_ACK; the barrier an
// empty NLMSG_NOOP that asks for one.
func TestAppendChangeGolden(t *testing.T) {
	littleEndianOnly(t)
	m, err := destMessage(cmdNewDest, tcp4, gue, true)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := m.MarshalBinary()
	want := nlMarshal(netlink.Message{Header: netlink.Header{Type: 42, Flags: netlink.Request, Sequence: 7}, Data: body})
	got, err := appendChange([]byte{1, 2, 3, 4}, 42, 7, dataplane.Change{Kind: dataplane.ChangeAddDest, Service: dataplane.Service{Key: tcp4}, Dest: gue})
	if err != nil || !bytes.Equal(got[4:], want) || !bytes.Equal(got[:4], []byte{1, 2, 3, 4}) {
		t.Errorf("request (%v):\ngot  %x\nwant %x", err, got, want)
	}
	bad := dataplane.Change{Kind: dataplane.ChangeAddService, Service: dataplane.Service{Key: tcp4, Scheduler: "much-too-long-a-name"}}
	if got, err := appendChange([]byte{1}, 42, 8, bad); err == nil || len(got) != 1 {
		t.Errorf("a name too long: %v, %d bytes left", err, len(got))
	}
	want = nlMarshal(netlink.Message{Header: netlink.Header{Type: nlmsgNoop, Flags: netlink.Request | netlink.Acknowledge, Sequence: 8}})
	if got := appendBarrier(nil, 8); !bytes.Equal(got, want) {
		t.Errorf("barrier:\ngot  %x\nwant %x", got, want)
	}
}

// TestParseAnswers reads a datagram of two answers: a refusal and an
// acknowledgement.
func TestParseAnswers(t *testing.T) {
	var b []byte
	for _, a := range []struct {
		seq   uint32
		errno int32
	}{{5, -17}, {6, 0}} {
		raw := nlMarshal(netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: a.seq},
			Data: binary.NativeEndian.AppendUint32(make([]byte, 0, 20), uint32(a.errno))})
		b = append(b, raw...)
	}
	got, err := parseAnswers(b, nil)
	if err != nil || len(got) != 2 || got[0] != (answer{typ: nlmsgError, seq: 5, errno: -17}) || got[1] != (answer{typ: nlmsgError, seq: 6}) {
		t.Errorf("parseAnswers: %+v, %v", got, err)
	}
	if _, err := parseAnswers(b[:10], nil); !errors.Is(err, errMalformed) {
		t.Errorf("a short datagram: %v", err)
	}
}

// FuzzParseAnswers: the answer parser never panics and never reads past
// its input.
func FuzzParseAnswers(f *testing.F) {
	ack := nlMarshal(netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: 1}, Data: make([]byte, 20)})
	f.Add(ack)
	f.Add(append(ack, ack[:17]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseAnswers(b, nil)
	})
}

// TestPipelineSequenceWrap: a write whose sequence numbers wrap past
// 2^32 still matches each refusal to its change.
func TestPipelineSequenceWrap(t *testing.T) {
	k := &fakeKernel{fakeConn: fakeConn{family: 29}, window: 16, refuse: func(m genetlink.Message) syscall.Errno {
		if m.Header.Command == cmdNewDest {
			return syscall.ESRCH
		}
		return 0
	}}
	p := New(k, 29)
	p.pstate.seq = ^uint32(0) - 1 // the write's numbers: 2^32-1, 0, 1, and the barrier 2
	n, err, errs := pipeline(t, p, startChanges(1))
	if n != 3 || err != nil || errs[0] != nil || !errors.Is(errs[1], syscall.ESRCH) || !errors.Is(errs[2], syscall.ESRCH) {
		t.Errorf("Pipeline: %d, %v, %v", n, err, errs)
	}
	if got := k.writes[0][1].Header.Sequence; got != 0 {
		t.Errorf("second request numbered %d, want 0 (wrapped)", got)
	}
}
