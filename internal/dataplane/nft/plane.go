// Package nft is a dataplane.Plane on nftables: Vigil's virtual services as
// DNAT rules in one table of its own (inet vigil_lb by default), driven
// through netlink (github.com/google/nftables), every change one atomic
// transaction.
//
// Layout of the table: base chains prerouting and output (nat, priority
// dstnat) jump to a regular chain, dispatch, which looks each new
// connection up in four verdict maps (fwmark services of either family
// first, as IPVS does, then address . protocol . port of either family) and
// jumps to the service's own chain. A service chain picks a real server
// with its scheduler (numgen over a weight-expanded map for rr/wrr, jhash
// over a bucket or Maglev table for sh/dh/mh, a constant for fo) and DNATs
// to it; with persistence, a dynamic map with timeouts remembers each
// client (masked by the granularity) from the packet path. Only the first
// packet of a connection reaches a nat chain: conntrack keeps the binding,
// so a drained (weight 0) or removed real server keeps its established
// connections and gets no new ones.
//
// The plane keeps the table it has applied in memory (Services and
// Destinations list it): it is the only writer of its table. The first
// change after New (or Replace) deletes whatever a previous run left and
// builds the table afresh in the same transaction; established connections
// survive, as their translations live in conntrack, not in the rules.
package nft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
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
	// Table is the table's name; empty means DefaultTable.
	Table string
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
	// the same transaction; pending holds those of the transaction being
	// built until it commits.
	maps    map[dataplane.ServiceKey][]string
	pending map[dataplane.ServiceKey][]string
	gen     uint32
	// built is whether the kernel holds the table as this Plane built it;
	// until then the next transaction replaces whatever is there.
	built bool
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
		netns: ns,
		table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet},
		state: dataplane.Table{},
		ids:   map[dataplane.ServiceKey]uint32{},
		maps:  map[dataplane.ServiceKey][]string{},
	}
	// Fail now, not at the first change, where nftables is missing.
	c, err := p.newConn(context.Background())
	if err == nil {
		_, err = c.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	if err != nil {
		ns.Close()
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

// Close releases the plane and leaves the table in place (a restart
// replaces it without dropping connections); Flush removes it.
func (p *Plane) Close() error { return p.netns.Close() }

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
		return err
	}
	e := dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
	id := p.next + 1
	prog, err := compile(e, id)
	if err != nil {
		return fmt.Errorf("add service %s: %w", s.Key, err)
	}
	err = p.commit(ctx, func(c *nftables.Conn) error { return p.addService(c, e.Service.Key, id, prog) })
	if err != nil {
		return fmt.Errorf("add service %s: %w", s.Key, err)
	}
	p.next = id
	p.ids[s.Key] = id
	p.state[s.Key] = e
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
		return err
	}
	e := dataplane.Entry{Service: s, Dests: maps.Clone(old.Dests)}
	if err := p.change(ctx, old, e); err != nil {
		return fmt.Errorf("update service %s: %w", s.Key, err)
	}
	return nil
}

// DeleteService implements dataplane.Plane.
func (p *Plane) DeleteService(ctx context.Context, key dataplane.ServiceKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.state[key]
	if !ok {
		return fmt.Errorf("delete service %s: %w", key, syscall.ESRCH)
	}
	id := p.ids[key]
	err := p.commit(ctx, func(c *nftables.Conn) error {
		set, k := dispatchKey(key)
		if err := c.SetDeleteElements(&nftables.Set{Table: p.table, Name: set}, []nftables.SetElement{{Key: k}}); err != nil {
			return err
		}
		ch := &nftables.Chain{Table: p.table, Name: chainName(id)}
		c.FlushChain(ch)
		c.DelChain(ch)
		p.delMaps(c, key)
		if old.Service.Persistence > 0 {
			c.DelSet(&nftables.Set{Table: p.table, Name: affName(id)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete service %s: %w", key, err)
	}
	delete(p.state, key)
	delete(p.ids, key)
	delete(p.maps, key)
	return nil
}

// AddDestination implements dataplane.Plane.
func (p *Plane) AddDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.state[svc]
	if !ok {
		return fmt.Errorf("add destination to %s: %w", svc, syscall.ESRCH)
	}
	if _, ok := old.Dests[d.Key]; ok {
		return fmt.Errorf("add destination %s to %s: %w", d.Key, svc, syscall.EEXIST)
	}
	if err := Caps.CheckDestination(svc, d); err != nil {
		return err
	}
	e := dataplane.Entry{Service: old.Service, Dests: maps.Clone(old.Dests)}
	e.Dests[d.Key] = d
	if err := p.change(ctx, old, e); err != nil {
		return fmt.Errorf("add destination %s to %s: %w", d.Key, svc, err)
	}
	return nil
}

// UpdateDestination implements dataplane.Plane.
func (p *Plane) UpdateDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.state[svc]
	if !ok {
		return fmt.Errorf("update destination of %s: %w", svc, syscall.ESRCH)
	}
	if _, ok := old.Dests[d.Key]; !ok {
		return fmt.Errorf("update destination %s of %s: %w", d.Key, svc, syscall.ENOENT)
	}
	if err := Caps.CheckDestination(svc, d); err != nil {
		return err
	}
	e := dataplane.Entry{Service: old.Service, Dests: maps.Clone(old.Dests)}
	e.Dests[d.Key] = d
	if err := p.change(ctx, old, e); err != nil {
		return fmt.Errorf("update destination %s of %s: %w", d.Key, svc, err)
	}
	return nil
}

// DeleteDestination implements dataplane.Plane.
func (p *Plane) DeleteDestination(ctx context.Context, svc dataplane.ServiceKey, key dataplane.DestKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.state[svc]
	if !ok {
		return fmt.Errorf("delete destination of %s: %w", svc, syscall.ESRCH)
	}
	if _, ok := old.Dests[key]; !ok {
		return fmt.Errorf("delete destination %s of %s: %w", key, svc, syscall.ENOENT)
	}
	e := dataplane.Entry{Service: old.Service, Dests: maps.Clone(old.Dests)}
	delete(e.Dests, key)
	if err := p.change(ctx, old, e); err != nil {
		return fmt.Errorf("delete destination %s of %s: %w", key, svc, err)
	}
	return nil
}

// Flush implements dataplane.Plane: it removes every service, in one
// transaction that rebuilds Vigil's table empty. The empty table keeps its
// nat hooks and a conntrack reference, so connections already translated
// keep flowing, as they do when IPVS services are deleted. Remove deletes
// the table itself.
func (p *Plane) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := p.newConn(ctx)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	p.base(c)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: flush table %s: %w", p.table.Name, err)
	}
	p.state = dataplane.Table{}
	p.ids = map[dataplane.ServiceKey]uint32{}
	p.maps = map[dataplane.ServiceKey][]string{}
	p.built = true
	return nil
}

// Remove deletes Vigil's table and nothing else (for a stop that should
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
	// Adding the table first makes the delete succeed whether or not it
	// exists, in the same transaction.
	c.AddTable(p.table)
	c.DelTable(p.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove table %s: %w", p.table.Name, err)
	}
	p.state = dataplane.Table{}
	p.ids = map[dataplane.ServiceKey]uint32{}
	p.maps = map[dataplane.ServiceKey][]string{}
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
// the table (this run's or a crashed run's) and builds it afresh. It is the
// start-up path: nothing is ever half there, and conntrack keeps
// established connections. Persistence entries start empty.
func (p *Plane) Replace(ctx context.Context, t dataplane.Table) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := map[dataplane.ServiceKey]uint32{}
	progs := map[dataplane.ServiceKey]program{}
	var errs []error
	next := uint32(0)
	for _, k := range t.Keys() {
		e := t[k]
		if e.Dests == nil {
			e.Dests = map[dataplane.DestKey]dataplane.Destination{}
		}
		if err := supported(e); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", k, err))
			continue
		}
		next++
		prog, err := compile(e, next)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", k, err))
			continue
		}
		ids[k], progs[k] = next, prog
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := p.newConn(ctx)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	p.pending = map[dataplane.ServiceKey][]string{}
	p.base(c)
	for _, k := range t.Keys() {
		if err := p.addService(c, k, ids[k], progs[k]); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: replace table %s: %w", p.table.Name, err)
	}
	p.maps, p.pending = p.pending, nil
	p.state = t.Clone()
	for k, e := range p.state {
		if e.Dests == nil {
			e.Dests = map[dataplane.DestKey]dataplane.Destination{}
			p.state[k] = e
		}
	}
	p.ids, p.next, p.built = ids, next, true
	return nil
}

func supported(e dataplane.Entry) error {
	errs := []error{Caps.CheckService(e.Service)}
	for _, d := range e.Dests {
		errs = append(errs, Caps.CheckDestination(e.Service.Key, d))
	}
	return errors.Join(errs...)
}

// commit runs queue and sends the batch on a connection of its own, so a
// failure before the send leaves nothing queued anywhere. Until the plane
// has built its table, the batch first replaces the whole table with the
// one in memory.
func (p *Plane) commit(ctx context.Context, queue func(c *nftables.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := p.newConn(ctx)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	p.pending = map[dataplane.ServiceKey][]string{}
	defer func() { p.pending = nil }()
	rebuild := !p.built
	if rebuild {
		p.base(c)
		for _, k := range p.state.Keys() {
			prog, err := compile(p.state[k], p.ids[k])
			if err != nil {
				return err
			}
			if err := p.addService(c, k, p.ids[k], prog); err != nil {
				return err
			}
		}
	}
	if err := queue(c); err != nil {
		// Dropping c drops what was queued: the kernel sees none of it.
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if rebuild {
		p.maps = map[dataplane.ServiceKey][]string{}
	}
	maps.Copy(p.maps, p.pending)
	p.built = true
	return nil
}

// base queues the replacement of the table by an empty one with its base
// chains, dispatch chain and maps.
func (p *Plane) base(c *nftables.Conn) {
	c.AddTable(p.table)
	c.DelTable(p.table)
	c.AddTable(p.table)
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
		_ = c.AddSet(p.nftSet(s), nil)
	}
	for _, r := range dispatchRules() {
		c.AddRule(&nftables.Rule{Table: p.table, Chain: disp, Exprs: r.Exprs})
	}
}

func (p *Plane) nftSet(s setDef) *nftables.Set {
	return &nftables.Set{
		Table: p.table, Name: s.Name, Anonymous: s.Anonymous, Constant: s.Anonymous,
		IsMap: s.IsMap, Dynamic: s.Dynamic, HasTimeout: s.HasTimeout, Timeout: s.Timeout,
		Concatenation: s.Concat, KeyType: s.Key, DataType: s.Data,
	}
}

// addService queues a new service: its chain, affinity map, rules and
// dispatch element.
func (p *Plane) addService(c *nftables.Conn, key dataplane.ServiceKey, id uint32, prog program) error {
	ch := c.AddChain(&nftables.Chain{Table: p.table, Name: prog.Chain})
	if prog.Aff != nil {
		if err := c.AddSet(p.nftSet(*prog.Aff), nil); err != nil {
			return err
		}
	}
	if err := p.addRules(c, key, ch, prog); err != nil {
		return err
	}
	set, k := dispatchKey(key)
	return c.SetAddElements(&nftables.Set{Table: p.table, Name: set, IsMap: true}, []nftables.SetElement{
		{Key: k, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: prog.Chain}},
	})
}

// elemChunk is how many elements go in one message: a message's element
// list is one netlink attribute, whose length is 16 bits.
const elemChunk = 512

func (p *Plane) addRules(c *nftables.Conn, key dataplane.ServiceKey, ch *nftables.Chain, prog program) error {
	var made []string
	for _, r := range prog.Rules {
		bound := map[string]*nftables.Set{}
		for _, s := range r.Anon {
			// Named, not anonymous: the library sizes an anonymous set
			// to the elements of its first message, and a big map
			// (Maglev's thousands of slots) needs several, as a
			// message's element list is one 64 KiB netlink attribute.
			p.gen++
			ns := p.nftSet(s)
			ns.Anonymous, ns.Constant = false, false
			ns.Name = fmt.Sprintf("%s_%d", prog.Chain, p.gen)
			if err := c.AddSet(ns, nil); err != nil {
				return err
			}
			for rest := s.Elems; len(rest) > 0; rest = rest[min(len(rest), elemChunk):] {
				if err := c.SetAddElements(ns, rest[:min(len(rest), elemChunk)]); err != nil {
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
		c.AddRule(&nftables.Rule{Table: p.table, Chain: ch, Exprs: exprs})
	}
	p.pending[key] = made
	return nil
}

// delMaps queues the deletion of a service's scheduler maps; its chain must
// be flushed first in the same transaction.
func (p *Plane) delMaps(c *nftables.Conn, key dataplane.ServiceKey) {
	names, ok := p.pending[key] // made earlier in this transaction
	if !ok {
		names = p.maps[key]
	}
	for _, name := range names {
		c.DelSet(&nftables.Set{Table: p.table, Name: name})
	}
	p.pending[key] = nil
}

// change replaces service old by e: its rules are rebuilt in one
// transaction, and affinity entries pointing at a real server that can no
// longer take new connections (removed, or weight 0) are deleted in the
// same transaction so that its clients move at once.
func (p *Plane) change(ctx context.Context, old, e dataplane.Entry) error {
	id := p.ids[e.Service.Key]
	prog, err := compile(e, id)
	if err != nil {
		return err
	}
	oldAff := old.Service.Persistence > 0
	// The affinity map is kept when its shape is unchanged, else remade.
	oldProg, _ := compile(old, id)
	keep := oldAff && prog.Aff != nil && oldProg.Aff != nil &&
		oldProg.Aff.Data.Name == prog.Aff.Data.Name && oldProg.Aff.Timeout == prog.Aff.Timeout
	// Expiring entries can vanish between the read and the commit, which
	// fails the batch: read again and retry.
	for attempt := 0; ; attempt++ {
		var stale []nftables.SetElement
		if keep && p.built {
			stale, err = p.staleAffinity(ctx, prog.Aff.Name, e)
			if err != nil {
				return err
			}
		}
		err = p.commit(ctx, func(c *nftables.Conn) error {
			ch := &nftables.Chain{Table: p.table, Name: prog.Chain}
			c.FlushChain(ch)
			if oldAff && !keep {
				c.DelSet(&nftables.Set{Table: p.table, Name: affName(id)})
			}
			if prog.Aff != nil && !keep {
				if err := c.AddSet(p.nftSet(*prog.Aff), nil); err != nil {
					return err
				}
			}
			if len(stale) > 0 {
				if err := c.SetDeleteElements(&nftables.Set{Table: p.table, Name: prog.Aff.Name, IsMap: true}, stale); err != nil {
					return err
				}
			}
			p.delMaps(c, e.Service.Key)
			return p.addRules(c, e.Service.Key, ch, prog)
		})
		if err == nil || len(stale) == 0 || attempt == 2 || !errors.Is(err, syscall.ENOENT) {
			break
		}
	}
	if err != nil {
		return err
	}
	p.state[e.Service.Key] = e
	return nil
}

// staleAffinity lists the affinity entries whose real server may not take
// new connections in e.
func (p *Plane) staleAffinity(ctx context.Context, name string, e dataplane.Entry) ([]nftables.SetElement, error) {
	withPort, err := portMode(e)
	if err != nil {
		return nil, err
	}
	var valid [][]byte
	for _, d := range available(e) {
		valid = append(valid, destBytes(d.Key.Addr, destPort(e, d), withPort))
	}
	c, err := p.newConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	elems, err := c.GetSetElements(&nftables.Set{Table: p.table, Name: name, IsMap: true, HasTimeout: true})
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
