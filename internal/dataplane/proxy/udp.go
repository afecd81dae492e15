package proxy

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// flow is one UDP client of a service: a connected socket towards its real
// server, whose replies go back through the service's socket (so they come
// from the virtual address).
type flow struct {
	s      *service
	client netip.AddrPort
	d      *dest
	t      *template
	up     *net.UDPConn
	last   atomic.Int64 // unix nanoseconds of the last datagram either way
	once   sync.Once
}

func (f *flow) cut() { f.once.Do(func() { f.up.Close() }) }

// cutter is cut, for a drain timeout (closer).
func (f *flow) cutter() func() { return f.cut }

func (s *service) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors and the like concern one datagram
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		f := s.flowFor(from)
		if f == nil {
			continue
		}
		f.last.Store(time.Now().UnixNano())
		f.up.Write(buf[:n])
	}
}

// flowFor returns the flow of client, making one if the table has room
// and a destination is available.
func (s *service) flowFor(client netip.AddrPort) *flow {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flows[client]; f != nil {
		return f
	}
	if len(s.flows) >= s.p.opts.MaxUDPFlows || s.stopped {
		s.dropped++
		return nil
	}
	d, t := s.pick(client, now)
	if d == nil {
		s.dropped++
		return nil
	}
	up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.cfg.Key.Addr, d.cfg.Key.Port)))
	if err != nil {
		if t != nil {
			t.conns--
		}
		s.log.Warn("connect to real server", "real_server", d.cfg.Key.String(), "err", err)
		s.dropped++
		return nil
	}
	f := &flow{s: s, client: client, d: d, t: t, up: up}
	f.last.Store(now.UnixNano())
	d.bind(false) // IPVS counts UDP connections as inactive
	d.track(f)
	s.flows[client] = f
	go f.replies()
	return f
}

// replies relays the real server's datagrams to the client until the flow
// is idle for the UDP timeout or cut.
func (f *flow) replies() {
	s := f.s
	defer func() {
		f.cut()
		s.mu.Lock()
		if s.flows[f.client] == f {
			delete(s.flows, f.client)
		}
		s.mu.Unlock()
		s.release(f.d, f.t, f, false, time.Now())
	}()
	buf := make([]byte, 65536)
	for {
		idle := time.Duration(s.p.udpTimeout.Load())
		f.up.SetReadDeadline(time.Now().Add(idle))
		n, err := f.up.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, f.last.Load())) < idle {
				continue // the client spoke meanwhile
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			continue // ICMP port unreachable from the real server: keep the flow
		}
		f.last.Store(time.Now().UnixNano())
		if _, err := s.udp.WriteToUDPAddrPort(buf[:n], f.client); errors.Is(err, net.ErrClosed) {
			return
		}
	}
}
