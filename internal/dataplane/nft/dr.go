package nft

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"vigil/internal/dataplane"
)

// How often the plane asks the kernel to resolve a DR real server's MAC:
// every second while it is unknown, every 30 s while known (so that a
// real server replaced by another machine, or an entry the kernel let go
// stale, is confirmed: the frames the plane sends bypass the neighbour
// table, so nothing else would).
const (
	resolveEvery = time.Second
	confirmEvery = 30 * time.Second
)

// hopElem is a hop's data in the kernel's three hop maps.
type hopElem [3]string

// hop is how the director reaches one DR real server.
type hop struct {
	link Link
	// mac is the real server's MAC, nil while unknown: then it takes no
	// new connections and its flows' frames are dropped.
	mac       net.HardwareAddr
	confirmed time.Time
	// users are the DR services that have it as a real server. Without
	// any, it lingers until its flows have idled out (until), so that a
	// removed real server keeps its connections as under IPVS, but only
	// while a service that may hold such flows (lingering) exists: a
	// deleted service's flow map went with it.
	users     map[dataplane.ServiceKey]bool
	lingering map[dataplane.ServiceKey]bool
	until     time.Time
}

// gone is whether nothing needs the hop any more at now.
func (h *hop) gone(now time.Time) bool {
	return len(h.users) == 0 && (len(h.lingering) == 0 || now.After(h.until))
}

// ready is whether a DR real server can be sent frames.
func (p *Plane) ready(a netip.Addr) bool {
	h := p.hops[a]
	return h != nil && h.mac != nil
}

// drAddrs are the addresses of e's DR real servers.
func drAddrs(e *dataplane.Entry) []netip.Addr {
	if e == nil {
		return nil
	}
	var out []netip.Addr
	for _, d := range e.Dests {
		if d.Forwarding.Method == dataplane.DR {
			out = append(out, d.Key.Addr)
		}
	}
	return out
}

// retain updates the hops for changes before their transaction: a new DR
// real server gets its route and MAC (resolution is started if the kernel
// has none), users move. undo puts everything back if the transaction
// fails.
func (p *Plane) retain(changes map[dataplane.ServiceKey]*dataplane.Entry) (undo func(), err error) {
	now := p.now()
	made := map[netip.Addr]*hop{}
	for _, e := range changes {
		for _, a := range drAddrs(e) {
			if p.hops[a] != nil || made[a] != nil {
				continue
			}
			l, err := p.nb.Route(a)
			if err != nil {
				return nil, fmt.Errorf("lb_kind DR: %w", err)
			}
			mac, err := p.nb.Lookup(l.Index, a)
			if err != nil {
				return nil, fmt.Errorf("lb_kind DR: %w", err)
			}
			h := &hop{link: l, mac: mac, confirmed: now, users: map[dataplane.ServiceKey]bool{}, lingering: map[dataplane.ServiceKey]bool{}}
			if mac == nil {
				p.log.Info("DR real server's MAC unknown: resolving; it takes no new connection until resolved", "rs", a, "interface", l.Name)
				if err := p.nb.Resolve(l.Index, a); err != nil {
					p.log.Warn("DR real server: cannot start resolution", "rs", a, "err", err)
				}
			}
			made[a] = h
		}
	}
	type saved struct {
		addr netip.Addr
		h    *hop
		copy hop
	}
	var log []saved
	save := func(a netip.Addr) *hop {
		h := p.hops[a]
		if h == nil {
			h = made[a]
			p.hops[a] = h
			log = append(log, saved{addr: a})
			return h
		}
		c := *h
		c.users, c.lingering = maps.Clone(h.users), maps.Clone(h.lingering)
		log = append(log, saved{addr: a, h: h, copy: c})
		return h
	}
	for k, e := range changes {
		if old, ok := p.state[k]; ok {
			for _, a := range drAddrs(&old) {
				h := save(a)
				delete(h.users, k)
				if e != nil {
					h.lingering[k] = true
					h.until = now.Add(flowTCP)
				}
			}
		}
		if e == nil {
			for a, h := range p.hops {
				if h.lingering[k] {
					delete(save(a).lingering, k)
				}
			}
		}
		for _, a := range drAddrs(e) {
			h := save(a)
			h.users[k] = true
			delete(h.lingering, k)
		}
	}
	if len(p.hops) > 0 {
		p.startWatch()
	}
	return func() {
		for i := len(log) - 1; i >= 0; i-- {
			s := log[i]
			if s.h == nil {
				delete(p.hops, s.addr)
			} else {
				*s.h = s.copy
			}
		}
	}, nil
}

// queueHops queues what makes the kernel's DR hops and ingress chains
// those of p.hops: a hop element per real server with a known MAC, an
// ingress chain per interface. A hop without users is dropped once its
// linger time has passed, and at once by a full rebuild (its flows are
// gone with the old table).
func (p *Plane) queueHops(t *txn, full bool) error {
	now := p.now()
	macs := map[netip.Addr]hopElem{}
	devs := map[string]bool{}
	for a, h := range p.hops {
		if h.gone(now) || (full && len(h.users) == 0) {
			delete(p.hops, a)
			continue
		}
		devs[h.link.Name] = true
		if h.mac != nil {
			v := hopValues(h.mac, h.link.MAC, h.link.Index)
			macs[a] = hopElem{string(v[0]), string(v[1]), string(v[2])}
		}
	}
	// queue adds or deletes a's elements in its family's hop maps.
	queue := func(a netip.Addr, v *hopElem) error {
		fam := dataplane.IPv4
		if !a.Is4() {
			fam = dataplane.IPv6
		}
		for i, name := range hopMaps(fam) {
			set := &nftables.Set{Table: p.ntable, Name: name, IsMap: true}
			var err error
			if v == nil {
				err = t.c.SetDeleteElements(set, []nftables.SetElement{{Key: a.AsSlice()}})
			} else {
				err = t.c.SetAddElements(set, []nftables.SetElement{{Key: a.AsSlice(), Val: []byte(v[i])}})
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	for _, a := range slices.SortedFunc(maps.Keys(t.kmac), netip.Addr.Compare) {
		if v, ok := macs[a]; !ok || v != t.kmac[a] {
			if err := queue(a, nil); err != nil {
				return err
			}
		}
	}
	for _, a := range slices.SortedFunc(maps.Keys(macs), netip.Addr.Compare) {
		if v, ok := t.kmac[a]; !ok || v != macs[a] {
			v := macs[a]
			if err := queue(a, &v); err != nil {
				return err
			}
		}
	}
	for _, dev := range slices.Sorted(maps.Keys(t.kdev)) {
		if !devs[dev] {
			ch := &nftables.Chain{Table: p.ntable, Name: ingressChain(dev)}
			t.c.FlushChain(ch)
			t.c.DelChain(ch)
		}
	}
	accept := nftables.ChainPolicyAccept
	for _, dev := range slices.Sorted(maps.Keys(devs)) {
		if !t.kdev[dev] {
			ch := t.c.AddChain(&nftables.Chain{
				Table: p.ntable, Name: ingressChain(dev), Type: nftables.ChainTypeFilter,
				Hooknum: nftables.ChainHookIngress, Priority: nftables.ChainPriorityRef(ingressPriority),
				Device: dev, Policy: &accept,
			})
			t.c.AddRule(&nftables.Rule{Table: p.ntable, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainDRDispatch}}})
		}
	}
	t.kmac, t.kdev = macs, devs
	return nil
}

// startWatch starts following the neighbour table, once; Close stops it.
func (p *Plane) startWatch() {
	if p.stopWatch != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.stopWatch = func() { cancel(); <-done }
	go p.watch(ctx, done)
}

// watch follows the neighbour table for the DR real servers and keeps the
// hops current, each change one transaction; it also asks for resolution
// of unknown MACs every resolveEvery and confirms known ones every
// confirmEvery.
func (p *Plane) watch(ctx context.Context, done chan struct{}) {
	defer close(done)
	events := make(chan NeighEvent, 256)
	werr := make(chan error, 1)
	watch := func() { werr <- p.nb.Watch(ctx, events) }
	go watch()
	tick := time.NewTicker(resolveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-werr
			return
		case err := <-werr:
			// The subscription broke (a full socket buffer): the
			// confirmations every confirmEvery still catch every
			// change; subscribe again after a second.
			p.log.Warn("neighbour updates lost; subscribing again", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			go watch()
		case ev := <-events:
			p.neighbour(ctx, ev)
		case now := <-tick.C:
			p.tick(ctx, now)
		}
	}
}

// neighbour applies one neighbour event to the hop it concerns.
func (p *Plane) neighbour(ctx context.Context, ev NeighEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hops[ev.Addr]
	if h == nil || h.link.Index != ev.Index {
		return
	}
	mac, resolve := nextMAC(h.mac, ev)
	if resolve {
		if err := p.nb.Resolve(h.link.Index, ev.Addr); err != nil {
			p.log.Warn("DR real server: cannot start resolution", "rs", ev.Addr, "err", err)
		}
	}
	if bytes.Equal(mac, h.mac) {
		return
	}
	if mac == nil {
		p.log.Warn("DR real server's MAC could not be resolved: no new connection goes to it until it is", "rs", ev.Addr, "interface", h.link.Name)
	} else {
		p.log.Info("DR real server's MAC", "rs", ev.Addr, "mac", mac.String(), "interface", h.link.Name)
	}
	h.mac = mac
	p.refresh(ctx, h)
}

// refresh rebuilds the services of hops (their readiness changed) and the
// hop elements, in one transaction. A failure is retried at the next
// tick.
func (p *Plane) refresh(ctx context.Context, hops ...*hop) {
	changes := map[dataplane.ServiceKey]*dataplane.Entry{}
	for _, h := range hops {
		for k := range h.users {
			if e, ok := p.state[k]; ok {
				changes[k] = &e
			}
		}
	}
	if err := p.sync(ctx, false, changes); err != nil {
		p.dirty = true
		p.log.Error("DR hops not updated; retrying", "err", err)
		return
	}
	p.dirty = false
}

// tick asks for resolutions, picks up MACs the events missed (one
// resolved before the subscription started), drops hops whose linger
// time has passed and retries a failed refresh.
func (p *Plane) tick(ctx context.Context, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	redo := p.dirty
	var all []*hop
	for a, h := range p.hops {
		all = append(all, h)
		if h.mac == nil {
			if mac, err := p.nb.Lookup(h.link.Index, a); err == nil && mac != nil {
				p.log.Info("DR real server's MAC", "rs", a, "mac", mac.String(), "interface", h.link.Name)
				h.mac, redo = mac, true
				continue
			}
		}
		if h.mac == nil || now.Sub(h.confirmed) >= confirmEvery {
			h.confirmed = now
			if err := p.nb.Resolve(h.link.Index, a); err != nil {
				p.log.Warn("DR real server: cannot start resolution", "rs", a, "err", err)
			}
		}
		if h.gone(now) {
			redo = true
		}
	}
	if redo {
		p.refresh(ctx, all...)
	}
}
