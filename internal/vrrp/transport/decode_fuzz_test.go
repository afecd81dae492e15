package transport

import (
	"net"
	"testing"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// FuzzDecode feeds decode, which both receive paths (ReadFrom's recvmsg and
// the Receiver's recvmmsg) run on what the kernel hands back, arbitrary
// datagrams and control messages: it must never panic, never claim more
// bytes than it was given, and for IPv4 strip exactly the header it reports.
func FuzzDecode(f *testing.F) {
	v4 := []byte{0x45, 0xc0, 0, 40, 0, 1, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
		0x31, 1, 100, 1, 0, 100, 0, 0, 10, 0, 0, 100}
	f.Add(v4, []byte(nil), uint8(4), false)
	f.Add(v4[20:], make([]byte, 64), uint8(6), false)
	f.Add(v4, []byte{1, 2, 3}, uint8(4), true)
	f.Add([]byte{0x4f}, []byte(nil), uint8(4), false)
	f.Fuzz(func(t *testing.T, data, oob []byte, family uint8, ah bool) {
		c := &Conn{family: 4, ifi: &net.Interface{Index: 2, Name: "eth0"}}
		if family%2 == 0 {
			c.family = 6
		}
		if ah && c.family == 4 {
			c.raw4 = &ipv4.RawConn{} // only its presence matters: AH() is true
		}
		// decode works in place on a buffer larger than the datagram, as
		// the readers' buffers are.
		b := make([]byte, len(data)+1)
		copy(b, data)
		var name unix.RawSockaddrAny
		name.Addr.Family = unix.AF_INET
		if c.family == 6 {
			name.Addr.Family = unix.AF_INET6
		}
		n, meta, err := c.decode(b, len(data), &name, oob)
		if err != nil {
			return
		}
		if n < 0 || n > len(data) {
			t.Fatalf("decode returned %d bytes of a %d-byte datagram", n, len(data))
		}
		if c.family == 4 {
			ihl := int(data[0]&0x0f) * 4
			want := len(data) - ihl
			if c.AH() {
				want = len(data)
			}
			if n != want {
				t.Fatalf("IPv4 datagram of %d bytes with a %d-byte header: decode returned %d, want %d", len(data), ihl, n, want)
			}
			if meta.TTL != int(data[8]) {
				t.Fatalf("TTL %d, header says %d", meta.TTL, data[8])
			}
		}
	})
}
