package fakeplane

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"vigil/internal/dataplane"
)

// TestFakeBehavesLikeAKernel: the fake refuses what IPVS refuses, counts
// every changing call (refused ones too), and fails on demand.
func TestFakeBehavesLikeAKernel(t *testing.T) {
	ctx := context.Background()
	p := New()
	k := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}
	d := dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 80}, Weight: 1}
	steps := []struct {
		name string
		err  error
		want error
	}{
		{"dest before service", p.AddDestination(ctx, k, d), syscall.ESRCH},
		{"add service", p.AddService(ctx, dataplane.Service{Key: k, Scheduler: "rr"}), nil},
		{"add it again", p.AddService(ctx, dataplane.Service{Key: k, Scheduler: "rr"}), syscall.EEXIST},
		{"add dest", p.AddDestination(ctx, k, d), nil},
		{"add dest again", p.AddDestination(ctx, k, d), syscall.EEXIST},
		{"update missing dest", p.UpdateDestination(ctx, k, dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.9")}}), syscall.ENOENT},
		{"unsupported", p.AddService(ctx, dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: 99, Addr: netip.MustParseAddr("10.0.0.2")}}), dataplane.ErrUnsupported},
		{"delete service", p.DeleteService(ctx, k), nil},
		{"delete it again", p.DeleteService(ctx, k), syscall.ESRCH},
	}
	for _, s := range steps {
		if (s.want == nil) != (s.err == nil) || (s.want != nil && !errors.Is(s.err, s.want)) {
			t.Errorf("%s: %v, want %v", s.name, s.err, s.want)
		}
	}
	if p.Count() != len(steps) {
		t.Errorf("counted %d calls, want %d", p.Count(), len(steps))
	}
	boom := errors.New("boom")
	p.FailWith(func(c Call) error {
		if c.Op == OpAddService {
			return boom
		}
		return nil
	})
	if err := p.AddService(ctx, dataplane.Service{Key: k, Scheduler: "rr"}); !errors.Is(err, boom) || len(p.Table()) != 0 {
		t.Errorf("injected failure: %v, table %v", err, p.Table())
	}
	if err := p.StartSyncDaemon(ctx, dataplane.SyncDaemon{State: dataplane.SyncMaster, Interface: "eth0"}); err != nil || len(p.SyncDaemons()) != 1 {
		t.Errorf("sync daemon: %v", err)
	}
	if err := p.StopSyncDaemon(ctx, dataplane.SyncBackup); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("stopping a daemon that does not run: %v", err)
	}
}
