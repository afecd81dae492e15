package lvs

import (
	"context"
	"net/netip"
	"testing"

	"vigil/internal/config"
	"vigil/internal/dataplane/fakeplane"
)

// fuzzConfigs are the configurations FuzzEngine switches between on
// "reload" steps: quorum with hysteresis and a sorry server, inhibit,
// alpha, ha_suspend, a group, and a removed virtual server.
var fuzzConfigs = []string{
	fourReals("4", "2", " sorry_server 10.0.9.9 80\n inhibit_on_failure\n ha_suspend\n") +
		"virtual_server_group G {\n 10.0.3.1-2 80\n fwmark 5\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n alpha\n real_server 10.0.1.1 80 {\n  TCP_CHECK {\n  }\n }\n}\n",
	fourReals("3", "1", " sorry_server 10.0.9.9 80\n sorry_server_inhibit\n"),
	fourReals("1", "0", " alpha\n omega\n"),
}

// FuzzEngine drives an Engine with a sequence of health reports, address
// changes and reloads read from the input, reconciling the changes after
// each step into a fake plane. Whatever the sequence, the plane must then
// hold exactly the engine's desired table (the incremental path never
// drifts from the whole-table one), and the engine must never panic.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0x10, 0x11, 0x12, 0x13, 0x80, 0x14, 0xc1, 0x15, 0xc2, 0x16})
	f.Add([]byte{0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0xc0, 0x01, 0x21, 0x31})
	cfgs := make([]*config.Config, len(fuzzConfigs))
	for i, c := range fuzzConfigs {
		cfg, diags := config.LoadBytes("keepalived.conf", []byte(c), config.LoadOptions{})
		if diags.HasErrors() {
			f.Fatalf("config %d: %s", i, diags.Errors())
		}
		cfgs[i] = cfg
	}
	reals := []string{"10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80", "10.0.1.4:80"}
	f.Fuzz(func(t *testing.T, steps []byte) {
		if len(steps) > 200 {
			steps = steps[:200]
		}
		cfg := cfgs[0]
		e := New(cfg)
		e.Start()
		p := fakeplane.New()
		r := NewReconciler(p, quiet)
		ctx := context.Background()
		for _, b := range steps {
			switch b >> 6 {
			case 0, 1: // health: which real server, up or down, weight
				vs := cfg.VirtualServers[int(b>>5&1)%len(cfg.VirtualServers)]
				id := RealID{VS: IDOf(vs), Real: netip.MustParseAddrPort(reals[b&3])}
				h := Health{Up: b&4 != 0}
				if b&8 != 0 {
					h.Weight, h.Dynamic = int64(b&0x30)-8, true
				}
				e.SetHealth(id, h)
			case 2: // the VIP comes and goes
				e.SetHeld(netip.MustParseAddr("10.0.0.1"), b&1 != 0)
			case 3: // reload
				cfg = cfgs[int(b&0x3f)%len(cfgs)]
				e.Reload(cfg)
			}
			tab, keys := e.Changes()
			if _, err := r.ApplySome(ctx, tab, keys); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if got, want := p.Table().Format(), e.Desired().Format(); got != want {
				t.Fatalf("after step %#x the plane holds\n%s\nwant\n%s", b, got, want)
			}
		}
		e.Stop()
		if _, err := r.RemoveOwned(ctx); err != nil || len(p.Table()) != 0 {
			t.Fatalf("stop: %v, left\n%s", err, p.Table().Format())
		}
	})
}
