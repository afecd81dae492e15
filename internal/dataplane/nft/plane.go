// Package nft is a dataplane.Plane on nftables: Vigil's virtual services as
// DNAT rules (lb_kind NAT) in a table of its own (inet vigil_lb by
// default) and as MAC-rewriting ingress rules (lb_kind DR) in a netdev
// table of the same name, driven through netlink
// (github.com/google/nftables), every change one atomic transaction over
// both.
//
// Layout of the inet table: base chains prerouting and output (nat,
// priority dstnat) jump to a regular chain, dispatch, which looks each new
// connection up in four verdict maps (fwmark services of either family
// first, as IPVS does, then address . protocol . port of either family) and
// jumps to the service's own chain. A service chain picks a real server
// with its scheduler (numgen over a weight-expanded map for rr/wrr, jhash
// over a bucket or Maglev table for sh/dh/mh, a constant for fo, numgen
// over a plan recomputed from conntrack's counts for lc/wlc/sed/nq) and
// DNATs to it; with persistence, a dynamic map with timeouts remembers each
// client (masked by the granularity) from the packet path. Only the first
// packet of a connection reaches a nat chain: conntrack keeps the binding,
// so a drained (weight 0) or removed real server keeps its established
// connections and gets no new ones.
//
// The netdev table (DR, dr.go) has an ingress chain per interface leading
// to a DR real server; its service chains keep a flow map (the connection
// table IPVS keeps for DR), rewrite the MACs and send the frame to the real
// server.
//
// The plane keeps the tables it has applied in memory (Services and
// Destinations list them): it is the only writer of its tables. The first
// change after New (or Replace) deletes whatever a previous run left and
// builds the tables afresh in the same transaction; established NAT
// connections survive, as their translations live in conntrack, not in the
// rules.
package nft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"

	"vigil/internal/dataplane"
)

// DefaultTable is the name of Vigil's table (family inet). Strict mode's
// filter table is inet vigil; this one is for load balancing only.
const DefaultTable = "vigil_lb"

// Config configures a Plane.
type Config struct {
	// Table is the name of both tables (inet for NAT, netdev for DR);
	// empty means DefaultTable.
	Table string
	// Neighbours is the view of routes and neighbours DR uses; nil means
	// the kernel's, in the plane's network namespace.
	Neighbours Neighbours
	// Log receives the DR real servers' MAC changes and the
	// connection-count schedulers' failures; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Conns reads connection counts for lc, wlc, sed and nq; nil means
	// conntrack's, in the plane's network namespace.
	Conns ConnCounter
}

// Plane is the nftables data plane. Its methods are safe for concurrent
// use; each is one transaction.
type Plane struct {
	mu sync.Mutex
	// netns is the network namespace the plane was made in: every
	// transaction opens its netlink socket there, so that a failed one is
	// simply dropped with its connection.
	netns *os.File
	table *nftables.Table
	state dataplane.Table
	ids   map[dataplane.ServiceKey]uint32
	next  uint32
	// maps are the scheduler maps of each service's rules. Each rule
	// change makes new ones (named <chain>_<gen>) and deletes the old, in
	// the same transaction.
	maps map[dataplane.ServiceKey][]string
	gen  uint32
	// built is whether the kernel holds the table as this Plane built it;
	// until then the next transaction replaces whatever is there.
	built bool

	// DR: the netdev table, the hops of the DR real servers, and what the
	// kernel holds of them (hop elements, ingress chains by interface).
	ntable    *nftables.Table
	nb        Neighbours
	log       *slog.Logger
	now       func() time.Time
	hops      map[netip.Addr]*hop
	kmac      map[netip.Addr]hopElem
	kdev      map[string]bool
	stopWatch func()
	closeNB   func()

	// The connection-count schedulers: the counts last read, the plan
	// each service's map holds, and the loop that refreshes them.
	counter     ConnCounter
	counts      map[dataplane.ServiceKey]map[dataplane.DestKey]Conns
	plans       map[dataplane.ServiceKey][]int
	planBase    map[dataplane.ServiceKey]map[dataplane.DestKey]Conns
	stopBalance func()
	// dirty is set when a neighbour change could not be applied.
	dirty bool
}

var _ dataplane.Plane = (*Plane)(nil)

// New returns a plane for the calling thread's network namespace (every
// later transaction opens its socket there), with an empty table in memory.
// Nothing is changed in the kernel until the first operation, which
// replaces any table of that name (a crashed run's) in the same
// transaction. At start, call Replace with the whole desired table, so that
// the leftover table is swapped for the new one at once rather than
// emptied by the first operation and refilled one service at a time.
// Connections already translated survive either way (conntrack holds them).
func New(cfg Config) (*Plane, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	ns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("nftables: open the network namespace: %w", err)
	}
	p := &Plane{
		netns:    ns,
		table:    &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet},
		ntable:   &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyNetdev},
		state:    dataplane.Table{},
		ids:      map[dataplane.ServiceKey]uint32{},
		maps:     map[dataplane.ServiceKey][]string{},
		nb:       cfg.Neighbours,
		counter:  cfg.Conns,
		plans:    map[dataplane.ServiceKey][]int{},
		planBase: map[dataplane.ServiceKey]map[dataplane.DestKey]Conns{},
		log:      cfg.Log,
		now:      cfg.Now,
		hops:     map[netip.Addr]*hop{},
		kmac:     map[netip.Addr]hopElem{},
		kdev:     map[string]bool{},
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.nb == nil {
		kn, err := newKernelNeighbours(ns)
		if err != nil {
			ns.Close()
			return nil, fmt.Errorf("nftables: %w", err)
		}
		p.nb, p.closeNB = kn, kn.close
	}
	// Fail now, not at the first change, where nftables is missing.
	c, err := p.newConn(context.Background())
	if err == nil {
		_, err = c.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return p, nil
}

// sockBuffer is the netlink socket's send and receive buffer: a whole
// table is one batch in one sendmsg (megabytes for thousands of services),
// and the kernel queues one acknowledgement per message before any is
// read. The kernel charges what is used, not this size.
const sockBuffer = 64 << 20

// defaultTimeout bounds a transaction whose context has no deadline: the
// kernel answers in milliseconds, a whole-table replace in seconds.
const defaultTimeout = 60 * time.Second

// newConn opens a netlink socket for one transaction (or read), in the
// plane's namespace, with ctx's deadline (else defaultTimeout) on every
// send and receive, so a kernel that never answers cannot hang the caller.
func (p *Plane) newConn(ctx context.Context) (*nftables.Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	return nftables.New(
		nftables.WithNetNSFd(int(p.netns.Fd())),
		nftables.WithSockOptions(func(c *netlink.Conn) error {
			if err := c.SetDeadline(deadline); err != nil {
				return fmt.Errorf("netlink deadline: %w", err)
			}
			if err := c.SetWriteBuffer(sockBuffer); err != nil {
				return fmt.Errorf("netlink send buffer: %w", err)
			}
			if err := c.SetReadBuffer(sockBuffer); err != nil {
				return fmt.Errorf("netlink receive buffer: %w", err)
			}
			return nil
		}))
}

// Close releases the plane and leaves the tables in place (a restart
// replaces them without dropping NAT connections); Remove deletes them.
// It stops following the neighbour table: the DR hops stay as they are.
func (p *Plane) Close() error {
	p.mu.Lock()
	stops := []func(){p.stopWatch, p.stopBalance}
	p.stopWatch, p.stopBalance = nil, nil
	counter := p.counter
	p.mu.Unlock()
	for _, stop := range stops {
		if stop != nil {
			stop()
		}
	}
	if kc, ok := counter.(*kernelCounter); ok {
		kc.close()
	}
	if p.closeNB != nil {
		p.closeNB()
	}
	return p.netns.Close()
}

// Capabilities implements dataplane.Plane.
func (p *Plane) Capabilities() dataplane.Capabilities { return Caps }

// Services implements dataplane.Plane: the services this plane has applied.
func (p *Plane) Services(ctx context.Context) ([]dataplane.Service, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []dataplane.Service
	for _, k := range p.state.Keys() {
		out = append(out, p.state[k].Service)
	}
	return out, nil
}

// Destinations implements dataplane.Plane.
func (p *Plane) Destinations(ctx context.Context, svc dataplane.ServiceKey) ([]dataplane.Destination, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.state[svc]
	if !ok {
		return nil, fmt.Errorf("service %s: %w", svc, syscall.ESRCH)
	}
	keys := slices.SortedFunc(maps.Keys(e.Dests), dataplane.CompareDest)
	out := make([]dataplane.Destination, 0, len(keys))
	for _, k := range keys {
		out = append(out, e.Dests[k])
	}
	return out, nil
}

// Table returns a copy of the table the plane has applied.
func (p *Plane) Table() dataplane.Table {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Clone()
}

// AddService implements dataplane.Plane.
func (p *Plane) AddService(ctx context.Context, s dataplane.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.state[s.Key]; ok {
		return fmt.Errorf("add service %s: %w", s.Key, syscall.EEXIST)
	}
	if err := Caps.CheckService(s); err != nil {
		return advise(err, s, nil)
	}
	e := dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
	if err := p.sync(ctx, false, map[dataplane.ServiceKey]*dataplane.Entry{s.Key: &e}); err != nil {
		return fmt.Errorf("add service %s: %w", s.Key, err)
	}
	return nil
}

// UpdateService implements dataplane.Plane.
func (p *Plane) UpdateService(ctx context.Context, s dataplane.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.state[s.Key]
	if !ok {
		return fmt.Errorf("update service %s: %w", s.Key, syscall.ESRCH)
	}
	if err := Caps.CheckService(s); err != nil {
		return advise(err, s, nil)
	}
	e := dataplane.Entry{Service: s, Dests: old.Dests}
	if err := p.sync(ctx, false, map[dataplane.ServiceKey]*dataplane.Entry{s.Key: &e}); err != nil {
		return fmt.Errorf("update service %s: %w", s.Key, err)
	}
	return nil
}

// DeleteService implements dataplane.Plane.
func (p *Plane) DeleteService(ctx context.Context, key dataplane.ServiceKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.state[key]; !ok {
		return fmt.Errorf("delete service %s: %w", key, syscall.ESRCH)
	}
	if err := p.sync(ctx, false, map[dataplane.ServiceKey]*dataplane.Entry{key: nil}); err != nil {
		return fmt.Errorf("delete service %s: %w", key, err)
	}
	return nil
}

// AddDestination implements dataplane.Plane.
func (p *Plane) AddDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	return p.destination(ctx, "add", svc, d.Key, &d)
}

// UpdateDestination implements dataplane.Plane.
func (p *Plane) UpdateDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	return p.destination(ctx, "update", svc, d.Key, &d)
}

// DeleteDestination implements dataplane.Plane.
func (p *Plane) DeleteDestination(ctx context.Context, svc dataplane.ServiceKey, key dataplane.DestKey) error {
	return p.destination(ctx, "delete", svc, key, nil)
}

// destination is the one path of the three destination operations: op is
// add (key must be new), update (key must exist, d its new value) or
// delete (key must exist, d nil). The service's rules are rebuilt in one
// transaction.
func (p *Plane) destination(ctx context.Context, op string, svc dataplane.ServiceKey, key dataplane.DestKey, d *dataplane.Destination) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.state[svc]
	if !ok {
		return fmt.Errorf("%s destination %s of %s: %w", op, key, svc, syscall.ESRCH)
	}
	if _, exists := old.Dests[key]; exists == (op == "add") {
		err := syscall.ENOENT
		if exists {
			err = syscall.EEXIST
		}
		return fmt.Errorf("%s destination %s of %s: %w", op, key, svc, err)
	}
	e := dataplane.Entry{Service: old.Service, Dests: maps.Clone(old.Dests)}
	if d != nil {
		if err := Caps.CheckDestination(svc, *d); err != nil {
			return advise(err, old.Service, d)
		}
		e.Dests[key] = *d
	} else {
		delete(e.Dests, key)
	}
	if err := p.sync(ctx, false, map[dataplane.ServiceKey]*dataplane.Entry{svc: &e}); err != nil {
		return fmt.Errorf("%s destination %s of %s: %w", op, key, svc, err)
	}
	return nil
}

// ApplyBatch makes each service of changes hold its entry (nil: deletes
// it) in one transaction: all of them or, if any is refused, none. It is
// how the reconciler applies many operations at once (a start with
// thousands of services is one transaction, not one per real server, each
// of which the kernel validates against the whole table).
func (p *Plane) ApplyBatch(ctx context.Context, changes map[dataplane.ServiceKey]*dataplane.Entry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	own := make(map[dataplane.ServiceKey]*dataplane.Entry, len(changes))
	var errs []error
	for _, k := range slices.SortedFunc(maps.Keys(changes), dataplane.Compare) {
		e := changes[k]
		if e == nil {
			if _, ok := p.state[k]; !ok {
				errs = append(errs, fmt.Errorf("delete service %s: %w", k, syscall.ESRCH))
			}
			own[k] = nil
			continue
		}
		if e.Service.Key != k {
			errs = append(errs, fmt.Errorf("service %s: entry of service %s", k, e.Service.Key))
			continue
		}
		c := dataplane.Entry{Service: e.Service, Dests: maps.Clone(e.Dests)}
		if c.Dests == nil {
			c.Dests = map[dataplane.DestKey]dataplane.Destination{}
		}
		if err := supported(c); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", k, err))
			continue
		}
		own[k] = &c
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(own) == 0 {
		return nil
	}
	if err := p.sync(ctx, false, own); err != nil {
		if len(own) == 1 {
			for k := range own {
				return fmt.Errorf("service %s: %w", k, err)
			}
		}
		return fmt.Errorf("apply %d services: %w", len(own), err)
	}
	return nil
}

// Flush implements dataplane.Plane: it removes every service, in one
// transaction that rebuilds Vigil's tables empty. The empty inet table
// keeps its nat hooks and a conntrack reference, so connections already
// translated keep flowing, as they do when IPVS services are deleted. DR
// flows have no such memory: they end with their service. Remove deletes
// the tables themselves.
func (p *Plane) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	changes := map[dataplane.ServiceKey]*dataplane.Entry{}
	for k := range p.state {
		changes[k] = nil
	}
	if err := p.sync(ctx, true, changes); err != nil {
		return fmt.Errorf("nftables: flush table %s: %w", p.table.Name, err)
	}
	return nil
}

// Remove deletes Vigil's tables and nothing else (for a stop that should
// leave no trace, or a switch to another plane). Connections it translated
// stop being translated once nothing else in the namespace uses conntrack's
// NAT, so they end; use Flush to let them finish.
func (p *Plane) Remove(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := p.newConn(ctx)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	// Adding a table first makes its delete succeed whether or not it
	// exists, in the same transaction.
	for _, t := range []*nftables.Table{p.table, p.ntable} {
		c.AddTable(t)
		c.DelTable(t)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove table %s: %w", p.table.Name, err)
	}
	p.state = dataplane.Table{}
	p.ids = map[dataplane.ServiceKey]uint32{}
	p.maps = map[dataplane.ServiceKey][]string{}
	p.hops = map[netip.Addr]*hop{}
	p.kmac = map[netip.Addr]hopElem{}
	p.kdev = map[string]bool{}
	p.built = false
	return nil
}

// SetTimeouts implements dataplane.Plane. Connection timeouts are
// conntrack's, shared with the whole host, so the plane does not set them.
func (p *Plane) SetTimeouts(ctx context.Context, t dataplane.Timeouts) error {
	if t == (dataplane.Timeouts{}) {
		return nil
	}
	return fmt.Errorf("nftables: lvs_timeouts (conntrack's timeouts are host-wide; set net.netfilter.nf_conntrack_*_timeout): %w", dataplane.ErrUnsupported)
}

// Timeouts implements dataplane.Plane; see SetTimeouts.
func (p *Plane) Timeouts(ctx context.Context) (dataplane.Timeouts, error) {
	return dataplane.Timeouts{}, fmt.Errorf("nftables: connection timeouts: %w", dataplane.ErrUnsupported)
}

// StartSyncDaemon implements dataplane.Plane: connection sync is
// conntrackd's job with this plane.
func (p *Plane) StartSyncDaemon(ctx context.Context, d dataplane.SyncDaemon) error {
	return fmt.Errorf("nftables: lvs_sync_daemon (use conntrackd to sync conntrack): %w", dataplane.ErrUnsupported)
}

// StopSyncDaemon implements dataplane.Plane; see StartSyncDaemon.
func (p *Plane) StopSyncDaemon(ctx context.Context, state dataplane.SyncState) error {
	return fmt.Errorf("nftables: lvs_sync_daemon: %w", dataplane.ErrUnsupported)
}

// Replace makes the kernel hold exactly t, in one transaction that deletes
// the tables (this run's or a crashed run's) and builds them afresh. It is
// the start-up path: nothing is ever half there, and conntrack keeps
// established NAT connections. Persistence entries and DR flows start
// empty.
func (p *Plane) Replace(ctx context.Context, t dataplane.Table) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	changes := map[dataplane.ServiceKey]*dataplane.Entry{}
	for k := range p.state {
		changes[k] = nil
	}
	var errs []error
	for _, k := range t.Keys() {
		e := dataplane.Entry{Service: t[k].Service, Dests: maps.Clone(t[k].Dests)}
		if e.Dests == nil {
			e.Dests = map[dataplane.DestKey]dataplane.Destination{}
		}
		if err := supported(e); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", k, err))
			continue
		}
		changes[k] = &e
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := p.sync(ctx, true, changes); err != nil {
		return fmt.Errorf("nftables: replace table %s: %w", p.table.Name, err)
	}
	return nil
}

func supported(e dataplane.Entry) error {
	errs := []error{Caps.CheckService(e.Service)}
	for _, d := range e.Dests {
		errs = append(errs, Caps.CheckDestination(e.Service.Key, d))
	}
	return errors.Join(errs...)
}

// txn is one transaction being queued: its connection, and what the
// kernel will hold once it commits.
type txn struct {
	c *nftables.Conn
	// maps are the scheduler maps made for each service changed.
	maps map[dataplane.ServiceKey][]string
	// kmac and kdev are the DR hop elements and ingress chains.
	kmac map[netip.Addr]hopElem
	kdev map[string]bool
}

// sync applies changes (a service's new entry, nil to delete it) in one
// transaction: every changed service's objects, and the DR hops and
// ingress chains the resulting table needs. With full (or until the plane
// has built its tables) the transaction first replaces the tables by empty
// ones and builds every service. Nothing in memory changes unless the
// transaction commits.
func (p *Plane) sync(ctx context.Context, full bool, changes map[dataplane.ServiceKey]*dataplane.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	full = full || !p.built
	next := func(k dataplane.ServiceKey) (dataplane.Entry, bool) {
		if e, ok := changes[k]; ok {
			if e == nil {
				return dataplane.Entry{}, false
			}
			return *e, true
		}
		e, ok := p.state[k]
		return e, ok
	}
	touched := slices.SortedFunc(maps.Keys(changes), dataplane.Compare)
	if full {
		all := maps.Clone(p.state)
		for k := range changes {
			all[k] = dataplane.Entry{}
		}
		touched = all.Keys()
	}
	undo, err := p.retain(changes)
	if err != nil {
		return err
	}
	// ids are the touched services' ids after the transaction (a full
	// rebuild numbers them afresh); the others keep theirs.
	ids, nextID := map[dataplane.ServiceKey]uint32{}, p.next
	if full {
		nextID = 0
	}
	progs, olds := map[dataplane.ServiceKey]program{}, map[dataplane.ServiceKey]program{}
	var errs []error
	for _, k := range touched {
		if e, ok := next(k); ok {
			id, ok := p.ids[k]
			if !ok || full {
				nextID++
				id = nextID
			}
			ids[k] = id
			prog, err := compile(e, id, p.facts(k))
			if err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", k, err))
			}
			progs[k] = prog
		}
		if e, ok := p.state[k]; ok && !full {
			olds[k], _ = compile(e, p.ids[k], p.facts(k))
		}
	}
	if len(errs) > 0 {
		undo()
		return errors.Join(errs...)
	}
	for attempt := 0; ; attempt++ {
		// Affinity entries whose real server may take no new connection
		// are deleted in the same transaction, so its clients move at
		// once. Expiring entries can vanish between the read and the
		// commit, which fails the batch: read again and retry.
		stale := map[dataplane.ServiceKey][]nftables.SetElement{}
		nstale := 0
		for k, prog := range progs {
			if old, ok := olds[k]; ok && keepAff(old, prog) {
				e, _ := next(k)
				if stale[k], err = p.staleAffinity(ctx, p.tableOf(prog), prog.Aff.Name, e); err != nil {
					undo()
					return err
				}
				nstale += len(stale[k])
			}
		}
		err = p.commit(ctx, full, func(t *txn) error {
			for _, k := range touched {
				prog, now := progs[k]
				old, before := olds[k]
				var err error
				switch {
				case now && !before:
					err = p.queueAdd(t, k, prog)
				case before && !now:
					p.queueDel(t, k, old)
				case now:
					err = p.queueChange(t, k, old, prog, stale[k])
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || nstale == 0 || attempt == 2 || !errors.Is(err, syscall.ENOENT) {
			break
		}
	}
	if err != nil {
		undo()
		return err
	}
	cc := false
	for _, k := range touched {
		if e, ok := next(k); ok {
			p.state[k] = e
		} else {
			delete(p.state, k)
		}
		if prog, ok := progs[k]; ok && prog.Plan != nil {
			p.plans[k], p.planBase[k] = prog.Plan, maps.Clone(p.counts[k])
			cc = true
		} else {
			delete(p.plans, k)
			delete(p.planBase, k)
		}
	}
	if full {
		p.ids = ids
	} else {
		for _, k := range touched {
			if id, ok := ids[k]; ok {
				p.ids[k] = id
			} else {
				delete(p.ids, k)
			}
		}
	}
	p.next = nextID
	if cc {
		p.startBalance()
	}
	return nil
}

// keepAff is whether a service's affinity map survives a change: same
// table, same data shape and timeout. Otherwise it is made anew, empty.
func keepAff(old, prog program) bool {
	return old.Aff != nil && prog.Aff != nil && old.DR == prog.DR &&
		old.Aff.Data.Name == prog.Aff.Data.Name && old.Aff.Timeout == prog.Aff.Timeout
}

// commit queues the changes on a connection of its own and sends them as
// one batch, so a failure before the send leaves nothing queued anywhere.
// With full, the batch first replaces both tables by empty ones.
func (p *Plane) commit(ctx context.Context, full bool, queue func(t *txn) error) error {
	c, err := p.newConn(ctx)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &txn{c: c, maps: map[dataplane.ServiceKey][]string{}, kmac: maps.Clone(p.kmac), kdev: maps.Clone(p.kdev)}
	if full {
		p.base(c)
		t.kmac, t.kdev = map[netip.Addr]hopElem{}, map[string]bool{}
	}
	if err := queue(t); err != nil {
		// Dropping c drops what was queued: the kernel sees none of it.
		return err
	}
	if err := p.queueHops(t, full); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if full {
		p.maps = map[dataplane.ServiceKey][]string{}
	}
	for k, names := range t.maps {
		if names == nil {
			delete(p.maps, k)
		} else {
			p.maps[k] = names
		}
	}
	p.kmac, p.kdev, p.built = t.kmac, t.kdev, true
	return nil
}

// base queues the replacement of both tables by empty ones: the inet
// table with its nat base chains, dispatch chain and maps; the netdev
// table with the DR dispatch chain and its maps (its ingress
// chains come with the DR real servers).
func (p *Plane) base(c *nftables.Conn) {
	for _, t := range []*nftables.Table{p.table, p.ntable} {
		c.AddTable(t)
		c.DelTable(t)
		c.AddTable(t)
	}
	disp := c.AddChain(&nftables.Chain{Table: p.table, Name: chainDispatch})
	accept := nftables.ChainPolicyAccept
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{chainPrerouting, nftables.ChainHookPrerouting}, {chainOutput, nftables.ChainHookOutput}} {
		ch := c.AddChain(&nftables.Chain{
			Table: p.table, Name: h.name, Type: nftables.ChainTypeNAT,
			Hooknum: h.hook, Priority: nftables.ChainPriorityNATDest, Policy: &accept,
		})
		c.AddRule(&nftables.Rule{Table: p.table, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainDispatch}}})
	}
	for _, s := range dispatchSets() {
		_ = c.AddSet(p.nftSet(p.table, s), nil)
	}
	for _, r := range dispatchRules() {
		c.AddRule(&nftables.Rule{Table: p.table, Chain: disp, Exprs: r.Exprs})
	}

	for _, s := range drSets() {
		_ = c.AddSet(p.nftSet(p.ntable, s), nil)
	}
	ddisp := c.AddChain(&nftables.Chain{Table: p.ntable, Name: chainDRDispatch})
	for _, r := range drDispatchRules() {
		c.AddRule(&nftables.Rule{Table: p.ntable, Chain: ddisp, Exprs: r.Exprs})
	}
}

func (p *Plane) nftSet(t *nftables.Table, s setDef) *nftables.Set {
	return &nftables.Set{
		Table: t, Name: s.Name, Anonymous: s.Anonymous, Constant: s.Anonymous,
		IsMap: s.IsMap, Dynamic: s.Dynamic, HasTimeout: s.HasTimeout, Timeout: s.Timeout,
		Concatenation: s.Concat, KeyType: s.Key, DataType: s.Data,
	}
}

// tableOf is the table a service's program lives in.
func (p *Plane) tableOf(prog program) *nftables.Table {
	if prog.DR {
		return p.ntable
	}
	return p.table
}

// queueAdd queues a new service: its chain, affinity and flow maps, rules
// and dispatch element.
func (p *Plane) queueAdd(t *txn, key dataplane.ServiceKey, prog program) error {
	tb := p.tableOf(prog)
	ch := t.c.AddChain(&nftables.Chain{Table: tb, Name: prog.Chain})
	for _, s := range []*setDef{prog.Aff, prog.Flow} {
		if s != nil {
			if err := t.c.AddSet(p.nftSet(tb, *s), nil); err != nil {
				return err
			}
		}
	}
	if err := p.addRules(t, key, tb, ch, prog); err != nil {
		return err
	}
	set, k := dispatchKey(key, prog.DR)
	return t.c.SetAddElements(&nftables.Set{Table: tb, Name: set, IsMap: true}, []nftables.SetElement{
		{Key: k, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: prog.Chain}},
	})
}

// queueDel queues the removal of a service and all its objects.
func (p *Plane) queueDel(t *txn, key dataplane.ServiceKey, old program) {
	tb := p.tableOf(old)
	set, k := dispatchKey(key, old.DR)
	_ = t.c.SetDeleteElements(&nftables.Set{Table: tb, Name: set, IsMap: true}, []nftables.SetElement{{Key: k}})
	ch := &nftables.Chain{Table: tb, Name: old.Chain}
	t.c.FlushChain(ch)
	t.c.DelChain(ch)
	p.delMaps(t, key, tb)
	for _, s := range []*setDef{old.Aff, old.Flow} {
		if s != nil {
			t.c.DelSet(&nftables.Set{Table: tb, Name: s.Name})
		}
	}
}

// queueChange queues the rebuild of a service's rules in place. Its
// affinity map is kept when keepAff allows (minus the stale entries), its
// flow map always: a DR service keeps its flows across changes. A service
// moving between NAT and DR is removed from one table and added to the
// other.
func (p *Plane) queueChange(t *txn, key dataplane.ServiceKey, old, prog program, stale []nftables.SetElement) error {
	if old.DR != prog.DR {
		p.queueDel(t, key, old)
		return p.queueAdd(t, key, prog)
	}
	tb := p.tableOf(prog)
	ch := &nftables.Chain{Table: tb, Name: prog.Chain}
	t.c.FlushChain(ch)
	keep := keepAff(old, prog)
	if old.Aff != nil && !keep {
		t.c.DelSet(&nftables.Set{Table: tb, Name: old.Aff.Name})
	}
	if prog.Aff != nil && !keep {
		if err := t.c.AddSet(p.nftSet(tb, *prog.Aff), nil); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		if err := t.c.SetDeleteElements(&nftables.Set{Table: tb, Name: prog.Aff.Name, IsMap: true}, stale); err != nil {
			return err
		}
	}
	p.delMaps(t, key, tb)
	return p.addRules(t, key, tb, ch, prog)
}

// elemChunk is how many elements go in one message: a message's element
// list is one netlink attribute, whose length is 16 bits.
const elemChunk = 512

func (p *Plane) addRules(t *txn, key dataplane.ServiceKey, tb *nftables.Table, ch *nftables.Chain, prog program) error {
	made := []string{}
	for _, r := range prog.Rules {
		bound := map[string]*nftables.Set{}
		for _, s := range r.Anon {
			// Named, not anonymous: the library sizes an anonymous set
			// to the elements of its first message, and a big map
			// (Maglev's thousands of slots) needs several, as a
			// message's element list is one 64 KiB netlink attribute.
			p.gen++
			ns := p.nftSet(tb, s)
			ns.Anonymous, ns.Constant = false, false
			ns.Name = fmt.Sprintf("%s_%d", prog.Chain, p.gen)
			if err := t.c.AddSet(ns, nil); err != nil {
				return err
			}
			for rest := s.Elems; len(rest) > 0; rest = rest[min(len(rest), elemChunk):] {
				if err := t.c.SetAddElements(ns, rest[:min(len(rest), elemChunk)]); err != nil {
					return err
				}
			}
			bound[s.Name] = ns
			made = append(made, ns.Name)
		}
		exprs := make([]expr.Any, len(r.Exprs))
		for i, e := range r.Exprs {
			if l, ok := e.(*expr.Lookup); ok {
				if ns, ok := bound[l.SetName]; ok {
					cp := *l
					cp.SetName, cp.SetID = ns.Name, ns.ID
					e = &cp
				}
			}
			exprs[i] = e
		}
		t.c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: exprs})
	}
	t.maps[key] = made
	return nil
}

// delMaps queues the deletion of a service's scheduler maps; its chain must
// be flushed first in the same transaction.
func (p *Plane) delMaps(t *txn, key dataplane.ServiceKey, tb *nftables.Table) {
	names, ok := t.maps[key] // made earlier in this transaction
	if !ok {
		names = p.maps[key]
	}
	for _, name := range names {
		t.c.DelSet(&nftables.Set{Table: tb, Name: name})
	}
	t.maps[key] = nil
}

// staleAffinity lists the affinity entries whose real server may not take
// new connections in e.
func (p *Plane) staleAffinity(ctx context.Context, tb *nftables.Table, name string, e dataplane.Entry) ([]nftables.SetElement, error) {
	method, err := methodOf(e)
	if err != nil {
		return nil, err
	}
	withPort := false
	if method != dataplane.DR {
		if withPort, err = portMode(e); err != nil {
			return nil, err
		}
	}
	var valid [][]byte
	for _, d := range available(e) {
		if method == dataplane.DR && !p.ready(d.Key.Addr) {
			continue
		}
		valid = append(valid, destBytes(d.Key.Addr, destPort(e, d), withPort))
	}
	c, err := p.newConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	elems, err := c.GetSetElements(&nftables.Set{Table: tb, Name: name, IsMap: true, HasTimeout: true})
	if err != nil {
		return nil, fmt.Errorf("nftables: read affinity map %s: %w", name, err)
	}
	var stale []nftables.SetElement
	for _, el := range elems {
		if !slices.ContainsFunc(valid, func(v []byte) bool { return bytes.Equal(v, el.Val) }) {
			stale = append(stale, nftables.SetElement{Key: el.Key})
		}
	}
	return stale, nil
}
