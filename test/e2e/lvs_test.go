package e2e

// The LVS side's process model: the VRRP process starts the LVS side as a
// supervised child; killing that child never disturbs VRRP, and the parent
// restarts it. On a kernel without IPVS (the development machine's), the
// child says so in `vigil status --json` and changes nothing; on one with
// IPVS (the VM lab), the restarted child adopts the table it finds and a
// clean stop removes it.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// lvsStatus is the LVS part of `vigil status --json`.
type lvsStatus struct {
	Instances []opsInstance `json:"instances"`
	LVS       *struct {
		Mode           string `json:"mode"`
		PID            int    `json:"pid"`
		Restarts       int    `json:"restarts"`
		State          string `json:"state"`
		Error          string `json:"error"`
		Dataplane      string `json:"dataplane"`
		DataplaneWhy   string `json:"dataplane_why"`
		Operations     int    `json:"operations"`
		Reloads        int    `json:"reloads"`
		VirtualServers []struct {
			Name  string `json:"name"`
			Reals []struct {
				Addr   string `json:"addr"`
				Alive  bool   `json:"alive"`
				Weight int    `json:"weight"`
			} `json:"real_servers"`
		} `json:"virtual_servers"`
	} `json:"lvs"`
}

func lvsStatusJSON(h *netlab.Host, v *Vigil) (lvsStatus, error) {
	var st lvsStatus
	out, err := statusInto(h, v, &st)
	if err == nil && st.LVS == nil {
		err = fmt.Errorf("no lvs in %q", out)
	}
	return st, err
}

// haveIPVS reports whether this kernel has IPVS (the VM lab's has).
func haveIPVS() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

const lvsVirtualServer = `
virtual_server 10.77.0.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.77.0.3 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`

func TestLVSChildKilledVRRPUndisturbed(t *testing.T) {
	hs := lab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	// IPVS asked for by name: on a kernel without it the LVS side must say
	// so and change nothing (auto would take nftables there).
	va := StartVigil(t, a, Conf(nil, Instance{State: "MASTER", Priority: 150, Version: 3, AdvertInt: "0.2", VIPs: []string{vip4 + "/24"}})+lvsVirtualServer, "--dataplane", "ipvs")
	vb := StartVigil(t, b, Conf(nil, Instance{State: "BACKUP", Priority: 100, Version: 3, AdvertInt: "0.2", VIPs: []string{vip4 + "/24"}}))
	WaitVIP(t, 10*time.Second, []*netlab.Host{a, b}, "eth0", vip4, a)
	opsWaitStates(t, 10*time.Second, b, vb, map[string]string{"VI_1": "BACKUP"})

	// The LVS child is up and says what it runs on, or why it cannot.
	var st lvsStatus
	Eventually(t, 10*time.Second, "LVS child reports its state", func() (bool, error) {
		var err error
		st, err = lvsStatusJSON(a, va)
		return err == nil && st.LVS.PID != 0 && st.LVS.State != "starting", err
	})
	if st.LVS.Mode != "child" || st.LVS.PID == va.proc.Pid() {
		t.Fatalf("LVS side: mode %q pid %d (parent %d); want a child process", st.LVS.Mode, st.LVS.PID, va.proc.Pid())
	}
	if haveIPVS() {
		if st.LVS.State != "running" || st.LVS.Dataplane != "ipvs" {
			t.Fatalf("with IPVS: state %q data plane %q error %q; want running on ipvs", st.LVS.State, st.LVS.Dataplane, st.LVS.Error)
		}
	} else if st.LVS.State != "error" || !strings.Contains(st.LVS.Error, "IPVS") || !strings.Contains(st.LVS.Error, "--dataplane") {
		t.Fatalf("without IPVS: state %q error %q; want an error naming IPVS and the alternatives", st.LVS.State, st.LVS.Error)
	}

	before := func(h *netlab.Host, v *Vigil) opsInstance {
		s, err := opsStatusJSON(h, v)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := s.find("VI_1")
		return in
	}
	aBefore, bBefore := before(a, va), before(b, vb)

	// SIGKILL the child: the parent restarts it.
	oldPID := st.LVS.PID
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 15*time.Second, "the parent restarts the LVS child", func() (bool, error) {
		var err error
		st, err = lvsStatusJSON(a, va)
		return err == nil && st.LVS.PID != 0 && st.LVS.PID != oldPID && st.LVS.Restarts == 1 && st.LVS.State != "starting", err
	})
	if haveIPVS() && st.LVS.Operations != 0 {
		t.Errorf("restarted child sent %d operations; it should adopt the table as it is", st.LVS.Operations)
	}

	// VRRP saw nothing: no transition on either node.
	aAfter, bAfter := before(a, va), before(b, vb)
	for _, c := range []struct {
		who           string
		before, after opsInstance
	}{{"a", aBefore, aAfter}, {"b", bBefore, bAfter}} {
		if c.after.State != c.before.State || !c.after.LastTransition.Equal(*c.before.LastTransition) ||
			c.after.Counters["become_master"] != c.before.Counters["become_master"] {
			t.Errorf("%s: VI_1 moved while the LVS child died: %s at %v → %s at %v", c.who,
				c.before.State, c.before.LastTransition, c.after.State, c.after.LastTransition)
		}
	}

	// A clean stop stops the child too.
	newPID := st.LVS.PID
	if err := va.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	Eventually(t, 5*time.Second, "the LVS child is gone", func() (bool, error) {
		return syscall.Kill(newPID, 0) == syscall.ESRCH, nil
	})
	if haveIPVS() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := a.Exec(ctx, "ipvsadm", "-Sn")
		if err != nil || strings.Contains(string(out), "10.77.0.100") {
			t.Errorf("after a clean stop ipvsadm -Sn shows %q (err %v); want the service removed", out, err)
		}
	}
}

// TestLVSAutoPlane: with --dataplane auto (the default) the LVS child
// takes IPVS where the kernel has it and nftables where it has not, says
// why, and reports the real server's health from its checker.
func TestLVSAutoPlane(t *testing.T) {
	hs := lab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	b.ServeName(t, 80)
	// alpha: the real server starts down, so "up" below is its checker's word.
	conf := strings.Replace(lvsVirtualServer, "delay_loop 1", "delay_loop 1\n    alpha", 1)
	va := StartVigil(t, a, Conf(nil, Instance{State: "MASTER", Priority: 150, VIPs: []string{vip4 + "/24"}})+conf)
	var st lvsStatus
	Eventually(t, 15*time.Second, "the real server is up in the LVS status", func() (bool, error) {
		var err error
		st, err = lvsStatusJSON(a, va)
		return err == nil && st.LVS.State == "running" && len(st.LVS.VirtualServers) == 1 &&
			len(st.LVS.VirtualServers[0].Reals) == 1 && st.LVS.VirtualServers[0].Reals[0].Alive, err
	})
	want := "nftables"
	if haveIPVS() {
		want = "ipvs"
	}
	if st.LVS.Dataplane != want {
		t.Fatalf("auto chose %q (%s), want %q", st.LVS.Dataplane, st.LVS.DataplaneWhy, want)
	}
	if !haveIPVS() && !strings.Contains(st.LVS.DataplaneWhy, "IPVS") {
		t.Errorf("why %q does not say that IPVS is missing", st.LVS.DataplaneWhy)
	}
	if !haveIPVS() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := a.Exec(ctx, "nft", "list", "table", "inet", "vigil_lb")
		if err != nil || !strings.Contains(string(out), "10.77.0.3") || !strings.Contains(string(out), "10.77.0.100") {
			t.Errorf("nft list table inet vigil_lb: %v\n%s\nwant the service 10.77.0.100 and its real server 10.77.0.3 in it", err, out)
		}
	}
	// Reloads reach the child through the parent: an unchanged file sends
	// nothing to the plane, a re-weighted real server one operation.
	ops := st.LVS.Operations
	reload := func(n int) {
		t.Helper()
		if err := va.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 10*time.Second, fmt.Sprintf("the LVS child applied reload %d", n), func() (bool, error) {
			var err error
			st, err = lvsStatusJSON(a, va)
			return err == nil && st.LVS.Reloads == n, err
		})
	}
	reload(1)
	if st.LVS.Operations != ops {
		t.Errorf("an unchanged reload sent %d operations", st.LVS.Operations-ops)
	}
	full := Conf(nil, Instance{State: "MASTER", Priority: 150, VIPs: []string{vip4 + "/24"}}) + strings.Replace(conf, "weight 1", "weight 2", 1)
	if err := os.WriteFile(va.ConfFile, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	reload(2)
	if got := st.LVS.VirtualServers[0].Reals[0].Weight; got != 2 || st.LVS.Operations != ops+1 {
		t.Errorf("re-weighting reload: weight %d, %d operations; want weight 2 and 1 operation", got, st.LVS.Operations-ops)
	}
	// `vigil events` streams the LVS side's changes: a reload that removes
	// the live real server reports it down.
	f := followEvents(t, a, va, true)
	moved := strings.Replace(full, "real_server 10.77.0.3 80", "real_server 10.77.0.4 80", 1)
	if err := os.WriteFile(va.ConfFile, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	reload(3)
	Eventually(t, 5*time.Second, "vigil events shows the real server leaving", func() (bool, error) {
		for _, l := range strings.Split(f.p.Output(), "\n") {
			var ev struct {
				Instance   string `json:"instance"`
				Kind       string `json:"kind"`
				RealServer string `json:"real_server"`
			}
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Kind == "real-down" && ev.RealServer == "10.77.0.3:80" &&
				ev.Instance == "VS [10.77.0.100]:TCP:80" {
				return true, nil
			}
		}
		return false, nil
	})
	if err := va.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	// A clean stop removes the services Vigil added.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []byte
	if haveIPVS() {
		out, _ = a.Exec(ctx, "ipvsadm", "-Sn")
	} else {
		out, _ = a.Exec(ctx, "nft", "list", "table", "inet", "vigil_lb")
	}
	if strings.Contains(string(out), "10.77.0.100") {
		t.Errorf("after a clean stop the plane still holds the service:\n%s", out)
	}
}
