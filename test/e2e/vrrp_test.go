package e2e

import (
	"testing"
	"time"

	"vigil/internal/netlab"
)

// Addresses of the lab network used by the tests in this file.
const (
	vip4 = "10.77.0.100"
)

// pair builds a lab with two Vigil nodes a (10.77.0.2) and b (10.77.0.3)
// and a client c (10.77.0.9).
func pair(t *testing.T) (a, b, c *netlab.Host) {
	t.Helper()
	needVigil(t)
	l := netlab.New(t)
	a = l.AddHost("a", "10.77.0.2/24", "fd00:77::2/64")
	b = l.AddHost("b", "10.77.0.3/24", "fd00:77::3/64")
	c = l.AddHost("c", "10.77.0.9/24", "fd00:77::9/64")
	return a, b, c
}

func TestElectionByPriority(t *testing.T) {
	a, b, _ := pair(t)
	hosts := []*netlab.Host{a, b}
	in := Instance{AdvertInt: "1", VIPs: []string{vip4 + "/24"}}
	hi, lo := in, in
	hi.Priority, lo.Priority = 150, 100
	StartVigil(t, b, Conf(nil, lo))
	StartVigil(t, a, Conf(nil, hi))
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, a)
	Never(t, 2*time.Second, "VIP on b", func() (bool, error) { return HasAddr(b, "eth0", vip4) })
}
