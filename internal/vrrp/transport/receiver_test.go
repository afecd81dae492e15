package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// rxWait bounds every wait for datagrams to come out of a Receiver.
const rxWait = 2 * time.Second

// rxPoll is the pause between two ReadBatch polls: the Receiver's socket is
// outside the runtime poller, and a test has no epoll loop to wake it.
const rxPoll = 5 * time.Millisecond

// openReceiverIn opens c's Receiver from a thread inside ns, closed by
// t.Cleanup. OpenReceiver creates its socket in the calling thread's network
// namespace, and binding it to c's interface works only in the namespace that
// interface lives in (as in the daemon, where both are the same).
func openReceiverIn(t *testing.T, ns string, c *Conn) *Receiver {
	t.Helper()
	var r *Receiver
	if err := inNS(ns, func() error {
		var err error
		r, err = c.OpenReceiver()
		return err
	}); err != nil {
		t.Fatalf("OpenReceiver on %s in %s: %v", c.Interface().Name, ns, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// rxItem is one datagram as ReadBatch handed it over, copied out of a buffer
// that is valid only during the callback.
type rxItem struct {
	payload []byte
	meta    Meta
	err     error
}

// readBatch runs one ReadBatch, failing the test if it blocks: the socket is
// non-blocking, and a ReadBatch that waited would stall the caller's event
// loop. A stuck call is left behind rather than hanging the test.
func readBatch(t *testing.T, r *Receiver) ([]rxItem, error) {
	t.Helper()
	type result struct {
		items []rxItem
		n     int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		res.n, res.err = r.ReadBatch(func(p []byte, meta Meta, err error) {
			res.items = append(res.items, rxItem{payload: bytes.Clone(p), meta: meta, err: err})
		})
		done <- res
	}()
	select {
	case res := <-done:
		if res.n != len(res.items) {
			t.Errorf("ReadBatch returned %d, called back %d times", res.n, len(res.items))
		}
		return res.items, res.err
	case <-time.After(rxWait):
		t.Fatalf("ReadBatch blocked for %v", rxWait)
		return nil, nil
	}
}

// readN polls ReadBatch until at least n datagrams have come out or rxWait
// has passed, and returns them with the size of each non-empty batch.
// Polling rather than waiting on Fd keeps the test free of epoll; the
// deadline makes a lost datagram a failure, not a hang.
func readN(t *testing.T, r *Receiver, n int) (items []rxItem, batches []int) {
	t.Helper()
	deadline := time.Now().Add(rxWait)
	for len(items) < n {
		got, err := readBatch(t, r)
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		if len(got) > 0 {
			items = append(items, got...)
			batches = append(batches, len(got))
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d datagrams within %v, want %d", len(items), rxWait, n)
		}
		time.Sleep(rxPoll)
	}
	return items, batches
}

// expectEmpty checks that nothing more is queued: ReadBatch returns (0, nil)
// at once.
func expectEmpty(t *testing.T, r *Receiver) {
	t.Helper()
	got, err := readBatch(t, r)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadBatch on an empty socket = %d datagrams (%+v), %v; want 0, nil", len(got), got, err)
	}
}

// sides is one family's pair of Conns: a sends, b receives.
type sides struct {
	a, b     *Conn
	src, dst netip.Addr // unicast addresses of a and b
	group    netip.Addr // the VRRP group, joined on b
	mcastSrc netip.Addr // the source a multicasts from
}

// openSides opens a's and b's Conns of family on p, with b in the VRRP group
// before any Receiver is opened (the memberships a Receiver mirrors at open).
func openSides(t *testing.T, p *vethPair, family int) sides {
	t.Helper()
	s := sides{a: listenIn(t, p.nsA, "va", family), b: listenIn(t, p.nsB, "vb", family)}
	if family == 4 {
		s.src, s.dst, s.group, s.mcastSrc = addrA4, addrB4, Group4, addrA4
	} else {
		s.src, s.dst, s.group, s.mcastSrc = addrA6, addrB6, Group6, p.llA
	}
	if err := s.b.JoinGroup(s.group); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReceiverDelivers: what A's Conn sends arrives through B's Receiver,
// multicast and unicast, IPv4 and IPv6, byte for byte with the IP layer's
// facts; a burst comes out of few ReadBatch calls in the order sent; an empty
// socket reads (0, nil) without blocking.
func TestReceiverDelivers(t *testing.T) {
	p := newVethPair(t)
	v4, v6 := openSides(t, p, 4), openSides(t, p, 6)
	r4, r6 := openReceiverIn(t, p.nsB, v4.b), openReceiverIn(t, p.nsB, v6.b)
	expectEmpty(t, r4)
	expectEmpty(t, r6)

	tests := []struct {
		name     string
		a        *Conn
		r        *Receiver
		src, dst netip.Addr
	}{
		{"IPv4 multicast", v4.a, r4, addrA4, Group4},
		{"IPv4 unicast", v4.a, r4, addrA4, addrB4},
		{"IPv6 multicast", v6.a, r6, p.llA, Group6},
		{"IPv6 unicast", v6.a, r6, addrA6, addrB6},
		{"IPv6 unicast link-local", v6.a, r6, p.llA, p.llB},
	}
	const burst = 8
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent [][]byte
			for k := range burst {
				// Lengths differ too, so a mix-up of buffers or sizes
				// shows.
				b := append(advert(uint8(10+i), byte(k)), bytes.Repeat([]byte{byte(k)}, k)...)
				if err := tt.a.WriteTo(b, tt.src, tt.dst); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, b)
			}
			got, batches := readN(t, tt.r, burst)
			if len(got) != burst {
				t.Fatalf("got %d datagrams, want %d", len(got), burst)
			}
			for k, it := range got {
				if it.err != nil {
					t.Fatalf("datagram %d: %v", k, it.err)
				}
				if !bytes.Equal(it.payload, sent[k]) {
					t.Errorf("datagram %d: payload %x, want %x (in the order sent)", k, it.payload, sent[k])
				}
				checkMeta(t, it.meta, tt.src, tt.dst, 255, p.idxB)
			}
			// Sent back to back on one link, they are all queued by the
			// time the first read happens: a batch read takes several.
			if len(batches) >= burst {
				t.Errorf("batches %v: each ReadBatch returned one datagram, want several per call", batches)
			}
			expectEmpty(t, tt.r)
		})
	}

	t.Run("at most one batch per call", func(t *testing.T) {
		const n = receiverBatch + 6
		for k := range n {
			if err := v4.a.WriteTo(advert(1, byte(k)), addrA4, addrB4); err != nil {
				t.Fatal(err)
			}
		}
		got, batches := readN(t, r4, n)
		for _, b := range batches {
			if b > receiverBatch {
				t.Fatalf("batches %v: one ReadBatch returned more than %d", batches, receiverBatch)
			}
		}
		for k, it := range got {
			if it.err != nil || it.payload[2] != byte(k) {
				t.Fatalf("datagram %d: %x, %v; want tag %d", k, it.payload, it.err, k)
			}
		}
		expectEmpty(t, r4)
	})
}

// expectReadTimeout checks that c's own ReadFrom gets nothing before a short
// deadline: the absence of a datagram has no event to wait for, so a bounded
// read that must run out is the check.
func expectReadTimeout(t *testing.T, c *Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, readBufSize)
	n, meta, err := c.ReadFrom(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Conn.ReadFrom with a Receiver open = %x, %+v, %v; want nothing (deadline exceeded)", buf[:n], meta, err)
	}
}

// readConn reads one datagram from c's own socket, bounded by a deadline.
func readConn(t *testing.T, c *Conn) ([]byte, Meta) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(rxWait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, readBufSize)
	n, meta, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("Conn.ReadFrom: %v", err)
	}
	return buf[:n], meta
}

// TestReceiverSilencesConn: while a Receiver is open, the Conn's own socket
// receives nothing; once it is closed, the Conn receives again (and not the
// datagrams the Receiver took). Only one Receiver may be open at a time.
func TestReceiverSilencesConn(t *testing.T) {
	tests := []struct {
		name   string
		family int
		ah     bool
	}{
		{"IPv4", 4, false},
		{"IPv6", 6, false},
		{"IPv4 AH", 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newVethPair(t)
			var s sides
			// send sends datagram k (0 or 1; 2 too without AH) from a to b
			// and returns what b should read.
			var send func(k int) []byte
			if tt.ah {
				s = sides{a: listenAHIn(t, p.nsA, "va"), b: listenAHIn(t, p.nsB, "vb"), group: Group4}
				if err := s.b.JoinGroup(Group4); err != nil {
					t.Fatal(err)
				}
				files := []string{"keepalived_v2_ah.hex", "keepalived_v2_ah_unicast.hex"}
				dsts := []netip.Addr{Group4, addrB4}
				send = func(k int) []byte {
					d := readAHDatagram(t, files[k])
					out := bytes.Clone(d)
					out[10], out[11] = 0, 0 // the kernel fills the header checksum in
					if err := s.a.WriteTo(out, addrA4, dsts[k]); err != nil {
						t.Fatal(err)
					}
					return d
				}
			} else {
				s = openSides(t, p, tt.family)
				send = func(k int) []byte {
					b := advert(7, byte(k+1))
					if err := s.a.WriteTo(b, s.mcastSrc, s.group); err != nil {
						t.Fatal(err)
					}
					return b
				}
			}

			// A datagram queued on the Conn before the Receiver opens is
			// the Receiver's business or stale: it must not come out of
			// the Conn after the Receiver closes.
			if !tt.ah {
				send(2)
				time.Sleep(50 * time.Millisecond) // let it land in B's queue
			}
			r := openReceiverIn(t, p.nsB, s.b)
			var second *Receiver
			err := inNS(p.nsB, func() error {
				var err error
				second, err = s.b.OpenReceiver()
				return err
			})
			if err == nil {
				second.Close()
				t.Fatal("a second OpenReceiver succeeded while one was open")
			}

			first := send(0)
			got, _ := readN(t, r, 1)
			if got[0].err != nil || !bytes.Equal(got[0].payload, first) {
				t.Fatalf("Receiver got %x, %v; want %x", got[0].payload, got[0].err, first)
			}
			// The datagram reached B's interface; the Conn must not have
			// queued it.
			expectReadTimeout(t, s.b)

			if err := r.Close(); err != nil {
				t.Fatalf("Receiver.Close: %v", err)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("second Receiver.Close: %v", err)
			}
			again := send(1)
			b, _ := readConn(t, s.b)
			if !bytes.Equal(b, again) {
				t.Fatalf("after Receiver.Close the Conn read %x, want %x (the datagram sent after the close)", b, again)
			}

			// Closed, it no longer blocks a new one.
			r2 := openReceiverIn(t, p.nsB, s.b)
			if err := r2.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// groupUsers returns how many sockets in ns are members of group on ifname,
// from /proc/net/igmp or igmp6 as seen from a thread in ns (thread-self: the
// process's own /proc/self/net is the namespace of its main thread). A count
// proves the Receiver's own membership, which a received datagram alone does
// not for IPv6: a v6 raw socket also takes groups only other sockets joined.
func groupUsers(t *testing.T, ns, ifname string, group netip.Addr) int {
	t.Helper()
	users := 0
	err := inNS(ns, func() error {
		file := "/proc/thread-self/net/igmp6"
		if group.Is4() {
			file = "/proc/thread-self/net/igmp"
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		// The kernel prints an IPv4 group as the hex of its 32-bit word in
		// host byte order, an IPv6 one as its 16 bytes.
		var want4, want6 string
		if group.Is4() {
			a4 := group.As4()
			want4 = fmt.Sprintf("%08X", binary.NativeEndian.Uint32(a4[:]))
		} else {
			a16 := group.As16()
			want6 = hex.EncodeToString(a16[:])
		}
		dev := ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			fs := strings.Fields(line)
			switch {
			case len(fs) == 0:
			case group.Is6():
				// idx dev group users flags timer
				if len(fs) >= 4 && fs[1] == ifname && fs[2] == want6 {
					users, err = strconv.Atoi(fs[3])
					return err
				}
			case !strings.HasPrefix(line, "\t"):
				// "idx dev : count querier" opens a device's groups.
				if len(fs) >= 2 {
					dev = fs[1]
				}
			case dev == ifname && fs[0] == want4 && len(fs) >= 2:
				users, err = strconv.Atoi(fs[1])
				return err
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatalf("membership of %v on %s in %s: %v", group, ifname, ns, err)
	}
	return users
}

// TestReceiverGroupMirror: the Receiver holds the memberships of its Conn,
// those joined before it opened and those joined or left after, and receives
// accordingly (for IPv4 only the groups its own socket joined).
func TestReceiverGroupMirror(t *testing.T) {
	tests := []struct {
		name   string
		family int
		extra  netip.Addr // a vrrp_mcast_group joined after OpenReceiver
		// ownOnly: the sockets take only the groups they joined
		// themselves (IPv4, IP_MULTICAST_ALL off), so a group another
		// socket on the host holds stays out after LeaveGroup.
		ownOnly bool
	}{
		{"IPv4", 4, netip.MustParseAddr("224.0.0.99"), true},
		{"IPv6", 6, netip.MustParseAddr("ff02::99"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newVethPair(t)
			s := openSides(t, p, tt.family)
			if got := groupUsers(t, p.nsB, "vb", s.group); got != 1 {
				t.Fatalf("%v has %d members before OpenReceiver, want 1 (the Conn)", s.group, got)
			}
			r := openReceiverIn(t, p.nsB, s.b)
			if got := groupUsers(t, p.nsB, "vb", s.group); got != 2 {
				t.Fatalf("%v has %d members after OpenReceiver, want 2 (Conn and Receiver)", s.group, got)
			}

			if err := s.b.JoinGroup(tt.extra); err != nil {
				t.Fatal(err)
			}
			if got := groupUsers(t, p.nsB, "vb", tt.extra); got != 2 {
				t.Fatalf("%v joined after OpenReceiver has %d members, want 2", tt.extra, got)
			}
			want := advert(3, 1)
			if err := s.a.WriteTo(want, s.mcastSrc, tt.extra); err != nil {
				t.Fatal(err)
			}
			got, _ := readN(t, r, 1)
			if got[0].err != nil || !bytes.Equal(got[0].payload, want) || got[0].meta.Dst != tt.extra {
				t.Fatalf("got %x to %v, %v; want %x to %v", got[0].payload, got[0].meta.Dst, got[0].err, want, tt.extra)
			}

			if err := s.b.LeaveGroup(tt.extra); err != nil {
				t.Fatal(err)
			}
			if got := groupUsers(t, p.nsB, "vb", tt.extra); got != 0 {
				t.Fatalf("%v has %d members after LeaveGroup, want 0", tt.extra, got)
			}
			if tt.ownOnly {
				// The interface stays in the group for another socket's
				// sake; the Receiver must still not take its traffic.
				other := listenIn(t, p.nsB, "vb", tt.family)
				if err := other.JoinGroup(tt.extra); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.a.WriteTo(advert(3, 2), s.mcastSrc, tt.extra); err != nil {
				t.Fatal(err)
			}
			// Sent after the multicast one on the same link, the unicast
			// one arrives after it: once it is here, the other would be too.
			marker := advert(3, 3)
			if err := s.a.WriteTo(marker, s.src, s.dst); err != nil {
				t.Fatal(err)
			}
			got, _ = readN(t, r, 1)
			if !bytes.Equal(got[0].payload, marker) || got[0].meta.Dst != s.dst {
				t.Fatalf("after LeaveGroup got %x to %v first, want only the unicast %x", got[0].payload, got[0].meta.Dst, marker)
			}
			expectEmpty(t, r)

			// Left on the Receiver alone: its close gives up its
			// memberships, the Conn's stay.
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if got := groupUsers(t, p.nsB, "vb", s.group); got != 1 {
				t.Fatalf("%v has %d members after Receiver.Close, want 1 (the Conn)", s.group, got)
			}
		})
	}
}

// TestReceiverTruncated: a datagram that does not fit the Receiver's buffer
// (4,608 bytes, which for IPv4 holds the IP header as well) is reported as
// ErrTruncated, not handed over cut short, and the datagram after it reads
// normally.
func TestReceiverTruncated(t *testing.T) {
	p := newVethPair(t)
	v4, v6 := openSides(t, p, 4), openSides(t, p, 6)
	r4, r6 := openReceiverIn(t, p.nsB, v4.b), openReceiverIn(t, p.nsB, v6.b)
	const ipv4Header = 20
	tests := []struct {
		name      string
		s         sides
		r         *Receiver
		size      int // VRRP payload bytes
		truncated bool
	}{
		{"IPv4 largest that fits", v4, r4, receiverBufSize - ipv4Header - 1, false},
		{"IPv4 fills the buffer", v4, r4, receiverBufSize - ipv4Header, true},
		{"IPv4 4608 bytes of payload", v4, r4, receiverBufSize, true},
		{"IPv4 9000 bytes", v4, r4, 9000, true},
		{"IPv6 largest that fits", v6, r6, receiverBufSize - 1, false},
		{"IPv6 fills the buffer", v6, r6, receiverBufSize, true},
		{"IPv6 9000 bytes", v6, r6, 9000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			big := bytes.Repeat([]byte{0x5a}, tt.size)
			copy(big, advert(9, 1))
			// Multicast too: fragmented on the 1500-byte veth, reassembled
			// at B.
			for _, dst := range []netip.Addr{tt.s.dst, tt.s.group} {
				src := tt.s.src
				if dst.IsMulticast() {
					src = tt.s.mcastSrc
				}
				if err := tt.s.a.WriteTo(big, src, dst); err != nil {
					t.Fatal(err)
				}
				normal := advert(9, 2)
				if err := tt.s.a.WriteTo(normal, src, dst); err != nil {
					t.Fatal(err)
				}
				got, _ := readN(t, tt.r, 2)
				if len(got) != 2 {
					t.Fatalf("to %v: got %d datagrams, want 2", dst, len(got))
				}
				switch {
				case tt.truncated && (!errors.Is(got[0].err, ErrTruncated) || got[0].payload != nil):
					t.Errorf("to %v: %d-byte datagram read as %d bytes, %v; want ErrTruncated and no payload", dst, tt.size, len(got[0].payload), got[0].err)
				case !tt.truncated && (got[0].err != nil || !bytes.Equal(got[0].payload, big)):
					t.Errorf("to %v: %d-byte datagram read as %d bytes, %v; want it whole", dst, tt.size, len(got[0].payload), got[0].err)
				}
				if got[1].err != nil || !bytes.Equal(got[1].payload, normal) {
					t.Errorf("to %v: datagram after it read as %x, %v; want %x", dst, got[1].payload, got[1].err, normal)
				}
				checkMeta(t, got[1].meta, src, dst, 255, p.idxB)
				expectEmpty(t, tt.r)
			}
		})
	}
}

// inReceiverBuffers reports whether b lies in one of r's read buffers, that
// is, whether a subscriber was lent the buffer rather than given a copy.
func inReceiverBuffers(r *Receiver, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	for _, buf := range r.bufs {
		start := uintptr(unsafe.Pointer(&buf[0]))
		if p >= start && p < start+uintptr(len(buf)) {
			return true
		}
	}
	return false
}

// drainAll calls m.Drain until n datagrams have been read or rxWait has
// passed; polling, as readN does, for want of an epoll loop.
func drainAll(t *testing.T, m *Mux, r *Receiver, n int) {
	t.Helper()
	deadline := time.Now().Add(rxWait)
	total := 0
	for total < n {
		got, err := m.Drain(r, 1000)
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
		total += got
		if got == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("Drain read %d datagrams within %v, want %d", total, rxWait, n)
			}
			time.Sleep(rxPoll)
		}
	}
	if total != n {
		t.Fatalf("Drain read %d datagrams, want %d", total, n)
	}
}

// TestMuxDrain: Drain reads what the Receiver has queued and dispatches it by
// VRID as Run does, counting what it cannot deliver; with Lend the
// subscribers get the Receiver's buffer itself, otherwise a copy.
func TestMuxDrain(t *testing.T) {
	tests := []struct {
		name string
		lend bool
	}{
		{"copies", false},
		{"lent", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newVethPair(t)
			s := openSides(t, p, 4)
			r := openReceiverIn(t, p.nsB, s.b)
			m := NewMux(s.b, nil)
			if tt.lend {
				m.Lend()
			}

			type delivery struct {
				vrid    uint8
				seen    []byte // copied during the call
				kept    []byte // the slice itself, kept past the call
				lent    bool
				src     netip.Addr
				ifIndex int
			}
			var got []delivery
			subscribe := func(vrid uint8, accept bool) func() {
				return m.SubscribeFunc(vrid, func(rc Received) bool {
					got = append(got, delivery{
						vrid: vrid, seen: bytes.Clone(rc.Payload), kept: rc.Payload,
						lent: inReceiverBuffers(r, rc.Payload), src: rc.Src, ifIndex: rc.IfIndex,
					})
					return accept
				})
			}
			subscribe(1, true)
			subscribe(2, true)
			subscribe(3, false) // a full queue
			unsub4 := subscribe(4, true)
			if n := m.VRIDs(); n != 4 {
				t.Fatalf("VRIDs() = %d, want 4", n)
			}
			unsub4()
			if n := m.VRIDs(); n != 3 {
				t.Fatalf("VRIDs() after an unsubscribe = %d, want 3", n)
			}

			sends := []struct {
				b   []byte
				dst netip.Addr
			}{
				{advert(1, 1), Group4},
				{advert(2, 2), addrB4},
				{advert(9, 3), Group4}, // nobody
				{advert(1, 4), Group4},
				{advert(3, 5), Group4},                        // refused
				{advert(4, 6), Group4},                        // unsubscribed
				{[]byte{0x21}, Group4},                        // too short for a VRID
				{bytes.Repeat([]byte{0x21, 1}, 3000), Group4}, // truncated
				{advert(2, 7), Group4},
			}
			for _, sd := range sends {
				if err := s.a.WriteTo(sd.b, addrA4, sd.dst); err != nil {
					t.Fatal(err)
				}
			}
			drainAll(t, m, r, len(sends))

			wantTags := []struct{ vrid, tag byte }{{1, 1}, {2, 2}, {1, 4}, {3, 5}, {2, 7}}
			if len(got) != len(wantTags) {
				t.Fatalf("%d deliveries, want %d: %+v", len(got), len(wantTags), got)
			}
			for k, w := range wantTags {
				d := got[k]
				if d.vrid != w.vrid || !bytes.Equal(d.seen, advert(w.vrid, w.tag)) {
					t.Errorf("delivery %d: VRID %d got %x during the call, want %x", k, d.vrid, d.seen, advert(w.vrid, w.tag))
				}
				if d.src != addrA4 || d.ifIndex != p.idxB {
					t.Errorf("delivery %d: from %v on interface %d, want %v on %d", k, d.src, d.ifIndex, addrA4, p.idxB)
				}
				if d.lent != tt.lend {
					t.Errorf("delivery %d: payload in the Receiver's buffer = %v, want %v", k, d.lent, tt.lend)
				}
				if !tt.lend && !bytes.Equal(d.kept, d.seen) {
					t.Errorf("delivery %d: the copy changed after the call: %x, was %x", k, d.kept, d.seen)
				}
			}
			want := MuxStats{Read: uint64(len(sends)), Delivered: 4, UnknownVRID: 2, QueueFull: 1, Short: 2}
			if st := m.Stats(); st != want {
				t.Errorf("Stats = %+v, want %+v", st, want)
			}
			if n, err := m.Drain(r, 1000); n != 0 || err != nil {
				t.Errorf("Drain on an empty socket = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// TestMuxDrainLimit: Drain stops after the batch that reaches its limit and
// reads on past full batches when the limit allows.
func TestMuxDrainLimit(t *testing.T) {
	p := newVethPair(t)
	s := openSides(t, p, 4)
	r := openReceiverIn(t, p.nsB, s.b)
	m := NewMux(s.b, nil)
	var tags []byte
	m.SubscribeFunc(1, func(rc Received) bool {
		tags = append(tags, rc.Payload[2])
		return true
	})
	const n = 2*receiverBatch + 10
	for k := range n {
		if err := s.a.WriteTo(advert(1, byte(k)), addrA4, addrB4); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(rxWait)
	first := 0
	for first == 0 {
		var err error
		if first, err = m.Drain(r, 1); err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			if time.Now().After(deadline) {
				t.Fatal("nothing to drain")
			}
			time.Sleep(rxPoll)
		}
	}
	if first > receiverBatch {
		t.Fatalf("Drain(r, 1) read %d, want at most one batch (%d)", first, receiverBatch)
	}
	drainAll(t, m, r, n-first)
	if len(tags) != n {
		t.Fatalf("delivered %d, want %d", len(tags), n)
	}
	for k, tag := range tags {
		if tag != byte(k) {
			t.Fatalf("delivery %d has tag %d: out of order", k, tag)
		}
	}
	if st := m.Stats(); st.Read != n || st.Delivered != n {
		t.Errorf("Stats = %+v, want %d read and delivered", st, n)
	}
}

// TestReceiverAH: on an AH socket the Receiver hands over whole IPv4
// datagrams, header included, with the header's addresses and TTL, and
// Mux.Drain dispatches them by the VRID behind the AH header, always as
// copies (Lend does not apply). A protocol 112 Receiver on the same
// interface sees none of them.
func TestReceiverAH(t *testing.T) {
	p := newVethPair(t)
	a, b := listenAHIn(t, p.nsA, "va"), listenAHIn(t, p.nsB, "vb")
	plain := listenIn(t, p.nsB, "vb", 4)
	for _, c := range []*Conn{b, plain} {
		if err := c.JoinGroup(Group4); err != nil {
			t.Fatal(err)
		}
	}
	r := openReceiverIn(t, p.nsB, b)
	rPlain := openReceiverIn(t, p.nsB, plain)

	tests := []struct {
		name string
		file string
		dst  netip.Addr
		vrid uint8
	}{
		{"multicast", "keepalived_v2_ah.hex", Group4, 61},
		{"unicast", "keepalived_v2_ah_unicast.hex", addrB4, 62},
	}
	send := func(t *testing.T, file string, dst netip.Addr) []byte {
		t.Helper()
		d := readAHDatagram(t, file)
		out := bytes.Clone(d)
		out[10], out[11] = 0, 0 // the kernel fills the header checksum in
		if err := a.WriteTo(out, addrA4, dst); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tt := range tests {
		t.Run(tt.name+" ReadBatch", func(t *testing.T) {
			d := send(t, tt.file, tt.dst)
			got, _ := readN(t, r, 1)
			if got[0].err != nil || !bytes.Equal(got[0].payload, d) {
				t.Fatalf("received %x, %v\nsent %x", got[0].payload, got[0].err, d)
			}
			checkMeta(t, got[0].meta, addrA4, tt.dst, 255, p.idxB)
			expectEmpty(t, r)
		})
	}

	t.Run("Drain", func(t *testing.T) {
		m := NewMux(b, nil)
		m.Lend() // ignored on an AH socket
		type delivery struct {
			vrid    uint8
			payload []byte
			meta    Meta
			lent    bool
		}
		var got []delivery
		for _, tt := range tests {
			m.SubscribeFunc(tt.vrid, func(rc Received) bool {
				got = append(got, delivery{tt.vrid, bytes.Clone(rc.Payload), rc.Meta, inReceiverBuffers(r, rc.Payload)})
				return true
			})
		}
		var sent [][]byte
		for _, tt := range tests {
			sent = append(sent, send(t, tt.file, tt.dst))
		}
		drainAll(t, m, r, len(tests))
		if len(got) != len(tests) {
			t.Fatalf("%d deliveries, want %d", len(got), len(tests))
		}
		for k, tt := range tests {
			if got[k].vrid != tt.vrid || !bytes.Equal(got[k].payload, sent[k]) {
				t.Errorf("delivery %d: VRID %d got %x, want VRID %d the whole datagram %x", k, got[k].vrid, got[k].payload, tt.vrid, sent[k])
			}
			checkMeta(t, got[k].meta, addrA4, tt.dst, 255, p.idxB)
			if got[k].lent {
				t.Errorf("delivery %d: lent the Receiver's buffer on an AH socket", k)
			}
		}
	})

	expectEmpty(t, rPlain)
}
