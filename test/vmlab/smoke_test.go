package vmlab

import (
	"strings"
	"testing"

	"vigil/internal/netlab"
)

// TestSmokeIPVS checks the lab itself: ipvsadm can program a service with
// two destinations in a fresh namespace and reads back exactly that, and
// the namespace's table is independent of every other namespace's.
func TestSmokeIPVS(t *testing.T) {
	needLab(t)
	lab := netlab.New(t)
	a := lab.AddHost("dir", "10.0.0.1/24")
	b := lab.AddHost("other", "10.0.0.9/24")

	steps := [][]string{
		{"-A", "-t", "10.0.0.1:80", "-s", "rr"},
		{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2:80", "-m", "-w", "2"},
		{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.3:8080", "-g"},
		{"-A", "-u", "[fd00::1]:53", "-s", "wrr", "-o"},
		{"-a", "-u", "[fd00::1]:53", "-r", "[fd00::2]:53", "-m", "-w", "5"},
	}
	for _, s := range steps {
		if _, err := ipvsadm(a, s...); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ipvsadm(a, "-Sn")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-A -t 10.0.0.1:80 -s rr",
		"-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 2",
		// Direct routing cannot change the port: the kernel keeps
		// the service's.
		"-a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 1",
		"-A -u [fd00::1]:53 -s wrr -o",
		"-a -u [fd00::1]:53 -r [fd00::2]:53 -m -w 5",
	}
	for _, w := range want {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("ipvsadm -Sn lacks %q; got:\n%s", w, got)
		}
	}
	if n := len(nonEmpty(got)); n != len(want) {
		t.Errorf("ipvsadm -Sn has %d lines, want %d:\n%s", n, len(want), got)
	}
	other, err := ipvsTable(b)
	if err != nil {
		t.Fatal(err)
	}
	if services(other) != 0 {
		t.Errorf("a fresh namespace sees services of another:\n%s", other)
	}
	if _, err := ipvsadm(a, "-C"); err != nil {
		t.Fatal(err)
	}
	if after, err := ipvsadm(a, "-Sn"); err != nil || strings.TrimSpace(after) != "" {
		t.Errorf("ipvsadm -C left %q (err %v)", after, err)
	}
}
