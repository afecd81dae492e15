package lvsproc

import (
	"strings"
	"testing"
)

// TestCheckPlane: vigil -t --dataplane nftables reports what the plane
// cannot serve with the virtual server's file:line and the plane's
// suggestion, counts a real server that starts down (alpha) too, and says
// nothing for a plane it cannot judge offline.
func TestCheckPlane(t *testing.T) {
	cfg := load(t, `
virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
    }
}
virtual_server 10.0.0.2 80 {
    lb_algo rr
    lb_kind TUN
    protocol TCP
    alpha
    real_server 10.0.1.2 80 {
        weight 1
    }
}
virtual_server 10.0.0.3 80 {
    lb_algo lblcr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.3 80 {
        weight 1
    }
}
`)
	errs := CheckPlane(cfg, "nftables")
	if len(errs) != 2 {
		t.Fatalf("got %d refusals, want 2 (TUN, lblcr): %v", len(errs), errs)
	}
	for i, want := range []string{"keepalived.conf:10: virtual_server: service TCP 10.0.0.2:80", "keepalived.conf:19: virtual_server: service TCP 10.0.0.3:80"} {
		if msg := errs[i].Error(); !strings.HasPrefix(msg, want) {
			t.Errorf("refusal %d: %q does not start with %q", i, msg, want)
		}
	}
	if !strings.Contains(errs[0].Error(), "lb_kind TUN needs IPVS; nftables cannot encapsulate here") {
		t.Errorf("TUN refusal without its suggestion: %v", errs[0])
	}
	for _, plane := range []string{"", "auto", "ipvs", "proxy"} {
		if errs := CheckPlane(cfg, plane); errs != nil {
			t.Errorf("%q judged offline: %v", plane, errs)
		}
	}
}
