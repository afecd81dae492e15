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
type Announcer struct {
	log *slog.Logger

	mu    sync.Mutex
	conns map[connKey]frameConn

	// listen, hwaddr and forwarding are replaced in tests.
	listen     func(ifi *net.Interface, proto int) (frameConn, error)
	hwaddr     func(ifname string) (int, net.HardwareAddr, error)
	forwarding func(ifname string) bool
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
		listen:     listenPacket,
		hwaddr:     hardwareAddr,
		forwarding: ipv6Forwarding,
	}
}

// Announce sends one announcement per address on ifname from the
// interface's own MAC: a gratuitous ARP for IPv4, an unsolicited neighbour
// advertisement for IPv6. It tries every address and returns the errors
// of those that could not be sent.
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
	var router, routerKnown bool
	var errs []error
	for _, ip := range addrs {
		ip = ip.Unmap()
		var frame []byte
		var proto int
		if ip.Is4() {
			frame, err = garpFrame(mac, ip)
			proto = etherTypeARP
		} else {
			if !routerKnown {
				router, routerKnown = a.forwarding(ifname), true
			}
			frame, err = naFrame(mac, ip, router)
			proto = etherTypeIPv6
		}
		if err == nil {
			err = a.send(ifname, index, proto, frame)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("host: announce %s on %s: %w", ip, ifname, err))
			continue
		}
		a.log.Debug("address announced", "addr", ip.String(), "dev", ifname)
	}
	return errors.Join(errs...)
}

// send writes frame on the cached socket, opening it when needed and
// dropping it after a failure so the next call starts afresh.
func (a *Announcer) send(ifname string, index, proto int, frame []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := connKey{ifname, index, proto}
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
		c, err = a.listen(&net.Interface{Name: ifname, Index: index}, proto)
		if err != nil {
			return err
		}
		a.conns[k] = c
	}
	// The destination is already in the frame; the socket address only
	// needs a hardware address of the right length.
	if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])}); err != nil {
		c.Close()
		delete(a.conns, k)
		return err
	}
	return nil
}

// Close closes every cached socket.
func (a *Announcer) Close() error {
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
