package netlab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// nameIdle bounds how long a NameServer keeps a silent TCP connection: a
// test holding connections open sends a line well within it.
const nameIdle = 2 * time.Minute

// NameServer answers on one port, TCP and UDP, with the host's short name:
// a TCP connection gets the name and a newline at once, then the name again
// for every line it sends (so a test can tell that a connection it holds
// still reaches the same server); a UDP datagram gets the name back. Load
// balancing tests read which real server a connection reached from it.
// It listens on every address of the host, so addresses added later are
// served too, and stops at the test's cleanup.
type NameServer struct {
	h   *Host
	tcp net.Listener
	udp net.PacketConn
	wg  sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// ServeName starts a NameServer on port (TCP and UDP) in h's namespace.
func (h *Host) ServeName(t testing.TB, port int) *NameServer {
	t.Helper()
	s := &NameServer{h: h, conns: map[net.Conn]bool{}}
	err := h.Do(func() error {
		var err error
		// "tcp"/"udp" on [::] take IPv4 too (v4-mapped), unless bindv6only.
		if s.tcp, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		if s.tcp != nil {
			s.tcp.Close()
		}
		t.Fatalf("netlab: name server on %s port %d: %v", h, port, err)
	}
	s.wg.Add(2)
	go s.acceptLoop()
	go s.udpLoop()
	t.Cleanup(s.Close)
	return s
}

func (s *NameServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *NameServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	name := s.h.String() + "\n"
	_ = c.SetDeadline(time.Now().Add(nameIdle))
	if _, err := io.WriteString(c, name); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(nameIdle))
		if _, err := io.WriteString(c, name); err != nil {
			return
		}
	}
}

func (s *NameServer) udpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		_, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = s.udp.WriteTo([]byte(s.h.String()+"\n"), from)
	}
}

// Close stops listening and ends every open connection; it waits for the
// server's goroutines. Calling it twice is harmless.
func (s *NameServer) Close() {
	s.tcp.Close()
	s.udp.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Switch is a TCP listener a test turns off and on, for health checkers
// to find a port open or refused (TCP_CHECK): off closes the listening
// socket, so connections are refused; the connections it accepted are
// closed at once (a checker's probe needs nothing more).
type Switch struct {
	h    *Host
	port int
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

// CheckPort starts a Switch on port in h's namespace, listening; it stops
// at the test's cleanup.
func (h *Host) CheckPort(t testing.TB, port int) *Switch {
	t.Helper()
	s := &Switch{h: h, port: port}
	if err := s.Set(true); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(func() { _ = s.Set(false) })
	return s
}

// Set turns the listener on (listening) or off (refusing).
func (s *Switch) Set(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !on {
		if s.ln != nil {
			s.ln.Close()
			s.ln = nil
			s.wg.Wait()
		}
		return nil
	}
	if s.ln != nil {
		return nil
	}
	var ln net.Listener
	err := s.h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", s.port))
		return err
	})
	if err != nil {
		return fmt.Errorf("check port %d on %s: %w", s.port, s.h, err)
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return nil
}

// NameConn is a TCP connection a client holds to a NameServer (through
// whatever balances it): Name is the server that answered first.
type NameConn struct {
	Name string
	c    net.Conn
	r    *bufio.Reader
}

// DialName connects from h's namespace to to (from src when it is valid,
// else from the address routing picks), reads the server's name and
// returns the open connection. timeout bounds the whole exchange.
func (h *Host) DialName(src netip.Addr, to netip.AddrPort, timeout time.Duration) (*NameConn, error) {
	d := net.Dialer{Timeout: timeout}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = d.Dial("tcp", to.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	nc := &NameConn{c: c, r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := nc.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read the name from %s: %w", to, err)
	}
	nc.Name = strings.TrimSpace(line)
	return nc, nil
}

// AskName connects, reads the name and closes: one short connection.
func (h *Host) AskName(src netip.Addr, to netip.AddrPort, timeout time.Duration) (string, error) {
	c, err := h.DialName(src, to, timeout)
	if err != nil {
		return "", err
	}
	c.Close()
	return c.Name, nil
}

// Ping sends a line on the held connection and returns the name that
// answers it: the connection is alive and still reaches that server.
func (c *NameConn) Ping(timeout time.Duration) (string, error) {
	_ = c.c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c.c, "ping\n"); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// Close closes the connection.
func (c *NameConn) Close() error { return c.c.Close() }

// AskNameUDP sends one datagram from a fresh socket in h's namespace (a
// new source port, so a new flow for a balancer) and returns the name in
// the reply; timeout bounds the wait for it.
func (h *Host) AskNameUDP(to netip.AddrPort, timeout time.Duration) (string, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.Dial("udp", to.String())
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("name?\n")); err != nil {
		return "", err
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(buf[:n]))
	if name == "" {
		return "", errors.New("empty reply")
	}
	return name, nil
}
