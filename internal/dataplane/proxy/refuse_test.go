package proxy

import (
	"errors"
	"strings"
	"testing"

	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/lvs"
)

// refusedConf has a service the proxy serves (line 1) and one it cannot:
// direct routing (line 7). Addresses are loopback so the served one binds.
const refusedConf = `virtual_server 127.0.0.30 18080 {
 lb_algo wlc
 lb_kind NAT
 protocol TCP
 real_server 127.0.0.1 18081 { weight 1 }
}
virtual_server 127.0.0.31 18080 {
 lb_algo rr
 lb_kind DR
 protocol TCP
 real_server 127.0.0.1 18081 { weight 1 }
}
`

// TestRefusedWithFileLine: driven by the lvs engine from a configuration,
// the service the proxy cannot forward is refused with the file:line of its
// virtual_server and nothing of it applied; the other comes up.
func TestRefusedWithFileLine(t *testing.T) {
	cfg, diags := config.LoadBytes("keepalived.conf", []byte(refusedConf), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("config errors:\n%s", diags.Errors())
	}
	e := lvs.New(cfg)
	e.Start()
	p := New(Options{Logger: quiet()})
	defer p.Close()
	_, err := lvs.NewReconciler(p, quiet()).Apply(ctx, e.Desired())
	if !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("Apply: %v, want an unsupported error", err)
	}
	msg := e.Explain(err).Error()
	t.Log(msg)
	if !strings.HasPrefix(msg, "keepalived.conf:7: virtual_server: ") || !strings.Contains(msg, "forwarding method Route") ||
		!strings.Contains(msg, "use lb_kind NAT, or --dataplane ipvs or nftables") {
		t.Errorf("explained error %q lacks file:line, the reason or the advice", msg)
	}
	got, _ := dataplane.Read(ctx, p)
	if len(got) != 1 {
		t.Fatalf("plane holds %d services, want only the NAT one:\n%s", len(got), got.Format())
	}
	for k := range got {
		if k.Addr.String() != "127.0.0.30" {
			t.Errorf("plane holds %s", k)
		}
	}
}
