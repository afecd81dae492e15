package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/proxy/sched"
)

// service is one virtual service: its listener, destinations, scheduler and
// persistence templates. mu guards every field below it; connections take
// it only to be scheduled and to be released.
type service struct {
	p   *Plane
	key dataplane.ServiceKey
	log *slog.Logger

	// listeners are the TCP service's listening socket in each loop,
	// listeners[i] in loops[i]: one socket, a descriptor of it per loop,
	// so that whichever loop is free accepts (startListeners).
	listeners []*listener
	loops     []*loop
	udp       *net.UDPConn
	wg        sync.WaitGroup // the UDP read loop

	mu        sync.Mutex
	cfg       dataplane.Service
	dests     map[dataplane.DestKey]*dest
	order     []*sched.Real // the kernel's list order: newest first
	sched     sched.Scheduler
	templates map[netip.Prefix]*template
	flows     map[netip.AddrPort]*flow
	dropped   uint64 // UDP datagrams of new clients dropped (table full or no destination)
	stopped   bool
}

// dest is one real server and the connections it carries.
type dest struct {
	cfg dataplane.Destination
	// real is the scheduler's view of the destination, held in the record
	// (the scheduler takes its address): one object per
	// destination, not two.
	real sched.Real
	// conns are the destination's connections, made at the first: a
	// table of 10,000 destinations that are only checked keeps none.
	conns   map[closer]struct{}
	removed bool
}

// track adds c to the destination's connections.
func (d *dest) track(c closer) {
	if d.conns == nil {
		d.conns = map[closer]struct{}{}
	}
	d.conns[c] = struct{}{}
}

// bind counts a new connection on d, active (TCP) or inactive (UDP), and
// marks d overloaded once its connections reach the upper threshold, as
// IPVS does when it binds a connection to a destination.
func (d *dest) bind(active bool) {
	if active {
		d.real.Active++
	} else {
		d.real.Inactive++
	}
	if u := d.cfg.UpperThreshold; u != 0 && d.total() >= int64(u) {
		d.real.Overloaded = true
	}
}

// unbind uncounts a connection and clears the overload mark below the
// lower threshold, or below 3/4 of the upper one when there is no lower.
func (d *dest) unbind(active bool) {
	if active {
		d.real.Active--
	} else {
		d.real.Inactive--
	}
	l, u := int64(d.cfg.LowerThreshold), int64(d.cfg.UpperThreshold)
	switch {
	case l != 0:
		if d.total() < l {
			d.real.Overloaded = false
		}
	case u != 0:
		if d.total()*4 < u*3 {
			d.real.Overloaded = false
		}
	default:
		d.real.Overloaded = false
	}
}

func (d *dest) total() int64 { return int64(d.real.Active) + int64(d.real.Inactive) }

// closer is a proxied TCP connection or UDP flow, cut on drain timeout:
// cutter, called under the service's lock, returns the function that
// cuts it (outside the lock).
type closer interface{ cutter() func() }

// template is a persistence entry: a client prefix's real server.
type template struct {
	d       *dest
	expires time.Time // meaningful only when conns is zero
	conns   int
}

func newService(p *Plane, cfg dataplane.Service, sc sched.Scheduler) *service {
	return &service{
		p:         p,
		key:       cfg.Key,
		log:       p.log.With("virtual_server", cfg.Key.String()),
		cfg:       cfg,
		dests:     map[dataplane.DestKey]*dest{},
		sched:     sc,
		templates: map[netip.Prefix]*template{},
		flows:     map[netip.AddrPort]*flow{},
	}
}

func (s *service) config() dataplane.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

func (s *service) destinations() []dataplane.Destination {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(s.dests), dataplane.CompareDest)
	out := make([]dataplane.Destination, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.dests[k].cfg)
	}
	return out
}

// listenControl makes a UDP service's socket shareable (SO_REUSEPORT) and
// bindable to an address the host does not have yet (IP_FREEBIND).
func listenControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
			return
		}
		if network == "tcp6" || network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func (s *service) listen() error {
	switch s.key.Protocol {
	case dataplane.ProtoTCP:
		ls, err := s.p.tcpLoops()
		if err != nil {
			return err
		}
		return s.startListeners(ls)
	case dataplane.ProtoUDP:
		lc := net.ListenConfig{Control: listenControl}
		network := "udp4"
		if dataplane.FamilyOf(s.key.Addr) == dataplane.IPv6 {
			network = "udp6"
		}
		c, err := lc.ListenPacket(context.Background(), network, netip.AddrPortFrom(s.key.Addr, s.key.Port).String())
		if err != nil {
			return err
		}
		s.udp = c.(*net.UDPConn)
	default:
		return fmt.Errorf("%w: protocol %s", dataplane.ErrUnsupported, s.key.Protocol)
	}
	return nil
}

// start starts the UDP read loop (TCP listeners are served by the loops
// from listen on).
func (s *service) start() {
	if s.udp != nil {
		s.wg.Add(1)
		go s.readLoop()
	}
}

// stop closes the listener and drains every destination: TCP connections
// are cut after drain (at once if negative), UDP flows at once.
func (s *service) stop(drain time.Duration) {
	s.mu.Lock()
	s.stopped = true
	var ds []*dest
	for _, d := range s.dests {
		d.removed = true
		ds = append(ds, d)
	}
	s.dests = map[dataplane.DestKey]*dest{}
	s.order = nil
	flows := slices.Collect(maps.Values(s.flows))
	s.mu.Unlock()
	s.stopListeners()
	if s.udp != nil {
		s.udp.Close()
		for _, f := range flows {
			f.cut()
		}
	}
	s.wg.Wait()
	for _, d := range ds {
		s.drain(d, drain)
	}
}

// drain cuts d's connections after timeout (at once if negative).
func (s *service) drain(d *dest, timeout time.Duration) {
	cutAll := func() {
		s.mu.Lock()
		cuts := make([]func(), 0, len(d.conns))
		for c := range d.conns {
			cuts = append(cuts, c.cutter())
		}
		s.mu.Unlock()
		if len(cuts) > 0 {
			s.log.Info("drain timeout: cutting connections", "real_server", d.cfg.Key.String(), "connections", len(cuts))
		}
		for _, cut := range cuts {
			cut()
		}
	}
	if timeout < 0 {
		cutAll()
		return
	}
	time.AfterFunc(timeout, cutAll)
}

func (s *service) update(cfg dataplane.Service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.Scheduler != s.cfg.Scheduler || cfg.Flags != s.cfg.Flags {
		sc, err := sched.New(cfg.Scheduler, cfg.Flags)
		if err != nil {
			return fmt.Errorf("update service %s: %w", cfg.Key, err)
		}
		s.sched = sc
		s.sched.Update(s.order)
	}
	if cfg.Persistence == 0 || cfg.PersistenceBits != s.cfg.PersistenceBits {
		clear(s.templates)
	}
	s.cfg = cfg
	return nil
}

func (s *service) addDest(cfg dataplane.Destination) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dests[cfg.Key]; ok {
		return fmt.Errorf("add destination %s: %w", cfg.Key, syscall.EEXIST)
	}
	d := &dest{cfg: cfg, real: sched.Real{Key: cfg.Key, Weight: cfg.Weight, LastWeight: cfg.Weight}}
	s.dests[cfg.Key] = d
	s.order = append([]*sched.Real{&d.real}, s.order...)
	s.sched.Update(s.order)
	return nil
}

func (s *service) updateDest(cfg dataplane.Destination) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dests[cfg.Key]
	if !ok {
		return fmt.Errorf("update destination %s: %w", cfg.Key, syscall.ENOENT)
	}
	d.cfg = cfg
	d.real.Weight = cfg.Weight
	if cfg.Weight != 0 {
		d.real.LastWeight = cfg.Weight // IPVS keeps the last weight other than 0, for mh
	}
	d.real.Overloaded = false // as the kernel, which re-evaluates at the next connection
	s.sched.Update(s.order)
	return nil
}

func (s *service) deleteDest(key dataplane.DestKey, drain time.Duration) error {
	s.mu.Lock()
	d, ok := s.dests[key]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("delete destination %s: %w", key, syscall.ENOENT)
	}
	delete(s.dests, key)
	d.removed = true
	s.order = slices.DeleteFunc(s.order, func(r *sched.Real) bool { return r == &d.real })
	s.sched.Update(s.order)
	s.mu.Unlock()
	s.drain(d, drain)
	return nil
}

// pick chooses the destination of a new connection from client and counts
// it; nil when none is available. The caller holds mu and must call
// release with the returned template.
func (s *service) pick(client netip.AddrPort, now time.Time) (*dest, *template) {
	var pfx netip.Prefix
	if s.cfg.Persistence > 0 {
		bits := int(s.cfg.PersistenceBits)
		a := client.Addr().Unmap()
		if bits == 0 || bits > a.BitLen() {
			bits = a.BitLen()
		}
		pfx, _ = a.Prefix(bits)
		if t := s.templates[pfx]; t != nil {
			valid := !t.d.removed && (t.conns > 0 || now.Before(t.expires)) &&
				!(s.p.opts.ExpireQuiescentTemplate && t.d.real.Weight <= 0)
			if valid {
				t.conns++
				return t.d, t
			}
			delete(s.templates, pfx)
		}
	}
	r := s.sched.Pick(s.order, sched.Conn{Client: client, VIP: s.key.Addr, Now: now})
	if r == nil {
		return nil, nil
	}
	// The scheduler picks among s.order, the reals of s.dests: its key
	// finds its record (a second map by pointer would cost a map entry
	// per destination for the same answer).
	d := s.dests[r.Key]
	var t *template
	if s.cfg.Persistence > 0 {
		t = &template{d: d, conns: 1}
		s.templates[pfx] = t
		if len(s.templates) > 4096 {
			s.expireTemplates(now)
		}
	}
	return d, t
}

// expireTemplates forgets idle templates past their time; pick calls it
// when the table grows, so the table stays bounded by the clients seen
// within one persistence timeout.
func (s *service) expireTemplates(now time.Time) {
	for k, t := range s.templates {
		if t.conns == 0 && !now.Before(t.expires) {
			delete(s.templates, k)
		}
	}
}

// release ends a connection counted by pick.
func (s *service) release(d *dest, t *template, c closer, active bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(d.conns, c)
	d.unbind(active)
	if t != nil {
		t.conns--
		t.expires = now.Add(s.cfg.Persistence)
	}
}
