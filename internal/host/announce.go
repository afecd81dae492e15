package host

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// frameConn is the part of a packet socket the Announcer uses.
type frameConn interface {
	WriteTo(b []byte, addr net.Addr) (int, error)
	Close() error
}

// Announcer sends gratuitous ARPs and unsolicited neighbour advertisements.
// It keeps one send-only packet socket per interface and protocol, so that
// repeated announcements (garp_master_repeat, garp_master_refresh) do not
// open a socket each time; a socket is reopened when its interface was
// re-created. Sockets live in the network namespace of the thread that first
// announced on the interface. An Announcer is safe for concurrent use.
//
// On an interface with pacing (SetDefaultPacing, SetPacing, SetGroupPacing,
// ConfigurePacing) an announcement whose turn has come leaves at once; the
// others are queued and sent by one goroutine per paced interface or group,
// at least the interval after the previous one of their kind. Announce
// itself never waits. Unpaced interfaces send at once.
type Announcer struct {
	log *slog.Logger

	mu    sync.Mutex
	conns map[connKey]frameConn

	// Pacing: the configuration and the running lanes, by interface name.
	pmu       sync.Mutex
	paceDef   [numKinds]time.Duration
	paceSpecs []paceSpec
	lanes     map[string]*lane
	closed    bool
	paceWG    sync.WaitGroup

	dropped    atomic.Uint64
	sendErrors atomic.Uint64

	// listen, hwaddr, forwarding and base are replaced in tests.
	listen     func(ifi *net.Interface, proto int) (frameConn, error)
	hwaddr     func(ifname string) (int, net.HardwareAddr, error)
	forwarding func(ifname string) bool
	base       func(ifname string) string
}

type connKey struct {
	ifname string
	index  int
	proto  int
}

// NewAnnouncer returns an Announcer logging to log (nil: no logging).
func NewAnnouncer(log *slog.Logger) *Announcer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Announcer{
		log:        log.With("component", "host"),
		conns:      make(map[connKey]frameConn),
		lanes:      make(map[string]*lane),
		listen:     listenPacket,
		hwaddr:     hardwareAddr,
		forwarding: ipv6Forwarding,
		base:       baseInterface,
	}
}

// Announce sends one announcement per address on ifname from the
// interface's own MAC: a gratuitous ARP for IPv4, an unsolicited neighbour
// advertisement for IPv6. It tries every address and returns the errors
// of those that could not be sent (or, on a paced interface, queued).
func (a *Announcer) Announce(ifname string, addrs []netip.Addr) error {
	return a.AnnounceFrom(ifname, nil, addrs)
}

// AnnounceFrom is Announce with the given source MAC (a VMAC); nil means the
// interface's own MAC.
func (a *Announcer) AnnounceFrom(ifname string, mac net.HardwareAddr, addrs []netip.Addr) error {
	index, ifmac, err := a.hwaddr(ifname)
	if err != nil {
		return err
	}
	if mac == nil {
		mac = ifmac
	}
	if len(mac) != 6 {
		return fmt.Errorf("host: announce on %s: no Ethernet MAC address", ifname)
	}
	ln := a.laneFor(ifname)
	var router, routerKnown bool
	var errs []error
	for _, ip := range addrs {
		ip = ip.Unmap()
		var frame []byte
		var proto int
		kind := kindARP
		if ip.Is4() {
			frame, err = garpFrame(mac, ip)
			proto = etherTypeARP
		} else {
			if !routerKnown {
				router, routerKnown = a.forwarding(ifname), true
			}
			frame, err = naFrame(mac, ip, router)
			proto, kind = etherTypeIPv6, kindNA
		}
		queued := false
		if err == nil {
			queued, err = a.sendOrQueue(ln, kind, ifname, index, proto, ip, frame)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("host: announce %s on %s: %w", ip, ifname, err))
			continue
		}
		if !queued {
			a.log.Debug("address announced", "addr", ip.String(), "dev", ifname)
		}
	}
	return errors.Join(errs...)
}

// sendOrQueue sends frame at once when ifname is not paced (ln is nil) or
// when the lane says its turn has come, and otherwise leaves it to the
// lane; queued reports the latter. The socket is
// opened here in both cases, so that it belongs to the caller's network
// namespace.
func (a *Announcer) sendOrQueue(ln *lane, kind msgKind, ifname string, index, proto int, ip netip.Addr, frame []byte) (queued bool, err error) {
	k := connKey{ifname, index, proto}
	c, err := a.conn(k)
	if err != nil {
		return false, err
	}
	if ln != nil {
		m := pacedMsg{kind: kind, key: k, conn: c, frame: frame, addr: ip, ifname: ifname}
		switch a.offer(ln, m) {
		case offerQueued, offerDropped:
			return true, nil
		}
		// Its turn has come, or the lane was retired meanwhile: send now.
	}
	return false, a.write(k, c, frame)
}

// conn returns the cached socket for k, opening it when needed.
func (a *Announcer) conn(k connKey) (frameConn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ifname, proto := k.ifname, k.proto
	c, ok := a.conns[k]
	if !ok {
		// Drop sockets of an earlier interface of the same name.
		for old, oc := range a.conns {
			if old.ifname == ifname && old.proto == proto {
				oc.Close()
				delete(a.conns, old)
			}
		}
		var err error
		c, err = a.listen(&net.Interface{Name: ifname, Index: k.index}, proto)
		if err != nil {
			return nil, err
		}
		a.conns[k] = c
	}
	return c, nil
}

// write sends frame on c, the socket cached for k, and drops the socket
// after a failure so the next announcement opens a new one.
func (a *Announcer) write(k connKey, c frameConn, frame []byte) error {
	// The destination is already in the frame; the socket address only
	// needs a hardware address of the right length.
	if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])}); err != nil {
		a.mu.Lock()
		if a.conns[k] == c {
			c.Close()
			delete(a.conns, k)
		}
		a.mu.Unlock()
		return err
	}
	return nil
}

// Close stops the pacing goroutines, dropping the announcements still
// queued, and closes every cached socket. Announcements after Close are
// sent at once.
func (a *Announcer) Close() error {
	a.stopPacing()
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for k, c := range a.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(a.conns, k)
	}
	return errors.Join(errs...)
}

// Announce sends the announcements for addrs on ifname once, with a socket
// opened for the occasion. Use an Announcer for repeated announcements.
func Announce(ifname string, addrs []netip.Addr) error {
	a := NewAnnouncer(nil)
	defer a.Close()
	return a.Announce(ifname, addrs)
}

// dropAll is a BPF program accepting nothing: the sockets only send, and
// must not queue a copy of every ARP or IPv6 frame on the interface.
var dropAll = func() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		panic(err)
	}
	return raw
}()

func listenPacket(ifi *net.Interface, proto int) (frameConn, error) {
	return packet.Listen(ifi, packet.Raw, proto, &packet.Config{Filter: dropAll})
}

// ipv6Forwarding reports whether the interface forwards IPv6, in which case
// keepalived sets the Router flag of its advertisements so hosts keep using
// it as a router.
func ipv6Forwarding(ifname string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + ifname + "/forwarding")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
