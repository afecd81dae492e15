package nft

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"vigil/internal/dataplane"
)

// ccEvery is how often the connection-count schedulers' maps are
// recomputed from conntrack's counts; a map is rewritten (one transaction
// for all of them) only when its plan changed.
const ccEvery = 100 * time.Millisecond

// ConnCounter reads the connection counts of real servers, the OS
// boundary of the connection-count schedulers; tests use a fake.
type ConnCounter interface {
	// Count returns the counts of the real servers of svcs (address
	// services), by service and real server.
	Count(ctx context.Context, svcs []dataplane.ServiceKey) (map[dataplane.ServiceKey]map[dataplane.DestKey]Conns, error)
}

// facts are compile's view of the host for service k.
func (p *Plane) facts(k dataplane.ServiceKey) facts {
	return facts{ready: p.ready, conns: func(d dataplane.DestKey) Conns { return p.counts[k][d] }}
}

// isCC is whether s has a connection-count scheduler.
func isCC(s dataplane.Service) bool { return slices.Contains(ccSchedulers, s.Scheduler) }

// startBalance starts the connection-count loop, once; Close stops it.
func (p *Plane) startBalance() {
	if p.stopBalance != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.stopBalance = func() { cancel(); <-done }
	go p.balance(ctx, done)
}

// balance recomputes the connection-count schedulers' plans every
// ccEvery. The counts are read without the plane's lock (a conntrack dump
// takes time on a busy host); the rewrite takes it.
func (p *Plane) balance(ctx context.Context, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(ccEvery)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		var keys []dataplane.ServiceKey
		for k, e := range p.state {
			if isCC(e.Service) {
				keys = append(keys, k)
			}
		}
		counter := p.counter
		p.mu.Unlock()
		if len(keys) == 0 {
			continue
		}
		if counter == nil {
			c, err := newKernelCounter(p.netns)
			if err != nil {
				if !failing {
					p.log.Error("connection counts unreadable: the connection-count schedulers keep their last plan", "err", err)
				}
				failing = true
				continue
			}
			p.mu.Lock()
			p.counter, counter = c, c
			p.mu.Unlock()
		}
		counts, err := counter.Count(ctx, keys)
		if err != nil {
			if !failing && ctx.Err() == nil {
				p.log.Error("connection counts unreadable: the connection-count schedulers keep their last plan", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		p.mu.Lock()
		p.replan(ctx, counts)
		p.mu.Unlock()
	}
}

// replan takes new counts and rewrites, in one transaction, the maps of
// the connection-count services that are off their plan. A plan stays
// while the counts are those it foresaw: the counts it was made from plus
// one active connection on each real server of its first d slots, d being
// the connections opened since (numgen has handed out exactly those
// slots). So while connections only open, the map is never rewritten and
// the choices are IPVS's; a connection ending (or going inactive, or one
// scheduled between a count and its rewrite) puts the counts off the plan,
// and the next read makes a new one.
func (p *Plane) replan(ctx context.Context, counts map[dataplane.ServiceKey]map[dataplane.DestKey]Conns) {
	p.counts = counts
	changes := map[dataplane.ServiceKey]*dataplane.Entry{}
	for k, e := range p.state {
		if !isCC(e.Service) || onPlan(available(e), p.plans[k], p.planBase[k], counts[k]) {
			continue
		}
		changes[k] = &e
	}
	if len(changes) == 0 {
		return
	}
	if err := p.sync(ctx, false, changes); err != nil && ctx.Err() == nil {
		p.log.Error("connection-count schedulers not updated", "err", err)
	}
}

// onPlan is whether cur are the counts plan (indexes into ds) foresaw from
// base.
func onPlan(ds []dataplane.Destination, plan []int, base, cur map[dataplane.DestKey]Conns) bool {
	if len(plan) == 0 {
		return len(ds) == 0
	}
	total := func(m map[dataplane.DestKey]Conns) int {
		n := 0
		for _, c := range m {
			n += int(c.Active) + int(c.Inactive)
		}
		return n
	}
	d := total(cur) - total(base)
	if d < 0 || d > len(plan) {
		return false
	}
	want := map[dataplane.DestKey]Conns{}
	for k, c := range base {
		if c != (Conns{}) {
			want[k] = c
		}
	}
	for _, i := range plan[:d] {
		c := want[ds[i].Key]
		c.Active++
		want[ds[i].Key] = c
	}
	have := map[dataplane.DestKey]Conns{}
	for k, c := range cur {
		if c != (Conns{}) {
			have[k] = c
		}
	}
	return maps.Equal(want, have)
}

// kernelCounter counts conntrack's entries in the plane's namespace: a
// connection of a service is one whose original destination is the
// service's address, protocol and port; its real server is the reply's
// source (the DNAT target).
type kernelCounter struct{ c *conntrack.Conn }

func newKernelCounter(ns interface{ Fd() uintptr }) (*kernelCounter, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(ns.Fd())})
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	return &kernelCounter{c: c}, nil
}

// Conntrack's TCP states that count as active: ESTABLISHED, as IPVS
// counts, and the handshake (SYN_SENT, SYN_RECV), which IPVS counts as
// inactive: a plan is used after it is computed, by when a connection in
// its handshake is established (IPVS decides at the very packet).
const (
	tcpSynSent     = 1
	tcpSynRecv     = 2
	tcpEstablished = 3
)

func (k *kernelCounter) Count(ctx context.Context, svcs []dataplane.ServiceKey) (map[dataplane.ServiceKey]map[dataplane.DestKey]Conns, error) {
	want := map[dataplane.ServiceKey]bool{}
	for _, s := range svcs {
		want[s] = true
	}
	flows, err := k.c.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("conntrack dump: %w", err)
	}
	out := map[dataplane.ServiceKey]map[dataplane.DestKey]Conns{}
	for _, s := range svcs {
		out[s] = map[dataplane.DestKey]Conns{}
	}
	for _, f := range flows {
		o, r := f.TupleOrig, f.TupleReply
		a := o.IP.DestinationAddress.Unmap()
		key := dataplane.ServiceKey{Family: dataplane.FamilyOf(a), Protocol: dataplane.Protocol(o.Proto.Protocol), Addr: a, Port: o.Proto.DestinationPort}
		if !want[key] {
			continue
		}
		d := dataplane.DestKey{Addr: r.IP.SourceAddress.Unmap(), Port: r.Proto.SourcePort}
		c := out[key][d]
		if t := f.ProtoInfo.TCP; t != nil && (t.State == tcpEstablished || t.State == tcpSynSent || t.State == tcpSynRecv) {
			c.Active++
		} else {
			c.Inactive++
		}
		out[key][d] = c
	}
	return out, nil
}

func (k *kernelCounter) close() { k.c.Close() }
