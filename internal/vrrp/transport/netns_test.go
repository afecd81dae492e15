package transport

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The two ends of a test's veth pair. The addresses are fixed: every test has
// namespaces of its own, and fixed addresses let the golden packets (captured
// from keepalived between these very addresses) go on the wire unchanged.
var (
	addrA4 = netip.MustParseAddr("10.77.0.1")
	addrB4 = netip.MustParseAddr("10.77.0.2")
	addrA6 = netip.MustParseAddr("fd00::1")
	addrB6 = netip.MustParseAddr("fd00::2")
)

// goldenMAC is the MAC of the keepalived host the golden IPv6 packet was
// captured from; giving side A this MAC gives it the same link-local source,
// and so the same IPv6 checksum.
const goldenMAC = "b2:30:4c:73:8a:f0"

// vethPair is two network namespaces joined by a veth pair "va" (in A) and
// "vb" (in B), made for one test and deleted by t.Cleanup.
type vethPair struct {
	nsA, nsB   string
	llA, llB   netip.Addr // link-local addresses
	idxA, idxB int        // interface indexes
}

const cmdTimeout = 10 * time.Second

func runCmd(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// newVethPair builds the pair, or skips the test without root or ip(8).
func newVethPair(t *testing.T) *vethPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("transport: raw sockets in network namespaces need root; skipping")
	}
	for _, tool := range []string{"ip", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("transport: %s is not installed; skipping", tool)
		}
	}
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	prefix := "vgt" + hex.EncodeToString(r[:])
	p := &vethPair{nsA: prefix + "-a", nsB: prefix + "-b"}
	for _, ns := range []string{p.nsA, p.nsB} {
		if err := runCmd("ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := runCmd("ip", "netns", "del", ns); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		// No duplicate address detection: addresses, link-local ones
		// included, are usable the moment they are added.
		if err := runCmd("ip", "netns", "exec", ns, "sysctl", "-qw",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"); err != nil {
			t.Fatal(err)
		}
	}
	steps := [][]string{
		{"-n", p.nsA, "link", "add", "va", "address", goldenMAC, "type", "veth", "peer", "name", "vb", "netns", p.nsB},
		{"-n", p.nsA, "addr", "add", addrA4.String() + "/24", "dev", "va"},
		{"-n", p.nsB, "addr", "add", addrB4.String() + "/24", "dev", "vb"},
		{"-n", p.nsA, "addr", "add", addrA6.String() + "/64", "dev", "va", "nodad"},
		{"-n", p.nsB, "addr", "add", addrB6.String() + "/64", "dev", "vb", "nodad"},
		{"-n", p.nsA, "link", "set", "lo", "up"},
		{"-n", p.nsB, "link", "set", "lo", "up"},
		{"-n", p.nsA, "link", "set", "va", "up"},
		{"-n", p.nsB, "link", "set", "vb", "up"},
	}
	for _, s := range steps {
		if err := runCmd("ip", s...); err != nil {
			t.Fatal(err)
		}
	}
	p.idxA, p.llA = linkInfo(t, p.nsA, "va")
	p.idxB, p.llB = linkInfo(t, p.nsB, "vb")
	return p
}

// linkInfo returns the index and link-local address of ifname in ns, waiting
// (bounded) for the kernel to add the link-local address after link up.
func linkInfo(t *testing.T, ns, ifname string) (int, netip.Addr) {
	t.Helper()
	var idx int
	var ll netip.Addr
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < 100 && time.Now().Before(deadline); i++ {
		err := inNS(ns, func() error {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				return err
			}
			idx = ifi.Index
			addrs, err := ifi.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().IsLinkLocalUnicast() {
					ll = pfx.Addr()
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ll.IsValid() {
			return idx, ll
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s in %s: no link-local address", ifname, ns)
	return 0, netip.Addr{}
}

// inNS runs fn on an OS thread switched into network namespace ns. Sockets
// fn opens stay in ns for good. The thread is never unlocked, so Go discards
// it when the goroutine ends and no other code ever runs in ns by mistake.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// listenIn opens a Conn inside ns, closed by t.Cleanup.
func listenIn(t *testing.T, ns, ifname string, family int) *Conn {
	t.Helper()
	var c *Conn
	err := inNS(ns, func() error {
		var err error
		c, err = Listen(ifname, family)
		return err
	})
	if err != nil {
		t.Fatalf("Listen(%s, %d) in %s: %v", ifname, family, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runMux starts a Mux on c, stopped and waited for by t.Cleanup.
func runMux(t *testing.T, c *Conn) *Mux {
	t.Helper()
	m := NewMux(c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Mux.Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Mux.Run did not stop")
		}
	})
	return m
}

// recv waits (bounded) for one packet on ch.
func recv(t *testing.T, ch <-chan Received, timeout time.Duration, what string) Received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(timeout):
		t.Fatalf("no packet within %v: %s", timeout, what)
		return Received{}
	}
}

// goldenPacket is a VRRP payload from the codec's golden files, with the
// addresses it travels between.
type goldenPacket struct {
	src, dst netip.Addr
	payload  []byte
}

// readGolden reads ../testdata/packets/name (format: "#" comments, "src A",
// "dst A", "checksum_as_v2", hex lines).
func readGolden(t *testing.T, name string) goldenPacket {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "packets", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var g goldenPacket
	var hx strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, _ := strings.Cut(line, " ")
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "checksum_as_v2":
		case key == "src":
			g.src = netip.MustParseAddr(val)
		case key == "dst":
			g.dst = netip.MustParseAddr(val)
		default:
			hx.WriteString(strings.ReplaceAll(line, " ", ""))
		}
	}
	if g.payload, err = hex.DecodeString(hx.String()); err != nil {
		t.Fatal(err)
	}
	return g
}
