package check

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

func TestPingLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1"} {
		c := Conn{Target: netip.AddrPortFrom(netip.MustParseAddr(a), 0)}
		pc, _, err := ListenICMP(c)
		if err != nil {
			t.Logf("skipping %s: cannot open an ICMP socket here (%v)", a, err)
			continue
		}
		pc.Close()
		if r := (&PingProber{Conn: c}).Probe(probeCtx(t, 5*time.Second), 0); !r.OK {
			t.Errorf("ping %s: %+v", a, r)
		}
	}
}

// fakeICMP is a PacketConn that answers each echo with reply(echo).
type fakeICMP struct {
	mu       sync.Mutex
	replies  [][]byte
	from     net.Addr
	deadline time.Time
	reply    func(e *icmp.Echo) [][]byte
	wake     chan struct{}
}

func (f *fakeICMP) WriteTo(b []byte, _ net.Addr) (int, error) {
	m, err := icmp.ParseMessage(1, b)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	f.replies = append(f.replies, f.reply(m.Body.(*icmp.Echo))...)
	f.mu.Unlock()
	return len(b), nil
}

func (f *fakeICMP) ReadFrom(b []byte) (int, net.Addr, error) {
	f.mu.Lock()
	if len(f.replies) > 0 {
		r := f.replies[0]
		f.replies = f.replies[1:]
		f.mu.Unlock()
		return copy(b, r), f.from, nil
	}
	f.mu.Unlock()
	<-f.wake // only the deadline ends the wait
	return 0, nil, &net.OpError{Op: "read", Err: timeoutErr{}}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (f *fakeICMP) Close() error                     { return nil }
func (f *fakeICMP) LocalAddr() net.Addr              { return nil }
func (f *fakeICMP) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeICMP) SetWriteDeadline(time.Time) error { return nil }
func (f *fakeICMP) SetDeadline(d time.Time) error {
	if !d.After(time.Now()) {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func echoReply(e *icmp.Echo) []byte {
	b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: e}).Marshal(nil)
	return b
}

func TestPingFaults(t *testing.T) {
	target := netip.MustParseAddr("10.1.2.3")
	from := &net.IPAddr{IP: target.AsSlice()}
	other := &net.IPAddr{IP: net.IPv4(10, 9, 9, 9)}
	tests := []struct {
		name  string
		from  net.Addr
		reply func(e *icmp.Echo) [][]byte
		ok    bool
	}{
		{"reply", from, func(e *icmp.Echo) [][]byte { return [][]byte{echoReply(e)} }, true},
		{"no reply", from, func(e *icmp.Echo) [][]byte { return nil }, false},
		{"reply to another sequence only", from, func(e *icmp.Echo) [][]byte {
			x := *e
			x.Seq++
			return [][]byte{echoReply(&x)}
		}, false},
		{"garbage then the reply", from, func(e *icmp.Echo) [][]byte { return [][]byte{[]byte("junk"), echoReply(e)} }, true},
		{"reply from another host only", other, func(e *icmp.Echo) [][]byte { return [][]byte{echoReply(e)} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeICMP{from: tc.from, reply: tc.reply, wake: make(chan struct{}, 1)}
			p := &PingProber{Conn: Conn{Target: netip.AddrPortFrom(target, 0)}, Listen: func(Conn) (net.PacketConn, bool, error) { return f, false, nil }}
			r := p.Probe(probeCtx(t, 200*time.Millisecond), 0)
			if r.OK != tc.ok || (!tc.ok && !strings.Contains(r.Why, "no ICMP echo reply")) {
				t.Errorf("got %+v, want ok=%v", r, tc.ok)
			}
		})
	}
}
