package ipvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"vigil/internal/dataplane"
)

// fakeConn records requests and answers them from a script.
type fakeConn struct {
	family    uint16
	sent      []genetlink.Message
	flags     []netlink.HeaderFlags
	reply     func(m genetlink.Message) ([]genetlink.Message, error)
	closed    bool
	lookups   []string
	lookErr   error
	deadlines []time.Time
}

func (c *fakeConn) Execute(m genetlink.Message, family uint16, flags netlink.HeaderFlags) ([]genetlink.Message, error) {
	if family != c.family {
		return nil, fmt.Errorf("sent to family %d, want %d", family, c.family)
	}
	c.sent = append(c.sent, m)
	c.flags = append(c.flags, flags)
	if c.reply != nil {
		return c.reply(m)
	}
	return nil, nil
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

func (c *fakeConn) SetDeadline(t time.Time) error {
	if t.IsZero() {
		return errors.New("no deadline")
	}
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *fakeConn) GetFamily(name string) (genetlink.Family, error) {
	c.lookups = append(c.lookups, name)
	if c.lookErr != nil {
		return genetlink.Family{}, c.lookErr
	}
	return genetlink.Family{ID: c.family, Name: name, Version: 1}, nil
}

// TestPlaneRequests: each Plane call sends one request with the right
// command, flags and body (the body's layout is pinned by the goldens).
func TestPlaneRequests(t *testing.T) {
	littleEndianOnly(t)
	ctx := context.Background()
	svc443 := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.2"), Port: 443}
	tests := []struct {
		name   string
		call   func(p *Plane) error
		cmd    uint8
		flags  netlink.HeaderFlags
		golden string
	}{
		{"add service", func(p *Plane) error { return p.AddService(ctx, persistent) }, cmdNewService, netlink.Request | netlink.Acknowledge, "new_service_tcp4.hex"},
		{"update service", func(p *Plane) error { return p.UpdateService(ctx, persistent) }, cmdSetService, netlink.Request | netlink.Acknowledge, ""},
		{"delete service", func(p *Plane) error { return p.DeleteService(ctx, tcp4) }, cmdDelService, netlink.Request | netlink.Acknowledge, ""},
		{"add destination", func(p *Plane) error { return p.AddDestination(ctx, svc443, gue) }, cmdNewDest, netlink.Request | netlink.Acknowledge, "new_dest_gue.hex"},
		{"update destination", func(p *Plane) error { return p.UpdateDestination(ctx, svc443, gue) }, cmdSetDest, netlink.Request | netlink.Acknowledge, ""},
		{"delete destination", func(p *Plane) error { return p.DeleteDestination(ctx, svc443, gue.Key) }, cmdDelDest, netlink.Request | netlink.Acknowledge, ""},
		{"flush", func(p *Plane) error { return p.Flush(ctx) }, cmdFlush, netlink.Request | netlink.Acknowledge, ""},
		{"timeouts", func(p *Plane) error {
			return p.SetTimeouts(ctx, dataplane.Timeouts{TCP: 900e9, TCPFin: 120e9, UDP: 300e9})
		}, cmdSetConfig, netlink.Request | netlink.Acknowledge, "set_config.hex"},
		{"start sync daemon", func(p *Plane) error {
			return p.StartSyncDaemon(ctx, dataplane.SyncDaemon{State: dataplane.SyncMaster, Interface: "eth0", SyncID: 5, MaxLen: 1472,
				Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 2})
		}, cmdNewDaemon, netlink.Request | netlink.Acknowledge, "new_daemon.hex"},
		{"stop sync daemon", func(p *Plane) error { return p.StopSyncDaemon(ctx, dataplane.SyncBackup) }, cmdDelDaemon, netlink.Request | netlink.Acknowledge, ""},
	}
	for _, tt := range tests {
		c := &fakeConn{family: 42}
		p := New(c, 42)
		if err := tt.call(p); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(c.sent) != 1 {
			t.Errorf("%s: sent %d messages, want 1", tt.name, len(c.sent))
			continue
		}
		m := c.sent[0]
		if m.Header.Command != tt.cmd || m.Header.Version != familyVersion || c.flags[0] != tt.flags {
			t.Errorf("%s: command %d version %d flags %v, want %d 1 %v", tt.name, m.Header.Command, m.Header.Version, c.flags[0], tt.cmd, tt.flags)
		}
		if tt.golden != "" {
			got, _ := m.MarshalBinary()
			if want := readHex(t, tt.golden); !bytes.Equal(got, want) {
				t.Errorf("%s: body differs from %s:\ngot  %x\nwant %x", tt.name, tt.golden, got, want)
			}
		}
	}
}

// TestPlaneListing: Services and Destinations dump and decode the kernel's
// replies; the destinations request names its service.
func TestPlaneListing(t *testing.T) {
	littleEndianOnly(t)
	ctx := context.Background()
	var svcReply, destReply genetlink.Message
	if err := svcReply.UnmarshalBinary(readHex(t, "reply_service.hex")); err != nil {
		t.Fatal(err)
	}
	if err := destReply.UnmarshalBinary(readHex(t, "reply_dest.hex")); err != nil {
		t.Fatal(err)
	}
	c := &fakeConn{family: 7, reply: func(m genetlink.Message) ([]genetlink.Message, error) {
		switch m.Header.Command {
		case cmdGetService:
			return []genetlink.Message{svcReply}, nil
		case cmdGetDest:
			k, err := decodeServiceReply(m.Data)
			if err == nil && k.Key == tcp4 {
				return []genetlink.Message{destReply}, nil
			}
			return nil, syscall.ESRCH
		}
		return nil, syscall.EINVAL
	}}
	p := New(c, 7)
	tab, err := dataplane.Read(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// The listing carries the counters of the replies.
	wantSvc, wantDest := persistent, gue
	wantSvc.Stats = dataplane.Stats{Conns: 7}
	wantDest.Stats = &dataplane.Stats{Conns: 9, ActiveConns: 3, InactConns: 4}
	if len(tab) != 1 || tab[tcp4].Service != wantSvc || len(tab[tcp4].Dests) != 1 || !sameDest(tab[tcp4].Dests[gue.Key], wantDest) {
		t.Errorf("table %+v, want the service %+v with the destination %+v", tab, wantSvc, wantDest)
	}
	for i, f := range c.flags {
		if f != netlink.Request|netlink.Dump {
			t.Errorf("request %d flags %v, want a dump", i, f)
		}
	}
}

// TestPlaneErrors: the kernel's errno reaches the caller (errors.Is), with
// the operation and a hint in the text.
func TestPlaneErrors(t *testing.T) {
	c := &fakeConn{family: 1, reply: func(genetlink.Message) ([]genetlink.Message, error) {
		return nil, &netlink.OpError{Op: "receive", Err: syscall.ENOENT}
	}}
	p := New(c, 1)
	err := p.AddService(context.Background(), dataplane.Service{Key: tcp4, Scheduler: "nosuch"})
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("error %v does not wrap ENOENT", err)
	}
	for _, want := range []string{"add service", "TCP 10.0.0.1:80", "unknown scheduler"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Every request has a deadline: the context's, else Timeout.
	ctx, cancelT := context.WithTimeout(context.Background(), time.Second)
	defer cancelT()
	c.deadlines = nil
	p.DeleteService(ctx, tcp4)
	p.DeleteService(context.Background(), tcp4)
	if dl, _ := ctx.Deadline(); len(c.deadlines) != 2 || !c.deadlines[0].Equal(dl) || c.deadlines[1].Sub(dl) < Timeout/2 {
		t.Errorf("deadlines %v, want the context's, then about now+%v", c.deadlines, Timeout)
	}
	// A cancelled context sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.sent = nil
	if err := p.DeleteService(ctx, tcp4); !errors.Is(err, context.Canceled) || len(c.sent) != 0 {
		t.Errorf("cancelled: %v, %d sent", err, len(c.sent))
	}
}

// TestOpenWithoutIPVS: a kernel without the IPVS family gives ErrNoIPVS,
// which tells what to use instead, and the connection is closed.
func TestOpenWithoutIPVS(t *testing.T) {
	c := &fakeConn{lookErr: fmt.Errorf("genetlink: %w", os.ErrNotExist)}
	if _, err := openOn(c); !errors.Is(err, ErrNoIPVS) || !c.closed {
		t.Fatalf("openOn: %v (closed %t), want ErrNoIPVS", err, c.closed)
	}
	if !strings.Contains(ErrNoIPVS.Error(), "--dataplane nftables") {
		t.Errorf("ErrNoIPVS does not say what to use instead: %v", ErrNoIPVS)
	}
	other := &fakeConn{lookErr: syscall.EPERM}
	if _, err := openOn(other); errors.Is(err, ErrNoIPVS) || !errors.Is(err, syscall.EPERM) {
		t.Errorf("another lookup failure became %v", err)
	}
	ok := &fakeConn{family: 33}
	p, err := openOn(ok)
	if err != nil || p.family != 33 || ok.lookups[0] != "IPVS" {
		t.Errorf("openOn: %v, family %v, lookups %v", err, p, ok.lookups)
	}
}

// TestOpenOnThisKernel asks the running kernel. Where IPVS is missing (this
// project's build machines) Open must say so; where it exists, the test
// skips rather than load a module into the host.
func TestOpenOnThisKernel(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("IPVS is loaded here; the missing-IPVS path needs a kernel without it")
	}
	var uts syscall.Utsname
	if err := syscall.Uname(&uts); err == nil {
		rel := make([]byte, 0, len(uts.Release))
		for _, c := range uts.Release {
			if c == 0 {
				break
			}
			rel = append(rel, byte(c))
		}
		for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
			if _, err := os.Stat("/lib/modules/" + string(rel) + "/kernel/net/netfilter/ipvs/ip_vs" + ext); err == nil {
				t.Skip("the ip_vs module is installed; looking IPVS up would load it into the host")
			}
		}
	}
	p, err := Open(Options{})
	if err == nil {
		p.Close()
		t.Skip("this kernel has IPVS built in")
	}
	if !errors.Is(err, ErrNoIPVS) {
		t.Fatalf("Open on a kernel without IPVS: %v, want ErrNoIPVS", err)
	}
}
