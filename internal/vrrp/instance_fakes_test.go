package vrrp

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeNet is a broadcast segment between instances: multicast adverts reach
// every other node, unicast ones the node with the destination address. All
// tests using it run inside a synctest bubble, so time is virtual.
type fakeNet struct {
	mu    sync.Mutex
	nodes []*node
	cut   map[netip.Addr]bool // nodes whose packets are lost
}

// sentAdvert is one advert a node put on the wire.
type sentAdvert struct {
	at       time.Time
	dst      netip.Addr
	priority uint8
}

type node struct {
	net  *fakeNet
	addr netip.Addr
	inst *Instance
	in   chan Received

	addrs *fakeAddrs
	ann   *fakeAnnouncer

	mu   sync.Mutex
	sent []sentAdvert

	cancel context.CancelFunc
	done   chan error
}

func newFakeNet() *fakeNet { return &fakeNet{cut: map[netip.Addr]bool{}} }

// add creates a node running cfg; it is not started.
func (n *fakeNet) add(t *testing.T, cfg InstanceConfig) *node {
	t.Helper()
	return n.addLogged(t, cfg, nil)
}

// addLogged is add with the instance logging to log.
func (n *fakeNet) addLogged(t *testing.T, cfg InstanceConfig, log *slog.Logger) *node {
	t.Helper()
	nd := &node{
		net:   n,
		addr:  cfg.SrcAddr,
		in:    make(chan Received, 256),
		addrs: &fakeAddrs{held: map[netip.Prefix]bool{}},
		ann:   &fakeAnnouncer{},
		done:  make(chan error, 1),
	}
	inst, err := NewInstance(cfg, Deps{Sender: nd, Addresses: nd.addrs, Announcer: nd.ann, Clock: SystemClock()}, log)
	if err != nil {
		t.Fatalf("NewInstance(%s): %v", cfg.Name, err)
	}
	nd.inst = inst
	n.mu.Lock()
	n.nodes = append(n.nodes, nd)
	n.mu.Unlock()
	return nd
}

func (n *fakeNet) setCut(a netip.Addr, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[a] = cut
}

// Send implements Sender for the node.
func (nd *node) Send(payload []byte, src, dst netip.Addr) error {
	nd.mu.Lock()
	nd.sent = append(nd.sent, sentAdvert{at: time.Now(), dst: dst, priority: payload[2]})
	nd.mu.Unlock()
	n := nd.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut[nd.addr] {
		return nil
	}
	for _, other := range n.nodes {
		if other == nd || n.cut[other.addr] {
			continue
		}
		if !dst.IsMulticast() && dst != other.addr {
			continue
		}
		select {
		case other.in <- Received{Src: src, Dst: dst, TTL: 255, Payload: append([]byte(nil), payload...)}:
		default:
		}
	}
	return nil
}

func (nd *node) start(ctx context.Context) {
	ctx, nd.cancel = context.WithCancel(ctx)
	go func() { nd.done <- nd.inst.Run(ctx, nd.in) }()
}

// stop cancels the node and waits for Run to return.
func (nd *node) stop(t *testing.T) {
	t.Helper()
	nd.cancel()
	if err := <-nd.done; err != nil {
		t.Errorf("%s: Run = %v", nd.inst.cfg.Name, err)
	}
}

func (nd *node) state() State { return nd.inst.Snapshot().State }

func (nd *node) adverts() []sentAdvert {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return append([]sentAdvert(nil), nd.sent...)
}

type fakeAddrs struct {
	mu      sync.Mutex
	held    map[netip.Prefix]bool
	adds    int
	removes int
}

func (f *fakeAddrs) Add(v VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[v.Prefix] = true
	f.adds++
	return nil
}

func (f *fakeAddrs) Remove(v VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, v.Prefix)
	f.removes++
	return nil
}

func (f *fakeAddrs) holds(p string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[netip.MustParsePrefix(p)]
}

func (f *fakeAddrs) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.held)
}

type announcement struct {
	at    time.Time
	dev   string
	addrs []netip.Addr
}

type fakeAnnouncer struct {
	mu    sync.Mutex
	calls []announcement
}

func (f *fakeAnnouncer) Announce(dev string, addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, announcement{at: time.Now(), dev: dev, addrs: append([]netip.Addr(nil), addrs...)})
	return nil
}

func (f *fakeAnnouncer) list() []announcement {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]announcement(nil), f.calls...)
}
