package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"vigil/internal/config"
	"vigil/internal/host"
	"vigil/internal/vrrp"
	"vigil/internal/vrrp/transport"
)

// vrrpRunner owns the running VRRP side: one goroutine per instance, one
// socket (and reader) per interface and family, the host address manager.
type vrrpRunner struct {
	log       *slog.Logger
	mgr       *host.Manager
	ann       *host.Announcer
	conns     map[connKey]*sharedConn
	instances []*vrrp.Instance
	cancel    context.CancelFunc // stops the instances
	instWG    sync.WaitGroup
	muxCancel context.CancelFunc // stops the socket readers, after the instances
	muxWG     sync.WaitGroup
}

type connKey struct {
	ifname string
	family int
}

// sharedConn is one socket shared by every instance on an interface and
// family, with the multicast groups it has joined.
type sharedConn struct {
	conn   *transport.Conn
	mux    *transport.Mux
	joined map[netip.Addr]bool
}

// connSender adapts a transport.Conn to what an instance sends through.
type connSender struct{ c *transport.Conn }

func (s connSender) Send(payload []byte, src, dst netip.Addr) error {
	return s.c.WriteTo(payload, src, dst)
}

// hostAddresses adapts the host manager to an instance's Addresses, filling
// in the instance's interface for VIPs that name no device.
type hostAddresses struct {
	mgr *host.Manager
	dev string
}

func (h hostAddresses) Add(v vrrp.VIP) error    { return h.mgr.Add(hostAddress(v, h.dev)) }
func (h hostAddresses) Remove(v vrrp.VIP) error { return h.mgr.Remove(hostAddress(v, h.dev)) }

// startVRRP translates every instance, then opens sockets and starts them.
// Translation comes first so that a config that cannot run (no address to
// send from, say) fails before any socket is opened or address is added.
func startVRRP(ctx context.Context, cfg *config.Config, stateDir string, log *slog.Logger) (*vrrpRunner, error) {
	var icfgs []vrrp.InstanceConfig
	var errs []error
	for _, in := range cfg.Instances {
		ic, err := instanceConfig(in, primaryAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.Pos, err))
			continue
		}
		icfgs = append(icfgs, ic)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	mgr, err := host.NewManager(filepath.Join(stateDir, "addresses.json"), log)
	if err != nil {
		return nil, err
	}
	removed, err := mgr.CleanupStale()
	for _, a := range removed {
		log.Warn("removed an address left behind by an earlier run", "address", a.String())
	}
	if err != nil {
		return nil, fmt.Errorf("cleaning up after an earlier run: %w", err)
	}

	r := &vrrpRunner{log: log, mgr: mgr, ann: host.NewAnnouncer(log), conns: map[connKey]*sharedConn{}}
	muxCtx, muxCancel := context.WithCancel(context.Background())
	r.muxCancel = muxCancel
	instCtx, cancel := context.WithCancel(ctx)
	r.cancel = cancel

	type started struct {
		inst *vrrp.Instance
		in   <-chan vrrp.Received
	}
	var todo []started
	for _, ic := range icfgs {
		sc, err := r.conn(muxCtx, ic.Interface, ic.Family)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("vrrp_instance %s: %w", ic.Name, err)
		}
		if !ic.Unicast {
			g := ic.Group
			if !g.IsValid() {
				g = vrrp.MulticastGroup4
				if ic.Family == 6 {
					g = vrrp.MulticastGroup6
				}
			}
			if !sc.joined[g] {
				if err := sc.conn.JoinGroup(g); err != nil {
					r.stop()
					return nil, fmt.Errorf("vrrp_instance %s: joining %s on %s: %w", ic.Name, g, ic.Interface, err)
				}
				sc.joined[g] = true
			}
		}
		inst, err := vrrp.NewInstance(ic, vrrp.Deps{
			Sender:    connSender{sc.conn},
			Addresses: hostAddresses{mgr: mgr, dev: ic.Interface},
			Announcer: r.ann,
			Clock:     vrrp.SystemClock(),
		}, log) // the instance adds its own name and VRID to its log lines
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("vrrp_instance %s: %w", ic.Name, err)
		}
		sub, unsub := sc.mux.Subscribe(ic.VRID, 256)
		in := make(chan vrrp.Received, 256)
		r.muxWG.Add(1)
		go func() {
			defer r.muxWG.Done()
			defer unsub()
			forward(muxCtx, sub, in)
		}()
		r.instances = append(r.instances, inst)
		todo = append(todo, started{inst, in})
	}

	// Link state: start from what the interfaces are now, then follow
	// netlink's link events.
	for _, inst := range r.instances {
		ifname := inst.Config().Interface
		if up, err := host.LinkUp(ifname); err != nil {
			log.Warn("cannot read link state; assuming up", "instance", inst.Config().Name, "interface", ifname, "err", err)
		} else {
			inst.SetInterfaceUp(up)
		}
	}
	links, err := host.WatchLinks(instCtx)
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("watching links: %w", err)
	}
	r.instWG.Add(1)
	go func() {
		defer r.instWG.Done()
		for ev := range links {
			for _, inst := range r.instances {
				if inst.Config().Interface == ev.Name {
					inst.SetInterfaceUp(ev.Up)
				}
			}
		}
	}()

	for _, s := range todo {
		s := s
		r.instWG.Add(2)
		go func() {
			defer r.instWG.Done()
			if err := s.inst.Run(instCtx, s.in); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("instance stopped with an error", "instance", s.inst.Config().Name, "err", err)
			}
		}()
		go func() {
			defer r.instWG.Done()
			for ch := range s.inst.Changes() {
				_ = ch // transitions are logged by the instance itself; notify hooks attach here
			}
		}()
	}
	return r, nil
}

// primaryAddr is host.PrimaryAddr with the family as 4 or 6.
func primaryAddr(ifname string, family int, exclude ...netip.Addr) (netip.Addr, error) {
	af := unix.AF_INET
	if family == 6 {
		af = unix.AF_INET6
	}
	return host.PrimaryAddr(ifname, af, exclude...)
}

// forward copies packets from a transport subscription to an instance.
func forward(ctx context.Context, sub <-chan transport.Received, in chan<- vrrp.Received) {
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-sub:
			if !ok {
				return
			}
			r := vrrp.Received{Src: p.Src, Dst: p.Dst, TTL: p.TTL, Payload: p.Payload}
			select {
			case in <- r:
			default:
				// The instance is behind; dropping the oldest news is what a
				// full socket buffer would do too, and never blocks the reader.
			}
		}
	}
}

// conn returns the shared socket for an interface and family, opening it
// and starting its reader on first use.
func (r *vrrpRunner) conn(ctx context.Context, ifname string, family int) (*sharedConn, error) {
	k := connKey{ifname, family}
	if sc, ok := r.conns[k]; ok {
		return sc, nil
	}
	c, err := transport.Listen(ifname, family)
	if err != nil {
		return nil, err
	}
	sc := &sharedConn{conn: c, mux: transport.NewMux(c, r.log), joined: map[netip.Addr]bool{}}
	r.conns[k] = sc
	r.muxWG.Add(1)
	go func() {
		defer r.muxWG.Done()
		if err := sc.mux.Run(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("socket reader stopped", "interface", ifname, "family", family, "err", err)
		}
	}()
	return sc, nil
}

// stop shuts the instances down (each master sends priority 0 and removes
// its VIPs), then closes the sockets and removes anything still recorded as
// ours, so no address is left behind.
func (r *vrrpRunner) stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.instWG.Wait()
	if r.muxCancel != nil {
		r.muxCancel()
	}
	for _, sc := range r.conns {
		sc.conn.Close()
	}
	r.muxWG.Wait()
	if err := r.mgr.RemoveAll(); err != nil {
		r.log.Error("removing addresses", "err", err)
	}
	if r.ann != nil {
		r.ann.Close()
	}
}
