package check

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTCPProber(t *testing.T) {
	open := rawServer(t, func(c net.Conn) {})
	if r := (&TCPProber{Conn: Conn{Target: open}}).Probe(probeCtx(t, 5*time.Second), 0); !r.OK {
		t.Errorf("open port: %+v", r)
	}
	if r := (&TCPProber{Conn: Conn{Target: closedPort(t)}}).Probe(probeCtx(t, 5*time.Second), 0); r.OK || !strings.Contains(r.Why, "refused") {
		t.Errorf("closed port: %+v, want refused", r)
	}
	// A dialer that never connects stands for a host that drops SYNs.
	hang := dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := (&TCPProber{Conn: Conn{Target: open}, Dialer: hang}).Probe(ctx, 0); r.OK || !strings.Contains(r.Why, context.Canceled.Error()) {
		t.Errorf("hung connect: %+v, want a failure at the deadline", r)
	}
}

// dialFunc is a Dialer made of a function.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

func TestConnDialerOptions(t *testing.T) {
	// bindto and bind_port set the source of the connection.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	src := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			src <- c.RemoteAddr().String()
			c.Close()
		}
	}()
	port := closedPort(t).Port()
	c := Conn{Target: addrPort(t, l.Addr()), BindTo: addrPort(t, l.Addr()).Addr(), BindPort: port}
	conn, err := c.NetDialer("tcp").DialContext(probeCtx(t, 5*time.Second), "tcp", c.address())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got, want := <-src, addrPort(t, conn.LocalAddr()).String(); got != want || addrPort(t, conn.LocalAddr()).Port() != port {
		t.Errorf("source %s, want 127.0.0.1:%d", got, port)
	}
	// An unknown bind_if fails the dial rather than being ignored.
	c = Conn{Target: addrPort(t, l.Addr()), BindIf: "nosuchif0"}
	if _, err := c.NetDialer("tcp").DialContext(probeCtx(t, 5*time.Second), "tcp", c.address()); err == nil || !strings.Contains(err.Error(), "SO_BINDTODEVICE") {
		t.Errorf("bind_if nosuchif0: %v, want a SO_BINDTODEVICE error", err)
	}
}

func TestConnFwmark(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting SO_MARK needs CAP_NET_ADMIN; run as root")
	}
	open := rawServer(t, func(c net.Conn) {})
	c := Conn{Target: open, Fwmark: 0x42}
	conn, err := c.NetDialer("tcp").DialContext(probeCtx(t, 5*time.Second), "tcp", c.address())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc, _ := conn.(*net.TCPConn).SyscallConn()
	var mark int
	rc.Control(func(fd uintptr) { mark, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK) })
	if mark != 0x42 {
		t.Errorf("SO_MARK %#x, want 0x42", mark)
	}
}
