package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/dataplane"
	"vigil/internal/netlab"
)

// kernelTable covers every kind of key and option the plane can express.
func kernelTable() dataplane.Table {
	svc := func(s dataplane.Service, ds ...dataplane.Destination) (dataplane.ServiceKey, dataplane.Entry) {
		e := dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for _, d := range ds {
			e.Dests[d.Key] = d
		}
		return s.Key, e
	}
	dk := func(a string, port uint16) dataplane.DestKey {
		return dataplane.DestKey{Addr: netip.MustParseAddr(a), Port: port}
	}
	t := dataplane.Table{}
	add := func(k dataplane.ServiceKey, e dataplane.Entry) { t[k] = e }
	add(svc(persistent,
		dataplane.Destination{Key: dk("10.0.1.1", 8080), Weight: 3},
		dataplane.Destination{Key: dk("10.0.1.2", 8080), Weight: 0, UpperThreshold: 100, LowerThreshold: 10}))
	add(svc(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.2"), Port: 443},
		Scheduler: "rr", PersistenceBits: 32},
		dataplane.Destination{Key: dk("10.0.2.1", 443), Forwarding: dataplane.Forwarding{Method: dataplane.DR}, Weight: 1},
		dataplane.Destination{Key: dk("10.0.2.2", 443), Forwarding: dataplane.Forwarding{Method: dataplane.Tunnel}, Weight: 1},
		dataplane.Destination{Key: dk("10.0.2.3", 443), Forwarding: dataplane.Forwarding{Method: dataplane.Tunnel, TunnelType: dataplane.GUE, TunnelPort: 6080, TunnelChecksum: dataplane.Checksum}, Weight: 1},
		dataplane.Destination{Key: dk("10.0.2.4", 443), Forwarding: dataplane.Forwarding{Method: dataplane.Tunnel, TunnelType: dataplane.GRE}, Weight: 1}))
	add(svc(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoUDP, Addr: netip.MustParseAddr("10.0.0.3"), Port: 53},
		Scheduler: "rr", OnePacket: true, PersistenceBits: 32},
		dataplane.Destination{Key: dk("10.0.3.1", 5353), Weight: 1}))
	add(svc(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoSCTP, Addr: netip.MustParseAddr("10.0.0.5"), Port: 9999},
		Scheduler: "sh", Flags: dataplane.SHPort | dataplane.SHFallback, PersistenceBits: 32},
		dataplane.Destination{Key: dk("10.0.5.1", 9999), Weight: 1}))
	add(svc(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv6, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("fd00::10"), Port: 80},
		Scheduler: "wlc", Persistence: 2 * time.Minute, PersistenceBits: 64},
		dataplane.Destination{Key: dk("fd00::1:1", 8080), Weight: 1}))
	add(svc(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 7}, Scheduler: "rr", PersistenceBits: 32},
		dataplane.Destination{Key: dk("10.0.7.1", 0), Forwarding: dataplane.Forwarding{Method: dataplane.DR}, Weight: 2}))
	add(svc(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv6, Fwmark: 9}, Scheduler: "rr", PersistenceBits: 128},
		dataplane.Destination{Key: dk("fd00::2:1", 0), Forwarding: dataplane.Forwarding{Method: dataplane.DR}, Weight: 1}))
	return t
}

// TestKernel programs a real IPVS table in a namespace of its own: a table
// with every kind of service and destination goes in and reads back
// unchanged, updates and deletions take effect, an unknown scheduler is
// refused with the kernel's reason, and ipvsadm's view is logged. It needs
// root and a kernel with IPVS (the VM lab); elsewhere it skips.
func TestKernel(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Skip("IPVS is not loaded in this kernel; the VM lab runs this test")
	}
	lab := netlab.New(t)
	h := lab.AddHost("director")
	var p *Plane
	if err := h.Do(func() (err error) { p, err = Open(Options{}); return }); err != nil {
		t.Fatalf("open IPVS in the namespace: %v", err)
	}
	defer p.Close()
	ctx := context.Background()

	want := kernelTable()
	for _, k := range want.Keys() {
		e := want[k]
		if err := p.AddService(ctx, e.Service); err != nil {
			t.Errorf("add %s: %v", k, err)
			continue
		}
		for _, d := range e.Dests {
			if err := p.AddDestination(ctx, k, d); err != nil {
				t.Errorf("add %s to %s: %v", d.Key, k, err)
			}
		}
	}
	check := func(stage string) {
		t.Helper()
		got, err := dataplane.Read(ctx, p)
		if err != nil {
			t.Fatalf("%s: read back: %v", stage, err)
		}
		if got.Format() != want.Format() {
			t.Errorf("%s: the kernel holds\n%s\nwant\n%s", stage, got.Format(), want.Format())
		}
	}
	check("after adding")

	s := want[tcp4].Service
	s.Scheduler, s.Persistence = "rr", time.Minute
	if err := p.UpdateService(ctx, s); err != nil {
		t.Errorf("update service: %v", err)
	}
	d := want[tcp4].Dests[dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.2"), Port: 8080}]
	d.Weight = 9
	if err := p.UpdateDestination(ctx, tcp4, d); err != nil {
		t.Errorf("update destination: %v", err)
	}
	if err := p.DeleteDestination(ctx, tcp4, dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 8080}); err != nil {
		t.Errorf("delete destination: %v", err)
	}
	fw := dataplane.ServiceKey{Family: dataplane.IPv6, Fwmark: 9}
	if err := p.DeleteService(ctx, fw); err != nil {
		t.Errorf("delete service: %v", err)
	}
	e := want[tcp4]
	e.Service = s
	e.Dests[d.Key] = d
	delete(e.Dests, dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 8080})
	want[tcp4] = e
	delete(want, fw)
	check("after changes")

	to := dataplane.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	if err := p.SetTimeouts(ctx, to); err != nil {
		t.Errorf("set timeouts: %v", err)
	} else if got, err := p.Timeouts(ctx); err != nil || got != to {
		t.Errorf("timeouts %+v %v, want %+v", got, err, to)
	}

	if _, err := exec.LookPath("ipvsadm"); err == nil {
		out, err := h.Exec(ctx, "ipvsadm", "-Sn")
		t.Logf("ipvsadm -Sn (%v):\n%s", err, out)
	}

	err := p.AddService(ctx, dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.99"), Port: 1}, Scheduler: "nosuch", PersistenceBits: 32})
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "unknown scheduler") {
		t.Errorf("unknown scheduler: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Errorf("flush: %v", err)
	}
	if got, err := p.Services(ctx); err != nil || len(got) != 0 {
		t.Errorf("after flush: %d services, %v", len(got), err)
	}
}

// TestKernelPipeline sends a start's worth of changes through Pipeline to
// the real kernel, more than one write's window, with refusals placed in
// it: a service with an unknown scheduler, a service added twice, a
// destination of a service that does not exist, and a destination added
// twice. Each refusal is reported for exactly its change with the kernel's
// errno and hint, everything else is in the table afterwards, and a
// pipelined update and deletion take effect. It needs root and a kernel
// with IPVS (the VM lab); elsewhere it skips.
func TestKernelPipeline(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Skip("IPVS is not loaded in this kernel; the VM lab runs this test")
	}
	lab := netlab.New(t)
	h := lab.AddHost("piper")
	var p *Plane
	if err := h.Do(func() (err error) { p, err = Open(Options{}); return }); err != nil {
		t.Fatalf("open IPVS in the namespace: %v", err)
	}
	defer p.Close()
	if p.pipe == nil {
		t.Fatal("Open gave no pipe: Pipeline would fall back to one request at a time")
	}
	ctx := context.Background()
	const services = 400 // 400 × 3 changes: several windows
	cs := startChanges(services)
	want := dataplane.Table{}
	for _, c := range cs {
		k := c.Service.Key
		if c.Kind == dataplane.ChangeAddService {
			want[k] = dataplane.Entry{Service: c.Service, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		} else {
			want[k].Dests[c.Dest.Key] = c.Dest
		}
	}
	bad := map[int]struct {
		errno syscall.Errno
		text  string
	}{}
	// Change 30 is service 10's add: an unknown scheduler. Its two
	// destinations (31, 32) then have no service.
	cs[30].Service.Scheduler = "nosuch"
	delete(want, cs[30].Service.Key)
	bad[30] = struct {
		errno syscall.Errno
		text  string
	}{syscall.ENOENT, "add service TCP 10.1.0.10:80: netlink receive: no such file or directory (unknown scheduler"}
	for _, i := range []int{31, 32} {
		bad[i] = struct {
			errno syscall.Errno
			text  string
		}{syscall.ESRCH, "add destination " + cs[i].Dest.Key.String() + " of TCP 10.1.0.10:80"}
	}
	// Service 200 added twice (the second time, late in the list), a
	// destination of service 300 added twice.
	cs = append(cs, cs[600], cs[901])
	bad[len(cs)-2] = struct {
		errno syscall.Errno
		text  string
	}{syscall.EEXIST, "add service TCP 10.1.0.200:80"}
	bad[len(cs)-1] = struct {
		errno syscall.Errno
		text  string
	}{syscall.EEXIST, "add destination " + cs[901].Dest.Key.String() + " of TCP 10.1.1.44:80"}
	errs := make([]error, len(cs))
	n, err := p.Pipeline(ctx, len(cs), func(i int) dataplane.Change { return cs[i] }, func(i int, err error) { errs[i] = err })
	if n != len(cs) || err != nil {
		t.Fatalf("Pipeline: %d of %d, %v", n, len(cs), err)
	}
	for i, e := range errs {
		b, isBad := bad[i]
		switch {
		case isBad && (!errors.Is(e, b.errno) || !strings.Contains(e.Error(), b.text)):
			t.Errorf("change %d: %v, want %v with %q", i, e, b.errno, b.text)
		case !isBad && e != nil:
			t.Errorf("change %d (%v %s): %v", i, cs[i].Kind, changeWhat(cs[i]), e)
		}
	}
	got, err := dataplane.Read(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format() != want.Format() {
		t.Errorf("the kernel holds %d services, want %d:\n%s", len(got), len(want), got.Format())
	}
	// An update and a deletion, pipelined, and a change of a service the
	// kernel does not have.
	k0, k1 := cs[0].Service.Key, cs[3].Service.Key
	d := cs[1].Dest
	d.Weight = 7
	more := []dataplane.Change{
		{Kind: dataplane.ChangeUpdateDest, Service: dataplane.Service{Key: k0}, Dest: d},
		{Kind: dataplane.ChangeDeleteService, Service: dataplane.Service{Key: k1}},
		{Kind: dataplane.ChangeDeleteService, Service: dataplane.Service{Key: cs[30].Service.Key}},
	}
	errs = make([]error, len(more))
	if n, err := p.Pipeline(ctx, len(more), func(i int) dataplane.Change { return more[i] }, func(i int, err error) { errs[i] = err }); n != 3 || err != nil {
		t.Fatalf("Pipeline: %d, %v", n, err)
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], syscall.ESRCH) {
		t.Errorf("update, delete, delete of a missing service: %v", errs)
	}
	want[k0].Dests[d.Key] = d
	delete(want, k1)
	if got, err := dataplane.Read(ctx, p); err != nil || got.Format() != want.Format() {
		t.Errorf("after the changes (%v) the kernel holds\n%s", err, got.Format())
	}
	// The single-request path shares the socket and still works after it.
	if err := p.DeleteService(ctx, k0); err != nil {
		t.Errorf("a single request after pipelining: %v", err)
	}
	t.Logf("window %d requests per write", p.pipe.Window())
}
