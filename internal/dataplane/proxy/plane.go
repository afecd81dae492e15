// Package proxy is the userspace data plane: a dataplane.Plane that serves
// virtual services by accepting connections on the virtual address itself
// and relaying them to real servers, for hosts where neither IPVS nor
// nftables may be used. TCP is relayed by event loops over epoll on raw
// non-blocking sockets (loop.go), UDP as per-client flows.
// Destinations are chosen by the schedulers of package sched, which pick
// what IPVS would; the connection counts they read are the proxy's own.
//
// What it cannot do is reported by Capabilities, so such a configuration
// is refused before anything is applied: forwarding is always NAT-like
// (the real server sees the proxy's address unless the PROXY protocol is
// enabled), there are no fwmark services, no one-packet scheduling, no
// persistence engine and no sync daemon.
//
// Every listener is SO_REUSEPORT and IP_FREEBIND (IPV6_FREEBIND): a backup
// binds its virtual addresses before VRRP gives them to it, and serves the
// moment they appear. A service the caller does not change keeps its
// listener and its connections; a destination or service removed has its
// established TCP connections cut after Options.DrainTimeout.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/proxy/proxyproto"
	"vigil/internal/dataplane/proxy/sched"
)

// Defaults of Options and of the connection timeouts (the kernel's IPVS
// defaults for TCP established, TCP closing and UDP).
const (
	DefaultDrainTimeout = 30 * time.Second
	DefaultDialTimeout  = 5 * time.Second
	DefaultMaxUDPFlows  = 65536
	DefaultTCPTimeout   = 900 * time.Second
	DefaultTCPFinTime   = 120 * time.Second
	DefaultUDPTimeout   = 300 * time.Second
)

// Options configure a Plane. The zero value is usable.
type Options struct {
	// DrainTimeout is how long established connections of a removed
	// destination (or of a deleted service) may continue before they are
	// cut; zero means DefaultDrainTimeout, negative cuts them at once.
	// UDP flows of a deleted service end at once (their socket is gone).
	DrainTimeout time.Duration
	// ProxyProtocol, when V1 or V2, sends a PROXY protocol header with
	// the client's address to the real server ahead of every TCP
	// connection's bytes. Off (None) by default.
	ProxyProtocol proxyproto.Version
	// DialTimeout bounds connecting to a real server; zero means
	// DefaultDialTimeout. A failed connect closes the client's.
	DialTimeout time.Duration
	// MaxUDPFlows bounds the flows of one UDP service; a datagram of a
	// new client beyond it is dropped. Zero means DefaultMaxUDPFlows.
	MaxUDPFlows int
	// ExpireQuiescentTemplate makes a persistence entry whose real server
	// has weight 0 void, so its clients move at once (the kernel's
	// expire_quiescent_template sysctl). Off, as in the kernel: a
	// persistent client follows its entry to a drained server.
	ExpireQuiescentTemplate bool
	// NoSplice relays bulk TCP transfers with read(2) and write(2)
	// through the loop's buffer, as small ones, instead of splice(2)
	// through a pipe. Off: splicing is the default; the knob is there
	// to measure what splicing buys (docs/BENCHMARKS.md).
	NoSplice bool
	// Logger receives the plane's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Capabilities is what the proxy plane can express.
var Capabilities = dataplane.Capabilities{
	Name:        "proxy",
	Schedulers:  sched.Names,
	Methods:     []dataplane.Method{dataplane.NAT},
	Protocols:   []dataplane.Protocol{dataplane.ProtoTCP, dataplane.ProtoUDP},
	IPv6:        true,
	MixedFamily: true,
	// Only sh and mh read flags (fallback, port); as in IPVS, other
	// schedulers ignore them.
	SchedFlags:  true,
	Persistence: true,
	Thresholds:  true,
	Timeouts:    true,
	Advice: "the proxy plane relays connections itself, as NAT with the proxy's address as source: " +
		"use lb_kind NAT, or --dataplane ipvs or nftables for DR, TUN, fwmark services, SCTP, " +
		"one-packet scheduling (ops) or a connection sync daemon",
}

// Plane is the userspace proxy data plane. Make one with New; Close it to
// release every listener and connection.
type Plane struct {
	opts Options
	log  *slog.Logger

	tcpTimeout atomic.Int64 // nanoseconds
	finTimeout atomic.Int64
	udpTimeout atomic.Int64

	mu       sync.Mutex
	services map[dataplane.ServiceKey]*service
	loops    []*loop // made with the first TCP service
	closed   bool

	splice   spliceStats
	spliceFn func(rfd, wfd, n int) (int, error) // splice; tests make it fail
}

// tcpLoops returns the plane's event loops, making them the first time.
// The caller holds mu.
func (p *Plane) tcpLoops() ([]*loop, error) {
	if p.loops == nil {
		ls, err := newLoops(p)
		if err != nil {
			return nil, fmt.Errorf("event loop: %w", err)
		}
		p.loops = ls
	}
	return p.loops, nil
}

// New returns an empty proxy plane. It listens on nothing until services
// are added.
func New(opts Options) *Plane {
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.MaxUDPFlows <= 0 {
		opts.MaxUDPFlows = DefaultMaxUDPFlows
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Plane{opts: opts, log: log.With("dataplane", "proxy"), services: map[dataplane.ServiceKey]*service{}, spliceFn: splice}
	p.tcpTimeout.Store(int64(DefaultTCPTimeout))
	p.finTimeout.Store(int64(DefaultTCPFinTime))
	p.udpTimeout.Store(int64(DefaultUDPTimeout))
	return p
}

// Capabilities implements dataplane.Plane.
func (p *Plane) Capabilities() dataplane.Capabilities { return Capabilities }

// Services implements dataplane.Plane.
func (p *Plane) Services(ctx context.Context) ([]dataplane.Service, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(p.services), dataplane.Compare)
	out := make([]dataplane.Service, 0, len(keys))
	for _, k := range keys {
		out = append(out, p.services[k].config())
	}
	return out, nil
}

// Destinations implements dataplane.Plane.
func (p *Plane) Destinations(ctx context.Context, key dataplane.ServiceKey) ([]dataplane.Destination, error) {
	s, err := p.service(key)
	if err != nil {
		return nil, err
	}
	return s.destinations(), nil
}

func (p *Plane) service(key dataplane.ServiceKey) (*service, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.services[key]
	if !ok {
		return nil, fmt.Errorf("service %s: %w", key, syscall.ESRCH)
	}
	return s, nil
}

// AddService implements dataplane.Plane: it binds the service's listener
// (before the address is local, if need be) and starts serving it.
func (p *Plane) AddService(ctx context.Context, cfg dataplane.Service) error {
	if err := Capabilities.CheckService(cfg); err != nil {
		return err
	}
	sc, err := sched.New(cfg.Scheduler, cfg.Flags)
	if err != nil {
		return fmt.Errorf("add service %s: %w", cfg.Key, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy plane closed")
	}
	if _, ok := p.services[cfg.Key]; ok {
		return fmt.Errorf("add service %s: %w", cfg.Key, syscall.EEXIST)
	}
	s := newService(p, cfg, sc)
	if err := s.listen(); err != nil {
		return fmt.Errorf("add service %s: %w", cfg.Key, err)
	}
	p.services[cfg.Key] = s
	s.start()
	return nil
}

// UpdateService implements dataplane.Plane. The listener and established
// connections stay; a new scheduler starts with fresh state.
func (p *Plane) UpdateService(ctx context.Context, cfg dataplane.Service) error {
	if err := Capabilities.CheckService(cfg); err != nil {
		return err
	}
	s, err := p.service(cfg.Key)
	if err != nil {
		return fmt.Errorf("update service: %w", err)
	}
	return s.update(cfg)
}

// DeleteService implements dataplane.Plane: the listener closes at once,
// established TCP connections are cut after the drain timeout.
func (p *Plane) DeleteService(ctx context.Context, key dataplane.ServiceKey) error {
	p.mu.Lock()
	s, ok := p.services[key]
	delete(p.services, key)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("delete service %s: %w", key, syscall.ESRCH)
	}
	s.stop(p.opts.DrainTimeout)
	return nil
}

// AddDestination implements dataplane.Plane.
func (p *Plane) AddDestination(ctx context.Context, key dataplane.ServiceKey, d dataplane.Destination) error {
	if err := Capabilities.CheckDestination(key, d); err != nil {
		return err
	}
	s, err := p.service(key)
	if err != nil {
		return fmt.Errorf("add destination %s: %w", d.Key, err)
	}
	return s.addDest(d)
}

// UpdateDestination implements dataplane.Plane. Weight 0 drains: no new
// connections, established ones continue.
func (p *Plane) UpdateDestination(ctx context.Context, key dataplane.ServiceKey, d dataplane.Destination) error {
	if err := Capabilities.CheckDestination(key, d); err != nil {
		return err
	}
	s, err := p.service(key)
	if err != nil {
		return fmt.Errorf("update destination %s: %w", d.Key, err)
	}
	return s.updateDest(d)
}

// DeleteDestination implements dataplane.Plane: the destination gets no
// new connections; its established ones are cut after the drain timeout.
func (p *Plane) DeleteDestination(ctx context.Context, key dataplane.ServiceKey, dk dataplane.DestKey) error {
	s, err := p.service(key)
	if err != nil {
		return fmt.Errorf("delete destination %s: %w", dk, err)
	}
	return s.deleteDest(dk, p.opts.DrainTimeout)
}

// Flush implements dataplane.Plane.
func (p *Plane) Flush(ctx context.Context) error {
	p.mu.Lock()
	all := p.services
	p.services = map[dataplane.ServiceKey]*service{}
	p.mu.Unlock()
	for _, s := range all {
		s.stop(p.opts.DrainTimeout)
	}
	return nil
}

// Close removes every service and cuts every connection at once. The
// last plane to close puts GOMAXPROCS back to what it was before the
// planes raised it (see loopPlan).
func (p *Plane) Close() error {
	p.mu.Lock()
	all := p.services
	p.services = map[dataplane.ServiceKey]*service{}
	p.closed = true
	loops := p.loops
	p.loops = nil
	p.mu.Unlock()
	for _, s := range all {
		s.stop(-1)
	}
	for _, l := range loops {
		l.shutdown()
	}
	if loops != nil {
		dropProcs()
	}
	return nil
}

// SetTimeouts implements dataplane.Plane: TCP is the idle time of an
// established connection, TCPFin the idle time of one after either side
// closed its half, UDP the idle time of a flow.
func (p *Plane) SetTimeouts(ctx context.Context, t dataplane.Timeouts) error {
	if t.TCP > 0 {
		p.tcpTimeout.Store(int64(t.TCP))
	}
	if t.TCPFin > 0 {
		p.finTimeout.Store(int64(t.TCPFin))
	}
	if t.UDP > 0 {
		p.udpTimeout.Store(int64(t.UDP))
	}
	// Established connections take shorter limits at once.
	p.mu.Lock()
	loops := p.loops
	p.mu.Unlock()
	for _, l := range loops {
		l.post(func() {
			var cs []*conn
			for _, t := range l.timers {
				if c, ok := t.f.(*conn); ok {
					cs = append(cs, c)
				}
			}
			for _, c := range cs {
				c.retime(l)
			}
		})
	}
	return nil
}

// Timeouts implements dataplane.Plane.
func (p *Plane) Timeouts(ctx context.Context) (dataplane.Timeouts, error) {
	return dataplane.Timeouts{
		TCP:    time.Duration(p.tcpTimeout.Load()),
		TCPFin: time.Duration(p.finTimeout.Load()),
		UDP:    time.Duration(p.udpTimeout.Load()),
	}, nil
}

// StartSyncDaemon implements dataplane.Plane: the proxy has no connection
// sync; a backup's clients reconnect after a failover.
func (p *Plane) StartSyncDaemon(ctx context.Context, d dataplane.SyncDaemon) error {
	return fmt.Errorf("data plane proxy: %w: connection sync daemon", dataplane.ErrUnsupported)
}

// StopSyncDaemon implements dataplane.Plane.
func (p *Plane) StopSyncDaemon(ctx context.Context, state dataplane.SyncState) error {
	return fmt.Errorf("data plane proxy: %w: connection sync daemon", dataplane.ErrUnsupported)
}

var _ dataplane.Plane = (*Plane)(nil)
